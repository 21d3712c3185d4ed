"""Gradients of dot and of T.nnet (softmax, log_softmax, crossentropies, activations).

Symbolic gradients are checked against finite differences with verify_grad (mostly in py
mode, where nothing is compiled), against numpy formulas, and the C build of each gradient
graph against the numpy reference with ``check``. A logistic-regression training step ties
everything together against a numpy implementation.
"""
import warnings

import numpy as np
import pytest
import scipy.special

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad

from util import check

rng = np.random.default_rng(11)

# (shape of a, shape of b) for every rank combination Dot supports
DOT_SHAPES = [((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 5)), ((3, 4), (4, 5)),
              ((2, 3, 4), (4,)), ((2, 3, 4), (4, 5))]


def _numpy_dot_grads(a, b, gz):
    """da and db of sum(dot(a, b) * gz), written without the identities the L_op uses."""
    if b.ndim == 1:
        ga = np.multiply.outer(gz, b)
        gb = np.tensordot(a, gz, axes=(list(range(a.ndim - 1)), list(range(gz.ndim))))
    else:
        ga = np.tensordot(gz, b, axes=([gz.ndim - 1], [1]))
        lead = list(range(a.ndim - 1))
        gb = np.tensordot(a, gz, axes=(lead, lead))
    return ga, gb


@pytest.mark.parametrize("shapes", DOT_SHAPES, ids=lambda s: f"{len(s[0])}d.{len(s[1])}d")
def test_dot_verify_grad_every_rank_combination(shapes):
    a, b = (rng.normal(size=s) for s in shapes)
    verify_grad(T.dot, [a, b], mode="py")


def test_dot_verify_grad_through_views():
    # transposed, reversed and stepped operands
    cases = [
        (lambda a, b: T.dot(a.T, b), (4, 3), (4, 5)),
        (lambda a, b: T.dot(a, b.T), (3, 4), (5, 4)),
        (lambda a, b: T.dot(a[::2, ::-1], b[:, 1:]), (5, 4), (4, 3)),
        (lambda a, b: T.dot(a[1], b[::-1].T), (3, 4), (2, 4)),
        (lambda a, b: T.dot(a.dimshuffle(2, 0, 1), b[:, ::2]), (2, 3, 4), (3, 10)),
    ]
    for fun, sa, sb in cases:
        verify_grad(fun, [rng.normal(size=sa), rng.normal(size=sb)], mode="py")


@pytest.mark.parametrize("shapes", [((3, 4), (4,)), ((2, 3, 4), (4, 5))], ids=["2d.1d", "3d.2d"])
def test_dot_second_derivatives(shapes):
    # the gradient graph (dots of transposes, reshapes) is itself differentiable
    def grad_of_a(a, b):
        return T.grad(T.sum(T.dot(a, b) ** 2), a)
    verify_grad(grad_of_a, [rng.normal(size=s) for s in shapes], mode="py")


def test_dot_of_mixed_dtypes_differentiates_through_the_cast():
    a, b = T.fmatrix("a"), T.dmatrix("b")
    ga, gb = T.grad(T.sum(T.dot(a, b)), [a, b])
    assert (ga.dtype, gb.dtype) == ("float32", "float64")
    verify_grad(T.dot, [rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(4, 2))],
                mode="py")


@pytest.mark.slow   # many compiles: 8 s on 2 busy cores
def test_dot_verify_grad_compiled_float64_and_float32():
    a, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 5))
    verify_grad(T.dot, [a, b], n_tests=1)
    verify_grad(lambda a, b: T.dot(a.T, b), [rng.normal(size=(4, 3)).astype("float32"),
                                             rng.normal(size=(4, 2)).astype("float32")],
                n_tests=1)


@pytest.mark.slow   # many compiles: 7 s on 2 busy cores
def test_dot_gradients_in_c_match_numpy_for_every_rank_and_layout():
    """One module: the gradients of every rank combination, with strided views of the
    operands so the BLAS calls of the gradient see transposed and copied layouts."""
    inputs, outputs, values, expected = [], [], [], []
    for k, (sa, sb) in enumerate(DOT_SHAPES):
        av, bv = rng.normal(size=sa), rng.normal(size=sb)
        a = T.TensorType("float64", (False,) * len(sa))(f"a{k}")
        b = T.TensorType("float64", (False,) * len(sb))(f"b{k}")
        z = T.dot(a, b)
        gzv = rng.normal(size=np.shape(np.dot(av, bv)))
        ga, gb = T.grad(T.sum(z * T.constant(gzv)), [a, b])
        inputs += [a, b]
        outputs += [ga, gb]
        values += [av, bv]
        expected += list(_numpy_dot_grads(av, bv, gzv))
    # views: the gradient dots then take transposed, reversed and stepped operands (their
    # values are checked by verify_grad above; here C must agree with the reference)
    m, n, t3 = T.dmatrix("m"), T.dmatrix("n"), T.dtensor3("t3")
    cost = (T.sum(T.dot(m.T[1:5], n[::-1, ::2]) * T.constant(1.5))
            + T.sum(T.dot(t3.dimshuffle(2, 1, 0), m[::-1, :4].T) ** 2)
            + T.sum(T.dot(n[:, 2], m[:, ::-2]) ** 2))
    inputs += [m, n, t3]
    outputs += T.grad(cost, [m, n, t3])
    values += [rng.normal(size=(6, 5)), rng.normal(size=(6, 8)), rng.normal(size=(4, 3, 2))]
    got = check(inputs, outputs, values)
    for k, e in enumerate(expected):
        np.testing.assert_allclose(got[k], e, rtol=1e-10, atol=1e-12)


