"""Shared pieces of the cache tests (this file holds no test of its own).

Most reliability tests run programs in subprocesses, because what they guard against
(loading a truncated module, a builder killed mid-way) can kill a process outright; they
assert on exit codes and signals. ``graph_program`` builds one tiny graph with the real
compiler path; ``TINY_SOURCE`` is a hand-written module for tests that talk to
``cache.get_module`` directly (no lowering, ~0.15 s to compile).
"""
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from cgraph import cache

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY_SOURCE = textwrap.dedent("""\
    #include <stdint.h>
    #include <stdlib.h>
    int cg_run(void **in_data, const int64_t *in_shape, void **out_data, int64_t *out_shape,
               int *fail_node, char *err, int errlen)
    {
        (void)in_data; (void)in_shape; (void)out_data; (void)out_shape;
        (void)fail_node; (void)err; (void)errlen;
        return VALUE;
    }
    void cg_free(void *p) { free(p); }
    void cg_set_blas(void *a, void *b, void *c, void *d, void *e, void *f, int g)
    {
        (void)a; (void)b; (void)c; (void)d; (void)e; (void)f; (void)g;
    }
    int cg_set_lapack(void **routines, int n, int ilp64)
    {
        (void)routines; (void)n; (void)ilp64;
        return 0;
    }
    int cg_profile_read(int64_t *ns, int64_t *calls, int n)
    {
        (void)ns; (void)calls; (void)n;
        return 0;
    }
    int64_t cg_allocation_count(void) { return 0; }
    void cg_release_workspace(void) { }
    """)


def tiny_source(value):
    return TINY_SOURCE.replace("VALUE", str(int(value)))


def call_tiny(entry):
    return entry.lib.cg_run(None, None, None, None, None, None, 0)


# A program compiling x * SCALE + 1 over a vector for each SCALE; prints one JSON line
# describing the run. SETUP runs before cgraph is imported and may fill ``extra``.
GRAPH_PROGRAM = textwrap.dedent("""\
    import json, os, sys, time, warnings
    extra = {}
    SETUP
    import numpy as np
    caught = []
    warnings.simplefilter("always")
    warnings.showwarning = lambda m, c, f, l, file=None, line=None: caught.append(str(m))
    import cgraph, cgraph.tensor as T
    from cgraph import cache
    x = T.dvector("x")
    results = []
    for scale in SCALES:
        t0 = time.perf_counter()
        f = cgraph.function([x], x * float(scale) + 1.0, name="tiny")
        seconds = time.perf_counter() - t0
        value = f(np.arange(4.0))
        assert np.array_equal(value, np.arange(4.0) * scale + 1.0), value
        results.append({"key": f.cache_key, "module": f.module_path, "seconds": seconds})
    modules = sorted(m for m in sys.modules
                     if m.split(".")[0] in ("setuptools", "distutils", "pycparser", "cffi"))
    print(json.dumps({"results": results, "stats": cache.stats, "events": cache.events,
                      "warnings": caught, "pid": os.getpid(), "modules": modules,
                      "extra": extra}))
    """)


def graph_program(scales=(2,), setup=""):
    return GRAPH_PROGRAM.replace("SCALES", repr(tuple(scales))).replace(
        "SETUP", textwrap.dedent(setup).strip().replace("\n", "\n") or "pass")


# The same for hand-written tiny modules through cache.get_module: no templates involved.
TINY_PROGRAM = textwrap.dedent("""\
    import json, os, sys, time, warnings
    extra = {}
    caught = []
    warnings.simplefilter("always")
    warnings.showwarning = lambda m, c, f, l, file=None, line=None: caught.append(str(m))
    LIGHT_IMPORT
    SETUP
    results = []
    for value in VALUES:
        t0 = time.perf_counter()
        entry = cache.get_module(SOURCE.replace("VALUE", str(value)), "tiny")
        seconds = time.perf_counter() - t0
        assert entry.lib.cg_run(*[None] * 6, 0) == value
        results.append({"key": entry.key, "module": entry.module_path, "seconds": seconds,
                        "private": entry.private})
    print(json.dumps({"results": results, "stats": cache.stats, "events": cache.events,
                      "warnings": caught, "pid": os.getpid(), "extra": extra}))
    """)


# Imports cgraph.cache without the rest of the package (numpy, scipy.special, jinja2...):
# the cache needs none of it, and the reliability tests start ~100 such processes.
LIGHT_IMPORT = textwrap.dedent("""\
    import re, types
    if "cgraph" not in sys.modules:
        _package = types.ModuleType("cgraph")
        _package.__path__ = [os.path.join(REPO, "cgraph")]
        with open(os.path.join(REPO, "cgraph", "version.py")) as _f:
            _package.__version__ = re.search(r'__version__ = "([^"]+)"', _f.read()).group(1)
        sys.modules["cgraph"] = _package
    from cgraph import cache
    """).replace("REPO", repr(REPO))


def tiny_program(values=(1,), setup=""):
    return TINY_PROGRAM.replace("VALUES", repr(tuple(values))).replace(
        "SOURCE", repr(TINY_SOURCE)).replace(
        "SETUP", textwrap.dedent(setup).strip() or "pass").replace(
        "LIGHT_IMPORT", LIGHT_IMPORT.strip().replace("\n", "\n"))


