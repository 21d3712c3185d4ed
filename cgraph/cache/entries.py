"""A published entry on disk: checking its manifest and files before anything is
loaded, stamping its use, and setting broken entries and files aside in quarantine/."""
import errno
import hashlib
import json
import os
import stat
import time
from typing import Optional

from ..cache_files import BadFile, read_regular
from .layout import FILE_MODE, LAST_USED, MANIFEST, entry_files
from .root import ensure_dir, trust_problem, user_name
from .state import warn_once, events


STAMP_INTERVAL = 86400.0      # touch an entry's last_used at most once a day


def quarantine_file(root: str, path: str, why: str) -> None:
    """Move the broken cache file ``path`` to quarantine/ and say so once (as for a broken
    entry); the caller then does without it, and it is written again."""
    events["quarantined"] += 1
    target = os.path.join(root, "quarantine",
                          f"{os.path.basename(path)}-{os.urandom(4).hex()}")
    try:
        ensure_dir(os.path.dirname(target))
        os.rename(path, target)
    except OSError:
        warn_once(("broken", path), f"cgraph: cache file {path} {why}; ignoring it")
        return
    warn_once(("broken", path), f"cgraph: cache file {path} {why}; moved it to {target} "
                                 f"and will rebuild it")


class BrokenEntry(Exception):
    """An entry (or one of its files) that must not be loaded; the message says why, worded
    to follow "the entry": the loader sets the entry aside, `verify` reports it."""


def checked_manifest(raw: bytes, key: str, expected: set) -> dict:
    """The manifest whose text is ``raw`` (its "files": {file name: record}), checked: valid JSON, made for
    ``key``, listing exactly the files ``expected``. Raises ValueError saying what is wrong
    (worded to follow "its manifest"); the callers add whose manifest it is."""
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise ValueError("is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("key") != key:
        raise ValueError("belongs to another key")
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != expected:
        listed = sorted(files) if isinstance(files, dict) else files
        raise ValueError(f"lists {listed!r}, not {sorted(expected)!r}")
    return manifest


def verified_module(key: str, folder: str, module_name: str
                    ) -> Optional[tuple[str, Optional[str]]]:
    """(path of the entry's module, the layout signature its manifest records) if the entry
    is complete, ours, and intact; None if there is no entry; raises BrokenEntry otherwise.
    Only reads: the manifest and the module."""
    try:
        st = os.lstat(folder)
    except (FileNotFoundError, NotADirectoryError):
        return None
    problem = trust_problem(folder, st, "the entry folder")
    if problem:
        raise BrokenEntry(problem)
    try:
        raw = read_regular(os.path.join(folder, MANIFEST), 1 << 20)
    except FileNotFoundError:
        raise BrokenEntry("it has no manifest (an interrupted build?)") from None
    except BadFile as exc:
        raise BrokenEntry(f"its manifest {exc.why}") from None
    except OSError as exc:
        raise BrokenEntry(f"its manifest cannot be read ({exc.strerror})") from None
    try:
        manifest = checked_manifest(raw, key, set(entry_files(module_name)) | {module_name})
    except ValueError as exc:
        raise BrokenEntry(f"its manifest {exc}") from None
    record = manifest["files"][module_name]
    if not isinstance(record, dict) or not isinstance(record.get("size"), int) or \
            not isinstance(record.get("sha256"), str):
        raise BrokenEntry("its manifest has no size and sha256 for the module")
    module_path = os.path.join(folder, module_name)
    check_file(module_path, record)
    signature = manifest.get("signature")
    return module_path, signature if isinstance(signature, str) else None


def check_file(path: str, record: dict) -> None:
    """The file at ``path`` is a regular file of ours, not writable by others, with the size
    and sha256 of ``record`` (a manifest's {"size", "sha256"}); raises BrokenEntry otherwise.
    Hashing ~100 KB takes well under 1 ms."""
    name = os.path.basename(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except FileNotFoundError:
        raise BrokenEntry(f"its file {name} is missing") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BrokenEntry(f"its file {name} is a symbolic link") from None
        raise BrokenEntry(f"its file {name} cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BrokenEntry(f"its file {name} is not a regular file")
        if st.st_uid != os.geteuid():
            raise BrokenEntry(f"its file {name} belongs to user {user_name(st.st_uid)}")
        if st.st_mode & 0o022:
            raise BrokenEntry(f"its file {name} is writable by others "
                          f"(mode {stat.S_IMODE(st.st_mode):o})")
        if st.st_size != record["size"]:
            raise BrokenEntry(f"its file {name} has {st.st_size} bytes where the manifest says "
                          f"{record['size']} (truncated?)")
        digest = hashlib.sha256()
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
        if digest.hexdigest() != record["sha256"]:
            raise BrokenEntry(f"its file {name} does not have the sha256 the manifest records "
                          f"(altered or corrupted)")


def touch_last_used(folder: str) -> None:
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


def set_aside(root: str, folder: str, why: str, writable: bool) -> None:
    """Move a broken entry to quarantine/ (one rename: a process using it keeps its copy)."""
    events["quarantined"] += 1
    if not writable:
        warn_once(("broken", folder), f"cgraph: cache entry {folder} is broken ({why}); "
                                       f"ignoring it (the cache is read-only)")
        return
    target = os.path.join(root, "quarantine", f"{os.path.basename(folder)}-{os.urandom(4).hex()}")
    try:
        ensure_dir(os.path.dirname(target))
        os.rename(folder, target)
    except OSError:
        return   # another process moved it first; nothing to say
    warn_once(("broken", folder), f"cgraph: cache entry {folder} was broken ({why}); moved "
                                   f"it to {target} and will rebuild it")
