"""Multiclass logistic regression on the digits data, trained by minibatch SGD.

Written as the Theano tutorial writes it: the data lives in shared variables, a symbolic
minibatch index selects rows through `givens`, and `updates` apply the gradient step inside
the compiled function. The gradient of the negative log-likelihood is written by hand here:

    p = softmax(x W + b),   dNLL/dW = x^T (p - onehot(y)) / n,   dNLL/db = mean(p - onehot(y))

Run: python examples/logistic_regression.py [--epochs N]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cgraph  # noqa: E402
import cgraph.tensor as T  # noqa: E402
from digits import load_digits  # noqa: E402


def build(train, n_in=64, n_out=10, batch_size=20, learning_rate=0.5):
    floatX = cgraph.config.floatX
    train_x = cgraph.shared(train[0].astype(floatX), name="train_x")
    train_y = cgraph.shared(train[1], name="train_y")
    W = cgraph.shared(np.zeros((n_in, n_out), dtype=floatX), name="W")
    b = cgraph.shared(np.zeros(n_out, dtype=floatX), name="b")

    index = T.lscalar("index")
    x = T.matrix("x")
    y = T.lvector("y")
    p_y_given_x = T.nnet.softmax(T.dot(x, W) + b)
    n = y.shape[0]
    nll = -T.mean(T.log(p_y_given_x)[T.arange(n), y])
    errors = T.mean(T.neq(T.argmax(p_y_given_x, axis=1), y))

    onehot = T.cast(T.eq(y.dimshuffle(0, "x"), T.arange(n_out)), floatX)
    delta = (p_y_given_x - onehot) / T.cast(n, floatX)
    g_W = T.dot(x.T, delta)
    g_b = T.sum(delta, axis=0)
    lr = T.cast(learning_rate, floatX)

    batch = slice(index * batch_size, (index + 1) * batch_size)
    train_model = cgraph.function(
        [index], nll, updates=[(W, W - lr * g_W), (b, b - lr * g_b)],
        givens={x: train_x[batch], y: train_y[batch]}, name="train_model")
    error_rate = cgraph.function([x, y], errors, name="error_rate")
    return train_model, error_rate, W, b


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=20)
    args = parser.parse_args(argv)

    train, valid, test = load_digits(dtype=cgraph.config.floatX)
    t0 = time.perf_counter()
    train_model, error_rate, W, b = build(train, batch_size=args.batch_size)
    print(f"compiled 2 functions in {time.perf_counter() - t0:.2f}s "
          f"(module of train_model: {train_model.module_path})")
    n_batches = len(train[0]) // args.batch_size
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        costs = [float(train_model(i)) for i in range(n_batches)]
        if epoch == 1 or epoch % 5 == 0 or epoch == args.epochs:
            valid_error = float(error_rate(*valid))
            print(f"epoch {epoch:3d}  cost {np.mean(costs):.4f}  "
                  f"validation error {100 * valid_error:.2f}%")
    seconds = time.perf_counter() - t0
    test_error = float(error_rate(*test))
    print(f"trained {args.epochs} epochs in {seconds:.2f}s "
          f"({1e6 * seconds / (args.epochs * n_batches):.0f} us per minibatch)")
    print(f"test error {100 * test_error:.2f}%  (accuracy {100 * (1 - test_error):.2f}%)")
    return test_error


if __name__ == "__main__":
    main()
