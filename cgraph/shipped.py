"""Units shipped inside the installed package, and what else a first run would make.

``pip install`` builds the runtime library and the call-path extension (cgraph/prebuilt.py)
into ``cgraph/_prebuilt/<key>/``, with the files a cache entry has, under the key the cache
computes at run time. On a cache miss for one of these keys the cache calls ``adopt``: the
unit's files are checked against its manifest (size, sha256; owner you or root, writable by
no one else), copied into a private folder of the cache and published there like a build of
its own (one rename), then loaded through the cache's usual checks. A unit that fails its
checks is refused with one warning and built in the cache. The compiler probe and Jinja's
compiled templates shipped beside the units are read through ``shipped_probe`` and
``shipped_template`` under the same checks.

This is the reading side, below the cache's callers; building the units is prebuilt.py's.
"""
import hashlib
import json
import os
import re

from .cache_files import BadFile, read_regular, unseal

PREBUILT_DIR_VARIABLE = "CGRAPH_PREBUILT_DIR"   # another folder of units (tests, images)
KINDS = ("runtime", "extension")                # the kinds of unit that may be shipped

# a shipped file is trusted like the package's own code: its owner may be root
_OWNERS = (os.geteuid(), 0)

stats = {"adopted": 0, "refused": 0}    # this process's adoptions, and units refused


def prebuilt_dir() -> str:
    """Where shipped units are looked for: ``$CGRAPH_PREBUILT_DIR``, else the package's
    ``_prebuilt`` folder (absent in a source tree: then nothing is found)."""
    return os.environ.get(PREBUILT_DIR_VARIABLE) or \
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "_prebuilt")


def _read_shipped(path):
    """The payload of the sealed file at ``path`` in the units' folder, or None (absent,
    damaged, or writable by others than its owner, you or root)."""
    try:
        return unseal(path, read_regular(path, owners=_OWNERS))
    except (OSError, BadFile):
        return None


def shipped_probe(record_path: str, fields) -> dict:
    """The compiler description shipped under the name of the cache's record at
    ``record_path`` (sealed, with ``fields``), or None."""
    payload = _read_shipped(os.path.join(prebuilt_dir(), "toolchain",
                                         os.path.basename(record_path)))
    try:
        info = json.loads(payload) if payload is not None else None
    except ValueError:
        return None
    if not isinstance(info, dict) or any(k not in info for k in fields):
        return None
    return info


def shipped_tuning(file_name: str):
    """The payload of the small-GEMM tile record shipped as ``file_name`` (the cache's name
    for it, see gemm_tuning.shipped_record), or None if there is none; BadFile if it is
    damaged or writable by others than its owner (you or root)."""
    path = os.path.join(prebuilt_dir(), "tuning", file_name)
    try:
        return unseal(path, read_regular(path, 1 << 16, owners=_OWNERS))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BadFile(path, f"cannot be read ({exc.strerror})") from None


def shipped_template(file_name: str):
    """Jinja's bytecode shipped as ``file_name`` (the cache's name for it), or None."""
    return _read_shipped(os.path.join(prebuilt_dir(), "templates", file_name))


# --- adopting a shipped unit into the cache (run time) ------------------------------------

class _Refused(Exception):
    """A shipped unit that must not be used; the message says why."""


_KEY_RE = re.compile(r"^[0-9a-f]{64}$")


def adopt(root: str, key: str, material: dict, final: str):
    """On a cache miss for ``key`` (with ``material``): the shipped unit with that key,
    checked, published at ``final`` in the cache and loaded (a cache.CacheEntry); None if
    there is none, it is refused (one warning) or cannot be published. Called with the
    key's lock held."""
    if material.get("kind") not in KINDS or not _KEY_RE.match(key):
        return None
    folder = os.path.join(prebuilt_dir(), key)
    if not os.path.isdir(folder):
        return None
    from . import cache
    module_name = cache.module_file_of(material)
    try:
        manifest, contents = _checked_unit(folder, key, module_name,
                                           cache.entry_files(module_name))
    except _Refused as exc:
        stats["refused"] += 1
        cache.warn_once(("broken", folder), f"cgraph: prebuilt unit {folder} {exc}; "
                                             f"ignoring it and building it in the cache")
        return None
    try:
        _publish(root, key, final, manifest, contents)
    except OSError:
        return None     # the cache cannot take it: the caller builds (or builds privately)
    entry = cache.try_load(root, key, final, True, module_name)
    if entry is not None:
        stats["adopted"] += 1
    return entry


def _checked_unit(folder, key, module_name, other_files):
    """(manifest text, {file name: bytes}) of the unit in ``folder``, every file checked
    against the manifest; raises _Refused. A shipped unit is trusted like the package's own
    code (its owner may be root), not if others can write to it."""
    def read(name):
        try:
            return read_regular(os.path.join(folder, name), owners=_OWNERS)
        except FileNotFoundError:
            raise _Refused(f"has no readable {name} (it is missing)") from None
        except BadFile as exc:
            raise _Refused(f"has a {name} that {exc.why}") from None

    from .cache import checked_manifest
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
    from . import cache
    tmp_root = os.path.join(root, "tmp")
    cache.make_private_dirs(tmp_root)
    folder = os.path.join(tmp_root, f"{key[:16]}-{os.urandom(16).hex()}")
    os.mkdir(folder, 0o700)
    try:
        for name, data in [*contents.items(), (cache.MANIFEST, manifest)]:
            fd = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         cache.FILE_MODE)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                os.fsync(f.fileno())
        os.close(os.open(os.path.join(folder, cache.LAST_USED), os.O_WRONLY | os.O_CREAT,
                         cache.FILE_MODE))
        cache.make_private_dirs(os.path.dirname(final))
        try:
            os.rename(folder, final)
        except OSError as exc:
            if not os.path.isdir(final):
                raise
            del exc     # published by another process: its entry is loaded instead
    finally:
        if os.path.isdir(folder):
            import shutil
            shutil.rmtree(folder, ignore_errors=True)
