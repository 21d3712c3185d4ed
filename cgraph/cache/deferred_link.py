"""Compiling a graph module while its runtime library is still being prepared (built,
adopted, or loaded and its kernels timed).

A graph module is linked against the runtime library (its dependency names the library's
shared-object name, see cache.runtime_soname), but only the link needs the library, not
gcc's compile, which is the long part. With an empty cache ``function()`` starts building
the runtime in a thread (runtime_library.prepare) and lowers its graph meanwhile; instead of
waiting for it, the module is compiled at once (``-c``, beside the runtime's compiler and
the call-path extension's) and linked when the library is loaded.

The module's key and command do not change: the command is run in two steps, compile then
link, which gives the same bytes as running it whole (the object's name is in no output;
tests/cache/test_prebuilt.py checks it). A module is loaded only after its runtime library is.
"""
import os
import time

from . import build_units
from .errors import CacheError
from .state import runtime_images

OBJECT_FILE = "module.o"
# keys of runtime libraries handed out as PendingRuntime, not loaded yet -> the function that
# loads (or waits for) that library (runtime_library.runtime, registered by mark_pending)
_pending = {}
# Modules this process compiled before their runtime library was loaded, and the time their
# builds then waited for it (inside the module's "compile_seconds" in its build.json).
stats = {"deferred_links": 0, "runtime_wait_seconds": 0.0}


class PendingRuntime:
    """Stands for the runtime library being prepared (built, adopted from shipped units, or
    loaded and its kernels timed): its key, all a module's key needs."""

    def __init__(self, key: str):
        self.key = key

    def __repr__(self):
        return f"<runtime library {self.key[:16]}, being prepared>"


def mark_pending(key: str, load_runtime) -> PendingRuntime:
    """The runtime library with ``key`` is being prepared; ``load_runtime()`` returns its
    loaded entry once it is (waiting for it). Modules linking it are compiled meanwhile."""
    _pending[key] = load_runtime
    return PendingRuntime(key)


def runtime_pending(key) -> bool:
    """Whether the runtime library with ``key`` was handed out as pending (then a module
    linking it is compiled first and linked when it is loaded)."""
    return key in _pending


def wait_for_runtime():
    """Before a graph module is loaded: the runtime library handed out as pending is loaded
    (or its build's error raised). Costs nothing when none is pending."""
    for key, load_runtime in list(_pending.items()):
        load_runtime()
        _pending.pop(key, None)


def popen(command, material, link_file, cwd, **kwargs):
    """subprocess.Popen(command, cwd=cwd, ...), or, when the runtime library the command
    links (its copy ``link_file`` in ``cwd``) is still being prepared, a build of one unit
    (build_units.UnitsBuild, which behaves as a Popen) that runs the command in two steps:
    the compile at once, the link after ``before_link`` got the library, as for a module
    of several units."""
    wait = before_link(material, link_file, cwd) if link_file in command else None
    if wait is not None:
        source = next(w for w in command if w.endswith(".c"))
        out = command.index("-o")
        compile_command = [w for w in command[:out] if w != link_file] + \
            ["-c", "-o", OBJECT_FILE]
        link_command = [OBJECT_FILE if w == source else w for w in command]
        return build_units.UnitsBuild([compile_command], link_command, cwd, kwargs.get("env"),
                                      before_link=wait, whole=OBJECT_FILE)
    import subprocess               # imported by builds only: a warm start runs none
    return subprocess.Popen(command, cwd=cwd, **kwargs)


def before_link(material, link_file, cwd):
    """For a build whose link needs the runtime library still being prepared (``link_file``
    absent in ``cwd``): a function that waits for the library and writes its copy there,
    to run once the compiles are done and before the link. None when nothing is pending."""
    runtime_key = material.get("runtime")
    if os.path.exists(os.path.join(cwd, link_file)) or not runtime_pending(runtime_key):
        return None
    stats["deferred_links"] += 1
    return lambda: _copy_runtime_when_loaded(runtime_key, link_file, cwd)


def _copy_runtime_when_loaded(runtime_key, link_file, cwd):
    started = time.perf_counter()
    wait_for_runtime()
    stats["runtime_wait_seconds"] += time.perf_counter() - started
    image = runtime_images.get(runtime_key)
    if image is None:
        raise CacheError("cgraph: the runtime library a module was compiled "
                         "for is not the one this process loaded")
    with open(os.path.join(cwd, link_file), "wb") as f:
        f.write(image)
