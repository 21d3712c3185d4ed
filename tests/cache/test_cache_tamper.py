"""Every file cgraph reads from its cache is verified before use: pre-key records (sealed with
a checksum, naming their own pre-key, and the module's layout checked against the caller's),
compiled templates, compiler probes; owner and mode are checked on each; a FIFO in place of
any file hangs nothing. A bad file is set aside with one warning and the right result comes
back (the record is written again)."""
import glob
import json
import os
import shutil
import struct
import subprocess
import sys
import warnings

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph import cache
from cgraph.cache_files import read_sealed, seal

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def root(tmp_path, monkeypatch, no_prebuilt_units):
    """A cache of this test's own (its compiled templates and compiler probe too: no units
    adopted), and warnings given again."""
    path = str(tmp_path / "cache")
    monkeypatch.setenv("CGRAPH_CACHE_DIR", path)
    cache.forget_checks()
    return path


def _affine(a, b, name="x"):
    x = T.dvector(name)
    return cgraph.function([x], x * a + b)


def _records(root, ext):
    return sorted(glob.glob(os.path.join(root, "prekeys", "*", f"*.{ext}")))


def _quarantined(root):
    return os.listdir(os.path.join(root, "quarantine"))


def _compile_quietly(make):
    with warnings.catch_warnings():
        warnings.simplefilter("error")        # no warning where nothing is wrong
        return make()


XV = np.array([0.0, 1.0, 2.0])


# --- the record of the user's graph (prekeys/*.graph: a pickle) -----------------------------

def test_a_changed_constant_in_a_graph_record_is_found(root):
    _affine(3.25, 1.0)
    (path,) = _records(root, "graph")
    with open(path, "rb") as f:
        data = f.read()
    old = struct.pack("<d", 3.25)
    assert data.count(old) == 1
    with open(path, "wb") as f:
        f.write(data.replace(old, struct.pack("<d", 7.5)))
    with pytest.warns(RuntimeWarning, match="does not match its checksum"):
        f = _affine(3.25, 1.0)
    np.testing.assert_array_equal(f(XV), XV * 3.25 + 1.0)
    assert len(_quarantined(root)) == 1
    assert read_sealed(path) is not None              # written again, sound
    g = _compile_quietly(lambda: _affine(3.25, 1.0))
    np.testing.assert_array_equal(g(XV), XV * 3.25 + 1.0)


def test_a_truncated_graph_record_is_found_once(root):
    _affine(2.5, -1.0)
    (path,) = _records(root, "graph")
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 7)
    with pytest.warns(RuntimeWarning, match="cache file .* moved it to"):
        f = _affine(2.5, -1.0)
    np.testing.assert_array_equal(f(XV), XV * 2.5 - 1.0)
    g = _compile_quietly(lambda: _affine(2.5, -1.0))      # the next run is clean
    np.testing.assert_array_equal(g(XV), XV * 2.5 - 1.0)


def test_another_graphs_record_in_place_of_ones_own_is_found(root):
    _affine(1.5, 0.0)
    (path_a,) = _records(root, "graph")
    x, y = T.dvectors("x", "y")
    cgraph.function([x, y], x * y + 4.0)                 # another graph, another arity
    (path_b,) = set(_records(root, "graph")) - {path_a}
    shutil.copyfile(path_b, path_a)
    with pytest.warns(RuntimeWarning, match="does not describe its graph"):
        f = _affine(1.5, 0.0)
    np.testing.assert_array_equal(f(XV), XV * 1.5)


# --- the record of the rewritten graph (prekeys/*.json: its module's key) --------------------

def _lowering_record(root, make):
    """Build ``make()`` and return (function, path of its lowering record); the records of
    user graphs are removed, so the next build goes through the lowering record."""
    before = set(_records(root, "json"))
    f = make()
    (path,) = set(_records(root, "json")) - before
    for graph_record in _records(root, "graph"):
        os.unlink(graph_record)
    return f, path


def test_an_edited_module_key_in_a_lowering_record_is_found(root):
    _, path_a = _lowering_record(root, lambda: _affine(3.0, 1.0))
    f_b, _ = _lowering_record(root, lambda: _affine(5.0, -2.0))
    with open(path_a, "rb") as f:
        data = f.read()
    record = json.loads(data.split(b"\n", 1)[1])
    with open(path_a, "wb") as f:     # points graph A at B's module, seal left as it was
        f.write(data.replace(record["key"].encode(), f_b.cache_key.encode()))
    with pytest.warns(RuntimeWarning, match="does not match its checksum"):
        f = _affine(3.0, 1.0)
    np.testing.assert_array_equal(f(XV), XV * 3.0 + 1.0)


def test_another_graphs_lowering_record_in_place_of_ones_own_is_found(root):
    _, path_a = _lowering_record(root, lambda: _affine(3.0, 2.0))
    _, path_b = _lowering_record(root, lambda: _affine(6.0, 2.0))
    shutil.copyfile(path_b, path_a)
    with pytest.warns(RuntimeWarning, match="does not belong to its pre-key"):
        f = _affine(3.0, 2.0)
    np.testing.assert_array_equal(f(XV), XV * 3.0 + 2.0)


