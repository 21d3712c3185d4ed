"""The key of an entry: the material that changes a binary (source, compiler, command
line, runtime library, Python ABI, format version), its sha256, and the folder it names."""
import hashlib
import json
import os
from typing import Any, Optional, Sequence

from ..version import __version__
from ..config import config
from . import build_units
from .compiler import compile_command, module_command
from .compiler import lookup as _lookup_toolchain
from .compiler import toolchain as _probe_toolchain
from .layout import EXTENSION_NAME, FORMAT_VERSION, MODULE_FILE, RUNTIME_FILE
from .root import cache_root, open_root


def toolchain(root: Optional[str] = None, build: bool = False) -> dict:
    """The compiler description, probed once per compiler and remembered in the cache.

    The root is checked first (CacheTrustError: nothing is written in a folder cgraph does
    not trust). Unless ``build``, a description remembered for this machine stands in for a
    compiler that is absent or not probed yet, so that finding a built module never starts
    a compiler (an AssumedToolchain then; see toolchain.lookup)."""
    root = root or cache_root()
    usable = not isinstance(open_root(root), tuple)
    probe_dir = os.path.join(root, "toolchain") if usable else None
    if build:
        return _probe_toolchain(config.cc, probe_dir)
    return _lookup_toolchain(config.cc, probe_dir)


def entries_dir(root: Optional[str] = None, abi: Optional[str] = None) -> str:
    """The folder of this format's entries for a Python ABI (this one's by default)."""
    root = root or cache_root()
    return os.path.join(root, FORMAT_VERSION, abi or toolchain(root)["python_abi"])


def entry_folder(root: str, key: str, abi: Optional[str] = None) -> str:
    """The folder the entry with ``key`` is published as (whether or not it exists)."""
    return os.path.join(entries_dir(root, abi), key[:2], key)


def key_material(source: str, root: Optional[str] = None, runtime: Optional[Any] = None,
                 build: bool = False) -> dict:
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


def runtime_material(source_digest: str, root: Optional[str] = None, build: bool = False) -> dict:
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
        "python_abi": tc["python_abi"],
        "ext_suffix": tc["ext_suffix"],
        # its translation units' compiles, and the link as "command"
        **build_units.runtime_unit_material(tc, build_units.RUNTIME_UNITS, RUNTIME_FILE),
    }


def extension_material(source: str, root: Optional[str] = None, include_dirs: Sequence[str] = (),
                       extra: Optional[dict] = None, build: bool = False) -> dict:
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


def compute_key(material: dict) -> str:
    """The key: the sha256 of the key material as canonical JSON."""
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
