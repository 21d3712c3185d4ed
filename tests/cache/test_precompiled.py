"""Precompiled graphs run without a compiler: a cache filled by `python -m cgraph cache warm`
(and copied elsewhere, as into an image) serves a process in which every compiler on PATH is
a failing stub and starting any program raises, as long as the modules it needs are there;
a graph that is not there fails with CompilerMissing, saying why."""
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import cgraph
    import cgraph.tensor as T
    x = T.dvector("x")
    W = cgraph.shared(np.arange(4.0), name="W")
    f = cgraph.function([x], [T.tanh(x * W).sum(), T.exp(x).max()], updates=[(W, W * 2)])
    for _ in range(3):
        print([float(v) for v in f(np.array([0.5, -1.0, 2.0, 0.25]))])
    print(W.get_value().tolist())
    if len(sys.argv) > 1:      # a graph that was never compiled
        cgraph.function([x], x * float(sys.argv[1]))
""")

# Starting any program raises: no compiler (nor anything else) may run in this process.
NO_PROGRAMS = textwrap.dedent("""
    import runpy, subprocess, sys
    def refuse(self, args, *rest, **kw):
        raise AssertionError(f"a program was started: {args}")
    subprocess.Popen._execute_child = refuse
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
""")

COMPILERS = ("gcc", "cc", "clang", "c99", "tcc", "x86_64-linux-gnu-gcc")


def _env(root, path=None):
    env = dict(os.environ, PYTHONPATH=REPO, CGRAPH_CACHE_DIR=root)
    if path is not None:
        env["PATH"] = path
    return env


@pytest.fixture
def stubs(tmp_path):
    """A folder of failing compilers that log each start; (folder, log path)."""
    folder, log = tmp_path / "stubs", tmp_path / "started.log"
    folder.mkdir()
    for name in COMPILERS:
        stub = folder / name
        stub.write_text(f"#!/bin/sh\necho \"$0 $*\" >> {log}\nexit 1\n")
        stub.chmod(0o755)
    return str(folder), str(log)


@pytest.mark.slow   # a program in another process: 12 s on 2 busy cores
def test_a_warmed_cache_runs_where_no_compiler_works(tmp_path, stubs):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    built_root = str(tmp_path / "built")
    warm = subprocess.run([sys.executable, "-m", "cgraph", "cache", "warm", str(script)],
                          env=_env(built_root), capture_output=True, text=True, cwd=REPO,
                          timeout=600)
    assert warm.returncode == 0, warm.stderr
    assert "warmed" in warm.stderr and "modules built" in warm.stderr
    # shipped: copied elsewhere (new inodes, as in an image)
    shipped = str(tmp_path / "shipped")
    shutil.copytree(built_root, shipped, symlinks=True)
    stub_dir, log = stubs
    path = stub_dir + os.pathsep + os.environ.get("PATH", "")
    run = subprocess.run([sys.executable, "-c", NO_PROGRAMS, str(script)],
                         env=_env(shipped, path), capture_output=True, text=True, cwd=REPO,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout == warm.stdout
    assert not os.path.exists(log), open(log).read()
    # a graph the cache does not hold needs the compiler: a clear error, from the stub
    missing = subprocess.run([sys.executable, str(script), "3.5"], env=_env(shipped, path),
                             capture_output=True, text=True, cwd=REPO, timeout=300)
    assert missing.returncode != 0
    assert "CompilerMissing" in missing.stderr and "does not work" in missing.stderr
    assert missing.stdout == warm.stdout
