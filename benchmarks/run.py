"""Run the workloads W1..W8 for cgraph, numpy and the installed peers; print medians and ratios.

    python -m benchmarks [--threads 1,all] [--only W1,W7] [--backends cgraph,jax] [--json out.json]
                         [--dtype float64,float32] [--sweep]

Every workload but W5 runs in float64 and float32. The header says which BLAS library and
kernels numpy and cgraph run (threadpoolctl); benchmark processes run without
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, which some machines set and which force slower kernels.
Every backend's result is checked against numpy's before it is timed (W4, whose steps draw
random numbers, is checked statistically: see workloads.py). Each thread setting runs in
fresh processes, one per backend, with the thread count set through the environment before
numpy is imported; a backend's time and numpy's are measured in that same process, batch
after batch, and its ratio is the quotient of the two medians (the load of other processes
then weighs on both alike). A peer that cannot build or run a workload shows
"failed: <reason>" in its cell. Peak memory (W3, W4) is measured in one more process per
backend and workload; compile times (W6) in new processes with an empty and a filled cache.
"""
import argparse
import compileall
import ctypes.util
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = ("pytensor", "jax", "torch", "numba")
# Some machines set these for old OpenBLAS builds; they force slower kernels on a current
# numpy (and on cgraph, which calls numpy's OpenBLAS). Benchmark processes run without them.
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
MEMORY_WORKLOADS = ("W3", "W4")


@dataclass
class Config:
    key: str                 # what --only matches and what the goal is looked up by
    label: str               # the table's workload column
    size: str                # the table's size column
    workload: str            # name of a function in benchmarks.workloads
    kwargs: dict = field(default_factory=dict)
    tol: float = 1e-6        # relative and absolute tolerance of the check against numpy
    statistical: bool = False


DTYPES = ("float64", "float32")


def configurations(tiny=False, dtypes=DTYPES, sweep=False):
    """The workloads at their benchmark sizes (or the smoke test's tiny ones), in each dtype;
    ``sweep`` adds W1 over 1e3..1e8 elements and W3 over batch sizes 1, 20, 128, 1024."""
    configs = []
    for dtype in dtypes:
        tol = 1e-4 if dtype == "float32" else 1e-6
        d = dict(dtype=dtype)
        w1_sizes = (1000,) if tiny else (10**6, 10**7)
        if sweep and not tiny:
            w1_sizes = (10**3, 10**4, 10**5, 10**6, 10**7, 10**8)
        for n in w1_sizes:
            configs.append(Config("W1", "W1 fused elementwise", f"{dtype} n={n:.0e}",
                                  "w1_elementwise", dict(size=n, **d),
                                  tol=1e-5 if dtype == "float32" else 1e-10))
        configs.append(Config("W2", "W2 logreg SGD step",
                              f"{dtype} " + ("784x10 b=600" if not tiny else "13x3 b=7"),
                              "w2_logreg_step", dict(size=(13, 3), batch=7, **d) if tiny else d,
                              tol=tol))
        w3_batches = (5,) if tiny else ((1, 20, 128, 1024) if sweep else (20,))
        for batch in w3_batches:
            configs.append(Config("W3", "W3 MLP SGD step",
                                  f"{dtype} " + (f"784-500-10 b={batch}" if not tiny
                                                 else "13-6-3 b=5"),
                                  "w3_mlp_step", dict(size=(13, 6, 3), batch=5, **d) if tiny
                                  else dict(batch=batch, **d), tol=tol))
        rbm = dict(size=(16, 10), batch=8, **d) if tiny else dict(d)
        rbm_size = f"{dtype} " + ("784x500 b=20" if not tiny else "16x10 b=8")
        configs.append(Config("W4", "W4 RBM CD-1 step", rbm_size, "w4_rbm_cd1", rbm,
                              statistical=True))
        configs.append(Config("W4 no scan", "W4 RBM CD-1, no scan", rbm_size, "w4_rbm_cd1",
                              dict(rbm, scan=False), statistical=True))
        rnn = dict(steps=4, batch=3, n_in=2, hidden=5, **d) if tiny else d
        rnn_size = f"{dtype} " + ("T=100 b=16 h=64" if not tiny else "T=4 b=3 h=5")
        configs.append(Config("W7 forward", "W7 RNN forward", rnn_size, "w7_rnn_forward", rnn,
                              tol=tol))
        configs.append(Config("W7 BPTT", "W7 RNN BPTT step", rnn_size, "w7_rnn_bptt", rnn,
                              tol=10 * tol if dtype == "float32" else tol))
        configs.append(Config("W8", "W8 CAE step",
                              f"{dtype} " + ("784x500 b=10" if not tiny else "12x7 b=3"),
                              "w8_cae_step", dict(size=(12, 7), batch=3, **d) if tiny else d,
                              tol=10 * tol if dtype == "float32" else tol))
    configs += [
        Config("W5", "W5 call x+1", "1 element", "w5_call_overhead", dict(size=1)),
        Config("W5 trusted", "W5 call, trust_input", "1 element", "w5_trusted_call",
               dict(size=1)),
    ]
    return configs


