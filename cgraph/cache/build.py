"""Compiling and publishing: a module is compiled in a private folder under tmp/,
sealed with its manifest, and published with one rename; a lost race uses the winner's entry;
a cache that cannot be written gets a private build outside it."""
import contextlib
import errno
import hashlib
import json
import os
import stat
import sys
import time
from typing import Callable, Optional, Union

from . import build_units
from . import deferred_link as _deferred_link
from ..template_files import templates_dir
from ..config import config
from .compiler import CompilerMissing, RUNTIME_INCLUDE, RUNTIME_PATH, RUNTIME_SONAME
from .compiler import compiler_environment
from .errors import CacheError, CompileError
from .keys import toolchain
from .layout import FILE_MODE, FORMAT_VERSION, LAST_USED, MANIFEST, entry_files, module_file_of
from .load import CacheEntry, load_private, try_load
from .lock import hold_quietly
from .root import ensure_dir, unlink_quietly
from .state import events, runtime_images, set_origin, traffic_counters, warn_once


PUBLISH_ATTEMPTS = 3     # tries to publish a key whose shard or entry housekeeping removes


class Vanished(Exception):
    """A module this process just published was removed before it could load it (by
    `cache clear` or `prune` beside it): the caller may build it again."""


# A module's C source, or a function rendering it (the runtime's: rendered on a miss only).
Source = Union[str, Callable[[], str]]


class CacheUnwritable(Exception):
    """Writing into the cache failed (read-only, full, vanished): the caller builds privately
    instead (build_private); the message says what failed."""


class _CompileFailed(Exception):
    def __init__(self, build):
        super().__init__(build["returncode"])
        self.build = build


def _fault(step, path=""):
    """Fault injection for the reliability tests (inert unless the variables are set):
    CGRAPH_TEST_CRASH_AT=<step> kills the builder with SIGKILL at that step,
    CGRAPH_TEST_FAIL_AT=<step> makes it fail there with ENOSPC (a full disk)."""
    if os.environ.get("CGRAPH_TEST_CRASH_AT") == step:
        import signal
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("CGRAPH_TEST_FAIL_AT") == step:
        raise OSError(errno.ENOSPC, "No space left on device (injected by CGRAPH_TEST_FAIL_AT)",
                      path)


_NO_SPACE = ("No space left on device", "Disk quota exceeded", "Read-only file system")


