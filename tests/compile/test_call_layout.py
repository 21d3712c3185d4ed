"""CallLayout: one description of what a compiled call takes and returns, in order.

inputs = arguments | shared | hidden constants; outputs = user | updates | state updates.
"""
import pickle

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.compile.function import _rebuild_function
from cgraph.compile.io import In
from cgraph.compile.layout import CallLayout
from cgraph.tensor.shared_randomstreams import RandomStreams


def _step(mode="c"):
    """A function with every part of the layout: two arguments (the second is state,
    In(update=...)), two shared variables read, one explicit update, a random stream's
    default update, and a constant too large to embed (passed after the shared values)."""
    x = T.dvector("x")
    count = T.dscalar("count")
    w = cgraph.shared(np.arange(4.0), name="w")
    b = cgraph.shared(np.float64(0.5), name="b")
    srng = RandomStreams(7)
    big = T.constant(np.linspace(0.0, 1.0, 300).reshape(300, 1) @ np.ones((1, 4)))
    noise = srng.uniform((4,), dtype="float64")
    y = (x * w).sum() + b + T.dot(big, w).sum() + noise.sum()
    f = cgraph.function([x, In(count, value=np.float64(0.0), update=count + 1)],
                        {"y": y, "wx": x * w}, updates=[(w, w - 0.1 * x)], mode=mode)
    return f, dict(x=x, count=count, w=w, b=b, srng=srng)


def test_layout_orders_arguments_shared_and_hidden_constants():
    f, v = _step()
    layout = f.layout
    assert [i.variable for i in layout.arguments] == [v["x"], v["count"]]
    assert layout.stateful == (1,)
    shared = list(layout.shared)
    assert v["w"] in shared and v["b"] in shared
    # the random state is a shared variable too, read after the arguments
    assert len(shared) == 3 and all(s not in (v["x"], v["count"]) for s in shared)
    assert layout.graph_inputs == [v["x"], v["count"]] + shared
    assert len(layout.hidden) == 1 and layout.hidden[0].data.shape == (300, 4)
    assert layout.passed_inputs == layout.graph_inputs + list(layout.hidden)
    assert f.graph_inputs == layout.graph_inputs
    # the runner takes the same positions: arguments, shared values, hidden constants
    runner = f._runner
    assert runner.n_in == 2 + 3 + 1 and len(runner.hidden) == 1


def test_layout_orders_user_outputs_updates_and_state():
    f, v = _step()
    layout = f.layout
    assert layout.n_outputs == 2 and layout.output_keys == ("wx", "y")
    targets = layout.update_targets
    # explicit update first, then the random stream's default update, then the state
    assert targets[0] is v["w"]
    assert targets[1] not in (v["w"], v["b"]) and targets[1].default_update is not None
    assert targets[2] is v["count"]
    assert len(layout.graph_outputs) == 2 + 3 and len(layout.updated_shared) == 2
    user, shared_values, state_values = layout.split_results(list("abcde"))
    assert (user, shared_values, state_values) == (["a", "b"], ["c", "d"], ["e"])
    assert layout.pack([1, 2]) == {"wx": 1, "y": 2} and layout.result_kind() == 2


def test_calls_follow_the_layout_in_both_modes():
    results = []
    for mode in ("py", "c"):
        f, v = _step(mode)
        x = np.array([1.0, -2.0, 0.5, 3.0])
        first, second = f(x), f(x)
        results.append((first, second, v["w"].get_value(), f.argument_defaults[1]))
    (py1, py2, py_w, py_count), (c1, c2, c_w, c_count) = results
    np.testing.assert_allclose(c_w, py_w)
    np.testing.assert_allclose(c1["wx"], py1["wx"])
    np.testing.assert_allclose(c2["wx"], py2["wx"])
    assert float(c_count) == float(py_count) == 2.0      # the state advanced twice


