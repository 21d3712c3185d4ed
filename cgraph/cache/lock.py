"""Locks that save compiling one key twice: a lock per key across threads, an advisory
file lock per key across processes (never needed for correctness), and checking whether a
builder still holds its lock."""
import contextlib
import errno
import fcntl
import os
import threading
import time
from typing import Iterator

from .layout import MANIFEST
from .root import ensure_dir
from .state import warn_once, events


LOCK_TIMEOUT = 120.0          # seconds to wait for another process building the same key


_thread_locks = {}    # key -> threading.Lock: threads of one process build a key once
_thread_locks_guard = threading.Lock()


def thread_lock(key: str) -> threading.Lock:
    """The lock the threads of this process hold while they look up or build ``key``."""
    with _thread_locks_guard:
        return _thread_locks.setdefault(key, threading.Lock())


def _lock_timeout():
    value = os.environ.get("CGRAPH_CACHE_LOCK_TIMEOUT")
    try:
        return float(value) if value else LOCK_TIMEOUT
    except ValueError:
        return LOCK_TIMEOUT


@contextlib.contextmanager
def key_lock(root: str, key: str, final: str) -> Iterator[None]:
    """An advisory lock per key (``final``: the entry's folder; a wait ends as soon as its
    manifest is published), waited for a bounded time. The kernel releases it when its
    holder dies, so a killed builder never blocks anyone. Without it (no lock support, or
    the wait ran out) two processes may both build, which is still correct."""
    try:
        path = os.path.join(ensure_dir(os.path.join(root, "locks")), f"{key}.lock")
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
                warn_once("lock-timeout",
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


def hold_quietly(fd: int) -> None:
    """Take the flock on the open file ``fd`` without waiting, for as long as it stays open,
    so that housekeeping sees its holder alive (lock_is_free); a failure is ignored, the
    lock only keeps housekeeping away."""
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def lock_is_free(lock_path: str) -> bool:
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
