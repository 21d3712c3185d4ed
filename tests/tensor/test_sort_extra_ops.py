"""Sorting (T.sort, T.argsort) and theano.tensor.extra_ops (cumsum, cumprod, repeat, diff,
bincount, to_one_hot, fill_diagonal, squeeze) against numpy: in C and in the reference
mode, several dtypes, every axis, empty and length-1 axes, strided inputs, NaN and ties,
gradients with verify_grad, errors.

Each function is compiled once (its inputs have no fixed lengths) and called on many
arrays; hypothesis draws the arrays.
"""
import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from cgraph.tensor import extra_ops
from util import assert_clean_build, assert_same

SETTINGS = dict(deadline=None, derandomize=True, database=None, max_examples=25,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DTYPES = ["float64", "float32", "int64", "int32", "int8", "uint8", "bool"]


def arrays(dtype, ndim, max_side=4):
    """Arrays of ``dtype`` and rank ``ndim`` with lengths 0..max_side, few distinct values
    (ties), and NaN/Inf among floats."""
    if dtype == "bool":
        elements = st.booleans()
    elif dtype.startswith("float"):
        elements = st.sampled_from([0.0, -1.5, 2.0, 3.25, -0.0, np.inf, -np.inf, np.nan])
    elif dtype == "uint8":
        elements = st.integers(0, 255)
    else:
        info = np.iinfo(dtype)
        elements = st.sampled_from([0, 1, -1, 3, int(info.max), int(info.min)])
    return hnp.arrays(dtype, hnp.array_shapes(min_dims=ndim, max_dims=ndim, min_side=0,
                                              max_side=max_side), elements=elements)


@functools.lru_cache(maxsize=None)
def compiled(kind, dtype, ndim):
    """C and reference functions of ``kind`` on a ``dtype`` input of rank ``ndim``: one
    output per axis (None first, unless ``kind`` is diff), each also of the input read
    reversed along its last axis (a strided view)."""
    x = T.TensorType(dtype, (False,) * ndim)("x")
    view = x[(slice(None),) * (ndim - 1) + (slice(None, None, -1),)]
    build = {
        "sort": T.sort,
        "argsort": T.argsort,
        "cumsum": T.cumsum,
        "cumprod": T.cumprod,
        "repeat2": lambda v, axis: T.repeat(v, 2, axis),
        "diff": lambda v, axis: extra_ops.diff(v, 1, axis),
    }[kind]
    outs = [build(v, axis) for axis in axes_of(kind, ndim) for v in (x, view)]
    f_c = cgraph.function([x], outs, mode="c")
    assert_clean_build(f_c)
    return f_c, cgraph.function([x], outs, mode="py")


def axes_of(kind, ndim):
    return ([] if kind == "diff" else [None]) + list(range(ndim))


def numpy_result(kind, value, axis):
    if kind == "sort":
        return np.sort(value, axis=axis, kind="stable")
    if kind == "argsort":
        return np.argsort(value, axis=axis, kind="stable")
    if kind in ("cumsum", "cumprod"):
        fn = np.cumsum if kind == "cumsum" else np.cumprod
        return fn(value, axis=axis, dtype="int64" if value.dtype == bool else value.dtype)
    if kind == "repeat2":
        return np.repeat(value, 2, axis=axis)
    if kind == "diff":
        return np.diff(value, 1, axis=axis)


def check_kind(kind, dtype, value):
    f_c, f_py = compiled(kind, dtype, value.ndim)
    with np.errstate(all="ignore"):
        expected = [numpy_result(kind, v, axis) for axis in axes_of(kind, value.ndim)
                    for v in (value, value[..., ::-1])]
        got_c, got_py = f_c(value), f_py(value)
    for c, p, e in zip(got_c, got_py, expected):
        assert_same(c, p, what=f"{kind} C vs reference")
        assert_same(p, e, what=f"{kind} reference vs numpy")


@pytest.mark.parametrize("kind", ["sort", "argsort"])
@pytest.mark.parametrize("dtype", DTYPES)
@settings(**SETTINGS)
@given(data=st.data())
@pytest.mark.slow   # many compiles: 7 s on 2 busy cores
def test_sort_and_argsort_match_numpy(kind, dtype, data):
    ndim = data.draw(st.integers(1, 3), label="ndim")
    check_kind(kind, dtype, data.draw(arrays(dtype, ndim), label="x"))


@pytest.mark.parametrize("kind", ["cumsum", "cumprod", "repeat2", "diff"])
@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "int8", "bool"])
@settings(**SETTINGS)
@given(data=st.data())
@pytest.mark.slow   # many compiles: 6 s on 2 busy cores
def test_extra_ops_match_numpy(kind, dtype, data):
    if kind == "diff" and dtype == "bool":
        return      # numpy's diff of bools is xor; tested below
    ndim = data.draw(st.integers(1, 3), label="ndim")
    check_kind(kind, dtype, data.draw(arrays(dtype, ndim), label="x"))


