"""The call path in C: a ``Caller`` per compiled Function (source: templates/fastcall.c).

The extension is one generic CPython module, built once per (compiler, Python ABI, numpy
version) into the cgraph cache by ``cache.get_extension`` (same key, checks, locking and
publication as the functions' modules) and loaded once per process. A Caller takes the
common call, ``f(array, ...)`` with positional C-contiguous arrays of the exact dtype, ndim
and broadcastable pattern, and does all of ``Function.__call__`` in C. Any other call it
declines (returns ``FALLBACK``) before doing anything, and the Python path runs: argument
conversion, the usual error messages, keyword arguments, profiling. The extension's
``CallMethod`` becomes ``Function.__call__`` once a first Caller exists, so ``f(x)`` reaches
the Caller without a Python frame (function.py, ``_install_call_method``); it reads the
Caller from the ``_fast_call`` slot at its offset, and Function's call slot calls it without
CPython's generic slot (``install_call``): ~55 ns of a ~0.4 us W5 call.

Not covered (Python path): keyword arguments, values that need converting (Python scalars,
lists, other dtypes, non-contiguous or byte-swapped arrays, ndarray subclasses), missing
arguments without a default, functions with In(update=...) state, profiled functions.

``trust_input`` changes nothing here: the Caller's checks cost nanoseconds, and they are what
keeps a wrong array from crashing the process.

If the extension cannot be built or loaded, functions use the Python path (one debug line
in the 'cgraph' log), never an error.
"""
import functools
import os
import threading

import numpy as np

from .. import cache
from .runners import CRunner
from ..template_files import templates_dir

FALLBACK = object()   # what a Caller returns when it declines a call

# Release the GIL around cg_run only when the inputs hold at least this many elements:
# releasing and taking it back costs ~0.1 us, which only matters for tiny calls, while
# other threads can run during any call long enough to be worth it (~16k elements: >5 us).
GIL_THRESHOLD = 1 << 14


def _debug(message, *args):
    """One line in the 'cgraph' log. logging is imported here, on the rare failure: importing
    it costs ~4 ms, which every ``import cgraph`` paid for two debug lines."""
    import logging
    logging.getLogger("cgraph").debug(message, *args)


_lock = threading.Lock()
_extension = None     # the loaded module, or False once it failed (for this process)


def extension():
    """The loaded extension module, or None if it cannot be had (said once, at debug level)."""
    global _extension
    if _extension is None:
        with _lock:
            if _extension is None:
                _extension = _load() or False
    return _extension or None


def prepare():
    """Start loading (or building) the extension in a thread: called before a function's
    module is lowered and compiled, so that with an empty cache the extension's compiler runs
    beside the module's (~0.35 s saved on a cold start) instead of after it."""
    if _extension is None and not _lock.locked():
        threading.Thread(target=extension, name="cgraph-call-path-build", daemon=True).start()


def _load():
    try:
        return _build_extension()
    except Exception as exc:   # noqa: BLE001 - any failure means: use the Python path
        _debug("the C call path is unavailable (%s: %s); functions are called through "
               "the Python path", type(exc).__name__, exc)
        return None


def _build_extension():
    return extension_entry().module


# The extension's entry name (what `cache list` shows), the same whether a cache built it
# or adopted it from the prebuilt units (cgraph/prebuilt.py builds them from extension_spec:
# kept here, so a warm start does not import the builder).
EXTENSION_NAME = "fastcall"


def extension_spec():
    """(source, include folders, extra key material) of the call-path extension."""
    with open(os.path.join(templates_dir(), "fastcall.c")) as f:
        source = f.read()
    return source, [np.get_include()], {"numpy": np.__version__}


def extension_entry():
    """The extension's cache entry, loaded (or built) through the cache; raises on failure."""
    source, include_dirs, extra = extension_spec()
    return cache.get_extension(source, EXTENSION_NAME, include_dirs=include_dirs, extra=extra)


@functools.lru_cache(maxsize=None)
def _type_nums(dtype):
    """The numpy type numbers of ``dtype`` and of its aliases (int64 is both 'long' and
    'longlong' on Linux): arrays of any of them have the same bytes."""
    dtype = np.dtype(dtype)
    nums = [dtype.num]
    for code in np.typecodes["All"]:
        other = np.dtype(code)
        if other.kind == dtype.kind and other.itemsize == dtype.itemsize and \
                other.num not in nums:
            nums.append(other.num)
    return tuple(nums[:3])


