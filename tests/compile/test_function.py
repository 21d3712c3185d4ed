"""function(): inputs, outputs, updates, givens, In/Out and every misuse, in C and py mode."""
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph import In, MissingInputError, Out, UnusedInputError, function, shared

MODES = ["c", "py"]


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


# --- outputs -------------------------------------------------------------------------------

def test_output_forms(mode):
    x = T.dvector("x")
    f_single = function([x], x * 2, mode=mode)
    out = f_single([1.0, 2.0])
    assert isinstance(out, np.ndarray) and out.tolist() == [2.0, 4.0]
    f_list = function([x], [x * 2], mode=mode)
    assert isinstance(f_list([1.0]), list)
    f_dict = function([x], {"zz": x * 2, "aa": x + 1}, mode=mode)
    res = f_dict([1.0])
    assert list(res) == ["aa", "zz"] and f_dict.output_keys == ["aa", "zz"]
    assert res["aa"].tolist() == [2.0] and res["zz"].tolist() == [2.0]
    assert function([x], None, mode=mode, on_unused_input="ignore")([1.0]) == []
    assert function([x], [], mode=mode, on_unused_input="ignore")([1.0]) == []


def test_scalar_outputs_are_0d_arrays(mode):
    s = T.dscalar("s")
    out = function([s], s + 1, mode=mode)(2.0)
    assert isinstance(out, np.ndarray) and out.shape == () and out == 3.0


def test_outputs_are_fresh_arrays(mode):
    x = T.dvector("x")
    f = function([x], [x, x, x * 1], mode=mode)
    value = np.array([1.0, 2.0])
    a, b, c = f(value)
    a[0] = 100.0
    assert b[0] == 1.0 and value[0] == 1.0 and c[0] == 1.0


def test_output_dict_keys_must_be_strings():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="keys"):
        function([x], {1: x})


def test_non_variable_output_is_rejected():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="Variable or Out"):
        function([x], [x, "y"])


# --- updates --------------------------------------------------------------------------------

def test_updates_use_old_values_and_swap(mode):
    a = shared(np.array([1.0]), name="a")
    b = shared(np.array([2.0]), name="b")
    f = function([], [a, b], updates=[(a, b), (b, a)], mode=mode)
    old_a, old_b = f()
    assert old_a.tolist() == [1.0] and old_b.tolist() == [2.0]
    assert a.get_value().tolist() == [2.0] and b.get_value().tolist() == [1.0]


@pytest.mark.parametrize("form", ["list", "tuple", "ordered"])
def test_update_forms(form, mode):
    w = shared(np.zeros(2), name="w")
    pairs = [(w, w + 1)]
    updates = {"list": pairs, "tuple": tuple(pairs), "ordered": OrderedDict(pairs)}[form]
    f = function([], [], updates=updates, mode=mode)
    f()
    f()
    assert w.get_value().tolist() == [2.0, 2.0]


def test_plain_dict_of_several_updates_warns():
    a, b = shared(0.0, name="a"), shared(0.0, name="b")
    with pytest.warns(UserWarning, match="OrderedDict"):
        function([], [], updates={a: a + 1, b: b + 1}, mode="py")


def test_update_errors():
    x = T.dvector("x")
    w = shared(np.zeros(3), name="w")
    i = shared(np.zeros(3, dtype="int64"), name="i")
    with pytest.raises(TypeError, match="update target must be a SharedVariable"):
        function([x], [], updates=[(x, x + 1)])
    with pytest.raises(TypeError, match="same type.*float32"):
        function([], [], updates=[(w, T.cast(w, "float32"))])
    with pytest.raises(TypeError, match="same type"):
        function([], [], updates=[(w, w.sum() if False else T.dscalar("s"))])
    with pytest.raises(ValueError, match="already has an update"):
        function([], [], updates=[(w, w + 1), (w, w + 2)])
    with pytest.raises(ValueError, match="list of"):
        function([], [], updates=(w, w + 1))
    with pytest.raises(TypeError, match="same type.*int64"):
        function([], [], updates=[(i, i + 0.5)])


