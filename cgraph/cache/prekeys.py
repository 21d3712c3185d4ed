"""Records from a graph's pre-key to the key of its module (prekeys/*.json), so that
a warm ``function()`` finds its module without rendering the source (see codegen/prekey.py)."""
import json
import os
from typing import Optional

from ..cache_files import BadFile, read_sealed, write_sealed
from .entries import quarantine_file
from .layout import KEY_RE
from .root import cache_root, open_root, untrusted_folders


def _prekey_path(root, prekey, suffix="json"):
    return os.path.join(root, "prekeys", prekey[:2], f"{prekey}.{suffix}")


def read_prekey(prekey: str, suffix: str = "json") -> Optional[str]:
    """The cache key recorded for a graph's pre-key, or None. The record is sealed and names
    its pre-key: a damaged, edited or swapped one is set aside (with a warning) and None
    returned, so the graph takes the full path and the record is written again. ``suffix``:
    another kind of record of a digest (the runtime library's sources: ``digest``)."""
    root = cache_root()
    if isinstance(open_root(root), tuple):
        return None
    path = _prekey_path(root, prekey, suffix)
    try:
        if untrusted_folders(root, path):
            return None
        payload = read_sealed(path, 4096)
        if payload is None:
            return None
        record = json.loads(payload)
        key = record.get("key") if isinstance(record, dict) else None
        if record.get("prekey") != prekey or not isinstance(key, str) or \
                not KEY_RE.match(key):
            raise BadFile(path, "does not belong to its pre-key")
        return key
    except OSError:
        return None
    except (BadFile, ValueError, AttributeError) as exc:
        quarantine_file(root, path, exc.why if isinstance(exc, BadFile) else "is not valid JSON")
        return None


def drop_prekey(prekey: str, why: str) -> None:
    """Set aside the record of ``prekey`` (it named a module that does not fit its graph)."""
    root = cache_root()
    quarantine_file(root, _prekey_path(root, prekey), why)


def write_prekey(prekey: str, key: str, suffix: str = "json") -> None:
    """Remember that the graph with ``prekey`` lowers to the entry ``key`` (best effort)."""
    root = cache_root()
    if open_root(root) != "writable":
        return
    write_sealed(_prekey_path(root, prekey, suffix),
                 json.dumps({"prekey": prekey, "key": key}).encode())
