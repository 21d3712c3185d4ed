"""A LeNet-5 style convolutional network on the digits data: the Theano tutorial's LeNet.

Two convolution + max-pooling layers (`T.nnet.conv2d`, `cgraph.tensor.signal.pool.pool_2d`)
with 20 and 50 filters, a tanh hidden layer of 500 units and a logistic regression layer,
trained by minibatch SGD (learning rate 0.1, minibatches of 20 selected through `givens`) with
the tutorial's early stopping.

The tutorial's 5x5 filters are for 28x28 MNIST images; the digits here are 8x8, so the
filters are smaller. Two geometries (--border-mode):

    half  (default)  8x8 --conv 3x3, padded--> 8x8 --pool 2x2--> 4x4
                         --conv 3x3, padded--> 4x4 --pool 2x2--> 2x2   (50 x 2 x 2 = 200 inputs
                                                                         to the hidden layer)
    valid            8x8 --conv 3x3--> 6x6 --pool 2x2--> 3x3
                         --conv 2x2--> 2x2 --pool 2x2--> 1x1           (50 inputs)

'half' pads each image with zeros by half the filter size, so the convolution keeps its size.

Measured with the defaults (60 epochs, 'half'): best validation error 2.00% at epoch 58, test
error of that model 1.33% (98.67% accuracy), in 8 s of training (~2.3 ms per minibatch of 20;
11 s in all). With 'valid': best validation error 3.00% at epoch 20, test error 1.67%, ~0.8 ms
per minibatch.

Run: python examples/lenet.py [--epochs N] [--border-mode half|valid] [--learning-rate R]
     [--data mnist.pkl.gz | --data FOLDER_OF_IDX_FILES] [--output FOLDER]

A progress bar counts the epochs; a summary line is printed every tenth of the run, and
the learning curve (cost and validation error per epoch) goes to
examples/output/lenet_curve.png. With --data the images are 28x28 and the
filters the tutorial's 5x5 ('valid': 28 -> 24 -> 12 -> 8 -> 4; 'half': 28 -> 14 -> 7).
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
from digits import image_shape, load_data, shared_dataset  # noqa: E402
from reporting import compile_summary, say  # noqa: E402
from layers import HiddenLayer, LeNetConvPoolLayer, LogisticRegression  # noqa: E402

# filter size of each convolution, and the side of the images each pooling leaves, for the
# 8x8 digits; other images (MNIST's 28x28, through --data) take the tutorial's 5x5 filters
GEOMETRIES = {
    "half": dict(filters=(3, 3), sides=(4, 2)),
    "valid": dict(filters=(3, 2), sides=(3, 1)),
}


def geometry(border_mode, side):
    """(filter sizes, sides after each pooling) for square images of ``side`` pixels."""
    if side == 8:
        return GEOMETRIES[border_mode]["filters"], GEOMETRIES[border_mode]["sides"]
    if border_mode == "half":
        return (5, 5), (side // 2, side // 4)
    side0 = (side - 5 + 1) // 2
    return (5, 5), (side0, (side0 - 5 + 1) // 2)


class LeNet:
    """conv-pool, conv-pool, tanh hidden layer, logistic regression, on square images."""

    def __init__(self, rng, input, nkerns, n_hidden, border_mode, n_out=10, side=8):
        (f0, f1), (side0, side1) = geometry(border_mode, side)
        # Rows of side * side pixels become (batch, 1 channel, side, side) images; the batch
        # size stays symbolic so that the same graph scores the whole validation set at once.
        layer0_input = input.reshape((input.shape[0], 1, side, side))
        self.layer0 = LeNetConvPoolLayer(rng, layer0_input, filter_shape=(nkerns[0], 1, f0, f0),
                                         image_shape=(None, 1, side, side),
                                         border_mode=border_mode)
        self.layer1 = LeNetConvPoolLayer(rng, self.layer0.output,
                                         filter_shape=(nkerns[1], nkerns[0], f1, f1),
                                         image_shape=(None, nkerns[0], side0, side0),
                                         border_mode=border_mode)
        # (batch, filters, side1, side1) -> (batch, filters * side1 * side1)
        self.layer2 = HiddenLayer(rng, self.layer1.output.flatten(2),
                                  n_in=nkerns[1] * side1 * side1, n_out=n_hidden,
                                  activation=T.tanh)
        self.layer3 = LogisticRegression(self.layer2.output, n_in=n_hidden, n_out=n_out)
        self.negative_log_likelihood = self.layer3.negative_log_likelihood
        self.errors = self.layer3.errors
        self.params = (self.layer3.params + self.layer2.params + self.layer1.params
                       + self.layer0.params)


def build(train_set, batch_size, learning_rate, nkerns, n_hidden, border_mode, seed=23455,
          side=8):
    """The model and its two compiled functions: ``train_model(index)`` takes one SGD step
    on minibatch ``index`` of the shared ``train_set`` and returns its cost, and
    ``error_rate(x, y)`` is the fraction of the images x that the model misclassifies."""
    train_x, train_y = train_set
    index = T.lscalar("index")
    x = T.matrix("x")
    y = T.lvector("y")

    model = LeNet(np.random.RandomState(seed), x, nkerns, n_hidden, border_mode, side=side)
    cost = model.negative_log_likelihood(y)
    grads = T.grad(cost, model.params)
    lr = T.cast(learning_rate, cgraph.config.floatX)
    updates = [(param, param - lr * grad) for param, grad in zip(model.params, grads)]

    train_model = cgraph.function(
        [index], cost, updates=updates,
        givens={x: train_x[index * batch_size:(index + 1) * batch_size],
                y: train_y[index * batch_size:(index + 1) * batch_size]},
        name="train_model")
    # The validation and test sets are small enough to be scored in one call each.
    error_rate = cgraph.function([x, y], model.errors(y), name="error_rate")
    return model, train_model, error_rate


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--nkerns", type=int, nargs=2, default=[20, 50])
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--border-mode", choices=sorted(GEOMETRIES), default="half")
    parser.add_argument("--patience", type=int, default=10000,
                        help="minibatches to train at least (grows on each improvement)")
    training.add_common_arguments(parser)
    args = parser.parse_args(argv)

    train, valid, test = load_data(args.data, dtype=cgraph.config.floatX)
    t0 = time.perf_counter()
    _, train_model, error_rate = build(
        shared_dataset(train, "train"), args.batch_size, args.learning_rate, args.nkerns,
        args.hidden, args.border_mode, side=image_shape(train[0])[0])
    say(compile_summary([train_model, error_rate], time.perf_counter() - t0))
    result = training.train(train_model,
                            validate_model=lambda: error_rate(*valid),
                            test_model=lambda: error_rate(*test),
                            n_train_batches=len(train[0]) // args.batch_size,
                            n_epochs=args.epochs, patience=args.patience)
    training.report(result, args.batch_size)
    training.save_learning_curve(result, args.output, "lenet", "LeNet")
    return result


if __name__ == "__main__":
    main()
