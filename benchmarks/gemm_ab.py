"""Paired, in-process comparison of cgraph's product kernels on the training workloads.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \\
        python -m benchmarks.gemm_ab [--only W2,W3] [--dtype float32] [--pairs 15]

One compiled step per workload and dtype, run under two settings in turn (A B A B ...):
A = every skinny product to BLAS and the small-GEMM tile chosen on a Zen 5 before variants
existed (8x2v64 where compiled, else the first variant): what cgraph did before per-CPU
selection; B = the choice recorded for this CPU (cgraph/gemm_tuning.py). Each setting runs a
batch of steps; its CPU time per step (time.process_time: a shared machine's other
processes do not count, though they still share its caches) is kept, and the ratio B/A taken
pair by pair. Prints the median and spread of both and of the ratio.
"""
import argparse
import statistics
import sys
import time

from benchmarks import workloads

WORKLOADS = {
    "W2": lambda dtype: workloads.w2_logreg_step("cgraph", dtype=dtype),
    "W3": lambda dtype: workloads.w3_mlp_step("cgraph", dtype=dtype),
    "W4": lambda dtype: workloads.w4_rbm_cd1("cgraph", dtype=dtype),
    "W7 forward": lambda dtype: workloads.w7_rnn_forward("cgraph", dtype=dtype),
    "W7 BPTT": lambda dtype: workloads.w7_rnn_bptt("cgraph", dtype=dtype),
}


def settings(lib):
    """(before, chosen): functions putting each setting in force."""
    from cgraph import gemm_tuning, runtime_library
    names = gemm_tuning.variant_names(lib)
    record = gemm_tuning.choose(lib, runtime_library.runtime().key)
    old = names.index("8x2v64") if "8x2v64" in names else 0

    def before():
        for p in "sd":
            getattr(lib, f"cg_set_{p}gemm_variant")(old)
            for kind in range(3):
                getattr(lib, f"cg_set_{p}gemm_skinny_variant")(kind, -1)

    def chosen():
        gemm_tuning.apply(lib, record)
    return before, chosen, gemm_tuning.describe(record)


def per_step(case, seconds=0.05):
    case.run()
    t0 = time.process_time()
    n = 0
    while time.process_time() - t0 < seconds:
        case.run()
        n += 1
    return (time.process_time() - t0) / n


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--dtype", default="float32,float64")
    parser.add_argument("--pairs", type=int, default=15)
    args = parser.parse_args(argv)
    from cgraph import runtime_library
    lib = runtime_library.runtime().lib
    before, chosen, description = settings(lib)
    print(f"B: {description}\nA: 8x2v64, every skinny product to BLAS\n")
    print(f"{'workload':<12} {'dtype':<8} {'A median':>10} {'B median':>10} "
          f"{'B/A median':>10}  B/A min..max")
    for dtype in args.dtype.split(","):
        for name in args.only.split(","):
            case = WORKLOADS[name](dtype)
            a, b = [], []
            for _ in range(args.pairs):
                before()
                a.append(per_step(case))
                chosen()
                b.append(per_step(case))
            ratios = [y / x for x, y in zip(a, b)]
            print(f"{name:<12} {dtype:<8} {statistics.median(a) * 1e3:8.3f}ms "
                  f"{statistics.median(b) * 1e3:8.3f}ms {statistics.median(ratios):10.3f}  "
                  f"{min(ratios):.3f}..{max(ratios):.3f}", flush=True)
    chosen()
    return 0


if __name__ == "__main__":
    sys.exit(main())
