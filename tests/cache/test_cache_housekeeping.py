"""Housekeeping of the compile cache: verify, prune (by age, by size, leftovers), clear,
the last_used stamp, and the publication race lost in-process."""
import fcntl
import os
import time

import pytest

from cgraph import cache
from cgraph.cache import cli as cache_cli
from cgraph.cache.build import build_and_publish
from cache_helpers import call_tiny, entry_folders, fresh_cache, listing, tiny_source  # noqa: F401,E501

pytestmark = pytest.mark.slow   # programs in fresh caches

DAY = 86400.0


@pytest.fixture
def cli(capsys):
    """Run ``python -m cgraph cache ...`` in this process: (exit code, stdout, stderr)."""
    def run(env, *args):
        capsys.readouterr()
        try:
            code = cache_cli.main(list(args))
        except SystemExit as exc:       # argparse errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return run


def _age(folder, days):
    stamp = time.time() - days * DAY
    os.utime(os.path.join(folder, "last_used"), (stamp, stamp))


def test_size_and_age_arguments():
    assert cache_cli.parse_size("500M") == 500 << 20
    assert cache_cli.parse_size("2G") == 2 << 30
    assert cache_cli.parse_size("1.5g") == int(1.5 * (1 << 30))
    assert cache_cli.parse_size("100k") == 100 << 10
    assert cache_cli.parse_size("1234") == 1234
    assert cache_cli.parse_age("30") == 30 * DAY
    assert cache_cli.parse_age("30d") == 30 * DAY
    assert cache_cli.parse_age("12h") == 12 * 3600
    for bad in ("lots", "-1G", "2X"):
        with pytest.raises(Exception):
            cache_cli.parse_size(bad)
    with pytest.raises(Exception):
        cache_cli.parse_age("soon")


def test_verify_reports_and_quarantines(fresh_cache, cli):
    root = fresh_cache
    good = cache.get_module(tiny_source(31), "good")
    bad = cache.get_module(tiny_source(32), "bad")
    with open(os.path.join(bad.path, "module.c"), "a") as f:
        f.write("/* edited by hand */\n")       # the module itself is intact: loads fine
    env = {"CGRAPH_CACHE_DIR": root}
    code, out, _ = cli(env, "verify", "--report-only")
    assert code == 1 and "BAD" in out and "module.c" in out and "1 broken" in out
    assert os.path.isdir(bad.path)
    code, out, _ = cli(env, "verify")
    assert code == 1 and "moved to" in out
    assert not os.path.exists(bad.path) and os.path.isdir(good.path)
    code, out, _ = cli(env, "verify")
    assert code == 0 and "1 sound, 0 broken" in out


def test_prune_by_age_and_size(fresh_cache):
    root = fresh_cache
    entries = {days: cache.get_module(tiny_source(40 + days), f"aged{days}")
               for days in (40, 20, 0)}
    for days, entry in entries.items():
        _age(entry.path, days)
    report = cache.prune(root, older_than=30 * DAY, dry_run=True)
    assert report["removed"] == [entries[40].path] and os.path.isdir(entries[40].path)
    report = cache.prune(root, older_than=30 * DAY)
    assert report["removed"] == [entries[40].path] and not os.path.exists(entries[40].path)
    size = report["kept_size"] // 2 + 1             # room for one entry: the most recent stays
    report = cache.prune(root, max_size=size)
    assert report["removed"] == [entries[20].path]
    assert entry_folders(root) == [entries[0].path] and report["kept"] == 1
    assert listing(os.path.join(root, "trash")) == []
    assert call_tiny(entries[0]) == 40             # loaded modules keep working


