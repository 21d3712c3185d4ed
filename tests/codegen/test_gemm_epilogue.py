"""GemmEpilogue (cgraph/tensor/blas_epilogue.py, cgraph/rewrite/gemm_epilogue.py): an
elementwise loop (tanh, sigmoid, ReLU, a fused Composite with other operands) over a Gemm's
result that nothing else reads is one node, whose values are the two nodes' (the numpy
reference mode's), in both float dtypes, on edge and strided shapes, in a scan's step, with
gradients."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from cgraph.tensor.blas import Gemm
from cgraph.tensor.blas_epilogue import GemmEpilogue

from util import assert_clean_build

RTOL = {"float64": 1e-12, "float32": 1e-5}


def _ops(f):
    return [type(n.op) for n in f.nodes]


def _close(got, want, dtype):
    assert got.dtype == want.dtype == dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_tanh_of_a_gemm_is_one_node_with_the_reference_values(dtype):
    a, z = T.matrix("a", dtype=dtype), T.matrix("z", dtype=dtype)
    b1, b2, b3 = (T.matrix(n, dtype=dtype) for n in ("b1", "b2", "b3"))
    c, v = T.vector("c", dtype=dtype), T.vector("v", dtype=dtype)
    s = T.scalar("s", dtype=dtype)
    # (products of their own: a product read by two expressions is no Gemm)
    exprs = [T.tanh(T.dot(a, b1) + c),                  # a bias row in every row
             T.tanh(z - s * T.dot(a, b2)),              # alpha and beta
             T.tanh(T.dot(a, b3) * 2 + z * z),          # z computed in the Gemm's loop
             T.tanh(T.dot(a, v) + s)]                   # matrix times vector (gemv)
    ins = [a, b1, b2, b3, z, c, v, s]
    f = cgraph.function(ins, exprs)
    f_py = cgraph.function(ins, exprs, mode="py")
    assert _ops(f).count(GemmEpilogue) == 4 and Gemm not in _ops(f)
    assert_clean_build(f)
    rng = np.random.default_rng(0)

    def check(A, Bs, Z, C, V, S):
        for got, want in zip(f(A, *Bs, Z, C, V, S), f_py(A, *Bs, Z, C, V, S)):
            _close(got, want, dtype)

    def arr(*shape):
        return rng.standard_normal(shape).astype(dtype)

    # (m, k, n): tiles with tails, one row or column, an empty product, an empty inner axis
    for m, k, n in [(16, 64, 64), (7, 5, 19), (1, 3, 1), (0, 4, 3), (3, 0, 2), (2, 3, 0)]:
        check(arr(m, k), [arr(k, n) for _ in range(3)], arr(m, n), arr(n), arr(k),
              np.asarray(0.5, dtype))
    # strided operands: transposed b's, every other row of a
    check(arr(10, 6)[::2], [arr(7, 6).T for _ in range(3)], arr(5, 7), arr(7), arr(6),
          np.asarray(-1.5, dtype))
    # large values saturate to +-1, NaN passes through
    Z = np.full((5, 7), 1e4, dtype)
    Z[0, 0], Z[1, 1] = -1e4, np.nan
    got = f(arr(5, 6), *[arr(6, 7) for _ in range(3)], Z, arr(7), arr(6),
            np.asarray(0.5, dtype))[1]
    assert got[0, 0] == -1 and got[2, 3] == 1 and np.isnan(got[1, 1])


def test_a_gemm_read_elsewhere_or_returned_is_left_alone():
    a, b, c = T.dmatrix("a"), T.dmatrix("b"), T.dvector("c")
    pre = T.dot(a, b) + c
    for outs, fused in (([T.tanh(pre), pre * 2], False), ([T.tanh(pre), pre], False),
                        # one loop reading the product once per element: fused
                        ([T.tanh(pre) * pre], True)):
        f = cgraph.function([a, b, c], outs)
        assert (GemmEpilogue in _ops(f)) == fused and (Gemm in _ops(f)) != fused
        A, B, C = np.ones((2, 3)), np.full((3, 4), 0.1), np.arange(4.0)
        want = cgraph.function([a, b, c], outs, mode="py")(A, B, C)
        for got, w in zip(f(A, B, C), want):
            np.testing.assert_allclose(got, w, rtol=1e-12)
    # a float32 tanh of a float64 product computes in another dtype: not fused
    f = cgraph.function([a, b, c], T.tanh(T.cast(T.dot(a, b) + c, "float32")))
    assert GemmEpilogue not in _ops(f)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_recurrent_step_in_a_scan_matches_the_reference(dtype):
    """W7's layer: h_t = tanh(x_t W + h_{t-1} U + b), every h_t, and its BPTT gradient."""
    x = T.tensor3("x", dtype=dtype)
    W, U = T.matrix("W", dtype=dtype), T.matrix("U", dtype=dtype)
    b = T.vector("b", dtype=dtype)
    h0 = T.zeros((x.shape[1], U.shape[0]), dtype=dtype)
    hs, _ = cgraph.scan(lambda x_t, h: T.tanh(T.dot(x_t, W) + T.dot(h, U) + b),
                        sequences=[x], outputs_info=[h0])
    loss = T.sum(hs ** 2)
    outs = [hs, loss] + T.grad(loss, [W, U, b])
    f = cgraph.function([x, W, U, b], outs)
    assert "_inplace((" in f.c_source      # the call in the step (the header defines it)
    assert_clean_build(f)
    f_py = cgraph.function([x, W, U, b], outs, mode="py")
    rng = np.random.default_rng(1)
    for steps, batch, n_in, hidden in [(6, 16, 8, 64), (3, 1, 2, 17), (1, 5, 3, 1)]:
        args = [rng.standard_normal((steps, batch, n_in)).astype(dtype),
                (rng.standard_normal((n_in, hidden)) / 3).astype(dtype),
                (rng.standard_normal((hidden, hidden)) / 9).astype(dtype),
                rng.standard_normal(hidden).astype(dtype)]
        for got, want in zip(f(*args), f_py(*args)):
            np.testing.assert_allclose(got, want, rtol=50 * RTOL[dtype],
                                       atol=50 * RTOL[dtype])


