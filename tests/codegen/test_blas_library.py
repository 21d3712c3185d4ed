"""The BLAS library behind compiled products: gemm, gemv and dot from numpy's own OpenBLAS
(ILP64, reached through size-widening wrappers; dot through CBLAS) when it is found, scipy's
with CGRAPH_BLAS=scipy.
Both give numpy's results on the training-step shapes (skinny and transposed operands)."""
import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.blas_pointers import _numpy_openblas, blas_pointers, blas_thread_control
from util import assert_clean_build

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def products(dtype):
    """A function of every product kind (gemm N/T on either side, gemv both ways, a fused
    update W - lr * x.T d) and the numpy values it must give."""
    rng = np.random.default_rng(1)
    x = rng.random((60, 78)).astype(dtype)       # a logistic-regression batch, scaled down
    w = rng.random((78, 10)).astype(dtype)
    d = rng.random((60, 10)).astype(dtype)
    v = rng.random(78).astype(dtype)
    tx, tw, td, tv = (T.matrix("x", dtype=dtype), T.matrix("w", dtype=dtype),
                      T.matrix("d", dtype=dtype), T.vector("v", dtype=dtype))
    lr = np.asarray(0.13, dtype=dtype)
    outputs = [T.dot(tx, tw), T.dot(tx.T, td), T.dot(td, tw.T), T.dot(tx, tv), T.dot(tv, tw),
               tw - T.cast(0.13, dtype) * T.dot(tx.T, td + 1),
               T.dot(tv, tv), T.dot(tv[::-2], tv[1::2])]       # sdot/ddot, strided too
    expected = [x @ w, x.T @ d, d @ w.T, x @ v, v @ w, w - lr * (x.T @ (d + 1)),
                v @ v, v[::-2] @ v[1::2]]
    return [tx, tw, td, tv], outputs, [x, w, d, v], expected


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_products_match_numpy_through_the_loaded_library(dtype):
    inputs, outputs, values, expected = products(dtype)
    f = cgraph.function(inputs, outputs)
    assert_clean_build(f)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for got, want in zip(f(*values), expected):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol)


def test_numpy_openblas_is_preferred_when_found():
    if _numpy_openblas() is None:
        pytest.skip("numpy's OpenBLAS is not an ILP64 scipy-openblas build here")
    if os.environ.get("CGRAPH_BLAS") == "scipy":
        pytest.skip("CGRAPH_BLAS=scipy is set")
    pointers, ilp64 = blas_pointers()
    assert ilp64 and len(pointers) == 6 and all(pointers)


def test_products_below_the_thread_size_give_numpy_its_blas_threads_back():
    """A product too small for BLAS's threads (200^3 multiply-adds: past the small kernels,
    below CG_BLAS_THREAD_MACS) runs OpenBLAS on one thread, numpy's count lowered during the
    call: afterwards numpy has its count again, whatever it was."""
    control = blas_thread_control()
    if control is None:
        pytest.skip("BLAS is not numpy's OpenBLAS here: its threads are left alone")
    get = ctypes.CFUNCTYPE(ctypes.c_int)(control[0])
    set_threads = ctypes.CFUNCTYPE(None, ctypes.c_int)(control[1])
    a, b = T.dmatrix("a"), T.dmatrix("b")
    f = cgraph.function([a, b], T.dot(a, b))
    x = np.random.default_rng(2).random((200, 200))
    before = get()
    try:
        for threads in (2, 1):
            set_threads(threads)
            np.testing.assert_allclose(f(x, x.T), x @ x.T, rtol=1e-12)
            assert get() == threads
    finally:
        set_threads(before)


def test_scipy_library_on_request_gives_the_same_values():
    program = ("import numpy as np, cgraph, sys\n"
               "sys.path[:0] = ['tests', 'tests/codegen']\n"
               "from test_blas_library import products\n"
               "from cgraph.blas_pointers import blas_pointers\n"
               "assert blas_pointers()[1] is False\n"
               "inputs, outputs, values, expected = products('float64')\n"
               "f = cgraph.function(inputs, outputs)\n"
               "for got, want in zip(f(*values), expected):\n"
               "    np.testing.assert_allclose(got, want, rtol=1e-12)\n"
               "print('ok')\n")
    env = dict(os.environ, CGRAPH_BLAS="scipy", PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-c", program], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
