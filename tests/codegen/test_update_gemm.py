"""A weight update with decay written in place in one pass over W (cg_<p>gemm_update,
templates/ops/update_gemm.c.j2): W = beta W + alpha x.T d for a small k, with the cost's
sum(W ** 2) before it (a GemmSquares) or without it (a Gemm of beta != 1). numpy's values at
the kernel's edges (k at and past its limit, widths under, at and past a tile's, rows past a
block, 0- and 1-length axes: the ones it declines run the squares' pass and BLAS), and the
same bits on 1 and 2 threads (its blocks of rows and their sums do not depend on them)."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from test_small_gemm import lib, split_every_product  # noqa: F401 (fixtures)
from test_thread_pool import thread_settings  # noqa: F401 (a fixture)
from util import TOLERANCE, assert_clean_build, assert_same

rng = np.random.default_rng(17)
LR, L2 = 0.05, 0.1

# (k, m, n): W3's layer; k = 1, the limit 64 and past it (declined); widths under a float32
# tile (31: declined there, a double one's width and a partial block), exactly one (32),
# past it; 200 rows (three blocks of 96, the last partial; a partial tile of rows); one row;
# empty axes (declined)
SHAPES = [(20, 784, 500), (1, 13, 33), (64, 97, 77), (65, 50, 40), (3, 200, 31),
          (5, 9, 32), (2, 1, 70), (0, 10, 40), (4, 0, 40), (4, 10, 0)]


def _updates(dtype, config=None, threads=1):
    """In-place updates of W with decay: with the cost's sum(W ** 2) (GemmSquares) and
    without it (a Gemm of beta 1 - lr * l2); modules for ``threads``."""
    if config is not None:
        config.openmp_elemwise_minsize = 1
        config.omp_threads = threads
    lr, l2 = np.asarray(LR, dtype), np.asarray(L2, dtype)
    made = []
    for squares in (True, False):
        W = cgraph.shared(np.zeros((1, 1), dtype), name="W")
        x, d = T.matrix("x", dtype=dtype), T.matrix("d", dtype=dtype)
        update = W - lr * (T.dot(x.T, d) + l2 * W)
        f = cgraph.function([x, d], T.sum(W ** 2) if squares else [],
                            updates=[(W, update)])
        assert_clean_build(f)
        names = [type(n.op).__name__ for n in f.nodes]
        assert ("GemmSquares" in names) == squares and f._runner.inplace, names
        made.append((f, W))
    return made


def _expected(w, x, d):
    w64, x64, d64 = (v.astype(np.float64) for v in (w, x, d))
    return (w64 ** 2).sum(), (1 - LR * L2) * w64 - LR * (x64.T @ d64)


@pytest.fixture(params=[1, 0], ids=["one pass", "squares' pass and BLAS"])
def update_path(request, lib):  # noqa: F811
    """The one-pass kernel on (1) or off (0: cg_set_gemm_update), put back on after."""
    was = lib.cg_set_gemm_update(request.param)
    yield request.param
    lib.cg_set_gemm_update(was)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_update_values_at_the_kernels_edges(dtype, update_path):
    tol = TOLERANCE[dtype] * 10
    made = _updates(dtype)
    for k, m, n in SHAPES:
        w0 = rng.normal(size=(m, n)).astype(dtype)
        x, d = rng.normal(size=(k, m)).astype(dtype), rng.normal(size=(k, n)).astype(dtype)
        total, new_w = _expected(w0, x, d)
        for (f, W), squares in zip(made, (True, False)):
            what = f"{(k, m, n)} {'with' if squares else 'without'} the squares"
            W.set_value(w0.copy())
            held = W.get_value(borrow=True)
            got = f(x, d)
            if squares:
                assert_same(got, np.asarray(total, dtype), rtol=tol, what=f"sum {what}")
            assert_same(W.get_value(), new_w.astype(dtype), rtol=tol, what=f"W {what}")
            if m and n:
                assert W.get_value(borrow=True) is held, f"{what}: not in place"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_update_bits_do_not_depend_on_the_threads(dtype, thread_settings,  # noqa: F811
                                                  split_every_product):  # noqa: F811
    one = _updates(dtype, thread_settings, 1)
    two = _updates(dtype, thread_settings, 2)
    for k, m, n in [(20, 784, 500), (3, 200, 31), (7, 97, 40)]:
        w0 = rng.normal(size=(m, n)).astype(dtype)
        x, d = rng.normal(size=(k, m)).astype(dtype), rng.normal(size=(k, n)).astype(dtype)
        for (f1, W1), (f2, W2) in zip(one, two):
            W1.set_value(w0.copy())
            W2.set_value(w0.copy())
            for _ in range(2):
                got1, got2 = f1(x, d), f2(x, d)
                assert np.array_equal(np.asarray(got1), np.asarray(got2)), (k, m, n)
                assert np.array_equal(W1.get_value(), W2.get_value()), (k, m, n)


def test_nan_and_inf_in_w_reach_the_update_and_the_sum():
    """beta * W for every element (no BLAS rule skipping C): a NaN or inf in W stays."""
    w0 = rng.normal(size=(40, 40))
    w0[3, 5], w0[17, 39] = np.nan, np.inf
    x, d = rng.normal(size=(4, 40)), rng.normal(size=(4, 40))
    total, new_w = _expected(w0, x, d)
    for (f, W), squares in zip(_updates("float64"), (True, False)):
        W.set_value(w0.copy())
        got = f(x, d)
        if squares:
            assert np.isnan(got) and np.isnan(total)
        assert_same(W.get_value(), new_w, rtol=1e-12, what="W")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_update_with_a_by_rows(dtype, update_path):
    """A read by rows (W - lr * (P Q + l2 W), P of shape (m, k)) and by a stride of 2 (a
    slice of every other column of a wider P): A's elements through its strides."""
    tol = TOLERANCE[dtype] * 10
    lr, l2 = np.asarray(LR, dtype), np.asarray(L2, dtype)
    for m, n, k in [(97, 40, 5), (8, 33, 1), (200, 70, 20)]:
        w0 = rng.normal(size=(m, n)).astype(dtype)
        p, q = rng.normal(size=(m, 2 * k)).astype(dtype), rng.normal(size=(k, n)).astype(dtype)
        for step in (1, 2):
            W = cgraph.shared(w0.copy(), name="W")
            P, Q = T.matrix("P", dtype=dtype), T.matrix("Q", dtype=dtype)
            f = cgraph.function([P, Q], T.sum(W ** 2),
                                updates=[(W, W - lr * (T.dot(P[:, ::step][:, :k], Q) + l2 * W))])
            assert f._runner.inplace
            got = f(p, q)
            a = p[:, ::step][:, :k].astype(np.float64)
            expected = (1 - LR * L2) * w0.astype(np.float64) - LR * (a @ q.astype(np.float64))
            assert_same(got, np.asarray((w0.astype(np.float64) ** 2).sum(), dtype), rtol=tol,
                        what=f"sum {(m, n, k)} step {step}")
            assert_same(W.get_value(), expected.astype(dtype), rtol=tol,
                        what=f"W {(m, n, k)} step {step}")
