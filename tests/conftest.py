"""Test settings: one compile cache per test run, shared by every test (and subprocess)."""
import os
import tempfile

import pytest

# Set before cgraph is imported anywhere, so every function of the run uses this cache, and
# subprocesses started by tests inherit it. CGRAPH_TEST_CACHE_DIR keeps a cache across runs.
_owned = not os.environ.get("CGRAPH_TEST_CACHE_DIR")   # made by this run: removed at its end
_cache = os.environ.get("CGRAPH_TEST_CACHE_DIR") or tempfile.mkdtemp(prefix="cgraph-test-cache-")
os.environ["CGRAPH_CACHE_DIR"] = _cache
os.environ["CGRAPH_TEST_CACHE_DIR"] = _cache   # pytest-xdist's workers share this run's cache
# Units shipped in an installed package (cgraph/prebuilt.py) would stand in for the builds the
# tests observe; tests/test_prebuilt.py points this at the units it builds.
os.environ.setdefault("CGRAPH_PREBUILT_DIR", os.path.join(_cache, "no-prebuilt-units"))


def pytest_unconfigure(config):
    """The cache this run made goes with it (pytest-xdist workers leave it to the main process)."""
    if _owned and not hasattr(config, "workerinput"):
        import shutil
        shutil.rmtree(_cache, ignore_errors=True)


@pytest.fixture(scope="session")
def cache_dir():
    return _cache