def _spec(type_, written):
    mask = sum(1 << d for d, b in enumerate(type_.broadcastable) if b)
    return (_type_nums(type_.dtype), type_.ndim, mask, written)


def link_call_path(function, runner):
    """The Caller for ``function`` (a C-mode Function whose runner is ``runner``), or None
    when its calls must take the Python path."""
    if not isinstance(runner, CRunner):
        return None
    module = extension()
    if module is None:
        return None
    try:
        # the Python path's calls (CRunner) chain the SIGINT counter before the handler in
        # force too, as the Caller's do (fastcall.c): a profiled or stateful function has
        # only those, and any function takes them when the Caller declines a call
        interruptible = _count_interrupts(module, function, runner.runtime)
        runner.watch_sigint = module.watch_sigint if interruptible else None
        if function.profile is not None or function.layout.stateful:
            return None
        return _make_caller(module, function, runner, interruptible)
    except Exception as exc:   # noqa: BLE001 - an unexpected function shape: Python path
        _debug("no C call path for %r (%s: %s)", function, type(exc).__name__, exc)
        return None


def _make_caller(module, function, runner, interruptible):
    # The Caller takes the layout as tuples whose lengths are its parts (templates/
    # fastcall.c): defaults (one per argument), shared containers, hidden constants, output
    # specs (user outputs then updates) and the update containers with the input each may
    # be written into ({output: input} from the in-place plan: then cg_run returns that
    # buffer, and the new value is the input array).
    layout = function.layout
    if runner.n_in != len(layout.passed_inputs) or runner.n_out != len(layout.graph_outputs):
        return None
    sources = layout.inplace_sources()
    in_specs = [_spec(v.type, k in sources) for k, v in enumerate(layout.graph_inputs)]
    stored = function.argument_defaults
    defaults = []
    for k in range(len(layout.arguments)):
        value = stored.get(k)
        defaults.append(None if value is None else np.ascontiguousarray(value))
    kind = layout.result_kind()
    keys = layout.output_keys if kind == 2 else None
    locks = function.call_locks
    return module.Caller(
        runner.address("cg_run"), runner.address("cg_free"), (runner.lib, runner.runtime),
        tuple(in_specs), tuple(defaults),
        tuple(s.container for s in layout.shared), tuple(runner.hidden),
        tuple((dtype, ndim) for dtype, ndim in runner.out_specs),
        tuple(s.container for s in layout.updated_shared), sources,
        kind, keys, runner.raise_error, FALLBACK, GIL_THRESHOLD,
        tuple(lock.acquire for lock in locks), tuple(lock.release for lock in locks),
        interruptible)


_counting_runtimes = set()   # addresses of the runtime libraries given the SIGINT count


def _count_interrupts(module, function, runtime):
    """Let Ctrl-C end the long loops of ``function``'s module: the runtime library (its
    elementwise, reduction, product, conv and pool loops: runtime.h, "Ctrl-C") gets the
    address of the extension's SIGINT count once per process (a scan's loop polls it too).
    Whether the module has a node that may run long (any array operand, or a scan): its
    Caller then chains the SIGINT handler before each call."""
    if not hasattr(module, "sigint_count"):
        return False
    import ctypes
    address = module.sigint_count()
    handle = runtime._handle
    if handle not in _counting_runtimes:
        with _lock:
            runtime.cg_set_interrupt_counter(ctypes.c_void_p(address))
            _counting_runtimes.add(handle)
    if not _may_run_long(function):
        return False
    module.watch_sigint()   # (again before each call: signal.signal() may replace it)
    return True


def _may_run_long(function) -> bool:
    """Whether a call may take long enough to be worth stopping on Ctrl-C: a scan, or any
    node with an array (not a scalar) among its operands (its size is the caller's, or a
    shape computed from inputs). Modules of scalars only never chain the handler, which
    costs a system call per call."""
    return any(type(node.op).__name__ == "Scan" or
               any(getattr(v.type, "ndim", 0) for v in list(node.inputs) + list(node.outputs))
               for node in function.nodes)
