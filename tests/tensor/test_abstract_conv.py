"""T.nnet.abstract_conv: Theano's op classes called as Lasagne calls them (the transposed
convolution AbstractConv2d_gradInputs(...)(W, input, output_size), the dilated convolution
AbstractConv2d_gradWeights(...)(input, W, output_size)), with the spatial shape given as
ints, symbolic scalars or a vector; against loop-by-loop numpy references, in C and in py
mode; gradients with verify_grad; the shape arithmetic against Theano's documented values."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from cgraph.tensor import abstract_conv as ac
from test_conv import reference_conv
from util import assert_clean_build, check, check_error

rng = np.random.default_rng(7)


def random(shape, dtype="float64"):
    return rng.normal(size=shape).astype(dtype)


def pads(border_mode, ekh, ekw):
    if border_mode == "valid":
        return 0, 0, 0, 0
    if border_mode == "full":
        return ekh - 1, ekh - 1, ekw - 1, ekw - 1
    if border_mode == "half":
        return ekh // 2, ekh // 2, ekw // 2, ekw // 2
    if isinstance(border_mode, int):
        return (border_mode,) * 4
    ph, pw = border_mode
    return ph, ph, pw, pw


def naive_grad_inputs(w, gy, image_hw, border_mode="valid", subsample=(1, 1),
                      filter_flip=True, filter_dilation=(1, 1)):
    """gx[b, c, h, x] = sum of gy[b, o, i, j] * w'[o, c, u, v] over every (i, j, u, v)
    whose padded image position i*sh + u*dh - pt, j*sw + v*dw - pl is (h, x)."""
    o, c, kh, kw = w.shape
    (sh, sw), (dh, dw) = subsample, filter_dilation
    pt, _, pl, _ = pads(border_mode, (kh - 1) * dh + 1, (kw - 1) * dw + 1)
    wf = w[:, :, ::-1, ::-1] if filter_flip else w
    b, _, oh, ow = gy.shape
    gx = np.zeros((b, c) + tuple(image_hw))
    for bi in range(b):
        for oi in range(o):
            for i in range(oh):
                for j in range(ow):
                    for ci in range(c):
                        for u in range(kh):
                            for v in range(kw):
                                h, x = i * sh + u * dh - pt, j * sw + v * dw - pl
                                if 0 <= h < image_hw[0] and 0 <= x < image_hw[1]:
                                    gx[bi, ci, h, x] += gy[bi, oi, i, j] * wf[oi, ci, u, v]
    return gx


def naive_grad_weights(x, gy, filter_hw, border_mode="valid", subsample=(1, 1),
                       filter_flip=True, filter_dilation=(1, 1)):
    """gw'[o, c, u, v] = sum over b, i, j of gy[b, o, i, j] * xpad[b, c, i*sh + u*dh,
    j*sw + v*dw]; flipped back when filter_flip."""
    kh, kw = filter_hw
    (sh, sw), (dh, dw) = subsample, filter_dilation
    pt, pb, pl, pr = pads(border_mode, (kh - 1) * dh + 1, (kw - 1) * dw + 1)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    b, o, oh, ow = gy.shape
    c = x.shape[1]
    gw = np.zeros((o, c, kh, kw))
    for oi in range(o):
        for ci in range(c):
            for u in range(kh):
                for v in range(kw):
                    for bi in range(b):
                        for i in range(oh):
                            for j in range(ow):
                                gw[oi, ci, u, v] += gy[bi, oi, i, j] * \
                                    xp[bi, ci, i * sh + u * dh, j * sw + v * dw]
    return gw[:, :, ::-1, ::-1] if filter_flip else gw


TRANSPOSED = [  # (filters, output gradient, image rows x columns, geometry)
    ((3, 2, 3, 3), (2, 3, 4, 5), (6, 7), dict()),
    ((3, 2, 3, 2), (2, 3, 3, 4), (7, 8), dict(subsample=(2, 2))),
    ((3, 2, 3, 2), (2, 3, 3, 4), (7, 9), dict(subsample=(2, 2), filter_flip=False)),
    ((2, 1, 2, 3), (1, 2, 5, 4), (4, 4), dict(border_mode="half", filter_flip=False)),
    ((2, 3, 2, 2), (2, 2, 6, 5), (5, 4), dict(border_mode="full")),
    ((2, 2, 3, 3), (1, 2, 4, 3), (7, 9), dict(border_mode=(1, 0), subsample=(2, 2),
                                           filter_dilation=(1, 2))),
    ((1, 1, 1, 1), (1, 1, 1, 1), (1, 1), dict()),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.slow   # many compiles: 5 s on 2 busy cores
def test_grad_inputs_as_a_transposed_convolution(dtype):
    """AbstractConv2d_gradInputs(...)(W, input, (rows, cols)) as Lasagne's
    TransposedConv2DLayer calls it, against the loop-by-loop reference."""
    inputs, outs, values, expected = [], [], [], []
    for k, (ws, gs, hw, g) in enumerate(TRANSPOSED):
        w, gy = T.tensor4(f"w{k}", dtype), T.tensor4(f"gy{k}", dtype)
        op = ac.AbstractConv2d_gradInputs(imshp=(gs[0], ws[1]) + hw, kshp=ws, **g)
        outs.append(op(w, gy, hw))
        W, GY = random(ws, dtype), random(gs, dtype)
        inputs += [w, gy]
        values += [W, GY]
        expected.append(naive_grad_inputs(W.astype("float64"), GY.astype("float64"), hw,
                                          **g).astype(dtype))
    assert all(o.dtype == dtype for o in outs)
    check(inputs, outs, values, expected=expected, rtol=1e-4 if dtype == "float32" else None)


DILATED = [  # (images, output gradient, filter rows x columns, geometry)
    ((2, 3, 6, 7), (2, 4, 4, 5), (3, 3), dict()),
    ((3, 2, 7, 7), (3, 2, 3, 3), (3, 2), dict(subsample=(2, 2), filter_flip=False)),
    ((2, 2, 9, 8), (2, 3, 4, 4), (3, 2), dict(subsample=(2, 2))),
    ((1, 2, 5, 4), (1, 3, 5, 4), (3, 3), dict(border_mode="half")),
    ((2, 1, 4, 4), (2, 2, 5, 6), (2, 3), dict(border_mode="full", filter_dilation=(1, 1))),
    ((2, 2, 6, 5), (2, 2, 4, 5), (3, 2), dict(border_mode=(0, 1), filter_dilation=(1, 2))),
]


@pytest.mark.slow   # many compiles: 7 s on 2 busy cores
def test_grad_weights_as_a_dilated_convolution():
    """AbstractConv2d_gradWeights(...)(input, W, (rows, cols)) as DilatedConv2DLayer calls
    it (subsample is the dilation there), against the loop-by-loop reference."""
    inputs, outs, values, expected = [], [], [], []
    for k, (xs, gs, hw, g) in enumerate(DILATED):
        x, gy = T.tensor4(f"x{k}"), T.tensor4(f"gy{k}")
        op = ac.AbstractConv2d_gradWeights(imshp=xs, kshp=(gs[1], xs[1]) + hw, **g)
        outs.append(op(x, gy, hw))
        X, GY = random(xs), random(gs)
        inputs += [x, gy]
        values += [X, GY]
        expected.append(naive_grad_weights(X, GY, hw, **g))
    check(inputs, outs, values, expected=expected)


@pytest.mark.slow   # many compiles: 6 s on 2 busy cores
def test_symbolic_and_vector_shapes():
    """The spatial shape as symbolic scalars (Lasagne's output_size from input.shape), as
    a vector variable, and as a slice of a shape; the result has the runtime size."""
    w, gy, h, s = T.tensor4("w"), T.tensor4("gy"), T.lscalar("h"), T.lvector("s")
    op = ac.AbstractConv2d_gradInputs(subsample=(2, 2))
    W, GY = random((3, 2, 3, 3)), random((2, 3, 3, 4))
    for shape, args, vals in [((h, 9), [h], [7]), ((h * 1, h + 2), [h], [7]),
                              (s, [s], [np.array([8, 9])])]:
        out = op(w, gy, shape)
        assert out.broadcastable == (False, False, False, False)
        hw = tuple(int(v) for v in cgraph.function(args, T.as_tensor_variable(shape),
                                                   mode="py")(*vals))
        check([w, gy] + args, out, [W, GY] + vals,
              expected=naive_grad_inputs(W, GY, hw, subsample=(2, 2)))
    x = T.tensor4("x")
    out = ac.AbstractConv2d_gradWeights()(x, gy, x.shape[2:] - gy.shape[2:] + 1)
    X, GY = random((2, 2, 5, 6)), random((2, 3, 3, 3))
    check([x, gy], out, [X, GY], expected=naive_grad_weights(X, GY, (3, 4)))


@pytest.mark.slow   # many compiles: 15 s on 2 busy cores
def test_lasagne_style_layers_train():
    """The graphs of a transposed and a dilated layer, differentiated with T.grad (the
    gradients are the other convolution ops, in C) and checked with verify_grad."""
    W, X = random((2, 3, 3, 3)), random((2, 2, 4, 5))

    def transposed(w, x):   # TransposedConv2DLayer: 2 -> 3 channels, stride 2, crop 1
        op = ac.AbstractConv2d_gradInputs(imshp=(None, 3, 7, 9), kshp=(2, 3, 3, 3),
                                          subsample=(2, 2), border_mode=(1, 1),
                                          filter_flip=False)
        return T.tanh(op(w, x, (7, 9)))
    verify_grad(transposed, [W, X])

    W2, X2 = random((2, 3, 2, 2)), random((2, 2, 6, 6))

    def dilated(w, x):      # DilatedConv2DLayer: dilation (2, 2), unflipped filters
        op = ac.AbstractConv2d_gradWeights(imshp=(2, 2, 6, 6), kshp=(3, 2, 4, 4),
                                           subsample=(2, 2), filter_flip=False)
        return T.tanh(op(x.dimshuffle(1, 0, 2, 3), w, (4, 4)).dimshuffle(1, 0, 2, 3))
    verify_grad(dilated, [W2, X2])


@pytest.mark.slow   # many compiles: 4 s on 2 busy cores
def test_second_order_gradient_through_the_transposed_convolution():
    w, x = T.tensor4("w"), T.tensor4("x")
    op = ac.AbstractConv2d_gradInputs(subsample=(2, 1), border_mode="half")
    y = op(w, x, (6, 4))
    cost = T.sum(y ** 2)
    gw = T.grad(cost, w)
    hess_v = T.grad(T.sum(gw * T.constant(random((3, 2, 3, 3)))), x)
    W, X = random((3, 2, 3, 3)), random((2, 3, 3, 4))
    f = check([w, x], [gw, hess_v], [W, X])
    assert f[1].shape == X.shape


@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_hints_and_shape_errors_in_both_modes():
    w, gy = T.tensor4("w"), T.tensor4("gy")
    op = ac.AbstractConv2d_gradInputs(imshp=(None, 2, 6, None), kshp=(3, 2, 3, 3))
    out = op(w, gy, (6, 7))
    check([w, gy], out, [random((3, 2, 3, 3)), random((1, 3, 4, 5))])
    check_error([w, gy], out, [random((3, 2, 3, 2)), random((1, 3, 4, 6))], ValueError,
                r"AbstractConv2d_gradInputs shape mismatch: shape of filters does not match "
                r"given shape: w has shape \(3, 2, 3, 2\) but kshp is \(3, 2, 3, 3\)")
    check_error([w, gy], out, [random((3, 2, 3, 3)), random((1, 3, 4, 4))], ValueError,
                r"the output gradient gy has shape \(1, 3, 4, 4\), but the convolution of "
                r"\(1, 2, 6, 7\) by \(3, 2, 3, 3\) has shape \(1, 3, 4, 5\)")
    s = T.lvector("s")
    vec = ac.AbstractConv2d_gradInputs()(w, gy, s)
    check_error([w, gy, s], vec, [random((3, 2, 3, 3)), random((1, 3, 4, 5)),
                                  np.array([6, 7, 1])], ValueError,
                r"AbstractConv2d_gradInputs: the shape s must hold 2 sizes \(rows, columns\), "
                r"got 3")
    check_error([w, gy, s], vec, [random((3, 2, 3, 3)), random((1, 3, 4, 5)),
                                  np.array([-1, 7])], ValueError, r"must not be negative")
    x = T.tensor4("x")
    gw = ac.AbstractConv2d_gradWeights(imshp=(2, 3, None, None))(x, gy, (3, 3))
    check_error([x, gy], gw, [random((2, 4, 6, 7)), random((2, 3, 4, 5))], ValueError,
                r"AbstractConv2d_gradWeights shape mismatch: shape of image does not match "
                r"given shape: x has shape \(2, 4, 6, 7\) but imshp is \(2, 3, None, None\)")
    with pytest.raises(ValueError, match="must hold 2 sizes"):
        op(w, gy, (6, 7, 8))
    with pytest.raises(TypeError, match="vector of integers"):
        op(w, gy, T.vector("f"))


@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_grouped_and_unshared_transposed_convolution_match_the_forward_gradient():
    """The shape form gives what T.grad of the forward convolution gives."""
    for kwargs, ws in [(dict(num_groups=2), (4, 1, 2, 2)),
                       (dict(unshared=True), (3, 3, 4, 2, 2, 2))]:
        x = T.tensor4("x")
        w = T.TensorType("float64", (False,) * len(ws))("w")
        gy = T.tensor4("gy")
        y = T.nnet.conv2d(x, w, **kwargs)
        gx_ref, gw_ref = T.grad(None, [x, w], known_grads={y: gy})
        gx = ac.AbstractConv2d_gradInputs(**kwargs)(w, gy, x.shape[2:])
        gw = ac.AbstractConv2d_gradWeights(**kwargs)(x, gy, w.shape[-2:])
        X, W = random((2, 2, 4, 5)), random(ws)
        GY = random((2, ws[0], 3, 4))
        ref = cgraph.function([x, w, gy], [gx_ref, gw_ref], mode="py")(X, W, GY)
        got = check([x, w, gy], [gx, gw], [X, W, GY])
        for a, b in zip(got, ref):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    f = cgraph.function([x, w, gy], [gx, gw])
    assert_clean_build(f)


@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_forward_op_and_helpers():
    x, w = T.tensor4("x"), T.tensor4("w")
    op = ac.AbstractConv2d(imshp=(None, 2, None, None), kshp=(3, 2, 2, 2),
                           border_mode="half", subsample=(2, 1), filter_flip=False)
    assert isinstance(op, ac.AbstractConv2d)
    X, W = random((1, 2, 5, 5)), random((3, 2, 2, 2))
    ref = cgraph.function([x, w], T.nnet.conv2d(x, w, border_mode="half", subsample=(2, 1),
                                                filter_flip=False), mode="py")(X, W)
    check([x, w], op(x, w), [X, W], expected=ref)
    gy = T.tensor4("gy")
    gx = ac.conv2d_grad_wrt_inputs(gy, w, (1, 2, 5, 5), (3, 2, 2, 2), border_mode="half",
                                   subsample=(2, 1), filter_flip=False)
    gw = ac.conv2d_grad_wrt_weights(x, gy, (3, 2, 2, 2), (1, 2, 5, 5), border_mode="half",
                                    subsample=(2, 1), filter_flip=False)
    GY = random(ref.shape)
    y = T.nnet.conv2d(x, w, border_mode="half", subsample=(2, 1), filter_flip=False)
    expected = cgraph.function([x, w, gy], T.grad(None, [x, w], known_grads={y: gy}),
                               mode="py")(X, W, GY)
    check([x, w, gy], [gx, gw], [X, W, GY], expected=expected)
    with pytest.raises(ValueError, match=r"input_shape\[0\] must be a constant or None"):
        ac.conv2d_grad_wrt_inputs(gy, w, (x.shape[0], 2, 5, 5))


def test_shape_arithmetic_as_theano_documents():
    assert ac.get_conv_shape_1axis(7, 3, "valid", 1) == 5
    assert ac.get_conv_shape_1axis(7, 3, "full", 2) == 5
    assert ac.get_conv_shape_1axis(7, 3, "half", 1, 2) == 7
    assert ac.get_conv_shape_1axis(7, 3, (1, 2), 1) == 8
    assert ac.get_conv_shape_1axis(None, 3, "valid", 1) is None
    with pytest.raises(ValueError, match="border_mode must be >= 0"):
        ac.get_conv_shape_1axis(7, 3, -1, 1)
    assert ac.get_conv_output_shape((2, 3, 7, 8), (4, 3, 3, 2), "valid", (1, 2)) == (2, 4, 5, 4)
    assert ac.get_conv_output_shape((None, 3, 7, 8), (4, 3, 3, 2), (1, 0), (1, 1),
                                    (2, 1)) == (None, 4, 5, 7)
    assert ac.get_conv_output_shape((2, 3, 5, 5, 5), (4, 3, 3, 3, 3), "full",
                                    (1, 1, 1)) == (2, 4, 7, 7, 7)
    assert ac.get_conv_gradinputs_shape((4, 3, 3, 2), (2, 4, 5, 7), "valid",
                                        (1, 1)) == (2, 3, 7, 8)
    assert ac.get_conv_gradinputs_shape((4, 3, 3, 2), (2, 4, 5, 7), "valid",
                                        (2, 1)) == (2, 3, None, 8)
    assert ac.get_conv_gradweights_shape((2, 3, 7, 8), (2, 4, 5, 7), "valid",
                                         (1, 1)) == (4, 3, 3, 2)
    assert ac.border_mode_to_pad("full", 2, (3, 2)) == ((2, 2), (1, 1))
    # symbolic sizes build a graph
    n = T.lscalar("n")
    size = ac.get_conv_shape_1axis(n, 3, "half", 2)
    assert cgraph.function([n], size)(9) == 5


def test_causal_conv1d_sees_only_the_past():
    x, w = T.tensor3("x"), T.tensor3("w")
    out = ac.causal_conv1d(x, w, filter_shape=(2, 3, 3), filter_dilation=2)
    X, W = random((2, 3, 8)), random((2, 3, 3))
    got = check([x, w], [out], [X, W])[0]
    expected = np.zeros((2, 2, 8))
    for t in range(8):
        for k in range(3):       # a true convolution: tap k meets x[t - k * dilation]
            src = t - k * 2
            if src >= 0:
                expected[:, :, t] += np.einsum("bc,oc->bo", X[:, :, src], W[:, :, k])
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.slow   # many compiles: 4 s on 2 busy cores
def test_bilinear_upsampling_interpolates_linearly():
    x = T.tensor4("x")
    X = np.arange(2 * 3 * 3 * 4, dtype="float64").reshape(2, 3, 3, 4)
    for use_1d in (True, False):
        up = ac.bilinear_upsampling(x, ratio=2, use_1D_kernel=use_1d)
        got = check([x], [up], [X])[0]
        assert got.shape == (2, 3, 6, 8)
        # a linear ramp stays a ramp inside; the values lie between the input's extremes
        assert np.all(got >= X.min() - 1e-9) and np.all(got <= X.max() + 1e-9)
        inner = got[:, :, 1:-1, 1:-1]
        np.testing.assert_allclose(np.diff(inner, 2, axis=3), 0, atol=1e-9)
    np.testing.assert_allclose(
        cgraph.function([], ac.bilinear_kernel_1D(3, normalize=False))(), [1, 2, 3, 2, 1])


def test_module_is_reachable_by_attribute_and_by_import():
    import importlib
    assert T.nnet.abstract_conv is ac
    assert importlib.import_module("cgraph.tensor.nnet.abstract_conv") is ac
    assert hasattr(T.nnet.abstract_conv, "AbstractConv3d_gradInputs")
    assert T.nnet.conv3d is ac.conv3d
    from cgraph.tensor.signal import pool
    assert hasattr(pool, "pool_3d") and hasattr(pool, "max_pool_2d_same_size")


@pytest.mark.slow   # many compiles: 6 s on 2 busy cores
def test_conv2d_transpose_and_separable_convolutions():
    """conv2d_transpose is the input gradient of the forward convolution it transposes;
    separable_conv2d/3d are a grouped (depthwise) then a 1x1 (pointwise) convolution."""
    x, w, gy = T.tensor4("x"), T.tensor4("w"), T.tensor4("gy")
    kwargs = dict(border_mode=(1, 0), filter_flip=False)
    y = T.nnet.conv2d(x, w, subsample=(2, 1), **kwargs)
    X, W, GY = random((2, 3, 7, 5)), random((4, 3, 3, 2)), random((2, 4, 4, 4))
    expected = cgraph.function([x, w, gy], T.grad(None, x, known_grads={y: gy}),
                               mode="py")(X, W, GY)
    up = T.nnet.conv2d_transpose(gy, w, (2, 3, 7, 5), input_dilation=(2, 1), **kwargs)
    check([w, gy], up, [W, GY], expected=expected)

    dw, pw = T.tensor4("dw"), T.tensor4("pw")
    out = T.nnet.separable_conv2d(x, dw, pw, num_channels=3, border_mode="half")
    DW, PW = random((6, 1, 3, 3)), random((2, 6, 1, 1))
    ref = reference_conv(reference_conv(X, DW, border_mode="half", num_groups=3), PW)
    check([x, dw, pw], out, [X, DW, PW], expected=ref)
    x5, dw5, pw5 = (T.TensorType("float64", (False,) * 5)(n) for n in ("x5", "dw5", "pw5"))
    out3 = ac.separable_conv3d(x5, dw5, pw5, num_channels=2)
    X5, DW5, PW5 = random((1, 2, 3, 4, 3)), random((2, 1, 2, 2, 2)), random((3, 2, 1, 1, 1))
    ref3 = cgraph.function([x5, dw5, pw5], T.nnet.conv3d(T.nnet.conv3d(x5, dw5, num_groups=2),
                                                         pw5), mode="py")(X5, DW5, PW5)
    check([x5, dw5, pw5], out3, [X5, DW5, PW5], expected=ref3)
