"""A cache filled by an earlier cgraph of the same version is used as it is: the code that
reads the cache may be reorganised, but keys, file names, manifests and records keep their
format. Units whose C changed since (the runtime library, the call-path extension and graph
modules all have) get new keys and are built beside the old entries, which stay sound:
nothing is quarantined or warned about, and the new entries serve the next process.

The earlier cgraph is commit BASE (the last with the cache in one file, cgraph/cache.py),
taken from this checkout's git history; without git or that commit the test is skipped.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cache_helpers import REPO, compiler_calls, graph_env, run_ok  # noqa: F401

BASE = "799555b14dca212d3425b9252e1fb3e9ef9326f2"

# One training step of a small layer: the runtime library, the C call path (a CPython
# extension), a graph module with BLAS and an update, and the warm path's pre-key records.
PROGRAM = textwrap.dedent("""\
    import json, warnings
    caught = warnings.catch_warnings(record=True).__enter__()
    warnings.simplefilter("always")
    import numpy as np
    import cgraph, cgraph.tensor as T
    from cgraph import cache
    x = T.dmatrix("x")
    W = cgraph.shared(np.arange(6.0).reshape(3, 2) / 10, name="W")
    cost = T.tanh(T.dot(x, W)).sum()
    step = cgraph.function([x], [cost, T.grad(cost, W)],
                           updates=[(W, W - 0.5 * T.grad(cost, W))], name="step")
    out = step(np.linspace(-1.0, 1.0, 12).reshape(4, 3))
    print(json.dumps({"cgraph": cgraph.__file__, "out": [np.asarray(o).tolist() for o in out],
                      "W": W.get_value().tolist(), "origin": step.module_origin,
                      "builds": [cache.stats["builds"], cache.runtime_stats["builds"],
                                 cache.extension_stats["builds"]],
                      "keys": sorted(k for k, _, _ in cache.list_entries()),
                      "warnings": [str(w.message) for w in caught]}))
    """)


def _earlier_cgraph(folder):
    """BASE's tree in ``folder``, or skip when this checkout cannot give it."""
    try:
        subprocess.run(["git", "-C", REPO, "cat-file", "-e", BASE + "^{commit}"],
                       check=True, capture_output=True)
        archive = subprocess.run(["git", "-C", REPO, "archive", BASE], check=True,
                                 capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"this checkout has no git history with commit {BASE[:10]}")
    os.makedirs(folder)
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    return folder


@pytest.mark.slow
def test_cache_filled_by_the_earlier_layout_is_read_as_it_is(graph_env, tmp_path):
    env, log = graph_env
    old = _earlier_cgraph(str(tmp_path / "earlier"))
    filled = run_ok(PROGRAM, env, cwd=old)      # python -c imports from its working folder
    assert filled["cgraph"].startswith(old), filled["cgraph"]
    assert filled["builds"] == [1, 1, 1] and filled["origin"] == "built", filled
    compiles_before = compiler_calls(log, compiles_only=True)
    assert compiles_before >= 1

    now = run_ok(PROGRAM, env)                  # this checkout's cgraph, same cache
    assert now["cgraph"].startswith(REPO), now["cgraph"]
    assert set(filled["keys"]) <= set(now["keys"])   # old entries stay: none quarantined
    assert now["warnings"] == [], now["warnings"]
    # the same values (to the last bits: kernels change between versions, e.g. a vector tanh)
    for a, b in zip(now["out"] + [now["W"]], filled["out"] + [filled["W"]]):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    again = run_ok(PROGRAM, env)                # and the new entries serve the next process
    assert again["builds"] == [0, 0, 0] and again["origin"] == "disk", again

    check = subprocess.run([sys.executable, "-m", "cgraph", "cache", "verify", "--report-only"],
                           env=dict(os.environ, **env), cwd=REPO, capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    n = len(now["keys"])
    assert f"checked {n} entries in {env['CGRAPH_CACHE_DIR']}: {n} sound, 0 broken" in \
        check.stdout, check.stdout
