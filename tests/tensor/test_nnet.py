"""T.nnet against numpy: softmax and log_softmax (stability, rows, edge shapes, strided
views), relu, hard_sigmoid and the re-exported sigmoids."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.tensor.nnet import log_softmax, logsoftmax, softmax
from util import check, strided_variants

rng = np.random.default_rng(0)


def np_softmax(x):
    x = np.asarray(x, dtype="float64")
    e = np.exp(x - x.max(axis=-1, keepdims=True, initial=-np.inf))
    return e / e.sum(axis=-1, keepdims=True)


def np_log_softmax(x):
    x = np.asarray(x, dtype="float64")
    shifted = x - x.max(axis=-1, keepdims=True, initial=-np.inf)
    with np.errstate(divide="ignore"):   # empty rows: log(0), broadcast over nothing
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def test_both_import_paths_name_the_same_functions():
    assert T.nnet.softmax is softmax
    assert T.nnet.log_softmax is log_softmax and logsoftmax is log_softmax
    assert T.nnet.sigmoid is T.sigmoid and T.nnet.softplus is T.softplus
    # Theano's piecewise ultra_fast_sigmoid is the exact sigmoid here (as fast, no error)
    assert T.nnet.ultra_fast_sigmoid is T.sigmoid
    x = T.dvector("x")   # hard_sigmoid is Theano's clip(0.2 x + 0.5, 0, 1)
    hard = cgraph.function([x], T.nnet.hard_sigmoid(x), mode="py")
    np.testing.assert_allclose(hard(np.array([-3.0, -2.5, 0.0, 1.0, 2.5, 3.0])),
                               [0.0, 0.0, 0.5, 0.7, 1.0, 1.0], rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_softmax_and_log_softmax_against_numpy(dtype):
    x, v = T.matrix("x", dtype=dtype), T.vector("v", dtype=dtype)
    with pytest.warns(UserWarning, match="DEPRECATION: If x is a vector"):
        of_vector = [softmax(v), log_softmax(v)]   # a 1 x n row, as in Theano
    outs = [softmax(x), log_softmax(x)] + of_vector + [
            softmax(x.T), log_softmax(x.T),          # strided views: columns of x
            softmax(x * 2)]
    assert all(o.dtype == dtype for o in outs)
    assert outs[2].broadcastable == (True, False) and outs[0].ndim == 2
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for shape in [(3, 5), (1, 1), (4, 1), (1, 6), (0, 3), (3, 0), (2, 200)]:
        X = rng.normal(scale=3, size=shape).astype(dtype)
        V = rng.normal(size=shape[1]).astype(dtype)
        expected = [np_softmax(X), np_log_softmax(X), np_softmax(V)[None], np_log_softmax(V)[None],
                    np_softmax(X.T), np_log_softmax(X.T), np_softmax(2 * X)]
        got = check([x, v], outs, [X, V], rtol=rtol,
                    expected=[e.astype(dtype) for e in expected])
        if X.size:
            np.testing.assert_allclose(got[0].sum(axis=1), 1, rtol=rtol * 10)
            np.testing.assert_allclose(got[4].sum(axis=1), 1, rtol=rtol * 10)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_is_stable_for_huge_and_tiny_values(dtype):
    x = T.matrix("x", dtype=dtype)
    X = np.array([[1000, 1000, 999], [-1000, -1000, -1001], [1e4, 0, -1e4],
                  [0, 0, 0], [998, 1000, 999], [-1e4, 1e4, 0]], dtype=dtype)
    got = check([x], [softmax(x), log_softmax(x)], [X],
                expected=[np_softmax(X).astype(dtype), np_log_softmax(X).astype(dtype)])
    assert np.isfinite(got[0]).all() and np.isfinite(got[1]).all()
    np.testing.assert_allclose(got[0].sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(got[0][0], [0.4223188, 0.4223188, 0.1553624], rtol=1e-6)
    np.testing.assert_allclose(got[1][2], [0, -1e4, -2e4], rtol=1e-6)


def test_nan_and_infinite_rows_follow_numpy():
    x = T.dmatrix("x")
    X = np.array([[1.0, np.nan, 2.0], [-np.inf, 0.0, 1.0], [np.inf, 0.0, 1.0]])
    with np.errstate(invalid="ignore"):
        expected = [np_softmax(X), np_log_softmax(X)]
    got = check([x], [softmax(x), log_softmax(x)], [X], expected=expected)
    assert np.isnan(got[0][0]).all()
    assert got[0][1][0] == 0 and got[1][1][0] == -np.inf


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_across_row_blocks_and_long_rows(dtype):
    """The C kernel takes rows in blocks of about 2048 elements (at most 256 rows) and a
    longer row in pieces: block edges, a row split across pieces, and NaN / inf in a later
    piece or a later block give numpy's values."""
    x = T.matrix("x", dtype=dtype)
    outs = [softmax(x), log_softmax(x), softmax(x.T), log_softmax(x.T)]
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for shape in [(600, 10), (300, 7), (1000, 3), (5, 2049), (3, 4100), (2, 2048), (513, 1)]:
        X = rng.normal(scale=4, size=shape).astype(dtype)
        expected = [np_softmax(X), np_log_softmax(X), np_softmax(X.T), np_log_softmax(X.T)]
        check([x], outs, [X], rtol=rtol, expected=[e.astype(dtype) for e in expected])
    X = rng.normal(size=(3, 4100)).astype(dtype)
    X[0, 3000], X[1, 0], X[2, 4099] = np.nan, np.nan, np.inf
    Y = rng.normal(size=(400, 6)).astype(dtype)
    Y[300, 5], Y[399, 0] = np.nan, -np.inf
    for data in (X, Y):
        with np.errstate(invalid="ignore"):
            expected = [np_softmax(data), np_log_softmax(data)]
        got = check([x], outs[:2], [data], rtol=rtol,
                    expected=[e.astype(dtype) for e in expected])
        bad_rows = np.isnan(data).any(axis=1) | np.isposinf(data).any(axis=1)
        assert np.isnan(got[0][bad_rows]).all() and np.isfinite(got[0][~bad_rows]).all()


