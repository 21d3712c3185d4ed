"""Housekeeping (``python -m cgraph cache ...``): listing, verifying, pruning
and clearing the entries and records, safe beside processes that are building or loading."""
import contextlib
import json
import os
import time
from typing import Iterator, Optional

from ..cache_files import BadFile, read_regular, read_sealed
from .entries import BrokenEntry, check_file
from .keys import compute_key
from .layout import EXTENSION_NAME, FORMAT_VERSION, LAST_USED, MANIFEST, MODULE_NAME, RUNTIME_FILE
from .layout import entry_files
from .layout import FORMAT_RE, KEY_RE
from .lock import lock_is_free
from .root import cache_root, ensure_dir, open_root, trust_problem, unlink_quietly
from .state import forget_loaded


ABANDONED_AFTER = 3600.0      # a tmp/ folder without its lock file this old is abandoned


class EntryInfo:
    """A published entry as found on disk (no module loaded)."""

    def __init__(self, key: str, folder: str, abi: str, fmt: str):
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


def iter_entries(root: Optional[str] = None, every_format: bool = False) -> Iterator[EntryInfo]:
    """Every entry folder of this cache format (every Python ABI), as EntryInfo."""
    root = root or cache_root()
    formats = [f for f in _subdirs(root) if FORMAT_RE.match(f)] if every_format \
        else [FORMAT_VERSION]
    for fmt in formats:
        base = os.path.join(root, fmt)
        for abi in _subdirs(base):
            for shard in _subdirs(os.path.join(base, abi)):
                for key in _subdirs(os.path.join(base, abi, shard)):
                    if fmt != FORMAT_VERSION or (KEY_RE.match(key) and key[:2] == shard):
                        yield EntryInfo(key, os.path.join(base, abi, shard, key), abi, fmt)


def list_entries(root: Optional[str] = None) -> list[tuple[str, str, dict]]:
    """(key, folder, build info) of every published entry."""
    return [(e.key, e.folder, e.build) for e in iter_entries(root)]


def find_entry(prefix: str, root: Optional[str] = None) -> tuple[str, str, dict]:
    """(key, folder, build info) of the one entry whose key starts with ``prefix``; KeyError
    if none or several do."""
    matches = [e for e in list_entries(root) if e[0].startswith(prefix)]
    if not matches:
        raise KeyError(f"no cache entry has a key starting with {prefix!r}")
    if len(matches) > 1:
        raise KeyError(f"{len(matches)} cache entries start with {prefix!r}; give more digits")
    return matches[0]


def check_entry(entry: EntryInfo) -> list[str]:
    """Every problem of an entry found on disk (empty list: it is sound). Reads every file."""
    problems = []
    try:
        st = os.lstat(entry.folder)
    except OSError as exc:
        return [f"it cannot be read ({exc.strerror})"]
    problem = trust_problem(entry.folder, st, "the entry folder")
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
    if len(modules) != 1 or set(files) - set(modules) != set(entry_files(modules[0])):
        problems.append(f"its manifest lists {sorted(files)!r}")
    for fname, record in sorted(files.items()):
        if not isinstance(record, dict) or "/" in fname or fname in (MANIFEST, LAST_USED):
            problems.append(f"its manifest has a bad record for {fname!r}")
            continue
        try:
            check_file(os.path.join(entry.folder, fname), record)
        except BrokenEntry as exc:
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


def verify(root: Optional[str] = None, quarantine: bool = True
           ) -> tuple[int, list[tuple[str, list[str], Optional[str]]]]:
    """Re-check every entry (all files, sizes, sha256, owners, permissions). Returns
    (number checked, [(folder, problems, where it was moved or None)])."""
    root = root or cache_root()
    state = open_root(root)
    bad, checked = [], 0
    for entry in list(iter_entries(root)):
        problems = check_entry(entry)
        if problems and not os.path.isdir(entry.folder):
            continue          # removed while it was checked (`clear` or `prune` beside us)
        checked += 1
        if problems:
            moved = None
            if quarantine and state == "writable":
                moved = os.path.join(root, "quarantine", f"{entry.key}-{os.urandom(4).hex()}")
                try:
                    ensure_dir(os.path.dirname(moved))
                    os.rename(entry.folder, moved)
                except OSError:
                    moved = None
            bad.append((entry.folder, problems, moved))
    return checked, bad


