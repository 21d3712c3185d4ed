"""GemmTanh (cgraph/tensor/blas_epilogue.py, cgraph/rewrite/gemm_epilogue.py): tanh of a Gemm
that nothing else reads is one node, whose values are the two nodes' (the numpy reference
mode's), in both float dtypes, on edge and strided shapes, in a scan's step, with gradients."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from cgraph.tensor.blas import Gemm
from cgraph.tensor.blas_epilogue import GemmTanh

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
    assert _ops(f).count(GemmTanh) == 4 and Gemm not in _ops(f)
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
    for outs in ([T.tanh(pre), pre * 2], [T.tanh(pre), pre], [T.tanh(pre) * pre]):
        f = cgraph.function([a, b, c], outs)
        assert GemmTanh not in _ops(f) and Gemm in _ops(f)
        A, B, C = np.ones((2, 3)), np.full((3, 4), 0.1), np.arange(4.0)
        want = cgraph.function([a, b, c], outs, mode="py")(A, B, C)
        for got, w in zip(f(A, B, C), want):
            np.testing.assert_allclose(got, w, rtol=1e-12)
    # a float32 tanh of a float64 product computes in another dtype: not fused
    f = cgraph.function([a, b, c], T.tanh(T.cast(T.dot(a, b) + c, "float32")))
    assert GemmTanh not in _ops(f)


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
