"""Products BLAS runs on one thread, cut into blocks of rows for the runtime's threads
(cg_<p>gemm_blas_blocks, templates/ops/blas_product.c.j2): the same bits on 1 and 2 threads
(the blocks do not depend on the threads), numpy's values at edge shapes, the pool's choice
between running the blocks split and alone (templates/runtime.c.j2) with its per-site record,
and the clipped mean of its times."""
import ctypes

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph import gemm_tuning, runtime_library
from cgraph.tensor.blas import gemm
from test_small_gemm import split_every_product  # noqa: F401 (a fixture)
from test_thread_pool import site_records, thread_settings  # noqa: F401 (a fixture)
from util import TOLERANCE, assert_clean_build, assert_same

rng = np.random.default_rng(5)
BLOCK = 128     # CG_BLAS_SPLIT_ROWS

# (m, k, n): W3's and W4's weight gradients (x.T d: 784 rows, 6 full blocks and 16 rows), a
# block and one row either side of it, one row and none, a k past the skinny sizes
SHAPES = [(784, 20, 500), (127, 20, 37), (128, 20, 37), (129, 20, 37), (257, 3, 101),
          (1, 20, 500), (0, 20, 37), (300, 300, 17)]


@pytest.fixture(scope="module")
def lib():
    lib = runtime_library.runtime().lib
    lib.cg_pool_smooth.argtypes = [ctypes.c_int64, ctypes.c_int64]
    lib.cg_pool_smooth.restype = ctypes.c_int64
    lib.cg_set_pool_choice.argtypes, lib.cg_set_pool_choice.restype = [ctypes.c_int], ctypes.c_int
    return lib


@pytest.fixture
def blas_products(lib, split_every_product):  # noqa: F811
    """Every product large enough for threads and left to BLAS: the small kernel and each
    skinny kind set to BLAS (-1); the variants chosen for this machine put back after."""
    for p in "sd":
        getattr(lib, f"cg_set_{p}gemm_variant").argtypes = [ctypes.c_int]
        getattr(lib, f"cg_set_{p}gemm_variant")(-1)
        setter = getattr(lib, f"cg_set_{p}gemm_skinny_variant")
        setter.argtypes = [ctypes.c_int, ctypes.c_int]
        for kind in range(3):
            setter(kind, -1)
    yield
    gemm_tuning.apply(lib, gemm_tuning.choose(lib, runtime_library.runtime().key))


def functions(dtype, config):
    """x.T d, x W and a weight update in place (gemm, beta = 1) in modules built for 1 and
    for 2 threads."""
    x, d, w = (T.matrix(name, dtype=dtype) for name in ("x", "d", "w"))
    lr = T.scalar("lr", dtype=dtype)
    outputs = [T.dot(x.T, d), T.dot(w, d.T), gemm(w, -lr, x.T, d, T.constant(1.0, dtype=dtype))]
    config.openmp_elemwise_minsize = 1
    built = []
    for threads in (1, 2):
        config.omp_threads = threads
        built.append(cgraph.function([x, d, w, lr], outputs))
        assert_clean_build(built[-1])
    return built


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_blocks_give_one_threads_bits_and_numpys_values(dtype, thread_settings, blas_products):
    one, two = functions(dtype, thread_settings)
    tol = TOLERANCE[dtype] * 10
    for m, k, n in SHAPES:
        x = rng.normal(size=(k, m)).astype(dtype)
        d = rng.normal(size=(k, n)).astype(dtype)
        w = rng.normal(size=(m, n)).astype(dtype)
        lr = np.asarray(0.25, dtype)
        r1, r2 = one(x, d, w, lr), two(x, d, w, lr)
        x64, d64, w64 = (v.astype("float64") for v in (x, d, w))
        expected = [x64.T @ d64, w64 @ d64.T, w64 - 0.25 * (x64.T @ d64)]
        for i, (g1, g2, e) in enumerate(zip(r1, r2, expected)):
            what = f"output {i} at {(m, k, n)}"
            assert g1.dtype == dtype and g1.shape == e.shape, what
            assert np.array_equal(g1, g2), f"{what}: the bits depend on the threads"
            assert_same(g2, e.astype(dtype), rtol=tol, what=what)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_choice_times_the_blocks_alone_then_split(lib, dtype, thread_settings,
                                                      blas_products):
    """With the pool's choice on, a product cut into blocks is a site of its own: its first
    job runs alone, its second split, and the bits stay those of one thread."""
    one, two = functions(dtype, thread_settings)
    m, k, n = 784, 20, 500
    x = rng.normal(size=(k, m)).astype(dtype)
    d = rng.normal(size=(k, n)).astype(dtype)
    w = rng.normal(size=(m, n)).astype(dtype)
    lr = np.asarray(0.5, dtype)
    want = one(x, d, w, lr)
    was = lib.cg_set_pool_choice(1)
    try:
        before = site_records(lib)
        for _ in range(5):
            for g, e in zip(two(x, d, w, lr), want):
                assert np.array_equal(g, e), "the bits depend on the choice"
        after = site_records(lib)
    finally:
        lib.cg_set_pool_choice(was)
    blocks = -(-m // BLOCK)
    sites = [rec for slot, rec in after.items() if rec[0] == blocks and before.get(slot) != rec]
    assert sites, f"no site of {blocks} blocks ran"
    # x.T d and the update: two products of 7 blocks a call
    assert any(jobs >= 5 and 1 <= splits < jobs for _, _, jobs, splits in sites), sites


def test_the_pools_times_clip_a_late_job(lib):
    smooth = lib.cg_pool_smooth
    assert smooth(0, 5000) == 5000                  # the first sample is the mean
    assert smooth(1000, 600) == 900                 # (3 * 1000 + 600) / 4
    assert smooth(1000, 2000) == 1250
    assert smooth(1000, 100000) == 1250             # a job 100x late counts as 2x
    mean = 1000
    for _ in range(12):                            # a lasting change is followed
        mean = smooth(mean, 50000)
    assert mean > 10000
