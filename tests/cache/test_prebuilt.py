"""Units built ahead of time (cgraph/prebuilt.py, setup.py): the runtime library and the
call-path extension, built at install time into a folder of units, adopted by a cache that
misses their key; refused (one warning, then built) when they fail their checks."""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import cgraph
from cgraph import cache, gemm_tuning, prebuilt
from cgraph.cache import adopt, shipped

from cache_helpers import logging_compiler_env

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Children import the cgraph this process imported (the worktree, or an installed package
# under CI): units built here carry its templates' file names.
CGRAPH_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(cgraph.__file__)))

# One elementwise function in a fresh cache; prints what the cache did and what it warned.
PROGRAM = textwrap.dedent("""
    import json, warnings
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        import numpy as np
        import cgraph, cgraph.tensor as T
        from cgraph import cache, gemm_tuning
        from cgraph.cache import adopt
        x = T.dvector("x")
        f = cgraph.function([x], T.exp(x) * 2.0, name="prebuilt_exp")
        value = f(np.array([0.0, 1.0])).tolist()
    print(json.dumps({"value": value, "fast_call": f._fast_call is not None,
                      "prebuilt": adopt.stats, "runtime": cache.runtime_stats,
                      "extension": cache.extension_stats,
                      "tiles": gemm_tuning.chosen().get("source"),
                      "warnings": [str(w.message) for w in caught]}))
""")


def _run(cache_root, units):
    env = dict(os.environ, CGRAPH_CACHE_DIR=str(cache_root), CGRAPH_PREBUILT_DIR=str(units),
               PYTHONPATH=CGRAPH_ROOT)
    proc = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                          env=env, timeout=600, cwd=CGRAPH_ROOT)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert np.allclose(result["value"], [2.0, 2.0 * np.exp(1.0)], rtol=1e-15, atol=0)
    assert result["fast_call"]
    return result


@pytest.fixture(scope="module")
def units(tmp_path_factory, prebuilt_units):
    """Both units with what ships beside them: a copy of the run's (tests/conftest.py:
    built by prebuilt.build, the function `cache prebuild --into` calls, or copied from the
    installed package, which setup.py's build wrote through the same function). One build
    per run serves the tests of that command and of adoption: a build of their own was a
    second ~25 s of gcc (test_prebuild_into_writes_units_there checks the command's
    wiring)."""
    dest = tmp_path_factory.mktemp("prebuilt") / "units"
    shutil.copytree(prebuilt_units, dest)
    keys = {("runtime" if os.path.exists(dest / name / cache.RUNTIME_FILE) else "extension"):
            name for name in os.listdir(dest) if name not in ("templates", "toolchain", "tuning")}
    return str(dest), keys


def _copy(units, tmp_path):
    dest = str(tmp_path / "units-copy")
    shutil.copytree(units, dest)
    return dest


def _folder(units, keys, kind):
    return os.path.join(units, keys[kind])


# --- install-time build, then run-time adoption (compiles: slow) ------------------------

@pytest.mark.slow
@pytest.mark.xdist_group("units")   # one worker builds the units for all of them
def test_built_units_are_adopted_by_an_empty_cache(units, tmp_path):
    folder, keys = units
    assert sorted(keys) == ["extension", "runtime"]
    for kind, key in keys.items():
        files = sorted(os.listdir(os.path.join(folder, key)))
        module = cache.RUNTIME_FILE if kind == "runtime" else \
            next(f for f in files if f.startswith(cache.EXTENSION_NAME))
        assert files == sorted(["build.json", "manifest.json", "module.c", module])
    assert len(os.listdir(os.path.join(folder, "toolchain"))) == 1
    assert len(os.listdir(os.path.join(folder, "templates"))) > 20
    assert len(os.listdir(os.path.join(folder, "tuning"))) == 1
    first = _run(tmp_path / "cache", folder)
    assert first["prebuilt"] == {"adopted": 2, "refused": 0}
    assert first["tiles"] == gemm_tuning.SHIPPED        # the tiles' choice too, not timed
    assert first["runtime"]["builds"] == 0 and first["extension"]["builds"] == 0
    assert first["warnings"] == []
    # every template the module needed was loaded compiled from the units, none compiled
    assert not os.listdir(tmp_path / "cache" / "templates")
    # published in the cache like its own builds: sound entries, found there next time
    checked, bad = cache.verify(str(tmp_path / "cache"), quarantine=False)
    assert checked == 3 and not bad, bad
    kinds = sorted(b["material"]["kind"] for _, _, b in cache.list_entries(str(tmp_path / "cache")))
    assert kinds == ["extension", "module", "runtime"]
    second = _run(tmp_path / "cache", folder)
    assert second["prebuilt"]["adopted"] == 0
    assert second["runtime"]["disk_hits"] == 1 and second["extension"]["disk_hits"] == 1