# Goals from the issues: (text, kind, limit). "ratio": cgraph time / numpy time; "seconds":
# cgraph's absolute time. The same goals hold in float32 and float64.
GOALS = {
    "W1": ("<= 0.3x", "ratio", 0.3),
    "W2": ("<= 0.6x", "ratio", 0.6),
    "W3": ("<= 0.55x", "ratio", 0.55),
    "W4": ("<= 0.6x", "ratio", 0.6),
    "W4 no scan": ("<= 0.6x", "ratio", 0.6),
    "W5": ("<= 0.4 us", "seconds", 0.4e-6),
    "W5 trusted": ("<= 0.4 us", "seconds", 0.4e-6),
    "W7 forward": ("<= 0.5x", "ratio", 0.5),
    "W7 BPTT": ("<= 0.6x", "ratio", 0.6),
    "W8": ("<= 0.3x", "ratio", 0.3),
    "W6 cold": ("<= 0.4 s", "seconds", 0.4),
    "W6 warm": ("<= 10 ms", "seconds", 0.010),
    "W6 import": ("<= 0.15 s", "seconds", 0.15),
}


def ahead_of_peers(cells, backends):
    """Whether cgraph's time beats every peer that ran the row (None: no peer ran it)."""
    mine = (cells.get("cgraph") or {}).get("seconds")
    peers = [(cells.get(b) or {}).get("seconds") for b in backends if b in PEERS]
    peers = [t for t in peers if t is not None]
    if mine is None or not peers:
        return None
    return all(mine < t for t in peers)


def goal_met(key, seconds, ratio):
    kind, limit = GOALS[key][1:]
    value = ratio if kind == "ratio" else seconds
    if not isinstance(value, float):
        return None
    return value <= limit


# --- measuring, inside a child process -----------------------------------------------------------

def _calibrate(run, batch_seconds):
    """How many calls make one timed batch last about ``batch_seconds``."""
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            run()
        if time.perf_counter() - t0 >= batch_seconds or number >= 1 << 20:
            return number
        number *= 2


def time_interleaved(runs, min_time=0.25, repeats=5):
    """Median seconds per call of each function, their batches taking turns so that a change
    in the machine's load falls on all of them alike."""
    numbers = [_calibrate(run, min_time / repeats) for run in runs]
    if all(n == 1 for n in numbers):   # calls of a tenth of a second or more: fewer batches
        repeats = min(repeats, 3)
    samples = [[] for _ in runs]
    for _ in range(repeats):
        for run, number, out in zip(runs, numbers, samples):
            t0 = time.perf_counter()
            for _ in range(number):
                run()
            out.append((time.perf_counter() - t0) / number)
    return [statistics.median(s) for s in samples]


def compare(reference, values, tol):
    """None when every value matches numpy's, else what differs."""
    import numpy as np
    if len(reference) != len(values):
        return f"{len(values)} values, numpy gives {len(reference)}"
    for k, (want, got) in enumerate(zip(reference, values)):
        if want.shape != got.shape:
            return f"value {k}: shape {got.shape}, numpy's {want.shape}"
        if not np.allclose(got, want, rtol=tol, atol=tol):
            err = np.max(np.abs(got.astype(np.float64) - want))
            return f"value {k}: max abs difference {err:.3g} (tolerance {tol:g})"
    return None


