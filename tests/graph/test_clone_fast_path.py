"""Cloning a node onto inputs of unchanged types skips make_node for the ops that declare
``output_types_depend_only_on_input_types``: the copies must be the graphs make_node
builds (same ops, types, broadcastable patterns, variable classes, names), and an op
without the property must still go through make_node."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.graph.basic import Apply, Op, Variable, clone_replace, graph_inputs, io_toposort
from cgraph.tensor.elemwise import DimShuffle, Elemwise
from cgraph.tensor.type import TensorType
from cgraph.tensor.var import TensorVariable


def _clone_by_make_node(outputs, replace):
    """clone_replace as it was before the fast path: every copied node runs make_node."""
    memo = dict(replace)
    for node in io_toposort(outputs, stop_at=memo):
        new_inputs = [memo.get(v, v) for v in node.inputs]
        if all(a is b for a, b in zip(new_inputs, node.inputs)):
            continue
        new_node = node.op.make_node(*new_inputs)
        for old, new in zip(node.outputs, new_node.outputs):
            new.name = new.name or old.name
            memo[old] = new
    return [memo.get(v, v) for v in outputs]


def _assert_same_graph(fast, slow, replaced):
    """Both lists of outputs have one structure: op for op, the same variable types,
    patterns, classes and names; leaves are the same objects."""
    seen = {}

    def walk(a, b):
        if (a, b) in seen:
            return
        seen[(a, b)] = True
        assert type(a) is type(b)
        assert a.type == b.type and a.broadcastable == b.broadcastable and a.dtype == b.dtype
        assert a.name == b.name
        assert (a.owner is None) == (b.owner is None)
        if a.owner is None:
            assert a is b or (a in replaced and b in replaced)
            return
        assert a.index == b.index
        assert type(a.owner.op) is type(b.owner.op) and a.owner.op == b.owner.op
        assert len(a.owner.inputs) == len(b.owner.inputs)
        assert len(a.owner.outputs) == len(b.owner.outputs)
        for x, y in zip(a.owner.outputs, b.owner.outputs):
            assert type(x) is type(y) and x.type == y.type
        for x, y in zip(a.owner.inputs, b.owner.inputs):
            walk(x, y)

    for a, b in zip(fast, slow):
        walk(a, b)


def _mlp_step():
    """The benchmarks' W6 graph: tanh layer, softmax, NLL + L2 and its gradients, with the
    minibatch given as a slice of a shared data set."""
    rng = np.random.default_rng(0)
    x, y, i = T.dmatrix("x"), T.ivector("y"), T.lscalar("i")
    W1 = cgraph.shared(rng.standard_normal((6, 5)), name="W1")
    b1 = cgraph.shared(np.zeros(5), name="b1")
    W2 = cgraph.shared(rng.standard_normal((5, 3)), name="W2")
    b2 = cgraph.shared(np.zeros(3), name="b2")
    h = T.tanh(T.dot(x, W1) + b1)
    p = T.nnet.softmax(T.dot(h, W2) + b2)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y]) + 1e-4 * ((W1 ** 2).sum() + (W2 ** 2).sum())
    grads = T.grad(cost, [W1, b1, W2, b2])
    data = cgraph.shared(rng.standard_normal((40, 6)), name="data")
    return [cost] + grads, {x: data[i * 4:(i + 1) * 4]}


def _broadcasting_mix():
    m, r, v = T.dmatrix("m"), T.drow("r"), T.fvector("v")
    k = T.iscalar("k")
    a = T.exp(m + r) * k - v.dimshuffle("x", 0)[:, :1].sum()
    b = T.nnet.log_softmax(a).max(axis=1, keepdims=True) + a.mean(axis=0)
    c = T.cast(m.shape[0], "float32") * T.xlogx.xlogx(abs(a) + 1) + cgraph.gradient.zero_grad(b)
    s = T.nnet.sigmoid_binary_crossentropy(a, T.ones_like(a) * 0.5).sum()
    cost = c.sum() + s + T.dot(a, T.dot(r.T, r)).sum() + T.sum(a.shape)
    return [cost, b] + T.grad(cost, [m, r]), {m: T.dmatrix("m2"), r: T.drow("r2")}


def _reductions_and_dots():
    t3, w, u = T.tensor3("t3"), T.dmatrix("w"), T.dvector("u")
    s = (t3 ** 2).sum(axis=(0, 2)) + T.prod(t3, axis=1).min(axis=0) + T.std(t3, axis=2)[0]
    z = T.dot(T.tanh(w), u) + T.dot(u, w) + T.argmax(w, axis=0).astype("float64")
    cost = s.sum() + (z * T.dot(w, w.T)[0]).sum()
    return [cost] + T.grad(cost, [t3, w, u]), {t3: T.tensor3("t3b"), u: T.dvector("u2")}


def _indexing():
    x, k, idx = T.dmatrix("x"), T.lscalar("k"), T.lvector("idx")
    view = x[1:, ::2][k] + x[:, 0].sum()
    picked = x[idx, :2] * T.argmax(x, axis=1).dimshuffle(0, "x")
    written = T.inc_subtensor(x[idx], 2.0) + T.set_subtensor(x[:1, :], view[:3])
    cost = picked.sum() + written.sum() + T.arange(k, k + 5).sum() + T.max(x, axis=0).sum()
    return [cost, picked] + T.grad(cost, [x]), {x: T.dmatrix("x2"), k: T.lscalar("k2"),
                                                idx: T.lvector("idx2")}


@pytest.mark.parametrize("build", [_mlp_step, _broadcasting_mix, _reductions_and_dots,
                                   _indexing])
def test_fast_clone_gives_the_graph_make_node_gives(build):
    outputs, replace = build()
    fast = clone_replace(outputs, replace)
    slow = _clone_by_make_node(outputs, replace)
    _assert_same_graph(fast, slow, set(replace.values()))
    # the graph really was copied below the replaced variables
    assert all(f is not o for f, o in zip(fast, outputs))
    assert not set(replace) & set(graph_inputs(fast))


def _classes_declaring_the_property(cls=Op):
    for sub in cls.__subclasses__():
        if vars(sub).get("output_types_depend_only_on_input_types"):
            yield sub
        yield from _classes_declaring_the_property(sub)


def test_every_op_declaring_the_property_is_compared_above():
    """Each op class that declares the property is cloned by the fast path in one of the
    graphs compared with make_node's (a newly declared op needs a graph here)."""
    import cgraph.tensor.nnet  # noqa: F401  (Softmax)
    cloned = set()
    for build in (_mlp_step, _broadcasting_mix, _reductions_and_dots, _indexing):
        outputs, replace = build()
        before = set(io_toposort(outputs))
        cloned |= {type(n.op) for n in io_toposort(clone_replace(outputs, replace))
                   if n not in before}
    declared = set(_classes_declaring_the_property())
    assert declared, "no op declares output_types_depend_only_on_input_types"
    missing = [c.__name__ for c in declared if not any(issubclass(k, c) for k in cloned)]
    assert not missing, f"not cloned by any graph of this file: {missing}"