@pytest.mark.slow
@pytest.mark.xdist_group("units")   # one worker builds the units for all of them
def test_a_tampered_unit_is_refused_once_and_built_in_the_cache(units, tmp_path):
    """(The extension is tampered with: one C file to build again, where the runtime
    library is many; both are checked by the same code.)"""
    folder, keys = _copy(units[0], tmp_path), units[1]
    unit = _folder(folder, keys, "extension")
    [library] = [os.path.join(unit, name) for name in os.listdir(unit)
                 if name.startswith(cache.EXTENSION_NAME)]
    with open(library, "r+b") as f:       # same size, one byte changed
        f.seek(os.path.getsize(library) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x01]))
    result = _run(tmp_path / "cache", folder)
    assert result["prebuilt"] == {"adopted": 1, "refused": 1}     # the runtime still is
    assert result["runtime"]["builds"] == 0 and result["extension"]["builds"] == 1
    [warning] = result["warnings"]
    assert f"prebuilt unit {unit}" in warning
    assert "does not match its manifest" in warning and "building it in the cache" in warning


@pytest.mark.slow
@pytest.mark.xdist_group("units")   # one worker builds the units for all of them
def test_units_of_another_key_are_ignored(units, tmp_path):
    """A unit is found by its key only: a unit built for another compiler, CPU or template
    (here: the extension's files under another key, beside the runtime library under its
    own) is never looked at."""
    source, keys = units
    folder = str(tmp_path / "other-keys")
    os.makedirs(folder)
    other = hashlib.sha256(keys["extension"].encode()).hexdigest()
    shutil.copytree(_folder(source, keys, "extension"), os.path.join(folder, other))
    shutil.copytree(_folder(source, keys, "runtime"), _folder(folder, keys, "runtime"))
    result = _run(tmp_path / "cache", folder)
    assert result["prebuilt"] == {"adopted": 1, "refused": 0}     # the runtime library
    assert result["runtime"]["builds"] == 0 and result["extension"]["builds"] == 1
    assert result["warnings"] == []
    assert os.listdir(tmp_path / "cache" / "templates")     # compiled here: none shipped


def test_shipped_templates_and_probe_are_used_only_when_intact(tmp_path, monkeypatch):
    from cgraph.cache_files import seal
    monkeypatch.setenv(shipped.PREBUILT_DIR_VARIABLE, str(tmp_path))
    os.makedirs(tmp_path / "templates")
    os.makedirs(tmp_path / "toolchain")
    (tmp_path / "templates" / "a.sealed").write_bytes(seal(b"bytecode"))
    assert shipped.shipped_template("a.sealed") == b"bytecode"
    assert shipped.shipped_template("b.sealed") is None                 # absent
    damaged = bytearray(seal(b"bytecode"))
    damaged[-1] ^= 1
    (tmp_path / "templates" / "c.sealed").write_bytes(bytes(damaged))
    assert shipped.shipped_template("c.sealed") is None                 # fails its seal
    os.chmod(tmp_path / "templates" / "a.sealed", 0o666)
    assert shipped.shipped_template("a.sealed") is None                 # others may write
    (tmp_path / "toolchain" / "p.json").write_bytes(seal(json.dumps({"cc": "gcc"}).encode()))
    assert shipped.shipped_probe("/cache/toolchain/p.json", ("cc",)) == {"cc": "gcc"}
    assert shipped.shipped_probe("/cache/toolchain/p.json", ("cc", "version")) is None


