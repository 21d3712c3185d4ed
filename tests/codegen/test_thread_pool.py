"""The runtime's thread pool (cg_parallel_for, templates/runtime.c.j2): the back-off after a
split that did not pay, and split jobs, backing off or not, giving one thread's bits."""
import ctypes

import numpy as np
import pytest



@pytest.fixture(scope="module")
def lib():
    from cgraph import runtime_library
    lib = runtime_library.runtime().lib
    f = lib.cg_pool_backoff
    f.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                  ctypes.POINTER(ctypes.c_int64)]
    f.restype = ctypes.c_int
    lib.cg_set_pool_backoff.argtypes, lib.cg_set_pool_backoff.restype = [ctypes.c_int], ctypes.c_int
    return lib


def judge(lib, backoff, own_ns, wait_ns, ran, pieces):
    """cg_pool_backoff: (the next backoff, the jobs to run alone)."""
    alone = ctypes.c_int64(-1)
    nxt = lib.cg_pool_backoff(backoff, own_ns, wait_ns, ran, pieces, ctypes.byref(alone))
    return nxt, alone.value


def test_a_split_that_paid_starts_over(lib):
    # the workers took pieces and the caller waited little (or less than half its work)
    assert judge(lib, 0, 100_000, 5_000, 4, 8) == (0, 0)
    assert judge(lib, 6, 1_000_000, 400_000, 4, 8) == (0, 0)


def test_a_late_worker_sends_the_next_jobs_to_the_caller_alone(lib):
    # the worker took no piece: the caller ran all 8
    assert judge(lib, 0, 50_000, 0, 8, 8) == (1, 1)
    # it took some but the caller waited 3 ms for them after 100 us of its own work
    assert judge(lib, 1, 100_000, 3_000_000, 5, 8) == (2, 2)
    assert judge(lib, 3, 100_000, 3_000_000, 5, 8) == (4, 8)
    # the back-off doubles up to 2^10 jobs, then stays
    assert judge(lib, 10, 100_000, 3_000_000, 5, 8) == (10, 1024)


def test_the_back_off_can_be_turned_off(lib):
    was = lib.cg_set_pool_backoff(0)
    try:
        assert lib.cg_set_pool_backoff(0) == 0
    finally:
        lib.cg_set_pool_backoff(was)
    assert was == 1


@pytest.mark.parametrize("backoff", [0, 1])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_split_products_in_a_row_give_one_threads_bits(lib, dtype, backoff):
    """Many split products in a row on 2 threads (some of them run alone when the pool backs
    off, the caller sleeping on others until a late worker is done) give the bits of one
    thread each time, and numpy's values."""
    from test_small_gemm import small_threads
    f = lib.cg_set_gemm_thread_macs
    f.argtypes, f.restype = [ctypes.c_int64], ctypes.c_int64
    old, was = f(1), lib.cg_set_pool_backoff(backoff)
    try:
        rng = np.random.default_rng(3)
        for m, k, n in [(64, 64, 96), (13, 5, 37), (100, 33, 17), (1, 64, 64)]:
            a = rng.standard_normal((m, k)).astype(dtype)
            b = rng.standard_normal((k, n)).astype(dtype)
            one = np.zeros((m, n), dtype)
            assert small_threads(lib, a, b, 1.0, 0.0, one, 1)
            for _ in range(50):
                two = np.full((m, n), np.nan, dtype)
                assert small_threads(lib, a, b, 1.0, 0.0, two, 2)
                np.testing.assert_array_equal(two, one, err_msg=f"{m}x{k}x{n} on 2 threads")
            assert np.allclose(one, a.astype("float64") @ b, rtol=1e-4, atol=1e-4)
    finally:
        f(old)
        lib.cg_set_pool_backoff(was)