def test_gradient_through_the_fused_layer():
    rng = np.random.default_rng(2)
    pt = [rng.standard_normal((4, 3)), rng.standard_normal((3, 5)) / 2, rng.standard_normal(5)]
    verify_grad(lambda a, b, c: T.tanh(T.dot(a, b) + c), pt, rng=rng)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_other_loops_over_a_gemm_are_one_node_with_the_reference_values(dtype):
    a, z = T.matrix("a", dtype=dtype), T.matrix("z", dtype=dtype)
    b1, b2, b3, b4 = (T.matrix(n, dtype=dtype) for n in ("b1", "b2", "b3", "b4"))
    c, d = T.vector("c", dtype=dtype), T.vector("d", dtype=dtype)
    exprs = [T.nnet.sigmoid(T.dot(a, b1) + c),             # an RBM's hidden layer
             T.maximum(T.dot(a, b2) + c, 0),                # ReLU
             T.tanh(T.dot(a, b3) + c) * d + z,              # a Composite with other operands
             T.exp(d - T.dot(a, b4))]                       # the product not first
    ins = [a, b1, b2, b3, b4, z, c, d]
    f = cgraph.function(ins, exprs)
    f_py = cgraph.function(ins, exprs, mode="py")
    assert _ops(f).count(GemmEpilogue) == 4 and Gemm not in _ops(f)
    assert "in place */" in f.c_source and "cg_loop_epilogue" in f.c_source
    assert_clean_build(f)
    rng = np.random.default_rng(3)

    def arr(*shape):
        return rng.standard_normal(shape).astype(dtype)

    for m, k, n in [(16, 64, 64), (7, 5, 19), (1, 3, 1), (0, 4, 3), (3, 0, 2), (2, 3, 0)]:
        args = [arr(m, k)] + [arr(k, n) for _ in range(4)] + [arr(m, n), arr(n), arr(n)]
        for got, want in zip(f(*args), f_py(*args)):
            _close(got, want, dtype)
    # strided operands
    args = [arr(10, 6)[::2]] + [arr(7, 6).T for _ in range(4)] + [arr(5, 14)[:, ::2],
                                                                   arr(7), arr(14)[::2]]
    for got, want in zip(f(*args), f_py(*args)):
        _close(got, want, dtype)


def test_an_operand_broadcasting_the_product_gets_a_buffer_of_its_own():
    """z (5, 4) + the product (5, 1) (lengths known only when called): the loop's result is
    larger than the product, so it is not written over it (cg_pool_dest compares the
    shapes)."""
    a, b, c, z = T.dmatrix("a"), T.dmatrix("b"), T.dmatrix("c"), T.dmatrix("z")
    out = T.tanh(T.dot(a, b) + c) + z
    f = cgraph.function([a, b, c, z], out)
    assert GemmEpilogue in _ops(f)
    f_py = cgraph.function([a, b, c, z], out, mode="py")
    rng = np.random.default_rng(4)
    args = [rng.standard_normal((5, 3)), rng.standard_normal((3, 1)),
            rng.standard_normal((5, 1)), rng.standard_normal((5, 4))]
    got, want = f(*args), f_py(*args)
    assert got.shape == want.shape == (5, 4)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_sigmoid_layer_in_a_scan_step_writes_its_rows():
    """The step's result is the epilogue's: the product goes to the scan's row and the loop
    runs over it there."""
    x = T.tensor3("x")
    W, U, b = T.dmatrix("W"), T.dmatrix("U"), T.dvector("b")
    h0 = T.zeros((x.shape[1], U.shape[0]))
    hs, _ = cgraph.scan(lambda x_t, h: T.nnet.sigmoid(T.dot(x_t, W) + T.dot(h, U) + b),
                        sequences=[x], outputs_info=[h0])
    f = cgraph.function([x, W, U, b], hs)
    assert "pool.dest_of = &cg_product" in f.c_source
    f_py = cgraph.function([x, W, U, b], hs, mode="py")
    rng = np.random.default_rng(5)
    for steps, batch, n_in, hidden in [(5, 4, 3, 6), (1, 1, 2, 1)]:
        args = [rng.standard_normal((steps, batch, n_in)), rng.standard_normal((n_in, hidden)),
                rng.standard_normal((hidden, hidden)) / 3, rng.standard_normal(hidden)]
        np.testing.assert_allclose(f(*args), f_py(*args), rtol=1e-12, atol=1e-14)


def test_gradient_through_a_sigmoid_and_a_relu_layer():
    rng = np.random.default_rng(6)
    pt = [rng.standard_normal((4, 3)), rng.standard_normal((3, 5)) / 2, rng.standard_normal(5)]
    verify_grad(lambda a, b, c: T.nnet.sigmoid(T.dot(a, b) + c), pt, rng=rng)
    # (ReLU away from its kink: no product within the finite difference's step of 0)
    pt = [np.abs(pt[0]) + 0.5, np.abs(pt[1]) + 0.5, np.abs(pt[2])]
    verify_grad(lambda a, b, c: T.maximum(T.dot(a, b) + c, 0), pt, rng=rng)
