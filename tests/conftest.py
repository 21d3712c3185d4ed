"""Test settings: one compile cache per test run, shared by every test (and subprocess)."""
import os
import tempfile

import pytest

# Set before cgraph is imported anywhere, so every function of the run uses this cache, and
# subprocesses started by tests inherit it. CGRAPH_TEST_CACHE_DIR keeps a cache across runs.
_cache = os.environ.get("CGRAPH_TEST_CACHE_DIR") or tempfile.mkdtemp(prefix="cgraph-test-cache-")
os.environ["CGRAPH_CACHE_DIR"] = _cache


@pytest.fixture(scope="session")
def cache_dir():
    return _cache
