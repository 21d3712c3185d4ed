"""Loading a checked module: graph modules and the runtime library with ctypes
(dlopen), plain CPython extensions with importlib; LAPACK's routines handed to the modules
that call them.

What a graph module exports (int cg_run(...), int cg_profile_read(...): see module.c.j2) and
the runtime library (cg_free, cg_set_blas, ...: runtime.h, runtime_internal.h) are called through ctypes."""
import ctypes
import importlib.machinery
import importlib.util
import os
import time
from typing import Any, Optional

from . import deferred_link as _deferred_link
from .entries import BrokenEntry, set_aside, touch_last_used, verified_module
from .errors import CacheError
from .layout import EXTENSION_NAME, MODULE_FILE, RUNTIME_FILE
from .state import runtime_images, events, timings


class CacheEntry:
    """A loaded module: ``lib`` (a ctypes.CDLL of a graph module or of the runtime library;
    None for an extension, whose Python module is ``module``), key, folder and module file.

    ``private`` entries were built outside the cache (it was read-only or full); their
    folder is removed once the module is loaded (the loaded copy stays mapped), except the
    runtime library's, which later modules link against (removed at exit).
    """

    def __init__(self, key: str, path: str, module: Any, module_path: str, private: bool = False,
                 signature: Optional[str] = None):
        self.key = key
        self.signature = signature       # the layout its manifest records (None: unrecorded)
        self.path = path
        self.module = module
        self.module_path = module_path
        self.lib = module if isinstance(module, ctypes.CDLL) else None
        self.private = private

    def __repr__(self):
        return f"<CacheEntry {self.key[:16]} {'private ' if self.private else ''}{self.path}>"


def try_load(root, key, folder, writable, module_name):
    """Load a published entry after checking it; None if absent or broken (set aside)."""
    try:
        found = verified_module(key, folder, module_name)
    except BrokenEntry as exc:
        set_aside(root, folder, str(exc), writable)
        return None
    if found is None:
        return None
    module_path, signature = found
    started = time.perf_counter()
    try:
        module = _load(key, module_name, module_path)
    except (ImportError, OSError) as exc:
        if not os.path.exists(module_path):
            return None     # pruned between the check and the load: a plain miss
        _explain_noexec(exc, root)
        set_aside(root, folder, f"the dynamic loader rejected its module ({exc})", writable)
        return None
    timings["load_seconds"] += time.perf_counter() - started
    if writable:
        touch_last_used(folder)
    return CacheEntry(key, folder, module, module_path, signature=signature)


def _explain_noexec(exc, root):
    if "failed to map segment" in str(exc) or "operation not permitted" in str(exc).lower():
        raise CacheError(
            f"cgraph cannot load modules from its cache {root}: {exc}. The folder is probably "
            f"on a file system mounted 'noexec'; set CGRAPH_CACHE_DIR to a folder on another "
            f"file system (e.g. under your home directory).") from exc


def _load(key, module_name, path):
    """A CPython extension is imported; a graph module or the runtime library is opened with
    ctypes (a module needs its runtime library loaded first: its dependency on it names the
    runtime's shared-object name, which the loader finds among the loaded libraries)."""
    if module_name.startswith(EXTENSION_NAME):
        return _load_extension(f"cgraph_{key[:16]}.{module_name.split('.')[0]}", path)
    if module_name == RUNTIME_FILE and key not in runtime_images:
        with open(path, "rb") as f:     # checked a moment ago by verified_module
            runtime_images[key] = f.read()
    if module_name == MODULE_FILE:
        _deferred_link.wait_for_runtime()     # its runtime library is loaded first
    lib = ctypes.CDLL(path)
    if module_name == MODULE_FILE:
        _set_lapack(lib)
    return lib


def _set_lapack(lib):
    """Hand LAPACK's routines to a graph module that calls them: every module answers a
    NULL query of cg_set_lapack (templates/lapack.h), with 1 when it has a linear algebra
    node; only then are the routines found (blas_pointers.lapack_pointers)."""
    try:
        setter = lib.cg_set_lapack
    except AttributeError:      # a module written by hand (tests): no linear algebra
        return
    setter.restype = ctypes.c_int
    setter.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    if setter(None, 0, 0):
        from ..blas_pointers import lapack_pointers
        routines, ilp64 = lapack_pointers()
        setter((ctypes.c_void_p * len(routines))(*routines), len(routines), int(ilp64))


def _load_extension(dotted_name, path):
    loader = importlib.machinery.ExtensionFileLoader(dotted_name, path)
    spec = importlib.util.spec_from_file_location(dotted_name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def load_private(key: str, folder: str, module_name: str, signature: Optional[str] = None
                 ) -> CacheEntry:
    """Load the module ``module_name`` built outside the cache in ``folder`` (a private
    build: the cache was read-only or full), then remove the folder (the loaded copy stays
    mapped). Counted in ``events["private_builds"]``."""
    events["private_builds"] += 1
    module_path = os.path.join(folder, module_name)
    try:
        if module_name.startswith(EXTENSION_NAME):
            module = _load_extension(f"cgraph_private_{key[:16]}_{os.urandom(4).hex()}."
                                     f"{module_name.split('.')[0]}", module_path)
        else:
            module = _load(key, module_name, module_path)
    finally:
        import shutil   # (not at import: it loads bz2, lzma, ~2 ms)
        shutil.rmtree(folder, ignore_errors=True)   # the loaded copy stays mapped
    return CacheEntry(key, folder, module, module_path, private=True, signature=signature)
