"""The on-disk cache of compiled modules: content-addressed, published atomically.

Layout under the cache root (``$CGRAPH_CACHE_DIR``, else ``~/.cache/cgraph``)::

    v1/<python abi>/<key[:2]>/<key>/    one entry, never changed after publication
        module.c          the C source exactly as cgraph generated it
        module_cffi.c     the same, wrapped by cffi (what the compiler compiled)
        _cgraph_mod<ext>  the extension module
        build.json        key material, compile command, compiler output, timings
        manifest.json     size and sha256 of every file above; written last
    tmp/                  private build folders, renamed into v1/ when complete
    quarantine/           entries found broken, moved aside and rebuilt
    locks/                one lock file per key, so two processes do not build one thing twice
    toolchain/            remembered compiler probes

The key is the sha256 of everything that changes the binary: the source, the cffi
declarations, the compiler's path and version, the full command line (CPU features written
out), the Python ABI, cffi's version and this cache's format version.
"""
import contextlib
import errno
import fcntl
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
import warnings

from . import __version__
from .config import config
from .toolchain import compile_command
from .toolchain import toolchain as _probe_toolchain

FORMAT_VERSION = "v1"
MODULE_NAME = "_cgraph_mod"
LOCK_TIMEOUT = 600.0   # seconds to wait for another process building the same key

CDEF = """
int cg_run(void **in_data, const int64_t *in_shape, void **out_data, int64_t *out_shape,
           int *fail_node, char *err, int errlen);
void cg_free(void *p);
void cg_set_blas(void *sgemm, void *dgemm, void *sgemv, void *dgemv, void *sdot, void *ddot);
"""


class CompileError(RuntimeError):
    """The C compiler rejected a generated module; ``folder`` keeps source, command, output."""

    def __init__(self, message, folder):
        super().__init__(message)
        self.folder = folder


class CacheEntry:
    """A loaded entry: the module's ``lib`` and ``ffi``, its key and folder."""

    def __init__(self, key, path, module):
        self.key = key
        self.path = path
        self.module = module
        self.lib = module.lib
        self.ffi = module.ffi

    @property
    def module_path(self):
        return os.path.join(self.path, MODULE_NAME + toolchain()["ext_suffix"])


def cache_root():
    root = os.environ.get("CGRAPH_CACHE_DIR") or config.cache_dir
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "cgraph")
    return os.path.abspath(root)


def toolchain():
    """The compiler description, probed once per compiler and remembered in the cache."""
    return _probe_toolchain(config.cc, os.path.join(cache_root(), "toolchain"))


def _ensure_dir(path):
    """Create ``path`` and any missing parents, each readable by its owner only."""
    if not os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent and parent != path:
            _ensure_dir(parent)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
    return path


def entries_dir(root=None):
    return os.path.join(root or cache_root(), FORMAT_VERSION, toolchain()["python_abi"])


_loaded = {}   # key -> CacheEntry, for this process
stats = {"builds": 0, "disk_hits": 0, "memory_hits": 0}   # this process's cache traffic


def key_material(source):
    import cffi
    tc = toolchain()
    return {
        "format": FORMAT_VERSION,
        "cgraph": __version__,
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "cdef": CDEF,
        "compiler": tc["cc"],
        "compiler_version": tc["version"],
        "command": compile_command(tc, "module_cffi.c", MODULE_NAME + tc["ext_suffix"]),
        "python_abi": tc["python_abi"],
        "ext_suffix": tc["ext_suffix"],
        "cffi": cffi.__version__,
    }


def compute_key(material):
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def get_module(source, name="anonymous"):
    """Load the module built from ``source``, building and publishing it on a miss."""
    material = key_material(source)
    key = compute_key(material)
    entry = _loaded.get(key)
    if entry is not None:
        stats["memory_hits"] += 1
        return entry
    root = cache_root()
    _ensure_dir(root)
    final = os.path.join(entries_dir(root), key[:2], key)
    entry = _try_load(key, final)
    if entry is not None:
        stats["disk_hits"] += 1
    else:
        with _key_lock(root, key):
            entry = _try_load(key, final)          # someone may have built it meanwhile
            if entry is None:
                _build_and_publish(source, material, key, final, name)
                stats["builds"] += 1
                entry = _try_load(key, final)
                if entry is None:
                    raise RuntimeError(f"cgraph: the module just built at {final} does not load")
    _loaded[key] = entry
    return entry


def _file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _try_load(key, folder):
    """Load a published entry after checking its manifest; None if absent or broken."""
    manifest_path = os.path.join(folder, "manifest.json")
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
    except FileNotFoundError:
        if os.path.isdir(folder):
            _quarantine(folder, "it has no manifest")
        return None
    except (OSError, ValueError):
        _quarantine(folder, "its manifest is unreadable")
        return None
    module_file = os.path.join(folder, MODULE_NAME + toolchain()["ext_suffix"])
    try:
        expected = manifest["files"][os.path.basename(module_file)]
        if os.path.getsize(module_file) != expected["size"] or \
                _file_sha256(module_file) != expected["sha256"]:
            _quarantine(folder, "its module does not match the manifest")
            return None
    except (OSError, KeyError, TypeError):
        _quarantine(folder, "its module is missing")
        return None
    module = _load_extension(f"cgraph_{key[:16]}.{MODULE_NAME}", module_file)
    _set_blas(module)
    return CacheEntry(key, folder, module)


