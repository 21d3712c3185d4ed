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
