"""The runtime library's per-thread state and process-wide settings under Python threads
(templates/runtime.c.j2): a short-lived thread's small output block is freed with it, and
concurrent calls' products run BLAS on one thread and put its thread count back."""
import ctypes
import threading

import numpy as np

import cgraph
import cgraph.tensor as T
from cgraph.compile.fastcall import GIL_THRESHOLD
from util import run_in_threads


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks "
                "keepcost".split()]


def _malloc_in_use():
    """Bytes in use from glibc's malloc (C allocations, which tracemalloc does not see)."""
    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = _Mallinfo2
    return mallinfo2().uordblks


def test_a_short_lived_threads_small_block_goes_with_it():
    """Each thread's one call returns 8 doubles: a 64-byte block, kept by the thread when its
    array is freed (cg_small_keep) and freed by the thread-exit destructor. 1000 threads:
    flat; without that free, +80 KB (an 80-byte chunk each)."""
    x = T.dvector("x")
    f = cgraph.function([x], x + 1)
    a = np.arange(8.0)
    results = []

    def one_call():
        results.append(float(f(a).sum()))     # (the array is freed in this thread)

    def threads(n):
        for _ in range(n):
            t = threading.Thread(target=one_call)
            t.start()
            t.join()

    threads(200)        # the allocator's and Python's own caches settle
    before = _malloc_in_use()
    threads(1000)
    grown = _malloc_in_use() - before
    assert results == [36.0] * 1200
    assert grown < 16_000, f"{grown} bytes kept by 1000 finished threads"


def test_concurrent_calls_products_are_right_and_blas_threads_come_back():
    """Two threads' calls (the GIL released) overlap their BLAS products, each run on one
    BLAS thread (cg_blas_single_begin/end): right values, and the library's thread count is
    put back after the last."""
    from cgraph.blas_pointers import blas_threads
    n = 128
    assert n * n >= GIL_THRESHOLD
    a, b = T.dmatrix("a"), T.dmatrix("b")
    f = cgraph.function([a, b], T.dot(a, b) + 1)
    rng = np.random.default_rng(5)
    pairs = [(rng.standard_normal((n, n)), rng.standard_normal((n, n))) for _ in range(2)]
    threads_before = blas_threads()

    def work(k):
        x, y = pairs[k]
        want = x @ y + 1
        for _ in range(300):
            np.testing.assert_allclose(f(x, y), want, rtol=1e-12, atol=1e-12)

    run_in_threads(work, 2)
    assert blas_threads() == threads_before
