"""GFLOP/s of the matrix-product candidates on the workloads' shapes, against this core's peak.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 BLIS_NUM_THREADS=1 \\
        python -m benchmarks.gemm_candidates [--rounds 7]

Candidates, each where installed: numpy's OpenBLAS (what cgraph calls) through numpy.matmul,
the newer OpenBLAS of the ``scipy-openblas32`` wheel (through its CBLAS, with ctypes), BLIS
(the ``blis`` package), all three timed from Python; numpy's OpenBLAS again and every tile
variant of cgraph's small-GEMM kernel (whatever the size) timed in C (see TimedInC), and its
narrow kernels where they take the product (TimedNarrow). W4's
update ``x.T s0 - v.T s1`` is also timed as one GEMM over the stacked operands (k = 40).
Each cell is the best of --rounds timings, the candidates taken in turn within a round (so a
burst of load from other processes hits them alike). The peak is measured, not looked up:
an unrolled loop of independent FMAs on registers (compiled with -march=native).
"""
import argparse
import ctypes
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

# (workload, what, m, n, k, A transposed, B transposed): C (m x n) = op(A) op(B)
SHAPES = [
    ("W2", "x W", 600, 10, 784, False, False),
    ("W2", "x.T d", 784, 10, 600, True, False),
    ("W3", "x W1", 20, 500, 784, False, False),
    ("W3", "h W2", 20, 10, 500, False, False),
    ("W3", "h.T d2", 500, 10, 20, True, False),
    ("W3", "d2 W2.T", 20, 500, 10, False, True),
    ("W3", "x.T dh", 784, 500, 20, True, False),
    ("W4", "v W", 20, 500, 784, False, False),
    ("W4", "h W.T", 20, 784, 500, False, True),
    ("W4", "x.T s0", 784, 500, 20, True, False),
    ("W7", "x_t W", 16, 64, 32, False, False),
    ("W7", "h U", 16, 64, 64, False, False),
    ("W7", "d U.T", 16, 64, 64, False, True),
    ("W7", "h.T d", 64, 64, 16, True, False),
]

PEAK_SOURCE = r"""
#include <stdio.h>
#include <time.h>
typedef %(ct)s vec __attribute__((vector_size(%(vb)d)));
#define FMA12(x, y) a0 = a0 * x + y; a1 = a1 * x + y; a2 = a2 * x + y; a3 = a3 * x + y; \
    a4 = a4 * x + y; a5 = a5 * x + y; a6 = a6 * x + y; a7 = a7 * x + y; a8 = a8 * x + y; \
    a9 = a9 * x + y; a10 = a10 * x + y; a11 = a11 * x + y;
int main(void) {
    enum { V = sizeof(vec) / sizeof(%(ct)s) };
    const vec zero = {0};     /* whole-vector values only: the sums stay in registers */
    vec a0 = zero + 1, a1 = zero + 2, a2 = zero + 3, a3 = zero + 4, a4 = zero + 5,
        a5 = zero + 6, a6 = zero + 7, a7 = zero + 8, a8 = zero + 9, a9 = zero + 10,
        a10 = zero + 11, a11 = zero + 12, x = zero + (%(ct)s)0.999, y = zero + (%(ct)s)1e-3;
    const long n = 50000000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);   /* CPU time: the machine is shared */
    for (long r = 0; r < n; r++) {
        __asm__ volatile("" : "+v"(x));     /* x unknown each time: no folding */
        FMA12(x, y)
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);   /* CPU time: the machine is shared */
    vec s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    double sec = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
    printf("%%f %%g\n", 2.0 * 12 * n * V / sec / 1e9, (double)s[0]);
    return 0;
}
"""


def peak_gflops(ct, vb=64):
    """This core's FMA peak for ``ct`` in GFLOP/s (best of three runs), or None without gcc."""
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = os.path.join(tmp, "peak.c"), os.path.join(tmp, "peak")
        with open(src, "w") as f:
            f.write(PEAK_SOURCE % {"ct": ct, "vb": vb})
        try:
            subprocess.run(["gcc", "-O2", "-ffp-contract=fast", "-march=native", src, "-o", exe], check=True,
                           capture_output=True)
            return max(float(subprocess.run([exe], capture_output=True, text=True,
                                            check=True).stdout.split()[0]) for _ in range(3))
        except (OSError, subprocess.CalledProcessError):
            return None


def operands(m, n, k, ta, tb, dtype, rng):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return (a.T if ta else a), (b.T if tb else b)


def numpy_candidate():
    def run(a, b, c):
        np.matmul(a, b, out=c)
    return run


def openblas_wheel_candidate():
    """CBLAS gemm of the scipy-openblas32 wheel (a newer OpenBLAS than numpy's), or None."""
    try:
        import scipy_openblas32
    except ImportError:
        return None
    lib = ctypes.CDLL(os.path.join(scipy_openblas32.get_lib_dir(),
                                   f"lib{scipy_openblas32.get_library()}.so"))
    functions = {}
    for dtype, name, ct in (("float32", "scipy_cblas_sgemm", ctypes.c_float),
                            ("float64", "scipy_cblas_dgemm", ctypes.c_double)):
        f = getattr(lib, name)
        i, p = ctypes.c_int, ctypes.c_void_p
        f.argtypes = [i, i, i, i, i, i, ct, p, i, p, i, ct, p, i]
        f.restype = None
        functions[dtype] = f

    def run(a, b, c):
        f = functions[a.dtype.name]
        m, k = a.shape
        n = b.shape[1]
        ta = not a.flags.c_contiguous
        tb = not b.flags.c_contiguous
        # CblasRowMajor = 101, NoTrans = 111, Trans = 112
        f(101, 112 if ta else 111, 112 if tb else 111, m, n, k, 1.0, a.ctypes.data,
          m if ta else k, b.ctypes.data, k if tb else n, 0.0, c.ctypes.data, n)
    version = lib.scipy_openblas_get_config
    version.restype = ctypes.c_char_p
    return run, version().decode().split()[1]