RECORD_FOLDERS = ("prekeys", "templates", "toolchain",  # sealed records (see cache_files)
                  "tuning")


def verify_records(root: Optional[str] = None, quarantine: bool = True
                   ) -> tuple[int, list[tuple[str, str, Optional[str]]]]:
    """Re-check every sealed record (pre-key records, compiled templates, compiler probes):
    a regular file of ours, not writable by others, matching its checksum. Returns (number
    checked, [(path, problem, where it was moved or None)]); files still being written
    (``*.tmp``), records removed meanwhile and the unsealed files of older cgraphs sharing
    the cache (never read by this one) are skipped."""
    root = root or cache_root()
    state = open_root(root)
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
                    moved = os.path.join(root, "quarantine", f"{name}-{os.urandom(4).hex()}")
                    try:
                        ensure_dir(os.path.dirname(moved))
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
    target = os.path.join(ensure_dir(os.path.join(root, "trash")),
                          f"{os.path.basename(path)}-{os.urandom(4).hex()}")
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return 0
    if os.path.isdir(target) and not os.path.islink(target):
        import shutil   # (not at import: it loads bz2, lzma, ~2 ms)
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
            if name[:-5] not in names and lock_is_free(path):
                stale.append(path)          # a builder killed before it made its folder
            continue
        lock = path + ".lock"
        if os.path.exists(lock):
            if lock_is_free(lock):
                stale += [path, lock]       # its builder died (the kernel dropped the lock)
        elif now - _mtime(path) > ABANDONED_AFTER:
            stale.append(path)              # no lock file: old leftovers only
    return stale


def _mtime(path):
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0


def prune(root: Optional[str] = None, max_size: Optional[int] = None,
          older_than: Optional[float] = None, dry_run: bool = False,
          now: Optional[float] = None) -> dict:
    """Remove entries unused for ``older_than`` seconds, then the least recently used ones
    until the entries take at most ``max_size`` bytes. Entries of other cache formats count
    as one unit each. Also removes the leftovers (see _leftovers). Entries are renamed into
    trash/ before being deleted, so a process using one is never disturbed. Returns a
    report: removed folders, bytes freed, leftovers removed, entries and bytes kept."""
    root = root or cache_root()
    state = open_root(root)
    if isinstance(state, tuple):
        return {"removed": [], "freed": 0, "leftovers": [], "kept": 0, "kept_size": 0}
    dry_run = dry_run or state == "readonly"
    now = time.time() if now is None else now
    units = [(e.last_used, e.size, e.folder) for e in iter_entries(root)]
    for fmt in _subdirs(root):
        if FORMAT_RE.match(fmt) and fmt != FORMAT_VERSION:   # another cache format: one unit
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
              and lock_is_free(os.path.join(locks, n))]
    return found


def _remove_leftovers(root, paths):
    freed, trash = 0, os.path.join(root, "trash")
    for path in paths:
        if os.path.dirname(path) == trash:
            freed += _tree_size(path) if os.path.isdir(path) else _file_size(path)
            if os.path.isdir(path) and not os.path.islink(path):
                import shutil   # (not at import: it loads bz2, lzma, ~2 ms)
                shutil.rmtree(path, ignore_errors=True)
            else:
                unlink_quietly(path)
        elif path.endswith(".lock"):
            unlink_quietly(path)
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


def clear(root: Optional[str] = None) -> int:
    """Remove every entry (all formats and ABIs), failed and quarantined folders, the
    remembered compiler probes, stale builds and free lock files. Builds in progress are
    left alone; processes that have a module loaded keep working."""
    root = root or cache_root()
    if isinstance(open_root(root), tuple):
        return 0
    removed = sum(1 for _ in iter_entries(root, every_format=True))
    for name in _subdirs(root):
        if FORMAT_RE.match(name) or name in ("failed", "quarantine", "toolchain", "prekeys",
                                              "templates"):
            _discard(root, os.path.join(root, name))
    now = time.time()
    leftovers = _leftovers(root, now, 0.0)
    locks = os.path.join(root, "locks")
    leftovers += [os.path.join(locks, n) for n in _listdir(locks)
                  if lock_is_free(os.path.join(locks, n))]
    _remove_leftovers(root, sorted(set(leftovers)))
    forget_loaded()
    return removed
