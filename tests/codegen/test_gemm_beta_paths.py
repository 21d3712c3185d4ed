"""A Gemm updating W in place with beta != 1 (weight decay, tests/rewrite/test_gemm_decay.py):
W is already in the output's buffer, so the loop is skipped and the product scales it
(cg_<p>gemm_node's c_beta). Every product path must honour that beta: BLAS, the small kernel's
variants, the skinny kinds (m, n and the k kind of x.T d), the narrow kernel; and beta = 0 or
alpha = 0, which go through a scaling pass first (NaN in W still reaches the result).
Values against the reference mode and numpy.
"""
import ctypes

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph import gemm_tuning, runtime_library
from test_gemm_variants import lib, restore_variants  # noqa: F401 (fixtures)
from util import assert_clean_build, assert_same

rng = np.random.default_rng(5)
LR, L2 = 0.01, 0.25     # a large decay, so that a beta ignored or applied twice shows


def _functions(dtype, make_update):
    """(C, reference) functions of (a, b) updating their own shared W in place."""
    out = []
    for mode in ("c", "py"):
        W = cgraph.shared(np.zeros((1, 1), dtype=dtype), name="W")
        a, b = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype)
        f = cgraph.function([a, b], [], updates=[(W, make_update(W, a, b))], mode=mode)
        out.append((f, W))
    assert_clean_build(out[0][0])
    assert out[0][0]._runner.inplace, "the update is written into W's buffer"
    return out


def _check(functions, w, a, b, expected, what, tol):
    got = []
    for f, W in functions:
        W.set_value(w.copy())
        f(a, b)
        got.append(W.get_value())
    assert_same(got[0], got[1], rtol=tol, what=f"{what}: C vs reference")
    assert_same(got[1], expected.astype(w.dtype), rtol=tol, what=f"{what}: reference vs numpy")


def _decay(W, a, b):
    lr, l2 = (np.asarray(c, dtype=W.dtype) for c in (LR, L2))
    return W - lr * (T.dot(a, b) + l2 * W)


def _decay_t(W, a, b):      # x.T d: the k kind's form (a weight gradient over a minibatch)
    lr, l2 = (np.asarray(c, dtype=W.dtype) for c in (LR, L2))
    return W - lr * (T.dot(a.T, b) + l2 * W)


def _operands(dtype, m, n, k, transposed):
    a = rng.standard_normal((k, m) if transposed else (m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    w = rng.standard_normal((m, n)).astype(dtype)
    product = (a.T if transposed else a).astype(np.float64) @ b
    return a, b, w, w - LR * (product + L2 * w.astype(np.float64))


def _tol(dtype, k):
    return (2e-6 if dtype == "float32" else 1e-14) * max(k, 8) * 4


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_small_kernel_variants_and_blas(lib, dtype, monkeypatch, restore_variants):
    functions = _functions(dtype, _decay)
    record = gemm_tuning.choose(lib, runtime_library.runtime().key)
    for name in gemm_tuning.variant_names(lib) + ["BLAS"]:
        monkeypatch.setenv("CGRAPH_GEMM_VARIANT", name)
        gemm_tuning.apply(lib, record)
        # tile tails, one row, one column, a single element, the narrow kernel's (n <= 12)
        for m, n, k in [(16, 64, 64), (13, 37, 9), (1, 17, 1), (9, 1, 5), (1, 1, 1),
                        (70, 10, 100), (500, 10, 20), (120, 150, 90)]:
            a, b, w, expected = _operands(dtype, m, n, k, False)
            _check(functions, w, a, b, expected, f"{name} at {(m, n, k)}", _tol(dtype, k))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_skinny_kinds(lib, dtype, restore_variants):
    """Products past the small limit with one side <= 32, each kind by each variant and by
    BLAS (-1); the k kind (x.T d) also with W3's first layer."""
    plain, transposed = _functions(dtype, _decay), _functions(dtype, _decay_t)
    setter = getattr(lib, f"cg_set_{'s' if dtype == 'float32' else 'd'}gemm_skinny_variant")
    setter.argtypes, setter.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    lib.cg_set_gemm_skinny_threads.argtypes = [ctypes.c_int]
    assert lib.cg_set_gemm_skinny_threads(1) == 1      # (the modules run on one thread)
    for variant in [-1] + list(range(len(gemm_tuning.variant_names(lib)))):
        for kind in range(3):
            assert setter(kind, variant) == 1
        for functions, t, shapes in [
                (plain, False, [(21, 301, 401), (401, 10, 601), (20, 500, 784)]),
                (transposed, True, [(784, 500, 20), (333, 401, 19), (57, 70, 13)])]:
            for m, n, k in shapes:
                a, b, w, expected = _operands(dtype, m, n, k, t)
                _check(functions, w, a, b, expected, f"variant {variant} at {(m, n, k)}",
                       _tol(dtype, k))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_beta_zero_and_alpha_zero_scale_first(dtype):
    """beta = 0 (BLAS would ignore W) and alpha = 0 (the product through a temporary): W is
    scaled before the product, so NaN and inf in W reach the result as in numpy."""
    zero = np.asarray(0, dtype=dtype)
    half = np.asarray(0.5, dtype=dtype)
    lr = np.asarray(LR, dtype=dtype)
    cases = {"beta 0": (lambda W, a, b: W * zero - lr * T.dot(a, b),
                        lambda w, p: w * 0 - LR * p),
             "alpha 0": (lambda W, a, b: W * half - zero * T.dot(a, b),
                         lambda w, p: w * 0.5 - 0 * p)}
    for name, (make, numpy_form) in cases.items():
        functions = _functions(dtype, make)
        for m, n, k in [(13, 37, 9), (120, 150, 90), (1, 1, 1)]:
            a, b, w, _ = _operands(dtype, m, n, k, False)
            w.flat[0], w.flat[-1] = np.nan, np.inf
            with np.errstate(invalid="ignore"):
                expected = numpy_form(w.astype(np.float64), a.astype(np.float64) @ b)
            _check(functions, w, a, b, expected, f"{name} at {(m, n, k)}", _tol(dtype, k))
