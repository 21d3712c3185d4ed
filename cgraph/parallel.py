"""OpenMP threads for large elementwise loops: the build flags, and fork safety.

``config.openmp`` (default on) builds modules with ``-fopenmp``; contiguous elementwise loops
of at least ``config.openmp_elemwise_minsize`` elements then share their blocks among
``config.omp_threads`` threads, or when that is 0 (the default) among ``OMP_NUM_THREADS``
threads if that variable is set, else run on one thread. Threads are opt-in because the
fork-join costs most where it is least expected: on a busy machine a worker woken for a loop
may wait tens of milliseconds for a core while the loop waits for it (measured: a 1 ms
loop took 28 ms with 2 threads on 2 cores shared with other work), whereas on idle cores 2
threads run W1 1.8x faster. Blocks are handed out dynamically, so a late thread takes no
fixed share with it.
Each block is computed by the same code whatever thread runs it, so results do not depend on
the thread count. Reductions stay serial (their summation order would change).

The threads are the runtime library's own (``cg_parallel_for``, templates/runtime.c.j2), not
OpenMP's: at the end of an OpenMP loop the caller waits for every worker to arrive, and beside
numpy's OpenBLAS, whose workers spin after each call, a worker waiting for a core stalled
every loop and product (W3's step 0.24 -> 0.47 ms on 2 threads on 2 cores). OpenMP still
gives the thread count (``omp_get_max_threads``) and the ``omp simd`` loops. A caller whose
worker is late (it lost its core midway) sleeps rather than spins, so that the worker can
move onto its core. Whether a loop or product splits at all is measured where it runs
(``cg_pool_choose``): each call site is timed alone and split, and split only while that is
faster (by 10%), both modes tried again now and then, so that on cores taken by other work,
or for a memory-bound loop, threads cost little more than one.

Every ``os.fork`` child is marked (its pid in ``CGRAPH_FORKED_PID``, read once per process by
``cg_thread_env`` in templates/runtime.c.j2, again after a fork) and runs its loops on one
thread: it has none of its parent's workers, and such children (multiprocessing's, dask's)
usually share the cores with their siblings. Processes started with exec (subprocess,
multiprocessing's spawn) are not marked and use threads.
"""
import os

from .config import config

FORKED_ENV = "CGRAPH_FORKED_PID"


def _mark_forked_child():
    os.environ[FORKED_ENV] = str(os.getpid())


os.register_at_fork(after_in_child=_mark_forked_child)


def compile_flags(toolchain_info):
    """The compiler flags for the current settings (part of every module's cache key)."""
    if config.openmp and toolchain_info.get("openmp"):
        flags = ["-fopenmp", f"-DCG_OMP_MIN_ELEMENTS={config.openmp_elemwise_minsize}"]
        if config.omp_threads > 0:
            flags.append(f"-DCG_OMP_THREADS={config.omp_threads}")
        return flags
    return ["-fopenmp-simd"] if toolchain_info.get("vector_math") else []


def build_options():
    """What of the settings changes a built module, for the pre-key of a graph."""
    return ("openmp", config.openmp, config.omp_threads, config.openmp_elemwise_minsize)