def test_a_module_of_another_layout_is_never_called(root):
    """A record naming a module that takes other arguments (here: two vectors and a matrix
    output), even one sealed correctly, is found out from the module's manifest before any
    call: no read past the argument arrays, the right result."""
    _, path_a = _lowering_record(root, lambda: _affine(4.0, 0.5))
    x, y = T.dvectors("x", "y")
    other = cgraph.function([x, y], T.outer(x, y))
    record = json.loads(read_sealed(path_a))
    with open(path_a, "wb") as f:
        f.write(seal(json.dumps({"prekey": record["prekey"], "key": other.cache_key}).encode()))
    with pytest.warns(RuntimeWarning, match="does not fit its graph"):
        f = _affine(4.0, 0.5)
    np.testing.assert_array_equal(f(XV), XV * 4.0 + 0.5)
    assert f.cache_key != other.cache_key


@pytest.mark.parametrize("change", ["mode", "owner"])
def test_a_record_others_can_write_is_not_used(root, change):
    _, path = _lowering_record(root, lambda: _affine(8.0, 1.0))
    if change == "mode":
        os.chmod(path, 0o666)
    else:
        if os.geteuid() != 0:
            pytest.skip("giving a file away needs root")
        os.chown(path, 12345, -1)
    with pytest.warns(RuntimeWarning, match="writable by others|belongs to user 12345"):
        f = _affine(8.0, 1.0)
    np.testing.assert_array_equal(f(XV), XV * 8.0 + 1.0)


# --- compiled templates and compiler probes (read once per process: a second process) ---------

@pytest.fixture
def units(bare_prebuilt_units):
    """Shipped units without a compiler probe or compiled templates: the processes below
    adopt the runtime library and the extension (no gcc for them) and write their own
    probe and templates into the cache, the files these tests damage."""
    return bare_prebuilt_units


def _run(root, program, units, timeout=240):
    env = dict(os.environ, PYTHONPATH=REPO, CGRAPH_CACHE_DIR=root, CGRAPH_PREBUILT_DIR=units)
    return subprocess.run([sys.executable, "-c", program], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def _program(a):
    return ("import numpy as np, cgraph, cgraph.tensor as T\n"
            "x = T.dvector('x')\n"
            f"f = cgraph.function([x], T.tanh(x) * {a} + 1.0)\n"
            "print(repr(f(np.array([0.0, 1.0])).tolist()))\n")


def _right(output, a):
    """Whether a program's printed result is tanh([0, 1]) * a + 1 (to rounding: C's tanh may
    be the vectorised one)."""
    import ast
    return np.allclose(ast.literal_eval(output.strip()), np.tanh(np.array([0.0, 1.0])) * a + 1.0,
                       rtol=1e-12, atol=0)


@pytest.mark.slow   # programs in other processes
def test_damaged_templates_and_compiler_records_are_set_aside(root, units):
    first = _run(root, _program(2.0), units)
    assert first.returncode == 0, first.stderr
    damaged = glob.glob(os.path.join(root, "templates", "*")) + \
        glob.glob(os.path.join(root, "toolchain", "*"))
    assert len(damaged) >= 4
    for path in damaged:
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0x20]))
    second = _run(root, _program(3.0), units)   # another graph: renders the same templates
    assert second.returncode == 0, second.stderr
    assert _right(second.stdout, 3.0), second.stdout
    for path in damaged:
        assert f"cgraph: cache file {path}" in second.stderr
    assert len(_quarantined(root)) == len(damaged)
    third = _run(root, _program(4.0), units)    # written again: nothing to say
    assert third.returncode == 0 and "cache file" not in third.stderr, third.stderr
    assert _right(third.stdout, 4.0), third.stdout


@pytest.mark.slow   # programs in other processes
def test_a_fifo_in_place_of_any_cache_file_hangs_nothing(root, units):
    """Every kind of file: the entry's manifest, module, build.json and last_used, both
    pre-key records, the compiled templates, the compiler probes. The function still
    compiles and runs, and `cache verify` and `cache list` finish."""
    first = _run(root, _program(2.0), units)
    assert first.returncode == 0, first.stderr
    (entry,) = [e for e in cache.iter_entries(root)     # the graph's module alone
                if e.build.get("material", {}).get("kind") == "module"]
    files = [os.path.join(entry.folder, name) for name in os.listdir(entry.folder)]
    files += _records(root, "graph") + _records(root, "json")
    files += glob.glob(os.path.join(root, "templates", "*"))
    files += glob.glob(os.path.join(root, "toolchain", "*"))
    assert len(files) >= 10
    for path in files:
        os.unlink(path)
        os.mkfifo(path, 0o600)
    for program in (_program(2.0), _program(2.0)):      # the second run after the repairs
        run = _run(root, program, units, timeout=120)
        assert run.returncode == 0, run.stderr
        assert _right(run.stdout, 2.0), run.stdout
    for command in ("verify", "list"):
        run = _run(root, f"import sys; from cgraph.__main__ import main; "
                         f"sys.exit(main(['cache', '{command}']))", units, timeout=60)
        assert run.returncode in (0, 1), run.stderr


def test_cache_verify_checks_the_records_too(root):
    """`cache verify` re-checks every sealed record and sets the broken ones aside (so a
    damaged record is found before a process trips on it)."""
    from cgraph.cache.cli import main
    _affine(9.5, 1.0)
    records = _records(root, "graph") + _records(root, "json") + \
        glob.glob(os.path.join(root, "templates", "*.sealed")) + \
        glob.glob(os.path.join(root, "toolchain", "*")) + \
        glob.glob(os.path.join(root, "tuning", "*.json"))   # (the first test of a process tunes)
    with open(records[0], "r+b") as f:
        f.seek(100)
        f.write(b"X")
    assert main(["verify"]) == 1
    assert not os.path.exists(records[0]) and len(_quarantined(root)) == 1
    checked, bad = cache.verify_records(root)
    assert checked == len(records) - 1 and bad == []
    assert main(["verify"]) == 0