def _cd_draws(case, repeats):
    """Monitoring cost and parameter changes of ``repeats`` steps, each from the start state."""
    import numpy as np
    draws = []
    for _ in range(repeats):
        case.reset()
        before = [np.array(p, copy=True) for p in case.state()]
        cost = np.asarray(case.run()).ravel()
        after = case.state()
        draws.append(np.concatenate([cost] + [(np.asarray(a) - b).ravel()
                                              for a, b in zip(after, before)]))
    case.reset()
    return np.array(draws)


def z_score_limit(draws):
    """How large the mean squared z-score may get by chance. Under the null each z**2 averages
    (R-1)/(R-3) (a t statistic), but the elements are correlated (one sampled unit moves a
    whole row of W), so their mean varies by sqrt(2 ||C||_F^2) / K for correlation matrix C
    of the K elements; ||C||_F^2 equals that of the R x R Gram matrix of the standardized
    draws, cheap even for K = 392,000. The limit is six such deviations above the mean."""
    import numpy as np
    repeats, k = draws.shape
    std = draws.std(axis=0, ddof=1)
    standardized = (draws - draws.mean(axis=0)) / np.where(std > 0, std, 1)
    gram = standardized @ standardized.T / (repeats - 1)
    spread = np.sqrt(2 * np.sum(gram ** 2)) / k
    return (repeats - 1) / (repeats - 3) + 6 * spread


def check_statistically(reference_case, case, repeats):
    """W4: means over independent steps agree within their standard errors (see workloads)."""
    import numpy as np
    want, got = _cd_draws(reference_case, repeats), _cd_draws(case, repeats)
    if want.shape != got.shape:
        return f"{got.shape[1]} values per step, numpy gives {want.shape[1]}"
    diff = got.mean(axis=0) - want.mean(axis=0)
    stderr = np.sqrt((got.var(axis=0, ddof=1) + want.var(axis=0, ddof=1)) / repeats)
    constant = stderr <= 1e-12 * (1 + np.abs(want.mean(axis=0)))
    if np.any(np.abs(diff[constant]) > 1e-8):
        return "a value that numpy never varies differs"
    z = diff[~constant] / stderr[~constant]
    if not z.size:
        return None
    mean_z2, limit = float(np.mean(z ** 2)), z_score_limit(want[:, ~constant])
    cost_z = abs(diff[0] / stderr[0]) if not constant[0] else 0.0
    if mean_z2 > limit or cost_z > 5:
        return (f"means over {repeats} steps differ from numpy's: mean squared z-score "
                f"{mean_z2:.2f} (limit {limit:.2f}), cost z-score {cost_z:.1f} (limit 5)")
    return None


def measure(config, backend, min_time=0.25, repeats=5, stat_repeats=60):
    """One table cell: check ``backend`` against numpy, then time both. Returns a dict."""
    from benchmarks import workloads
    build = getattr(workloads, config.workload)
    reference = build("numpy", **config.kwargs)
    try:
        t0 = time.perf_counter()
        case = build(backend, **config.kwargs)
        if case is None:
            return None
        if config.statistical:
            problem = check_statistically(reference, case, stat_repeats)
        else:
            problem = compare(reference.check_values(), case.check_values(), config.tol)
        setup = time.perf_counter() - t0
    except Exception as exc:    # a backend that cannot build or run this workload
        return {"failed": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
    if problem:
        return {"failed": f"wrong result: {problem}"}
    if backend == "numpy":
        seconds = time_interleaved([case.run], min_time, repeats)[0]
        return {"seconds": seconds, "numpy_seconds": seconds, "ratio": 1.0,
                "setup_seconds": setup}
    try:
        numpy_seconds, seconds = time_interleaved([reference.run, case.run], min_time, repeats)
    except Exception as exc:
        return {"failed": f"{type(exc).__name__} while timing: {exc}".splitlines()[0][:300]}
    cell = {"seconds": seconds, "numpy_seconds": numpy_seconds, "ratio": seconds / numpy_seconds,
            "setup_seconds": setup}
    if case.note:
        cell["note"] = case.note
    return cell


def _rss_kib(field_name):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise OSError(f"{field_name} not in /proc/self/status")


def peak_memory(config, backend, steps):
    """Peak resident memory during ``steps`` training steps, in this fresh process: the
    high-water mark is reset (Linux clear_refs 5) after the build and two warm-up steps, so
    it covers the loop alone; ``loop_mib`` is how far the loop rose above the RSS it started
    from (the framework's working memory), ``peak_mib`` the whole process's peak in it."""
    import resource
    from benchmarks import workloads
    case = getattr(workloads, config.workload)(backend, **config.kwargs)
    if case is None:
        return None
    case.run()
    case.run()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        start, how = _rss_kib("VmRSS"), "VmHWM after clear_refs"
    except OSError:
        start, how = None, "ru_maxrss over the whole process"
    for _ in range(steps):
        case.run()
    if start is not None:
        peak = _rss_kib("VmHWM")
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_mib": peak / 1024, "loop_mib": (peak - start) / 1024 if start else None,
            "steps": steps, "how": how}


