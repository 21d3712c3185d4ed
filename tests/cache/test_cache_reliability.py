"""Reliability of the compile cache under many processes, crashes and corruption: the tests
T1, T2, T4, T5, T6, T7, T8, T10, T15, T21 and T22 of the cache survey
(/work/shared/research/caches.md, section 9). Anything that could crash runs in a subprocess
and the test asserts its exit code or signal."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from cgraph import cache
from cgraph.config import config
from cache_helpers import (REPO, call_tiny, cli, compiler_calls, entry_folders,  # noqa: F401
                                fresh_cache, graph_env, graph_program, listing, run, run_ok,
                                tiny_program, tiny_source)

pytestmark = pytest.mark.slow   # every test runs programs in fresh caches


# --- T1: a warm start compiles nothing and touches nothing heavy ----------------------------

WARM_PATH_SPY = """
import os, subprocess
root = os.environ["CGRAPH_CACHE_DIR"]
extra.update(popen=0, ffi=0, scans=[])
_popen_init = subprocess.Popen.__init__
def _counting_popen(self, *args, **kwargs):
    extra["popen"] += 1
    return _popen_init(self, *args, **kwargs)
subprocess.Popen.__init__ = _counting_popen
import cffi
_ffi_init = cffi.FFI.__init__
def _counting_ffi(self, *args, **kwargs):
    extra["ffi"] += 1
    return _ffi_init(self, *args, **kwargs)
cffi.FFI.__init__ = _counting_ffi
def _spy(original):
    def listing(path="."):
        if isinstance(path, str) and os.path.abspath(path).startswith(root):
            extra["scans"].append(path)
        return original(path)
    return listing
os.listdir, os.scandir = _spy(os.listdir), _spy(os.scandir)
"""


def test_T1_warm_start_compiles_nothing_and_imports_nothing_heavy(graph_env):
    env, log = graph_env
    program = graph_program(scales=(2, 3, 4), setup=WARM_PATH_SPY)
    cold = run_ok(program, env)
    assert cold["stats"]["builds"] == 3
    assert compiler_calls(log) >= 3
    # The build path (a direct compiler call) needs no setuptools.
    assert not [m for m in cold["modules"] if m.startswith(("setuptools", "distutils"))]
    calls = compiler_calls(log)

    warm = run_ok(program, env)
    assert warm["stats"] == {"builds": 0, "disk_hits": 3, "memory_hits": 0}
    assert compiler_calls(log) == calls, "the warm run invoked the compiler"
    assert warm["extra"]["popen"] == 0, "the warm run started a subprocess"
    assert warm["extra"]["ffi"] == 0, "the warm run created a cffi.FFI()"
    assert warm["extra"]["scans"] == [], "the warm run listed a folder of the cache"
    assert not [m for m in warm["modules"] if m.startswith(("setuptools", "distutils",
                                                              "pycparser"))], warm["modules"]
    assert [r["key"] for r in warm["results"]] == [r["key"] for r in cold["results"]]
    # Lowering + loading a graph from the cache; the first one also sets up BLAS pointers.
    assert max(r["seconds"] for r in warm["results"][1:]) < 0.1, warm["results"]


# --- T2: a stampede of processes compiling the same graph into an empty cache ----------------

STAMPEDE_SETUP = """
import os, time
import cgraph.cache, cgraph.blas_pointers
cgraph.blas_pointers.blas_pointers()      # scipy imported before the start signal
open(os.environ["STAMPEDE_READY"] + str(os.getpid()), "w").close()
while not os.path.exists(os.environ["STAMPEDE_GO"]):
    time.sleep(0.005)