@pytest.mark.slow
@pytest.mark.xdist_group("units")   # one worker builds the units for all of them
def test_prebuild_command_fills_the_cache(units, tmp_path):
    env = dict(os.environ, CGRAPH_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=CGRAPH_ROOT)
    command = [sys.executable, "-m", "cgraph", "cache", "prebuild"]
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600,
                           cwd=CGRAPH_ROOT)
    assert first.returncode == 0, first.stderr
    kinds = sorted(b["material"]["kind"] for _, _, b in cache.list_entries(str(tmp_path / "cache")))
    assert kinds == ["extension", "runtime"]
    result = _run(tmp_path / "cache", tmp_path / "no-units")    # a function builds neither
    assert result["runtime"]["builds"] == 0 and result["extension"]["builds"] == 0
    assert result["runtime"]["disk_hits"] == 1 and result["extension"]["disk_hits"] == 1
    # `prebuild --into` (the units fixture) wrote those same keys as units, with what ships
    # beside them
    assert sorted(os.listdir(units[0])) == sorted(["templates", "toolchain", "tuning"] + [
        key for key, _, b in cache.list_entries(str(tmp_path / "cache"))
        if b["material"]["kind"] != "module"])


def test_prebuild_into_writes_units_there(tmp_path, monkeypatch, capsys):
    """`cache prebuild --into DIR` builds the units into DIR by prebuilt.build (which the
    units fixture's folder comes from) and times no tiles in the cache."""
    from cgraph.cache import cli
    built, retuned = [], []
    keys = {"runtime": "12" * 32, "extension": "34" * 32}
    monkeypatch.setattr(prebuilt, "build", lambda dest: built.append(dest) or keys)
    monkeypatch.setattr(cli, "_retune_tiles", lambda *args, **kw: retuned.append(args))
    monkeypatch.setenv("CGRAPH_CACHE_DIR", str(tmp_path / "cache"))
    assert cli.main(["prebuild", "--into", str(tmp_path / "units")]) == 0
    assert built == [str(tmp_path / "units")] and retuned == []
    assert f"built into {tmp_path / 'units'}: extension 3434" in capsys.readouterr().out


@pytest.mark.slow
def test_shipped_compiler_probe_spares_a_first_run_the_probe(tmp_path):
    """The run-wide logging compiler's units (see cache_helpers.run_wide_compiler) ship
    that compiler's probe: a first run adopting them starts the compiler only for its
    module."""
    log = tmp_path / "compiler.log"
    env = dict(os.environ, **logging_compiler_env(str(log)), PYTHONPATH=CGRAPH_ROOT)
    units = env["CGRAPH_PREBUILT_DIR"]
    assert os.listdir(os.path.join(units, "toolchain"))
    # without shipped units the first run probes that compiler, and the log shows it
    probe = "from cgraph import cache; cache.toolchain(build=True)"
    subprocess.run([sys.executable, "-c", probe], env=dict(
        env, CGRAPH_CACHE_DIR=str(tmp_path / "probe-cache"),
        CGRAPH_PREBUILT_DIR=str(tmp_path / "no-units")),
                   check=True, capture_output=True, timeout=600, cwd=CGRAPH_ROOT)
    assert "--version" in log.read_text()
    log.unlink()
    env.update(CGRAPH_CACHE_DIR=str(tmp_path / "c"), CGRAPH_PREBUILT_DIR=units)
    proc = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                          env=env, timeout=600, cwd=CGRAPH_ROOT)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["prebuilt"]["adopted"] == 2
    calls = log.read_text().splitlines()
    assert calls and all("module.c" in c or "module.o" in c for c in calls), calls   # no probe
    assert os.listdir(tmp_path / "c" / "toolchain")       # remembered in the cache as usual


# --- a module compiled while its runtime library is being built (cgraph/cache/deferred_link.py)