def test_sort_keeps_ties_in_order_and_nan_last():
    x = T.dvector("x")
    f_c = cgraph.function([x], [T.argsort(x), T.sort(x), x.argsort(), x.sort()])
    v = np.array([2.0, np.nan, 1.0, 2.0, -np.inf, 1.0, np.nan, np.inf])
    idx, vals, idx2, vals2 = f_c(v)
    np.testing.assert_array_equal(idx, [4, 2, 5, 0, 3, 7, 1, 6])
    np.testing.assert_array_equal(vals, np.sort(v))
    np.testing.assert_array_equal(idx2, idx)
    assert idx.dtype == np.int64 and vals.dtype == np.float64
    long = np.random.default_rng(1).integers(0, 5, 1000).astype("float64")
    np.testing.assert_array_equal(f_c(long)[0], np.argsort(long, kind="stable"))


def test_sort_types_and_errors():
    m = T.fmatrix("m")
    assert T.sort(m).type == m.type and T.sort(m, None).ndim == 1
    assert T.argsort(m).dtype == "int64" and T.argsort(T.row()).broadcastable == (True, False)
    assert str(T.sort(m).owner.op) == "SortOp{quicksort, None}"
    assert int(T.sort(m, -2).owner.inputs[1].data) == 0      # a negative axis counts back
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        T.sort(m, 2)
    with pytest.raises(TypeError, match="known when the graph is built"):
        T.sort(m, T.lscalar())
    with pytest.raises(ValueError, match="0-d"):
        T.argsort(T.dscalar("s"))
    with pytest.raises(ValueError, match="kind must be one of"):
        T.sort(m, kind="bogus")
    with pytest.raises(ValueError, match="order"):
        T.sort(m, order=["f"])


@pytest.mark.slow   # many compiles: 26 s on 2 busy cores
def test_sort_gradient():
    rng = np.random.default_rng(3)
    for axis in (0, 1, -1, None):
        verify_grad(lambda a: T.sort(a, axis), [rng.normal(size=(3, 4))], rng=rng)
    verify_grad(lambda a: T.sort(a, 0), [rng.normal(size=(5,)).astype("float32")], rng=rng)
    # a tie: each tied element gets the gradient of one of the places they go to
    x = T.dvector("x")
    g = T.grad((T.sort(x) * np.array([1.0, 10.0, 100.0])).sum(), x)
    for mode in ("c", "py"):
        np.testing.assert_array_equal(cgraph.function([x], g, mode=mode)(
            np.array([5.0, 1.0, 5.0])), [10.0, 1.0, 100.0])
    x = T.dmatrix("x")
    assert_same(cgraph.function([x], T.grad(T.argsort(x).sum() + x.sum(), x))(
        np.ones((2, 2))), np.ones((2, 2)))


@pytest.mark.slow   # many compiles: 23 s on 2 busy cores
def test_cumulative_ops_types_gradients_and_errors():
    m = T.imatrix("m")
    assert T.cumsum(m).type == T.ivector().type and T.cumsum(m, 0).type == m.type
    assert T.cumsum(T.bvector()).dtype == "int8" and T.cumsum(T.vector(dtype="bool")).dtype == "int64"
    assert str(T.cumsum(m, 1).owner.op) == "CumOp{1, add}"
    with pytest.raises(ValueError, match="out of bounds"):
        T.cumsum(m, 2)
    with pytest.raises(ValueError, match="Unknown mode"):
        extra_ops.CumOp(0, "max")
    rng = np.random.default_rng(4)
    for axis in (None, 0, 1, -2):
        verify_grad(lambda a: T.cumsum(a, axis), [rng.normal(size=(3, 4))], rng=rng)
        verify_grad(lambda a: T.cumprod(a, axis), [rng.uniform(0.5, 2, size=(3, 4))], rng=rng)
    # integer overflow wraps, as numpy
    x = T.bvector("x")
    f = cgraph.function([x], [T.cumsum(x), T.cumprod(x)])
    v = np.array([100, 100, -128, 3], dtype="int8")
    with np.errstate(all="ignore"):
        for got, expected in zip(f(v), [np.cumsum(v, dtype="int8"), np.cumprod(v, dtype="int8")]):
            assert_same(got, expected)