def test_fast_path_skips_make_node_only_when_input_types_are_unchanged(monkeypatch):
    calls = []
    original = Elemwise.make_node

    def counting(self, *inputs):
        calls.append(self)
        return original(self, *inputs)

    x = T.dmatrix("x")
    y = T.exp(x) + 1
    monkeypatch.setattr(Elemwise, "make_node", counting)
    same = clone_replace([y], {x: T.dmatrix("x2")})[0]
    assert calls == []                             # same types: no make_node
    assert same.type == y.type and same.owner.inputs[0].owner.inputs[0].name == "x2"
    row = clone_replace([y], {x: T.drow("r")})[0]  # a new pattern: make_node re-derives it
    assert len(calls) == 2 and row.broadcastable == (True, False)
    single = clone_replace([y], {x: T.fmatrix("f")})[0]   # a new dtype: make_node too
    assert single.dtype == "float32" and len(calls) == 4


def test_op_without_the_property_still_runs_make_node():
    made = []

    class Twice(Op):
        """Its output's pattern depends on a constant input's value: no property."""

        def make_node(self, x, flag):
            made.append((x, flag))
            bcast = (bool(getattr(flag, "data", 0)),)
            return Apply(self, [x, flag], [TensorVariable(TensorType(x.dtype, bcast))])

    assert Twice.output_types_depend_only_on_input_types is False
    x, flag = T.dvector("x"), T.lscalar("flag")
    out = Twice()(x, flag)
    made.clear()
    new = clone_replace([out], {flag: T.constant(np.int64(1))})[0]
    assert len(made) == 1 and new.broadcastable == (True,)


def test_reshape_rereads_its_shape_vector_on_a_clone():
    """Reshape's output pattern comes from the shape vector's values, so a replacement of the
    same type (a constant for a variable) must change it: Reshape has no property."""
    x, s = T.dmatrix("x"), T.lvector("s")
    y = T.exp(x.reshape(s, ndim=2))
    assert y.broadcastable == (False, False)
    new = clone_replace([y], {s: T.as_tensor_variable(np.array([3, 1], dtype="int64"))})[0]
    assert new.broadcastable == (False, True)          # through Reshape and then Elemwise
    assert new.owner.inputs[0].broadcastable == (False, True)


def test_fast_path_keeps_variable_classes_and_leaves_non_variables_to_make_node():
    x = T.dmatrix("x")
    y = DimShuffle((False, False), [1, "x", 0])(x)
    new = clone_replace([y], {x: T.dmatrix("z")})[0]
    assert type(new) is type(y) and isinstance(new, Variable)
    assert new.owner.op == y.owner.op and new.broadcastable == (False, True, False)
    # a raw value as a replacement cannot be typed by the fast path: make_node converts it
    node = (x + 1).owner
    clone = node.clone_with_new_inputs([np.ones((2, 2)), node.inputs[1]])
    assert clone.inputs[0].type == x.type and clone.outputs[0].type == node.outputs[0].type


def test_function_with_givens_matches_the_reference_mode():
    outputs, replace = _mlp_step()
    (i,) = [v for v in graph_inputs(list(replace.values())) if getattr(v, "name", None) == "i"]
    y = [v for v in graph_inputs(outputs) if getattr(v, "name", None) == "y"][0]
    labels = np.array([0, 2, 1, 1], dtype="int32")
    results = [cgraph.function([i, y], outputs, givens=replace, mode=m)(1, labels)
               for m in ("py", None)]
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
