"""The on-disk cache of compiled modules: content-addressed, published atomically, checked
before loading, safe for many processes at once.

Layout under the cache root (``$CGRAPH_CACHE_DIR``, else ``$XDG_CACHE_HOME/cgraph``, else
``~/.cache/cgraph``)::

    v1/<python abi>/<key[:2]>/<key>/    one entry, never changed after publication
        module.c          the C source exactly as cgraph generated it (and compiled)
        _cgraph_mod.so    a graph module: plain C, loaded with ctypes; or
        libcgraph_rt.so   the runtime library every graph module links (get_runtime); or
        _cgraph_ext<ext>  a CPython extension (get_extension: the call path)
        build.json        key material, compile command, compiler output, timings
        manifest.json     size and sha256 of the three files above; written last
        last_used         empty; its modification time is touched at most once a day on load
    tmp/<token>/          private build folders, renamed into v1/ when complete; each has a
    tmp/<token>.lock      lock file held by its builder, so `prune` knows a dead one
    failed/<token>/       builds the compiler rejected (source, command, compiler output)
    quarantine/           entries found broken, moved aside (then rebuilt)
    trash/                folders being deleted: renamed here first, then removed
    locks/<key>.lock      one lock file per key, so two processes do not build one thing twice
    toolchain/            remembered compiler probes
    prekeys/              records from a graph's pre-key to its module (codegen/prekey.py)
    templates/            the templates compiled by Jinja (codegen/render.py)

The key is the sha256 of everything that changes the binary: the source, the compiler's
path and version, the full command line (CPU features written out), the key of the runtime
library a module links, the Python ABI and this cache's format version.

Correctness never depends on a lock. A reader finds an entry by its key, reads the manifest,
checks the module's owner, permissions, size and sha256, then hands it to the dynamic loader;
anything else is a miss. A builder compiles in a private folder and publishes it with one
rename; whoever loses that race discards its build and uses the winner's. The per-key lock
(flock: released by the kernel when its holder dies; waited for a bounded time) only saves
compiling twice. Nothing happens at import or at exit, and nothing scans a folder except the
housekeeping commands (`python -m cgraph cache ...`).
"""
import contextlib
import errno
import fcntl
import hashlib
import ctypes
import importlib.machinery
import importlib.util
import json
import os
import pwd
import re
import shlex
import shutil
import stat
import sys
import threading
import time
import uuid
import warnings

from . import __version__
from . import build_units
from .cache_files import BadFile, make_private_dirs, read_regular, read_sealed, write_sealed
from .config import config
from .toolchain import RUNTIME_PATH, RUNTIME_SONAME, AssumedToolchain, CompilerMissing
from .toolchain import compile_command, compiler_environment, module_command, runtime_command
from .toolchain import lookup as _lookup_toolchain
from .toolchain import toolchain as _probe_toolchain

__all__ = ["get_module", "CacheEntry", "CompileError", "CompilerMissing", "CacheError",
           "CacheTrustError", "stats", "events", "cache_root", "list_entries", "find_entry",
           "verify", "prune", "clear", "last_origin"]

FORMAT_VERSION = "v1"
MODULE_NAME = "_cgraph_mod"
MODULE_FILE = MODULE_NAME + ".so"              # a graph module (get_module)
RUNTIME_FILE = "libcgraph_rt.so"               # the runtime library (get_runtime)
SOURCE_FILES = ("build.json", "module.c")      # an entry's files besides the module
EXTENSION_NAME = "_cgraph_ext"                 # a plain CPython extension (get_extension)
EXTENSION_FILES = SOURCE_FILES
MANIFEST = "manifest.json"
LAST_USED = "last_used"
STAMP_INTERVAL = 86400.0      # touch an entry's last_used at most once a day
LOCK_TIMEOUT = 120.0          # seconds to wait for another process building the same key
ABANDONED_AFTER = 3600.0      # a tmp/ folder without its lock file this old is abandoned
FILE_MODE = 0o600             # published files: owner-only (never written again)
_KEY_RE = re.compile(r"^[0-9a-f]{64}$")
_FORMAT_RE = re.compile(r"^v\d+$")

# What a graph module exports (int cg_run(...), int cg_profile_read(...): see module.c.j2) and
# the runtime library (cg_free, cg_set_blas, ...: runtime.h) are called through ctypes.


class CompileError(RuntimeError):
    """The C compiler rejected a generated module; ``folder`` keeps source, command, output."""

    def __init__(self, message, folder):
        super().__init__(message)
        self.folder = folder


class CacheError(RuntimeError):
    """The cache cannot give a usable module (e.g. the loader rejects a freshly built one)."""


class CacheTrustError(CacheError):
    """The cache folder could be changed by someone else; cgraph refuses to load from it."""


class CacheEntry:
    """A loaded module: ``lib`` (a ctypes.CDLL of a graph module or of the runtime library;
    None for an extension, whose Python module is ``module``), key, folder and module file.

    ``private`` entries were built outside the cache (it was read-only or full); their
    folder is removed once the module is loaded (the loaded copy stays mapped), except the
    runtime library's, which later modules link against (removed at exit).
    """

    def __init__(self, key, path, module, module_path, private=False, signature=None):
        self.key = key
        self.signature = signature       # the layout its manifest records (None: unrecorded)
        self.path = path
        self.module = module
        self.module_path = module_path
        self.lib = module if isinstance(module, ctypes.CDLL) else None
        self.private = private

    def __repr__(self):
        return f"<CacheEntry {self.key[:16]} {'private ' if self.private else ''}{self.path}>"


stats = {"builds": 0, "disk_hits": 0, "memory_hits": 0}   # this process's cache traffic
extension_stats = {"builds": 0, "disk_hits": 0, "memory_hits": 0}   # the same, get_extension
runtime_stats = {"builds": 0, "disk_hits": 0, "memory_hits": 0}     # the same, get_runtime
timings = {"load_seconds": 0.0}   # time in the dynamic loader (benchmarks report it)
events = {"lost_races": 0, "quarantined": 0, "private_builds": 0, "lock_waits": 0,
          "lock_wait_seconds": 0.0, "lock_timeouts": 0}   # the rarer things that happened

_loaded = {}          # key -> CacheEntry, for this process
_roots = {}           # cache root -> "writable" | "readonly" | ("unusable", why), checked once
_warned = set()       # warnings already given by this process
_checked_dirs = set() # cgraph-made folders found private, once per process
_thread_locks = {}    # key -> threading.Lock: threads of one process build a key once
_thread_locks_guard = threading.Lock()
# How this thread's last lookup found its module ("memory", "disk" or "built"), so that a
# function() can say whether it ran the compiler (stats are process-wide, shared by threads).
_origin = threading.local()


