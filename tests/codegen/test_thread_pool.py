"""The runtime's thread pool (cg_parallel_for, templates/runtime.c.j2): the choice, per call
site, between splitting a job and running it alone, and split jobs giving one thread's bits
whichever is chosen."""
import ctypes

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T


@pytest.fixture(scope="module")
def lib():
    from cgraph import runtime_library
    lib = runtime_library.runtime().lib
    lib.cg_pool_choose.argtypes = [ctypes.c_int64, ctypes.c_int64, ctypes.c_uint32,
                                   ctypes.c_uint32]
    lib.cg_pool_choose.restype = ctypes.c_int
    lib.cg_set_pool_choice.argtypes, lib.cg_set_pool_choice.restype = [ctypes.c_int], ctypes.c_int
    return lib


def site_records(lib):
    """{slot: (pieces, key, jobs, splits)} of the pool's sites (cg_pool_site_stats)."""
    f = lib.cg_pool_site_stats
    i64, u32 = ctypes.c_int64, ctypes.c_uint32
    body, key, pieces, alone, split = ctypes.c_void_p(), ctypes.c_size_t(), i64(), i64(), i64()
    jobs, splits, probe = u32(), u32(), u32()
    out = {}
    for slot in range(64):
        if f(slot, *(ctypes.byref(v) for v in (body, key, pieces, alone, split, jobs, splits,
                                               probe))):
            out[slot] = (pieces.value, key.value, jobs.value, splits.value)
    return out


@pytest.fixture
def thread_settings():
    from cgraph.config import config
    saved = (config.omp_threads, config.openmp_elemwise_minsize)
    yield config
    config.omp_threads, config.openmp_elemwise_minsize = saved


def test_a_site_is_timed_alone_then_split(lib):
    assert lib.cg_pool_choose(0, 0, 1, 32) == 0        # not timed alone yet: alone
    assert lib.cg_pool_choose(0, 500, 7, 32) == 0
    assert lib.cg_pool_choose(1000, 0, 2, 32) == 1     # timed alone, not split: split


@pytest.mark.parametrize("jobs", [1, 2, 31, 33, 1000])
def test_a_site_splits_while_that_is_at_least_10_percent_faster(lib, jobs):
    assert lib.cg_pool_choose(1000, 600, jobs, 32) == 1
    assert lib.cg_pool_choose(1000, 899, jobs, 32) == 1
    assert lib.cg_pool_choose(1000, 900, jobs, 32) == 0     # 10% faster only: not worth a worker
    assert lib.cg_pool_choose(1000, 3000, jobs, 32) == 0    # a late worker


@pytest.mark.parametrize("jobs", [32, 64, 320])
def test_every_probe_th_job_tries_the_other_mode(lib, jobs):
    assert lib.cg_pool_choose(1000, 600, jobs, 32) == 0
    assert lib.cg_pool_choose(1000, 3000, jobs, 32) == 1
    # after splits that did not pay the probes are rarer
    assert lib.cg_pool_choose(1000, 3000, jobs, 1024) == 0
    assert lib.cg_pool_choose(1000, 3000, 1024, 1024) == 1


def test_the_choice_can_be_turned_off(lib):
    was = lib.cg_set_pool_choice(0)
    try:
        assert lib.cg_set_pool_choice(0) == 0
    finally:
        lib.cg_set_pool_choice(was)
    assert was == 1


@pytest.mark.parametrize("choice", [0, 1])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_split_products_in_a_row_give_one_threads_bits(lib, dtype, choice):
    """Many products in a row offered 2 threads (split, or with the pool's choice on some of
    them run alone, the caller sleeping on others until a late worker is done) give the bits
    of one thread each time, and numpy's values."""
    from cgraph import gemm_tuning, runtime_library
    from test_small_gemm import small_threads
    f = lib.cg_set_gemm_thread_macs
    f.argtypes, f.restype = [ctypes.c_int64], ctypes.c_int64
    # a tile variant in force: this machine's record may leave small products to BLAS
    set_small = getattr(lib, f"cg_set_{'s' if dtype == 'float32' else 'd'}gemm_variant")
    set_small.argtypes = [ctypes.c_int]
    old, was = f(1), lib.cg_set_pool_choice(choice)
    try:
        assert set_small(0) == 1
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
        lib.cg_set_pool_choice(was)
        gemm_tuning.apply(lib, gemm_tuning.choose(lib, runtime_library.runtime().key))


