"""What this process remembers about its caches: the modules it loaded, the roots and
folders it checked, the warnings it gave, and its counters of cache traffic.

Everything here is process-wide and shared by threads. The counters are public dicts
(callers and benchmarks read them; the package adds to them in place). The rest is this
module's own: the other modules of the package reach it only through the functions below
(``loaded_entry``/``remember_loaded``, ``root_state``/``remember_root``,
``folder_checked``/``remember_folder_checked``, ``set_origin``/``last_origin``). Tests that
need a process's first view of a cache use ``fresh_state`` or the ``forget_*`` functions."""
import contextlib
import threading
import warnings
from typing import Any, Iterator, Optional

from .layout import is_extension


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


# How this thread's last lookup found its module ("memory", "disk" or "built"), so that a
# function() can say whether it ran the compiler (stats are process-wide, shared by threads).
_origin = threading.local()


def set_origin(origin: str) -> None:
    """Record how this thread's current lookup finds its module: "memory", "disk" or
    "built" (the last word of a lookup is the one last_origin reports)."""
    _origin.value = origin


def last_origin() -> Optional[str]:
    """How this thread's last ``get_module``/``load_by_key`` found its module: "memory"
    (already loaded in this process), "disk" (loaded from the cache folder), "built" (the
    C compiler ran), or None before any lookup."""
    return getattr(_origin, "value", None)


def warn_once(tag: object, message: str) -> None:
    if tag in _warned:
        return
    _warned.add(tag)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


runtime_images = {}   # runtime key -> the bytes of the library this process loaded


_COUNTERS = (stats, extension_stats, runtime_stats, timings, events)


def traffic_counters(material: dict) -> dict:
    """The counters a lookup of a module with key ``material`` adds to: ``extension_stats``
    for a plain extension, ``runtime_stats`` for the runtime library, else ``stats``."""
    if is_extension(material):
        return extension_stats
    return runtime_stats if material.get("kind") == "runtime" else stats


def loaded_entry(key: str) -> Optional[Any]:
    """The CacheEntry this process loaded for ``key``, or None (then look on disk)."""
    return _loaded.get(key)


def remember_loaded(key: str, entry: Any) -> None:
    """Keep ``entry`` as this process's module for ``key``: later lookups return it."""
    _loaded[key] = entry


def root_state(root: str) -> Optional[Any]:
    """What this process found when it checked the cache root ``root`` (see
    root.open_root: "writable", "readonly" or ("unusable", why)), or None if unchecked."""
    return _roots.get(root)


def remember_root(root: str, state: Any) -> None:
    """Record what checking ``root`` found, so that it is checked once per process."""
    _roots[root] = state


def folder_checked(path: str) -> bool:
    """Whether this process already found the cgraph-made folder ``path`` trustworthy."""
    return path in _checked_dirs


def remember_folder_checked(path: str) -> None:
    """Record that the folder ``path`` was found trustworthy (not checked again)."""
    _checked_dirs.add(path)


def loaded_keys() -> list[str]:
    """The keys of the modules this process has loaded (and will not look up again)."""
    return sorted(_loaded)


def forget_loaded() -> None:
    """Forget the modules this process loaded, so that the next lookup of each goes to the
    cache folder as a new process would (the loaded libraries stay mapped)."""
    _loaded.clear()


def forget_checks() -> None:
    """Check every root and cache folder again, and give every warning again, as a new
    process would."""
    _roots.clear()
    _checked_dirs.clear()
    _warned.clear()


@contextlib.contextmanager
def fresh_state() -> Iterator[None]:
    """Within it, this process sees its caches as a new process would: nothing loaded, no
    folder checked, no warning given, every counter at zero; on leaving, what it remembered
    before is restored (for tests; the runtime library's image is kept, as modules link it)."""
    memory = (_loaded, _roots, _warned, _checked_dirs) + _COUNTERS
    saved = [m.copy() for m in memory]
    for m in memory[:4]:
        m.clear()
    for counters in _COUNTERS:
        for name, value in list(counters.items()):
            counters[name] = type(value)()
    try:
        yield
    finally:
        for m, old in zip(memory, saved):
            m.clear()
            m.update(old)
