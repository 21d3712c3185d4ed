"""Test settings: one compile cache per test run, shared by every test (and subprocess)."""
import os
import tempfile

import pytest

# --- one temporary folder per run: the tests leave nothing in /tmp ------------------------
# TMPDIR points into a folder of this run, removed at its end: tempfile, gcc, pytest's
# tmp_path base (pytest-of-<user>/) and dask's scratch space all follow it, in pytest-xdist's
# workers and the tests' subprocesses too (they inherit it). The cache below is made in it.
_RUN_TMP = "CGRAPH_TEST_RUN_TMP"
_system_tmp = tempfile.gettempdir()
_run_tmp_owned = not os.environ.get(_RUN_TMP)       # the main process (workers inherit it)
if _run_tmp_owned:
    _tmp_before = set(os.listdir(_system_tmp))
    os.environ[_RUN_TMP] = tempfile.mkdtemp(prefix="cgraph-test-run-")
os.environ["TMPDIR"] = os.environ[_RUN_TMP]
tempfile.tempdir = None         # gettempdir() reads TMPDIR again


@pytest.hookimpl(trylast=True)  # after pytest-xdist has stopped its workers
def pytest_sessionfinish(session):
    """Remove the run's folder, then note what else appeared in /tmp during the run (listed,
    not failed: on a shared machine other programs write there too)."""
    if not _run_tmp_owned:
        return
    import shutil
    shutil.rmtree(os.environ[_RUN_TMP], ignore_errors=True)
    session.config._cgraph_tmp_left = sorted(set(os.listdir(_system_tmp)) - _tmp_before)


def pytest_terminal_summary(terminalreporter, config):
    left = getattr(config, "_cgraph_tmp_left", None)
    if left:
        terminalreporter.write_line(f"appeared in {_system_tmp} during the run (by the tests "
                                    f"or another program): {' '.join(left)}", yellow=True)
# ------------------------------------------------------------------------------------------

# Set before cgraph is imported anywhere, so every function of the run uses this cache, and
# subprocesses started by tests inherit it. CGRAPH_TEST_CACHE_DIR keeps a cache across runs.
_owned = not os.environ.get("CGRAPH_TEST_CACHE_DIR")   # made by this run: removed at its end
_cache = os.environ.get("CGRAPH_TEST_CACHE_DIR") or tempfile.mkdtemp(prefix="cgraph-test-cache-")
os.environ["CGRAPH_CACHE_DIR"] = _cache
os.environ["CGRAPH_TEST_CACHE_DIR"] = _cache   # pytest-xdist's workers share this run's cache
# Every fresh cache of a test (in this process or a child) would build the runtime library and
# the call-path extension again, seconds of gcc each: they are built once per run into this
# folder (prebuilt_units), and fresh caches adopt them as they would an installed package's.
# Tests that observe those builds take the no_prebuilt_units fixture;
# tests/cache/test_prebuilt.py points this at the units it builds.
_units = os.path.join(_cache, "prebuilt-units")
_no_units = os.path.join(_cache, "no-prebuilt-units")
os.environ.setdefault("CGRAPH_PREBUILT_DIR", _units)


def pytest_unconfigure(config):
    """The cache this run made goes with it (pytest-xdist workers leave it to the main process)."""
    if _owned and not hasattr(config, "workerinput"):
        import shutil
        shutil.rmtree(_cache, ignore_errors=True)


@pytest.fixture(scope="session")
def cache_dir():
    return _cache


def _unit_keys(root):
    """The keys of this source's runtime library and call-path extension."""
    from cgraph import cache, prebuilt, runtime_library
    source, include_dirs, extra = prebuilt.extension_spec()
    return [cache.compute_key(cache.runtime_material(runtime_library.source_digest(), root,
                                                     build=True)),
            cache.compute_key(cache.extension_material(source, root, include_dirs, extra,
                                                       build=True))]


def _units_current(root, folder=_units):
    """Whether ``folder`` (the run's folder of units) holds this source's runtime and
    extension keys."""
    return all(os.path.isdir(os.path.join(folder, key)) for key in _unit_keys(root))


def _copy_or_build_units():
    """An installed package (CI: pip install) ships the units pip's build step just built:
    copied when their keys are this run's (a file copy instead of ~1.5 s of gcc), else
    built."""
    import shutil
    from cgraph import prebuilt
    shipped = os.path.join(os.path.dirname(os.path.abspath(prebuilt.__file__)), "_prebuilt")
    # (the folder holds this source's units alone, as `cache prebuild --into` writes them:
    # a kept cache's units of an older source go)
    shutil.rmtree(_units, ignore_errors=True)
    if os.path.isdir(shipped) and _units_current(_cache, shipped):
        shutil.copytree(shipped, _units)
    else:
        prebuilt.build(_units)


@pytest.fixture(scope="session", autouse=True)
def prebuilt_units():
    """The run's units, built by the first pytest-xdist worker while the others wait (kept
    with a kept cache, rebuilt when the runtime's or the extension's source changed); the
    folder fresh caches adopt from."""
    if os.environ["CGRAPH_PREBUILT_DIR"] != _units:
        return os.environ["CGRAPH_PREBUILT_DIR"]      # the caller named another folder
    import fcntl
    from cgraph import cache, prebuilt
    cache.make_private_dirs(_cache)     # (a kept cache may not exist yet)
    with open(_units + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not _units_current(_cache):
                _copy_or_build_units()
            # loaded from the run's cache, one worker after the other: the kernel variants
            # in force are those of the run's cache's record (tuned once), not those of the
            # fresh cache of whichever test would have loaded the library first
            from cgraph import runtime_library
            runtime_library.runtime()
        except (cache.CompilerMissing, cache.CompileError):
            pass        # no units: each fresh cache builds its own, as without this folder
    return _units


@pytest.fixture(scope="session")
def bare_prebuilt_units(prebuilt_units):
    """A folder of the run's two units alone, without the compiler probe, compiled templates
    and tile choice shipped beside them: a fresh cache adopts the units (no gcc for them)
    and makes those records itself, for tests that damage them."""
    import fcntl
    import shutil
    folder = os.path.join(_cache, "bare-prebuilt-units")
    with open(folder + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _units_current(_cache, folder):
            shutil.rmtree(folder, ignore_errors=True)
            os.makedirs(folder)
            for key in _unit_keys(_cache):
                if os.path.isdir(os.path.join(prebuilt_units, key)):
                    shutil.copytree(os.path.join(prebuilt_units, key),
                                    os.path.join(folder, key))
    return folder


@pytest.fixture
def no_prebuilt_units(monkeypatch):
    """For tests that observe a fresh cache building the runtime library or the extension."""
    monkeypatch.setenv("CGRAPH_PREBUILT_DIR", _no_units)


def pytest_collection_modifyitems(config, items):
    """Slow tests first (in their files' order): pytest-xdist hands tests out in this order,
    so a run does not end with one worker on a long test while the other one idles."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