# --- softmax and log_softmax -------------------------------------------------------------

def _numpy_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _numpy_log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("fun", [T.nnet.softmax, T.nnet.log_softmax], ids=["softmax", "log"])
def test_softmax_verify_grad_vector_and_matrix(fun):
    with pytest.warns(UserWarning, match="DEPRECATION"):   # a vector is a 1 x n row
        verify_grad(fun, [rng.normal(size=5)], mode="py")
    verify_grad(fun, [rng.normal(size=(3, 4))], mode="py")
    verify_grad(lambda x: fun(x.T[::-1]), [rng.normal(size=(4, 3))], mode="py")


@pytest.mark.slow   # many compiles: 8 s on 2 busy cores
def test_softmax_gradients_in_c_match_numpy():
    """Both ops, 1-d and 2-d, float32 and float64, on strided views and saturated rows."""
    inputs, outputs, values, expected = [], [], [], []
    for dtype in ("float64", "float32"):
        for ndim, shape in ((1, (6,)), (2, (4, 5))):
            x = T.TensorType(dtype, (False,) * ndim)(f"x{ndim}_{dtype}")
            xv = rng.normal(size=shape).astype(dtype)
            if ndim == 2:
                xv[1] = [1000, -1000, 0, 3, -2]   # a saturated row stays finite
                view, view_value = x[:, ::-1], xv[:, ::-1]
            else:
                view, view_value = x[::2], xv[::2]
            w = rng.normal(size=view_value.shape).astype(dtype)
            with warnings.catch_warnings():
                # a vector is a 1 x n row, with Theano's deprecation warning (expected here)
                warnings.simplefilter("ignore", UserWarning)
                sm, lsm = T.nnet.softmax(view), T.nnet.log_softmax(view)
            g_sm = T.grad(T.sum(sm * T.constant(w)), x)
            g_lsm = T.grad(T.sum(lsm * T.constant(w)), x)
            smv = _numpy_softmax(view_value.astype("float64"))
            e_sm = np.zeros(shape)
            e_lsm = np.zeros(shape)
            index = (slice(None), slice(None, None, -1)) if ndim == 2 else slice(None, None, 2)
            e_sm[index] = (w - (w * smv).sum(axis=-1, keepdims=True)) * smv
            e_lsm[index] = w - smv * w.sum(axis=-1, keepdims=True)
            inputs.append(x)
            values.append(xv)
            outputs += [g_sm, g_lsm]
            expected += [e_sm.astype(dtype), e_lsm.astype(dtype)]
    got = check(inputs, outputs, values)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and np.all(np.isfinite(g))
        tol = 1e-5 if g.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(g, e, rtol=tol, atol=tol)


# --- crossentropies ----------------------------------------------------------------------

def test_crossentropies_verify_grad():
    nnet = T.nnet
    probs = rng.uniform(0.1, 0.9, size=(3, 4))
    targets = rng.uniform(0, 1, size=(3, 4))
    logits = rng.normal(scale=3, size=(3, 4))
    classes = T.constant(np.array([2, 0, 3]))
    cases = [
        (nnet.binary_crossentropy, [probs, targets]),
        (nnet.sigmoid_binary_crossentropy, [logits, targets]),
        (lambda x, t: nnet.binary_crossentropy(nnet.sigmoid(x), t), [logits, targets]),
        (nnet.categorical_crossentropy, [probs, targets]),
        (nnet.categorical_crossentropy, [probs[0], targets[0]]),
        (lambda c: nnet.categorical_crossentropy(c, classes), [probs]),
        (lambda x, t: nnet.categorical_crossentropy(nnet.softmax(x), t), [logits, targets]),
        (lambda x: nnet.categorical_crossentropy(nnet.softmax(x), classes), [logits]),
    ]
    for fun, pt in cases:
        verify_grad(fun, pt, mode="py")


def _numpy_softplus(x):
    return np.logaddexp(0, x)


