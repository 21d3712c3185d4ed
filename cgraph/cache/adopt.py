"""Adopting a unit shipped inside the installed package (shipped.py) into the cache.

On a cache miss for a key a unit was shipped under, the cache calls ``adopt``: the unit's
files are checked against its manifest (size, sha256; owner you or root, writable by no one
else), copied into a private folder of the cache and published there like a build of its
own (one rename), then loaded through the cache's usual checks. A unit that fails its checks
is refused with one warning and built in the cache.
"""
import hashlib
import os

from ..cache_files import BadFile, make_private_dirs, read_regular
from .entries import checked_manifest
from .layout import FILE_MODE, KEY_RE, LAST_USED, MANIFEST, entry_files, module_file_of
from .load import try_load
from .shipped import KINDS, OWNERS, prebuilt_dir
from .state import warn_once

stats = {"adopted": 0, "refused": 0}    # this process's adoptions, and units refused


class _Refused(Exception):
    """A shipped unit that must not be used; the message says why."""


def adopt(root: str, key: str, material: dict, final: str):
    """On a cache miss for ``key`` (with ``material``): the shipped unit with that key,
    checked, published at ``final`` in the cache and loaded (a cache.CacheEntry); None if
    there is none, it is refused (one warning) or cannot be published. Called with the
    key's lock held."""
    if material.get("kind") not in KINDS or not KEY_RE.match(key):
        return None
    folder = os.path.join(prebuilt_dir(), key)
    if not os.path.isdir(folder):
        return None
    module_name = module_file_of(material)
    try:
        manifest, contents = _checked_unit(folder, key, module_name,
                                           entry_files(module_name))
    except _Refused as exc:
        stats["refused"] += 1
        warn_once(("broken", folder), f"cgraph: prebuilt unit {folder} {exc}; "
                                      f"ignoring it and building it in the cache")
        return None
    try:
        _publish(root, key, final, manifest, contents)
    except OSError:
        return None     # the cache cannot take it: the caller builds (or builds privately)
    entry = try_load(root, key, final, True, module_name)
    if entry is not None:
        stats["adopted"] += 1
    return entry


def _checked_unit(folder, key, module_name, other_files):
    """(manifest text, {file name: bytes}) of the unit in ``folder``, every file checked
    against the manifest; raises _Refused. A shipped unit is trusted like the package's own
    code (its owner may be root), not if others can write to it."""
    def read(name):
        try:
            return read_regular(os.path.join(folder, name), owners=OWNERS)
        except FileNotFoundError:
            raise _Refused(f"has no readable {name} (it is missing)") from None
        except BadFile as exc:
            raise _Refused(f"has a {name} that {exc.why}") from None

    raw = read("manifest.json")
    expected = {*other_files, module_name}
    try:
        files = checked_manifest(raw, key, expected)["files"]
    except ValueError as exc:
        raise _Refused(f"has a manifest that {exc}") from None
    contents = {}
    for name in sorted(expected):
        record, data = files[name], read(name)
        if not isinstance(record, dict) or record.get("size") != len(data) or \
                record.get("sha256") != hashlib.sha256(data).hexdigest():
            raise _Refused(f"has a {name} that does not match its manifest "
                           f"(altered or corrupted)")
        contents[name] = data
    return raw, contents


def _publish(root, key, final, manifest, contents):
    """Write the unit as a cache entry in tmp/ and rename it into place; if another process
    published the key meanwhile, its entry stands."""
    tmp_root = os.path.join(root, "tmp")
    make_private_dirs(tmp_root)
    folder = os.path.join(tmp_root, f"{key[:16]}-{os.urandom(16).hex()}")
    os.mkdir(folder, 0o700)
    try:
        for name, data in [*contents.items(), (MANIFEST, manifest)]:
            fd = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         FILE_MODE)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                os.fsync(f.fileno())
        os.close(os.open(os.path.join(folder, LAST_USED), os.O_WRONLY | os.O_CREAT,
                         FILE_MODE))
        make_private_dirs(os.path.dirname(final))
        try:
            os.rename(folder, final)
        except OSError as exc:
            if not os.path.isdir(final):
                raise
            del exc     # published by another process: its entry is loaded instead
    finally:
        if os.path.isdir(folder):
            import shutil   # (not at import: it loads bz2, lzma, ~2 ms)
            shutil.rmtree(folder, ignore_errors=True)