def test_update_of_float32_shared_with_python_float_constant_keeps_dtype(mode):
    saved = cgraph.config.floatX
    cgraph.config.floatX = "float32"
    try:
        w = shared(np.ones(2, dtype="float32"), name="w")
        f = function([], [], updates=[(w, w * 0.5)], mode=mode)
        f()
        assert w.get_value().dtype == np.float32 and w.get_value().tolist() == [0.5, 0.5]
    finally:
        cgraph.config.floatX = saved


def test_default_updates_and_no_default_updates(mode):
    counter = shared(np.array(0, dtype="int64"), name="counter")
    counter.default_update = counter + 1
    f = function([], counter * 1, mode=mode)
    assert [int(f()) for _ in range(3)] == [0, 1, 2]
    g = function([], counter * 1, mode=mode, no_default_updates=True)
    assert int(g()) == 3 and int(g()) == 3
    h = function([], counter * 1, mode=mode, no_default_updates=[counter])
    assert int(h()) == 3
    with pytest.raises(TypeError, match="no_default_update"):
        function([], counter * 1, no_default_updates="yes")


# --- givens ---------------------------------------------------------------------------------

def test_givens_minibatch_slice_pattern(mode):
    data = shared(np.arange(12.0).reshape(6, 2), name="data")
    x = T.dmatrix("x")
    w = T.dvector("w")
    f = function([w], x * w, givens={x: data * 2}, mode=mode)
    np.testing.assert_array_equal(f([1.0, 10.0]), np.arange(12.0).reshape(6, 2) * 2 * [1, 10])
    g = function([w], x * w, givens=[(x, data)], mode=mode)
    np.testing.assert_array_equal(g([1.0, 1.0]), np.arange(12.0).reshape(6, 2))


def test_givens_errors():
    x = T.dmatrix("x")
    y = T.dvector("y")
    with pytest.raises(TypeError, match="same dtype"):
        function([], x * 2, givens={x: T.fmatrix("f")})
    with pytest.raises(TypeError, match="same dtype"):
        function([], x * 2, givens={x: y})
    with pytest.raises(RuntimeError, match="input to your function"):
        function([x], x * 2, givens={x: T.dmatrix()})
    with pytest.raises(TypeError, match="given keys must be Variable"):
        function([], x * 2, givens={"x": T.dmatrix()})
    with pytest.raises(TypeError, match="broadcastable"):
        function([], T.row("r", dtype="float64") * 2, givens={T.row(dtype="float64"): x})


def test_givens_value_is_wrapped_in_shared(mode):
    x = T.dscalar("x")
    y = T.dscalar("y")
    f = function([y], x + y, givens={x: 5.0}, mode=mode)
    assert float(f(1.0)) == 6.0


# --- inputs ---------------------------------------------------------------------------------

def test_input_list_errors():
    x = T.dvector("x")
    w = shared(np.zeros(2), name="w")
    with pytest.raises(TypeError, match="contained in a list"):
        function(x, x)
    with pytest.raises(TypeError, match="shared variable"):
        function([w], w * 2)
    with pytest.raises(TypeError, match="Constants not allowed"):
        function([T.constant(1.0)], x, on_unused_input="ignore")
    with pytest.raises(UnusedInputError, match="used twice"):
        function([x, x], x)


def test_unused_inputs():
    x, y = T.dvector("x"), T.dvector("y")
    with pytest.raises(UnusedInputError, match="index 1.*y"):
        function([x, y], x * 2)
    with pytest.warns(UserWarning, match="index 1"):
        function([x, y], x * 2, on_unused_input="warn", mode="py")
    f = function([x, y], x * 2, on_unused_input="ignore", mode="py")
    assert f([1.0], [5.0]).tolist() == [2.0]
    with pytest.raises(ValueError, match="Valid values"):
        function([x], x, on_unused_input="maybe")


def test_missing_input_is_reported():
    x, y = T.dvector("x"), T.dvector("y")
    with pytest.raises(MissingInputError, match="y"):
        function([x], x + y)


def test_calling_conventions(mode):
    x, y = T.dvector("x"), T.dscalar("y")
    f = function([x, y], x * y, mode=mode, name="scale")
    assert f([1.0, 2.0], 3.0).tolist() == [3.0, 6.0]
    assert f(x=[1.0], y=2.0).tolist() == [2.0]
    assert f([1.0], y=4.0).tolist() == [4.0]
    with pytest.raises(TypeError, match="Too many"):
        f([1.0], 2.0, 3.0)
    with pytest.raises(TypeError, match="Unknown input or state: z.*2 named inputs"):
        f([1.0], z=2.0)
    with pytest.raises(TypeError, match="Multiple values for input: x"):
        f([1.0], 2.0, x=[1.0])
    with pytest.raises(TypeError, match="Missing required input: y"):
        f([1.0])


