"""cgraph.clone (Theano's theano.clone): copies of a graph with replacements and, optionally,
fresh inputs; a cloned shared variable shares its value (Lasagne's batch-norm trick)."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.graph.basic import ancestors
from cgraph.scan_module.scan_utils import clone as scan_utils_clone


def nodes_of(var):
    return {id(v.owner) for v in ancestors([var]) if v.owner is not None}


def test_clone_copies_every_node_and_keeps_the_inputs():
    x, y = T.dvector("x"), T.dvector("y")
    e = T.exp(x) * y + 1.0
    c = cgraph.clone(e)
    assert c is not e and nodes_of(c).isdisjoint(nodes_of(e))
    assert {id(v) for v in ancestors([c]) if v.owner is None and not isinstance(v, T.TensorConstant)} \
        == {id(x), id(y)}
    f = cgraph.function([x, y], [e, c], mode="py")
    a, b = f([0.5, -1.0], [2.0, 3.0])
    np.testing.assert_array_equal(a, b)
    assert scan_utils_clone is cgraph.clone
    # a list gives a list; an input alone is itself
    assert cgraph.clone([x])[0] is x and isinstance(cgraph.clone([e, x]), list)


def test_clone_replaces_simultaneously():
    x, y = T.dvector("x"), T.dvector("y")
    swapped = cgraph.clone(x - y, replace={x: y, y: x})
    grown = cgraph.clone(x * 2.0, replace=[(x, x + 1.0)])   # the replacement keeps x
    f = cgraph.function([x, y], [swapped, grown], mode="py")
    a, b = f([1.0, 2.0], [10.0, 20.0])
    np.testing.assert_array_equal(a, [9.0, 18.0])
    np.testing.assert_array_equal(b, [4.0, 6.0])
    # a replacement may stand for an inner node; a number becomes a shared variable
    ex = T.exp(x)
    c = cgraph.clone(ex * y, replace={ex: y, y: np.array([3.0, 4.0])})
    assert isinstance([v for v in ancestors([c]) if isinstance(v, cgraph.SharedVariable)][0],
                      cgraph.SharedVariable)
    np.testing.assert_array_equal(cgraph.function([y], c, mode="py")([1.0, 2.0]), [3.0, 8.0])


def test_clone_without_sharing_inputs():
    x = T.dvector("x")
    w = cgraph.shared(np.array([1.0, 2.0]), name="w")
    e = x * w
    c = cgraph.clone(e, share_inputs=False)
    roots = [v for v in ancestors([c]) if v.owner is None]
    new_x = [v for v in roots if v.name == "x"][0]
    new_w = [v for v in roots if v.name == "w"][0]
    assert new_x is not x and new_x.type == x.type
    assert new_w is not w and isinstance(new_w, cgraph.SharedVariable)
    w.set_value(np.array([5.0, 6.0]))   # one storage for both
    np.testing.assert_array_equal(new_w.get_value(), [5.0, 6.0])
    np.testing.assert_array_equal(cgraph.function([new_x], c, mode="py")([1.0, 1.0]), [5.0, 6.0])
    # the same input cloned once, wherever it appears
    c2 = cgraph.clone(x * x + x, share_inputs=False)
    assert len({id(v) for v in ancestors([c2]) if v.owner is None and v.name == "x"}) == 1


def test_clone_type_checks():
    x, f32 = T.dvector("x"), T.fvector("f")
    with pytest.raises(TypeError, match="cannot stand for x of type"):
        cgraph.clone(x * 2.0, replace={x: f32})
    loose = cgraph.clone(x * x, replace={x: f32}, strict=False)
    assert loose.dtype == "float32"
    with pytest.raises(ValueError, match="neither a dictionary, list, tuple or None"):
        cgraph.clone(x, replace=3)
    with pytest.raises(TypeError, match="must be variables"):
        cgraph.clone(x, replace={"x": x})


@pytest.mark.parametrize("mode", ["py", "c"])
def test_cloned_shared_variable_with_a_default_update(mode):
    # Lasagne's BatchNormLayer: a clone of the running mean (same storage) carries the update,
    # and joins the graph as 0 * clone; the outputs read the value before the call
    x = T.dmatrix("x")
    mean = cgraph.shared(np.ones(3), name="mean")
    running = cgraph.clone(mean, share_inputs=False)
    running.default_update = 0.5 * running + 0.5 * x.mean(axis=0)
    centred = (x - mean) + 0 * running
    scaled = (x - mean).sum() * mean + 0 * running
    f = cgraph.function([x], [centred, scaled], mode=mode)
    v = np.arange(6.0).reshape(2, 3)
    old = mean.get_value()
    for _ in range(2):
        a, b = f(v)
        np.testing.assert_allclose(a, v - old)
        np.testing.assert_allclose(b, (v - old).sum() * old)
        new = 0.5 * old + 0.5 * v.mean(axis=0)
        np.testing.assert_allclose(mean.get_value(), new)
        old = new
