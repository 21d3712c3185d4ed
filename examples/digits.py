"""The examples' data: the 8x8 digits shipped in examples/data (the default), or MNIST from a
file the user has, in either of its usual formats (``--data PATH``):

- the deep-learning tutorials' ``mnist.pkl.gz`` (or ``.pkl``): a pickle of the three pairs
  ``(train, valid, test)``, each ``(images, labels)`` with pixels in [0, 1];
- the idx files of the original distribution: a folder holding ``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``
  (each may end in ``.gz``), or the path of any one of them. Pixels are scaled to [0, 1];
  the last sixth of the training images is the validation set (10000 of 60000, the split of
  ``mnist.pkl.gz``).
"""
import gzip
import os
import pickle

import numpy as np

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "digits.csv.gz")
IDX_FILES = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
             "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte"}
# the element types of the idx format, by the code in the third byte of its header
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


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


def load_data(path=None, dtype="float64"):
    """The three (images, labels) pairs of ``path`` (see the module's docstring for the
    formats), or of the shipped 8x8 digits when ``path`` is None. Images are rows of pixels
    in [0, 1] of ``dtype``, labels int64."""
    if path is None:
        return load_digits(dtype=dtype)
    if not os.path.exists(path):
        raise FileNotFoundError(f"--data {path}: no such file or folder")
    name = os.path.basename(path.rstrip(os.sep))
    if name.endswith((".pkl.gz", ".pkl")):
        sets = load_pickle(path)
    else:
        sets = load_idx(path)
    return tuple((np.asarray(x, dtype=dtype).reshape(len(x), -1), np.asarray(y, dtype="int64"))
                 for x, y in sets)


def image_shape(x):
    """The (height, width) of the square images whose flattened rows are ``x``."""
    side = int(round(np.sqrt(x.shape[1])))
    if side * side != x.shape[1]:
        raise ValueError(f"images of {x.shape[1]} pixels are not square")
    return side, side


def _open(path):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def load_pickle(path):
    """The tutorials' ``mnist.pkl.gz``: a pickle of ((train_x, train_y), (valid_x, valid_y),
    (test_x, test_y)). It was written by Python 2, hence ``encoding="latin1"``."""
    with _open(path) as f:
        sets = pickle.load(f, encoding="latin1")
    if not (isinstance(sets, (tuple, list)) and len(sets) == 3
            and all(len(pair) == 2 for pair in sets)):
        raise ValueError(f"{path}: expected a pickle of three (images, labels) pairs "
                         f"(train, valid, test), as in the tutorials' mnist.pkl.gz")
    return [(np.asarray(x), np.asarray(y)) for x, y in sets]


def read_idx(path):
    """One idx file (optionally gzipped) as an array: the header is two zero bytes, the
    element type, the number of dimensions, then each dimension as a big-endian int32."""
    with _open(path) as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise ValueError(f"{path}: not an idx file (bad magic number)")
    ndim = data[3]
    shape = tuple(int(n) for n in np.frombuffer(data, ">i4", count=ndim, offset=4))
    values = np.frombuffer(data, IDX_DTYPES[data[2]], offset=4 + 4 * ndim)
    if values.size != int(np.prod(shape)):
        raise ValueError(f"{path}: the header says {shape}, the file holds {values.size} values")
    return values.reshape(shape)


def _idx_file(folder, stem):
    for candidate in (stem, stem + ".gz", stem.replace("-idx", ".idx"),
                      stem.replace("-idx", ".idx") + ".gz"):
        if os.path.exists(os.path.join(folder, candidate)):
            return os.path.join(folder, candidate)
    raise FileNotFoundError(f"{folder}: no {stem} (or {stem}.gz)")


def load_idx(path):
    """MNIST in idx files (``path``: their folder, or one of them): train, valid (the last
    sixth of the training images) and test, pixels scaled to [0, 1]."""
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    arrays = {k: read_idx(_idx_file(folder, stem)) for k, stem in IDX_FILES.items()}
    scale = 255.0 if arrays["train_x"].dtype == np.uint8 else 1.0
    train_x = arrays["train_x"].reshape(len(arrays["train_x"]), -1) / scale
    test_x = arrays["test_x"].reshape(len(arrays["test_x"]), -1) / scale
    n_valid = len(train_x) // 6
    n_train = len(train_x) - n_valid
    train_y, test_y = arrays["train_y"], arrays["test_y"]
    return [(train_x[:n_train], train_y[:n_train]), (train_x[n_train:], train_y[n_train:]),
            (test_x, test_y)]


def shared_dataset(data_xy, name):
    """The pair (x, y) as shared variables ``name_x`` (floatX) and ``name_y`` (int64), so that
    a compiled function reads its minibatches in place through ``givens`` instead of
    receiving them as arguments at every call (the Theano tutorial's ``shared_dataset``)."""
    import cgraph
    x, y = data_xy
    return (cgraph.shared(np.asarray(x, dtype=cgraph.config.floatX), name=f"{name}_x",
                          borrow=True),
            cgraph.shared(np.asarray(y, dtype="int64"), name=f"{name}_y", borrow=True))
