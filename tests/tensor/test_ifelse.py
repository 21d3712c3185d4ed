"""Lazy ifelse: values against the numpy reference, only the taken branch runs (in C and in
mode="py"), tuples of outputs, nesting, gradients, updates and errors."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from cgraph.graph.basic import Apply, Op
from cgraph.ifelse import IfElse, branch_layout, ifelse
from util import assert_clean_build, assert_same


def both(inputs, outputs, **kwargs):
    f_c = cgraph.function(inputs, outputs, mode="c", **kwargs)
    assert_clean_build(f_c)
    return f_c, cgraph.function(inputs, outputs, mode="py", **kwargs)


def compare(fs, values, expected):
    for f in fs:
        got = f(*values)
        got = got if isinstance(got, list) else [got]
        for g, e in zip(got, expected):
            assert_same(g, np.asarray(e), what=f"mode {f.mode}")


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "bool"])
def test_values_and_dtypes(dtype):
    c = T.bscalar("c")
    x = T.TensorType(dtype, (False, False))("x")
    y = T.TensorType(dtype, (False, False))("y")
    out = ifelse(c, x.T, y[::-1])
    assert out.dtype == dtype and out.broadcastable == (False, False)
    fs = both([c, x, y], out)
    rng = np.random.default_rng(0)
    for shape in [(3, 3), (0, 0), (1, 1), (2, 2)]:
        xv = (rng.normal(size=shape) * 3).astype(dtype)
        yv = (rng.normal(size=shape) * 3).astype(dtype)
        compare(fs, [1, xv, yv], [xv.T])
        compare(fs, [-3, xv, yv], [xv.T])   # any nonzero is True
        compare(fs, [0, xv, yv], [yv[::-1]])


def test_condition_of_any_dtype_and_computed():
    x = T.dvector("x")
    fs = both([x], ifelse(T.gt(x.sum(), 0), x * 2, x - 1))
    compare(fs, [np.array([1.0, 2.0])], [np.array([2.0, 4.0])])
    compare(fs, [np.array([-1.0, 0.5])], [np.array([-2.0, -0.5])])
    fs = both([x], ifelse(x.sum(), x * 2, x - 1))      # a float condition: 0.0 is False
    compare(fs, [np.array([1.0, -1.0])], [np.array([0.0, -2.0])])
    compare(fs, [np.array([0.5, -1.0])], [np.array([1.0, -2.0])])


def test_untaken_branch_does_not_run():
    """A branch indexing out of range fails only when it is taken."""
    c, i = T.lscalar("c"), T.lscalar("i")
    x = T.dvector("x")
    out = ifelse(c, T.exp(x).sum(), x[i] * T.log(x).sum())
    v = np.array([1.0, 2.0, 3.0])
    for mode in ("c", "py"):
        f = cgraph.function([c, x, i], out, mode=mode)
        assert_same(f(1, v, 10), np.exp(v).sum())
        with pytest.raises(IndexError):
            f(0, v, 10)
        assert_same(f(0, v, 1), 2.0 * np.log(v).sum())
    # the other way round
    out = ifelse(c, x[i] + 1, x.sum())
    for mode in ("c", "py"):
        f = cgraph.function([c, x, i], out, mode=mode)
        assert_same(f(0, v, -7), v.sum())
        with pytest.raises(IndexError):
            f(1, v, -7)


def test_profile_counts_only_the_taken_branch():
    c = T.lscalar("c")
    x = T.dvector("x")
    shared_part = T.tanh(x)              # read by both branches: runs every call
    other = T.sqrt(x)                     # an output of its own and read by `then`
    out = ifelse(c, (shared_part * other).sum(), T.exp(shared_part + 7).prod())
    f = cgraph.function([c, x], [out, other], profile=True)
    v = np.array([0.5, 1.5])
    for cond in [1, 1, 1, 0]:
        f(cond, v)
    times = f.profile.node_times()
    _, guards = branch_layout(f.nodes, f.graph_outputs)
    seen = set()
    for _, calls, node in times:
        guard = guards.get(node, ())
        kind = "always" if not guard else ("then" if guard[-1][1] else "else")
        seen.add(kind)
        assert calls == {"always": 4, "then": 3, "else": 1}[kind], (node, kind, calls)
        if "sqrt" in str(node.op) or "tanh" in str(node.op):
            assert kind == "always"
    assert seen == {"always", "then", "else"}


class CountingOp(Op):
    """x + 1, counting its runs in the numpy reference (a visible side effect)."""
    __props__ = ()
    runs = 0

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs):
        CountingOp.runs += 1
        return [inputs[0] + 1]


def test_reference_mode_skips_the_untaken_branch():
    c = T.lscalar("c")
    x = T.dvector("x")
    f = cgraph.function([c, x], ifelse(c, CountingOp()(x) * 2, x), mode="py")
    CountingOp.runs = 0
    assert_same(f(0, np.ones(2)), np.ones(2))
    assert CountingOp.runs == 0
    assert_same(f(5, np.ones(2)), np.full(2, 4.0))
    assert CountingOp.runs == 1


def test_tuples_lists_and_names():
    c = T.iscalar("c")
    x, y = T.dmatrix("x"), T.dmatrix("y")
    outs = ifelse(c, (x + 1, y.sum()), (x * y, y.max()), name="pick")
    assert isinstance(outs, tuple) and len(outs) == 2
    assert str(outs[0].owner.op) == "if{pick}"
    assert isinstance(ifelse(c, [x], [y]), list)
    fs = both([c, x, y], list(outs))
    xv, yv = np.arange(6.0).reshape(2, 3), np.ones((2, 3)) * 2
    compare(fs, [1, xv, yv], [xv + 1, yv.sum()])
    compare(fs, [0, xv, yv], [xv * yv, yv.max()])


def test_nested_ifelse():
    a, b = T.lscalar("a"), T.lscalar("b")
    x, i = T.dvector("x"), T.lscalar("i")
    inner = ifelse(b, x[i] * 2, T.exp(x)[0])
    out = ifelse(a, inner + 1, x.sum())
    fs = both([a, b, x, i], out)
    v = np.array([1.0, 2.0])
    for f in fs:
        assert_same(f(0, 1, v, 99), v.sum())          # neither inner branch runs
        assert_same(f(1, 0, v, 99), np.exp(1.0) + 1)  # the inner else only
        assert_same(f(1, 1, v, 1), 5.0)
        with pytest.raises(IndexError):
            f(1, 1, v, 99)


def test_branch_layout_guards():
    c = T.lscalar("c")
    x = T.dvector("x")
    t = T.exp(x)
    e = T.log(x)
    both_ = T.tanh(x)
    out = ifelse(c, t + both_, e + both_)
    from cgraph.graph.basic import io_toposort
    nodes = io_toposort([out])
    order, guards = branch_layout(nodes, [out])
    assert set(order) == set(nodes) and order[-1] is out.owner
    guarded = {str(n.op.scalar_op.name): g[0][1] for n, g in guards.items()
               if hasattr(n.op, "scalar_op")}
    assert guarded.get("exp") is True and guarded.get("log") is False
    assert "tanh" not in guarded
    # a branch node that is also an output runs unconditionally
    order, guards = branch_layout(nodes, [out, t])
    assert t.owner not in guards
    # no IfElse: the same list
    plain = io_toposort([T.exp(x) + 1])
    assert branch_layout(plain, [])[0] == plain


@pytest.mark.slow   # many compiles: 28 s on 2 busy cores
def test_gradient_is_ifelse_of_gradients():
    c = T.lscalar("c")
    x = T.dvector("x")
    y = T.dvector("y")
    cost = ifelse(c, (x ** 2).sum() + y.sum(), (T.sin(x) * y).sum())
    gx, gy = T.grad(cost, [x, y])
    assert any(isinstance(n.op, IfElse) for n in cgraph.graph.basic.io_toposort([gx]))
    xv, yv = np.array([0.3, -1.2]), np.array([2.0, 0.5])
    for mode in ("c", "py"):
        f = cgraph.function([c, x, y], [gx, gy], mode=mode)
        gxv, gyv = f(1, xv, yv)
        assert_same(gxv, 2 * xv)
        assert_same(gyv, np.ones(2))
        gxv, gyv = f(0, xv, yv)
        assert_same(gxv, np.cos(xv) * yv)
        assert_same(gyv, np.sin(xv))
    for cond in (0, 1):
        cv = T.constant(np.int64(cond))
        verify_grad(lambda a, b: ifelse(cv, a * b + T.exp(a), T.tanh(a - b)),
                    [np.array([0.2, 0.7]), np.array([-0.4, 1.1])])
        verify_grad(lambda a: ifelse(cv, (a, a * 2), (a ** 2, a))[1],
                    [np.array([[0.2, 0.7]])])


def test_update_with_ifelse():
    c = T.lscalar("c")
    W = cgraph.shared(np.ones(3), name="W")
    for mode in ("c", "py"):
        W.set_value(np.ones(3))
        step = cgraph.function([c], W.sum(), updates=[(W, ifelse(c, W * 2, W))], mode=mode)
        step(1)
        step(0)
        step(1)
        assert_same(W.get_value(), np.ones(3) * 4)


def test_ifelse_inside_scan():
    x = T.dvector("x")

    def step(v, acc):
        return ifelse(T.gt(v, 0), acc + v, acc * 0.5)
    out, _ = cgraph.scan(step, sequences=[x], outputs_info=[T.constant(np.float64(1.0))])
    fs = both([x], out)
    xv = np.array([1.0, -2.0, 3.0, -1.0])
    expected, acc = [], 1.0
    for v in xv:
        acc = acc + v if v > 0 else acc * 0.5
        expected.append(acc)
    compare(fs, [xv], [np.array(expected)])


def test_errors():
    c = T.lscalar("c")
    x, y = T.dvector("x"), T.fvector("y")
    with pytest.raises(TypeError, match="identical types"):
        ifelse(c, x, y)
    with pytest.raises(TypeError, match="identical types"):
        ifelse(c, x, T.dmatrix("m"))
    with pytest.raises(ValueError, match="same number of variables"):
        ifelse(c, [x, x], [x])
    with pytest.raises(TypeError, match="must be a scalar"):
        ifelse(x, x, x)


def test_branches_that_are_inputs_constants_or_shared_values():
    c = T.lscalar("c")
    x, y = T.dmatrix("x"), T.dmatrix("y")
    W = cgraph.shared(np.arange(4.0).reshape(2, 2), name="W")
    outs = [ifelse(c, x, y), ifelse(c, x, x), ifelse(c, W, y * 2),
            ifelse(c, T.constant(np.ones((2, 2))), x), ifelse(c, 1.5, 2.5)]
    fs = both([c, x, y], outs)
    xv, yv = np.full((2, 2), 3.0), np.full((2, 2), 7.0)
    for f in fs:
        got = f(1, xv, yv)
        for g, e in zip(got, [xv, xv, W.get_value(), np.ones((2, 2)), 1.5]):
            assert_same(g, np.asarray(e))
        got[0][0, 0] = -1.0              # outputs are fresh arrays, never the inputs
        assert xv[0, 0] == 3.0 and W.get_value()[0, 0] == 0.0
        got = f(0, xv, yv)
        for g, e in zip(got, [yv, xv, yv * 2, xv, 2.5]):
            assert_same(g, np.asarray(e))


def test_nan_guard_and_pickle_with_ifelse():
    import pickle
    c = T.lscalar("c")
    x = T.dvector("x")
    out = ifelse(c, T.log(x), x * 0)
    for mode in ("c", "py"):
        f = cgraph.function([c, x], out, mode=mode, nan_guard=True)
        assert_same(f(0, np.array([-1.0])), np.array([-0.0]))    # log(-1) never runs
        with pytest.raises(FloatingPointError, match="NaN"):
            f(1, np.array([-1.0]))
        g = pickle.loads(pickle.dumps(cgraph.function([c, x], out, mode=mode)))
        assert_same(g(1, np.array([1.0])), np.array([0.0]))