def last_origin():
    """How this thread's last ``get_module``/``load_by_key`` found its module: "memory"
    (already loaded in this process), "disk" (loaded from the cache folder), "built" (the
    C compiler ran), or None before any lookup."""
    return getattr(_origin, "value", None)


# --- where the cache is, and whether to trust it ------------------------------------------

def cache_root():
    root = os.environ.get("CGRAPH_CACHE_DIR") or config.cache_dir
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "cgraph")
    return os.path.abspath(root)


def toolchain(root=None, build=False):
    """The compiler description, probed once per compiler and remembered in the cache.

    The root is checked first (CacheTrustError: nothing is written in a folder cgraph does
    not trust). Unless ``build``, a description remembered for this machine stands in for a
    compiler that is absent or not probed yet, so that finding a built module never starts
    a compiler (an AssumedToolchain then; see toolchain.lookup)."""
    root = root or cache_root()
    usable = not isinstance(_open_root(root), tuple)
    probe_dir = os.path.join(root, "toolchain") if usable else None
    if build:
        return _probe_toolchain(config.cc, probe_dir)
    return _lookup_toolchain(config.cc, probe_dir)


def entries_dir(root=None, abi=None):
    root = root or cache_root()
    return os.path.join(root, FORMAT_VERSION, abi or toolchain(root)["python_abi"])


def entry_folder(root, key, abi=None):
    return os.path.join(entries_dir(root, abi), key[:2], key)


def _user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _trust_problem(path, st, what):
    """Why ``path`` (lstat result ``st``) cannot be trusted, with the fix; None if it can."""
    q = shlex.quote(path)
    if stat.S_ISLNK(st.st_mode):
        target = os.path.realpath(path)
        return (f"{what} {path} is a symbolic link (to {target}); cgraph does not follow links "
                f"in its cache, since a link can be pointed at files someone else controls. "
                f"Remove it (rm {q}) or set CGRAPH_CACHE_DIR={shlex.quote(target)} if that "
                f"folder is yours.")
    if not stat.S_ISDIR(st.st_mode):
        return f"{what} {path} is not a folder. Remove it (rm {q}) or set CGRAPH_CACHE_DIR."
    me = os.geteuid()
    if st.st_uid != me:
        return (f"{what} {path} belongs to user {_user_name(st.st_uid)}, not to you "
                f"({_user_name(me)}); loading modules from it would run code that user can "
                f"change. Fix: chown -R {_user_name(me)} {q} (as root), or set "
                f"CGRAPH_CACHE_DIR to a folder of your own.")
    if st.st_mode & 0o022:
        who = " and ".join(w for bit, w in ((0o020, "its group"), (0o002, "everyone"))
                           if st.st_mode & bit)
        return (f"{what} {path} is writable by {who} (mode {stat.S_IMODE(st.st_mode):o}); "
                f"anyone who can write there can make this process run their code. "
                f"Fix: chmod 700 {q}")
    return None


def _make_dirs(path):
    """Create ``path`` and its missing parents, each readable by its owner only."""
    make_private_dirs(path)


def _ensure_dir(path):
    _make_dirs(path)
    return path


def _open_root(root):
    """Check the cache root once per process: "writable", "readonly", or ("unusable", why).

    Raises CacheTrustError if it exists but is a link, another user's, or writable by others.
    """
    state = _roots.get(root)
    if state is not None:
        return state
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        try:
            _make_dirs(root)
            st = os.lstat(root)
        except OSError as exc:
            st = None
            state = ("unusable", f"it cannot be created: {exc.strerror or exc}")
    except OSError as exc:      # e.g. a path under a file
        st = None
        state = ("unusable", f"it cannot be used: {exc.strerror or exc}")
    if st is not None:
        problem = _trust_problem(root, st, "The cgraph cache folder")
        if problem:
            raise CacheTrustError(problem)
        state = "writable" if os.access(root, os.W_OK) else "readonly"
        _check_cache_dir(os.path.join(root, FORMAT_VERSION))
    _roots[root] = state
    return state


def _check_cache_dir(path):
    """A folder cgraph made inside the cache (v1/, v1/<abi>/, a shard) must still be a real
    folder of ours that nobody else can write, if it exists. Checked once per process."""
    if path in _checked_dirs:
        return
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    problem = _trust_problem(path, st, "The cgraph cache folder")
    if problem:
        raise CacheTrustError(problem)
    _checked_dirs.add(path)


# --- the key -------------------------------------------------------------------------------

def key_material(source, root=None, runtime=None, build=False):
    """The key material of a graph module built from ``source``, linked to the runtime
    library whose entry is ``runtime`` (None: a module that needs no runtime); ``build``:
    from the probed compiler, not a remembered description (see toolchain())."""
    tc = toolchain(root, build)
    return {
        "format": FORMAT_VERSION,
        "cgraph": __version__,
        "kind": "module",
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "compiler": tc["cc"],
        "compiler_version": tc["version"],
        "command": module_command(tc, "module.c", MODULE_FILE, len(source),
                                  runtime=runtime is not None),
        "runtime": runtime.key if runtime is not None else None,
        "python_abi": tc["python_abi"],
        "ext_suffix": tc["ext_suffix"],
        # a module split into translation units: their compiles, and the link as "command"
        **build_units.unit_material(tc, source, MODULE_FILE, runtime is not None),
    }


def runtime_material(source_digest, root=None, build=False):
    """The key material of the runtime library whose templates have ``source_digest``: what
    it depends on is the compiler, the CPU features and cgraph (not the Python ABI, which
    only places it in the cache's layout)."""
    tc = toolchain(root, build)
    return {
        "format": FORMAT_VERSION,
        "cgraph": __version__,
        "kind": "runtime",
        "source_sha256": source_digest,
        "compiler": tc["cc"],
        "compiler_version": tc["version"],
        "command": runtime_command(tc, "module.c", RUNTIME_FILE),
        "python_abi": tc["python_abi"],
        "ext_suffix": tc["ext_suffix"],
    }


