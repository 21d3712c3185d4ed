"""A multilayer perceptron on the digits data: the MLP of the Theano tutorial.

One tanh hidden layer of 500 units (weights drawn from U(-sqrt(6/(n_in+n_out)),
+sqrt(6/(n_in+n_out)))) feeds a logistic regression layer. The cost is the negative
log-likelihood plus the tutorial's penalties, L1_reg * (|W1| + |W2|) + L2_reg * (W1^2 + W2^2)
with L1_reg = 0 and L2_reg = 1e-4, minimised by minibatch SGD (learning rate 0.01, minibatches
of 20 selected through `givens`) with the tutorial's early stopping.

The tutorial's network is 784-500-10, for the 28x28 MNIST images: that is the network
with --data (MNIST is not shipped with cgraph). By default it is 64-500-10, for the 8x8
digits shipped in examples/data.

Measured with the defaults (300 epochs; the validation error keeps improving, so the patience
never runs out): best validation error 3.67% at epoch 247, test error of that model 3.00%
(97.00% accuracy), in 6 s of training (~320 us per minibatch; 10 s in all). The tutorial's
learning rate is tuned for MNIST's 50000 images; on these 1197, --learning-rate 0.1 learns
faster and better: 2.67% validation error at epoch 101, test error 1.67% (the patience ends
the run at epoch 202).

Run: python examples/mlp.py [--epochs N] [--hidden H] [--learning-rate R] [--batch-size B]
     [--data mnist.pkl.gz | --data FOLDER_OF_IDX_FILES] [--output FOLDER]

A progress bar counts the epochs; a summary line is printed every tenth of the run, and
the learning curve (cost and validation error per epoch) goes to
examples/output/mlp_curve.png.
"""
import argparse
import os
import sys
import time

# Minibatches of 20 rows make every matrix product too small to gain from several BLAS
# threads, and on a busy machine waiting for them made each step ~10 times slower: one thread
# unless the user asks for more. (Set before numpy and scipy load their BLAS.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cgraph  # noqa: E402
import cgraph.tensor as T  # noqa: E402
import training  # noqa: E402
from digits import load_data, shared_dataset  # noqa: E402
from reporting import compile_summary, say  # noqa: E402
from layers import HiddenLayer, LogisticRegression  # noqa: E402


class MLP:
    """A hidden layer of tanh units followed by a logistic regression layer."""

    def __init__(self, rng, input, n_in, n_hidden, n_out):
        self.hidden_layer = HiddenLayer(rng=rng, input=input, n_in=n_in, n_out=n_hidden,
                                        activation=T.tanh)
        self.log_regression_layer = LogisticRegression(input=self.hidden_layer.output,
                                                       n_in=n_hidden, n_out=n_out)
        # The penalties regularise the weights only, not the biases.
        self.L1 = abs(self.hidden_layer.W).sum() + abs(self.log_regression_layer.W).sum()
        self.L2_sqr = (self.hidden_layer.W ** 2).sum() + (self.log_regression_layer.W ** 2).sum()
        self.negative_log_likelihood = self.log_regression_layer.negative_log_likelihood
        self.errors = self.log_regression_layer.errors
        self.params = self.hidden_layer.params + self.log_regression_layer.params
        self.input = input


def build(train_set, batch_size, learning_rate, L1_reg, L2_reg, n_hidden, seed=1234,
          n_in=64, n_out=10):
    """The model and its two compiled functions: ``train_model(index)`` takes one SGD step
    on minibatch ``index`` of the shared ``train_set`` and returns its cost, and
    ``error_rate(x, y)`` is the fraction of the images x that the model misclassifies."""
    train_x, train_y = train_set
    index = T.lscalar("index")
    x = T.matrix("x")
    y = T.lvector("y")

    classifier = MLP(np.random.RandomState(seed), input=x, n_in=n_in, n_hidden=n_hidden,
                     n_out=n_out)
    floatX = cgraph.config.floatX
    cost = classifier.negative_log_likelihood(y)
    # A penalty whose coefficient is zero stays out of the graph: cgraph does not yet rewrite
    # 0 * x to zeros as Theano did, and the L1 term's gradient would take ~40% of each step.
    if L1_reg:
        cost = cost + T.cast(L1_reg, floatX) * classifier.L1
    if L2_reg:
        cost = cost + T.cast(L2_reg, floatX) * classifier.L2_sqr
    gparams = T.grad(cost, classifier.params)
    lr = T.cast(learning_rate, floatX)
    updates = [(param, param - lr * gparam)
               for param, gparam in zip(classifier.params, gparams)]

    train_model = cgraph.function(
        [index], cost, updates=updates,
        givens={x: train_x[index * batch_size:(index + 1) * batch_size],
                y: train_y[index * batch_size:(index + 1) * batch_size]},
        name="train_model")
    # The validation and test sets are small enough to be scored in one call each.
    error_rate = cgraph.function([x, y], classifier.errors(y), name="error_rate")
    return classifier, train_model, error_rate


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--L1-reg", type=float, default=0.0)
    parser.add_argument("--L2-reg", type=float, default=0.0001)
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--patience", type=int, default=10000,
                        help="minibatches to train at least (grows on each improvement)")
    training.add_common_arguments(parser)
    args = parser.parse_args(argv)

    train, valid, test = load_data(args.data, dtype=cgraph.config.floatX)
    t0 = time.perf_counter()
    _, train_model, error_rate = build(
        shared_dataset(train, "train"), args.batch_size, args.learning_rate, args.L1_reg,
        args.L2_reg, args.hidden, n_in=train[0].shape[1])
    say(compile_summary([train_model, error_rate], time.perf_counter() - t0))
    result = training.train(train_model,
                            validate_model=lambda: error_rate(*valid),
                            test_model=lambda: error_rate(*test),
                            n_train_batches=len(train[0]) // args.batch_size,
                            n_epochs=args.epochs, patience=args.patience)
    training.report(result, args.batch_size)
    training.save_learning_curve(result, args.output, "mlp", "MLP")
    return result


if __name__ == "__main__":
    main()
