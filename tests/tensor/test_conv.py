"""T.nnet.conv2d against scipy.signal: border modes, strides, dilations, flip, groups,
dtypes, edge sizes, strided operands; gradients against finite differences (first and second
order); C against the numpy reference; shape errors in both modes."""
import warnings

import numpy as np
import pytest
from scipy import signal

import cgraph
import cgraph.tensor as T
from cgraph.gradient import numeric_grad
from cgraph.tensor.conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights
from util import assert_clean_build, assert_same, check, check_error

pytestmark = pytest.mark.slow   # many conv modules and numeric gradients

rng = np.random.default_rng(0)
RTOL = {"float64": 1e-10, "float32": 1e-4}


def reference_conv(x, w, border_mode="valid", subsample=(1, 1), filter_flip=True,
                   filter_dilation=(1, 1), num_groups=1):
    """conv2d with scipy.signal, one 2-d convolution per (image, output, input channel)."""
    x, w = np.asarray(x, "float64"), np.asarray(w, "float64")
    (dh, dw), (sh, sw) = filter_dilation, subsample
    o, cg, kh, kw = w.shape
    wd = np.zeros((o, cg, (kh - 1) * dh + 1, (kw - 1) * dw + 1))
    wd[:, :, ::dh, ::dw] = w
    ekh, ekw = wd.shape[2:]
    pads = {"valid": ((0, 0), (0, 0)), "full": ((ekh - 1,) * 2, (ekw - 1,) * 2),
            "half": ((ekh // 2,) * 2, (ekw // 2,) * 2)}
    if isinstance(border_mode, int):
        border_mode = (border_mode, border_mode)
    pad = pads[border_mode] if isinstance(border_mode, str) else \
        tuple(p if isinstance(p, tuple) else (p, p) for p in border_mode)
    xp = np.pad(x, ((0, 0), (0, 0)) + pad)
    og = o // num_groups
    rows = (xp.shape[2] - ekh) // sh + 1
    cols = (xp.shape[3] - ekw) // sw + 1
    out = np.zeros((x.shape[0], o, rows, cols))
    op = signal.convolve2d if filter_flip else signal.correlate2d
    for b in range(x.shape[0]):
        for k in range(o):
            g = k // og
            for c in range(cg):
                full = op(xp[b, g * cg + c], wd[k, c], mode="valid")
                out[b, k] += full[::sh, ::sw]
    return out


def random(shape, dtype="float64"):
    return rng.normal(size=shape).astype(dtype)


# --- forward against scipy ---------------------------------------------------------------

GEOMETRIES = [
    dict(),
    dict(border_mode="full"),
    dict(border_mode="half"),
    dict(border_mode=1),
    dict(border_mode=(2, 0)),
    dict(border_mode=((0, 2), (1, 0))),
    dict(subsample=(2, 2)),
    dict(subsample=(3, 1), border_mode="full"),
    dict(filter_dilation=(2, 1)),
    dict(filter_dilation=(2, 2), border_mode="half", subsample=(2, 1)),
    dict(filter_flip=False),
    dict(filter_flip=False, border_mode="full", subsample=(1, 2), filter_dilation=(1, 2)),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_geometries_against_scipy(dtype):
    # non-square image and kernel (3 x 2), several images and channels
    x, w = T.tensor4("x", dtype=dtype), T.tensor4("w", dtype=dtype)
    outs = [T.nnet.conv2d(x, w, **g) for g in GEOMETRIES]
    assert all(o.dtype == dtype for o in outs)
    X, W = random((2, 3, 7, 8), dtype), random((4, 3, 3, 2), dtype)
    expected = [reference_conv(X, W, **g).astype(dtype) for g in GEOMETRIES]
    got = check([x, w], outs, [X, W], rtol=RTOL[dtype], expected=expected)
    assert got[1].shape == (2, 4, 9, 9) and got[2].shape == (2, 4, 7, 9)   # full; half (even kernel: +1)


def test_edge_sizes_against_scipy():
    """Batch and channels of 1, 1x1 kernels (the im2col-free path), a kernel as large as
    the image, even kernels in half mode, an empty batch, and grouped convolutions."""
    x, w = T.tensor4("x"), T.tensor4("w")
    cases = [  # (x shape, w shape, geometry)
        ((1, 1, 5, 5), (1, 1, 3, 3), dict()),
        ((1, 1, 5, 5), (1, 1, 5, 5), dict()),
        ((3, 4, 5, 6), (2, 4, 1, 1), dict()),
        ((3, 4, 5, 6), (2, 4, 1, 1), dict(subsample=(2, 2))),
        ((3, 4, 5, 6), (2, 4, 1, 1), dict(border_mode=1)),
        ((2, 2, 6, 6), (3, 2, 4, 2), dict(border_mode="half")),
        ((2, 1, 4, 9), (3, 1, 1, 4), dict(border_mode="full", filter_flip=False)),
        ((0, 2, 5, 5), (3, 2, 3, 3), dict()),
        ((2, 6, 5, 5), (4, 3, 3, 3), dict(num_groups=2)),
        ((2, 6, 5, 5), (6, 1, 2, 2), dict(num_groups=6, subsample=(2, 1), border_mode=1)),
    ]
    inputs, outs, values, expected = [], [], [], []
    for k, (xs, ws, g) in enumerate(cases):     # one function for all the cases
        x, w = T.tensor4(f"x{k}"), T.tensor4(f"w{k}")
        X, W = random(xs), random(ws)
        inputs += [x, w]
        values += [X, W]
        outs.append(T.nnet.conv2d(x, w, **g))
        expected.append(reference_conv(X, W, **g))
    check(inputs, outs, values, expected=expected)


def test_integer_operands_are_converted_to_float():
    x, w = T.tensor4("x", dtype="int32"), T.tensor4("w", dtype="int8")
    out = T.nnet.conv2d(x, w)
    assert out.dtype == "float64"
    X = rng.integers(-5, 5, (1, 2, 4, 4)).astype("int32")
    W = rng.integers(-3, 3, (2, 2, 2, 2)).astype("int8")
    check([x, w], out, [X, W], expected=reference_conv(X, W))
    f32 = T.nnet.conv2d(T.tensor4(dtype="float32"), T.tensor4(dtype="float64"))
    assert f32.dtype == "float64"


def test_strided_operands():
    """Views as operands: transposed, reversed and subsampled inputs and filters."""
    x, w = T.tensor4("x"), T.tensor4("w")
    xt = x.dimshuffle(0, 1, 3, 2)         # the image transposed: column stride != 1
    wr = w[:, :, ::-1, :]                 # negative row stride
    xs = x[:, ::2]                        # every other channel
    outs = [T.nnet.conv2d(xt, w), T.nnet.conv2d(x, wr, border_mode="half"),
            T.nnet.conv2d(xs, w[:, ::2], subsample=(2, 1)),
            T.nnet.conv2d(xt, w.dimshuffle(0, 1, 3, 2)[:, :, :1, :1])]
    X, W = random((2, 4, 6, 7)), random((3, 4, 3, 2))
    Xt = X.transpose(0, 1, 3, 2)
    expected = [reference_conv(Xt, W), reference_conv(X, W[:, :, ::-1], border_mode="half"),
                reference_conv(X[:, ::2], W[:, ::2], subsample=(2, 1)),
                reference_conv(Xt, W.transpose(0, 1, 3, 2)[:, :, :1, :1])]
    check([x, w], outs, [X, W], expected=expected)


# --- unshared filters: one filter bank per output position -------------------------------

def reference_unshared(x, w, border_mode="valid", subsample=(1, 1), filter_flip=True,
                       filter_dilation=(1, 1), num_groups=1):
    """out[b, o, i, j] = the window of position (i, j) times filter w[o, i, j], one
    position at a time."""
    o, oh, ow, cg, kh, kw = w.shape
    (dh, dw), (sh, sw) = filter_dilation, subsample
    ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    pads = {"valid": (0, 0), "full": (ekh - 1, ekw - 1), "half": (ekh // 2, ekw // 2)}
    ph, pw = pads[border_mode] if isinstance(border_mode, str) else border_mode
    xp = np.pad(np.asarray(x, "float64"), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    wf = w[..., ::-1, ::-1] if filter_flip else w
    out = np.zeros((x.shape[0], o, oh, ow))
    og = o // num_groups
    for k, i, j in np.ndindex(o, oh, ow):
        g = k // og
        window = xp[:, g * cg:(g + 1) * cg, i * sh:i * sh + ekh:dh, j * sw:j * sw + ekw:dw]
        out[:, k, i, j] = np.einsum("bcuv,cuv->b", window, wf[k, i, j])
    return out


UNSHARED = [  # (x shape, w shape, geometry)
    ((2, 3, 5, 6), (4, 4, 5, 3, 2, 2), dict()),
    ((2, 3, 5, 6), (4, 7, 7, 3, 3, 2), dict(border_mode="full", filter_flip=False)),
    ((1, 4, 6, 5), (2, 3, 5, 2, 3, 1), dict(border_mode=(1, 0), subsample=(2, 1),
                                          filter_dilation=(1, 1), num_groups=2)),
    ((3, 2, 7, 7), (3, 4, 7, 2, 2, 3), dict(border_mode="half", subsample=(2, 1),
                                          filter_dilation=(2, 1))),
    ((2, 3, 4, 4), (5, 4, 4, 3, 1, 1), dict()),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_unshared_against_a_per_position_reference(dtype):
    inputs, outs, values, expected = [], [], [], []
    for k, (xs, ws, g) in enumerate(UNSHARED):
        x, w = T.tensor4(f"x{k}", dtype=dtype), T.tensor(dtype, (False,) * 6, f"w{k}")
        X, W = random(xs, dtype), random(ws, dtype)
        inputs += [x, w]
        values += [X, W]
        outs.append(T.nnet.conv2d(x, w, unshared=True, **g))
        expected.append(reference_unshared(X, W, **g).astype(dtype))
    check(inputs, outs, values, expected=expected, rtol=RTOL[dtype])


@pytest.mark.parametrize("case", UNSHARED[1:4], ids=str)
def test_unshared_gradients(case):
    xs, ws, g = case
    verify_vjp(lambda x, w: T.nnet.conv2d(x, w, unshared=True, **g), [random(xs), random(ws)])


def test_unshared_errors():
    x, w = T.tensor4("x"), T.tensor("float64", (False,) * 6, "w")
    out = T.nnet.conv2d(x, w, unshared=True)
    check_error([x, w], out, [random((1, 2, 5, 5)), random((3, 3, 2, 2, 3, 3))], ValueError,
                r"unshared filters w has shape \(3, 3, 2, 2, 3, 3\): it needs one filter per "
                r"output position, but the output has 3 x 3 positions")
    check_error([x, w], out, [random((1, 2, 5, 5)), random((3, 3, 3, 1, 3, 3))], ValueError,
                r"the input has 2 channels but the filters expect 1")
    hinted = T.nnet.conv2d(x, w, unshared=True, filter_shape=(3, 3, 3, 2, 3, None))
    check_error([x, w], hinted, [random((1, 2, 5, 5)), random((3, 3, 3, 2, 2, 3))],
                ValueError, r"filters w has shape \(3, 3, 3, 2, 2, 3\) but filter_shape is "
                r"\(3, 3, 3, 2, 3, None\)")
    with pytest.raises(ValueError, match="filter_shape must be a tuple of 6"):
        T.nnet.conv2d(x, w, unshared=True, filter_shape=(3, 2, 3, 3))


# --- gradients ---------------------------------------------------------------------------

def verify_vjp(fun, pt, eps=1e-6, tol=1e-6):
    """The gradient of sum(fun(*inputs) * P) for a random P, symbolic (through Lop, in C
    and in py mode) against central finite differences of the reference."""
    inputs = [T.TensorType(p.dtype, (False,) * p.ndim)(f"in{k}") for k, p in enumerate(pt)]
    out = fun(*inputs)
    f = cgraph.function(inputs, out, mode="py")
    proj = rng.uniform(0.5, 1.5, size=f(*pt).shape)
    projection = T.TensorType(out.dtype, (False,) * out.ndim)("projection")
    grads = T.grad(None, inputs, known_grads={out: projection}, disconnected_inputs="ignore")
    results = []
    for mode in ("c", "py"):
        g = cgraph.function(inputs + [projection], grads, mode=mode, on_unused_input="ignore")
        if mode == "c":
            assert_clean_build(g)
        results.append(g(*pt, proj))
    numeric = numeric_grad(lambda *v: np.sum(f(*v) * proj), [p.copy() for p in pt], eps)
    for k, (c, py, n) in enumerate(zip(*results, numeric)):
        assert_same(c, py, what=f"gradient {k}: C vs reference")
        np.testing.assert_allclose(py, n, rtol=tol, atol=tol, err_msg=f"gradient {k}")


GRAD_GEOMETRIES = [
    dict(),
    dict(border_mode="full", filter_flip=False),
    dict(border_mode="half", subsample=(2, 1)),
    dict(border_mode=((1, 0), (0, 2)), subsample=(2, 3), filter_dilation=(2, 1)),
    dict(num_groups=2, border_mode=1),
]


@pytest.mark.parametrize("geometry", GRAD_GEOMETRIES, ids=str)
def test_gradients_against_finite_differences(geometry):
    X, W = random((2, 4, 6, 5)), random((2, 4 // geometry.get("num_groups", 1), 3, 2))
    verify_vjp(lambda x, w: T.nnet.conv2d(x, w, **geometry), [X, W])


def test_gradients_when_strides_leave_rows_unused_and_of_1x1_kernels():
    # 7 rows, kernel 2, stride 3: rows 2 and 5 feed no output, their gradient is 0
    X, W = random((1, 2, 7, 4)), random((3, 2, 2, 1))
    verify_vjp(lambda x, w: T.nnet.conv2d(x, w, subsample=(3, 1)), [X, W])
    X, W = random((2, 3, 4, 5)), random((2, 3, 1, 1))
    verify_vjp(lambda x, w: T.nnet.conv2d(x, w), [X, W])


def test_second_order_gradients_of_the_gradient_ops():
    """The gradient ops are bilinear; their own gradients are convolutions again."""
    geometry = dict(border_mode="half", subsample=(2, 1), filter_flip=False)
    X, W, GY = random((2, 2, 5, 4)), random((3, 2, 3, 2)), random((2, 3, 3, 5))
    x_ref = T.constant(X)
    w_ref = T.constant(W)
    grad_inputs, grad_weights = Conv2dGradInputs(**geometry), Conv2dGradWeights(**geometry)
    verify_vjp(lambda w, gy: grad_inputs(w, gy, x_ref), [W, GY])
    verify_vjp(lambda x, gy: grad_weights(x, gy, w_ref), [X, GY])


def test_verify_grad_through_conv2d():
    """cgraph.gradient.verify_grad on conv2d -> tanh, shared and unshared filters."""
    from cgraph.gradient import verify_grad
    X, W = random((2, 2, 5, 5)), random((3, 2, 2, 2))
    verify_grad(lambda x, w: T.tanh(T.nnet.conv2d(x, w, border_mode="half")), [X, W])
    X, W = random((1, 2, 5, 4)), random((2, 2, 1, 2, 3, 3))
    verify_grad(lambda x, w: T.nnet.conv2d(x, w, subsample=(2, 2), unshared=True), [X, W])


def test_gradients_in_float32_match_the_reference():
    x, w, g = T.tensor4("x", "float32"), T.tensor4("w", "float32"), T.tensor4("g", "float32")
    out = T.nnet.conv2d(x, w, border_mode=(1, 2), subsample=(1, 2))
    gx, gw = T.grad(None, [x, w], known_grads={out: g})
    assert gx.dtype == gw.dtype == "float32"
    X, W = random((3, 5, 8, 9), "float32"), random((4, 5, 3, 3), "float32")
    G = random((3, 4, 8, 6), "float32")
    check([x, w, g], [out, gx, gw], [X, W, G], rtol=RTOL["float32"])


def test_gradient_of_strided_output_gradients():
    """The output gradient arrives as a view (transposed, reversed): both gradient ops
    honour its strides."""
    x, w, g = T.tensor4("x"), T.tensor4("w"), T.tensor4("g")
    out = T.nnet.conv2d(x, w)
    gv = g.dimshuffle(0, 1, 3, 2)[:, ::-1]
    gx, gw = T.grad(None, [x, w], known_grads={out: gv})
    X, W, G = random((2, 3, 6, 5)), random((4, 3, 2, 3)), random((2, 4, 3, 5))
    f = cgraph.function([x, w], out, mode="py")
    Gv = G.transpose(0, 1, 3, 2)[:, ::-1]
    eps = 1e-6
    dX = random(X.shape)
    numeric = np.sum((f(X + eps * dX, W) - f(X - eps * dX, W)) * Gv) / (2 * eps)
    got = check([x, w, g], [gx, gw], [X, W, G])
    assert abs(np.sum(got[0] * dX) - numeric) < 1e-6


# --- errors ------------------------------------------------------------------------------

def test_runtime_shape_errors_in_both_modes():
    x, w = T.tensor4("x"), T.tensor4("w")
    out = T.nnet.conv2d(x, w)
    check_error([x, w], out, [random((1, 3, 5, 5)), random((2, 2, 3, 3))], ValueError,
                r"input x has shape \(1, 3, 5, 5\) and filters w has shape \(2, 2, 3, 3\): "
                r"the input has 3 channels but the filters expect 2(?! x)")
    check_error([x, w], out, [random((1, 2, 3, 5)), random((2, 2, 4, 3))], ValueError,
                r"filters w of shape \(2, 2, 4, 3\) \(4 x 3 once dilated\) do not fit in "
                r"input x of shape \(1, 2, 3, 5\) padded to 3 x 5")
    dilated = T.nnet.conv2d(x, w, filter_dilation=(3, 1), border_mode=(1, 0))
    check([x, w], dilated, [random((1, 2, 5, 5)), random((2, 2, 3, 3))])   # fits exactly
    check_error([x, w], dilated, [random((1, 2, 4, 5)), random((2, 2, 3, 3))], ValueError,
                r"\(7 x 3 once dilated\) do not fit in input x of shape \(1, 2, 4, 5\) "
                r"padded to 6 x 5 \(border_mode=\(\(1, 1\), \(0, 0\)\)\)")
    grouped = T.nnet.conv2d(x, w, num_groups=2)
    check_error([x, w], grouped, [random((1, 4, 5, 5)), random((3, 2, 3, 3))], ValueError,
                r"filters w has shape \(3, 2, 3, 3\): its 3 output channels are not a "
                r"multiple of num_groups=2")
    check_error([x, w], grouped, [random((1, 3, 5, 5)), random((4, 2, 3, 3))], ValueError,
                r"the input has 3 channels but the filters expect 2 x num_groups 2 = 4")
    check_error([x, w], out, [random((1, 2, 5, 5)), random((2, 2, 0, 3))], ValueError,
                r"a filter needs at least one row and one column")


def test_shape_hints_are_checked_at_run_time():
    x, w = T.tensor4("x"), T.tensor4("w")
    out = T.nnet.conv2d(x, w, input_shape=(None, 2, 5, None), filter_shape=(3, 2, 3, 3))
    X, W = random((4, 2, 5, 7)), random((3, 2, 3, 3))
    check([x, w], out, [X, W], expected=reference_conv(X, W))
    check_error([x, w], out, [random((4, 2, 6, 7)), W], ValueError,
                r"AbstractConv shape mismatch: shape of image does not match given shape: "
                r"input x has shape \(4, 2, 6, 7\) but input_shape is \(None, 2, 5, None\)")
    check_error([x, w], out, [X, random((3, 2, 3, 2))], ValueError,
                r"shape of filters does not match given shape: filters w has shape "
                r"\(3, 2, 3, 2\) but filter_shape is \(3, 2, 3, 3\)")
    with pytest.warns(DeprecationWarning, match="image_shape"):
        old = T.nnet.conv2d(x, w, image_shape=(4, 2, 5, 7))
    assert old.owner.op.imshp == (4, 2, 5, 7)
    with pytest.raises(ValueError, match="input_shape and image_shape"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        T.nnet.conv2d(x, w, input_shape=(1, 2, 3, 4), image_shape=(1, 2, 3, 4))
    with pytest.raises(ValueError, match="input_shape .* has 3 channels but filter_shape"):
        T.nnet.conv2d(x, w, input_shape=(1, 3, 5, 5), filter_shape=(2, 2, 3, 3))


def test_gradient_shape_mismatch_in_both_modes():
    w, gy, xr = T.tensor4("w"), T.tensor4("gy"), T.tensor4("xr")
    out = Conv2dGradInputs()(w, gy, xr)
    check_error([w, gy, xr], out, [random((2, 3, 3, 3)), random((1, 2, 4, 4)),
                                   random((1, 3, 5, 5))], ValueError,
                r"the output gradient gy has shape \(1, 2, 4, 4\), but the convolution of "
                r"\(1, 3, 5, 5\) by \(2, 3, 3, 3\) has shape \(1, 2, 3, 3\)")
    x, wr = T.tensor4("x"), T.tensor4("wr")
    out = Conv2dGradWeights(border_mode="full")(x, gy, wr)
    check_error([x, gy, wr], out, [random((1, 3, 5, 5)), random((1, 2, 5, 5)),
                                   random((2, 3, 3, 3))], ValueError,
                r"has shape \(1, 2, 5, 5\), but the convolution .* has shape \(1, 2, 7, 7\)")


def test_build_time_errors():
    x, w = T.tensor4("x"), T.tensor4("w")
    with pytest.raises(TypeError, match="input m must be a 4-d tensor"):
        T.nnet.conv2d(T.matrix("m"), w)
    with pytest.raises(TypeError, match="filters t must be a 4-d tensor"):
        T.nnet.conv2d(x, T.tensor3("t"))
    for bad in ("same", -1, (1, 2, 3), (1, -1), ((1, 2, 3), 1), 1.5):
        with pytest.raises(ValueError, match="border_mode"):
            T.nnet.conv2d(x, w, border_mode=bad)
    with pytest.raises(ValueError, match="subsample must be a tuple of two positive"):
        T.nnet.conv2d(x, w, subsample=(0, 1))
    with pytest.raises(ValueError, match="filter_dilation must be"):
        T.nnet.conv2d(x, w, filter_dilation=2)
    with pytest.raises(ValueError, match="num_groups must be a positive integer"):
        T.nnet.conv2d(x, w, num_groups=0)
    with pytest.raises(TypeError, match="filters w must be a 6-d tensor"):
        T.nnet.conv2d(x, w, unshared=True)
    with pytest.raises(ValueError, match="imshp_logical"):
        T.nnet.conv2d(x, w, imshp_logical=(1, 2))
    with pytest.raises(ValueError, match="input_shape must be a tuple of 4"):
        T.nnet.conv2d(x, w, input_shape=(1, 2, 3))


def test_op_identity_and_border_mode_normalisation():
    assert Conv2d(border_mode=0) == Conv2d(border_mode="valid") == Conv2d((0, (0, 0)))
    assert Conv2d(border_mode=2).border_mode == ((2, 2), (2, 2))
    assert Conv2d(border_mode=(1, (0, 2))).border_mode == ((1, 1), (0, 2))
    assert Conv2d() != Conv2d(filter_flip=False)
    assert hash(Conv2d(subsample=(2, 2))) == hash(Conv2d(subsample=[2, 2]))
    out = T.nnet.conv2d(T.tensor("float64", (True, False, False, False), "x"), T.tensor4())
    assert out.broadcastable == (True, False, False, False)


def test_rop_through_conv_and_max_pool():
    """T.Rop (a double Lop) needs the gradients of the gradient ops: conv's and
    MaxPoolGradGrad."""
    from cgraph.tensor.signal.pool import pool_2d
    x, w, v = T.tensor4("x"), T.tensor4("w"), T.tensor4("v")
    y = pool_2d(T.tanh(T.nnet.conv2d(x, w, border_mode="half")), (2, 2), ignore_border=True)
    X, W, V = random((2, 2, 6, 6)), random((3, 2, 3, 3)), random((3, 2, 3, 3))
    rop = cgraph.function([x, w, v], T.Rop(y, w, v))(X, W, V)
    f = cgraph.function([x, w], y, mode="py")
    eps = 1e-6
    np.testing.assert_allclose(rop, (f(X, W + eps * V) - f(X, W - eps * V)) / (2 * eps),
                               atol=1e-6)