def _expit(x):
    return scipy.special.expit(x)


@pytest.mark.slow   # many compiles: 4 s on 2 busy cores
def test_binary_crossentropies_values_and_exact_gradient():
    """sigmoid_binary_crossentropy: the gradient for the logits is sigmoid(x) - t exactly,
    also at 0 and in saturation; binary_crossentropy of a sigmoid takes the same path."""
    x, t = T.dvector("x"), T.dvector("t")
    o = T.dvector("o")
    xf, tf = T.fvector("xf"), T.fvector("tf")
    xv = np.array([0.0, 1000.0, -1000.0, 30.0, -30.0, 0.7, -2.5])
    tv = np.array([0.3, 0.0, 1.0, 1.0, 0.0, 0.5, 1.0])
    ov = np.array([0.2, 0.9, 0.5, 0.999, 0.01, 0.6, 0.3])
    gzv = rng.uniform(0.5, 2, size=xv.size)
    gz = T.constant(gzv)
    stable = T.nnet.sigmoid_binary_crossentropy(x, t)
    via_sigmoid = T.nnet.binary_crossentropy(T.nnet.sigmoid(x), t)
    plain = T.nnet.binary_crossentropy(o, t)
    gx, gt = T.grad(T.sum(stable * gz), [x, t])
    gx2 = T.grad(T.sum(via_sigmoid * gz), x)
    go = T.grad(T.sum(plain * gz), o)
    stable_f = T.nnet.sigmoid_binary_crossentropy(xf, tf)
    gxf = T.grad(T.sum(stable_f), xf)
    cost = tv * _numpy_softplus(-xv) + (1 - tv) * _numpy_softplus(xv)
    got = check([x, t, o, xf, tf], [stable, via_sigmoid, plain, gx, gt, gx2, go, stable_f, gxf],
                [xv, tv, ov, xv.astype("float32"), tv.astype("float32")],
                expected=[cost, cost, -(tv * np.log(ov) + (1 - tv) * np.log(1 - ov)),
                          gzv * (_expit(xv) - tv), -gzv * xv, gzv * (_expit(xv) - tv),
                          gzv * (ov - tv) / (ov * (1 - ov)), cost.astype("float32"),
                          (_expit(xv) - tv).astype("float32")])
    # exactly sigmoid(x) - t times gz: the same expression, evaluated by the same C code
    sig = cgraph.function([x], T.nnet.sigmoid(x))(xv)
    assert np.array_equal(got[3], gzv * (sig - tv))
    assert got[3][0] == gzv[0] * (0.5 - 0.3)   # at x = 0, where a piecewise graph errs


def test_categorical_crossentropy_values_both_target_forms():
    p = rng.uniform(0.05, 1, size=(4, 3))
    p /= p.sum(axis=1, keepdims=True)
    y = np.array([2, 0, 1, 1])
    onehot = np.eye(3)[y]
    coding, true = T.dmatrix("coding"), T.dmatrix("true")
    idx = T.lvector("idx")
    by_index = T.nnet.categorical_crossentropy(coding, idx)
    by_matrix = T.nnet.categorical_crossentropy(coding, true)
    assert by_index.ndim == 1 and by_matrix.ndim == 1
    check([coding, true, idx], [by_index, by_matrix], [p, onehot, y],
          expected=[-np.log(p[np.arange(4), y]), -np.log(p[np.arange(4), y])])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_categorical_crossentropy_of_softmax_is_stable(dtype):
    """Logits of +-1000: cost and gradient finite and equal to the exact values, with
    class-index and one-hot targets."""
    x = T.matrix("x", dtype=dtype)
    y = T.lvector("y")
    onehot = T.matrix("onehot", dtype=dtype)
    xv = np.array([[1000, -1000, 0], [-1000, 1000, 3], [0.5, -0.25, 1], [2, 2, 2]], dtype=dtype)
    yv = np.array([1, 1, 2, 0])
    onehot_v = np.eye(3, dtype=dtype)[yv]
    by_index = T.nnet.categorical_crossentropy(T.nnet.softmax(x), y)
    by_matrix = T.nnet.categorical_crossentropy(T.nnet.softmax(x), onehot)
    g_index = T.grad(T.sum(by_index), x)
    g_matrix, g_onehot = T.grad(T.sum(by_matrix), [x, onehot])
    lsm = _numpy_log_softmax(xv.astype("float64"))
    cost = -lsm[np.arange(4), yv]
    gx = np.exp(lsm) - np.eye(3)[yv]
    got = check([x, y, onehot], [by_index, by_matrix, g_index, g_matrix, g_onehot],
                [xv, yv, onehot_v],
                expected=[e.astype(dtype) for e in (cost, cost, gx, gx, -lsm)])
    for g in got:
        assert np.all(np.isfinite(g))
    assert got[0][0] == 2000