def _load_extension(dotted_name, path):
    loader = importlib.machinery.ExtensionFileLoader(dotted_name, path)
    spec = importlib.util.spec_from_file_location(dotted_name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _set_blas(module):
    from .blas_pointers import blas_pointers
    ffi = module.ffi
    module.lib.cg_set_blas(*[ffi.cast("void *", p) for p in blas_pointers()])


_warned = set()


def _quarantine(folder, why):
    root = cache_root()
    target = os.path.join(root, "quarantine", f"{os.path.basename(folder)}-{uuid.uuid4().hex[:8]}")
    try:
        _ensure_dir(os.path.dirname(target))
        os.rename(folder, target)
    except OSError:
        return   # another process moved it first, or the cache is read-only
    if "quarantine" not in _warned:
        _warned.add("quarantine")
        warnings.warn(f"cgraph: cache entry {folder} was broken ({why}); moved it to {target} "
                      f"and will rebuild it", RuntimeWarning, stacklevel=4)


@contextlib.contextmanager
def _key_lock(root, key):
    """An advisory lock per key (released by the kernel if the holder dies), waited for a
    bounded time; without it two processes may both build, which is still correct."""
    path = os.path.join(_ensure_dir(os.path.join(root, "locks")), f"{key}.lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield
        return
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    break    # give up waiting; building again is safe
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)


def _build_and_publish(source, material, key, final, name):
    import cffi   # only a build needs the FFI builder
    from cffi.recompiler import make_c_source
    root = cache_root()
    tmp = os.path.join(_ensure_dir(os.path.join(root, "tmp")), f"{key[:16]}-{uuid.uuid4().hex}")
    os.mkdir(tmp, 0o700)
    try:
        tc = toolchain()
        t0 = time.perf_counter()
        with open(os.path.join(tmp, "module.c"), "w") as f:
            f.write(source)
        ffi = cffi.FFI()
        ffi.cdef(CDEF)
        make_c_source(ffi, MODULE_NAME, source, os.path.join(tmp, "module_cffi.c"))
        t1 = time.perf_counter()
        module_file = MODULE_NAME + tc["ext_suffix"]
        command = compile_command(tc, "module_cffi.c", module_file)
        proc = subprocess.run(command, cwd=tmp, capture_output=True, text=True)
        t2 = time.perf_counter()
        build = {"key": key, "material": material, "function": name, "command": command,
                 "returncode": proc.returncode, "compiler_output": proc.stdout + proc.stderr,
                 "render_seconds": round(t1 - t0, 4), "compile_seconds": round(t2 - t1, 4),
                 "built_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        with open(os.path.join(tmp, "build.json"), "w") as f:
            json.dump(build, f, indent=1)
        if proc.returncode != 0:
            kept = os.path.join(_ensure_dir(os.path.join(root, "failed")), os.path.basename(tmp))
            os.rename(tmp, kept)
            raise CompileError(
                f"cgraph: the C compiler failed on the module for function {name!r}.\n"
                f"Source, command and compiler output are kept in {kept}\n"
                f"{proc.stderr[-4000:]}", kept)
        files = {}
        for fname in sorted(os.listdir(tmp)):
            p = os.path.join(tmp, fname)
            files[fname] = {"size": os.path.getsize(p), "sha256": _file_sha256(p)}
            with open(p, "rb") as f:
                os.fsync(f.fileno())
        manifest_tmp = os.path.join(tmp, "manifest.json")
        with open(manifest_tmp, "w") as f:
            json.dump({"key": key, "files": files}, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        _ensure_dir(os.path.dirname(final))
        try:
            os.rename(tmp, final)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            shutil.rmtree(tmp, ignore_errors=True)   # another process published it first
        if config.compile_verbose:
            print(f"cgraph: built {name!r} as {key[:16]} in {t2 - t0:.3f}s", file=sys.stderr)
    except BaseException:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        raise


# --- housekeeping (python -m cgraph cache ...) -------------------------------------------

def list_entries(root=None):
    """(key, folder, build info) of every published entry."""
    base = os.path.join(root or cache_root(), FORMAT_VERSION)
    result = []
    if not os.path.isdir(base):
        return result
    for abi in sorted(os.listdir(base)):
        for shard in sorted(os.listdir(os.path.join(base, abi))):
            shard_dir = os.path.join(base, abi, shard)
            for key in sorted(os.listdir(shard_dir)):
                folder = os.path.join(shard_dir, key)
                try:
                    with open(os.path.join(folder, "build.json")) as f:
                        build = json.load(f)
                except (OSError, ValueError):
                    build = {}
                result.append((key, folder, build))
    return result


def find_entry(prefix, root=None):
    matches = [e for e in list_entries(root) if e[0].startswith(prefix)]
    if not matches:
        raise KeyError(f"no cache entry has a key starting with {prefix!r}")
    if len(matches) > 1:
        raise KeyError(f"{len(matches)} cache entries start with {prefix!r}; give more digits")
    return matches[0]


def clear(root=None):
    """Remove every entry (and temporary, failed and quarantined folders)."""
    root = root or cache_root()
    removed = 0
    for sub in (FORMAT_VERSION, "tmp", "failed", "quarantine", "locks"):
        path = os.path.join(root, sub)
        if os.path.isdir(path):
            if sub == FORMAT_VERSION:
                removed += len(list_entries(root))
            shutil.rmtree(path, ignore_errors=True)
    _loaded.clear()
    return removed
