"""Trust and degraded modes of the compile cache: T12 (untrusted folders and files), T13
(read-only cache), T14 (full disk), and a machine without a C compiler."""
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from cgraph import cache
from cache_helpers import (REPO, call_tiny, cli, entry_folders, fresh_cache,  # noqa: F401
                                listing, run, run_ok, tiny_program, tiny_source)

pytestmark = pytest.mark.slow   # programs in fresh caches

IS_ROOT = os.geteuid() == 0
OTHER_UID = 65534      # "nobody"


# --- T12: a cache folder someone else could change is refused --------------------------------

def _world_writable(root):
    os.chmod(root, 0o777)


def _group_writable(root):
    os.chmod(root, 0o770)


def _symlink(root):
    real = root + "-real"
    os.rename(root, real)
    os.symlink(real, root)


def _not_a_folder(root):
    os.rmdir(root)
    open(root, "w").close()


def _cgraph_folder_world_writable(root):
    os.makedirs(os.path.join(root, "v1"), mode=0o700)
    os.chmod(os.path.join(root, "v1"), 0o777)


ROOT_PROBLEMS = {
    "world-writable": (_world_writable, ["writable by", "everyone", "chmod 700"]),
    "group-writable": (_group_writable, ["writable by its group", "chmod 700"]),
    "symbolic link": (_symlink, ["symbolic link", "rm ", "CGRAPH_CACHE_DIR="]),
    "not a folder": (_not_a_folder, ["not a folder"]),
    "v1 world-writable": (_cgraph_folder_world_writable, ["/v1 is writable", "chmod 700"]),
}


@pytest.mark.parametrize("problem", sorted(ROOT_PROBLEMS))
def test_T12_untrusted_root_is_refused(fresh_cache, problem):
    root = fresh_cache
    os.makedirs(root, mode=0o700)
    damage, phrases = ROOT_PROBLEMS[problem]
    damage(root)
    with pytest.raises(cache.CacheTrustError) as info:
        cache.get_module(tiny_source(1201), "refused")
    message = str(info.value)
    for phrase in phrases:
        assert phrase in message, message
    assert cache.loaded_keys() == [] and cache.stats["builds"] == 0
    if problem == "world-writable":     # the command line refuses it too
        code, _, err = cli({"CGRAPH_CACHE_DIR": root}, "prune")
        assert code == 2 and "chmod 700" in err


def test_T12_root_owned_by_another_user_is_refused(fresh_cache, monkeypatch):
    root = fresh_cache
    os.makedirs(root, mode=0o700)
    if IS_ROOT:
        os.chown(root, OTHER_UID, OTHER_UID)
    else:           # cannot give a folder away: pretend to be someone else instead
        monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 1)
    with pytest.raises(cache.CacheTrustError) as info:
        cache.get_module(tiny_source(1202), "refused")
    assert "belongs to user" in str(info.value) and "chown -R" in str(info.value)
    assert cache.loaded_keys() == []


@pytest.mark.parametrize("level", ["abi", "shard"])
def test_T12_linked_folder_inside_the_cache_is_refused(fresh_cache, monkeypatch, level):
    entry = cache.get_module(tiny_source(1203), "linked")
    shard = os.path.dirname(entry.path)
    folder = shard if level == "shard" else os.path.dirname(shard)
    os.rename(folder, folder + "-moved")
    os.symlink(folder + "-moved", folder)
    cache.forget_checks()                                  # as in a new process
    cache.forget_loaded()
    with pytest.raises(cache.CacheTrustError, match="symbolic link"):
        cache.get_module(tiny_source(1203), "linked")


def _entry_symlink(folder):
    real = folder + "-elsewhere"
    shutil.copytree(folder, real)
    shutil.rmtree(folder)
    os.symlink(real, folder)
    return "symbolic link"


def _module_writable_by_others(folder):
    os.chmod(_module(folder), 0o666)
    return "writable by others"


def _module_symlink(folder):
    module = _module(folder)
    os.rename(module, module + ".real")
    os.symlink(module + ".real", module)
    return "symbolic link"


def _module_of_another_user(folder):
    if not IS_ROOT:
        pytest.skip("needs root to give a file away")
    os.chown(_module(folder), OTHER_UID, OTHER_UID)
    return "belongs to user"


def _entry_group_writable(folder):
    os.chmod(folder, 0o770)
    return "writable by its group"


def _module(folder):
    return os.path.join(folder, cache.MODULE_FILE)


ENTRY_PROBLEMS = [_entry_symlink, _module_writable_by_others, _module_symlink,
                  _module_of_another_user, _entry_group_writable]