def test_softmax_of_noncontiguous_inputs_and_integer_inputs():
    x, i, b = T.dmatrix("x"), T.imatrix("i"), T.bmatrix("b")
    base = rng.normal(size=(3, 4))
    for X in strided_variants(base):
        check([x], softmax(x), [X], expected=np_softmax(base))
    assert softmax(i).dtype == "float64" and softmax(b).dtype == "float32"
    I = rng.integers(-5, 5, size=(2, 3)).astype("int32")
    B = rng.integers(-5, 5, size=(2, 3)).astype("int8")
    check([i, b], [softmax(i), log_softmax(b)], [I, B], rtol=1e-6,
          expected=[np_softmax(I), np_log_softmax(B).astype("float32")])


def test_softmax_rejects_other_ranks():
    for bad in (T.dscalar("s"), T.dtensor3("t")):
        with pytest.raises(ValueError, match="x must be 1-d or 2-d tensor of floats. Got"):
            softmax(bad)
        with pytest.raises(ValueError, match="1-d or 2-d"):
            log_softmax(bad)


@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_activations_built_from_elementwise_ops():
    x, f, i = T.dvector("x"), T.fvector("f"), T.ivector("i")
    alpha = T.dscalar("alpha")
    nn = T.nnet
    X = np.array([-np.inf, -3.0, -0.5, 0.0, 0.5, 4.0, np.inf, np.nan])
    F = X.astype("float32")
    I = np.array([-3, 0, 2], dtype="int32")
    outs = [nn.relu(x), nn.relu(x, 0.1), nn.relu(x, alpha), nn.relu(f), nn.relu(i),
            nn.hard_sigmoid(x), nn.hard_sigmoid(f), nn.ultra_fast_sigmoid(x), nn.sigmoid(f),
            nn.softplus(x)]
    assert [o.dtype for o in outs] == ["float64", "float64", "float64", "float32", "int32",
                                       "float64", "float32", "float64", "float32", "float64"]
    with np.errstate(invalid="ignore", over="ignore"):
        expected = [np.where(X < 0, 0, X), np.where(X < 0, 0.1 * X, X),
                    np.where(X < 0, 0.3 * X, X), np.where(F < 0, 0, F), np.maximum(I, 0),
                    np.clip(0.2 * X + 0.5, 0, 1),
                    np.clip(np.float32(0.2) * F + np.float32(0.5), 0, 1),
                    1 / (1 + np.exp(-X)),
                    (1 / (1 + np.exp(-F.astype("float64")))).astype("float32"),
                    np.logaddexp(0, X)]
    got = check([x, f, i, alpha], outs, [X, F, I, 0.3], expected=expected)
    assert got[0][0] == 0 and np.isnan(got[0][-1])   # relu(-inf) = 0, NaN passes through