def blis_candidate():
    try:
        from blis.py import gemm
    except ImportError:
        return None

    def run(a, b, c):
        ta, tb = not a.flags.c_contiguous, not b.flags.c_contiguous
        if a.dtype == np.float64 and (ta or tb):
            raise NotRun("blis 1.3.4's gemm crashes (SIGSEGV) on a transposed float64 operand")
        gemm(a.T if ta else a, b.T if tb else b, out=c, trans1=ta, trans2=tb, beta=0.0)
    return run


class NotRun(Exception):
    """A candidate that cannot run this product (its cell shows "-")."""


class TimedInC:
    """A candidate timed in C, without Python's per-call overhead (1-3 us: as long as a whole
    W7 product): cgraph's variants and numpy's OpenBLAS called as cgraph calls it (variant -1),
    by cg_<p>gemm_time, on contiguous operands of the
    product's shape (a transposed A is only strides to the kernel; a transposed B is packed
    or left to BLAS)."""

    def __init__(self, timer, variant):
        self.timer, self.variant = timer, variant

    def seconds(self, a, b):
        return self.timer(a.dtype.name, self.variant, (a.shape[0], b.shape[1], a.shape[1]))


class TimedNarrow:
    """cgraph's narrow kernels (n <= 12) timed in C by cg_<p>gemm_narrow_time, whatever the
    narrow choice in force: A by rows, or a transposed A added into C (x.T d)."""

    def __init__(self, lib):
        self.functions = {}
        for dtype, p in (("float32", "s"), ("float64", "d")):
            f = getattr(lib, f"cg_{p}gemm_narrow_time")
            f.restype = ctypes.c_double
            f.argtypes = [ctypes.c_int] * 2 + [ctypes.c_int64] * 4 + [ctypes.c_int] * 2
            self.functions[dtype] = f

    def seconds(self, a, b):
        (m, k), n = a.shape, b.shape[1]
        layout = 2 if not b.flags.c_contiguous else 0 if a.flags.c_contiguous else 1
        reps = max(1, int(1e-3 * 5e10 / (2 * m * n * k)))
        took = self.functions[a.dtype.name](0, layout, m, n, k, reps, 0, 1)
        if took < 0:
            raise NotRun("not a narrow product")
        return took / reps


def cgraph_candidates():
    from cgraph import gemm_tuning, runtime_library
    lib = runtime_library.runtime().lib
    timer = gemm_tuning.c_timer(lib)
    out = {"OpenBLAS, C call": TimedInC(timer, -1)}
    for variant, name in enumerate(gemm_tuning.variant_names(lib)):
        out[f"cgraph {name}"] = TimedInC(timer, variant)
    out["cgraph narrow"] = TimedNarrow(lib)
    return out


def best_time(run, a, b, c, seconds=2e-3):
    if isinstance(run, (TimedInC, TimedNarrow)):
        return run.seconds(a, b)
    run(a, b, c)
    t0 = time.perf_counter()
    run(a, b, c)
    once = max(time.perf_counter() - t0, 1e-7)
    reps = max(1, int(seconds / once))
    t0 = time.perf_counter()
    for _ in range(reps):
        run(a, b, c)
    return (time.perf_counter() - t0) / reps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dtype", default="float32,float64")
    args = parser.parse_args(argv)
    candidates = {"numpy OpenBLAS": numpy_candidate()}
    wheel = openblas_wheel_candidate()
    if wheel:
        candidates[f"OpenBLAS {wheel[1]} wheel"] = wheel[0]
    blis = blis_candidate()
    if blis:
        candidates["BLIS"] = blis
    candidates.update(cgraph_candidates())
    rng = np.random.default_rng(0)
    for dtype in args.dtype.split(","):
        ct = "float" if dtype == "float32" else "double"
        peak = peak_gflops(ct)
        print(f"\n{dtype}: GFLOP/s (best of {args.rounds}); one core's FMA peak, measured: "
              f"{peak:.0f}" if peak else f"\n{dtype}: GFLOP/s (peak unknown: no gcc)")
        names = list(candidates)
        print(f"{'product':<22}" + "".join(f"{n[:15]:>16}" for n in names))
        rows = [(w, what, m, n, k, ta, tb) for w, what, m, n, k, ta, tb in SHAPES]
        rows.append(("W4", "x.T s0 - v.T s1 fused", 784, 500, 40, True, False))
        for w, what, m, n, k, ta, tb in rows:
            a, b = operands(m, n, k, ta, tb, dtype, rng)
            c = np.empty((m, n), dtype)
            best = dict.fromkeys(names, float("inf"))
            for _ in range(args.rounds):
                for name in names:
                    try:
                        best[name] = min(best[name], best_time(candidates[name], a, b, c))
                    except NotRun:
                        pass
            flops = 2.0 * m * n * k
            print(f"{w} {what:<19}" + "".join(f"{flops / best[n] / 1e9:16.1f}"
                                              if best[n] < float("inf") else f"{'-':>16}"
                                              for n in names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