@pytest.mark.parametrize("damage", ENTRY_PROBLEMS, ids=lambda f: f.__name__.strip("_"))
def test_T12_untrusted_entry_is_not_loaded(fresh_cache, damage):
    """An entry or module another user could have changed is set aside and rebuilt."""
    entry = cache.get_module(tiny_source(1210), "entry")
    folder = entry.path
    reason = damage(folder)
    cache.forget_loaded()
    with pytest.warns(RuntimeWarning, match="broken") as caught:
        again = cache.get_module(tiny_source(1210), "entry")
    assert reason in str(caught[0].message), str(caught[0].message)
    assert call_tiny(again) == 1210 and cache.stats["builds"] == 2
    st = os.lstat(again.path)
    assert stat.S_ISDIR(st.st_mode) and st.st_mode & 0o077 == 0
    assert stat.S_IMODE(os.lstat(_module(again.path)).st_mode) == 0o600
    assert cache.verify(fresh_cache, quarantine=False) == (1, [])


# --- T13: a read-only cache -------------------------------------------------------------------

def _namespace_prefix():
    """A command prefix running its command in a private mount namespace (as root, or as
    root of a user namespace), where a bind mount can make a folder really read-only; None
    if this machine allows neither."""
    for prefix in (["unshare", "-m"], ["unshare", "-r", "-m"]):
        try:
            if subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0:
                return prefix
        except (OSError, subprocess.TimeoutExpired):
            pass
    return None


def _run_in_namespace(prefix, shell_setup, program, env):
    """Run ``shell_setup`` then python ``program`` in a private mount namespace."""
    full_env = dict(os.environ, PYTHONPATH=REPO, **env)
    script = f"set -e\n{shell_setup}\nexec {shlex.quote(sys.executable)} -c {shlex.quote(program)}"
    return subprocess.run([*prefix, "sh", "-c", script], env=full_env, capture_output=True,
                          text=True, timeout=120, cwd=REPO)


def _snapshot(root):
    return {p: os.lstat(os.path.join(root, p)).st_mtime_ns for p in listing(root)}


