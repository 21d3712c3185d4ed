"""pool_2d against a window-by-window numpy reference (Theano's definition): modes x
ignore_border x stride x pad, dtypes, ranks, strided inputs, edge sizes; gradients against
finite differences (first and second order); C against the numpy reference; warnings and
errors."""
import itertools
import warnings

import numpy as np
import pytest

import cgraph.tensor as T
from cgraph.tensor.signal import pool
from cgraph.tensor.signal.pool import (AveragePoolGrad, MaxPoolGrad, Pool, out_size,
                                       pool_2d)
from test_conv import verify_vjp
from util import check, check_error

pytestmark = pytest.mark.slow   # many pool modules and numeric gradients

rng = np.random.default_rng(1)
MODES = ["max", "sum", "average_inc_pad", "average_exc_pad"]


def theano_out_size(v, ws, st, ignore_border):
    """Theano 1.0's Pool.out_shape for one axis of (padded) length v."""
    if ignore_border:
        return v // st if ws == st else max((v - ws) // st + 1, 0)
    if st >= ws:
        return (v - 1) // st + 1
    return max(0, (v - 1 - ws + st) // st) + 1


def reference_pool(x, ws, ignore_border=True, stride=None, pad=(0, 0), mode="max"):
    """One window at a time: clipped to the padded image, padding excluded unless
    average_inc_pad, then max / sum / mean of what is left."""
    stride = stride or ws
    x = np.asarray(x)
    padded = [x.shape[-2 + a] + 2 * pad[a] for a in range(2)]
    out = [theano_out_size(padded[a], ws[a], stride[a], ignore_border) for a in range(2)]
    y = np.zeros(x.shape[:-2] + tuple(padded), dtype="float64")
    y[..., pad[0]:pad[0] + x.shape[-2], pad[1]:pad[1] + x.shape[-1]] = x
    result = np.zeros(x.shape[:-2] + tuple(out), dtype="float64")
    func = {"max": np.max, "sum": np.sum}.get(mode, np.mean)
    for r, c in itertools.product(range(out[0]), range(out[1])):
        bounds = []
        for a, k in ((0, r), (1, c)):
            start = k * stride[a]
            end = min(start + ws[a], padded[a])
            if mode != "average_inc_pad":
                start, end = max(start, pad[a]), min(end, padded[a] - pad[a])
            bounds.append(slice(start, end))
        window = y[(Ellipsis,) + tuple(bounds)]
        result[..., r, c] = func(window.reshape(window.shape[:-2] + (-1,)), axis=-1)
    return result.astype(x.dtype) if mode == "max" or x.dtype.kind != "f" else \
        result.astype(x.dtype)


# (ws, ignore_border, stride, pad)
GEOMETRIES = [
    ((2, 2), True, None, (0, 0)),
    ((2, 2), False, None, (0, 0)),
    ((3, 2), False, (2, 2), (0, 0)),        # partial windows on both borders
    ((3, 3), False, (1, 2), (0, 0)),        # overlapping, stride < ws
    ((2, 3), True, (3, 1), (0, 0)),         # stride > ws: values skipped
    ((3, 3), True, (2, 2), (1, 2)),         # padding
    ((2, 2), True, (1, 1), (1, 1)),
    ((1, 1), False, (2, 3), (0, 0)),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_modes_and_geometries_against_the_reference(dtype):
    x = T.tensor4("x", dtype=dtype)
    cases = list(itertools.product(MODES, GEOMETRIES))
    outs = [pool_2d(x, ws, ib, st, pd, mode) for mode, (ws, ib, st, pd) in cases]
    X = rng.normal(size=(2, 3, 7, 8)).astype(dtype)
    expected = [reference_pool(X, ws, ib, st, pd, mode) for mode, (ws, ib, st, pd) in cases]
    got = check([x], outs, [X], expected=expected, rtol=1e-6 if dtype == "float32" else None)
    assert got[0].shape == (2, 3, 3, 4) and got[1].shape == (2, 3, 4, 4)


def test_output_sizes_follow_theano():
    for v, ws, st, ib in itertools.product(range(1, 9), range(1, 5), range(1, 5), (False, True)):
        assert out_size(v, ws, st, 0, ib) == theano_out_size(v, ws, st, ib), (v, ws, st, ib)
    assert out_size(5, 3, 1, 1, True) == 5 and out_size(0, 2, 2, 0, False) == 0


def test_integer_and_bool_inputs():
    i8, i64, b = T.tensor3("i8", dtype="int8"), T.matrix("i64", dtype="int64"), \
        T.matrix("b", dtype="bool")
    outs = [pool_2d(i8, (2, 2), True, mode="max"), pool_2d(i8, (3, 3), False, mode="sum"),
            pool_2d(i64, (2, 3), False, mode="average_exc_pad"),
            pool_2d(i64, (3, 2), True, (1, 1), (1, 1), mode="average_inc_pad"),
            pool_2d(b, (2, 2), False)]
    assert [o.dtype for o in outs] == ["int8", "int8", "int64", "int64", "bool"]
    I8 = rng.integers(-128, 128, (2, 5, 6)).astype("int8")     # sums wrap as numpy's
    I64 = rng.integers(-50, 50, (5, 7))
    B = rng.random((5, 5)) > 0.7
    with np.errstate(over="ignore"):
        sums = reference_pool(I8.astype("int64"), (3, 3), False, mode="sum").astype("int8")
    expected = [reference_pool(I8, (2, 2)), sums,
                np.trunc(reference_pool(I64.astype(float), (2, 3), False,
                                        mode="average_exc_pad")).astype("int64"),
                np.trunc(reference_pool(I64.astype(float), (3, 2), True, (1, 1), (1, 1),
                                        "average_inc_pad")).astype("int64"),
                reference_pool(B, (2, 2), False)]
    check([i8, i64, b], outs, [I8, I64, B], expected=expected)
    with pytest.raises(TypeError, match="needs numbers"):
        pool_2d(b, (2, 2), True, mode="sum")


def test_ranks_strided_inputs_and_edge_sizes():
    m, t5 = T.matrix("m"), T.tensor("float64", (False,) * 5, "t5")
    outs = [pool_2d(m, (2, 2), False), pool_2d(t5, (2, 3), True, (1, 2), mode="sum"),
            pool_2d(m.T, (3, 2), False, mode="average_exc_pad"),     # transposed view
            pool_2d(t5[:, ::-1, :, ::2], (2, 2), True, mode="max"),   # reversed, subsampled
            pool_2d(m, (9, 9), True),                                 # window > image: empty
            pool_2d(m[:0], (2, 2), False, mode="average_inc_pad"),    # no rows
            pool_2d(t5, (9, 1), False, (1, 1), mode="max")]           # one partial window
    M, T5 = rng.normal(size=(5, 7)), rng.normal(size=(2, 3, 2, 6, 5))
    expected = [reference_pool(M, (2, 2), False),
                reference_pool(T5, (2, 3), True, (1, 2), mode="sum"),
                reference_pool(M.T, (3, 2), False, mode="average_exc_pad"),
                reference_pool(T5[:, ::-1, :, ::2], (2, 2)),
                np.zeros((0, 0)), np.zeros((0, 4)),
                reference_pool(T5, (9, 1), False, (1, 1))]
    got = check([m, t5], outs, [M, T5], expected=expected)
    assert got[6].shape == (2, 3, 2, 1, 5)


def test_max_propagates_nan():
    x = T.matrix("x")
    X = np.arange(16.0).reshape(4, 4)
    X[0, 1] = np.nan
    got = check([x], pool_2d(x, (2, 2), True), [X])
    assert np.isnan(got[0][0, 0]) and not np.isnan(got[0]).sum() > 1


# --- gradients ---------------------------------------------------------------------------

GRAD_CASES = [(mode,) + g for mode in MODES for g in
              [((2, 2), True, None, (0, 0)), ((3, 2), False, (2, 1), (0, 0)),
               ((3, 3), True, (2, 2), (1, 1))]]


@pytest.mark.parametrize("mode,ws,ignore_border,stride,pad", GRAD_CASES, ids=str)
def test_gradients_against_finite_differences(mode, ws, ignore_border, stride, pad):
    X = rng.permutation(2 * 2 * 5 * 6).reshape(2, 2, 5, 6) / 7.0   # distinct: no ties
    verify_vjp(lambda x: pool_2d(x, ws, ignore_border, stride, pad, mode), [X])


def test_max_gradient_goes_to_every_tied_maximum():
    """As Theano's MaxPoolGrad: each window's gradient reaches every position equal to the
    window's maximum; overlapping windows add up."""
    x = T.matrix("x")
    out = pool_2d(x, (2, 2), True, (1, 1))
    X = np.array([[1.0, 3.0, 3.0], [0.0, 2.0, 1.0]])
    gx = T.grad(None, x, known_grads={out: T.constant(np.array([[10.0, 100.0]]))})
    got = check([x], [out, gx], [X], expected=[np.array([[3.0, 3.0]]), np.array([[0.0, 110, 100], [0, 0, 0]])])
    assert got[1].sum() == 210   # both 3s of the second window receive its gradient


def test_second_order_gradients():
    """The gradients of the gradient ops: AveragePoolGrad is linear in gz (its gradient is
    a pool), MaxPoolGrad routes ggx back through the same maxima (MaxPoolGradGrad)."""
    X = rng.permutation(60).reshape(3, 4, 5) / 9.0
    x_ref = T.constant(X)
    for mode in ("sum", "average_inc_pad", "average_exc_pad"):
        op = AveragePoolGrad(False, mode)
        GZ = rng.normal(size=(3, 3, 3))
        verify_vjp(lambda gz: op(x_ref, gz, (2, 2), (1, 2)), [GZ])
    geometry = ((2, 3), (1, 1), (1, 1))
    pooled = Pool(True)(x_ref, *geometry)
    max_grad = MaxPoolGrad(True)
    GZ = rng.normal(size=(3, 5, 5))
    verify_vjp(lambda gz: max_grad(x_ref, pooled, gz, *geometry), [GZ])
    # and the gradient of MaxPoolGradGrad, which is MaxPoolGrad again
    node = max_grad(x_ref, pooled, T.tensor3(), *geometry).owner
    ggx_op = max_grad.L_op(node.inputs, node.outputs, [T.tensor3()])[2].owner.op
    verify_vjp(lambda ggx: ggx_op(x_ref, pooled, ggx, *geometry), [rng.normal(size=X.shape)])


def test_verify_grad_through_pool():
    from cgraph.gradient import verify_grad
    X = rng.permutation(2 * 2 * 5 * 5).reshape(2, 2, 5, 5) / 7.0
    for mode in MODES:
        verify_grad(lambda x: pool_2d(x, (2, 2), False, mode=mode), [X])


def test_float32_gradients_match_the_reference():
    x, g = T.tensor4("x", dtype="float32"), T.tensor4("g", dtype="float32")
    outs = []
    for mode in MODES:
        out = pool_2d(x, (3, 2), True, (2, 1), (1, 1), mode)
        outs.append(T.grad(None, x, known_grads={out: g}))
    X = rng.normal(size=(2, 3, 6, 5)).astype("float32")
    G = rng.normal(size=(2, 3, 3, 6)).astype("float32")
    check([x, g], outs, [X, G], rtol=1e-6)


# --- warnings and errors -----------------------------------------------------------------

def test_ignore_border_default_and_deprecated_names():
    x = T.matrix("x")
    with pytest.warns(UserWarning, match="ignore_border"):
        out = pool_2d(x, (2, 2))
    assert out.owner.op.ignore_border is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pool_2d(x, (2, 2), ignore_border=True)
    with pytest.warns(DeprecationWarning) as record:
        old = pool_2d(x, ds=(2, 3), st=(1, 1), padding=(1, 1), ignore_border=True)
    assert {str(w.message).split("'")[1] for w in record} == {"ds", "st", "padding"}
    assert old.owner.op == Pool(True)
    assert [tuple(v.data) for v in old.owner.inputs[1:]] == [(2, 3), (1, 1), (1, 1)]
    with pytest.raises(ValueError, match="both 'ws' and 'ds'"):
        pool_2d(x, (2, 2), True, ds=(2, 2))
    with pytest.raises(ValueError, match="both 'pad' and 'padding'"):
        pool_2d(x, (2, 2), True, pad=(1, 1), padding=(1, 1))
    with pytest.raises(ValueError, match="window size"):
        pool_2d(x, ignore_border=True)


def test_build_time_errors():
    x = T.tensor4("x")
    with pytest.raises(NotImplementedError, match="padding works only with ignore_border"):
        pool_2d(x, (2, 2), False, pad=(1, 1))
    with pytest.raises(NotImplementedError, match="padding must be smaller"):
        pool_2d(x, (2, 2), True, pad=(2, 0))
    with pytest.raises(NotImplementedError, match="requires a dimension >= 2"):
        pool_2d(T.vector(), (2, 2), True)
    with pytest.raises(ValueError, match="Pool mode parameter only support"):
        pool_2d(x, (2, 2), True, mode="min")
    with pytest.raises(ValueError, match="must be positive"):
        pool_2d(x, (0, 2), True)
    with pytest.raises(TypeError, match="must be ints"):
        pool_2d(x, (2.0, 2), True)
    with pytest.raises(TypeError, match="must be ints"):
        pool_2d(x, (T.scalar("f"), 2), True)
    with pytest.raises(ValueError, match="ws must hold 2 values"):
        pool_2d(x, (2, 2, 2), True)
    assert pool.Pool(True) != pool.Pool(False)
    assert pool.Pool(True) != pool.Pool(True, ndim=3)


def test_gradient_shape_errors_in_both_modes():
    x, gz = T.matrix("x"), T.matrix("gz")
    out = AveragePoolGrad(True, mode="sum")(x, gz, (2, 2))
    check_error([x, gz], out, [np.zeros((4, 5)), np.zeros((2, 3))], ValueError,
                r"the output gradient gz has shape \(2, 3\), but pooling x of shape \(4, 5\) "
                r"gives \(2, 2\)")
    m = T.matrix("m")
    out = MaxPoolGrad(False)(x, m, gz, (2, 2))
    check_error([x, m, gz], out, [np.zeros((4, 5)), np.zeros((2, 3)), np.zeros((2, 2))],
                ValueError, r"the output gradient gz has shape \(2, 2\), but pooling x of "
                r"shape \(4, 5\) gives \(2, 3\)")
    check_error([x, m, gz], out, [np.zeros((4, 5)), np.zeros((2, 2)), np.zeros((2, 3))],
                ValueError, r"the pooled output m has shape \(2, 2\)")