def extension_material(source, root=None, include_dirs=(), extra=None, build=False):
    """The key material of a plain extension: its source, compiled as it is (no cffi),
    with ``include_dirs``; ``extra`` names what else changes the binary (numpy's version)."""
    tc = toolchain(root, build)
    module_file = EXTENSION_NAME + tc["ext_suffix"]
    return {
        "format": FORMAT_VERSION,
        "cgraph": __version__,
        "kind": "extension",
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "compiler": tc["cc"],
        "compiler_version": tc["version"],
        "command": compile_command(tc, "module.c", module_file) +
        [f"-I{d}" for d in include_dirs],
        "python_abi": tc["python_abi"],
        "ext_suffix": tc["ext_suffix"],
        "extra": extra or {},
    }


def _is_extension(material):
    return material.get("kind") == "extension"


def _module_file(material):
    if _is_extension(material):
        return EXTENSION_NAME + material["ext_suffix"]
    return RUNTIME_FILE if material.get("kind") == "runtime" else MODULE_FILE


def _entry_files(module_name):
    """An entry's files besides its module (the same for every kind)."""
    return EXTENSION_FILES if module_name.startswith(EXTENSION_NAME) else SOURCE_FILES


def _counters(material):
    if _is_extension(material):
        return extension_stats
    return runtime_stats if material.get("kind") == "runtime" else stats


def compute_key(material):
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


# --- the public entry point ----------------------------------------------------------------

def get_module(source, name="anonymous", signature=None, runtime=None):
    """Load the module built from ``source``, building and publishing it on a miss. A module
    calling the runtime library is linked to ``runtime`` (its loaded entry: get_runtime).

    ``signature`` (see codegen.lowered.layout_signature) is recorded in the entry's manifest,
    so that a module found by its key alone (load_by_key) is checked against its caller."""
    root = cache_root()
    state = _open_root(root)
    return _get_or_probe(root, state, lambda build: key_material(source, root, runtime, build),
                         source, name, signature)


def get_runtime(source_digest, render_source, name="runtime"):
    """Load the runtime library whose templates have ``source_digest``, building it on a
    miss from ``render_source()`` (rendered only then), with every guarantee of get_module.
    Its traffic is counted in ``runtime_stats``. Modules linked to it can be loaded (and
    built) once it is loaded: see cgraph/runtime_library.py."""
    root = cache_root()
    state = _open_root(root)
    return _get_or_probe(root, state, lambda build: runtime_material(source_digest, root, build),
                         render_source, name)


def _get_or_probe(root, state, make_material, source, name, signature=None):
    """_get with the key made from the toolchain that runs nothing (see toolchain()); if that
    description was assumed and the module is missing, the compiler is probed and the key
    made again from what it says."""
    assumed = isinstance(toolchain(root), AssumedToolchain)
    try:
        return _get(root, state, make_material(False), source, name, signature, assumed)
    except _NeedCompiler:
        return _get(root, state, make_material(True), source, name, signature)


def get_extension(source, name, include_dirs=(), extra=None):
    """Load the plain CPython extension built from ``source`` (no cffi: its init function is
    ``PyInit__cgraph_ext``), building it on a miss, with every guarantee of get_module: key,
    checks before loading, per-key lock, atomic publication, quarantine, private builds when
    the cache is read-only. Its traffic is counted in ``extension_stats``; ``entry.module``
    is the module (``entry.lib`` is None)."""
    root = cache_root()
    state = _open_root(root)
    return _get_or_probe(
        root, state, lambda build: extension_material(source, root, include_dirs, extra, build),
        source, name)


class _NeedCompiler(Exception):
    """The module is not built, and the toolchain its key was made from was assumed."""


def _get(root, state, material, source, name, signature=None, assumed=False):
    key = compute_key(material)
    counters = _counters(material)
    entry = _loaded.get(key)
    _origin.value = "memory"
    if entry is not None:
        counters["memory_hits"] += 1
        return entry
    with _thread_lock(key):
        entry = _loaded.get(key)
        if entry is not None:
            counters["memory_hits"] += 1
            return entry
        _origin.value = "disk"       # _build_and_publish and _build_private say "built"
        entry = _load_or_build(root, state, key, material, source, name, signature, assumed)
        _loaded[key] = entry
    return entry


class LayoutMismatch(CacheError):
    """A module found by its key alone takes other arguments than its caller passes: the
    record that named the key is wrong."""


def load_by_key(key, signature=None):
    """The published entry with ``key``, loaded and checked as usual, or None (never builds).

    This is the warm path of ``function()``: a pre-key record (see ``read_prekey``) names the
    key, so the source need not be rendered again. With ``signature`` (the caller's layout,
    see codegen.lowered.layout_signature), the manifest must record the same, or
    LayoutMismatch is raised before anything is called.
    """
    entry = _loaded.get(key)
    _origin.value = "memory"
    if entry is not None:
        if not _fits(entry, signature):
            return None
        stats["memory_hits"] += 1
        return entry
    _origin.value = "disk"
    root = cache_root()
    state = _open_root(root)
    if isinstance(state, tuple):
        return None
    tc = toolchain(root)
    final = entry_folder(root, key, tc["python_abi"])
    shard = os.path.dirname(final)
    try:
        for folder in (os.path.dirname(os.path.dirname(shard)), os.path.dirname(shard), shard):
            _check_cache_dir(folder)
    except (CacheTrustError, OSError):
        return None
    with _thread_lock(key):
        entry = _loaded.get(key) or _try_load(root, key, final, state == "writable",
                                              MODULE_FILE)
        if entry is not None:
            _loaded[key] = entry
    if entry is not None:
        if not _fits(entry, signature):
            return None
        stats["disk_hits"] += 1
    return entry


def _fits(entry, signature):
    """Whether the module of ``entry`` takes the layout ``signature``: True or False (an
    entry that records none, built by an older cgraph, cannot tell: the caller looks it up
    by its source); LayoutMismatch if it records another one."""
    if signature is None:
        return True
    if entry.signature is None:
        return False
    if entry.signature != signature:
        raise LayoutMismatch(f"the module {entry.key[:16]} it names takes "
                             f"({entry.signature}), not ({signature})")
    return True


def _prekey_path(root, prekey):
    return os.path.join(root, "prekeys", prekey[:2], f"{prekey}.json")


def read_prekey(prekey):
    """The cache key recorded for a graph's pre-key, or None. The record is sealed and names
    its pre-key: a damaged, edited or swapped one is set aside (with a warning) and None
    returned, so the graph takes the full path and the record is written again."""
    root = cache_root()
    if isinstance(_open_root(root), tuple):
        return None
    path = _prekey_path(root, prekey)
    try:
        if _untrusted_folders(root, path):
            return None
        payload = read_sealed(path, 4096)
        if payload is None:
            return None
        record = json.loads(payload)
        key = record.get("key") if isinstance(record, dict) else None
        if record.get("prekey") != prekey or not isinstance(key, str) or \
                not _KEY_RE.match(key):
            raise BadFile(path, "does not belong to its pre-key")
        return key
    except OSError:
        return None
    except (BadFile, ValueError, AttributeError) as exc:
        quarantine_file(root, path, exc.why if isinstance(exc, BadFile) else "is not valid JSON")
        return None