def test_crossentropy_rank_and_type_errors():
    nnet = T.nnet
    with pytest.raises(TypeError, match="rank mismatch between coding and true distributions"):
        nnet.categorical_crossentropy(T.dmatrix(), T.lscalar())
    with pytest.raises(TypeError, match="rank mismatch"):
        nnet.categorical_crossentropy(T.dvector(), T.dmatrix())
    with pytest.raises(TypeError, match="integer vector required.*yf"):
        nnet.categorical_crossentropy(T.dmatrix(), T.dvector("yf"))
    with pytest.raises(TypeError, match="matrix required for argument: coding_dist"):
        nnet.categorical_crossentropy(T.dtensor3("c3"), T.lmatrix())


def test_out_of_range_class_index_is_an_index_error():
    from util import check_error
    coding, y = T.dmatrix("coding"), T.lvector("y")
    check_error([coding, y], T.nnet.categorical_crossentropy(coding, y),
                [np.full((2, 3), 0.5), np.array([0, 3])], IndexError, match="3")


# --- activations -------------------------------------------------------------------------

def test_relu_and_hard_sigmoid_gradients():
    # values away from the kinks (relu at 0, hard_sigmoid at +-2.5)
    xv = np.array([[-3.0, -1.2, -0.4, 0.3], [0.9, 2.0, 3.5, -2.0]])
    verify_grad(T.nnet.relu, [xv], mode="py")
    verify_grad(lambda x: T.nnet.relu(x, 0.3), [xv], mode="py")
    verify_grad(lambda x, a: T.nnet.relu(x, a), [xv, np.array(0.2)], mode="py")
    verify_grad(T.nnet.hard_sigmoid, [xv], mode="py")
    x = T.dmatrix("x")
    alpha = T.dscalar("alpha")
    g_relu = T.grad(T.sum(T.nnet.relu(x)), x)
    g_leaky, g_alpha = T.grad(T.sum(T.nnet.relu(x, alpha)), [x, alpha])
    g_hard = T.grad(T.sum(T.nnet.hard_sigmoid(x)), x)
    inside = np.abs(xv) < 2.5
    check([x, alpha], [g_relu, g_leaky, g_alpha, g_hard], [xv, 0.2],
          expected=[(xv > 0) * 1.0, np.where(xv > 0, 1.0, 0.2), xv[xv < 0].sum(),
                    inside * 0.2])


# --- a training step ---------------------------------------------------------------------

def _numpy_logreg_step(xv, yv, W, b, lr):
    z = xv @ W + b
    p = _numpy_softmax(z)
    n = len(yv)
    cost = -np.log(p[np.arange(n), yv]).mean()
    gz = (p - np.eye(W.shape[1])[yv]) / n
    return cost, W - lr * (xv.T @ gz), b - lr * gz.sum(axis=0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_logistic_regression_training_steps_match_numpy(dtype):
    n, features, classes, lr = 20, 6, 3, 0.5
    xv = rng.normal(size=(n, features)).astype(dtype)
    yv = rng.integers(0, classes, size=n)
    W0 = rng.normal(scale=0.1, size=(features, classes)).astype(dtype)
    b0 = np.zeros(classes, dtype=dtype)
    x = T.matrix("x", dtype=dtype)
    y = T.lvector("y")
    runs = {}
    for mode in ("c", "py"):
        W, b = cgraph.shared(W0, name="W"), cgraph.shared(b0, name="b")
        p_y = T.nnet.softmax(T.dot(x, W) + b)
        cost = T.mean(T.nnet.categorical_crossentropy(p_y, y))
        gW, gb = T.grad(cost, [W, b])
        assert (gW.dtype, gb.dtype) == (dtype, dtype)
        step = T.constant(lr, dtype=dtype)
        train = cgraph.function([x, y], cost, updates=[(W, W - step * gW), (b, b - step * gb)],
                                mode=mode)
        costs = [float(train(xv, yv)) for _ in range(5)]
        runs[mode] = (costs, W.get_value(), b.get_value())
    Wn, bn = W0.astype("float64"), b0.astype("float64")
    expected_costs = []
    for _ in range(5):
        c, Wn, bn = _numpy_logreg_step(xv.astype("float64"), yv, Wn, bn, lr)
        expected_costs.append(c)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for mode, (costs, W_end, b_end) in runs.items():
        assert W_end.dtype == dtype and b_end.dtype == dtype
        np.testing.assert_allclose(costs, expected_costs, rtol=tol, err_msg=mode)
        np.testing.assert_allclose(W_end, Wn, rtol=tol, atol=tol, err_msg=mode)
        np.testing.assert_allclose(b_end, bn, rtol=tol, atol=tol, err_msg=mode)
    assert expected_costs[-1] < expected_costs[0]    # the steps do learn
