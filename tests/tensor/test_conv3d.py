"""T.nnet.conv3d and its gradients (AbstractConv3d_gradInputs / _gradWeights, also with the
spatial shape given as Lasagne's TransposedConv3DLayer gives it) against a loop-by-loop numpy
reference, in C and in py mode; gradients with verify_grad; shape errors in both modes."""
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from cgraph.tensor import abstract_conv as ac
from util import check, check_error

rng = np.random.default_rng(11)


def random(shape, dtype="float64"):
    return rng.normal(size=shape).astype(dtype)


def tensor5(name, dtype="float64"):
    return T.TensorType(dtype, (False,) * 5)(name)


def naive_conv3d(x, w, border_mode="valid", subsample=(1, 1, 1), filter_flip=True,
                 filter_dilation=(1, 1, 1), num_groups=1):
    """One output value at a time: the sum over the channels of its group and every tap."""
    x, w = np.asarray(x, "float64"), np.asarray(w, "float64")
    o, cg = w.shape[:2]
    kernel = w.shape[2:]
    ext = [(k - 1) * d + 1 for k, d in zip(kernel, filter_dilation)]
    if border_mode == "valid":
        pads = (0, 0, 0)
    elif border_mode == "full":
        pads = tuple(e - 1 for e in ext)
    elif border_mode == "half":
        pads = tuple(e // 2 for e in ext)
    elif isinstance(border_mode, int):
        pads = (border_mode,) * 3
    else:
        pads = border_mode
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in pads))
    wf = w[:, :, ::-1, ::-1, ::-1] if filter_flip else w
    out_sp = [(n - e) // s + 1 for n, e, s in zip(xp.shape[2:], ext, subsample)]
    out = np.zeros((x.shape[0], o) + tuple(out_sp))
    og = o // num_groups
    for b, k in itertools.product(range(x.shape[0]), range(o)):
        g = k // og
        for pos in itertools.product(*(range(n) for n in out_sp)):
            total = 0.0
            for c in range(cg):
                for tap in itertools.product(*(range(n) for n in kernel)):
                    src = tuple(p * s + t * d for p, s, t, d in
                                zip(pos, subsample, tap, filter_dilation))
                    total += xp[(b, g * cg + c) + src] * wf[(k, c) + tap]
            out[(b, k) + pos] = total
    return out


GEOMETRIES = [
    dict(),
    dict(border_mode="full"),
    dict(border_mode="half", filter_flip=False),
    dict(border_mode=(1, 0, 2), subsample=(2, 1, 2)),
    dict(filter_dilation=(2, 1, 1), subsample=(1, 2, 1)),
    dict(num_groups=2, border_mode=1),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.slow   # many compiles: 4 s on 2 busy cores
def test_conv3d_against_the_loops(dtype):
    inputs, outs, values, expected = [], [], [], []
    for k, g in enumerate(GEOMETRIES):
        x, w = tensor5(f"x{k}", dtype), tensor5(f"w{k}", dtype)
        X = random((2, 2, 4, 5, 4), dtype)
        W = random((4, 2 // g.get("num_groups", 1), 2, 3, 2), dtype)
        inputs += [x, w]
        values += [X, W]
        outs.append(T.nnet.conv3d(x, w, **g))
        expected.append(naive_conv3d(X, W, **g).astype(dtype))
    assert all(o.dtype == dtype for o in outs)
    check(inputs, outs, values, expected=expected, rtol=1e-4 if dtype == "float32" else None)


def test_edge_sizes_and_views():
    x, w = tensor5("x"), tensor5("w")
    X, W = random((1, 3, 3, 4, 5)), random((2, 3, 1, 1, 1))
    outs = [T.nnet.conv3d(x, w), T.nnet.conv3d(x[:0], w),
            T.nnet.conv3d(x.dimshuffle(0, 1, 4, 3, 2), w, border_mode="half"),
            T.nnet.conv3d(x[:, :, ::-1], w[:, :, :, :, ::-1], subsample=(3, 3, 3))]
    expected = [naive_conv3d(X, W), np.zeros((0, 2, 3, 4, 5)),
                naive_conv3d(X.transpose(0, 1, 4, 3, 2), W, "half"),
                naive_conv3d(X[:, :, ::-1], W[:, :, :, :, ::-1], subsample=(3, 3, 3))]
    check([x, w], outs, [X, W], expected=expected)


@pytest.mark.parametrize("geometry", [dict(), dict(border_mode="half", subsample=(2, 1, 2)),
                                      dict(border_mode="full", filter_flip=False,
                                           filter_dilation=(1, 2, 1)),
                                      dict(num_groups=2)], ids=str)
@pytest.mark.slow   # many compiles: 17 s on 2 busy cores
def test_gradients_with_verify_grad(geometry):
    X = random((2, 2, 4, 5, 4))
    W = random((2, 2 // geometry.get("num_groups", 1), 2, 2, 3))
    verify_grad(lambda x, w: T.nnet.conv3d(x, w, **geometry), [X, W])


@pytest.mark.slow   # many compiles: 12 s on 2 busy cores
def test_transposed_conv3d_as_lasagne_calls_it():
    """AbstractConv3d_gradInputs(imshp, kshp, subsample, border_mode, filter_flip)(W, input,
    output_size), with the size given as ints and as symbolic scalars; it equals the
    gradient of the forward convolution; trained through with verify_grad."""
    w, gy, n = tensor5("w"), tensor5("gy"), T.lscalar("n")
    kwargs = dict(subsample=(2, 2, 1), border_mode=(1, 0, 0), filter_flip=False)
    op = ac.AbstractConv3d_gradInputs(imshp=(None, 3, 7, 5, 4), kshp=(2, 3, 3, 3, 2), **kwargs)
    W, GY = random((2, 3, 3, 3, 2)), random((2, 2, 4, 2, 3))
    x = tensor5("x")
    y = T.nnet.conv3d(x, w, **kwargs)
    reference = cgraph.function([x, w, gy], T.grad(None, x, known_grads={y: gy}),
                                mode="py")(np.zeros((2, 3, 7, 5, 4)), W, GY)
    check([w, gy], op(w, gy, (7, 5, 4)), [W, GY], expected=reference)
    check([w, gy, n], op(w, gy, (n, n - 2, 4)), [W, GY, 7], expected=reference)
    verify_grad(lambda w, gy: T.tanh(op(w, gy, (7, 5, 4))), [W, GY])
    gw = ac.AbstractConv3d_gradWeights(**kwargs)(x, gy, (3, 3, 2))
    X = random((2, 3, 7, 5, 4))
    expected = cgraph.function([x, w, gy], T.grad(None, w, known_grads={y: gy}),
                               mode="py")(X, W, GY)
    check([x, gy], gw, [X, GY], expected=expected)
    gx = ac.conv3d_grad_wrt_inputs(gy, w, (2, 3, 7, 5, 4), **kwargs)
    check([w, gy], gx, [W, GY], expected=reference)
    gw2 = ac.conv3d_grad_wrt_weights(x, gy, (2, 3, 3, 3, 2), **kwargs)
    check([x, gy], gw2, [X, GY], expected=expected)


@pytest.mark.slow   # many compiles: 5 s on 2 busy cores
def test_errors_in_both_modes():
    x, w = tensor5("x"), tensor5("w")
    out = T.nnet.conv3d(x, w)
    check_error([x, w], out, [random((1, 3, 4, 4, 4)), random((2, 2, 2, 2, 2))], ValueError,
                r"conv3d: input x has shape \(1, 3, 4, 4, 4\) and filters w has shape "
                r"\(2, 2, 2, 2, 2\): the input has 3 channels but the filters expect 2")
    check_error([x, w], out, [random((1, 2, 4, 2, 4)), random((2, 2, 2, 3, 2))], ValueError,
                r"filters w of shape \(2, 2, 2, 3, 2\) \(2 x 3 x 2 once dilated\) do not fit "
                r"in input x of shape \(1, 2, 4, 2, 4\) padded to 4 x 2 x 4")
    hinted = T.nnet.conv3d(x, w, input_shape=(None, 2, 4, 4, 4), filter_shape=(2, 2, 2, 2, 2))
    check_error([x, w], hinted, [random((1, 2, 4, 4, 5)), random((2, 2, 2, 2, 2))],
                ValueError, r"AbstractConv shape mismatch: shape of image does not match given "
                r"shape: input x has shape \(1, 2, 4, 4, 5\) but input_shape is "
                r"\(None, 2, 4, 4, 4\)")
    gy, s = tensor5("gy"), T.lvector("s")
    gx = ac.AbstractConv3d_gradInputs()(w, gy, s)
    check_error([w, gy, s], gx, [random((2, 2, 2, 2, 2)), random((1, 2, 3, 3, 3)),
                                 np.array([4, 4])], ValueError,
                r"AbstractConv3d_gradInputs: the shape s must hold 3 sizes")
    check_error([w, gy, s], gx, [random((2, 2, 2, 2, 2)), random((1, 2, 3, 3, 3)),
                                 np.array([4, 4, 5])], ValueError,
                r"conv3d gradient: the output gradient gy has shape \(1, 2, 3, 3, 3\), but the "
                r"convolution of \(1, 2, 4, 4, 5\) by \(2, 2, 2, 2, 2\) has shape "
                r"\(1, 2, 3, 3, 4\)")
    with pytest.raises(NotImplementedError, match="Asymmetric padding not implemented for 3D"):
        T.nnet.conv3d(x, w, border_mode=((1, 0), 0, 0))
    with pytest.raises(ValueError, match="subsample must be a tuple of three"):
        T.nnet.conv3d(x, w, subsample=(1, 1))
    with pytest.raises(TypeError, match="input m must be a 5-d tensor"):
        T.nnet.conv3d(T.matrix("m"), w)


_FUNCTIONS = {}


def conv3d_functions(geometry_index):
    """C and py functions of conv3d and of both gradients (shape form) for one geometry;
    every size is a runtime value, so one compile serves every drawn shape."""
    if geometry_index not in _FUNCTIONS:
        g = HYPOTHESIS_GEOMETRIES[geometry_index]
        x, w, gy, s = tensor5("x"), tensor5("w"), tensor5("gy"), T.lvector("s")
        outs = [T.nnet.conv3d(x, w, **g),
                ac.AbstractConv3d_gradInputs(**g)(w, gy, x.shape[2:]),
                ac.AbstractConv3d_gradWeights(**g)(x, gy, s)]
        _FUNCTIONS[geometry_index] = [cgraph.function([x, w, gy, s], outs, mode=m)
                                      for m in ("c", "py")]
    return _FUNCTIONS[geometry_index]


HYPOTHESIS_GEOMETRIES = [dict(), dict(border_mode="half", subsample=(2, 1, 2)),
                         dict(border_mode=(1, 0, 2), filter_dilation=(1, 2, 1),
                              filter_flip=False)]


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
@pytest.mark.slow   # many compiles: 12 s on 2 busy cores
def test_random_shapes_against_the_loops(data):
    """Random batch, channels, volume and filter sizes (1 included) for three geometries:
    the forward op and both gradients in C, the numpy reference and the loops agree (the
    gradients through <grad, a> = <gy, conv(a)>, checked with random a)."""
    k = data.draw(st.integers(0, len(HYPOTHESIS_GEOMETRIES) - 1), "geometry")
    g = HYPOTHESIS_GEOMETRIES[k]
    b, c, o = (data.draw(st.integers(1, 3), n) for n in ("batch", "channels", "filters"))
    kernel = [data.draw(st.integers(1, 3), "tap") for _ in range(3)]
    ext = [(n - 1) * d + 1 for n, d in zip(kernel, g.get("filter_dilation", (1, 1, 1)))]
    volume = [data.draw(st.integers(max(1, e - 2), 6), "size") for e in ext]
    X, W = random((b, c) + tuple(volume)), random((o, c) + tuple(kernel))
    try:
        expected = naive_conv3d(X, W, **g)
    except ValueError:
        return
    if 0 in expected.shape:
        return
    GY = random(expected.shape)
    f_c, f_py = conv3d_functions(k)
    args = [X, W, GY, np.array(kernel)]
    try:
        ref = f_py(*args)
    except ValueError as error:          # a filter larger than the padded volume
        assert "do not fit" in str(error)
        return
    got = f_c(*args)
    for a, r in zip(got, ref):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ref[0], expected, rtol=1e-10, atol=1e-10)
    # adjoints: <gx, A> = <GY, conv(A, W)> and <gw, B> = <GY, conv(X, B)>
    A, B = random(X.shape), random(W.shape)
    np.testing.assert_allclose(np.sum(ref[1] * A), np.sum(GY * naive_conv3d(A, W, **g)),
                               rtol=1e-9)
    np.testing.assert_allclose(np.sum(ref[2] * B), np.sum(GY * naive_conv3d(X, B, **g)),
                               rtol=1e-9)