def drop_prekey(prekey, why):
    """Set aside the record of ``prekey`` (it named a module that does not fit its graph)."""
    root = cache_root()
    quarantine_file(root, _prekey_path(root, prekey), why)


def write_prekey(prekey, key):
    """Remember that the graph with ``prekey`` lowers to the entry ``key`` (best effort)."""
    root = cache_root()
    if _open_root(root) != "writable":
        return
    write_sealed(_prekey_path(root, prekey),
                 json.dumps({"prekey": prekey, "key": key}).encode())


def _untrusted_folders(root, path):
    """Whether a folder between ``root`` (checked already) and ``path`` is not cgraph's:
    a link, another user's, or writable by others. Absent folders are fine."""
    folder = os.path.dirname(path)
    while folder != root and len(folder) > len(root):
        try:
            if _trust_problem(folder, os.lstat(folder), "folder"):
                return True
        except (FileNotFoundError, NotADirectoryError):
            pass
        folder = os.path.dirname(folder)
    return False


def quarantine_file(root, path, why):
    """Move the broken cache file ``path`` to quarantine/ and say so once (as for a broken
    entry); the caller then does without it, and it is written again."""
    events["quarantined"] += 1
    target = os.path.join(root, "quarantine",
                          f"{os.path.basename(path)}-{uuid.uuid4().hex[:8]}")
    try:
        _ensure_dir(os.path.dirname(target))
        os.rename(path, target)
    except OSError:
        _warn_once(("broken", path), f"cgraph: cache file {path} {why}; ignoring it")
        return
    _warn_once(("broken", path), f"cgraph: cache file {path} {why}; moved it to {target} "
                                 f"and will rebuild it")


def _thread_lock(key):
    with _thread_locks_guard:
        return _thread_locks.setdefault(key, threading.Lock())


def _load_or_build(root, state, key, material, source, name, signature=None, assumed=False):
    if assumed and isinstance(state, tuple):
        raise _NeedCompiler()
    if isinstance(state, tuple):
        return _build_private(root, key, material, source, name,
                              f"the cache folder {root} is unusable: {state[1]}", signature)
    writable = state == "writable"
    module_name = _module_file(material)
    final = entry_folder(root, key, material["python_abi"])
    shard = os.path.dirname(final)
    for folder in (os.path.dirname(os.path.dirname(shard)), os.path.dirname(shard), shard):
        _check_cache_dir(folder)              # a link here would redirect the entry
    entry = _try_load(root, key, final, writable, module_name)
    if entry is not None:
        _counters(material)["disk_hits"] += 1
        return entry
    if assumed:     # a build needs the real compiler's description (and so its key)
        raise _NeedCompiler()
    if not writable:
        return _build_private(root, key, material, source, name,
                              f"the cache folder {root} is read-only", signature)
    try:
        for attempt in range(_PUBLISH_ATTEMPTS):
            with _key_lock(root, key, final):
                entry = _try_load(root, key, final, writable, module_name)   # built meanwhile?
                if entry is not None:
                    _counters(material)["disk_hits"] += 1
                    return entry
                try:
                    return _build_and_publish(root, key, material, source, name, final,
                                              signature)
                except _Vanished:
                    continue      # removed by `cache clear` or `prune` as it was published
        raise _CacheUnwritable(f"the published module vanished {_PUBLISH_ATTEMPTS} times "
                               f"(housekeeping running beside this process?)")
    except _CacheUnwritable as exc:
        return _build_private(root, key, material, source, name,
                              f"writing to the cache folder {root} failed: {exc}", signature)


_PUBLISH_ATTEMPTS = 3


class _Vanished(Exception):
    """A module this process just published was removed before it could load it."""


# --- loading -------------------------------------------------------------------------------

class _Broken(Exception):
    """An entry that must not be loaded; the message says why."""


