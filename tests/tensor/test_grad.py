"""grad(): Theano's semantics, and every elementwise gradient against finite differences."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.gradient import DisconnectedInputError, GradientError, grad, verify_grad

rng = np.random.default_rng(7)


def test_wrt_structure_and_values():
    x = T.dvector("x")
    w = T.dscalar("w")
    cost = T.sum(T.exp(x) * w)
    g_single = grad(cost, x)
    g_list = grad(cost, [x, w])
    assert isinstance(g_list, list) and len(g_list) == 2
    f = cgraph.function([x, w], [g_single] + g_list)
    xv = np.array([0.1, -0.3, 2.0])
    gx, gx2, gw = f(xv, 1.5)
    np.testing.assert_allclose(gx, np.exp(xv) * 1.5)
    np.testing.assert_allclose(gx2, gx)
    np.testing.assert_allclose(gw, np.exp(xv).sum())


def test_cost_must_be_scalar():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="scalar"):
        grad(x * 2, x)


def test_disconnected_inputs():
    x, y = T.dvector("x"), T.dvector("y")
    cost = T.sum(x * 2)
    with pytest.raises(DisconnectedInputError, match="y"):
        grad(cost, [x, y])
    with pytest.warns(UserWarning, match="not part of the computational graph"):
        gx, gy = grad(cost, [x, y], disconnected_inputs="warn")
    gx, gy = grad(cost, [x, y], disconnected_inputs="ignore")
    f = cgraph.function([x, y], gy, on_unused_input="ignore")
    assert f([1.0, 2.0], [3.0, 4.0, 5.0]).tolist() == [0.0, 0.0, 0.0]
    assert grad(cost, [x, y], disconnected_inputs="ignore", return_disconnected="None")[1] is None


def test_consider_constant_stops_the_gradient():
    x = T.dscalar("x")
    y = x * x
    cost = y * x
    g_full = grad(cost, x)
    g_const = grad(cost, x, consider_constant=[y])
    f = cgraph.function([x], [g_full, g_const])
    full, const = f(3.0)
    assert float(full) == pytest.approx(27.0) and float(const) == pytest.approx(9.0)


def test_known_grads_and_lop():
    x = T.dvector("x")
    y = T.tanh(x)
    gy = T.dvector("gy")
    gx = grad(None, x, known_grads={y: gy})
    lx = cgraph.gradient.Lop(y, x, gy)
    f = cgraph.function([x, gy], [gx, lx])
    xv, gv = np.array([0.2, -1.0]), np.array([1.0, 3.0])
    a, b = f(xv, gv)
    np.testing.assert_allclose(a, gv * (1 - np.tanh(xv) ** 2))
    np.testing.assert_allclose(b, a)


def test_rop_matches_jacobian_vector_product():
    x = T.dvector("x")
    v = T.dvector("v")
    y = T.exp(x) * x
    jv = cgraph.gradient.Rop(y, x, v)
    f = cgraph.function([x, v], jv)
    xv, vv = np.array([0.5, 1.0, -2.0]), np.array([1.0, -1.0, 0.5])
    np.testing.assert_allclose(f(xv, vv), (np.exp(xv) * xv + np.exp(xv)) * vv)


def test_no_gradient_through_integers_and_comparisons():
    x = T.dvector("x")
    cost = T.sum(T.cast(x, "int64") * 1.0) + T.sum(T.gt(x, 0) * x)
    g = grad(cost, x)
    f = cgraph.function([x], g)
    np.testing.assert_allclose(f([1.5, -2.0]), [1.0, 0.0])


def test_gradient_of_broadcast_operand_is_summed_back():
    x = T.dmatrix("x")
    b = T.dvector("b")
    row = T.dmatrix("row")   # not declared broadcastable: broadcast happens at run time
    cost = T.sum((x + b) * 2 + x * row)
    gb, grow = grad(cost, [b, row])
    f = cgraph.function([x, b, row], [gb, grow])
    xv, bv, rv = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(1, 3))
    got_b, got_row = f(xv, bv, rv)
    np.testing.assert_allclose(got_b, np.full(3, 8.0))
    np.testing.assert_allclose(got_row, xv.sum(axis=0, keepdims=True))


def test_float32_gradients_stay_float32():
    x = T.fvector("x")
    g = grad(T.sum(T.exp(x) * 0.5), x)
    assert g.dtype == "float32"


UNARY = ["exp", "log", "log1p", "expm1", "sqrt", "tanh", "sin", "cos", "tan", "sinh", "cosh",
         "arctan", "sigmoid", "softplus", "sqr", "abs", "neg", "erf", "erfc", "log2", "log10",
         "exp2", "arcsin", "arccos"]


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_unary_gradients(name):
    x = rng.uniform(0.1, 0.9, size=(3,))   # inside every domain (log, arcsin...)
    verify_grad(getattr(T, name), [x], n_tests=1)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "true_div", "pow", "maximum", "minimum",
                                  "arctan2"])
@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_binary_gradients_with_broadcasting(name):
    a = rng.uniform(0.5, 1.5, size=(3, 1))
    b = rng.uniform(0.5, 1.5, size=(1, 4)) + 0.01
    verify_grad(getattr(T, name), [a, b], n_tests=1)


@pytest.mark.slow   # many compiles: 9 s on 2 busy cores
def test_switch_clip_and_composite_gradients():
    x = rng.normal(size=(4,))
    verify_grad(lambda v: T.switch(T.gt(v, 0), v * v, -v), [x], n_tests=1)
    verify_grad(lambda v: T.clip(v, -0.5, 0.5) * v, [np.array([-1.0, -0.2, 0.3, 2.0])], n_tests=1)
    verify_grad(lambda v: T.tanh(v.dimshuffle("x", 0) * v.dimshuffle(0, "x")), [x], n_tests=1)


@pytest.mark.slow   # many compiles: 4 s on 2 busy cores
def test_float32_verify_grad():
    x = rng.uniform(0.2, 0.8, size=(5,)).astype("float32")
    verify_grad(lambda v: T.exp(v) * T.log(v), [x], n_tests=1)


def test_verify_grad_catches_a_wrong_gradient():
    from cgraph.tensor import scalar_ops
    sin = scalar_ops.SCALAR_OPS["sin"]
    saved = sin.grad
    sin.grad = lambda x, z, gz: [gz * T.sin(x)]   # wrong on purpose
    try:
        with pytest.raises(GradientError, match="differs from finite differences"):
            verify_grad(T.sin, [np.array([0.3, 1.2])], n_tests=1)
    finally:
        sin.grad = saved


def test_verify_grad_compiles_the_cost_and_the_gradient_once():
    """Each test draws a new projection into a shared variable: two C functions (cost,
    gradient) whatever n_tests, as in Theano (the suite calls verify_grad a few hundred
    times)."""
    from cgraph import cache

    def lookups():
        return sum(cache.stats[k] for k in ("builds", "disk_hits", "memory_hits"))
    before = lookups()
    verify_grad(lambda v: T.tanh(v) * 3.25, [np.array([0.1, -0.4, 0.7])], n_tests=3)
    assert lookups() - before == 2


def test_gradient_has_the_broadcastable_pattern_of_its_variable():
    row = cgraph.shared(np.ones((1, 3)), broadcastable=(True, False), name="row")
    x = T.dmatrix("x")
    cost = T.sum(T.dot(x, row.T))          # dot's gradient does not know axis 0 has length 1
    g = grad(cost, row)
    assert g.broadcastable == (True, False)
    f = cgraph.function([x], cost, updates=[(row, row - 0.1 * g)])
    f(np.ones((2, 3)))
    np.testing.assert_allclose(row.get_value(), np.full((1, 3), 0.8))


def test_addbroadcast_checks_at_run_time():
    x = T.dmatrix("x")
    y = T.addbroadcast(x, 0)
    assert y.broadcastable == (True, False)
    assert T.unbroadcast(y, 0).broadcastable == (False, False)
    for mode in ("c", "py"):
        f = cgraph.function([x], y * 2, mode=mode)
        assert f(np.ones((1, 2))).tolist() == [[2.0, 2.0]]
        with pytest.raises(ValueError, match="broadcastable"):
            f(np.ones((3, 2)))


@pytest.mark.slow   # many compiles: 5 s on 2 busy cores
def test_gradient_of_a_naive_log_softmax_is_finite_when_saturated():
    x = T.dmatrix("x")
    y = T.lvector("y")
    cost = -T.mean(T.log(T.nnet.softmax(x))[T.arange(y.shape[0]), y])
    g = grad(cost, x)
    f = cgraph.function([x, y], [cost, g])
    v = np.array([[1000.0, 0.0, -1000.0], [0.0, 1.0, 2.0]])
    c, gv = f(v, np.array([2, 0]))
    assert np.isfinite(c) and np.all(np.isfinite(gv))
    m = v.max(axis=1, keepdims=True)
    p = np.exp(v - m) / np.exp(v - m).sum(axis=1, keepdims=True)
    onehot = np.eye(3)[[2, 0]]
    np.testing.assert_allclose(gv, (p - onehot) / 2, atol=1e-12)
    verify_grad(lambda a: T.log(T.nnet.sigmoid(a)), [np.array([-800.0, 0.5, 700.0])], n_tests=1)


@pytest.mark.slow   # many compiles: 7 s on 2 busy cores
def test_jacobian_and_hessian():
    x = T.dvector("x")
    y = T.exp(x) * x[::-1]
    J = cgraph.gradient.jacobian(y, x)
    H = cgraph.gradient.hessian(T.sum(x ** 3) + x[0] * x[1], x)
    f = cgraph.function([x], [J, H])
    v = np.array([0.5, -1.0, 2.0])
    jv, hv = f(v)
    n = len(v)
    expected_j = np.diag(np.exp(v) * v[::-1]) + np.exp(v)[:, None] * np.eye(n)[::-1]
    np.testing.assert_allclose(jv, expected_j, rtol=1e-12)
    expected_h = np.diag(6 * v)
    expected_h[0, 1] = expected_h[1, 0] = 1.0
    np.testing.assert_allclose(hv, expected_h, rtol=1e-12)
    Jw = cgraph.gradient.jacobian(T.dot(x, x) * x, [x])
    assert isinstance(Jw, list) and cgraph.function([x], Jw[0])(v).shape == (3, 3)