def test_inplace_updates_are_part_of_the_linked_layout():
    w = cgraph.shared(np.ones(5), name="w")
    x = T.dvector("x")
    f = cgraph.function([x], (x * w).sum(), updates=[(w, w - 0.5 * x)])
    layout = f.layout
    assert layout.inplace == {1: 1}          # output 1 (w's new value) into input 1 (w)
    assert layout.inplace_sources() == (1,)
    assert f._runner.inplace == {1: 1}
    guarded = cgraph.function([x], (x * w).sum(), updates=[(w, w - 0.5 * x)],
                              nan_guard=True)
    assert guarded.layout.inplace == {} and guarded.layout.inplace_sources() == (-1,)
    assert "inplace 1>1" in layout.signature() and guarded.layout.signature().endswith(
        "inplace ")


def test_layout_refuses_inconsistent_parts():
    x = T.dvector("x")
    y = x * 2
    with pytest.raises(ValueError, match="needs 2 output variables"):
        CallLayout([In(x)], [], [y], 1, [cgraph.shared(np.ones(2))])
    with pytest.raises(ValueError, match="output_keys"):
        CallLayout([In(x)], [], [y], 1, [], output_keys=["a", "b"])
    with pytest.raises(ValueError, match="unpack_single"):
        CallLayout([In(x)], [], [y, y], 2, [], unpack_single=True)
    base = CallLayout([In(x)], [], [y], 1, [], unpack_single=True)
    with pytest.raises(ValueError, match="in-place pair 0>0"):
        base.linked((), {0: 0})      # a user output is never written in place
    assert base.pack([3]) == 3 and base.result_kind() == 1
    with pytest.raises(AttributeError, match="immutable"):
        base.n_outputs = 2
    assert repr(base) == ("CallLayout(inputs: arguments (x) | shared (-) | hidden constants "
                          "(0); outputs: user (1) | updates (-))")


def test_pickled_function_round_trips_its_layout_and_state():
    f, v = _step()
    x = np.array([1.0, 2.0, 3.0, 4.0])
    f(x)
    g = pickle.loads(pickle.dumps(f))
    a, b = f.layout, g.layout
    assert [repr(i.variable) for i in b.arguments] == [repr(i.variable) for i in a.arguments]
    assert [s.type for s in b.shared] == [s.type for s in a.shared]
    assert (b.n_outputs, b.output_keys, b.stateful) == (a.n_outputs, a.output_keys, a.stateful)
    assert len(b.hidden) == len(a.hidden) and b.inplace == a.inplace
    assert b.signature() == a.signature() and g.cache_key == f.cache_key
    assert float(g.argument_defaults[1]) == float(f.argument_defaults[1]) == 1.0
    # the copy owns copies of the shared values: both continue from the same state
    np.testing.assert_allclose(g.layout.shared[0].get_value(), f.layout.shared[0].get_value())
    np.testing.assert_allclose(g(x)["wx"], f(x)["wx"])


def test_old_pickled_parts_are_read():
    """Functions pickled before the layout had its own class carried its parts loose."""
    w = cgraph.shared(np.ones(3), name="w")
    x = T.dvector("x")
    f = cgraph.function([x], x * w, updates=[(w, w + 1)])
    layout = f.layout
    old = dict(name=None, mode=f.mode, output_keys=None, unpack_single=True,
               ins=list(layout.arguments), n_outputs=1, shared=list(layout.shared),
               updated_shared=list(layout.updated_shared), state={},
               graph_in=layout.graph_inputs, graph_out=list(layout.graph_outputs),
               trust_input=False, nan_guard=False)
    g = _rebuild_function(old)
    assert g.layout.unlinked() == layout.unlinked()
    np.testing.assert_allclose(g(np.arange(3.0)), np.arange(3.0))
    np.testing.assert_allclose(w.get_value(), 2.0)


def test_copy_without_updates_drops_them_from_the_layout():
    f, v = _step()
    g = f.copy(delete_updates=True)
    assert g.layout.updated_shared == () and g.layout.update_targets == [v["count"]]
    assert g.layout.n_outputs == 2 and len(g.layout.graph_outputs) == 3
    before = v["w"].get_value()
    g(np.ones(4))
    np.testing.assert_array_equal(v["w"].get_value(), before)
