"""Trust before touching: a cache root cgraph refuses is left as it was (nothing written in
it), and a fresh root, its missing parents and everything cgraph creates inside are private:
folders 0700, files 0600."""
import os
import stat

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph import cache


@pytest.fixture
def fresh():
    """Every root is checked again and every module loaded again in this test."""
    with cache.fresh_state():
        yield


def _compile_and_run(root, monkeypatch):
    monkeypatch.setenv("CGRAPH_CACHE_DIR", root)
    x = T.dvector("x")
    f = cgraph.function([x], T.exp(x) * 1.75)
    np.testing.assert_allclose(f(np.arange(3.0)), np.exp(np.arange(3.0)) * 1.75)


@pytest.mark.parametrize("refusal", ["group-writable", "world-writable", "another owner"])
def test_a_refused_root_is_left_untouched(tmp_path, monkeypatch, fresh, refusal):
    root = tmp_path / "cache"
    root.mkdir()
    if refusal == "group-writable":
        root.chmod(0o770)
    elif refusal == "world-writable":
        root.chmod(0o777)
    else:
        if os.geteuid() != 0:
            pytest.skip("giving a folder away needs root")
        root.chmod(0o700)
        os.chown(root, 12345, -1)
    with pytest.raises(cache.CacheTrustError):
        _compile_and_run(str(root), monkeypatch)
    assert os.listdir(root) == []


def test_a_fresh_root_and_all_it_holds_are_private(tmp_path, monkeypatch, fresh):
    old_umask = os.umask(0o022)   # the usual umask: cgraph must narrow what it creates
    try:
        root = tmp_path / "a" / "b" / "cache"
        _compile_and_run(str(root), monkeypatch)
    finally:
        os.umask(old_umask)
    wide = []
    for path in (tmp_path / "a", tmp_path / "a" / "b"):
        if stat.S_IMODE(path.stat().st_mode) != 0o700:
            wide.append((str(path), oct(stat.S_IMODE(path.stat().st_mode))))
    for folder, dirs, files in os.walk(root):
        for name in [""] + dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            want = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
            if stat.S_IMODE(st.st_mode) & ~want:
                wide.append((path, oct(stat.S_IMODE(st.st_mode))))
    assert wide == []
    assert any(files for _, _, files in os.walk(os.path.join(root, "v1")))
