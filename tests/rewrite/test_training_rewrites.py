"""Rewrites that speed up training steps, against numpy: a value read only for its shape
(the RBM's free energy, needed only through its gradient) is no longer computed."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.rewrite.canonicalize import shape_i_of_computed, shape_read_of_reduction
from cgraph.tensor.reduction import Reduce
from cgraph.tensor.shape_ops import Shape_i
from cgraph.tensor.elemwise import Elemwise
from util import check, check_error

rng = np.random.default_rng(3)


def softplus(a):
    return np.logaddexp(0, a)


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def free_energy_gradients():
    """The RBM free energy's mean and its gradients, and numpy's values of them."""
    v, W, hb, vb = T.matrix("v"), T.matrix("W"), T.vector("hb"), T.vector("vb")
    wx_b = T.dot(v, W) + hb
    fe = -T.sum(T.log(1 + T.exp(wx_b)), axis=1) - T.dot(v, vb)
    grads = T.grad(T.mean(fe), [W, hb, vb])
    values = [rng.random((5, 7)), rng.normal(size=(7, 3)), rng.normal(size=3), rng.normal(size=7)]
    x, w, h, b = values
    s = sigmoid(x @ w + h)
    expected = [-x.T @ s / 5, -s.sum(0) / 5, -x.sum(0) / 5]
    return [v, W, hb, vb], fe, grads, values, expected


@pytest.mark.slow   # many compiles: 6 s on 2 busy cores
def test_gradient_of_a_mean_does_not_compute_the_value_for_its_shape():
    inputs, fe, grads, values, expected = free_energy_gradients()
    check(inputs, grads, values, expected=expected)
    f = cgraph.function(inputs, grads)
    reductions = [n for n in f.nodes if isinstance(n.op, Reduce)]
    # only the two bias gradients' column sums remain: the softplus sum is gone
    assert all(n.op.axis == (0,) for n in reductions), [str(n.op) for n in reductions]
    # with the value itself an output, it is computed, and the gradients stay right
    x, w, h, b = values
    fe_numpy = -softplus(x @ w + h).sum(1) - x @ b
    check(inputs, grads + [fe], values, expected=expected + [fe_numpy])


def test_shape_reads_move_to_the_inputs_the_lengths_come_from():
    x, W = T.matrix("x"), T.matrix("W")
    y = T.sum(T.exp(T.dot(x, W)), axis=1, keepdims=True).dimshuffle(1, 0)   # (1, rows)
    node = Shape_i(1)(y).owner
    # DimShuffle -> Reduce (kept axis) -> Elemwise -> Dot -> x's rows
    for _ in range(4):
        (out,) = shape_i_of_computed(node)
        node = out.owner
    assert node.inputs[0] is x and node.op.i == 0
    # a broadcastable axis has length 1
    (one,) = shape_i_of_computed(Shape_i(0)(y).owner)
    assert one.data == 1
    # an Elemwise that may fail (integer division) keeps its length read
    i, j = T.lvector("i"), T.lvector("j")
    assert shape_i_of_computed(Shape_i(0)(i // j).owner) is None
    # second and SumToShape of a reduction read zeros of its shape instead
    s = T.sum(T.exp(x), axis=1)
    assert shape_read_of_reduction(T.second(s, 1.0).owner) is not None
    assert shape_read_of_reduction(T.second(x, 1.0).owner) is None
    # the lengths, once computed, are right (3 rows)
    values = [rng.random((3, 4)), rng.random((4, 2))]
    check([x, W], [Shape_i(1)(y), T.second(s, 2.0), T.grad(T.mean(T.sum(T.exp(x), axis=1)), x)],
          values[:1] + values[1:],
          expected=[np.int64(3), np.full(3, 2.0), np.exp(values[0]) / 3])


@pytest.mark.slow   # many compiles: 4 s on 2 busy cores
def test_binomial_fast_path_against_a_loop():
    """One n for every sample, contiguous p and uniforms: the RBM's binomial(n=1, p)."""
    import cgraph.tensor.random as rnd
    from util import binomial_loop, check_error
    u1, u3, n, p = T.dtensor3("u1"), T.dtensor3("u3"), T.lmatrix("n"), T.dmatrix("p")
    uv1, uv3, pv = rng.random((4, 5, 1)), rng.random((4, 5, 3)), rng.random((4, 5))
    one, three = np.ones((1, 1), dtype=np.int64), np.full((1, 1), 3, dtype=np.int64)
    outs = [rnd.BinomialFromUniform("float64", 2)(u1, n, p),
            rnd.BinomialFromUniform("int64", 2)(u3, n + 2, p),
            rnd.BinomialFromUniform("int64", 2)(u3, n + 2, p.T.T[:, ::-1])]   # strided p
    check([u1, u3, n, p], outs, [uv1, uv3, one, pv],
          expected=[binomial_loop(uv1, one, pv).astype("float64"),
                    binomial_loop(uv3, three, pv), binomial_loop(uv3, three, pv[:, ::-1])])
    bad = pv.copy()
    bad[2, 3] = 1.5
    check_error([u1, n, p], outs[0], [uv1, one, bad], ValueError, match="p > 1")
    check_error([u1, n, p], outs[0], [uv1, three, pv], ValueError, match="needs more than")