def test_prune_leftovers_but_not_builds_in_progress(fresh_cache):
    root = fresh_cache
    cache.get_module(tiny_source(51), "kept")
    tmp = os.path.join(root, "tmp")
    # A build in progress: its folder and the lock its builder holds (here: this process).
    os.makedirs(os.path.join(tmp, "active"))
    fd = os.open(os.path.join(tmp, "active.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    # A killed builder's folder and lock file; failed and quarantined folders, old and new.
    os.makedirs(os.path.join(tmp, "killed"))
    open(os.path.join(tmp, "killed.lock"), "w").close()
    for sub, name, days in (("failed", "old", 3), ("failed", "new", 0),
                            ("quarantine", "old", 3), ("trash", "leftover", 0)):
        path = os.path.join(root, sub, name)
        os.makedirs(path)
        open(os.path.join(path, "module.c"), "w").close()
        os.utime(path, (time.time() - days * DAY,) * 2)
    try:
        report = cache.prune(root)
        assert sorted(os.listdir(tmp)) == ["active", "active.lock"]
        assert os.listdir(os.path.join(root, "failed")) == ["new"]
        assert os.listdir(os.path.join(root, "quarantine")) == []
        assert os.listdir(os.path.join(root, "trash")) == []
        assert report["kept"] == 1 and len(report["leftovers"]) == 5
        assert cache.clear(root) == 1
        assert sorted(os.listdir(tmp)) == ["active", "active.lock"]   # still in progress
        assert entry_folders(root) == [] and not os.path.exists(os.path.join(root, "failed"))
    finally:
        os.close(fd)
    cache.prune(root)
    assert os.listdir(tmp) == []


def test_last_used_is_touched_at_most_once_a_day(fresh_cache):
    entry = cache.get_module(tiny_source(61), "stamped")
    stamp = os.path.join(entry.path, "last_used")
    manifest = os.path.join(entry.path, "manifest.json")
    manifest_time = os.stat(manifest).st_mtime_ns
    for days, touched in ((0.5, False), (2, True)):
        _age(entry.path, days)
        before = os.stat(stamp).st_mtime
        cache.forget_loaded()
        cache.get_module(tiny_source(61), "stamped")
        after = os.stat(stamp).st_mtime
        assert (after > before + DAY / 4) == touched, days
    assert os.stat(manifest).st_mtime_ns == manifest_time     # published files never change


def test_lost_publication_race_uses_the_winners_entry(fresh_cache):
    """A builder that finds its key published when it renames discards its own build."""
    root = fresh_cache
    source = tiny_source(71)
    winner = cache.get_module(source, "race")
    material = cache.key_material(source, root)
    key = cache.compute_key(material)
    manifest_before = open(os.path.join(winner.path, "manifest.json")).read()
    loser = build_and_publish(root, key, material, source, "race", winner.path)
    assert cache.events["lost_races"] == 1 and loser.path == winner.path
    assert call_tiny(loser) == 71
    assert open(os.path.join(winner.path, "manifest.json")).read() == manifest_before
    assert listing(os.path.join(root, "tmp")) == []
    # A winner whose entry turns out broken is replaced by the loser's build.
    os.unlink(os.path.join(winner.path, "manifest.json"))
    with pytest.warns(RuntimeWarning, match="broken"):
        replaced = build_and_publish(root, key, material, source, "race", winner.path)
    assert cache.events["lost_races"] == 2 and call_tiny(replaced) == 71
    assert cache.verify(root, quarantine=False) == (1, [])


def test_cli_list_and_prune_output(fresh_cache, cli):
    root = fresh_cache
    cache.get_module(tiny_source(81), "listed")
    env = {"CGRAPH_CACHE_DIR": root}
    code, out, _ = cli(env, "list")
    assert code == 0 and "1 entries" in out and "listed" in out and "total" in out
    code, out, _ = cli(env, "prune", "--max-size", "1G", "--older-than", "30")
    assert code == 0 and "removed 0 entries" in out and "kept 1 entries" in out
    code, out, _ = cli(env, "prune", "--max-size", "0", "--dry-run")
    assert code == 0 and "would remove 1 entries" in out and len(entry_folders(root)) == 1
    code, _, err = cli(env, "prune", "--max-size", "lots")
    assert code == 2 and "not a size" in err
