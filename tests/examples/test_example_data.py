"""--data on the MNIST-shaped examples: the tutorials' mnist.pkl.gz and the idx files, each
written here in a tiny version (random 28x28 images), read back exactly and trained on."""
import gzip
import importlib.util
import pickle
import struct

import numpy as np
import pytest

from test_examples import load_example

SIDE = 28


def tiny_mnist(n_train=60, n_test=12, seed=0):
    """uint8 images and labels shaped like MNIST's, few of them."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n_train + n_test, SIDE, SIDE), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n_train + n_test).astype(np.uint8)
    return (images[:n_train], labels[:n_train]), (images[n_train:], labels[n_train:])


def write_idx(path, array, compress):
    """The idx format: 0, 0, the type code (0x08: uint8), the rank, each size as a
    big-endian int32, then the values."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + \
        struct.pack(f">{array.ndim}i", *array.shape)
    opener = gzip.open if compress else open
    with opener(str(path) + (".gz" if compress else ""), "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_idx_folder(folder, compress):
    (train_x, train_y), (test_x, test_y) = tiny_mnist()
    write_idx(folder / "train-images-idx3-ubyte", train_x, compress)
    write_idx(folder / "train-labels-idx1-ubyte", train_y, compress)
    write_idx(folder / "t10k-images-idx3-ubyte", test_x, compress)
    write_idx(folder / "t10k-labels-idx1-ubyte", test_y, compress)
    return folder


def write_pickle(path):
    """The tutorials' layout: ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)),
    float32 pixels in [0, 1] as rows of 784, int64 labels."""
    (train_x, train_y), (test_x, test_y) = tiny_mnist()
    flat = lambda x: (x.reshape(len(x), -1) / 255.0).astype(np.float32)  # noqa: E731
    sets = ((flat(train_x[:50]), train_y[:50].astype(np.int64)),
            (flat(train_x[50:]), train_y[50:].astype(np.int64)),
            (flat(test_x), test_y.astype(np.int64)))
    with gzip.open(path, "wb") as f:
        pickle.dump(sets, f, protocol=2)
    return path


@pytest.fixture(scope="module")
def digits_module():
    return load_example("digits")


@pytest.mark.parametrize("compress", [False, True])
def test_idx_files_load_exactly(tmp_path, compress, digits_module):
    write_idx_folder(tmp_path, compress)
    (train_x, train_y), (test_x, test_y) = tiny_mnist()
    for path in (tmp_path, tmp_path / ("train-images-idx3-ubyte" + (".gz" if compress else ""))):
        train, valid, test = digits_module.load_data(str(path), dtype="float32")
        # the last sixth of the training images is the validation set
        assert train[0].shape == (50, 784) and valid[0].shape == (10, 784)
        assert train[0].dtype == np.float32 and train[1].dtype == np.int64
        np.testing.assert_array_equal(train[0], (train_x[:50].reshape(50, -1) / 255.0)
                                      .astype(np.float32))
        np.testing.assert_array_equal(valid[1], train_y[50:])
        np.testing.assert_array_equal(test[0] * 255, test_x.reshape(12, -1).astype(np.float32))
        np.testing.assert_array_equal(test[1], test_y)
        assert digits_module.image_shape(train[0]) == (28, 28)


def test_pickle_loads_exactly(tmp_path, digits_module):
    path = write_pickle(tmp_path / "mnist.pkl.gz")
    train, valid, test = digits_module.load_data(str(path), dtype="float64")
    (train_x, train_y), (test_x, _) = tiny_mnist()
    assert [len(s[0]) for s in (train, valid, test)] == [50, 10, 12]
    np.testing.assert_allclose(train[0], train_x[:50].reshape(50, -1) / 255.0, rtol=1e-7)
    np.testing.assert_array_equal(valid[1], train_y[50:])


def test_bad_data_files_say_what_is_wrong(tmp_path, digits_module):
    with pytest.raises(FileNotFoundError, match="no such file"):
        digits_module.load_data(str(tmp_path / "missing.pkl.gz"))
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an idx file"):
        digits_module.read_idx(str(tmp_path / "train-images-idx3-ubyte"))
    short = struct.pack(">BBBBii", 0, 0, 8, 2, 3, 3) + bytes(5)
    (tmp_path / "short").write_bytes(short)
    with pytest.raises(ValueError, match=r"header says \(3, 3\), the file holds 5"):
        digits_module.read_idx(str(tmp_path / "short"))
    partial = tmp_path / "partial"
    partial.mkdir()
    write_idx(partial / "train-images-idx3-ubyte", np.zeros((3, 2, 2)), compress=False)
    write_idx(partial / "train-labels-idx1-ubyte", np.zeros(3), compress=False)
    with pytest.raises(FileNotFoundError, match="no t10k-images-idx3-ubyte"):
        digits_module.load_data(str(partial))
    with gzip.open(tmp_path / "other.pkl.gz", "wb") as f:
        pickle.dump({"not": "mnist"}, f)
    with pytest.raises(ValueError, match="three \\(images, labels\\) pairs"):
        digits_module.load_data(str(tmp_path / "other.pkl.gz"))


@pytest.mark.slow   # many compiles: 12 s on 2 busy cores
def test_logistic_regression_trains_on_idx_files(tmp_path, capsys):
    write_idx_folder(tmp_path, compress=True)
    result = load_example("logistic_regression").main(
        ["--data", str(tmp_path), "--epochs", "2", "--batch-size", "10",
         "--output", str(tmp_path / "out")])
    assert result.epochs == 2 and np.isfinite(result.costs).all()
    out = capsys.readouterr().out
    assert "epoch    2  cost" in out


def test_lenet_geometry_for_mnist():
    lenet = load_example("lenet")
    assert lenet.geometry("valid", 28) == ((5, 5), (12, 4))     # the tutorial's LeNet
    assert lenet.geometry("half", 28) == ((5, 5), (14, 7))
    assert lenet.geometry("half", 8) == ((3, 3), (4, 2))


@pytest.mark.slow   # many compiles: 14 s on 2 busy cores
def test_rbm_runs_the_784_visible_model_on_a_pickle(tmp_path, capsys):
    path = write_pickle(tmp_path / "mnist.pkl.gz")
    costs = load_example("rbm").main(
        ["--data", str(path), "--epochs", "2", "--hidden", "12", "--batch-size", "10",
         "--samples", "2", "--plot-every", "5", "--output", str(tmp_path / "out")])
    assert len(costs) == 2 and np.isfinite(costs).all()
    assert "RBM 784 visible x 12 hidden" in capsys.readouterr().out
    # 20 chains by default on MNIST; this file has 12 test images, so 12 chains
    if importlib.util.find_spec("matplotlib") is not None:
        from matplotlib.image import imread
        samples = imread(str(tmp_path / "out" / "rbm_samples.png"))
        assert samples.shape[1] > samples.shape[0]      # 12 columns, 3 rows


@pytest.mark.parametrize("example, extra", [("mlp", ["--hidden", "16"]),
                                            ("lenet", ["--nkerns", "2", "3", "--hidden", "8",
                                                       "--border-mode", "valid"])])
@pytest.mark.slow   # many compiles: 12 s on 2 busy cores
def test_classifiers_train_on_a_pickle(tmp_path, example, extra):
    path = write_pickle(tmp_path / "mnist.pkl.gz")
    result = load_example(example).main(
        ["--data", str(path), "--epochs", "2", "--batch-size", "10",
         "--output", str(tmp_path / "out")] + extra)
    assert result.epochs == 2 and np.isfinite(result.costs).all()
    if importlib.util.find_spec("matplotlib") is not None:     # the 'test' extra has it
        assert (tmp_path / "out" / f"{example}_curve.png").exists()
