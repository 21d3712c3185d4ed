"""The compile cache: a second process compiles nothing; entries are checked before loading."""
import json
import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph import cache
from cache_helpers import logging_compiler_env

pytestmark = pytest.mark.slow   # programs in fresh caches

PROGRAM = textwrap.dedent("""
    import json, sys
    import numpy as np
    import cgraph, cgraph.tensor as T
    from cgraph import cache
    x = T.dmatrix("x")
    w = cgraph.shared(np.ones((3, 2)) * 0.5, name="w")
    f = cgraph.function([x], T.tanh(x * 2.0 + 1.0), updates=[(w, w * 0.9)], name="two_process")
    print(json.dumps({"value": f(np.ones((3, 2))).tolist(), "stats": cache.stats,
                      "module": f.module_path}))
""")


def run_program(env_extra, program=PROGRAM):
    env = dict(os.environ, **env_extra)
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


@pytest.fixture
def private_cache(tmp_path):
    """A fresh cache folder and a compiler wrapper that logs every invocation."""
    log = tmp_path / "compiler.log"
    return dict(logging_compiler_env(str(log)), CGRAPH_CACHE_DIR=str(tmp_path / "cache")), log


def test_second_process_invokes_no_compiler(private_cache):
    env, log = private_cache
    first, _ = run_program(env)
    assert first["stats"]["builds"] == 1
    calls_after_first = log.read_text().count("\n")
    assert calls_after_first >= 1
    second, _ = run_program(env)
    assert second["stats"] == {"builds": 0, "disk_hits": 1, "memory_hits": 0}
    assert log.read_text().count("\n") == calls_after_first, "the second process ran the compiler"
    assert second["value"] == first["value"] and second["module"] == first["module"]
    assert np.allclose(first["value"], np.tanh(3.0))


