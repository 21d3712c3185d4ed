"""The digits data set shipped in examples/data: 1797 8x8 images, split for training."""
import gzip
import os

import numpy as np

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "digits.csv.gz")


def load_digits(dtype="float64", seed=1234):
    """((train_x, train_y), (valid_x, valid_y), (test_x, test_y)); pixels scaled to [0, 1].

    The rows are shuffled with a fixed seed, then split 1197 / 300 / 300.
    """
    with gzip.open(DATA, "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    order = np.random.default_rng(seed).permutation(len(table))
    table = table[order]
    x = (table[:, :64] / 16.0).astype(dtype)
    y = table[:, 64].astype("int64")
    return (x[:1197], y[:1197]), (x[1197:1497], y[1197:1497]), (x[1497:], y[1497:])


def shared_dataset(data_xy, name):
    """The pair (x, y) as shared variables ``name_x`` (floatX) and ``name_y`` (int64), so that
    a compiled function reads its minibatches in place through ``givens`` instead of
    receiving them as arguments at every call (the Theano tutorial's ``shared_dataset``)."""
    import cgraph
    x, y = data_xy
    return (cgraph.shared(np.asarray(x, dtype=cgraph.config.floatX), name=f"{name}_x",
                          borrow=True),
            cgraph.shared(np.asarray(y, dtype="int64"), name=f"{name}_y", borrow=True))