def run(program, env, timeout=120, cwd=None, argv_prefix=()):
    """Run ``program`` with python in a subprocess; returns the CompletedProcess."""
    full_env = dict(os.environ, **env)
    full_env["PYTHONPATH"] = REPO + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([*argv_prefix, sys.executable, "-c", program], capture_output=True,
                          text=True, env=full_env, timeout=timeout, cwd=cwd or REPO)


def run_ok(program, env, **kwargs):
    proc = run(program, env, **kwargs)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cli(env, *args):
    full_env = dict(os.environ, **env)
    proc = subprocess.run([sys.executable, "-m", "cgraph", "cache", *args], env=full_env,
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    return proc.returncode, proc.stdout, proc.stderr


def make_logging_compiler(folder):
    """A compiler wrapper that appends each command line to a log, then runs gcc."""
    log = os.path.join(folder, "compiler.log")
    wrapper = os.path.join(folder, "logging-gcc")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\necho \"$@\" >> {log}\nexec gcc \"$@\"\n")
    os.chmod(wrapper, os.stat(wrapper).st_mode | stat.S_IEXEC)
    return wrapper, log


def compiler_calls(log, compiles_only=False):
    """Compiler invocations logged: all of them (probes too), or only module compiles."""
    try:
        with open(log) as f:
            return sum(1 for line in f if line.strip() and
                       (not compiles_only or cache.MODULE_FILE in line))
    except FileNotFoundError:
        return 0


def entry_folders(root):
    """The entries of functions (not cgraph's own call-path extension and runtime library,
    built once per cache)."""
    return [folder for _, folder, build in cache.list_entries(root)
            if build.get("material", {}).get("kind") not in ("extension", "runtime")]


def listing(path):
    """Every path under ``path`` (relative), for before/after comparisons."""
    found = []
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            found.append(os.path.relpath(os.path.join(dirpath, name), path))
    return sorted(found)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """In-process: an empty cache folder and a forgetful cache module (nothing loaded yet)."""
    root = str(tmp_path / "cache")
    monkeypatch.setenv("CGRAPH_CACHE_DIR", root)
    with cache.fresh_state():
        yield root


@pytest.fixture
def graph_env(tmp_path):
    """Subprocess settings: a private cache and a compiler that logs its calls."""
    log = str(tmp_path / "compiler.log")
    return dict(logging_compiler_env(log), CGRAPH_CACHE_DIR=str(tmp_path / "cache")), log


def logging_compiler_env(log, hook=None):
    """Settings for a subprocess whose compiler appends each command line to ``log``, runs
    the shell script ``hook`` if one is named (sourced: it sees the command line as "$@"),
    then runs gcc (see run_wide_compiler)."""
    script = ('#!/bin/sh\necho "$@" >> "$CGRAPH_TEST_COMPILER_LOG"\n'
              '[ -z "$CGRAPH_TEST_COMPILER_HOOK" ] || . "$CGRAPH_TEST_COMPILER_HOOK"\n'
              'exec gcc "$@"\n')
    return dict(run_wide_compiler("logging-gcc", script), CGRAPH_TEST_COMPILER_LOG=log,
                CGRAPH_TEST_COMPILER_HOOK=hook or "")


def run_wide_compiler(name, script):
    """{"CGRAPH_FLAGS": "cc=<wrapper>", "CGRAPH_PREBUILT_DIR": <its units>} for a compiler
    wrapper ``script`` (a shell script that ends by running gcc; it reads what varies per
    test from the environment: used by more than one test, else it saves nothing). One
    wrapper of a name serves the whole run: the compiler's path is part of the keys of the
    runtime library and the call-path extension, so with one path they are built once per
    run (into the wrapper's units folder, which every fresh cache of its tests adopts from)
    instead of ~8 s of gcc in each test's fresh cache."""
    import fcntl
    wrapper = os.path.join(os.environ["CGRAPH_TEST_RUN_TMP"], name)
    # a folder of its own: the run's folder keeps the default compiler's units alone (the
    # units fixture of test_prebuilt.py copies it as `cache prebuild --into` would write it)
    units = os.path.join(os.environ["CGRAPH_TEST_RUN_TMP"], f"{name}-units")
    env = {"CGRAPH_FLAGS": f"cc={wrapper}", "CGRAPH_PREBUILT_DIR": units}
    os.makedirs(units, exist_ok=True)
    with open(wrapper + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)        # pytest-xdist's workers: the first one builds
        if not os.path.exists(wrapper + ".units"):
            with open(wrapper, "w") as f:
                f.write(script)
            os.chmod(wrapper, 0o700)
            build = "import sys; from cgraph import prebuilt; prebuilt.build(sys.argv[1])"
            proc = subprocess.run([sys.executable, "-c", build, units], capture_output=True,
                                  text=True, env=dict(os.environ, **env, PYTHONPATH=REPO,
                                                      CGRAPH_TEST_COMPILER_LOG=os.devnull),
                                  cwd=REPO, timeout=600)
            assert proc.returncode == 0, proc.stderr
            open(wrapper + ".units", "w").close()
    return env