def test_truncated_module_is_detected_and_rebuilt(private_cache):
    env, _ = private_cache
    first, _ = run_program(env)
    module = first["module"]
    with open(module, "r+b") as f:
        f.truncate(os.path.getsize(module) // 3)
    second, stderr = run_program(env)
    assert "broken" in stderr and second["stats"]["builds"] == 1
    assert second["value"] == first["value"]
    quarantine = os.path.join(env["CGRAPH_CACHE_DIR"], "quarantine")
    assert len(os.listdir(quarantine)) == 1


def test_bit_flipped_module_is_detected_and_rebuilt(private_cache):
    env, _ = private_cache
    first, _ = run_program(env)
    module = first["module"]
    with open(module, "r+b") as f:
        f.seek(os.path.getsize(module) // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    second, stderr = run_program(env)
    assert "broken" in stderr and second["stats"]["builds"] == 1
    assert second["value"] == first["value"]


def test_compile_error_keeps_the_evidence(tmp_path, monkeypatch):
    monkeypatch.setenv("CGRAPH_CACHE_DIR", str(tmp_path))
    with pytest.raises(cache.CompileError) as info:
        cache.get_module("int cg_run(void) { this is not C; }", name="broken")
    folder = info.value.folder
    assert os.path.exists(os.path.join(folder, "module.c"))
    build = json.load(open(os.path.join(folder, "build.json")))
    assert build["returncode"] != 0 and "error" in build["compiler_output"]
    assert cache.list_entries(str(tmp_path)) == []



def test_a_call_to_an_undeclared_function_is_a_compile_error(tmp_path, monkeypatch):
    """-Werror=implicit-function-declaration: a runtime helper missing from runtime.h stops
    the build, where -Wall alone would warn and link a call returning a guessed int."""
    monkeypatch.setenv("CGRAPH_CACHE_DIR", str(tmp_path))
    with pytest.raises(cache.CompileError) as info:
        cache.get_module("int cg_run(void) { return cg_helper_nobody_declared(1); }",
                         name="undeclared")
    build = json.load(open(os.path.join(info.value.folder, "build.json")))
    assert "implicit declaration of function" in build["compiler_output"]


def test_a_function_without_outputs_compiles_without_a_warning():
    f = cgraph.function([], [], name="no_outputs")
    assert f() == []
    build = json.load(open(os.path.join(os.path.dirname(f.module_path), "build.json")))
    assert build["compiler_output"] == "", build["compiler_output"]

def test_entry_layout_and_key(tmp_path, monkeypatch):
    monkeypatch.setenv("CGRAPH_CACHE_DIR", str(tmp_path))
    x = T.dvector("x")
    f = cgraph.function([x], x + 41.0, name="layout")
    folder = os.path.dirname(f.module_path)
    names = set(os.listdir(folder))
    assert {"module.c", "build.json", "manifest.json"} <= names
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    assert set(manifest["files"]) == names - {"manifest.json", "last_used"}   # the stamp is not content
    build = json.load(open(os.path.join(folder, "build.json")))
    material = build["material"]
    for field in ("source_sha256", "compiler", "compiler_version", "command", "python_abi",
                  "runtime", "cgraph", "format"):
        assert field in material
    assert any(flag.startswith("-march=") and flag != "-march=native" for flag in material["command"])
    assert open(os.path.join(folder, "module.c")).read() == f.c_source
    assert os.path.basename(folder) == f.cache_key == cache.compute_key(material)
    mode = stat.S_IMODE(os.stat(str(tmp_path / "v1")).st_mode)
    assert mode & 0o077 == 0


def test_cli_list_show_clear(tmp_path, prebuilt_units):
    # (the runtime and the extension adopted from the run's units: listed by their names)
    env = dict(os.environ, CGRAPH_CACHE_DIR=str(tmp_path))
    run_program({"CGRAPH_CACHE_DIR": str(tmp_path)})

    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "cgraph", "cache", *args], env=env,
                              capture_output=True, text=True, timeout=60)
        return proc.returncode, proc.stdout, proc.stderr

    code, out, _ = cli("list")
    # the function's module, cgraph's call-path extension and its runtime library (one of
    # each per cache: see fastcall.py, runtime_library.py)
    assert code == 0 and "3 entries" in out and "two_process" in out and "fastcall" in out
    assert "runtime" in out
    key = next(line for line in out.splitlines() if "two_process" in line).split()[0]
    code, out, _ = cli("show", key)
    assert code == 0 and "cg_run" in out and "two_process" in out
    code, _, err = cli("show", "zzzz")
    assert code == 1 and "no cache entry" in err
    code, out, _ = cli("path")
    assert out.strip() == str(tmp_path)
    code, out, _ = cli("clear")
    assert code == 0 and "removed 3" in out
    assert "0 entries" in cli("list")[1]


PREKEY_PROGRAM = textwrap.dedent("""
    import json
    import numpy as np
    import cgraph, cgraph.tensor as T
    from cgraph import cache
    x = T.dmatrix("x")
    w = cgraph.shared(np.ones((3, 2)), name="w")
    f = cgraph.function([x], T.tanh(T.dot(x, w)) + np.arange(400.0).reshape(200, 2)[:3], name="pk")
    value = f(np.ones((3, 3))).tolist()
    print(json.dumps({"value": value, "stats": cache.stats, "src": f.c_source is not None and "cg_run" in f.c_source}))
""")


def test_warm_function_finds_its_module_by_prekey_without_rendering(private_cache, monkeypatch):
    env, _ = private_cache
    first, _ = run_program(env, PREKEY_PROGRAM)
    assert first["stats"]["builds"] == 1
    # the second process must not render: make rendering fail there
    guard = "import cgraph.codegen.lower as L\nL.lower = None\n"
    second, _ = run_program(env, guard + PREKEY_PROGRAM)
    assert second["stats"]["builds"] == 0 and second["stats"]["disk_hits"] == 1
    assert second["value"] == first["value"] and second["src"]
