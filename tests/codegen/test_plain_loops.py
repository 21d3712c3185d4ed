"""Elementwise loops that only copy or fill (a Gemm's z = bias, Elemwise{second}) run the
runtime's plain loops (cg_loop_copy1_B / cg_loop_fillK_B) instead of a generated kernel:
values against numpy for each element size, strided and broadcast operands, 0- and
1-length axes."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from util import check

rng = np.random.default_rng(5)


def _kernels(f):
    return [line for line in f.c_source.splitlines() if "int cg_loop_" in line]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gemm_bias_copy_strided_broadcast_and_edge_shapes(dtype):
    x, w = T.matrix("x", dtype=dtype), T.matrix("w", dtype=dtype)
    b = T.vector("b", dtype=dtype)
    biases = [b, b[::-1], b[0]]     # (one product each: a Gemm per function)
    for bias in biases:
        f = cgraph.function([x, w, b], T.dot(x, w) + bias)
        assert "cg_loop_copy1_" in f.c_source or "cg_loop_fill1_" in f.c_source
        assert _kernels(f) == []      # nothing left for the module to compile
    for m, k, n in [(4, 3, 5), (1, 1, 1), (0, 3, 5), (4, 0, 5), (4, 3, 1)]:
        X = rng.normal(size=(m, k)).astype(dtype)
        W = rng.normal(size=(k, n)).astype(dtype)
        B = rng.normal(size=n).astype(dtype)
        for bias, value in zip(biases, [B, B[::-1], B[0]]):
            check([x, w, b], T.dot(x, w) + bias, [X, W, B],
                  rtol=1e-5 if dtype == "float32" else 1e-12, expected=X @ W + value)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int16", "int8", "bool"])
def test_second_fills_with_the_scalar_for_every_element_size(dtype):
    x = T.tensor3("x", dtype=dtype)
    y = T.scalar("y", dtype=dtype)
    f = cgraph.function([x, y], T.second(x, y))
    assert "cg_loop_fill2_" in f.c_source and _kernels(f) == []
    for shape in [(2, 3, 4), (1, 1, 1), (0, 2, 3), (2, 1, 5)]:
        X = rng.normal(size=shape).astype(dtype)
        Y = np.asarray(3 if dtype != "bool" else True, dtype=dtype)
        check([x, y], T.second(x, y), [X[:, ::-1], Y],
              expected=np.full(shape, Y, dtype=dtype))


def test_a_loop_that_computes_keeps_its_kernel():
    x = T.dmatrix("x")
    f = cgraph.function([x], [T.second(x, 2.0) + x, T.cast(x, "float32")])
    assert len(_kernels(f)) >= 2     # add, and a cast (a change of type, not a copy)
    X = rng.normal(size=(3, 4))
    check([x], [T.second(x, 2.0) + x, T.cast(x, "float32")], [X],
          expected=[2.0 + X, X.astype("float32")])