def _library_of(address):
    """The shared library file that holds ``address`` (dladdr), or None."""
    class DlInfo(ctypes.Structure):
        _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                    ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]
    info = DlInfo()
    libc = ctypes.CDLL(None)
    if not libc.dladdr(ctypes.c_void_p(address), ctypes.byref(info)) or not info.dli_fname:
        return None
    return os.path.realpath(info.dli_fname.decode())


def blas_info():
    """Which BLAS library, version and kernel architecture numpy and cgraph run (in a
    process with the benchmark's environment): threadpoolctl's view of the loaded libraries,
    and the file cgraph's dgemm pointer lies in."""
    import numpy as np
    a = np.ones((64, 64))
    a @ a                                     # make sure numpy's BLAS is loaded
    from cgraph.blas_pointers import ROUTINES, blas_pointers
    pointers, ilp64 = blas_pointers()
    info = {"cgraph_library": _library_of(pointers[ROUTINES.index("dgemm")]),
            "cgraph_ilp64": ilp64,
            "env_removed": [n for n in OPENBLAS_OVERRIDES if n in os.environ]}
    try:        # the small-GEMM tiles chosen for this CPU (cgraph/gemm_tuning.py)
        from cgraph import gemm_tuning, runtime_library
        runtime_library.runtime()
        info["small_gemm"] = gemm_tuning.describe()
    except Exception as exc:   # noqa: BLE001 - the header says so rather than failing
        info["small_gemm"] = f"small-GEMM tiles: unknown ({type(exc).__name__}: {exc})"
    try:
        import threadpoolctl
    except ImportError:
        info["libraries"] = None
        return info
    info["libraries"] = [{k: lib.get(k) for k in ("internal_api", "version", "architecture",
                                                  "num_threads", "filepath")}
                         for lib in threadpoolctl.threadpool_info() if lib.get("user_api") == "blas"]
    return info


def blas_report(timeout=120):
    env = thread_env(1)
    records, problem = run_child(["--blas-info"], env, timeout)
    report = records[-1] if records else {"failed": problem}
    report["env_removed"] = [n for n in OPENBLAS_OVERRIDES if n in os.environ]
    return report


def print_blas(report):
    """The header every table is read against: which BLAS kernels numpy and cgraph ran."""
    if "failed" in report:
        print(f"BLAS: could not be inspected ({report['failed']})")
        return
    removed = report.get("env_removed") or []
    if removed:
        print(f"benchmark processes run without {', '.join(removed)} "
              f"(set here: {', '.join(f'{n}={os.environ[n]}' for n in removed)})")
    libraries = report.get("libraries")
    if libraries is None:
        print("BLAS: install threadpoolctl (the bench extra) to see which kernels run")
    for lib in libraries or []:
        users = ["numpy"] + (["cgraph"] if lib["filepath"] and report["cgraph_library"] and
                             os.path.realpath(lib["filepath"]) == report["cgraph_library"] else [])
        print(f"BLAS used by {' and '.join(users)}: {lib['internal_api']} {lib['version']}, "
              f"{lib['architecture']} kernels, {lib['num_threads']} threads "
              f"({os.path.basename(lib['filepath'] or '?')})")
    if not any(lib["filepath"] and os.path.realpath(lib["filepath"]) == report["cgraph_library"]
               for lib in libraries or []):
        print(f"BLAS used by cgraph: {report['cgraph_library']}")
    if report.get("small_gemm"):
        print(f"cgraph's {report['small_gemm']}")


# --- the parent: one child process per thread setting and backend -----------------------------

