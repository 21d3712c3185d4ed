"""The runtime library (cgraph/runtime_library.py, templates/runtime.c.j2): built once per
cache, linked by every graph module; modules are plain C without Python.h or a cffi wrapper."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph import cache, runtime_library, template_files
from cgraph.cache import build_units

pytestmark = [pytest.mark.slow,   # programs in fresh caches build the runtime
              pytest.mark.usefixtures("no_prebuilt_units")]   # (not adopt the run's)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Two functions, one with a matrix product (the runtime's small-GEMM kernel and BLAS) and
# one elementwise; prints the kinds of the cache's entries and the values.
PROGRAM = textwrap.dedent("""
    import json
    import numpy as np
    import cgraph, cgraph.tensor as T
    from cgraph import cache
    a, b = T.dmatrix("a"), T.dmatrix("b")
    f = cgraph.function([a, b], T.dot(a, b) + 1.0, name="product")
    x = T.dvector("x")
    g = cgraph.function([x], T.exp(x) * 2.0, name="scaled_exp")
    m = np.arange(6.0).reshape(2, 3)
    big = np.arange(300 * 300.0).reshape(300, 300) / 9e4
    kinds = sorted(build.get("material", {}).get("kind", "?")
                   for _, _, build in cache.list_entries())
    print(json.dumps({"small": f(m, m.T).tolist(), "big": float(abs(f(big, big) - (big @ big + 1)).max()),
                      "exp": g(np.zeros(3)).tolist(), "kinds": kinds,
                      "runtime_stats": cache.runtime_stats}))
