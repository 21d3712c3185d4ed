"""Sums of broadcast products are factored (cgraph/rewrite/sum_product.py): the contractive
autoencoder's penalty and its gradient compute nothing of the broadcast product's size, and
give numpy's values."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from cgraph.rewrite.sum_product import factor_sum_of_product, product_factors
from util import assert_same


def penalty_graph(b, v, h, dtype):
    s, W = T.matrix("s", dtype=dtype), T.matrix("W", dtype=dtype)
    J = s.reshape((b, 1, h)) * W.reshape((1, v, h))
    cost = T.sum(J ** 2) / b
    return [s, W], [cost] + T.grad(cost, [s, W])


def penalty_numpy(s, W):
    """The penalty and its gradients as numpy computes them naively (J materialised)."""
    b, h = s.shape
    J = s.reshape((b, 1, h)) * W.reshape((1,) + W.shape)
    cost = np.sum(J ** 2) / b
    d_J = 2 * J / b
    return [cost, np.sum(d_J * W.reshape((1,) + W.shape), axis=1),
            np.sum(d_J * s.reshape((b, 1, h)), axis=0)]


def full_size_nodes(f, ndim=3):
    """Nodes of ``f``'s rewritten graph with an output spanning ``ndim`` axes at once."""
    return [str(n.op) for n in f.nodes for o in n.outputs
            if o.ndim >= ndim and sum(not bc for bc in o.broadcastable) >= ndim]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_penalty_and_its_gradient_build_no_three_dimensional_tensor(dtype):
    b, v, h = 4, 6, 5
    inputs, outputs = penalty_graph(b, v, h, dtype)
    f = cgraph.function(inputs, outputs)
    assert full_size_nodes(f) == []
    rng = np.random.default_rng(0)
    s, W = rng.random((b, h)).astype(dtype), rng.normal(size=(v, h)).astype(dtype)
    for got, want in zip(f(s, W), penalty_numpy(s, W)):
        assert_same(got, np.asarray(want, dtype=dtype), rtol=1e-5 if dtype == "float32" else 1e-12)


@settings(max_examples=10, deadline=None)
@given(b=st.sampled_from([1, 2, 5]), v=st.sampled_from([0, 1, 3]), h=st.sampled_from([0, 1, 4]),
       seed=st.integers(0, 2 ** 16))
@pytest.mark.slow   # many compiles: 12 s on 2 busy cores
def test_factored_values_match_numpy_on_edge_shapes(b, v, h, seed):
    inputs, outputs = penalty_graph(b, v, h, "float64")
    f = cgraph.function(inputs, outputs)
    rng = np.random.default_rng(seed)
    s, W = rng.normal(size=(b, h)), rng.normal(size=(v, h))
    for got, want in zip(f(s, W), penalty_numpy(s, W)):
        assert_same(got, np.asarray(want), rtol=1e-10)


def test_a_partial_sum_keeps_the_factor_that_does_not_depend_on_the_axis_outside():
    a, c = T.tensor3("a"), T.tensor3("c")
    a = T.patternbroadcast(a, (False, True, False))      # (n, 1, k)
    c = T.patternbroadcast(c, (True, False, False))      # (1, m, k)
    y = T.sum(T.exp(a) * c * 2.0, axis=1)
    f = cgraph.function([a.owner.inputs[0], c.owner.inputs[0]], y)
    assert full_size_nodes(f) == []
    rng = np.random.default_rng(1)
    av, cv = rng.normal(size=(3, 1, 4)), rng.normal(size=(1, 5, 4))
    assert_same(f(av, cv), np.sum(np.exp(av) * cv * 2.0, axis=1))


def test_a_sum_over_an_axis_every_factor_spans_is_left_alone():
    x, y = T.matrix("x"), T.matrix("y")
    node = T.sum(x * y, axis=0).owner
    assert factor_sum_of_product(node) is None
    assert product_factors(T.exp(x)) is None
    assert product_factors(T.imatrix("i") * T.imatrix("j")) is None     # integers: not touched


def test_second_of_a_factor_reads_only_its_shape():
    x = T.patternbroadcast(T.tensor3("x"), (False, True, False))
    w = T.patternbroadcast(T.tensor3("w"), (True, False, False))
    j = x * w
    factors = product_factors(T.second(j, T.constant(np.full((1, 1, 1), 0.5))) * j)
    assert [f.ndim for f in factors] == [3, 3, 3]
    assert not any(f.owner is not None and f.owner.op.__class__.__name__ == "Elemwise"
                   and f.owner.op.scalar_op.name == "second" for f in factors)


@pytest.mark.slow   # many compiles: 7 s on 2 busy cores
def test_the_factored_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)

    def penalty(s, W):
        J = s.reshape((3, 1, 4)) * W.reshape((1, 2, 4))
        return T.sum(J ** 2) / 3
    verify_grad(penalty, [rng.normal(size=(3, 4)), rng.normal(size=(2, 4))], rng=rng)