def available_backends(requested=None):
    names = ["numpy", "cgraph"] + [p for p in PEERS if importlib.util.find_spec(p) is not None]
    if requested:
        names = [n for n in names if n in requested]
    return names


def thread_env(threads):
    env = dict(os.environ)
    for name in OPENBLAS_OVERRIDES:    # benchmarks only: they force slower kernels on numpy
        env.pop(name, None)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
        env[name] = str(threads)
    env["XLA_FLAGS"] = (f"--xla_cpu_multi_thread_eigen={'false' if threads == 1 else 'true'} "
                        f"intra_op_parallelism_threads={threads}")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    # pip's PyTensor finds no BLAS by itself; point it at OpenBLAS when the system has one
    if "PYTENSOR_FLAGS" not in env and ctypes.util.find_library("openblas"):
        env["PYTENSOR_FLAGS"] = "blas__ldflags=-lopenblas"
    env.setdefault("JAX_PLATFORMS", "cpu")
    return env


def run_child(args, env, timeout):
    """Run ``python -m benchmarks <args>`` and return the JSON lines it printed (also those
    printed before a crash or a timeout) and what went wrong, if anything. The child's
    temporary files go to a folder removed after it (the peers leave theirs: PyTensor's
    numba backend ~700 files in /tmp per run)."""
    with tempfile.TemporaryDirectory(prefix="cgraph-bench-") as scratch:
        return _run_child(args, dict(env, TMPDIR=scratch), timeout)