def build_entry(folder, key, material, source, name, tc, faults, signature=None):
    """Compile ``source`` (a string, or a function returning it) in the empty private
    ``folder``: module.c, the module, build.json and, last, manifest.json (which records
    ``signature``, the layout the module takes). Raises _CompileFailed if the compiler
    rejects it, OSError if the folder cannot be written."""
    fault = _fault if faults else (lambda step, path="": None)
    import subprocess                       # imported by builds only: a warm start runs none
    t0 = time.perf_counter()
    if callable(source):                    # the runtime's source is rendered on a miss only
        source = source()
    with open(os.path.join(folder, "module.c"), "wb") as f:
        f.write(source.encode())
    fault("source", folder)
    t1 = time.perf_counter()
    module_file = module_file_of(material)
    command = _runnable(material["command"], key, material, folder)   # the key's, filled in
    # gcc's own temporary files (its assembly, its objects) go into the build folder, not
    # /tmp: a compiler killed mid-way (an interrupt, a failed step) cannot delete them, and
    # the folder of a failed build is removed (or swept by housekeeping) with them
    env = dict(compiler_environment(), TMPDIR=folder)
    try:
        if material.get("unit_commands"):   # translation units compiled side by side
            unit_commands = [_runnable(c, key, material, folder)
                             for c in material["unit_commands"]]
            proc = build_units.start(unit_commands, command, folder,
                                     env,
                                     before_link=_deferred_link.before_link(
                                         material, RUNTIME_LINK_FILE, folder))
        else:
            proc = _deferred_link.popen(command, material, RUNTIME_LINK_FILE, cwd=folder,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        stdin=subprocess.DEVNULL, env=env)
    except OSError as exc:
        raise CompilerMissing(f"cgraph could not run the C compiler {command[0]} "
                              f"({exc.strerror}). Install one or set CGRAPH_FLAGS=cc=..., or "
                              f"use mode='py'.") from None
    try:
        fault("compile", folder)  # a kill here leaves the compiler running, orphaned
    except OSError:
        proc.kill()
        proc.communicate()
        raise
    out, err = proc.communicate()
    out, err = out.decode(errors="replace"), err.decode(errors="replace")
    t2 = time.perf_counter()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(folder, RUNTIME_LINK_FILE))   # only the linker needed it
    if proc.returncode != 0 and any(s in out + err for s in _NO_SPACE):
        raise OSError(errno.ENOSPC, f"the compiler could not write its output: "
                                    f"{(out + err).strip()[-300:]}", folder)
    fault("module", folder)
    build = {"key": key, "material": material, "function": name, "command": command,
             "returncode": proc.returncode, "compiler_output": out + err,
             "render_seconds": round(t1 - t0, 4), "compile_seconds": round(t2 - t1, 4),
             "unit_seconds": getattr(proc, "unit_seconds", None),
             "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
             "built_by": f"{os.uname().nodename} pid {os.getpid()}"}   # (socket: ~3 ms to import)
    with open(os.path.join(folder, "build.json"), "w") as f:
        json.dump(build, f, indent=1)
    if proc.returncode != 0:
        raise _CompileFailed(build)
    files = {}
    for fname in (*entry_files(module_file), module_file):
        p = os.path.join(folder, fname)
        _make_owner_only(p)
        with open(p, "rb") as f:
            data = f.read()
            os.fsync(f.fileno())
        files[fname] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest = {"key": key, "format": FORMAT_VERSION, "files": files}
    if signature is not None:
        manifest["signature"] = signature
    text = json.dumps(manifest, indent=1)
    with open(os.path.join(folder, MANIFEST), "w") as f:
        f.write(text[:len(text) // 2])
        f.flush()
        fault("manifest", folder)           # a kill here leaves half a manifest
        f.write(text[len(text) // 2:])
        f.flush()
        os.fsync(f.fileno())
    _make_owner_only(os.path.join(folder, MANIFEST))
    os.close(os.open(os.path.join(folder, LAST_USED), os.O_WRONLY | os.O_CREAT, FILE_MODE))
    _fsync_dir(folder)
    return build


def _make_owner_only(path):
    """Drop every permission but the owner's read and write (the umask's narrower stays)."""
    os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) & FILE_MODE)


def _runnable(command, key, material, folder):
    """The command with its placeholders filled in: the runtime library a module links (a
    copy of the one this process loaded, written into the build folder: its key is in the
    module's key, and the linker records only its shared-object name), the runtime's own
    shared-object name, the folder of the runtime's header (this package's templates, whose
    header text the runtime's key covers)."""
    filled = []
    for word in command:
        if word == RUNTIME_INCLUDE:
            word = "-I" + templates_dir()
        if word == RUNTIME_PATH:
            image = runtime_images.get(material.get("runtime"))
            if image is None and not _deferred_link.runtime_pending(material.get("runtime")):
                raise CacheError("cgraph: a module linking the runtime library is built "
                                 "before that library is loaded")
            if image is not None:     # else compiled first, linked once it is loaded
                with open(os.path.join(folder, RUNTIME_LINK_FILE), "wb") as f:
                    f.write(image)
            word = RUNTIME_LINK_FILE
        filled.append(word.replace(RUNTIME_SONAME, runtime_soname(key)))
    return filled


def runtime_soname(key: str) -> str:
    """The shared-object name of the runtime library with ``key``: modules depend on it by
    this name, so two runtimes (two compilers, say) can be loaded side by side."""
    return f"libcgraph-rt-{key[:16]}.so"


RUNTIME_LINK_FILE = "runtime-for-linking.so"


def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _compile_error(name, build, kept):
    return CompileError(
        f"cgraph: the C compiler failed (exit code {build['returncode']}) on the module for "
        f"function {name!r}.\nSource (module.c), command and compiler output (build.json) "
        f"are kept in {kept}\n{build['compiler_output'][-4000:]}", kept)


def build_and_publish(root: str, key: str, material: dict, source: Source, name: str,
                      final: str, signature: Optional[str] = None) -> CacheEntry:
    """Build in tmp/, publish with one rename, load. Raises CompileError, CacheUnwritable
    if the cache cannot be written, Vanished if the published entry was removed at once."""
    tc = toolchain(root)
    token = f"{key[:16]}-{os.urandom(16).hex()}"          # unique across hosts, pids and forks
    tmp_root = os.path.join(root, "tmp")
    folder = os.path.join(tmp_root, token)
    lock_path = folder + ".lock"
    lock_fd = None
    keep_folder = False
    try:
        try:
            ensure_dir(tmp_root)
            lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            hold_quietly(lock_fd)     # held while building: `prune` leaves this folder alone
            os.mkdir(folder, 0o700)
            try:
                build = build_entry(folder, key, material, source, name, tc, faults=True,
                               signature=signature)
            except _CompileFailed as failure:
                kept = os.path.join(root, "failed", token)
                try:
                    ensure_dir(os.path.dirname(kept))
                    os.rename(folder, kept)
                except OSError:
                    kept, keep_folder = folder, True
                raise _compile_error(name, failure.build, kept) from None
            _fault("publish", folder)
            for attempt in range(PUBLISH_ATTEMPTS):
                try:
                    ensure_dir(os.path.dirname(final))
                    os.rename(folder, final)
                    published = True
                    break
                except FileNotFoundError:
                    # its shard went (`cache clear` beside us): make it again
                    if attempt == PUBLISH_ATTEMPTS - 1 or not os.path.isdir(folder):
                        raise
                except OSError as exc:
                    if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                        raise
                    published = False
                    break
        except OSError as exc:
            raise CacheUnwritable(f"{exc.strerror or exc} ({exc.filename or root})") from exc
        counters = traffic_counters(material)
        counters["builds"] += 1
        set_origin("built")
        counters["compile_seconds"] = counters.get("compile_seconds", 0.0) + \
            build["compile_seconds"]
        if config.compile_verbose:
            print(f"cgraph: built {name!r} as {key[:16]} in "
                  f"{build['render_seconds'] + build['compile_seconds']:.3f}s", file=sys.stderr)
        _fault("published", final)
        module_name = module_file_of(material)
        if not published:
            return _after_lost_race(root, key, folder, final, name, module_name)
        entry = try_load(root, key, final, True, module_name)
        if entry is None:
            if not os.path.isdir(final):
                raise Vanished()
            raise CacheError(f"cgraph: the module just built for {name!r} at {final} does "
                             f"not load; see the warning above")
        return entry
    finally:
        if not keep_folder and os.path.isdir(folder):
            import shutil   # (not at import: it loads bz2, lzma, ~2 ms)
            shutil.rmtree(folder, ignore_errors=True)
        if lock_fd is not None:
            unlink_quietly(lock_path)
            os.close(lock_fd)


def _after_lost_race(root, key, folder, final, name, module_name):
    """Another process published the same key first: use its entry, drop ours. If its entry
    is broken (now quarantined) publish ours; if it is not visible yet (a network file
    system), load ours privately."""
    events["lost_races"] += 1
    entry = try_load(root, key, final, True, module_name)
    if entry is not None:
        return entry
    try:
        os.rename(folder, final)
        entry = try_load(root, key, final, True, module_name)
        if entry is not None:
            return entry
    except OSError:
        pass
    if os.path.isdir(folder):
        return load_private(key, folder, module_name)
    raise CacheError(f"cgraph: the module for {name!r} was built but neither its copy nor "
                     f"the one published at {final} loads")


def build_private(root: str, key: str, material: dict, source: Source, name: str, why: str,
                  signature: Optional[str] = None) -> CacheEntry:
    """The cache cannot take the module: build it in a private temporary folder outside the
    cache, load it from there, warn once. The program runs; later runs compile again."""
    warn_once("private", f"cgraph: {why}; building modules in private temporary folders "
                          f"instead (they are compiled again by each run until the cache is "
                          f"writable; `python -m cgraph cache path` shows where it is)")
    import tempfile
    tc = toolchain(root)
    try:
        folder = tempfile.mkdtemp(prefix=f"cgraph-private-{key[:12]}-")
    except OSError as exc:
        raise CacheError(f"cgraph: {why}, and no private temporary folder could be made "
                         f"either ({exc}); free some space or set CGRAPH_CACHE_DIR") from exc
    try:
        build_entry(folder, key, material, source, name, tc, faults=False, signature=signature)
    except _CompileFailed as failure:
        raise _compile_error(name, failure.build, folder) from None
    except OSError as exc:
        import shutil   # (not at import: it loads bz2, lzma, ~2 ms)
        shutil.rmtree(folder, ignore_errors=True)
        raise CacheError(f"cgraph: {why}, and building in the private folder {folder} failed "
                         f"too ({exc}); free some space or set CGRAPH_CACHE_DIR") from exc
    traffic_counters(material)["builds"] += 1
    set_origin("built")
    return load_private(key, folder, module_file_of(material), signature)
