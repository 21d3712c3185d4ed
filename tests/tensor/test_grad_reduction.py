"""Gradients of the reductions against finite differences, and C against the reference."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.gradient import grad, verify_grad
from util import check

rng = np.random.default_rng(11)
X = rng.uniform(0.5, 1.5, size=(3, 4))


@pytest.mark.parametrize("name", ["sum", "mean", "prod", "max", "min", "var", "std"])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), ((0, 1), False)])
@pytest.mark.slow   # many compiles: 5 s on 2 busy cores
def test_reduction_gradients(name, axis, keepdims):
    verify_grad(lambda x: getattr(T, name)(x, axis=axis, keepdims=keepdims), [X], n_tests=1)


def test_prod_gradient_with_zeros():
    x = T.dvector("x")
    g = grad(T.prod(x), x)
    f = cgraph.function([x], g)
    np.testing.assert_allclose(f([2.0, 0.0, 3.0]), [0.0, 6.0, 0.0])
    np.testing.assert_allclose(f([0.0, 0.0, 3.0]), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(f([2.0, 4.0, 3.0]), [12.0, 6.0, 8.0])


def test_max_gradient_goes_to_every_tie_and_argmax_has_none():
    x = T.dvector("x")
    value, index = T.max_and_argmax(x)
    g = grad(T.max(x), x)
    g2 = grad(value + T.cast(index, "float64") * 0, x)
    f = cgraph.function([x], [g, g2])
    a, b = f([1.0, 3.0, 3.0, 2.0])
    assert a.tolist() == [0.0, 1.0, 1.0, 0.0] and b.tolist() == [0.0, 1.0, 1.0, 0.0]


@pytest.mark.slow   # many compiles: 5 s on 2 busy cores
def test_var_std_ddof_gradients():
    verify_grad(lambda x: T.var(x, axis=1, ddof=1), [X], n_tests=1)
    verify_grad(lambda x: T.std(x, ddof=1), [X], n_tests=1)


def test_gradient_graphs_c_equals_py():
    x = T.dmatrix("x")
    cost = T.sum(T.mean(x, axis=0) ** 2) + T.max(x) * T.prod(x[0]) + T.std(x)
    check([x], grad(cost, x), [X])


@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_float32_reduction_gradient():
    verify_grad(lambda x: T.mean(T.sum(x * x, axis=1)), [X.astype("float32")], n_tests=1)