"""


def _stampede(tmp_path, round_no, processes, extra_env):
    root = tmp_path / f"round{round_no}"
    sync = tmp_path / f"sync{round_no}"
    sync.mkdir()
    env = dict(os.environ, CGRAPH_CACHE_DIR=str(root), STAMPEDE_READY=str(sync / "ready-"),
               STAMPEDE_GO=str(sync / "go"), PYTHONPATH=REPO, **extra_env)
    program = tiny_program(values=(7,), setup=STAMPEDE_SETUP)
    procs = [subprocess.Popen([sys.executable, "-c", program], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(processes)]
    deadline = time.monotonic() + 120
    while len(os.listdir(sync)) < processes and time.monotonic() < deadline:
        time.sleep(0.02)
    start = time.monotonic()
    (sync / "go").touch()            # every process now asks for the same module at once
    outputs = [p.communicate(timeout=120) for p in procs]
    duration = time.monotonic() - start
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, f"exit {p.returncode}\n{err}"
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert len({r["results"][0]["key"] for r in reports}) == 1
    folders = entry_folders(str(root))
    assert len(folders) == 1, folders
    assert listing(str(root / "tmp")) == [], "a build folder or its lock file was left behind"
    assert not (root / "quarantine").exists() and not (root / "failed").exists()
    assert cache.verify(str(root), quarantine=False) == (1, [])
    return reports, duration


@pytest.mark.parametrize("locking", ["per-key lock", "no lock"])
def test_T2_stampede_same_key(tmp_path, locking):
    """16 processes x several rounds start compiling one graph into an empty cache at the
    same moment. With the per-key lock exactly one compiles; without it (lock wait 0) many
    compile, exactly one publishes and the losers use the winner's entry."""
    processes, rounds = 16, (3 if locking == "per-key lock" else 2)
    extra_env = {} if locking == "per-key lock" else {"CGRAPH_CACHE_LOCK_TIMEOUT": "0"}
    durations, builds, lost = [], 0, 0
    for round_no in range(rounds):
        reports, duration = _stampede(tmp_path, round_no, processes, extra_env)
        durations.append(duration)
        round_builds = sum(r["stats"]["builds"] for r in reports)
        if locking == "per-key lock":
            assert round_builds == 1, [r["stats"] for r in reports]
            assert all(r["events"]["lock_timeouts"] == 0 for r in reports)
        builds += round_builds
        lost += sum(r["events"]["lost_races"] for r in reports)
        assert builds - lost == round_no + 1 or locking == "per-key lock"
    print(f"\n{locking}: {rounds} rounds x {processes} processes, "
          f"{sum(durations) / rounds:.2f}s per round after the start signal, "
          f"{builds} compiles, {lost} lost publication races")


# --- T4: a builder killed at each step -------------------------------------------------------

CRASH_STEPS = ["source", "compile", "module", "manifest", "publish", "published"]