DEFERRED = textwrap.dedent("""
    import glob, hashlib, json, os, sys
    import numpy as np
    import cgraph, cgraph.tensor as T
    from cgraph import cache, runtime_library
    from cgraph.cache import deferred_link
    if sys.argv[1] == "broken-runtime":
        runtime_library.render_source = lambda: "this is not C;"
    else:     # a runtime build (if any) that surely outlasts the lowering of the graph
        render = runtime_library.render_source
        runtime_library.render_source = lambda: __import__("time").sleep(1.5) or render()
    x = T.dvector("x")
    try:
        f = cgraph.function([x], T.tanh(x) * 3.0, name="deferred")
    except Exception as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)[:300],
                          "deferred": deferred_link.stats["deferred_links"]}))
        sys.exit(0)
    [module] = [e for e in cache.list_entries() if e[2]["material"]["kind"] == "module"]
    with open(os.path.join(module[1], cache.MODULE_FILE), "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    print(json.dumps({"value": f(np.array([0.0, 1.0])).tolist(), "key": module[0],
                      "sha256": digest, "deferred": deferred_link.stats["deferred_links"],
                      "files": sorted(os.listdir(module[1])), "folder": module[1],
                      "material": module[2]["material"]}))
""")


@pytest.fixture(scope="module")
def extension_unit(tmp_path_factory, bare_prebuilt_units):
    """A folder of units holding the call-path extension alone: the runtime library is
    built (these tests are about its build), the extension adopted (its build, ~2 s of gcc
    beside the library's, was of no use to them)."""
    dest = tmp_path_factory.mktemp("extension-unit")
    for name in os.listdir(bare_prebuilt_units):
        unit = os.path.join(bare_prebuilt_units, name)
        if not os.path.exists(os.path.join(unit, cache.RUNTIME_FILE)):
            shutil.copytree(unit, dest / name)
    return str(dest)