@pytest.mark.slow   # many compiles: 14 s on 2 busy cores
def test_repeat_by_vector_scalar_and_symbolic():
    x = T.dmatrix("x")
    r = T.lvector("r")
    n = T.lscalar("n")
    outs = [T.repeat(x, r, 0), x.repeat(n, 1), T.repeat(x, n), T.repeat(x, 1, 0),
            T.repeat(x, np.array([3]), 1), T.repeat(x[:, 0], r)]
    assert isinstance(outs[0].owner.op, extra_ops.RepeatOp)
    assert outs[3].broadcastable == (False, False)
    f_c = cgraph.function([x, r, n], outs)
    assert_clean_build(f_c)
    f_py = cgraph.function([x, r, n], outs, mode="py")
    xv = np.arange(6.0).reshape(3, 2)
    for rows, count in [([1, 0, 2], 2), ([0, 0, 0], 0), ([4], 1)]:
        expected = [np.repeat(xv, rows, 0), np.repeat(xv, count, 1), np.repeat(xv, count),
                    xv, np.repeat(xv, 3, 1), np.repeat(xv[:, 0], rows)]
        for f in (f_c, f_py):
            for got, e in zip(f(xv, np.array(rows), count), expected):
                assert_same(got, e)
    for f in (f_c, f_py):
        with pytest.raises(ValueError, match="gives 2 repeats for the 3 elements"):
            f(xv, np.array([1, 2]), 1)
        with pytest.raises(ValueError, match="negative repeat count"):
            f(xv, np.array([2, -1, 0]), 1)
    with pytest.raises(TypeError, match="integer"):
        T.repeat(x, 1.5)
    with pytest.raises(ValueError, match="should not exceed 1"):
        T.repeat(x, T.lmatrix())
    rng = np.random.default_rng(5)
    verify_grad(lambda a: T.repeat(a, 3, 1), [rng.normal(size=(2, 3))], rng=rng)
    verify_grad(lambda a: T.repeat(a, 2), [rng.normal(size=(2, 3))], rng=rng)
    with pytest.raises(NotImplementedError, match="vector of repeats"):
        T.grad(T.repeat(x, r, 0).sum(), x)