def _verified_module(key, folder, module_name):
    """(path of the entry's module, the layout signature its manifest records) if the entry
    is complete, ours, and intact; None if there is no entry; raises _Broken otherwise.
    Only reads: the manifest and the module."""
    try:
        st = os.lstat(folder)
    except (FileNotFoundError, NotADirectoryError):
        return None
    problem = _trust_problem(folder, st, "the entry folder")
    if problem:
        raise _Broken(problem)
    try:
        raw = read_regular(os.path.join(folder, MANIFEST), 1 << 20)
    except FileNotFoundError:
        raise _Broken("it has no manifest (an interrupted build?)") from None
    except BadFile as exc:
        raise _Broken(f"its manifest {exc.why}") from None
    except OSError as exc:
        raise _Broken(f"its manifest cannot be read ({exc.strerror})") from None
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise _Broken("its manifest is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("key") != key:
        raise _Broken("its manifest belongs to another key")
    files = manifest.get("files")
    expected = set(_entry_files(module_name)) | {module_name}
    if not isinstance(files, dict) or set(files) != expected:
        listed = sorted(files) if isinstance(files, dict) else files
        raise _Broken(f"its manifest lists {listed!r}, not {sorted(expected)!r}")
    record = files[module_name]
    if not isinstance(record, dict) or not isinstance(record.get("size"), int) or \
            not isinstance(record.get("sha256"), str):
        raise _Broken("its manifest has no size and sha256 for the module")
    module_path = os.path.join(folder, module_name)
    _check_file(module_path, record)
    signature = manifest.get("signature")
    return module_path, signature if isinstance(signature, str) else None


def _check_file(path, record):
    """The file at ``path`` is a regular file of ours, not writable by others, with the size
    and sha256 of ``record``; raises _Broken otherwise. Hashing ~100 KB takes well under 1 ms."""
    name = os.path.basename(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except FileNotFoundError:
        raise _Broken(f"its file {name} is missing") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _Broken(f"its file {name} is a symbolic link") from None
        raise _Broken(f"its file {name} cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Broken(f"its file {name} is not a regular file")
        if st.st_uid != os.geteuid():
            raise _Broken(f"its file {name} belongs to user {_user_name(st.st_uid)}")
        if st.st_mode & 0o022:
            raise _Broken(f"its file {name} is writable by others "
                          f"(mode {stat.S_IMODE(st.st_mode):o})")
        if st.st_size != record["size"]:
            raise _Broken(f"its file {name} has {st.st_size} bytes where the manifest says "
                          f"{record['size']} (truncated?)")
        digest = hashlib.sha256()
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
        if digest.hexdigest() != record["sha256"]:
            raise _Broken(f"its file {name} does not have the sha256 the manifest records "
                          f"(altered or corrupted)")


def _try_load(root, key, folder, writable, module_name):
    """Load a published entry after checking it; None if absent or broken (set aside)."""
    try:
        found = _verified_module(key, folder, module_name)
    except _Broken as exc:
        _set_aside(root, folder, str(exc), writable)
        return None
    if found is None:
        return None
    module_path, signature = found
    started = time.perf_counter()
    try:
        module = _load(key, module_name, module_path)
    except (ImportError, OSError) as exc:
        if not os.path.exists(module_path):
            return None     # pruned between the check and the load: a plain miss
        _explain_noexec(exc, root)
        _set_aside(root, folder, f"the dynamic loader rejected its module ({exc})", writable)
        return None
    timings["load_seconds"] += time.perf_counter() - started
    if writable:
        _touch_last_used(folder)
    return CacheEntry(key, folder, module, module_path, signature=signature)


def _explain_noexec(exc, root):
    if "failed to map segment" in str(exc) or "operation not permitted" in str(exc).lower():
        raise CacheError(
            f"cgraph cannot load modules from its cache {root}: {exc}. The folder is probably "
            f"on a file system mounted 'noexec'; set CGRAPH_CACHE_DIR to a folder on another "
            f"file system (e.g. under your home directory).") from exc


def _load(key, module_name, path):
    """A CPython extension is imported; a graph module or the runtime library is opened with
    ctypes (a module needs its runtime library loaded first: its dependency on it names the
    runtime's shared-object name, which the loader finds among the loaded libraries)."""
    if module_name.startswith(EXTENSION_NAME):
        return _load_extension(f"cgraph_{key[:16]}.{module_name.split('.')[0]}", path)
    if module_name == RUNTIME_FILE and key not in _runtime_images:
        with open(path, "rb") as f:     # checked a moment ago by _verified_module
            _runtime_images[key] = f.read()
    lib = ctypes.CDLL(path)
    if module_name == MODULE_FILE:
        _set_lapack(lib)
    return lib


def _set_lapack(lib):
    """Hand LAPACK's routines to a graph module that calls them: every module answers a
    NULL query of cg_set_lapack (templates/lapack.h), with 1 when it has a linear algebra
    node; only then are the routines found (blas_pointers.lapack_pointers)."""
    try:
        setter = lib.cg_set_lapack
    except AttributeError:      # a module written by hand (tests): no linear algebra
        return
    setter.restype = ctypes.c_int
    setter.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    if setter(None, 0, 0):
        from .blas_pointers import lapack_pointers
        routines, ilp64 = lapack_pointers()
        setter((ctypes.c_void_p * len(routines))(*routines), len(routines), int(ilp64))


def _load_extension(dotted_name, path):
    loader = importlib.machinery.ExtensionFileLoader(dotted_name, path)
    spec = importlib.util.spec_from_file_location(dotted_name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _touch_last_used(folder):
    """Record the use for `prune`, at most once a day (a stat; rarely a write)."""
    path = os.path.join(folder, LAST_USED)
    try:
        if time.time() - os.stat(path).st_mtime < STAMP_INTERVAL:
            return
    except FileNotFoundError:
        pass
    except OSError:
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK |
                         getattr(os, "O_NOFOLLOW", 0), FILE_MODE))
        os.utime(path)
    except OSError:
        pass    # only a hint for prune


def _warn_once(tag, message):
    if tag in _warned:
        return
    _warned.add(tag)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def _set_aside(root, folder, why, writable):
    """Move a broken entry to quarantine/ (one rename: a process using it keeps its copy)."""
    events["quarantined"] += 1
    if not writable:
        _warn_once(("broken", folder), f"cgraph: cache entry {folder} is broken ({why}); "
                                       f"ignoring it (the cache is read-only)")
        return
    target = os.path.join(root, "quarantine", f"{os.path.basename(folder)}-{uuid.uuid4().hex[:8]}")
    try:
        _ensure_dir(os.path.dirname(target))
        os.rename(folder, target)
    except OSError:
        return   # another process moved it first; nothing to say
    _warn_once(("broken", folder), f"cgraph: cache entry {folder} was broken ({why}); moved "
                                   f"it to {target} and will rebuild it")


# --- locking -------------------------------------------------------------------------------

def _lock_timeout():
    value = os.environ.get("CGRAPH_CACHE_LOCK_TIMEOUT")
    try:
        return float(value) if value else LOCK_TIMEOUT
    except ValueError:
        return LOCK_TIMEOUT


@contextlib.contextmanager
def _key_lock(root, key, final):
    """An advisory lock per key, waited for a bounded time. The kernel releases it when its
    holder dies, so a killed builder never blocks anyone. Without it (no lock support, or
    the wait ran out) two processes may both build, which is still correct."""
    try:
        path = os.path.join(_ensure_dir(os.path.join(root, "locks")), f"{key}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:
        yield
        return
    try:
        timeout, start, waited = _lock_timeout(), time.monotonic(), False
        manifest = os.path.join(final, MANIFEST)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    break           # ENOLCK, EOPNOTSUPP (some network file systems): go lockless
            waited = True
            if os.path.exists(manifest):
                break               # the holder published it; the caller loads it
            if time.monotonic() - start >= timeout:
                events["lock_timeouts"] += 1
                _warn_once("lock-timeout",
                           f"cgraph: waited {timeout:.0f}s for another process building the "
                           f"same module (lock {path}); building it here as well")
                break
            time.sleep(0.02)
        if waited:
            events["lock_waits"] += 1
            events["lock_wait_seconds"] += time.monotonic() - start
        yield
    finally:
        os.close(fd)


# --- building ------------------------------------------------------------------------------

class _CacheUnwritable(Exception):
    """Writing into the cache failed (read-only, full, vanished); build privately instead."""


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


def _build(folder, key, material, source, name, tc, faults, signature=None):
    """Compile ``source`` (a string, or a function returning it) in the empty private
    ``folder``: module.c, the module, build.json and, last, manifest.json (which records
    ``signature``, the layout the module takes). Raises _CompileFailed if the compiler
    rejects it, OSError if the folder cannot be written."""
    fault = _fault if faults else (lambda step, path="": None)
    import socket
    import subprocess                       # imported by builds only: a warm start runs none
    t0 = time.perf_counter()
    if callable(source):                    # the runtime's source is rendered on a miss only
        source = source()
    with open(os.path.join(folder, "module.c"), "wb") as f:
        f.write(source.encode())
    fault("source", folder)
    t1 = time.perf_counter()
    module_file = _module_file(material)
    command = _runnable(material["command"], key, material, folder)   # the key's, filled in
    try:
        if material.get("unit_commands"):   # translation units compiled side by side
            proc = build_units.start(material["unit_commands"], command, folder,
                                     compiler_environment())
        else:
            proc = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                    env=compiler_environment())
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
             "built_by": f"{socket.gethostname()} pid {os.getpid()}"}
    with open(os.path.join(folder, "build.json"), "w") as f:
        json.dump(build, f, indent=1)
    if proc.returncode != 0:
        raise _CompileFailed(build)
    files = {}
    for fname in (*_entry_files(module_file), module_file):
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
    shared-object name."""
    filled = []
    for word in command:
        if word == RUNTIME_PATH:
            image = _runtime_images.get(material.get("runtime"))
            if image is None:
                raise CacheError("cgraph: a module linking the runtime library is built "
                                 "before that library is loaded")
            with open(os.path.join(folder, RUNTIME_LINK_FILE), "wb") as f:
                f.write(image)
            word = RUNTIME_LINK_FILE
        filled.append(word.replace(RUNTIME_SONAME, runtime_soname(key)))
    return filled


def runtime_soname(key):
    """The shared-object name of the runtime library with ``key``: modules depend on it by
    this name, so two runtimes (two compilers, say) can be loaded side by side."""
    return f"libcgraph-rt-{key[:16]}.so"


_runtime_images = {}   # runtime key -> the bytes of the library this process loaded
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


def _build_and_publish(root, key, material, source, name, final, signature=None):
    """Build in tmp/, publish with one rename, load. Raises CompileError, or _CacheUnwritable
    if the cache cannot be written."""
    tc = toolchain(root)
    token = f"{key[:16]}-{uuid.uuid4().hex}"          # unique across hosts, pids and forks
    tmp_root = os.path.join(root, "tmp")
    folder = os.path.join(tmp_root, token)
    lock_path = folder + ".lock"
    lock_fd = None
    keep_folder = False
    try:
        try:
            _ensure_dir(tmp_root)
            lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            _flock_quietly(lock_fd)     # held while building: `prune` leaves this folder alone
            os.mkdir(folder, 0o700)
            try:
                build = _build(folder, key, material, source, name, tc, faults=True,
                               signature=signature)
            except _CompileFailed as failure:
                kept = os.path.join(root, "failed", token)
                try:
                    _ensure_dir(os.path.dirname(kept))
                    os.rename(folder, kept)
                except OSError:
                    kept, keep_folder = folder, True
                raise _compile_error(name, failure.build, kept) from None
            _fault("publish", folder)
            for attempt in range(_PUBLISH_ATTEMPTS):
                try:
                    _ensure_dir(os.path.dirname(final))
                    os.rename(folder, final)
                    published = True
                    break
                except FileNotFoundError:
                    # its shard went (`cache clear` beside us): make it again
                    if attempt == _PUBLISH_ATTEMPTS - 1 or not os.path.isdir(folder):
                        raise
                except OSError as exc:
                    if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                        raise
                    published = False
                    break
        except OSError as exc:
            raise _CacheUnwritable(f"{exc.strerror or exc} ({exc.filename or root})") from exc
        counters = _counters(material)
        counters["builds"] += 1
        _origin.value = "built"
        counters["compile_seconds"] = counters.get("compile_seconds", 0.0) + \
            build["compile_seconds"]
        if config.compile_verbose:
            print(f"cgraph: built {name!r} as {key[:16]} in "
                  f"{build['render_seconds'] + build['compile_seconds']:.3f}s", file=sys.stderr)
        _fault("published", final)
        module_name = _module_file(material)
        if not published:
            return _after_lost_race(root, key, folder, final, name, module_name)
        entry = _try_load(root, key, final, True, module_name)
        if entry is None:
            if not os.path.isdir(final):
                raise _Vanished()
            raise CacheError(f"cgraph: the module just built for {name!r} at {final} does "
                             f"not load; see the warning above")
        return entry
    finally:
        if not keep_folder and os.path.isdir(folder):
            shutil.rmtree(folder, ignore_errors=True)
        if lock_fd is not None:
            _unlink_quietly(lock_path)
            os.close(lock_fd)


def _flock_quietly(fd):
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _after_lost_race(root, key, folder, final, name, module_name):
    """Another process published the same key first: use its entry, drop ours. If its entry
    is broken (now quarantined) publish ours; if it is not visible yet (a network file
    system), load ours privately."""
    events["lost_races"] += 1
    entry = _try_load(root, key, final, True, module_name)
    if entry is not None:
        return entry
    try:
        os.rename(folder, final)
        entry = _try_load(root, key, final, True, module_name)
        if entry is not None:
            return entry
    except OSError:
        pass
    if os.path.isdir(folder):
        return _load_private(key, folder, module_name)
    raise CacheError(f"cgraph: the module for {name!r} was built but neither its copy nor "
                     f"the one published at {final} loads")


def _build_private(root, key, material, source, name, why, signature=None):
    """The cache cannot take the module: build it in a private temporary folder outside the
    cache, load it from there, warn once. The program runs; later runs compile again."""
    _warn_once("private", f"cgraph: {why}; building modules in private temporary folders "
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
        _build(folder, key, material, source, name, tc, faults=False, signature=signature)
    except _CompileFailed as failure:
        raise _compile_error(name, failure.build, folder) from None
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise CacheError(f"cgraph: {why}, and building in the private folder {folder} failed "
                         f"too ({exc}); free some space or set CGRAPH_CACHE_DIR") from exc
    _counters(material)["builds"] += 1
    _origin.value = "built"
    return _load_private(key, folder, _module_file(material), signature)


def _load_private(key, folder, module_name, signature=None):
    events["private_builds"] += 1
    module_path = os.path.join(folder, module_name)
    try:
        if module_name.startswith(EXTENSION_NAME):
            module = _load_extension(f"cgraph_private_{key[:16]}_{uuid.uuid4().hex[:8]}."
                                     f"{module_name.split('.')[0]}", module_path)
        else:
            module = _load(key, module_name, module_path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)   # the loaded copy stays mapped
    return CacheEntry(key, folder, module, module_path, private=True, signature=signature)


# --- housekeeping (python -m cgraph cache ...) -------------------------------------------

class EntryInfo:
    """A published entry as found on disk (no module loaded)."""

    def __init__(self, key, folder, abi, fmt):
        self.key, self.folder, self.abi, self.format = key, folder, abi, fmt

    @property
    def build(self):
        try:
            build = json.loads(read_regular(os.path.join(self.folder, "build.json")))
            return build if isinstance(build, dict) else {}
        except (OSError, ValueError, BadFile):
            return {}

    @property
    def size(self):
        return _tree_size(self.folder)

    @property
    def last_used(self):
        """When it was last loaded (to within a day), else when it was published."""
        for name in (LAST_USED, MANIFEST, ""):
            try:
                return os.stat(os.path.join(self.folder, name)).st_mtime
            except OSError:
                continue
        return 0.0


def _tree_size(path):
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _subdirs(path):
    try:
        return sorted(e.name for e in os.scandir(path) if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def iter_entries(root=None, every_format=False):
    """Every entry folder of this cache format (every Python ABI), as EntryInfo."""
    root = root or cache_root()
    formats = [f for f in _subdirs(root) if _FORMAT_RE.match(f)] if every_format \
        else [FORMAT_VERSION]
    for fmt in formats:
        base = os.path.join(root, fmt)
        for abi in _subdirs(base):
            for shard in _subdirs(os.path.join(base, abi)):
                for key in _subdirs(os.path.join(base, abi, shard)):
                    if fmt != FORMAT_VERSION or (_KEY_RE.match(key) and key[:2] == shard):
                        yield EntryInfo(key, os.path.join(base, abi, shard, key), abi, fmt)


def list_entries(root=None):
    """(key, folder, build info) of every published entry."""
    return [(e.key, e.folder, e.build) for e in iter_entries(root)]


def find_entry(prefix, root=None):
    matches = [e for e in list_entries(root) if e[0].startswith(prefix)]
    if not matches:
        raise KeyError(f"no cache entry has a key starting with {prefix!r}")
    if len(matches) > 1:
        raise KeyError(f"{len(matches)} cache entries start with {prefix!r}; give more digits")
    return matches[0]


def check_entry(entry):
    """Every problem of an entry found on disk (empty list: it is sound). Reads every file."""
    problems = []
    try:
        st = os.lstat(entry.folder)
    except OSError as exc:
        return [f"it cannot be read ({exc.strerror})"]
    problem = _trust_problem(entry.folder, st, "the entry folder")
    if problem:
        return [problem]
    try:
        manifest = json.loads(read_regular(os.path.join(entry.folder, MANIFEST), 1 << 20))
    except FileNotFoundError:
        return ["it has no manifest (an interrupted build?)"]
    except BadFile as exc:
        return [f"its manifest {exc.why}"]
    except (OSError, ValueError):
        return ["its manifest is not valid JSON"]
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or manifest.get("key") != entry.key:
        return ["its manifest belongs to another key or lists no files"]
    modules = [f for f in files if f.startswith((MODULE_NAME, EXTENSION_NAME, RUNTIME_FILE))]
    if len(modules) != 1 or set(files) - set(modules) != set(_entry_files(modules[0])):
        problems.append(f"its manifest lists {sorted(files)!r}")
    for fname, record in sorted(files.items()):
        if not isinstance(record, dict) or "/" in fname or fname in (MANIFEST, LAST_USED):
            problems.append(f"its manifest has a bad record for {fname!r}")
            continue
        try:
            _check_file(os.path.join(entry.folder, fname), record)
        except _Broken as exc:
            problems.append(str(exc))
    try:
        present = set(os.listdir(entry.folder)) - {MANIFEST, LAST_USED}
    except OSError as exc:
        return [f"it cannot be read ({exc.strerror})"]
    for stray in sorted(present - set(files)):
        problems.append(f"it holds a file the manifest does not list: {stray}")
    material = entry.build.get("material")
    if isinstance(material, dict) and compute_key(material) != entry.key:
        problems.append("its build.json describes another key")
    return problems


def verify(root=None, quarantine=True):
    """Re-check every entry (all files, sizes, sha256, owners, permissions). Returns
    (number checked, [(folder, problems, where it was moved or None)])."""
    root = root or cache_root()
    state = _open_root(root)
    bad, checked = [], 0
    for entry in list(iter_entries(root)):
        problems = check_entry(entry)
        if problems and not os.path.isdir(entry.folder):
            continue          # removed while it was checked (`clear` or `prune` beside us)
        checked += 1
        if problems:
            moved = None
            if quarantine and state == "writable":
                moved = os.path.join(root, "quarantine", f"{entry.key}-{uuid.uuid4().hex[:8]}")
                try:
                    _ensure_dir(os.path.dirname(moved))
                    os.rename(entry.folder, moved)
                except OSError:
                    moved = None
            bad.append((entry.folder, problems, moved))
    return checked, bad


RECORD_FOLDERS = ("prekeys", "templates", "toolchain")   # sealed records (see cache_files)


def verify_records(root=None, quarantine=True):
    """Re-check every sealed record (pre-key records, compiled templates, compiler probes):
    a regular file of ours, not writable by others, matching its checksum. Returns (number
    checked, [(path, problem, where it was moved or None)]); files still being written
    (``*.tmp``), records removed meanwhile and the unsealed files of older cgraphs sharing
    the cache (never read by this one) are skipped."""
    root = root or cache_root()
    state = _open_root(root)
    bad, checked = [], 0
    for sub in RECORD_FOLDERS:
        for folder, dirs, files in os.walk(os.path.join(root, sub)):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                if name.endswith(".tmp") or not _sealed_name(sub, name):
                    continue
                try:
                    read_sealed(path)
                    checked += 1
                    continue
                except BadFile as exc:
                    problem = exc.why
                    if sub == "prekeys" and problem.startswith("is not a sealed"):
                        continue      # an older cgraph's record (under another pre-key)
                except OSError:
                    continue          # removed while it was checked
                checked += 1
                moved = None
                if quarantine and state == "writable":
                    moved = os.path.join(root, "quarantine", f"{name}-{uuid.uuid4().hex[:8]}")
                    try:
                        _ensure_dir(os.path.dirname(moved))
                        os.rename(path, moved)
                    except OSError:
                        moved = None
                bad.append((path, problem, moved))
    return checked, bad


def _sealed_name(folder, name):
    """Whether ``name`` in ``folder`` is one of this cgraph's sealed records."""
    if folder == "templates":
        return name.endswith(".sealed")
    if folder == "toolchain":
        return name.endswith("-sealed.json") or name.startswith("machine-")
    return name.endswith((".json", ".graph"))


def _discard(root, path):
    """Delete ``path`` without ever showing a half-deleted folder: rename it into trash/ (one
    atomic step; a process that has the module loaded keeps its mapping), then remove it.
    Returns the bytes freed (0 if someone else removed it first)."""
    size = _tree_size(path) if os.path.isdir(path) else _file_size(path)
    target = os.path.join(_ensure_dir(os.path.join(root, "trash")),
                          f"{os.path.basename(path)}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return 0
    if os.path.isdir(target) and not os.path.islink(target):
        shutil.rmtree(target, ignore_errors=True)   # leftovers (NFS .nfs*) go next time
    else:
        with contextlib.suppress(OSError):
            os.unlink(target)
    return size


def _file_size(path):
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def _lock_is_free(lock_path):
    """True if nobody holds the flock on ``lock_path`` (its holder is gone)."""
    try:
        fd = os.open(lock_path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _stale_tmp(root, now):
    """Build folders (and their lock files) in tmp/ whose builder is gone."""
    tmp_root = os.path.join(root, "tmp")
    try:
        names = os.listdir(tmp_root)
    except OSError:
        return []
    stale = []
    for name in sorted(names):
        path = os.path.join(tmp_root, name)
        if name.endswith(".lock"):
            if name[:-5] not in names and _lock_is_free(path):
                stale.append(path)          # a builder killed before it made its folder
            continue
        lock = path + ".lock"
        if os.path.exists(lock):
            if _lock_is_free(lock):
                stale += [path, lock]       # its builder died (the kernel dropped the lock)
        elif now - _mtime(path) > ABANDONED_AFTER:
            stale.append(path)              # no lock file: old leftovers only
    return stale


def _mtime(path):
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0


def prune(root=None, max_size=None, older_than=None, dry_run=False, now=None):
    """Remove entries unused for ``older_than`` seconds, then the least recently used ones
    until the entries take at most ``max_size`` bytes. Entries of other cache formats count
    as one unit each. Also removes the leftovers (see _leftovers). Entries are renamed into
    trash/ before being deleted, so a process using one is never disturbed. Returns a
    report: removed folders, bytes freed, leftovers removed, entries and bytes kept."""
    root = root or cache_root()
    state = _open_root(root)
    if isinstance(state, tuple):
        return {"removed": [], "freed": 0, "leftovers": [], "kept": 0, "kept_size": 0}
    dry_run = dry_run or state == "readonly"
    now = time.time() if now is None else now
    units = [(e.last_used, e.size, e.folder) for e in iter_entries(root)]
    for fmt in _subdirs(root):
        if _FORMAT_RE.match(fmt) and fmt != FORMAT_VERSION:   # another cache format: one unit
            path = os.path.join(root, fmt)
            units.append((_newest_mtime(path), _tree_size(path), path))
    units.sort()                                    # least recently used first
    doomed = []
    if older_than is not None:
        doomed = [u for u in units if now - u[0] > older_than]
        units = [u for u in units if now - u[0] <= older_than]
    if max_size is not None:
        total = sum(u[1] for u in units)
        while units and total > max_size:
            unit = units.pop(0)
            doomed.append(unit)
            total -= unit[1]
    leftovers = _leftovers(root, now, older_than if older_than is not None else 86400.0)
    report = {"removed": [u[2] for u in doomed], "freed": sum(u[1] for u in doomed),
              "leftovers": leftovers, "kept": len(units), "kept_size": sum(u[1] for u in units)}
    if not dry_run:
        for _, _, path in doomed:
            _discard(root, path)
        report["freed"] += _remove_leftovers(root, leftovers)
    return report


def _leftovers(root, now, age):
    """What no process needs any more: tmp/ builds whose builder is gone, everything in
    trash/, failed/ and quarantine/ folders older than ``age`` seconds, and lock files
    nobody holds that are older than an hour."""
    found = _stale_tmp(root, now)
    for sub in ("failed", "quarantine"):
        base = os.path.join(root, sub)
        found += [os.path.join(base, n) for n in sorted(_listdir(base))
                  if now - _mtime(os.path.join(base, n)) > age]
    trash = os.path.join(root, "trash")
    found += [os.path.join(trash, n) for n in sorted(_listdir(trash))]
    locks = os.path.join(root, "locks")
    found += [os.path.join(locks, n) for n in sorted(_listdir(locks))
              if now - _mtime(os.path.join(locks, n)) > ABANDONED_AFTER
              and _lock_is_free(os.path.join(locks, n))]
    return found


def _remove_leftovers(root, paths):
    freed, trash = 0, os.path.join(root, "trash")
    for path in paths:
        if os.path.dirname(path) == trash:
            freed += _tree_size(path) if os.path.isdir(path) else _file_size(path)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                _unlink_quietly(path)
        elif path.endswith(".lock"):
            _unlink_quietly(path)
        else:
            freed += _discard(root, path)
    return freed


def _newest_mtime(path):
    """The newest file in a tree (its folder's own time if it holds no file)."""
    newest = None
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            newest = max(newest or 0.0, _mtime(os.path.join(dirpath, name)))
    return _mtime(path) if newest is None else newest


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def _unlink_quietly(path):
    with contextlib.suppress(OSError):
        os.unlink(path)


def clear(root=None):
    """Remove every entry (all formats and ABIs), failed and quarantined folders, the
    remembered compiler probes, stale builds and free lock files. Builds in progress are
    left alone; processes that have a module loaded keep working."""
    root = root or cache_root()
    if isinstance(_open_root(root), tuple):
        return 0
    removed = sum(1 for _ in iter_entries(root, every_format=True))
    for name in _subdirs(root):
        if _FORMAT_RE.match(name) or name in ("failed", "quarantine", "toolchain", "prekeys",
                                              "templates"):
            _discard(root, os.path.join(root, name))
    now = time.time()
    leftovers = _leftovers(root, now, 0.0)
    locks = os.path.join(root, "locks")
    leftovers += [os.path.join(locks, n) for n in _listdir(locks)
                  if _lock_is_free(os.path.join(locks, n))]
    _remove_leftovers(root, sorted(set(leftovers)))
    _loaded.clear()
    return removed
