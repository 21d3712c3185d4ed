"""Tensor variables' operators and methods call functions that the modules defining them
register in cgraph.tensor.var's table (var imports none of them: they import var)."""
import importlib

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T

var = importlib.import_module("cgraph.tensor.var")   # T.var is the variance


def test_every_operation_is_registered_by_its_module():
    assert var._UFUNC_NAMES <= set(var.OPERATION_MODULES)   # numpy's ufuncs on variables
    for name, module in var.OPERATION_MODULES.items():
        function = getattr(var._ops, name)
        assert function.__module__ == f"cgraph.tensor.{module}", (name, function.__module__)


def test_an_operation_not_yet_registered_names_its_module():
    with pytest.raises(RuntimeError, match="cgraph.tensor.subtensor"):
        var._Operations().getitem
    with pytest.raises(AttributeError):
        var._Operations().no_such_operation


def test_a_module_without_operations_cannot_register():
    with pytest.raises(ValueError, match="cgraph.tensor.blas registers no operation"):
        var.register_operations("cgraph.tensor.blas", {})


def test_operators_and_methods_compute_numpys_values():
    x = T.dmatrix("x")
    v = np.arange(6.0).reshape(2, 3) - 2.5
    outputs = [x + 1, 2 - x, x @ x.T, x[1], x.sum(axis=0), x.sort(), x.cumsum(),
               x.nonzero_values(), np.exp(x), abs(x), x.T, x.reshape((3, 2)), x.shape]
    expected = [v + 1, 2 - v, v @ v.T, v[1], v.sum(axis=0), np.sort(v), np.cumsum(v),
                v[np.nonzero(v)], np.exp(v), abs(v), v.T, v.reshape(3, 2), np.array(v.shape)]
    f = cgraph.function([x], outputs)
    for got, want in zip(f(v), expected):
        np.testing.assert_allclose(got, want)
        assert np.asarray(got).dtype == np.asarray(want).dtype


def test_a_tensor_type_makes_tensor_variables():
    assert isinstance(T.TensorType("float64", (False,))("v"), T.TensorVariable)
