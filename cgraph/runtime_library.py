"""The runtime library: the code every graph module shares, compiled once per cache.

``templates/runtime.c.j2`` (buffers and their reuse, copies, broadcasting, error text, the
BLAS pointers, the small-GEMM kernels) is built like a module, through the cache (same key
discipline, checks before loading, lock, publication and quarantine), into a shared object
named after its key: as translation units compiled side by side, then linked (their roles:
build_units.RUNTIME_UNITS, each role's optimisation: build_units.RUNTIME_OPTIMIZATION). Its
key depends on the compiler, the CPU features and cgraph's templates (a digest of the files,
so a warm start finds it without rendering anything).

Graph modules include ``templates/runtime.h``, which declares what their code calls, by name
(``template_files.HEADER_FILE``, found with -I to the templates folder), and are linked
against it: a module holds only its graph's own code. The library's own units also include
``runtime_internal.h`` (what only they use). Both headers are among the library's templates
(SOURCES), so the runtime's key, which is in every module's key, covers them.

The library is loaded before any module (``runtime()``), and its BLAS pointers are set once
per process.
"""
import hashlib
import os
import threading

from . import cache
from .cache import deferred_link
from .cache.build_units import RUNTIME_UNITS
from .cache.compiler import AssumedToolchain
from .codegen.prekey import code_digest
from .template_files import templates_dir
from .version import __version__

# The templates the library is rendered from (runtime.c.j2 includes the others) and the header
# modules include (cgraph_runtime.h: runtime.h); tests/codegen/test_runtime_library.py checks
# that every template either includes is listed.
SOURCES = ("runtime.c.j2", "runtime.h", "cgraph_runtime.h", "runtime_internal.h",
           "ops/small_gemm.c.j2", "ops/update_gemm.c.j2",
           "ops/blas_product.c.j2", "ops/elemwise_driver.c.j2", "ops/blas_nodes.c.j2",
           "ops/philox_fill.c.j2", "ops/random_common.c.j2", "ops/binomial_counts.c.j2",
           "ops/reduce_float.c.j2", "ops/reduce_kernel.c.j2", "ops/narrow_gemm.c.j2",
           "ops/conv_driver.c.j2", "ops/conv3d_driver.c.j2", "ops/pool_driver.c.j2", "ops/reshape_driver.c.j2",
           "ops/scan_driver.c.j2")

_lock = threading.Lock()          # held while loading or building
_prepare_lock = threading.Lock()
_loaded = {}     # runtime key -> entry (BLAS set): one copy per process, whatever the cache


def source_digest() -> str:
    """A digest of the library's templates and cgraph's version: reading three small files
    costs far less than rendering them."""
    h = hashlib.sha256(__version__.encode())
    for name in SOURCES:
        with open(os.path.join(templates_dir(), name), "rb") as f:
            h.update(b"\0" + name.encode() + b"\0" + f.read())
    return h.hexdigest()


def render_source() -> str:
    from .codegen.render import render
    return render("runtime.c.j2", version=__version__, units=RUNTIME_UNITS)


def runtime():
    """The runtime library's cache entry, loaded (built on a miss), BLAS set; modules built
    or loaded after this call link to it. Waits for a build ``prepare`` started.

    A process loads one copy per key: modules find it by its shared-object name, so the
    copy loaded first serves them all, even after the cache folder changed."""
    thread = _building
    if thread is not None and thread is not threading.current_thread():
        thread.join()
    # (the key costs a JSON dump and a hash: a process that loaded nothing yet skips it,
    # as get_runtime makes it anyway)
    key = cache.compute_key(cache.runtime_material(_digest())) if _loaded else None
    entry = _loaded.get(key)
    if entry is None:
        with _lock:
            entry = _loaded.get(key)
            if entry is None:
                entry = cache.get_runtime(_digest(), render_source)
                if entry.key not in _loaded:
                    set_blas(entry.lib)
                    from . import gemm_tuning
                    gemm_tuning.select(entry.lib, entry.key)    # the small-GEMM tiles for this CPU
                    _loaded[entry.key] = entry
                if key is not None:     # (another key when the compiler was probed)
                    _loaded[key] = entry
    return entry


_building = None   # the thread prepare() started, if any


def runtime_for_linking():
    """What a graph module links: the runtime library's loaded entry if it is ready (or no
    thread is preparing it: then it is loaded or built here), else a
    deferred_link.PendingRuntime for the one being prepared (the module is then compiled
    beside it and linked after)."""
    if _building is None or isinstance(cache.toolchain(), AssumedToolchain):   # key may change
        return runtime()
    # being built, adopted or loaded and tuned (the small-GEMM timing takes ~0.3 s): the
    # module compiles meanwhile and links once runtime() returns
    return deferred_link.mark_pending(cache.compute_key(cache.runtime_material(_digest())),
                                      runtime)


def prepare():
    """Load (or build) the library in a background thread: with an empty cache its compiler
    then runs while the first function is rewritten and lowered. Errors are raised by the
    next ``runtime()``, which tries again."""
    global _building
    with _prepare_lock:
        if _loaded or _building is not None:
            return
        _building = threading.Thread(target=_prefetch, name="cgraph-runtime-build",
                                     daemon=True)
        _building.start()


def _prefetch():
    global _building
    try:
        runtime()
    except Exception:   # noqa: BLE001 - runtime() in the caller's thread raises it
        pass
    finally:
        _building = None


_digests = {}


def _digest():
    # per process: the templates do not change under a running program (the code digest of
    # the pre-keys makes the same assumption)
    if not _digests:
        _digests["digest"] = _remembered_digest()
    return _digests["digest"]


def _remembered_digest():
    """source_digest(), kept in the cache as a pre-key record under the code digest (the
    path, size and time of every template and source file: see codegen/prekey.py), so a warm
    start reads one sealed record, verified as every record is, instead of the library's
    ~20 templates (~0.5 ms). Any change of the files gives another code digest."""
    memo = hashlib.sha256(f"runtime-sources\0{__version__}\0{code_digest()}".encode()).hexdigest()
    digest = cache.read_prekey(memo, "digest")
    if digest is None:
        digest = source_digest()
        cache.write_prekey(memo, digest, "digest")
    return digest


def set_blas(lib) -> None:
    """Hand the loaded runtime library ``lib`` (a ctypes.CDLL) the BLAS/LAPACK function
    pointers of the numpy or scipy in this process (once per loaded copy; prebuilt's tile
    timing child does it for a unit it loads by hand)."""
    import ctypes
    from .blas_pointers import blas_pointers, blas_thread_control
    pointers, ilp64 = blas_pointers()
    lib.cg_set_blas(*[ctypes.c_void_p(p) for p in pointers], ctypes.c_int(int(ilp64)))
    control = blas_thread_control()
    if control is not None and all(control):
        lib.cg_set_blas_threads(*[ctypes.c_void_p(p) for p in control])