def _deferred(root, units, *argv):
    env = dict(os.environ, CGRAPH_CACHE_DIR=str(root), PYTHONPATH=CGRAPH_ROOT,
               CGRAPH_PREBUILT_DIR=units)
    proc = subprocess.run([sys.executable, "-c", DEFERRED, *(argv or ["-"])],
                          capture_output=True, text=True, env=env, timeout=600, cwd=CGRAPH_ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def _material_difference(a, b):
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


@pytest.mark.slow
def test_a_module_compiled_beside_its_runtime_is_the_same_module(tmp_path, extension_unit):
    root = tmp_path / "cache"
    beside, _ = _deferred(root, extension_unit)     # runtime built in a thread meanwhile
    assert beside["deferred"] == 1
    assert np.allclose(beside["value"], np.tanh([0.0, 1.0]) * 3.0)
    assert beside["files"] == sorted(["_cgraph_mod.so", "build.json", "last_used",
                                      "manifest.json", "module.c"])     # no object left
    # The same graph again in the same cache, its module removed: the runtime is in the
    # cache now, so the module is compiled and linked in one command (same toolchain
    # description, same runtime: any difference in key or bytes comes from the deferral).
    shutil.rmtree(beside["folder"])
    shutil.rmtree(root / "prekeys", ignore_errors=True)
    after, _ = _deferred(root, extension_unit)
    # (usually deferred 0; under a loaded full-suite run it has been seen compiled beside
    # the library's load once, which this test does not pin down)
    assert after["deferred"] in (0, 1)
    assert after["key"] == beside["key"], _material_difference(beside["material"],
                                                               after["material"])
    assert after["sha256"] == beside["sha256"]
    checked, bad = cache.verify(str(root), quarantine=False)
    assert checked == 3 and not bad, bad


@pytest.mark.slow
def test_a_failed_runtime_build_fails_the_function_not_its_module(tmp_path, extension_unit):
    result, _ = _deferred(tmp_path / "cache", extension_unit, "broken-runtime")
    assert result["error"] == "CompileError" and "runtime" in result["message"]
    assert not os.path.exists(tmp_path / "cache" / "quarantine")
    kinds = [b["material"]["kind"] for _, _, b in cache.list_entries(str(tmp_path / "cache"))]
    assert "module" not in kinds


# --- the checks, on a hand-made unit (no compiler) --------------------------------------

def _fake_unit(folder, key, module_name, manifest_key=None):
    """A unit folder whose manifest matches its files (the files are not a real library)."""
    os.makedirs(folder)
    files = {}
    for name, data in ((module_name, b"\x7fELF not really"), ("module.c", b"int x;\n"),
                       ("build.json", b"{}")):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
        files[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump({"key": manifest_key or key, "format": "v1", "files": files}, f)


def _check(folder, key):
    return adopt._checked_unit(folder, key, cache.RUNTIME_FILE, cache.SOURCE_FILES)


def test_checks_accept_a_unit_that_matches_its_manifest(tmp_path):
    key = "ab" * 32
    _fake_unit(str(tmp_path / key), key, cache.RUNTIME_FILE)
    manifest, contents = _check(str(tmp_path / key), key)
    assert json.loads(manifest)["key"] == key
    assert sorted(contents) == sorted([cache.RUNTIME_FILE, "module.c", "build.json"])


@pytest.mark.parametrize("damage, why", [
    ("truncate", "does not match its manifest"),
    ("flip", "does not match its manifest"),
    ("group-writable", "writable by others"),
    ("other-key", "manifest that belongs to another key"),
    ("missing", "has no readable"),
    ("extra-file", "manifest that lists"),
    ("bad-json", "not valid JSON"),
])
def test_checks_refuse_a_damaged_unit(tmp_path, damage, why):
    key = "cd" * 32
    folder = str(tmp_path / key)
    _fake_unit(folder, key, cache.RUNTIME_FILE,
               manifest_key="ef" * 32 if damage == "other-key" else None)
    library = os.path.join(folder, cache.RUNTIME_FILE)
    manifest = os.path.join(folder, "manifest.json")
    if damage == "truncate":
        os.truncate(library, 3)
    elif damage == "flip":
        with open(library, "r+b") as f:
            f.write(b"\x7eELF")
    elif damage == "group-writable":
        os.chmod(library, 0o664)
    elif damage == "missing":
        os.unlink(library)
    elif damage == "extra-file":
        with open(manifest) as f:
            record = json.load(f)
        record["files"]["extra.so"] = record["files"]["module.c"]
        with open(manifest, "w") as f:
            json.dump(record, f)
    elif damage == "bad-json":
        with open(manifest, "w") as f:
            f.write("{not json")
    with pytest.raises(adopt._Refused, match=why):
        _check(folder, key)


def test_adopt_looks_only_for_shipped_kinds_and_present_keys(tmp_path, monkeypatch):
    monkeypatch.setenv(shipped.PREBUILT_DIR_VARIABLE, str(tmp_path / "units"))
    key = "12" * 32
    _fake_unit(str(tmp_path / "units" / key), key, cache.MODULE_FILE)
    root, final = str(tmp_path / "cache"), str(tmp_path / "cache" / "entry")
    # graph modules are never shipped, even with a unit of their key present
    assert adopt.adopt(root, key, {"kind": "module"}, final) is None
    assert adopt.adopt(root, "34" * 32, {"kind": "runtime"}, final) is None   # absent
    assert adopt.adopt(root, "../" + key, {"kind": "runtime"}, final) is None  # not a key
    assert not os.path.exists(final) and adopt.stats["refused"] == 0


def test_by_default_units_are_looked_for_in_the_package(monkeypatch):
    """(In a source tree that folder does not exist: every lookup misses.)"""
    monkeypatch.delenv(shipped.PREBUILT_DIR_VARIABLE, raising=False)
    assert shipped.prebuilt_dir() == os.path.join(os.path.dirname(cgraph.__file__), "_prebuilt")


# --- the install step (setup.py) ----------------------------------------------------------

def _source_copy(tmp_path):
    """The files a wheel is built from, outside the worktree (pip builds in place)."""
    src = str(tmp_path / "src")
    os.makedirs(src)
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(os.path.join(REPO, name), src)
    for name in ("cgraph", "templates"):
        shutil.copytree(os.path.join(REPO, name), os.path.join(src, name),
                        ignore=shutil.ignore_patterns("__pycache__", "_prebuilt"))
    return src


def _wheel(tmp_path, env):
    out = str(tmp_path / "wheels")
    # pip's isolated build environment, as `pip install` makes it ([build-system] requires)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps",
                           "-w", out, _source_copy(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [wheel] = glob.glob(os.path.join(out, "cgraph-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        return z.namelist(), proc.stdout + proc.stderr


def test_install_without_a_compiler_still_installs(tmp_path):
    """setup.py's build_py step (the one step of the install that is cgraph's own: the wheel
    around it is setuptools', built by pip in the test below) with a compiler that does not
    work: it succeeds, copies the package and ships no units, and says why. Run here
    directly, not through a second `pip wheel` (8 s of pip's isolated environment)."""
    stub = tmp_path / "bin"
    stub.mkdir()
    for name in ("gcc", "cc"):           # a compiler that does not work
        (stub / name).write_text("#!/bin/sh\necho 'no compiler here' >&2\nexit 1\n")
        (stub / name).chmod(0o755)
    env = dict(os.environ, PATH=f"{stub}:{os.environ['PATH']}",
               CGRAPH_CACHE_DIR=str(tmp_path / "cache"))
    lib = tmp_path / "lib"
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib",
                           str(lib)], cwd=_source_copy(tmp_path), capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    names = [str(p.relative_to(lib)) for p in lib.rglob("*") if p.is_file()]
    assert "cgraph/prebuilt.py" in names and "cgraph/templates/runtime.c.j2" in names
    assert not [n for n in names if "/_prebuilt/" in n]
    output = proc.stdout + proc.stderr
    assert "were not prebuilt" in output and "does not work" in output


@pytest.mark.slow
def test_install_ships_units_under_the_keys_the_cache_computes(tmp_path):
    """With this interpreter's numpy installed where the wheel goes (the usual case), the
    shipped keys are exactly those a run-time lookup computes."""
    from cgraph import runtime_library
    names, output = _wheel(tmp_path, dict(os.environ, CGRAPH_CACHE_DIR=str(tmp_path / "c")))
    shipped = {n.split("/")[2] for n in names if n.startswith("cgraph/_prebuilt/")} - \
        {"templates", "toolchain", "tuning"}
    # the tiles' choice, timed at install time, named as a cache on this CPU looks it up
    assert [n for n in names if n.startswith("cgraph/_prebuilt/tuning/gemm-")]
    root = cache.cache_root()
    runtime_key = cache.compute_key(cache.runtime_material(runtime_library.source_digest(),
                                                           root))
    source, include_dirs, extra = prebuilt.extension_spec()
    extension_key = cache.compute_key(cache.extension_material(source, root, include_dirs,
                                                               extra))
    assert runtime_key in shipped
    if prebuilt.installed_numpy_include() == np.get_include():
        assert extension_key in shipped
    for key in shipped:
        assert f"cgraph/_prebuilt/{key}/manifest.json" in names


def test_a_shipped_file_is_read_by_the_cache_files_check_with_root_as_an_owner(tmp_path):
    """shipped.py reads through cache_files.read_regular with owners=(you, root): the same
    link, FIFO and mode checks as the cache's own files, only the owner differs."""
    from cgraph.cache_files import BadFile, read_regular
    path = tmp_path / "unit.so"
    path.write_bytes(b"\x7fELF")
    os.chmod(path, 0o644)
    me = os.geteuid()
    assert shipped.OWNERS == (me, 0)
    assert read_regular(str(path), owners=shipped.OWNERS) == b"\x7fELF"
    with pytest.raises(BadFile, match=f"belongs to user {me}, not to user {me + 1}"):
        read_regular(str(path), owners=(me + 1,))
    os.chmod(path, 0o666)
    with pytest.raises(BadFile, match="writable by others"):
        read_regular(str(path), owners=shipped.OWNERS)
