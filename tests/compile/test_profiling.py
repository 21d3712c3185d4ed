"""profile=True: call times split in three, per-node times from an instrumented build."""
import io
import os
import subprocess
import sys

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T


def test_profile_reports_calls_and_nodes():
    x = T.dmatrix("x")
    W = cgraph.shared(np.random.default_rng(0).random((20, 10)), name="W")
    f = cgraph.function([x], T.sum(T.tanh(T.dot(x, W)), axis=1), profile=True, name="layer")
    plain = cgraph.function([x], T.sum(T.tanh(T.dot(x, W)), axis=1), name="layer")
    assert f.cache_key != plain.cache_key            # the instrumented build is its own entry
    assert "cg_profile_ns" in f.c_source and "cg_profile_ns" not in plain.c_source
    v = np.ones((5, 20))
    for _ in range(7):
        np.testing.assert_allclose(f(v), plain(v))
    assert f.profile.calls == 7 and f.profile.run_seconds > 0
    times = f.profile.node_times()
    assert len(times) == len(f.nodes) and all(calls == 7 for _, calls, _ in times)
    out = io.StringIO()
    cgraph.profiling.summary(file=out)
    text = out.getvalue()
    assert "Function profiling: layer" in text and "calls: 7" in text and "Dot" in text
    assert "C call" in text and "input checks" in text and "update write-back" in text


def test_profile_flag_and_py_mode():
    x = T.dvector("x")
    f = cgraph.function([x], x * 2, profile="my profile", mode="py")
    f([1.0])
    assert f.profile.calls == 1 and f.profile.message == "my profile"
    assert f.profile.node_times() == []
    env = dict(os.environ, CGRAPH_FLAGS="profile=True")
    out = subprocess.run([sys.executable, "-c", "import cgraph, cgraph.tensor as T;"
                          "x = T.dvector('x'); f = cgraph.function([x], x + 1);"
                          "f([1.0]); print(f.profile.calls)"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "1", out.stderr


@pytest.mark.slow   # a program in another process: 8 s on 2 busy cores
def test_slow_or_verbose_compiles_log_one_line(tmp_path):
    env = dict(os.environ, CGRAPH_FLAGS="compile_verbose=True", CGRAPH_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", "import cgraph, cgraph.tensor as T;"
                          "x = T.dvector('x'); cgraph.function([x], T.exp(x) + 1, name='logged')"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert "compiled function 'logged'" in out.stderr and "cache key" in out.stderr
