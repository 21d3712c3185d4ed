"""pool_2d with symbolic window sizes, strides and padding (as Lasagne's spatial pyramid
pooling builds them from the input's shape), pool_3d and max_pool_2d_same_size: against a
window-by-window numpy reference written with loops, in C and in py mode; gradients with
verify_grad; runtime errors of symbolic geometry in both modes."""
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from cgraph.tensor.signal.pool import (AveragePoolGrad, MaxPoolGrad, MaxPoolGradGrad, Pool,
                                       max_pool_2d_same_size, pool_2d, pool_3d)
from util import check, check_error

rng = np.random.default_rng(3)
MODES = ["max", "sum", "average_inc_pad", "average_exc_pad"]


def n_windows(length, ws, stride, pad, ignore_border):
    """Theano 1.0's Pool.out_shape along one axis."""
    v = length + 2 * pad
    if ignore_border:
        return max((v - ws) // stride + 1, 0)
    if v == 0:
        return 0
    if stride >= ws:
        return (v - 1) // stride + 1
    return max(0, (v - 1 - ws + stride) // stride) + 1


def naive_pool(x, ws, ignore_border=True, stride=None, pad=None, mode="max"):
    """Pool the last len(ws) axes one window and one image at a time."""
    nd = len(ws)
    stride = stride or ws
    pad = pad or (0,) * nd
    x = np.asarray(x, dtype="float64")
    lead, spatial = x.shape[:-nd], x.shape[-nd:]
    counts = [n_windows(spatial[a], ws[a], stride[a], pad[a], ignore_border)
              for a in range(nd)]
    out = np.zeros(lead + tuple(counts))
    for image in itertools.product(*(range(n) for n in lead)):
        for window in itertools.product(*(range(n) for n in counts)):
            values, size_inc = [], 1
            ranges = []
            for a, k in enumerate(window):
                start, end = k * stride[a], min(k * stride[a] + ws[a], spatial[a] + 2 * pad[a])
                size_inc *= end - start
                ranges.append(range(max(start, pad[a]) - pad[a],
                                    min(end, spatial[a] + pad[a]) - pad[a]))
            for position in itertools.product(*ranges):
                values.append(x[image + position])
            if mode == "max":        # a window of padding alone: -inf, NaN (see pool.py)
                out[image + window] = max(values, default=-np.inf)
            elif mode == "sum":
                out[image + window] = sum(values)
            elif mode == "average_inc_pad":
                out[image + window] = sum(values) / size_inc
            else:
                out[image + window] = sum(values) / len(values) if values else np.nan
    return out


@pytest.mark.slow   # many compiles: 6 s on 2 busy cores
def test_symbolic_window_stride_and_padding():
    """ws, stride and pad as symbolic scalars, as int vectors and as expressions of the
    input's shape, every mode; C and the reference against the loops."""
    x = T.tensor4("x")
    a, b = T.lscalar("a"), T.iscalar("b")
    v = T.ivector("v")
    X = rng.normal(size=(2, 2, 7, 6))
    cases = [  # (ws, stride, pad, ignore_border, the values they take)
        ((a, 2), (1, a), (0, 0), True, ((3, 2), (1, 3), (0, 0))),
        ((a, b), None, None, False, ((3, 2), (3, 2), (0, 0))),
        (v, v, (1, 1), True, ((2, 3), (2, 3), (1, 1))),
        ((a, b), (b, b), (a - 2, 0), True, ((3, 2), (2, 2), (1, 0))),
    ]
    outs, expected = [], []
    for ws, stride, pad, ib, (wv, sv, pv) in cases:
        for mode in MODES:
            outs.append(pool_2d(x, ws, ib, stride, pad, mode))
            expected.append(naive_pool(X, wv, ib, sv, pv, mode))
    check([x, a, b, v], outs, [X, 3, 2, np.array([2, 3], "int32")], expected=expected)


@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_spatial_pyramid_pooling_as_lasagne_builds_it():
    """Window and stride computed from the symbolic input shape, pad=None, for pyramid
    levels 4, 2, 1; the 'kaiming'-free fast path of SpatialPyramidPoolingLayer."""
    x = T.tensor4("x")
    levels = []
    size = (x.shape[2], x.shape[3])
    for n in (4, 2, 1):
        ws = tuple((s + n - 1) // n for s in size)
        stride = tuple(s // n for s in size)
        levels.append(pool_2d(x, ws=ws, stride=stride, mode="max", pad=None,
                              ignore_border=True).flatten(3))
    out = T.concatenate(levels, axis=2)
    for shape in [(2, 3, 8, 9), (1, 2, 13, 7)]:
        X = rng.normal(size=shape)
        expected = []
        for n in (4, 2, 1):
            ws = tuple((s + n - 1) // n for s in shape[2:])
            st = tuple(s // n for s in shape[2:])
            expected.append(naive_pool(X, ws, True, st).reshape(shape[:2] + (-1,)))
        got = check([x], [out], [X], expected=[np.concatenate(expected, axis=2)])[0]
        if shape[2:] == (8, 9):     # here the levels are exactly 4 x 4, 2 x 2 and 1 x 1
            assert got.shape == shape[:2] + (16 + 4 + 1,)
    # Lasagne's probe: symbolic vectors are accepted
    pool_2d(T.tensor4(), ws=T.ivector(), stride=T.ivector(), ignore_border=True, pad=None)


@pytest.mark.slow   # many compiles: 46 s on 2 busy cores
def test_gradients_with_symbolic_geometry():
    X = rng.permutation(2 * 2 * 6 * 5).reshape(2, 2, 6, 5) / 7.0     # no ties
    a = T.lscalar("a")
    for mode in MODES:
        def pooled(x, mode=mode):
            # the window from a constant folded into a symbolic expression of x's shape
            rows = x.shape[2] // 3
            return pool_2d(x, (rows, 2), True, (1, rows), (1, 1), mode)
        verify_grad(pooled, [X])
    x, g = T.tensor4("x"), T.tensor4("g")
    out = pool_2d(x, (a, a), True, (a - 1, a), mode="max")
    gx = T.grad(None, x, known_grads={out: g})
    G = rng.normal(size=(2, 2, 5, 2))
    check([x, g, a], [out, gx], [X, G, 2])


@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_runtime_geometry_errors_in_both_modes():
    x, a, v = T.matrix("x"), T.lscalar("a"), T.lvector("v")
    X = np.zeros((4, 5))
    check_error([x, a], pool_2d(x, (a, 2), True), [X, 0], ValueError,
                r"pool of x: ws \(0, 2\) and stride \(0, 2\) must be positive and pad "
                r"\(0, 0\) not negative")
    check_error([x, a], pool_2d(x, (2, 2), False, pad=(a, 0)), [X, 1], ValueError,
                r"padding works only with ignore_border=True")
    check_error([x, a], pool_2d(x, (2, 2), True, pad=(a, 0)), [X, 2], ValueError,
                r"padding must be smaller than the window: pad \(2, 0\), ws \(2, 2\)")
    check_error([x, v], pool_2d(x, v, True), [X, np.array([2, 2, 2])], ValueError,
                r"pool of x: ws must hold 2 values, got 3")
    # the same rules at build time for constants, whatever their integer dtype
    with pytest.raises(NotImplementedError, match="padding must be smaller"):
        pool_2d(x, (2, 2), True, pad=T.constant(np.array([2, 0])))
    with pytest.raises(NotImplementedError, match="padding must be smaller"):
        pool_2d(x, (2, 2), True, pad=T.constant(np.array([2, 0], "int8")))


PYRAMID_3D = [  # (ws, ignore_border, stride, pad)
    ((2, 2, 2), True, None, None),
    ((2, 3, 2), False, (1, 2, 3), None),
    ((3, 2, 2), True, (2, 1, 2), (1, 1, 0)),
    ((1, 1, 3), False, None, None),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.slow   # many compiles: 4 s on 2 busy cores
def test_pool_3d_against_the_loops(dtype):
    x = T.TensorType(dtype, (False,) * 5)("x")
    X = rng.normal(size=(2, 2, 5, 6, 4)).astype(dtype)
    outs, expected = [], []
    for (ws, ib, st, pd), mode in itertools.product(PYRAMID_3D, MODES):
        outs.append(pool_3d(x, ws, ib, st, pd if pd else (0, 0, 0), mode))
        expected.append(naive_pool(X, ws, ib, st, pd, mode).astype(dtype))
    assert all(o.dtype == dtype for o in outs)
    check([x], outs, [X], expected=expected, rtol=1e-5 if dtype == "float32" else None)


def test_pool_3d_ranks_views_and_empty_inputs():
    t3, t6 = T.tensor3("t3"), T.TensorType("float64", (False,) * 6)("t6")
    T3, T6 = rng.normal(size=(4, 5, 6)), rng.normal(size=(2, 1, 2, 3, 4, 5))
    outs = [pool_3d(t3, (2, 2, 3), True), pool_3d(t6, (2, 2, 2), False, mode="sum"),
            pool_3d(t6[:, :, ::-1, :, ::2], (1, 2, 2), True, mode="average_exc_pad"),
            pool_3d(t3[:0], (2, 2, 2), False), pool_3d(t3, (5, 1, 1), True)]
    expected = [naive_pool(T3, (2, 2, 3)), naive_pool(T6, (2, 2, 2), False, mode="sum"),
                naive_pool(T6[:, :, ::-1, :, ::2], (1, 2, 2), mode="average_exc_pad"),
                np.zeros((0, 3, 3)), np.zeros((0, 5, 6))]
    check([t3, t6], outs, [T3, T6], expected=expected)
    with pytest.raises(NotImplementedError, match="pool_3d requires a dimension >= 3"):
        pool_3d(T.matrix(), (2, 2, 2), True)


@pytest.mark.slow   # many compiles: 59 s on 2 busy cores
def test_pool_3d_gradients():
    X = rng.permutation(2 * 4 * 5 * 4).reshape(1, 2, 4, 5, 4) / 9.0
    for mode in MODES:
        verify_grad(lambda x, mode=mode: pool_3d(x, (2, 3, 2), True, (1, 2, 2), (1, 1, 0),
                                                 mode), [X])
        verify_grad(lambda x, mode=mode: pool_3d(x, (2, 2, 3), False, mode=mode), [X])
    # second order through the max pool: the gradient of MaxPoolGrad (MaxPoolGradGrad)
    verify_grad(lambda x: T.grad(T.sum(pool_3d(x, (2, 2, 2), True) ** 2), x), [X])


def test_max_pool_2d_same_size_keeps_each_patch_maximum():
    x = T.tensor4("x")
    X = rng.permutation(2 * 1 * 4 * 6).reshape(2, 1, 4, 6).astype("float64")
    expected = np.zeros_like(X)
    for b, i, j in itertools.product(range(2), range(2), range(3)):
        patch = X[b, 0, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
        r, c = np.unravel_index(np.argmax(patch), patch.shape)
        expected[b, 0, 2 * i + r, 2 * j + c] = patch[r, c]
    check([x], max_pool_2d_same_size(x, (2, 2)), [X], expected=expected)


def test_theano_op_signatures():
    """Pool(ignore_border, mode, ndim)(x, ws, stride, pad), MaxPoolGrad(ignore_border,
    ndim)(x, maxout, gz, ws, stride, pad), as Theano 1.0's."""
    x = T.tensor4("x")
    op = Pool(ignore_border=True, mode="sum", ndim=2)
    y = op(x, (2, 2), (1, 1), (0, 0))
    assert y.owner.op == Pool(True, "sum")
    g = MaxPoolGrad(True)(x, Pool(True)(x, (2, 2)), T.tensor4("gz"), (2, 2))
    assert g.type == x.type
    f = cgraph.function([x], y)
    X = rng.normal(size=(1, 1, 3, 3))
    np.testing.assert_allclose(f(X), naive_pool(X, (2, 2), True, (1, 1), mode="sum"))
    with pytest.raises(ValueError, match="ndim must be 2 or 3"):
        Pool(True, ndim=1)
    from cgraph.tensor.signal.pool import DownsampleFactorMaxGradGrad, MaxPoolGradGrad
    assert DownsampleFactorMaxGradGrad(True, "max", 3) == MaxPoolGradGrad(True, ndim=3)
    assert Pool(True, "max", 2, openmp=False) == Pool(True)


_SYMBOLIC = {}


def symbolic_pool_functions(nd):
    """One C and one py function per (nd, ignore_border), pooling x in every mode with
    window sizes, strides and padding given at call time."""
    if nd not in _SYMBOLIC:
        x = T.TensorType("float64", (False,) * (nd + 1))("x")
        ws, stride, pad = T.lvector("ws"), T.lvector("stride"), T.lvector("pad")
        _SYMBOLIC[nd] = {}
        for ib in (True, False):
            outs = [pool_2d(x, ws, ib, stride, pad, m) if nd == 2 else
                    pool_3d(x, ws, ib, stride, pad, m) for m in MODES]
            _SYMBOLIC[nd][ib] = [cgraph.function([x, ws, stride, pad], outs, mode=mode)
                                 for mode in ("c", "py")]
    return _SYMBOLIC[nd]


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
@pytest.mark.slow   # many compiles: 7 s on 2 busy cores
def test_any_geometry_matches_the_loops(data):
    """Random sizes, windows, strides and padding (the edge cases included: windows larger
    than the image, strides larger than windows, empty axes) through one compiled function
    per rank: C, the numpy reference and the loops agree."""
    nd = data.draw(st.sampled_from([2, 3]), "nd")
    ib = data.draw(st.booleans(), "ignore_border")
    shape = tuple(data.draw(st.lists(st.integers(0, 5), min_size=nd + 1,
                                     max_size=nd + 1), "shape"))
    ws = data.draw(st.lists(st.integers(1, 4), min_size=nd, max_size=nd), "ws")
    stride = data.draw(st.lists(st.integers(1, 4), min_size=nd, max_size=nd), "stride")
    pad = [data.draw(st.integers(0, w - 1), "pad") if ib else 0 for w in ws]
    X = rng.normal(size=shape)
    f_c, f_py = symbolic_pool_functions(nd)[ib]
    args = [X, np.array(ws), np.array(stride), np.array(pad)]
    got, ref = f_c(*args), f_py(*args)
    for mode, g, r in zip(MODES, got, ref):
        expected = naive_pool(X, tuple(ws), ib, tuple(stride), tuple(pad), mode)
        assert g.shape == r.shape == expected.shape, (mode, g.shape, expected.shape)
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12, err_msg=mode)
        np.testing.assert_allclose(r, expected, rtol=1e-12, atol=1e-12, err_msg=mode)


@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_windows_of_padding_alone():
    """An empty pooled axis with padding: every window holds padding only. Max gives the
    dtype's lowest value, sum 0, average_inc_pad 0, average_exc_pad NaN (0 for integers);
    the gradient is all zeros (of the empty input's shape)."""
    x, xi = T.tensor3("x"), T.tensor3("xi", dtype="int64")
    outs = [pool_2d(v, (2, 2), True, (1, 1), (1, 1), m) for v in (x, xi) for m in MODES]
    X, XI = np.zeros((2, 0, 3)), np.zeros((2, 0, 3), "int64")
    got = check([x, xi], outs, [X, XI])
    lowest = np.iinfo("int64").min
    for k, value in enumerate([-np.inf, 0, 0, np.nan, lowest, 0, 0, 0]):
        assert got[k].shape == (2, 1, 4)
        np.testing.assert_array_equal(got[k], np.full((2, 1, 4), value))
    gx = T.grad(T.sum(pool_2d(x, (2, 2), True, (1, 1), (1, 1), "average_exc_pad")), x)
    assert check([x], [gx], [X])[0].shape == (2, 0, 3)


@pytest.mark.slow   # many compiles: 7 s on 2 busy cores
def test_out_shape_as_theano_computes_it():
    """Pool.out_shape(imgshape, ws, ignore_border, stride, pad, ndim), Theano's static
    method, for int and for symbolic image sizes (including empty axes)."""
    n = T.lvector("n")
    grid = list(itertools.product(range(0, 7), range(1, 4), range(1, 4), (False, True)))
    symbolic = [Pool.out_shape((n[k], 5), (ws, 2), ib, (st, 2), ndim=2)[0]
                for k, (_, ws, st, ib) in enumerate(grid)]
    sizes = cgraph.function([n], symbolic)(np.array([length for length, _, _, _ in grid]))
    for (length, ws, st, ib), got in zip(grid, sizes):
        expected = n_windows(length, ws, st, 0, ib)
        assert Pool.out_shape((3, length, 5), (ws, 2), ib, (st, 2))[1] == expected
        assert got == expected, (length, ws, st, ib)
    assert Pool.out_shape((2, 3, 7, 8, 9), (2, 2, 3), True, None, (1, 1, 1), ndim=3) == \
        [2, 3, 4, 5, 3]
    x = T.tensor4("x")
    shape = cgraph.function([x], T.stack(Pool.out_shape(x.shape, (3, 2), False, (1, 2))))
    assert list(shape(np.zeros((2, 3, 7, 8)))) == [2, 3, 5, 4]


def test_integer_pool_3d_and_gradient_ops_on_strided_padded_inputs():
    """The module's own loops (integer pooling, AveragePoolGrad, MaxPoolGradGrad, any dtype)
    on three pooled axes, with padding, a partial last window and a strided input: C
    against the numpy reference, values and dtypes."""
    xi = T.tensor4("xi", dtype="int16")
    pooled = [pool_3d(xi[:, ::2], (2, 3, 2), True, (1, 2, 2), (1, 1, 0), m) for m in MODES] \
        + [pool_3d(xi, (2, 2, 3), False, (2, 1, 2), (0, 0, 0), m) for m in MODES]
    XI = rng.integers(-300, 300, (2, 7, 4, 5)).astype("int16")
    got = check([xi], pooled, [XI])
    assert [g.dtype for g in got] == ["int16"] * 8
    x, gz, ggx = T.tensor4("x"), T.tensor4("gz"), T.tensor4("ggx")
    geometry = ((2, 2, 3), (1, 2, 2), (1, 1, 1))
    maxout = pool_3d(x, *geometry[:1], True, *geometry[1:], "max")
    grads = [AveragePoolGrad(True, m, 3)(x, gz, *geometry) for m in MODES[1:]] \
        + [MaxPoolGradGrad(True, ndim=3)(x, maxout, ggx, *geometry)]
    X = np.round(rng.normal(size=(2, 4, 5, 6)), 1)      # ties inside windows too
    GZ = rng.normal(size=(2, 5, 3, 6))[..., ::2]
    GGX = rng.normal(size=X.shape)[..., ::-1]
    got = check([x, gz, ggx], grads, [X, GZ, GGX], on_unused_input="ignore")
    assert [g.shape for g in got] == [X.shape] * 3 + [(2, 5, 3, 3)]