def test_T4_builder_killed_at_each_step(graph_env):
    """kill -9 (SIGKILL) of a builder at each step, while it holds its key's lock (one
    builder per step, all at once, each on its own key). The next run takes every lock at
    once (the kernel released them), never loads partial output, and rebuilds; `prune` then
    removes what the dead builders left in tmp/."""
    env, log = graph_env
    root = env["CGRAPH_CACHE_DIR"]
    full_env = dict(os.environ, PYTHONPATH=REPO, **env)
    crashing = [subprocess.Popen([sys.executable, "-c", tiny_program(values=(100 + n,))],
                                 env=dict(full_env, CGRAPH_TEST_CRASH_AT=step), cwd=REPO,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for n, step in enumerate(CRASH_STEPS)]
    for step, proc in zip(CRASH_STEPS, crashing):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGKILL, (step, proc.returncode, err)
    published = [os.path.basename(f) for f in entry_folders(root)]
    assert len(published) == 1          # only the builder killed after its rename published
    values = [100 + n for n in range(len(CRASH_STEPS))]
    start = time.monotonic()
    after = run_ok(tiny_program(values=values), env)
    assert time.monotonic() - start < 60
    assert after["events"]["lock_waits"] == 0, "waited for a dead builder's lock"
    assert after["events"]["quarantined"] == 0
    assert after["stats"]["builds"] == len(CRASH_STEPS) - 1 and after["stats"]["disk_hits"] == 1
    assert after["results"][CRASH_STEPS.index("published")]["key"] == published[0]
    assert len(entry_folders(root)) == len(CRASH_STEPS)
    leftovers = listing(os.path.join(root, "tmp"))
    assert len([p for p in leftovers if p.endswith(".lock")]) == len(CRASH_STEPS)
    time.sleep(0.5)           # let the compiler orphaned by the "compile" kill finish
    report = cache.prune(root)
    assert listing(os.path.join(root, "tmp")) == [], report
    assert len(entry_folders(root)) == len(CRASH_STEPS)
    assert cache.verify(root) == (len(CRASH_STEPS), [])


def test_dead_lock_holder_releases_the_waiter(graph_env):
    """A process waiting for a key's lock goes on as soon as the holder is killed."""
    env, _ = graph_env
    holder_program = textwrap.dedent("""\
        import fcntl, os, sys, time
        from cgraph import cache
        root = cache.cache_root()
        cache.open_root(root)
        key = cache.compute_key(cache.key_material(sys.argv[1], root))
        folder = os.path.join(root, "locks")
        os.makedirs(folder, exist_ok=True)
        fd = os.open(os.path.join(folder, key + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print(key, flush=True)
        time.sleep(600)
        """)
    waiter_program = textwrap.dedent("""\
        import json, sys, time
        from cgraph import cache
        print("ready", flush=True)
        t0 = time.monotonic()
        entry = cache.get_module(sys.argv[1], "waiter")
        print(json.dumps({"seconds": time.monotonic() - t0, "events": cache.events,
                          "value": entry.lib.cg_run(*[None] * 6, 0)}))
        """)
    source = tiny_source(4242)
    full_env = dict(os.environ, PYTHONPATH=REPO, CGRAPH_CACHE_LOCK_TIMEOUT="60", **env)
    holder = subprocess.Popen([sys.executable, "-c", holder_program, source], env=full_env,
                              stdout=subprocess.PIPE, text=True)
    try:
        holder.stdout.readline()                       # the lock is held
        waiter = subprocess.Popen([sys.executable, "-c", waiter_program, source], env=full_env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert waiter.stdout.readline().strip() == "ready"
        time.sleep(1.0)                                # now waiting in get_module
        assert waiter.poll() is None, "the waiter did not wait for a live holder"
        holder.kill()
        out, err = waiter.communicate(timeout=30)
    finally:
        holder.kill()
        holder.wait()
    assert waiter.returncode == 0, err
    report = json.loads(out.splitlines()[-1])
    assert report["value"] == 4242
    assert report["events"]["lock_waits"] == 1 and report["events"]["lock_timeouts"] == 0
    assert report["seconds"] < 10, report


# --- T15: a lock held forever by a live process -----------------------------------------------

def test_T15_lock_held_forever_costs_a_bounded_wait(tmp_path):
    import fcntl
    root = str(tmp_path / "cache")
    env = dict(os.environ, CGRAPH_CACHE_DIR=root, PYTHONPATH=REPO, CGRAPH_CACHE_LOCK_TIMEOUT="2")
    source = tiny_source(1515)
    program = textwrap.dedent("""\
        import json, sys, time, warnings
        from cgraph import cache
        root = cache.cache_root()
        cache.open_root(root)
        print(cache.compute_key(cache.key_material(sys.argv[1], root)))
        """)
    key = subprocess.run([sys.executable, "-c", program, source], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    os.makedirs(os.path.join(root, "locks"), exist_ok=True)
    fd = os.open(os.path.join(root, "locks", key + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)     # this test process holds the lock "forever"
    try:
        waiter = textwrap.dedent("""\
            import json, sys, time, warnings
            caught = []
            warnings.showwarning = lambda m, *a, **k: caught.append(str(m))
            from cgraph import cache
            t0 = time.monotonic()
            entry = cache.get_module(sys.argv[1], "waiter")
            print(json.dumps({"seconds": time.monotonic() - t0, "events": cache.events,
                              "warnings": caught,
                              "value": entry.lib.cg_run(*[None] * 6, 0)}))
            """)
        proc = subprocess.run([sys.executable, "-c", waiter, source], env=env,
                              capture_output=True, text=True, timeout=60)
    finally:
        os.close(fd)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["value"] == 1515
    assert report["events"]["lock_timeouts"] == 1
    assert 2.0 <= report["seconds"] < 15, report
    assert len(report["warnings"]) == 1 and "waited" in report["warnings"][0]


# --- T5, T6: truncated and bit-flipped modules ------------------------------------------------

def _corrupt_and_reload(env, damages):
    """Build one entry per damage, apply each to its module, then load them all in a fresh
    process: each is caught before the dynamic loader sees it, set aside and rebuilt."""
    values = [50 + n for n in range(len(damages))]
    built = run_ok(tiny_program(values=values), env)
    for damage, result in zip(damages, built["results"]):
        module = result["module"]
        with open(module, "r+b") as f:
            damage(f, os.path.getsize(module))
    report = run_ok(tiny_program(values=values), env)      # exit 0: no SIGBUS, no SIGSEGV
    assert report["stats"]["builds"] == len(damages)
    assert report["events"]["quarantined"] == len(damages)
    assert len(report["warnings"]) == len(damages)          # one per broken entry
    assert all("broken" in w for w in report["warnings"])
    quarantine = os.path.join(env["CGRAPH_CACHE_DIR"], "quarantine")
    assert len(os.listdir(quarantine)) == len(damages)
    return report["warnings"]


def test_T5_truncated_module_is_never_loaded(graph_env):
    """Truncations that would make dlopen raise (0 %, 1 %), kill the process with SIGBUS
    (10 %, 50 %) or silently succeed (90 %, 99 %) are all caught by the manifest check."""
    env, _ = graph_env
    fractions = (0.0, 0.01, 0.10, 0.50, 0.90, 0.99)
    damages = [lambda f, size, fr=fr: f.truncate(int(size * fr)) for fr in fractions]
    for warning in _corrupt_and_reload(env, damages):
        assert "bytes where the manifest says" in warning, warning


def test_T6_bit_flipped_module_is_never_loaded(graph_env):
    env, _ = graph_env

    def flip_at(where):
        def damage(f, size):
            f.seek(int(where * (size - 1)))
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0x01]))
        return damage

    for warning in _corrupt_and_reload(env, [flip_at(w) for w in (0.0, 0.5, 1.0)]):
        assert "sha256" in warning          # ELF header, middle, last byte: same size


# --- T7: garbage states in an entry or around it ---------------------------------------------

def _replace_manifest(text):
    def damage(folder):
        path = os.path.join(folder, "manifest.json")
        new = text(json.load(open(path))) if callable(text) else text
        with open(path, "w") as f:
            f.write(new)
    return damage


def _remove(name):
    def damage(folder):
        os.unlink(os.path.join(folder, name))
    return damage


def _module_name():
    return cache.MODULE_FILE


def _damage_cases():
    other_files = lambda m: json.dumps({**m, "files": {"module.c": m["files"]["module.c"]}})
    other_key = lambda m: json.dumps({**m, "key": "0" * 64})
    no_sha = lambda m: json.dumps({**m, "files": {k: {"size": v["size"]}
                                                  for k, v in m["files"].items()}})
    return {
        "no manifest": _remove("manifest.json"),
        "empty manifest": _replace_manifest(""),
        "truncated manifest": lambda folder: _replace_manifest(
            open(os.path.join(folder, "manifest.json")).read()[:40])(folder),
        "manifest is not an object": _replace_manifest("[1, 2, 3]"),
        "manifest lists other files": _replace_manifest(other_files),
        "manifest of another key": _replace_manifest(other_key),
        "manifest without sha256": _replace_manifest(no_sha),
        "no module": lambda folder: _remove(_module_name())(folder),
        "empty entry folder": lambda folder: [os.unlink(os.path.join(folder, n))
                                              for n in os.listdir(folder)],
    }


def test_T7_garbage_states_are_misses(fresh_cache):
    """Each broken entry is set aside (one warning) and rebuilt; never an exception."""
    root = fresh_cache
    for n, (case, damage) in enumerate(_damage_cases().items()):
        source = tiny_source(700 + n)
        entry = cache.get_module(source, case)
        assert call_tiny(entry) == 700 + n
        damage(entry.path)
        cache.forget_loaded()
        with pytest.warns(RuntimeWarning, match="broken") as caught:
            again = cache.get_module(source, case)
        assert len(caught) == 1, case
        assert call_tiny(again) == 700 + n and again.path == entry.path, case
        assert cache.check_entry(cache.EntryInfo(again.key, again.path, "", "")) == [], case
    assert cache.events["quarantined"] == len(_damage_cases())
    assert len(os.listdir(os.path.join(root, "quarantine"))) == len(_damage_cases())


def test_T7_leftovers_around_entries_are_ignored_then_pruned(fresh_cache):
    root = fresh_cache
    entry = cache.get_module(tiny_source(771), "first")
    # Stray file in an entry: the module still verifies and loads; verify reports it.
    stray = os.path.join(entry.path, "notes.txt")
    open(stray, "w").close()
    # Orphaned build folders (no lock file; old), a lock file whose builder died, a build
    # folder of a dead builder, and lock files left behind in locks/.
    tmp = os.path.join(root, "tmp")
    os.makedirs(os.path.join(tmp, "old-orphan"))
    os.utime(os.path.join(tmp, "old-orphan"), (0, 0))
    os.makedirs(os.path.join(tmp, "dead-builder"))
    open(os.path.join(tmp, "dead-builder.lock"), "w").close()
    open(os.path.join(tmp, "never-started.lock"), "w").close()
    old_lock = os.path.join(root, "locks", "f" * 64 + ".lock")
    open(old_lock, "w").close()
    os.utime(old_lock, (0, 0))
    cache.forget_loaded()
    again = cache.get_module(tiny_source(771), "first")
    assert call_tiny(again) == 771 and cache.stats["builds"] == 1
    other = cache.get_module(tiny_source(772), "second")      # builds alongside leftovers
    assert call_tiny(other) == 772
    checked, bad = cache.verify(root)
    assert checked == 2 and len(bad) == 1 and "notes.txt" in bad[0][1][0]
    report = cache.prune(root)
    assert listing(tmp) == []
    assert not os.path.exists(old_lock)
    assert report["kept"] == 1 and report["removed"] == []


# --- T8: an entry pruned, quarantined, republished while a process runs it --------------------

LOOPING_SETUP = """
import os, sys, time, types, re, json
exec(LIGHT)
entry = cache.get_module(SOURCE.replace("VALUE", "909"), "looping")
print(entry.module_path, flush=True)
calls, null = 0, None
while not os.path.exists(STOP) or calls < 1000:
    assert entry.lib.cg_run(null, null, null, null, null, null, 0) == 909
    calls += 1
    if calls % 100 == 0:
        time.sleep(0.001)
print(json.dumps({"calls": calls}))
sys.exit(0)
"""


def test_T8_entry_replaced_while_loaded(graph_env, tmp_path):
    """Process A keeps calling its module while others prune it, rebuild and republish the
    same key, quarantine it and clear the cache: A never crashes (no file it mapped is ever
    written in place; folders are renamed away before being deleted)."""
    from cache_helpers import LIGHT_IMPORT, TINY_SOURCE
    env, _ = graph_env
    stop = str(tmp_path / "stop")
    looping = LOOPING_SETUP.replace("LIGHT", repr(LIGHT_IMPORT)).replace(
        "SOURCE", repr(TINY_SOURCE)).replace("STOP", repr(stop))
    full_env = dict(os.environ, PYTHONPATH=REPO, **env)
    proc = subprocess.Popen([sys.executable, "-c", looping], env=full_env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        module = proc.stdout.readline().strip()
        folder = os.path.dirname(module)
        rebuild = lambda: run_ok(tiny_program(values=(909,)), env)["stats"]["builds"]
        assert cli(env, "prune", "--max-size", "0")[0] == 0        # gone (renamed, deleted)
        assert not os.path.exists(folder)
        assert rebuild() == 1 and os.path.exists(module)            # republished, same key
        quarantine = textwrap.dedent(f"""\
            from cgraph import cache
            cache.open_root(cache.cache_root())
            cache.set_aside(cache.cache_root(), {folder!r}, "test", True)
            """)
        assert run(quarantine, env).returncode == 0                 # quarantined
        assert not os.path.exists(folder)
        assert rebuild() == 1
        assert cli(env, "clear")[0] == 0                            # cleared
        assert rebuild() == 1
        assert cli(env, "prune", "--max-size", "0")[0] == 0
        open(stop, "w").close()
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["calls"] >= 1000


# --- T10: the key does not depend on hash seeds, folders or environment noise ----------------

def test_T10_key_is_stable(graph_env, tmp_path):
    env, log = graph_env
    runs = []
    for n, seed in enumerate(("0", "12345", "random")):
        cwd = tmp_path / f"cwd{n}"
        cwd.mkdir()
        run_env = dict(env, PYTHONHASHSEED=seed, CGRAPH_UNRELATED_NOISE=str(n) * n,
                       CPATH=str(tmp_path / f"include{n}"))   # scrubbed from the compiler
        if n == 2:
            run_env["CGRAPH_CACHE_DIR"] = str(tmp_path / "another cache")
        runs.append(run_ok(graph_program(scales=(3, 11)), run_env, cwd=str(cwd)))
    keys = {tuple(r["results"][i]["key"] for i in range(2)) for r in runs}
    assert len(keys) == 1, keys
    assert [r["stats"]["builds"] for r in runs] == [2, 0, 2]
    assert len(entry_folders(env["CGRAPH_CACHE_DIR"])) == 2
    assert len(entry_folders(str(tmp_path / "another cache"))) == 2


# --- T21: a compile error keeps the evidence and is not remembered -----------------------------

def test_T21_compile_error_keeps_evidence_and_retries(fresh_cache, tmp_path, monkeypatch):
    from cache_helpers import make_logging_compiler
    wrapper, log = make_logging_compiler(str(tmp_path))
    monkeypatch.setattr(config, "cc", wrapper)
    bad = tiny_source(1).replace("return 1;", "return this is not C;")
    for attempt in (1, 2):
        with pytest.raises(cache.CompileError) as info:
            cache.get_module(bad, name="broken_fn")
        folder = info.value.folder
        message = str(info.value)
        assert folder in message and "broken_fn" in message and "error" in message
        assert os.path.isdir(folder) and os.path.dirname(folder).endswith("failed")
        assert open(os.path.join(folder, "module.c")).read() == bad
        build = json.load(open(os.path.join(folder, "build.json")))
        assert build["returncode"] != 0 and "error" in build["compiler_output"]
        assert build["command"][0] == os.path.realpath(wrapper)
        assert not os.path.exists(os.path.join(folder, "manifest.json"))
        assert compiler_calls(log, compiles_only=True) == attempt     # retried, not remembered as failed
    assert cache.list_entries(fresh_cache) == []
    assert listing(os.path.join(fresh_cache, "tmp")) == []
    assert len(os.listdir(os.path.join(fresh_cache, "failed"))) == 2


def test_compiler_temporary_files_go_into_the_build_folder(fresh_cache, tmp_path, monkeypatch):
    """gcc writes its temporary files (ccXXXXXX.s, .o) into the build folder, not TMPDIR: a
    compiler killed mid-way (an interrupt, a failed build step) cannot delete them, and they
    were left in /tmp; in the build folder they go with the failed build."""
    log = tmp_path / "compiler.log"
    wrapper = tmp_path / "tmpdir-gcc"
    wrapper.write_text(f'#!/bin/sh\necho "$TMPDIR|$PWD|$*" >> {log}\nexec gcc "$@"\n')
    wrapper.chmod(0o700)
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(config, "cc", str(wrapper))
    monkeypatch.setenv("TMPDIR", str(system_tmp))
    assert call_tiny(cache.get_module(tiny_source(7), name="tmp_files")) == 7
    builds = [line.split("|") for line in log.read_text().splitlines()
              if cache.MODULE_FILE in line]        # not the compiler's probes
    assert builds, "no module build was logged"
    for tmpdir, cwd, command in builds:
        assert tmpdir == cwd, command       # a build runs in its own folder
        assert os.path.commonpath([tmpdir, fresh_cache]) == fresh_cache, command
    assert os.listdir(system_tmp) == []


# --- T22: other cache formats and Python ABIs in the same root --------------------------------

def test_T22_other_formats_and_abis_are_ignored_and_prunable(graph_env):
    import shutil
    env, _ = graph_env
    root = env["CGRAPH_CACHE_DIR"]
    report = run_ok(tiny_program(values=(22,)), env)
    folder = os.path.dirname(report["results"][0]["module"])
    key = os.path.basename(folder)
    abi = folder.split(os.sep)[-3]
    foreign = {
        "old format": os.path.join(root, "v0", abi, key[:2], key),
        "other abi": os.path.join(root, "v1", "cpython-39", key[:2], key),
    }
    for path in foreign.values():
        shutil.copytree(folder, path)
    shutil.rmtree(folder)
    again = run_ok(tiny_program(values=(22,)), env)
    assert again["stats"]["builds"] == 1, "a module of another format or ABI was loaded"
    for path in foreign.values():          # untouched: no stamp, no quarantine
        assert os.path.isdir(path)
    assert len(entry_folders(root)) == 2       # this ABI's and the other ABI's
    long_ago = time.time() - 90 * 86400
    for path in list(foreign.values()) + [os.path.join(root, "v0")]:
        for dirpath, dirnames, filenames in os.walk(path):
            for name in filenames:
                os.utime(os.path.join(dirpath, name), (long_ago, long_ago))
    cache.prune(root, older_than=30 * 86400)
    assert not os.path.exists(os.path.join(root, "v0"))
    assert not os.path.exists(foreign["other abi"])
    assert len(entry_folders(root)) == 1
    assert run_ok(tiny_program(values=(22,)), env)["stats"]["builds"] == 0
