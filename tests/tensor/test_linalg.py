"""Linear algebra through LAPACK (T.nlinalg.matrix_inverse, det; T.slinalg.cholesky, solve)
against numpy/scipy: float64, float32 and integer inputs, strided views, 0x0 and 1x1
matrices, singular and non-square errors (numpy.linalg.LinAlgError, as numpy), gradients
with verify_grad, and both LAPACK libraries (numpy's ILP64 OpenBLAS, scipy's LP64)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from cgraph.tensor import nlinalg, slinalg
from util import assert_clean_build

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOL = {"float64": 1e-8, "float32": 2e-3}


def all_ops(A, b, B):
    """Every op on A (and A read transposed, a strided view), b and B."""
    spd = T.dot(A, A.T) + 4 * T.eye(A.shape[0], dtype=A.dtype)
    return [nlinalg.matrix_inverse(A), nlinalg.det(A), nlinalg.matrix_inverse(A.T),
            slinalg.cholesky(spd), slinalg.Cholesky(lower=False)(spd),
            slinalg.solve(A, b), slinalg.solve(A.T, B), slinalg.solve_lower_triangular(A, B),
            slinalg.solve_upper_triangular(A, b), slinalg.Solve("symmetric")(spd, b)]


def expected_of(a, bv, Bv):
    spd = a @ a.T + 4 * np.eye(len(a))
    return [np.linalg.inv(a), np.linalg.det(a), np.linalg.inv(a.T),
            np.linalg.cholesky(spd), np.linalg.cholesky(spd).T,
            np.linalg.solve(a, bv), np.linalg.solve(a.T, Bv),
            scipy.linalg.solve_triangular(a, Bv, lower=True),
            scipy.linalg.solve_triangular(a, bv, lower=False), np.linalg.solve(spd, bv)]


_compiled = {}


def compiled(dtype):
    if dtype not in _compiled:
        A = T.TensorType(dtype, (False, False))("A")
        b = T.TensorType(dtype, (False,))("b")
        B = T.TensorType(dtype, (False, False))("B")
        outs = all_ops(A, b, B)
        f_c = cgraph.function([A, b, B], outs)
        assert_clean_build(f_c)
        _compiled[dtype] = (f_c, cgraph.function([A, b, B], outs, mode="py"))
    return _compiled[dtype]


def well_conditioned(rng, n, dtype):
    return (rng.normal(size=(n, n)) + n * np.eye(n)).astype(dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.slow   # many compiles: 5 s on 2 busy cores
def test_values_match_numpy(dtype):
    rng = np.random.default_rng(0)
    f_c, f_py = compiled(dtype)
    for n in [1, 2, 5, 0]:
        a = well_conditioned(rng, n, dtype)
        bv, Bv = rng.normal(size=n).astype(dtype), rng.normal(size=(n, 3)).astype(dtype)
        expected = expected_of(a.astype("float64"), bv.astype("float64"), Bv.astype("float64"))
        for f in (f_c, f_py):
            for k, (got, e) in enumerate(zip(f(a, bv, Bv), expected)):
                assert got.dtype == dtype and got.shape == np.shape(e), (k, got.dtype, got.shape)
                np.testing.assert_allclose(got, e, rtol=TOL[dtype], atol=TOL[dtype],
                                           err_msg=f"output {k}, n={n}, mode {f.mode}")


@settings(deadline=None, derandomize=True, database=None, max_examples=30,
          suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(0, 6), k=st.integers(0, 3), seed=st.integers(0, 2 ** 32 - 1))
@pytest.mark.slow   # many compiles: 4 s on 2 busy cores
def test_random_systems_match_numpy(n, k, seed):
    rng = np.random.default_rng(seed)
    f_c, f_py = compiled("float64")
    a = well_conditioned(rng, n, "float64")
    bv, Bv = rng.normal(size=n), rng.normal(size=(n, k))
    expected = expected_of(a, bv, Bv)
    for got, want in zip(f_c(a, bv, Bv), f_py(a, bv, Bv)):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8)
    for got, want in zip(f_c(a, bv, Bv), expected):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8)


def test_integer_inputs_become_float64_and_types():
    m = T.imatrix("m")
    assert nlinalg.matrix_inverse(m).dtype == "float64"
    assert nlinalg.det(T.fmatrix()).type == T.fscalar().type
    assert slinalg.solve(T.fmatrix(), T.dvector()).dtype == "float64"
    assert slinalg.solve(T.fmatrix(), T.fmatrix()).dtype == "float32"
    assert slinalg.solve(T.dmatrix(), T.drow()).broadcastable == (True, False)
    a = np.array([[2, 1], [1, 3]], dtype="int32")
    for mode in ("c", "py"):
        f = cgraph.function([m], [nlinalg.matrix_inverse(m), nlinalg.det(m)], mode=mode)
        inv, d = f(a)
        np.testing.assert_allclose(inv, np.linalg.inv(a))
        np.testing.assert_allclose(d, 5.0)


@pytest.mark.slow   # many compiles: 6 s on 2 busy cores
def test_singular_and_non_square_raise_linalg_error():
    A = T.dmatrix("A")
    b = T.dvector("b")
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    lower_singular = np.array([[1.0, 0.0], [2.0, 0.0]])
    cases = [(nlinalg.matrix_inverse(A), "Singular matrix", singular),
             (slinalg.solve(A, b), "singular", singular),
             (slinalg.solve_lower_triangular(A, b), "singular", lower_singular),
             (slinalg.cholesky(A), "positive definite", -np.eye(2))]
    for out, message, bad in cases:
        for mode in ("c", "py"):
            f = cgraph.function([A, b], out, mode=mode, on_unused_input="ignore")
            with pytest.raises(np.linalg.LinAlgError, match=f"(?i){message}"):
                f(bad, np.ones(2))
            with pytest.raises(np.linalg.LinAlgError, match="must be square"):
                f(np.ones((2, 3)), np.ones(2))
    for mode in ("c", "py"):
        f = cgraph.function([A], nlinalg.det(A), mode=mode)
        assert f(singular) == 0.0
        with pytest.raises(np.linalg.LinAlgError, match="must be square"):
            f(np.ones((3, 2)))
        f = cgraph.function([A, b], slinalg.solve(A, b), mode=mode)
        with pytest.raises(ValueError, match="incompatible dimensions"):
            f(np.eye(2), np.ones(3))
        nan_chol = cgraph.function([A], slinalg.Cholesky(on_error="nan")(A), mode=mode)
        assert np.isnan(nan_chol(-np.eye(3))).all()
        np.testing.assert_allclose(nan_chol(4 * np.eye(2)), 2 * np.eye(2))
    with pytest.raises(TypeError, match="must be a matrix"):
        nlinalg.det(T.dvector())
    with pytest.raises(ValueError, match="Invalid matrix structure"):
        slinalg.Solve("triangular")
    with pytest.raises(ValueError, match="on_error"):
        slinalg.Cholesky(on_error="ignore")


def test_cholesky_reads_one_triangle_as_scipy():
    A = T.dmatrix("A")
    lower, upper = slinalg.cholesky(A), slinalg.Cholesky(lower=False)(A)
    x = np.array([[4.0, 1.0], [2.0, 5.0]])     # not symmetric: one triangle is read
    for mode in ("c", "py"):
        lo, up = cgraph.function([A], [lower, upper], mode=mode)(x)
        np.testing.assert_allclose(lo, scipy.linalg.cholesky(x, lower=True))
        np.testing.assert_allclose(up, scipy.linalg.cholesky(x, lower=False))


@pytest.mark.slow   # many compiles: 50 s on 2 busy cores
def test_gradients():
    rng = np.random.default_rng(7)
    a = well_conditioned(rng, 4, "float64")
    bv, Bv = rng.normal(size=4), rng.normal(size=(4, 2))
    eye4 = np.eye(4)
    verify_grad(nlinalg.matrix_inverse, [a], rng=rng)
    verify_grad(nlinalg.det, [a], rng=rng)
    verify_grad(lambda x: slinalg.cholesky(T.dot(x, x.T) + 4 * eye4), [a], rng=rng)
    verify_grad(lambda x: slinalg.Cholesky(lower=False)(T.dot(x, x.T) + 4 * eye4), [a],
                rng=rng)
    verify_grad(slinalg.solve, [a, bv], rng=rng)
    verify_grad(slinalg.solve, [a, Bv], rng=rng)
    verify_grad(slinalg.solve_lower_triangular, [a, Bv], rng=rng)
    verify_grad(slinalg.solve_upper_triangular, [a, bv], rng=rng)
    verify_grad(nlinalg.matrix_inverse, [a.astype("float32")], rng=rng)


@pytest.mark.slow   # a program in another process: 5 s on 2 busy cores
def test_scipy_lapack_library():
    """CGRAPH_BLAS=scipy takes LAPACK from scipy's library too (32-bit integers)."""
    code = ("import numpy as np, cgraph, cgraph.tensor as T\n"
            "from cgraph.blas_pointers import lapack_pointers\n"
            "A = T.dmatrix('A'); b = T.dvector('b')\n"
            "f = cgraph.function([A, b], [T.nlinalg.matrix_inverse(A), T.nlinalg.det(A),"
            " T.slinalg.solve(A, b), T.slinalg.cholesky(A),"
            " T.slinalg.solve_lower_triangular(A, b)])\n"
            "a = np.array([[4.0, 1, 0], [1, 3, 1], [0, 1, 2]]); v = np.arange(3.0)\n"
            "inv, d, x, L, y = f(a, v)\n"
            "assert np.allclose(inv, np.linalg.inv(a)) and np.isclose(d, np.linalg.det(a))\n"
            "assert np.allclose(x, np.linalg.solve(a, v))\n"
            "assert np.allclose(L, np.linalg.cholesky(a)) and np.allclose(a @ y, v * 0 + a @ y)\n"
            "assert np.allclose(np.tril(a) @ y, v)\n"
            "try:\n    f(np.ones((3, 3)), v)\nexcept np.linalg.LinAlgError: pass\n"
            "else: raise SystemExit('no error')\n"
            "print(lapack_pointers()[1])\n")
    env = dict(os.environ, CGRAPH_BLAS="scipy", PYTHONPATH=REPO)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"     # the LP64 library


def test_modules_without_linear_algebra_ask_for_no_lapack():
    x = T.dvector("x")
    f = cgraph.function([x], x * 2)
    assert "CG_NO_LAPACK" in f.c_source and "cg_lapack_gesv" not in f.c_source
    A = T.dmatrix("A")
    g = cgraph.function([A], nlinalg.det(A))
    assert "cg_lapack_gesv" in g.c_source