def _run_child(args, env, timeout):
    try:
        proc = subprocess.run([sys.executable, "-m", "benchmarks"] + args, env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
        out, problem = proc.stdout, None
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            problem = f"process exited with {proc.returncode}: {tail}"[:300]
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        problem = f"timed out after {timeout} s"
    records = []
    for line in out.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records, problem


def run_threads(configs, backends, threads, timeout, selection):
    """Every cell of one thread setting: {config.label + size: {backend: cell}};
    ``selection``: the arguments that make the child select the same configurations."""
    env = thread_env(threads)
    rows = {f"{c.label}|{c.size}": {} for c in configs}
    if not configs:       # --only W6: nothing to time per call
        return rows
    only = ",".join(sorted({c.key for c in configs}))
    for backend in backends:
        if backend == "numpy":    # timed in every other backend's process, beside it
            continue
        started = time.perf_counter()
        records, problem = run_child(["--child", backend, "--only", only] + selection, env,
                                     timeout)
        done = set()
        for rec in records:
            rows[rec["row"]][backend] = rec["cell"]
            done.add(rec["row"])
        if problem:      # the cell it was working on, and those after it, record why
            for c in configs:
                row = f"{c.label}|{c.size}"
                if row not in done and backend not in rows[row]:
                    rows[row][backend] = {"failed": problem}
        print(f"  threads={threads} {backend}: {time.perf_counter() - started:.0f} s",
              file=sys.stderr, flush=True)
    for cells in rows.values():   # numpy's column: its time in cgraph's process (else a peer's)
        timed = [cells[b] for b in backends if "numpy_seconds" in cells.get(b, {})]
        if timed:
            cells["numpy"] = {"seconds": timed[0]["numpy_seconds"]}
    return rows


def memory_table(configs, backends, timeout, tiny):
    env = thread_env(1)
    tiny = ["--tiny"] if tiny else []
    table = {}
    for c in configs:
        if c.key not in MEMORY_WORKLOADS:
            continue
        table[f"{c.label}|{c.size}"] = cells = {}
        for backend in backends:
            if backend == "numba":
                continue
            records, problem = run_child(["--memory", c.key, "--backend", backend,
                                          "--dtype", c.kwargs["dtype"]] + tiny, env, timeout)
            if records and records[-1] is not None:
                cells[backend] = records[-1]
            elif problem:
                cells[backend] = {"failed": problem}
    return table


def compile_times(timeout=300):
    """W6: import cgraph; cold function() of the MLP training step with an empty cache; warm
    function() of the same in a new process once the cache holds it. The goals are for
    function() itself; the time to build the step's data, graph and gradient is reported
    beside it ("setup")."""
    program = ("import time; t0 = time.perf_counter(); import cgraph; t_import = time.perf_counter() - t0\n"
               "spent = [0.0]; _function = cgraph.function\n"
               "def timed(*args, **kwargs):\n"
               "    t = time.perf_counter(); f = _function(*args, **kwargs)\n"
               "    spent[0] += time.perf_counter() - t; return f\n"
               "cgraph.function = timed\n"
               "from benchmarks.workloads import w3_mlp_step\n"
               "t0 = time.perf_counter(); w3_mlp_step('cgraph'); t = time.perf_counter() - t0\n"
               "print(t_import, t, spent[0])\n" + _SPLIT_PROGRAM)
    # cgraph's modules byte-compiled first, as ``pip install`` leaves them: in a source tree
    # under PYTHONDONTWRITEBYTECODE=1 every import would otherwise compile ~100 modules from
    # source (~150 ms, and ~5 ms of the warm function() for the modules it imports late)
    compileall.compile_dir(os.path.join(ROOT, "cgraph"), quiet=1)
    compileall.compile_dir(os.path.join(ROOT, "benchmarks"), quiet=1)
    env = thread_env(1)
    with tempfile.TemporaryDirectory() as cache:
        env["CGRAPH_CACHE_DIR"] = cache
        results, splits = [], []
        for _ in range(2):
            lines = subprocess.run([sys.executable, "-c", program], env=env,
                                   capture_output=True, text=True, check=True, cwd=ROOT,
                                   timeout=timeout).stdout.splitlines()
            results.append([float(v) for v in lines[0].split()])
            splits.append(json.loads(lines[1]))
    imports = []
    for _ in range(3):   # the median of three: one import is a few file-system reads
        out = subprocess.run([sys.executable, "-c", "import time; t0 = time.perf_counter(); "
                              "import cgraph; print(time.perf_counter() - t0)"],
                             capture_output=True, text=True, cwd=ROOT, env=env, check=True,
                             timeout=timeout).stdout
        imports.append(float(out))
    return {"W6 import": statistics.median(imports), "W6 cold": results[0][2],
            "W6 warm": results[1][2], "W6 cold setup": results[0][1],
            "W6 warm setup": results[1][1], "W6 cold split": splits[0],
            "W6 warm split": splits[1]}


# Printed by the W6 child after its timings: where a cold function() went. Each unit the
# process compiled (the runtime library, the call-path extension and the step's module) with
# its compiler time (the first two compile in threads while the graph is lowered; a module
# split into translation units lists each one's compile, run side by side, and the link:
# see cgraph/cache/build_units.py), the time
# in the dynamic loader, and the rest of function(): Python (rewrites, lowering, rendering,
# cache checks) and waiting for the units built beside it.
_SPLIT_PROGRAM = """
import json, os
from cgraph import cache
units = []
for key, folder, build in cache.list_entries():
    if build.get("built_by", "").endswith(f"pid {os.getpid()}"):
        kind = build.get("material", {}).get("kind", "module")
        units.append({"unit": build.get("function") if kind == "module" else kind,
                      "gcc_seconds": build.get("compile_seconds", 0.0),
                      "translation_units": build.get("unit_seconds")})
# a module compiled beside the runtime library waited for it before linking (its build.json
# counts the wait as compile time): reported on its own, out of the module's gcc time
from cgraph.cache.deferred_link import stats as deferred
wait = deferred["runtime_wait_seconds"]
for u in units[::-1]:
    if u["unit"] not in ("runtime", "extension") and wait:
        u["gcc_seconds"], wait = max(u["gcc_seconds"] - wait, 0.0), 0.0
module_gcc = sum(u["gcc_seconds"] for u in units if u["unit"] not in ("runtime", "extension"))
load = cache.timings["load_seconds"]
print(json.dumps({"units": units, "load_seconds": load,
                  "runtime_wait_seconds": deferred["runtime_wait_seconds"],
                  "python_seconds": max(spent[0] - module_gcc - load, 0.0)}))
"""


# --- printing ----------------------------------------------------------------------------------

def _fmt(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def _cell_text(cell, footnotes, width=24):
    if cell is None:
        return "-"
    if "failed" in cell:
        reason = f"failed: {cell['failed']}"
        if len(reason) > width - 5:
            footnotes.append(reason)
            return reason[:width - 9] + f".. [{len(footnotes)}]"
        return reason
    text = _fmt(cell["seconds"])
    if cell.get("ratio") is not None and cell.get("ratio") != 1.0:
        text += f" ({cell['ratio']:.2f}x)"
    if cell.get("note"):
        if cell["note"] not in footnotes:
            footnotes.append(cell["note"])
        text += f" [{footnotes.index(cell['note']) + 1}]"
    return text


def print_table(configs, rows, backends, threads, w6=None):
    footnotes = []
    print(f"\nthreads={threads}: median time per call; (ratio) = time / numpy's time measured "
          f"in the same process, interleaved; numpy's column: its time beside cgraph")
    head = f"{'workload':<22}{'size':<26}" + "".join(f"{b:>25}" for b in backends)
    print(head + f"  {'goal (cgraph)':<14}{'met':<9}ahead of peers")
    for c in configs:
        key = f"{c.label}|{c.size}"
        cells = rows.get(key, {})
        mine = cells.get("cgraph") or {}
        met = goal_met(c.key, mine.get("seconds"), mine.get("ratio"))
        mark = "-" if met is None else ("met" if met else "NOT met")
        ahead = ahead_of_peers(cells, backends)
        ahead = "-" if ahead is None else ("yes" if ahead else "no")
        line = f"{c.label:<22}{c.size:<26}" + "".join(
            f"{_cell_text(cells.get(b), footnotes):>25}" for b in backends)
        print(line + f"  {GOALS[c.key][0]:<14}{mark:<9}{ahead}")
    for key, seconds in (w6 or {}).items():
        if key not in GOALS:        # the setup times and splits: printed in the notes below
            continue
        mark = "met" if goal_met(key, seconds, None) else "NOT met"
        label = {"W6 cold": "cold function()", "W6 warm": "warm function()",
                 "W6 import": "import cgraph"}[key]
        cgraph_col = backends.index("cgraph")
        cells = ["-"] * len(backends)
        cells[cgraph_col] = _fmt(seconds)
        print(f"{'W6 ' + label:<22}{'MLP step' if key != 'W6 import' else '':<26}" +
              "".join(f"{x:>25}" for x in cells) + f"  {GOALS[key][0]:<14}{mark}")
    if w6 and "W6 cold setup" in w6:
        print(f"  W6: the MLP step's data, graph, T.grad and function() together took "
              f"{_fmt(w6['W6 cold setup'])} cold, {_fmt(w6['W6 warm setup'])} warm")
    for which in ("cold", "warm"):
        split = (w6 or {}).get(f"W6 {which} split")
        if split:
            units = ", ".join(f"{u['unit']} {_fmt(u['gcc_seconds'])}" + _translation_units(u)
                              for u in split["units"])
            print(f"  W6 {which} function(): gcc per unit: {units or 'none'}; loading "
                  f"{_fmt(split['load_seconds'])}; Python and waiting for units built in "
                  f"threads {_fmt(split['python_seconds'])}")
    for k, note in enumerate(footnotes, 1):
        print(f"  [{k}] {note}")


def _translation_units(unit):
    """" (unit0.c 0.31 s, unit1.c 0.12 s, link 20 ms)" for a module built in translation
    units (each compile's wall time from the start of all of them; the link after them)."""
    parts = unit.get("translation_units")
    if not parts:
        return ""
    return " (" + ", ".join(f"{name} {_fmt(seconds)}" for name, seconds in parts.items()) + ")"


def print_memory(configs, table, backends):
    print("\npeak memory of a training loop (1 thread, one process per backend): "
          "loop = rise above the RSS the loop started from; peak = whole process")
    print(f"{'workload':<22}{'size':<26}" + "".join(f"{b:>25}" for b in backends if b != "numba"))
    for c in configs:
        key = f"{c.label}|{c.size}"
        if key not in table:
            continue
        cells = []
        for b in backends:
            if b == "numba":
                continue
            cell = table[key].get(b)
            if cell is None:
                cells.append("-")
            elif "failed" in cell:
                cells.append(("failed: " + cell["failed"])[:24])
            else:
                loop = cell["loop_mib"]
                cells.append(f"{loop:.1f} / {cell['peak_mib']:.0f} MiB" if loop is not None
                             else f"peak {cell['peak_mib']:.0f} MiB")
        print(f"{c.label:<22}{c.size:<26}" + "".join(f"{x:>25}" for x in cells))


# --- entry point -------------------------------------------------------------------------------

def _select(configs, only):
    if not only:
        return configs
    return [c for c in configs if any(c.key == o or c.key.startswith(o + " ") or
                                      c.label.startswith(o) for o in only)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,all",
                        help="comma-separated thread counts; 'all' = every core (default 1,all)")
    parser.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W7")
    parser.add_argument("--backends", default="", help="comma-separated backends (default: all installed)")
    parser.add_argument("--json", default="", help="write every number to this file")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per backend process")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (the smoke test's)")
    parser.add_argument("--dtype", default=",".join(DTYPES),
                        help="comma-separated dtypes of W1-W4, W7, W8 (default float64,float32)")
    parser.add_argument("--sweep", action="store_true",
                        help="also W1 over 1e3..1e8 elements and W3 over batch 1, 20, 128, 1024")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--memory", default="", help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="", help=argparse.SUPPRESS)
    parser.add_argument("--blas-info", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    only = [o.strip() for o in args.only.split(",") if o.strip()]
    dtypes = tuple(d.strip() for d in args.dtype.split(",") if d.strip())
    configs = _select(configurations(args.tiny, dtypes, args.sweep), only)
    selection = ["--dtype", ",".join(dtypes)] + (["--tiny"] if args.tiny else []) + \
        (["--sweep"] if args.sweep else [])
    timing = dict(min_time=0.02, repeats=3, stat_repeats=300) if args.tiny else {}

    if args.child:               # one backend, every selected workload, one JSON line each
        for c in configs:
            cell = measure(c, args.child, **timing)
            if cell is not None:
                print(json.dumps({"row": f"{c.label}|{c.size}", "cell": cell}), flush=True)
        return
    if args.blas_info:
        print(json.dumps(blas_info()), flush=True)
        return
    if args.memory:
        config = next(c for c in configurations(args.tiny, dtypes) if c.key == args.memory)
        print(json.dumps(peak_memory(config, args.backend, 20 if args.tiny else 300)), flush=True)
        return

    started = time.perf_counter()
    backends = available_backends([b for b in args.backends.split(",") if b])
    results = {"backends": backends, "python": sys.version.split()[0], "cpus": os.cpu_count(),
               "tiny": args.tiny, "dtypes": dtypes, "threads": {}}
    results["blas"] = blas_report()
    print_blas(results["blas"])
    w6 = None
    if not only or "W6" in only:
        try:
            w6 = compile_times()
        except Exception as exc:
            w6, results["W6_failed"] = None, f"{type(exc).__name__}: {exc}"
        results["W6"] = w6
    tables = []
    for threads in args.threads.split(","):
        n = os.cpu_count() if threads.strip() == "all" else int(threads)
        rows = run_threads(configs, backends, n, args.timeout, selection)
        results["threads"][str(n)] = rows
        tables.append((n, rows))
    memory = None
    if not args.no_memory and any(c.key in MEMORY_WORKLOADS for c in configs):
        memory = memory_table(configs, backends, args.timeout, args.tiny)
        results["peak_memory"] = memory
    for n, rows in tables:
        print_table(configs, rows, backends, n, w6)
    if memory:
        print_memory(configs, memory, backends)
    goals = {}     # cgraph against the goals: the goal, cgraph's number, met or not
    for n, rows in tables:
        for c in configs:
            mine = rows.get(f"{c.label}|{c.size}", {}).get("cgraph") or {}
            value = mine.get("ratio") if GOALS[c.key][1] == "ratio" else mine.get("seconds")
            goals[f"{c.label}|{c.size}|threads={n}"] = {
                "goal": GOALS[c.key][0], "value": value,
                "met": goal_met(c.key, mine.get("seconds"), mine.get("ratio")),
                "ahead_of_peers": ahead_of_peers(rows.get(f"{c.label}|{c.size}", {}), backends)}
    for key, seconds in (w6 or {}).items():
        if key not in GOALS:      # setup times, kept in results["W6"]
            continue
        goals[key] = {"goal": GOALS[key][0], "value": seconds, "met": goal_met(key, seconds, None)}
    results["goals"] = goals
    results["wall_seconds"] = time.perf_counter() - started
    print(f"\nwhole run: {results['wall_seconds']:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":      # python benchmarks/run.py
    sys.path.insert(0, ROOT)
    from benchmarks.run import main as package_main
    package_main()
