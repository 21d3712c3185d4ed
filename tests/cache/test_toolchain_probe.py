"""The compiler probe (cgraph/cache/compiler.py) goes into every cache key, so it must give one
machine one description: a compiler run that fails for want of resources (a loaded machine:
cc1 or ld not started, killed) is retried, never taken for an answer; two fresh caches on one
machine compute the same keys."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import cgraph
from cgraph.cache import compiler

CGRAPH_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(cgraph.__file__)))

# A compiler wrapper whose every other run fails as gcc does on a loaded machine (by turns:
# its driver cannot start cc1, or it is killed), when $CG_FLAKY names a folder for its count.
WRAPPER = textwrap.dedent("""\
    #!/bin/sh
    if [ -n "$CG_FLAKY" ]; then
        echo x >> "$CG_FLAKY/count"
        n=$(wc -l < "$CG_FLAKY/count")
        if [ $((n % 4)) = 1 ]; then
            echo "gcc: fatal error: cannot execute 'cc1': vfork: Resource temporarily unavailable" >&2
            exit 1
        fi
        if [ $((n % 4)) = 3 ]; then
            kill -9 $$
        fi
    fi
    if [ -n "$CG_NO_NATIVE" ]; then
        case "$*" in *-march=native*)
            echo "gcc: $CG_NO_NATIVE" >&2; exit 1;; esac
    fi
    exec gcc "$@"
""")


@pytest.fixture
def wrapper(tmp_path, monkeypatch):
    path = tmp_path / "bin" / "cc-wrapper"
    path.parent.mkdir()
    path.write_text(WRAPPER)
    path.chmod(0o755)
    monkeypatch.delenv("CG_FLAKY", raising=False)
    monkeypatch.delenv("CG_NO_NATIVE", raising=False)
    return str(path)


def test_transient_compiler_failures_do_not_change_the_description(wrapper, tmp_path,
                                                                   monkeypatch):
    steady = compiler._probe(wrapper)
    assert steady["target_flags"] and steady["version"].endswith(")")
    monkeypatch.setenv("CG_FLAKY", str(tmp_path))
    flaky = compiler._probe(wrapper)
    assert flaky == steady
    with open(tmp_path / "count") as f:
        assert len(f.read().split()) > 6          # the failures happened, and were retried


def test_a_compiler_that_keeps_failing_fails_the_probe_loudly(wrapper, monkeypatch):
    monkeypatch.setattr(compiler, "PROBE_ATTEMPTS", 2)
    monkeypatch.setenv("CG_NO_NATIVE", "fatal error: cannot execute 'cc1': vfork: "
                                       "Resource temporarily unavailable")
    with pytest.raises(compiler.CompilerMissing, match="probing the C compiler .* failed 2 "
                                                        "times .*-march=native"):
        compiler._probe(wrapper)
    # a compiler that rejects -march=native (not the machine's fault) builds for its default
    # target, as before
    monkeypatch.setenv("CG_NO_NATIVE", "error: unrecognized command-line option")
    assert compiler._probe(wrapper)["target_flags"] == []


# A fresh cache (no shipped probe) in a new process: its compiler description and the keys of
# the runtime library and of one module, computed without building them.
KEYS = textwrap.dedent("""
    import json
    from cgraph import cache, runtime_library
    from cgraph.cache import deferred_link
    root = cache.cache_root()
    runtime = cache.compute_key(cache.runtime_material(runtime_library.source_digest(), root,
                                                       build=True))
    source = "/* @cgraph-unit 0: blocks */ int a;\\n/* @cgraph-unit 1: loops */ int b;\\n" * 1000
    module = cache.compute_key(cache.key_material(source, root, deferred_link.PendingRuntime(
        runtime), build=True))
    print(json.dumps({"toolchain": dict(cache.toolchain(root, build=True)),
                      "runtime": runtime, "module": module}))
""")


def test_two_fresh_caches_on_one_machine_give_the_same_keys(tmp_path):
    """Three processes at once (loading each other), each with an empty cache of its own
    and no shipped probe, probe the compiler and agree on every key."""
    procs = []
    for k in range(3):
        env = dict(os.environ, CGRAPH_CACHE_DIR=str(tmp_path / f"cache{k}"),
                   CGRAPH_PREBUILT_DIR=str(tmp_path / "no-units"), PYTHONPATH=CGRAPH_ROOT)
        procs.append(subprocess.Popen([sys.executable, "-c", KEYS], env=env, cwd=CGRAPH_ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert results[0]["toolchain"]["target_flags"]
    assert results[1] == results[0] and results[2] == results[0]
    for k in range(3):                      # each probed for itself
        assert os.listdir(tmp_path / f"cache{k}" / "toolchain")