def test_split_jobs_across_the_generations_wrap_give_one_threads_bits(lib):
    """The pool's 24-bit job generation set just below its wrap (cg_pool_set_generation):
    split products across it (the job whose generations pass 0 waits for the workers to
    leave their claims, runtime.c.j2) give one thread's bits, and the count wraps."""
    from cgraph import gemm_tuning, runtime_library
    from test_small_gemm import small_threads
    lib.cg_pool_generation.restype = ctypes.c_uint64
    lib.cg_pool_set_generation.argtypes = [ctypes.c_uint64]
    f = lib.cg_set_gemm_thread_macs
    f.argtypes, f.restype = [ctypes.c_int64], ctypes.c_int64
    lib.cg_set_dgemm_variant.argtypes = [ctypes.c_int]
    old, was = f(1), lib.cg_set_pool_choice(0)    # every product split
    try:
        assert lib.cg_set_dgemm_variant(0) == 1
        rng = np.random.default_rng(4)
        a, b = rng.standard_normal((64, 64)), rng.standard_normal((64, 96))
        one = np.zeros((64, 96))
        assert small_threads(lib, a, b, 1.0, 0.0, one, 1)
        top = (1 << 24) - 1
        for start in (top - 6, top - 7):    # the wrap in a job's closed or open generation
            assert lib.cg_pool_set_generation(start) == 1
            for _ in range(8):
                two = np.full((64, 96), np.nan)
                assert small_threads(lib, a, b, 1.0, 0.0, two, 2)
                np.testing.assert_array_equal(two, one)
            assert lib.cg_pool_generation() < 10    # wrapped
        np.testing.assert_allclose(one, a @ b, rtol=1e-12, atol=1e-12)
    finally:
        f(old)
        lib.cg_set_pool_choice(was)
        gemm_tuning.apply(lib, gemm_tuning.choose(lib, runtime_library.runtime().key))


def _pin_every_thread(cpus):
    """Set the CPUs of every thread of this process (the pool's workers too); returns the
    previous set of each thread."""
    import os
    before = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            before[int(tid)] = os.sched_getaffinity(int(tid))
            os.sched_setaffinity(int(tid), cpus)
        except OSError:     # a thread that ended meanwhile
            pass
    return before


@pytest.mark.skipif(not hasattr(__import__("os"), "sched_setaffinity"), reason="Linux only")
def test_a_worker_on_its_callers_cpu_gives_way_and_the_bits_stay(lib):
    """With every thread on one CPU a worker can only run on its caller's: it gives way
    (sleeps rather than spinning after a job; cg_pool_gave_way counts it), and split
    products still give one thread's bits."""
    import os
    import time
    from cgraph import gemm_tuning, runtime_library
    from test_small_gemm import small_threads
    lib.cg_pool_gave_way.restype = ctypes.c_int64
    f = lib.cg_set_gemm_thread_macs
    f.argtypes, f.restype = [ctypes.c_int64], ctypes.c_int64
    lib.cg_set_dgemm_variant.argtypes = [ctypes.c_int]
    old, was = f(1), lib.cg_set_pool_choice(0)    # every product split
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((64, 64)), rng.standard_normal((64, 96))
    one = np.zeros((64, 96))
    try:
        assert lib.cg_set_dgemm_variant(0) == 1
        assert small_threads(lib, a, b, 1.0, 0.0, one, 1)
        two = np.zeros((64, 96))
        assert small_threads(lib, a, b, 1.0, 0.0, two, 2)      # the worker started
        before = _pin_every_thread({min(os.sched_getaffinity(0))})
        try:
            count = lib.cg_pool_gave_way()
            deadline = time.monotonic() + 10
            while lib.cg_pool_gave_way() == count and time.monotonic() < deadline:
                two = np.full((64, 96), np.nan)
                assert small_threads(lib, a, b, 1.0, 0.0, two, 2)
                np.testing.assert_array_equal(two, one)
                time.sleep(0.001)       # (the worker runs while the caller sleeps)
            assert lib.cg_pool_gave_way() > count
        finally:
            for tid, cpus in before.items():
                try:
                    os.sched_setaffinity(tid, cpus)
                except OSError:
                    pass
        np.testing.assert_allclose(one, a @ b, rtol=1e-12, atol=1e-12)
    finally:
        f(old)
        lib.cg_set_pool_choice(was)
        gemm_tuning.apply(lib, gemm_tuning.choose(lib, runtime_library.runtime().key))


