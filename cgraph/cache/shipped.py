"""Units shipped inside the installed package, and what else a first run would make.

``pip install`` builds the runtime library and the call-path extension (cgraph/prebuilt.py)
into ``cgraph/_prebuilt/<key>/``, with the files a cache entry has, under the key the cache
computes at run time; the cache adopts them on a miss (adopt.py). The compiler probe,
the small-GEMM tile choices and Jinja's compiled templates shipped beside the units are read
here, through ``shipped_probe``, ``shipped_tuning`` and ``shipped_template``, under the
checks a unit gets: sealed, owner you or root, writable by no one else.

This is the reading side, below the cache's callers and below the compiler probe
(compiler.py); building the units is prebuilt.py's.
"""
import json
import os

from ..cache_files import BadFile, read_regular, unseal

PREBUILT_DIR_VARIABLE = "CGRAPH_PREBUILT_DIR"   # another folder of units (tests, images)
KINDS = ("runtime", "extension")                # the kinds of unit that may be shipped

# a shipped file is trusted like the package's own code: its owner may be root
OWNERS = (os.geteuid(), 0)


# the installed cgraph package (this file is cgraph/cache/shipped.py)
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def prebuilt_dir() -> str:
    """Where shipped units are looked for: ``$CGRAPH_PREBUILT_DIR``, else the package's
    ``_prebuilt`` folder (absent in a source tree: then nothing is found)."""
    return os.environ.get(PREBUILT_DIR_VARIABLE) or \
        os.path.join(PACKAGE_DIR, "_prebuilt")


def _read_shipped(path):
    """The payload of the sealed file at ``path`` in the units' folder, or None (absent,
    damaged, or writable by others than its owner, you or root)."""
    try:
        return unseal(path, read_regular(path, owners=OWNERS))
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
        return unseal(path, read_regular(path, 1 << 16, owners=OWNERS))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BadFile(path, f"cannot be read ({exc.strerror})") from None


def shipped_template(file_name: str):
    """Jinja's bytecode shipped as ``file_name`` (the cache's name for it), or None."""
    return _read_shipped(os.path.join(prebuilt_dir(), "templates", file_name))
