"""Run the workloads and print medians and ratios to numpy, all measured in one run.

    python -m benchmarks [--threads 1] [--only W1,W5] [--json results.json]

Every backend's result is checked against numpy's before it is timed. Thread counts are set
through the environment before numpy is imported, so each setting runs in a fresh process.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

PEERS = ("pytensor", "jax", "torch")


def _available(name):
    try:
        __import__(name)
        return True
    except Exception:
        return False


def time_case(case, min_time=0.3, repeats=7):
    """Median seconds per call over ``repeats`` batches of calls lasting ``min_time`` total."""
    case.run()
    number, elapsed = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            case.run()
        elapsed = time.perf_counter() - t0
        if elapsed * repeats >= min_time or number > 1 << 20:
            break
        number *= 2
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            case.run()
        samples.append((time.perf_counter() - t0) / number)
    return statistics.median(samples)


def configurations():
    from .workloads import w1_elementwise, w2_logreg_step, w3_mlp_step, w5_call_overhead
    for dtype in ("float64", "float32"):
        for size in (10**6, 10**7):
            yield f"W1 {dtype} n={size:.0e}", w1_elementwise, dict(size=size, dtype=dtype), 1e-5
    yield "W2 logreg step 784-10 b=600", w2_logreg_step, dict(), 1e-6
    yield "W3 MLP step 784-500-10 b=20", w3_mlp_step, dict(), 1e-6
    yield "W5 call x+1, 1 element", w5_call_overhead, dict(size=1), 0


def run_all(only=None):
    backends = ["numpy", "cgraph"] + [p for p in PEERS if _available(p)]
    rows = []
    for label, workload, kwargs, tol in configurations():
        if only and not any(label.startswith(o) for o in only):
            continue
        row = {"workload": label, "seconds": {}, "ratio_to_numpy": {}}
        reference = None
        names = backends + (["cgraph_trusted"] if label.startswith("W5") else [])
        for backend in names:
            try:
                case = workload(backend, **kwargs)
            except Exception as exc:   # a peer that cannot express the workload
                row["seconds"][backend] = f"error: {type(exc).__name__}: {exc}"[:120]
                continue
            if case is None:
                continue
            value = np.asarray(case.run())
            if backend == "numpy":
                reference = value
            elif tol and reference is not None and not np.allclose(value, reference, rtol=tol, atol=tol):
                row["seconds"][backend] = "WRONG RESULT"
                continue
            row["seconds"][backend] = time_case(case)
        base = row["seconds"].get("numpy")
        for backend, sec in row["seconds"].items():
            if isinstance(sec, float) and isinstance(base, float):
                row["ratio_to_numpy"][backend] = sec / base
        rows.append(row)
    return rows


def print_table(rows, threads):
    backends = []
    for row in rows:
        for b in row["seconds"]:
            if b not in backends:
                backends.append(b)
    print(f"\nthreads={threads}  (median time per step; ratio = time / numpy's time)")
    print(f"{'workload':<30}" + "".join(f"{b:>22}" for b in backends))
    for row in rows:
        cells = []
        for b in backends:
            sec = row["seconds"].get(b)
            if isinstance(sec, float):
                ratio = row["ratio_to_numpy"].get(b)
                cells.append(f"{_fmt(sec)} ({ratio:.2f}x)" if ratio is not None else _fmt(sec))
            else:
                cells.append(str(sec or "-")[:20])
        print(f"{row['workload']:<30}" + "".join(f"{c:>22}" for c in cells))


def _fmt(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def compile_times():
    """W6: cold and warm function() of the MLP training function, each in a new process."""
    import tempfile
    program = ("import time; t0 = time.perf_counter(); import cgraph; t_import = time.perf_counter() - t0\n"
               "from benchmarks.workloads import w3_mlp_step\n"
               "t0 = time.perf_counter(); w3_mlp_step('cgraph'); t = time.perf_counter() - t0\n"
               "print(t_import, t)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, CGRAPH_CACHE_DIR=cache, PYTHONPATH=root)
        results = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True,
                                 text=True, check=True, cwd=root).stdout.split()
            results.append((float(out[0]), float(out[1])))
    bare = subprocess.run([sys.executable, "-c", "import time; t0=time.perf_counter(); import cgraph;"
                           "print(time.perf_counter()-t0)"], capture_output=True, text=True,
                          cwd=root, env=dict(os.environ, PYTHONPATH=root)).stdout.strip()
    return {"import_seconds": float(bare), "cold_function_seconds": results[0][1],
            "warm_function_seconds": results[1][1]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1", help="comma-separated thread counts")
    parser.add_argument("--only", default="", help="comma-separated workload prefixes")
    parser.add_argument("--json", default="", help="write the results to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    only = [o for o in args.only.split(",") if o]
    if args.child:
        print(json.dumps(run_all(only)))
        return
    results = {}
    for threads in args.threads.split(","):
        env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
                   MKL_NUM_THREADS=threads, XLA_FLAGS=f"--xla_cpu_multi_thread_eigen={'false' if threads == '1' else 'true'} intra_op_parallelism_threads={threads}")
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        proc = subprocess.run([sys.executable, "-m", "benchmarks", "--child", "--only", args.only],
                              env=env, capture_output=True, text=True, cwd=root)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            sys.exit(1)
        rows = json.loads(proc.stdout.strip().splitlines()[-1])
        results[threads] = rows
        print_table(rows, threads)
    if not only or any(o.startswith("W6") for o in only):
        w6 = compile_times()
        results["W6"] = w6
        print(f"\nW6 MLP training function: cold function() {w6['cold_function_seconds']:.3f} s, "
              f"warm (new process, cache filled) {w6['warm_function_seconds'] * 1e3:.1f} ms; "
              f"import cgraph {w6['import_seconds'] * 1e3:.0f} ms")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