def test_T13_read_only_cache(tmp_path):
    """A cache mounted read-only (a real EROFS, not chmod, which root ignores): hits are
    loaded from it, misses are built privately with one warning, a broken entry is ignored,
    and nothing in the cache changes (not even a last_used stamp)."""
    prefix = _namespace_prefix()
    if prefix is None:
        pytest.skip("no mount namespaces here (unshare); see test_T13_cache_under_a_file")
    root = str(tmp_path / "cache")
    private_tmp = tmp_path / "private-tmp"
    private_tmp.mkdir()
    env = {"CGRAPH_CACHE_DIR": root, "TMPDIR": str(private_tmp)}
    built = run_ok(tiny_program(values=(1301, 1304)), env)
    broken_module = built["results"][1]["module"]
    with open(broken_module, "r+b") as f:
        f.truncate(100)
    long_ago = time.time() - 3 * 86400         # a stale stamp a writable cache would touch
    for folder in entry_folders(root):
        os.utime(os.path.join(folder, "last_used"), (long_ago, long_ago))
    before = _snapshot(root)
    mount = f"mount --bind -o ro {shlex.quote(root)} {shlex.quote(root)}"
    proc = _run_in_namespace(prefix, mount, tiny_program(values=(1301, 1302, 1303, 1304)), env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [r["private"] for r in report["results"]] == [False, True, True, True]
    assert report["stats"] == {"builds": 3, "disk_hits": 1, "memory_hits": 0}
    warnings = report["warnings"]
    assert len(warnings) == 2, warnings           # "read-only" once, and the broken entry
    assert [w for w in warnings if "read-only" in w and "private temporary" in w]
    assert [w for w in warnings if "broken" in w and "ignoring it" in w]
    assert _snapshot(root) == before, "the read-only cache was written"
    assert os.listdir(private_tmp) == [], "private build folders were left behind"


def test_T13_cache_under_a_file(tmp_path):
    """A cache path that cannot exist (under a regular file): private builds, one warning."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    report = run_ok(tiny_program(values=(1305, 1306)), {"CGRAPH_CACHE_DIR": str(blocker / "cache")})
    assert [r["private"] for r in report["results"]] == [True, True]
    assert len(report["warnings"]) == 1 and "unusable" in report["warnings"][0]


@pytest.mark.skipif(IS_ROOT, reason="root writes through chmod; test_T13_read_only_cache "
                                    "uses a read-only mount instead")
def test_T13_cache_without_write_permission(tmp_path):
    root = tmp_path / "cache"
    run_ok(tiny_program(values=(1307,)), {"CGRAPH_CACHE_DIR": str(root)})
    os.chmod(root, 0o500)
    try:
        report = run_ok(tiny_program(values=(1307, 1308)), {"CGRAPH_CACHE_DIR": str(root)})
    finally:
        os.chmod(root, 0o700)
    assert [r["private"] for r in report["results"]] == [False, True]
    assert len(report["warnings"]) == 1


# --- T14: a full disk -------------------------------------------------------------------------

FAIL_STEPS = ["source", "compile", "module", "manifest", "publish"]


def test_T14_disk_full_at_each_step(tmp_path):
    """ENOSPC injected at each step of a build in the cache: the program runs on a private
    build with one warning, the partial build is removed, nothing is published."""
    root = str(tmp_path / "cache")
    env = dict(os.environ, PYTHONPATH=REPO, CGRAPH_CACHE_DIR=root)
    procs = [subprocess.Popen([sys.executable, "-c", tiny_program(values=(1400 + n,))],
                              env=dict(env, CGRAPH_TEST_FAIL_AT=step), cwd=REPO, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for n, step in enumerate(FAIL_STEPS)]
    for step, proc in zip(FAIL_STEPS, procs):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (step, err)
        report = json.loads(out.strip().splitlines()[-1])
        assert report["results"][0]["private"], step
        assert len(report["warnings"]) == 1, (step, report["warnings"])
        assert "No space left on device" in report["warnings"][0], report["warnings"]
    assert entry_folders(root) == []
    assert listing(os.path.join(root, "tmp")) == []


def test_T14_really_full_disk(tmp_path):
    """The cache on a full file system (a 1 MB tmpfs, filled) in a private mount namespace."""
    prefix = _namespace_prefix()
    if prefix is None:
        pytest.skip("no mount namespaces here (unshare)")
    root = str(tmp_path / "cache")
    os.makedirs(root, mode=0o700)
    q = shlex.quote(root)
    fill = (f"mount -t tmpfs -o size=1m,mode=0700 tmpfs {q}\n"
            f"dd if=/dev/zero of={q}/filler bs=64k 2>/dev/null || true")
    program = tiny_program(values=(1410,)).replace(
        'print(json.dumps({"results"',
        'tmp = os.path.join(cache.cache_root(), "tmp")\n'
        'extra["tmp"] = sorted(os.listdir(tmp)) if os.path.isdir(tmp) else []\n'
        'print(json.dumps({"results"')
    proc = _run_in_namespace(prefix, fill, program, {"CGRAPH_CACHE_DIR": root})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["results"][0]["private"]
    assert len(report["warnings"]) == 1 and "No space left" in report["warnings"][0]
    assert report["extra"]["tmp"] == [], "the partial build was left in the full cache"


# --- no C compiler ----------------------------------------------------------------------------

def test_missing_compiler_says_what_to_do(tmp_path):
    """Never a silent fall-back: a clear error at the first compile, naming what to install
    and mode='py', which keeps working."""
    program = textwrap.dedent("""\
        import json
        import numpy as np
        import cgraph, cgraph.tensor as T
        x = T.dvector("x")
        report = {}
        for cc in ("/nonexistent", "/bin/false"):
            cgraph.config.cc = cc
            try:
                cgraph.function([x], x + 1.0)
                report[cc] = None
            except Exception as exc:
                report[cc] = [type(exc).__name__, str(exc)]
        report["py"] = cgraph.function([x], x + 1.0, mode="py")(np.arange(3.0)).tolist()
        print(json.dumps(report))
        """)
    report = run_ok(program, {"CGRAPH_CACHE_DIR": str(tmp_path / "cache"),
                              "CGRAPH_FLAGS": "cc=/nonexistent"})
    for cc in ("/nonexistent", "/bin/false"):
        kind, message = report[cc]
        assert kind == "CompilerMissing", report[cc]
        assert os.path.basename(cc) in message, message
        assert "apt-get install gcc" in message and "mode='py'" in message
    assert report["py"] == [1.0, 2.0, 3.0]
    proc = run("import cgraph, cgraph.tensor as T\nx = T.dvector()\ncgraph.function([x], x + 1)",
               {"CGRAPH_CACHE_DIR": str(tmp_path / "cache"), "CGRAPH_FLAGS": "cc=/nonexistent"})
    assert proc.returncode == 1 and "CompilerMissing" in proc.stderr
