"""The entry points: find a module by its source (get_module, get_runtime,
get_extension) or by its key alone (load_by_key), load it, and build it on a miss."""
import os
from typing import Callable, Optional, Sequence

from .adopt import adopt
from .compiler import AssumedToolchain
from .build import CacheUnwritable, PUBLISH_ATTEMPTS, Vanished, build_and_publish
from .build import build_private
from .errors import CacheTrustError, LayoutMismatch
from .keys import compute_key, entry_folder, extension_material
from .keys import key_material, runtime_material, toolchain
from .layout import MODULE_FILE, module_file_of
from .load import CacheEntry, try_load
from .lock import key_lock, thread_lock
from .root import cache_root, check_cache_dir, open_root
from .state import loaded_entry, remember_loaded, set_origin, stats, traffic_counters


def get_module(source: str, name: str = "anonymous", signature: Optional[str] = None,
               runtime: Optional[CacheEntry] = None) -> CacheEntry:
    """Load the module built from ``source``, building and publishing it on a miss. A module
    calling the runtime library is linked to ``runtime`` (its loaded entry: get_runtime).

    ``signature`` (see compile.layout.layout_signature) is recorded in the entry's manifest,
    so that a module found by its key alone (load_by_key) is checked against its caller."""
    root = cache_root()
    state = open_root(root)
    return _get_or_probe(root, state, lambda build: key_material(source, root, runtime, build),
                         source, name, signature)


def get_runtime(source_digest: str, render_source: Callable[[], str], name: str = "runtime"
                ) -> CacheEntry:
    """Load the runtime library whose templates have ``source_digest``, building it on a
    miss from ``render_source()`` (rendered only then), with every guarantee of get_module.
    Its traffic is counted in ``runtime_stats``. Modules linked to it can be loaded (and
    built) once it is loaded: see cgraph/runtime_library.py."""
    root = cache_root()
    state = open_root(root)
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


def get_extension(source: str, name: str, include_dirs: Sequence[str] = (),
                  extra: Optional[dict] = None) -> CacheEntry:
    """Load the plain CPython extension built from ``source`` (no cffi: its init function is
    ``PyInit__cgraph_ext``), building it on a miss, with every guarantee of get_module: key,
    checks before loading, per-key lock, atomic publication, quarantine, private builds when
    the cache is read-only. Its traffic is counted in ``extension_stats``; ``entry.module``
    is the module (``entry.lib`` is None)."""
    root = cache_root()
    state = open_root(root)
    return _get_or_probe(
        root, state, lambda build: extension_material(source, root, include_dirs, extra, build),
        source, name)


class _NeedCompiler(Exception):
    """The module is not built, and the toolchain its key was made from was assumed."""


def _get(root, state, material, source, name, signature=None, assumed=False):
    key = compute_key(material)
    counters = traffic_counters(material)
    entry = loaded_entry(key)
    set_origin("memory")
    if entry is not None:
        counters["memory_hits"] += 1
        return entry
    with thread_lock(key):
        entry = loaded_entry(key)
        if entry is not None:
            counters["memory_hits"] += 1
            return entry
        set_origin("disk")       # build_and_publish and build_private say "built"
        entry = _load_or_build(root, state, key, material, source, name, signature, assumed)
        remember_loaded(key, entry)
    return entry


def load_by_key(key: str, signature: Optional[str] = None) -> Optional[CacheEntry]:
    """The published entry with ``key``, loaded and checked as usual, or None (never builds).

    This is the warm path of ``function()``: a pre-key record (see ``read_prekey``) names the
    key, so the source need not be rendered again. With ``signature`` (the caller's layout,
    see compile.layout.layout_signature), the manifest must record the same, or
    LayoutMismatch is raised before anything is called.
    """
    entry = loaded_entry(key)
    set_origin("memory")
    if entry is not None:
        if not _fits(entry, signature):
            return None
        stats["memory_hits"] += 1
        return entry
    set_origin("disk")
    root = cache_root()
    state = open_root(root)
    if isinstance(state, tuple):
        return None
    tc = toolchain(root)
    final = entry_folder(root, key, tc["python_abi"])
    shard = os.path.dirname(final)
    try:
        for folder in (os.path.dirname(os.path.dirname(shard)), os.path.dirname(shard), shard):
            check_cache_dir(folder)
    except (CacheTrustError, OSError):
        return None
    with thread_lock(key):
        entry = loaded_entry(key) or try_load(root, key, final, state == "writable",
                                               MODULE_FILE)
        if entry is not None:
            remember_loaded(key, entry)
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


def _load_or_build(root, state, key, material, source, name, signature=None, assumed=False):
    if assumed and isinstance(state, tuple):
        raise _NeedCompiler()
    if isinstance(state, tuple):
        return build_private(root, key, material, source, name,
                             f"the cache folder {root} is unusable: {state[1]}", signature)
    writable = state == "writable"
    module_name = module_file_of(material)
    final = entry_folder(root, key, material["python_abi"])
    shard = os.path.dirname(final)
    for folder in (os.path.dirname(os.path.dirname(shard)), os.path.dirname(shard), shard):
        check_cache_dir(folder)               # a link here would redirect the entry
    entry = try_load(root, key, final, writable, module_name)
    if entry is not None:
        traffic_counters(material)["disk_hits"] += 1
        return entry
    if assumed:     # a build needs the real compiler's description (and so its key)
        raise _NeedCompiler()
    if not writable:
        return build_private(root, key, material, source, name,
                             f"the cache folder {root} is read-only", signature)
    try:
        for attempt in range(PUBLISH_ATTEMPTS):
            with key_lock(root, key, final):
                entry = try_load(root, key, final, writable, module_name) or \
                    adopt(root, key, material, final)   # built meanwhile? shipped?
                if entry is not None:
                    traffic_counters(material)["disk_hits"] += 1
                    return entry
                try:
                    return build_and_publish(root, key, material, source, name, final,
                                              signature)
                except Vanished:
                    continue      # removed by `cache clear` or `prune` as it was published
        raise CacheUnwritable(f"the published module vanished {PUBLISH_ATTEMPTS} times "
                              f"(housekeeping running beside this process?)")
    except CacheUnwritable as exc:
        return build_private(root, key, material, source, name,
                             f"writing to the cache folder {root} failed: {exc}", signature)