def test_argument_type_errors_name_the_input(mode):
    x = T.dmatrix("x")
    i = T.lvector("i")
    fx = T.fvector("fx")
    f = function([x, i, fx], [x * 2, i + 1, fx * 2], mode=mode, name="f")
    good = [np.ones((2, 2)), np.array([1, 2]), np.ones(2, dtype="float32")]
    with pytest.raises(TypeError, match=r'name "f" at index 0.*input x.*dimensions: expected 2, got 1'):
        f(np.ones(3), *good[1:])
    with pytest.raises(TypeError, match="input i"):
        f(good[0], np.array([1.5, 2.0]), good[2])
    with pytest.raises(TypeError, match="input fx.*float64.*loss of precision"):
        f(good[0], good[1], np.ones(2))
    g = function([fx], fx * 2, mode=mode, allow_input_downcast=True)
    assert g(np.array([1.0, 2.0])).dtype == np.float32
    # Python scalars and nested lists are converted by the input's rules
    assert f([[1, 2], [3, 4]], [1, 2], [0.5, 0.25])[0].tolist() == [[2, 4], [6, 8]]
    with pytest.raises(TypeError, match="input i"):
        f(good[0], [1.5], good[2])


def test_in_defaults_state_and_strict(mode):
    x = T.dscalar("x")
    s = T.dscalar("s")
    u = T.dscalar("u")
    inc = function([u, In(x, value=3.0), In(s, update=s + x * u, value=10.0)], [], mode=mode)
    inc(5.0)
    inc(3.0, 4.0)
    acc = function([u, In(x, value=3.0), In(s, update=s + x * u, value=10.0)], s * 1, mode=mode)
    assert float(acc(1.0)) == 10.0 and float(acc(1.0)) == 13.0
    strict = function([In(x, strict=True)], x * 2, mode=mode)
    assert float(strict(np.array(2.0))) == 4.0
    with pytest.raises(TypeError, match="strict"):
        strict(2)
    named = function([In(x, name="alpha")], x * 2, mode=mode)
    assert float(named(alpha=2.0)) == 4.0
    out = function([x], Out(x * 2, borrow=True), mode=mode)
    assert float(out(1.0)) == 2.0


def test_stateful_in_accumulates():
    x, s, u = T.dscalar("x"), T.dscalar("s"), T.dscalar("u")
    inc = function([u, In(x, value=3.0), In(s, update=s + x * u, value=10.0)], s + 0, mode="c")
    assert float(inc(5.0)) == 10.0          # returns the old state
    assert float(inc(3.0, 4.0)) == 25.0     # state became 10 + 3*5
    assert float(inc(0.0)) == 37.0          # 25 + 4*3, and x is back to its default 3


def test_invalid_mode():
    x = T.dvector("x")
    with pytest.raises(ValueError, match="Unknown mode"):
        function([x], x, mode="gpu")


# --- the compiled artefact --------------------------------------------------------------------

def test_c_source_and_module_path_are_exposed():
    import os
    x = T.dvector("x")
    weights = T.dvector("weights")
    f = function([x, weights], T.exp(x) * weights, name="weighted")
    assert "cg_array x, weights;" in f.c_source   # the inputs, named after the variables
    assert "Elemwise{Composite{mul(exp(i0), i1)}}" in f.c_source and "weighted" in f.c_source
    assert os.path.exists(f.module_path) and f.name == "weighted"
    assert function([x], x * 3, mode="py").c_source is None


# --- failures leave shared state alone -------------------------------------------------------

def test_failed_call_leaves_shared_values_unchanged(mode):
    w = shared(np.ones(3), name="w")
    x = T.dvector("x")
    f = function([x], (w * x).sum() if False else w * x, updates=[(w, w * x)], mode=mode)
    with pytest.raises(ValueError):
        f(np.ones(4))
    assert w.get_value().tolist() == [1.0, 1.0, 1.0]
    f(np.full(3, 2.0))
    assert w.get_value().tolist() == [2.0, 2.0, 2.0]