@pytest.mark.slow   # many compiles: 28 s on 2 busy cores
def test_diff_bincount_one_hot_fill_diagonal():
    x = T.dmatrix("x")
    v = T.bvector("v")
    y = T.lvector("y")
    w = T.fvector("w")
    outs = [extra_ops.diff(x), extra_ops.diff(x, 2, 0), extra_ops.diff(x, 0),
            T.DiffOp(1, 0)(x), T.bincount(y), T.bincount(y, w, minlength=7),
            extra_ops.to_one_hot(y, 6), extra_ops.to_one_hot(y, 6, dtype="int32"),
            T.fill_diagonal(x, 9.0), extra_ops.diff(v)]
    f_c = cgraph.function([x, y, w, v], outs)
    assert_clean_build(f_c)
    f_py = cgraph.function([x, y, w, v], outs, mode="py")
    xv = np.arange(12.0).reshape(3, 4) ** 2
    yv = np.array([0, 3, 3, 5, 1])
    wv = np.linspace(0, 1, 5).astype("float32")
    vv = np.array([1, 5, -3], dtype="int8")
    filled = xv.copy()
    np.fill_diagonal(filled, 9.0)
    expected = [np.diff(xv), np.diff(xv, 2, 0), xv, np.diff(xv, 1, 0), np.bincount(yv),
                np.bincount(yv, wv, minlength=7).astype("float32"),
                np.eye(6, dtype=cgraph.config.floatX)[yv], np.eye(6, dtype="int32")[yv],
                filled, np.diff(vv)]
    for f in (f_c, f_py):
        for got, e in zip(f(xv, yv, wv, vv), expected):
            assert_same(got, e, rtol=1e-6)
    for f in (f_c, f_py):
        with pytest.raises(ValueError):     # bincount of nothing: max() of an empty vector,
            f(xv, np.zeros(0, "int64"), np.zeros(0, "float32"), vv)   # as in Theano
        with pytest.raises(IndexError):
            f(xv, np.array([0, 6]), np.ones(2, "float32"), vv)   # to_one_hot: class 6 of 6
    # empty inputs and a tall matrix
    fs = [cgraph.function([x, y], [T.fill_diagonal(x, 9.0), extra_ops.to_one_hot(y, 3)],
                          mode=mode) for mode in ("c", "py")]
    tall = np.zeros((5, 2))
    np.fill_diagonal(tall, 9.0)
    for f in fs:
        got = f(np.zeros((5, 2)), np.zeros(0, dtype="int64"))
        assert_same(got[0], tall)
        assert_same(got[1], np.zeros((0, 3), cgraph.config.floatX))
        got = f(np.zeros((0, 2)), np.array([2, -1]))        # negative: from the end
        assert_same(got[0], np.zeros((0, 2)))
        assert_same(got[1], np.eye(3, dtype=cgraph.config.floatX)[[2, 2]])
    rng = np.random.default_rng(6)
    verify_grad(lambda a: extra_ops.diff(a, 2, 1), [rng.normal(size=(3, 5))], rng=rng)
    verify_grad(lambda a: T.fill_diagonal(a, 0.5), [rng.normal(size=(3, 4))], rng=rng)
    verify_grad(lambda a, s: T.fill_diagonal(a, s), [rng.normal(size=(4, 3)), np.array(0.5)],
                rng=rng)
    verify_grad(lambda a: T.fill_diagonal(a, 0.5), [rng.normal(size=(3, 3, 3))], rng=rng)
    with pytest.raises(TypeError, match="at least two dimensions"):
        T.fill_diagonal(T.dvector(), 1.0)
    with pytest.raises(TypeError, match="must be the same"):
        T.fill_diagonal(T.imatrix(), 1.5)
    with pytest.raises(TypeError, match="dimension 1"):
        T.bincount(T.lmatrix())
    with pytest.raises(TypeError, match="vector of integers"):
        extra_ops.to_one_hot(T.dvector(), 3)


def test_squeeze_and_names():
    assert extra_ops.squeeze(T.row()).ndim == 1 and T.col().squeeze().ndim == 1
    import cgraph.tensor.extra_ops as E
    for name in ["cumsum", "cumprod", "repeat", "bincount", "diff", "to_one_hot",
                 "fill_diagonal", "squeeze", "CumOp", "RepeatOp", "DiffOp"]:
        assert hasattr(E, name)
    for name in ["sort", "argsort", "cumsum", "cumprod", "repeat", "bincount",
                 "fill_diagonal", "DiffOp", "extra_ops"]:
        assert hasattr(T, name)


@functools.lru_cache(maxsize=None)
def compiled_unique(dtype):
    x = T.TensorType(dtype, (False, False))("x")
    outs = ([extra_ops.unique(x)] + extra_ops.Unique(True, True, True)(x)
            + extra_ops.Unique(False, False, True)(x[:, ::-1]))
    f_c = cgraph.function([x], outs)
    assert_clean_build(f_c)
    return f_c, cgraph.function([x], outs, mode="py")


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "uint8", "bool"])
@settings(**SETTINGS)
@given(data=st.data())
def test_unique_matches_numpy(dtype, data):
    value = data.draw(arrays(dtype, 2), label="x")
    f_c, f_py = compiled_unique(dtype)
    flat = value.ravel()
    values, first, inverse, counts = np.unique(flat, return_index=True, return_inverse=True,
                                               return_counts=True)
    rev_values, rev_counts = np.unique(value[:, ::-1].ravel(), return_counts=True)
    expected = [values, values, first, inverse.ravel(), counts, rev_values, rev_counts]
    for got_c, got_py, e in zip(f_c(value), f_py(value), expected):
        assert_same(got_c, got_py, what="unique C vs reference")
        assert_same(got_py, np.asarray(e).astype(got_py.dtype), what="unique vs numpy")


def test_unique_types_and_errors():
    outs = extra_ops.Unique(return_inverse=True)(T.fmatrix())
    assert [o.type for o in outs] == [T.fvector().type, T.lvector().type]
    assert extra_ops.unique(T.imatrix()).type == T.ivector().type
    with pytest.raises(NotImplementedError, match="axis=None"):
        extra_ops.Unique(axis=0)