def test_each_elementwise_loop_is_a_site_of_its_own(lib, thread_settings):
    """Every elementwise loop splits by the same piece function (its blocks): two loops of as
    many blocks are two sites (keyed by their loop function), each timed alone, then split."""
    thread_settings.omp_threads, thread_settings.openmp_elemwise_minsize = 2, 1
    x = T.vector("x", dtype="float64")
    loops = [cgraph.function([x], T.exp(x) * 2), cgraph.function([x], T.sqrt(abs(x)) + 1)]
    blocks = 5
    value = np.random.default_rng(1).normal(size=blocks * 4096 + 3)
    was = lib.cg_set_pool_choice(1)
    try:
        before = site_records(lib)
        for f in loops:
            for _ in range(3):
                f(value)
        after = site_records(lib)
    finally:
        lib.cg_set_pool_choice(was)
    np.testing.assert_allclose(loops[1](value), np.sqrt(abs(value)) + 1)
    sites = [rec for slot, rec in after.items() if rec[0] == blocks and before.get(slot) != rec]
    keys = {key for _, key, jobs, splits in sites if jobs == 3 and splits >= 1}
    assert len(keys) == 2, sites


def test_sites_that_share_a_set_keep_their_own_times(lib):
    """Four sites whose jobs land in one set of the site table each keep their record across
    the others' jobs (one slot per hash reset a colliding site's times on every job: it then
    never split), and a fifth takes the least recently used slot."""
    lib.cg_pool_test_site_set.argtypes = [ctypes.c_int64, ctypes.c_size_t]
    lib.cg_pool_test_job.argtypes = [ctypes.c_int64, ctypes.c_int, ctypes.c_size_t,
                                     ctypes.c_void_p]
    pieces = 6
    by_set = {}
    for key in range(1 << 20, (1 << 20) + 4096, 16):
        by_set.setdefault(lib.cg_pool_test_site_set(pieces, key), []).append(key)
    slot, keys = next((s, k) for s, k in by_set.items() if len(k) >= 5)
    out = np.full(pieces, -1, np.int64)
    was = lib.cg_set_pool_choice(1)
    try:
        for _ in range(3):
            for key in keys[:4]:
                out[:] = -1
                lib.cg_pool_test_job(pieces, 2, key, out.ctypes.data)
                assert out.tolist() == list(range(pieces))
        records = site_records(lib)
        mine = {rec[1]: rec for s, rec in records.items() if slot <= s < slot + 4}
        assert sorted(mine) == sorted(keys[:4]), records
        assert all(jobs == 3 and splits >= 1 for _, _, jobs, splits in mine.values()), mine
        lib.cg_pool_test_job(pieces, 2, keys[4], out.ctypes.data)     # keys[0]: least recent
        mine = {rec[1] for s, rec in site_records(lib).items() if slot <= s < slot + 4}
        assert mine == set(keys[1:5])
    finally:
        lib.cg_set_pool_choice(was)