""")


def _run(root, program=PROGRAM, **env):
    env = dict(os.environ, CGRAPH_CACHE_DIR=str(root), PYTHONPATH=REPO, **env)
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          env=env, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_module_is_plain_c_linked_to_the_runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("CGRAPH_CACHE_DIR", str(tmp_path))
    x = T.dvector("x")
    f = cgraph.function([x], T.tanh(x) + 3.0, name="plain_module")
    assert "Python.h" not in f.c_source
    # the runtime's header is included by name, not pasted: its text is in the runtime's key
    assert '#include "cgraph_runtime.h"' in f.c_source
    assert "cg_pool_alloc(cg_pool *pool, int64_t nbytes)" not in f.c_source
    folder = os.path.dirname(f.module_path)
    assert sorted(os.listdir(folder)) == ["_cgraph_mod.so", "build.json", "last_used",
                                          "manifest.json", "module.c"]
    build = json.load(open(os.path.join(folder, "build.json")))
    runtime = runtime_library.runtime()
    assert build["material"]["runtime"] == runtime.key
    # found with -I to the templates folder, a placeholder in the key (see cache/compiler.py)
    assert [w for w in build["command"] if w.startswith("-I")] == \
        ["-I" + template_files.templates_dir()]
    assert [w for w in build["material"]["command"] if w.startswith("-I")] == ["-I@include"]
    # the module depends on the runtime by its key's shared-object name
    with open(f.module_path, "rb") as fh:
        assert cache.runtime_soname(runtime.key).encode() in fh.read()
    assert np.allclose(f(np.array([0.0, 1.0])), np.tanh([0.0, 1.0]) + 3.0)


def test_module_source_compiles_again_with_the_templates_folder(tmp_path, monkeypatch):
    """A module includes the runtime's header by name and compiles with -I to the templates
    folder (the runtime's key covers the header): nothing is written beside module.c, and
    module.c with that -I is all a reader needs to compile the module again, warning-free."""
    monkeypatch.setenv("CGRAPH_CACHE_DIR", str(tmp_path))
    x = T.dmatrix("x")
    f = cgraph.function([x], T.exp(x).sum(axis=1) * 2.0, name="header_by_name")
    folder = os.path.dirname(f.module_path)
    assert template_files.HEADER_FILE not in os.listdir(folder)
    build = json.load(open(os.path.join(folder, "build.json")))
    work = tmp_path / "again"
    work.mkdir()
    (work / "module.c").write_text(f.c_source)
    assert "-I" + template_files.templates_dir() in build["command"]
    cc = build["command"][0]
    proc = subprocess.run([cc, "-fsyntax-only", "-Wall", "-I" + template_files.templates_dir(),
                           "module.c"], cwd=work,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_a_changed_cache_folder_keeps_the_loaded_runtime(tmp_path, monkeypatch):
    """Modules link to the copy the process loaded first, whatever the cache folder: a second
    folder gets modules only (and the runtime when another process needs it)."""
    x = T.dvector("x")
    loaded = runtime_library.runtime()
    monkeypatch.setenv("CGRAPH_CACHE_DIR", str(tmp_path))
    with cache.fresh_state():               # nothing loaded from the other folder yet
        f = cgraph.function([x], x * 7.0 - 2.0, name="other_folder")
        assert f(np.array([1.0, 2.0])).tolist() == [5.0, 12.0]
        assert runtime_library.runtime() is loaded
    kinds = [b["material"].get("kind") for _, _, b in cache.list_entries(str(tmp_path))]
    assert "module" in kinds and "runtime" not in kinds


def test_a_damaged_runtime_is_quarantined_then_built_once_and_shared(tmp_path,
                                                                      prebuilt_units):
    """A damaged runtime is quarantined and built again; the build serves both modules and
    the next process (a disk hit, no build). One runtime build for both properties: the
    first run adopts the run's units, the second builds after the quarantine."""
    _run(tmp_path, CGRAPH_PREBUILT_DIR=prebuilt_units)   # the run's runtime, adopted
    [folder] = [folder for _, folder, build in cache.list_entries(str(tmp_path))
                if build["material"]["kind"] == "runtime"]
    library = os.path.join(folder, cache.RUNTIME_FILE)
    os.chmod(library, 0o644)
    with open(library, "r+b") as fh:
        fh.seek(100)
        fh.write(b"\0" * 16)
    built, err = _run(tmp_path)
    assert built["runtime_stats"]["builds"] == 1 and "quarantine" in err
    assert os.listdir(os.path.join(str(tmp_path), "quarantine"))
    m = np.arange(6.0).reshape(2, 3)
    assert built["small"] == (m @ m.T + 1).tolist()
    assert built["big"] < 1e-9
    assert built["exp"] == [2.0, 2.0, 2.0]
    assert built["kinds"] == ["extension", "module", "module", "runtime"]
    warm, _ = _run(tmp_path)
    assert warm["kinds"] == built["kinds"] and warm["small"] == built["small"]
    assert warm["runtime_stats"] == {"builds": 0, "disk_hits": 1, "memory_hits": 0}


def test_allocation_count_and_free_come_from_the_runtime():
    x = T.dvector("x")
    f = cgraph.function([x], T.exp(x) + 1.0, name="counted")
    runner = f._runner
    v = np.ones(1000)
    f(v)
    before = runner.allocation_count()
    out = runner([v])[0]           # the Python path: ctypes, output freed by cg_free
    assert runner.allocation_count() - before <= 1
    assert np.allclose(out, np.e + 1.0)
    del out
    runner.release_workspace()


def test_slice_normalisation_is_python_slice_indices():
    """cg_slice (every basic-indexing slice of every module) against slice.indices, for
    bounds and steps far beyond the axis, negative and absent."""
    import ctypes

    from hypothesis import given, settings
    from hypothesis import strategies as st
    lib = runtime_library.runtime().lib
    cg_slice = lib.cg_slice
    cg_slice.restype = ctypes.c_int64
    cg_slice.argtypes = [ctypes.c_int64, ctypes.c_int, ctypes.c_int64, ctypes.c_int,
                         ctypes.c_int64, ctypes.c_int64, ctypes.POINTER(ctypes.c_int64)]
    bound = st.none() | st.integers(-(2 ** 62), 2 ** 62) | st.integers(-12, 12)
    step = st.integers(-(2 ** 62), 2 ** 62).filter(bool) | st.sampled_from([1, 2, 3, -1, -2, -5])

    @settings(max_examples=400, deadline=None)
    @given(st.integers(0, 10), bound, bound, step)
    def check(length, start, stop, step_):
        first = ctypes.c_int64(-99)
        count = cg_slice(length, start is not None, start or 0, stop is not None, stop or 0,
                         step_, ctypes.byref(first))
        expected = range(*slice(start, stop, step_).indices(length))
        assert count == len(expected)
        if count:
            assert first.value == expected[0]
    check()


def test_built_as_translation_units_keyed_by_their_commands(tmp_path, monkeypatch):
    """The library is cut into the units build_units.RUNTIME_UNITS names (the key is made without
    rendering it), each compiled by the command its role calls for, side by side, then
    linked: the key holds every command, the entry only the one library."""
    source = runtime_library.render_source()
    units = build_units.unit_sources(source)
    assert [build_units.unit_role(u) for u in units] == list(build_units.RUNTIME_UNITS)
    assert "\n".join(units) == source
    for unit in units:      # each unit declares the whole library: it compiles on its own
        assert "cg_pool_alloc(cg_pool *pool, int64_t nbytes);" in unit
    material = cache.runtime_material(runtime_library.source_digest(), build=True)
    commands = material["unit_commands"]
    assert len(commands) == len(units)
    for k, (command, role) in enumerate(zip(commands, build_units.RUNTIME_UNITS)):
        assert command[command.index("-c") + 1] == f"unit{k}.c"
        assert set(build_units.RUNTIME_OPTIMIZATION[role]) <= set(command)
        assert "-shared" not in command and "-fvisibility=hidden" in command
    link = material["command"]
    assert [w for w in link if w.endswith(".o")] == [f"unit{k}.o" for k in range(len(units))]
    assert "-shared" in link and link[link.index("-o") + 1] == cache.RUNTIME_FILE
    # another optimisation for a role is another library
    monkeypatch.setitem(build_units.RUNTIME_OPTIMIZATION, "gemm", ["-O1"])
    other = cache.runtime_material(runtime_library.source_digest(), build=True)
    assert cache.compute_key(other) != cache.compute_key(material)
    monkeypatch.undo()
    monkeypatch.setenv("CGRAPH_CACHE_DIR", str(tmp_path))
    entry = cache.get_runtime(runtime_library.source_digest(), runtime_library.render_source)
    folder = os.path.dirname(entry.module_path)
    assert sorted(os.listdir(folder)) == ["build.json", "last_used", "libcgraph_rt.so",
                                          "manifest.json", "module.c"]
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    assert sorted(manifest["files"]) == ["build.json", "libcgraph_rt.so", "module.c"]
    build = json.load(open(os.path.join(folder, "build.json")))
    assert build["compiler_output"] == ""     # -Wall clean
    assert set(build["unit_seconds"]) == {f"unit{k}.c" for k in range(len(units))} | {"link"}
    assert all(seconds > 0 for seconds in build["unit_seconds"].values())