def test_shape_entries_read_as_lengths():
    """x.shape[k] (a constant k, negative counting from the end) is Shape_i{k}(x), whose
    length then comes from what x is computed from: exp(x W) is not computed for it."""
    from cgraph.rewrite.canonicalize import shape_entry_of_shape
    from cgraph.tensor.shape_queries import Shape
    x, W = T.matrix("x"), T.matrix("W")
    y = T.exp(T.dot(x, W))
    (rows,) = shape_entry_of_shape(y.shape[-2].owner)
    assert isinstance(rows.owner.op, Shape_i) and rows.owner.op.i == 0
    assert shape_entry_of_shape(y.shape[1:].owner) is None        # a slice stays
    outs = [y.shape[0], y.shape[-1], y.shape[0] * y.shape[1]]
    f = cgraph.function([x, W], outs)
    assert not any(isinstance(n.op, (Shape, Elemwise)) and n.outputs[0].ndim == 2
                   for n in f.nodes), [str(n.op) for n in f.nodes]
    values = [rng.random((3, 4)), rng.random((4, 2))]
    check([x, W], outs, values, expected=[np.int64(3), np.int64(2), np.int64(6)])
    # an index out of range still fails at run time, in both modes
    check_error([x, W], y.shape[2], values, IndexError)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_second_beside_a_value_of_its_shape_reads_no_product(dtype):
    """second(x W + b, g) * sigmoid(x W + b) (softplus's gradient) -> g * sigmoid(x W + b):
    the product is read once, by the sigmoid, which becomes the Gemm's epilogue; values as
    numpy's, and where the other operand is not of x's shape, second stays."""
    from cgraph.tensor.blas_epilogue import GemmEpilogue
    x, W = T.matrix("x", dtype=dtype), T.matrix("W", dtype=dtype)
    b, g, r = T.vector("b", dtype=dtype), T.matrix("g", dtype=dtype), T.matrix("r", dtype=dtype)
    pre = T.dot(x, W) + b
    outs = [T.second(pre, g) * T.nnet.sigmoid(pre),
            T.nnet.sigmoid(pre), T.second(pre, g) * r]   # r: (1, n), not pre's shape
    rtol = 1e-5 if dtype == "float32" else None
    f = cgraph.function([x, W, b, g], outs[:2])
    assert sum(isinstance(n.op, GemmEpilogue) for n in f.nodes) == 1, \
        [str(n.op) for n in f.nodes]
    xv, Wv, bv = (rng.normal(size=s).astype(dtype) for s in ((5, 4), (4, 3), (3,)))
    for gv, rv in ((rng.normal(size=(5, 1)), rng.normal(size=(1, 3))),
                   (rng.normal(size=(1, 1)), rng.normal(size=(1, 1))),
                   (rng.normal(size=(5, 3)), rng.normal(size=(1, 3)))):
        gv, rv = gv.astype(dtype), rv.astype(dtype)
        s = sigmoid(xv @ Wv + bv)
        full = np.broadcast_to(gv, s.shape)
        check([x, W, b, g, r], outs, [xv, Wv, bv, gv, rv], rtol=rtol,
              expected=[full * s, s, full * rv])
    # shapes that do not broadcast still fail, as second would
    check_error([x, W, b, g], outs[0], [xv, Wv, bv, rng.normal(size=(2, 3)).astype(dtype)],
                ValueError)


@pytest.mark.slow   # verify_grad compiles several modules
def test_softplus_layer_gradient_with_its_epilogue():
    from cgraph.gradient import verify_grad
    xv = rng.random((4, 5))

    def cost(W, b):
        return T.sum(T.nnet.softplus(T.dot(T.constant(xv), W) + b))
    verify_grad(cost, [rng.normal(size=(5, 3)), rng.normal(size=3)])
