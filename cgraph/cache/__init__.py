"""The on-disk cache of compiled modules: content-addressed, published atomically, checked
before loading, safe for many processes at once.

Layout under the cache root (``$CGRAPH_CACHE_DIR``, else ``$XDG_CACHE_HOME/cgraph``, else
``~/.cache/cgraph``)::

    v1/<python abi>/<key[:2]>/<key>/    one entry, never changed after publication
        module.c          the C source exactly as cgraph generated it (and compiled)
        _cgraph_mod.so    a graph module: plain C, loaded with ctypes; or
        libcgraph_rt.so   the runtime library every graph module links (get_runtime); or
        _cgraph_ext<ext>  a CPython extension (get_extension: the call path)
        build.json        key material, compile command, compiler output, timings
        manifest.json     size and sha256 of the three files above; written last
        last_used         empty; its modification time is touched at most once a day on load
    tmp/<token>/          private build folders, renamed into v1/ when complete; each has a
    tmp/<token>.lock      lock file held by its builder, so `prune` knows a dead one
    failed/<token>/       builds the compiler rejected (source, command, compiler output)
    quarantine/           entries found broken, moved aside (then rebuilt)
    trash/                folders being deleted: renamed here first, then removed
    locks/<key>.lock      one lock file per key, so two processes do not build one thing twice
    toolchain/            remembered compiler probes
    prekeys/              records from a graph's pre-key to its module (codegen/prekey.py),
                          and *.digest: the runtime library's sources' digest (runtime_library)
    templates/            the templates compiled by Jinja (codegen/render.py)

The key is the sha256 of everything that changes the binary: the source, the compiler's
path and version, the full command line (CPU features written out), the key of the runtime
library a module links, the Python ABI and this cache's format version.

Correctness never depends on a lock. A reader finds an entry by its key, reads the manifest,
checks the module's owner, permissions, size and sha256, then hands it to the dynamic loader;
anything else is a miss. A builder compiles in a private folder and publishes it with one
rename; whoever loses that race discards its build and uses the winner's. The per-key lock
(flock: released by the kernel when its holder dies; waited for a bounded time) only saves
compiling twice. Nothing happens at import or at exit, and nothing scans a folder except the
housekeeping commands (`python -m cgraph cache ...`).

One module per job, each depending only on those listed before it, and only on its public
names (tests/project/test_import_graph.py refuses an underscore name taken from another
module; what this process remembers is state.py's, reached through its functions)::

    layout.py        the on-disk format: file names, format version, modes
    errors.py        the exceptions callers see
    state.py         what this process remembers: loaded modules, checked roots, counters
    root.py          where the cache is, whether to trust it, private folders in it
    entries.py       a published entry: manifest and file checks, quarantine
    shipped.py       files shipped inside the installed package (compiler probe, tiles,
                     compiled templates), read under the checks a unit gets
    compiler.py      the C compiler: its probe (remembered in toolchain/) and commands
    build_units.py   building a module cut into translation units, compiled side by side
    deferred_link.py compiling a module while its runtime library is being prepared
    keys.py          the key material, the key, the folder it names, the toolchain record
    lock.py          per-key locks across threads and processes
    load.py          loading a checked module (ctypes or importlib)
    build.py         compiling in tmp/ and publishing with one rename
    adopt.py         publishing a unit shipped with the package (shipped.py) on a miss
    lookup.py        the entry points: get_module, get_runtime, get_extension, load_by_key
    prekeys.py       records from a graph's pre-key to its module's key
    housekeeping.py  list, verify, prune, clear
    cli.py           ``python -m cgraph cache ...``

This file is the package's face: callers outside it use only the names below.
"""
from .compiler import CompilerMissing  # noqa: F401
from .errors import CacheError, CacheTrustError, CompileError, LayoutMismatch  # noqa: F401
from .layout import EXTENSION_NAME, FORMAT_VERSION, MODULE_FILE, RUNTIME_FILE  # noqa: F401
from .layout import FILE_MODE, LAST_USED, MANIFEST, SOURCE_FILES  # noqa: F401
from .state import events, extension_stats, runtime_stats, stats, timings  # noqa: F401
from .state import forget_checks, forget_loaded, fresh_state, last_origin  # noqa: F401
from .state import loaded_keys, runtime_images, warn_once  # noqa: F401
from .root import cache_root, make_private_dirs, open_root  # noqa: F401
from .root import trust_problem, untrusted_folders  # noqa: F401
from .keys import compute_key, entries_dir, entry_folder, toolchain  # noqa: F401
from .keys import extension_material, key_material, runtime_material  # noqa: F401
from .layout import entry_files, module_file_of  # noqa: F401
from .entries import checked_manifest, quarantine_file, set_aside  # noqa: F401
from .load import CacheEntry, try_load  # noqa: F401
from .build import build_entry, runtime_soname  # noqa: F401
from .lookup import get_extension, get_module, get_runtime, load_by_key  # noqa: F401
from .prekeys import drop_prekey, read_prekey, write_prekey  # noqa: F401
from .housekeeping import EntryInfo, check_entry, clear, find_entry  # noqa: F401
from .housekeeping import iter_entries, list_entries, prune, verify, verify_records  # noqa: F401

# What users call (and the API reference documents); the other names above serve cgraph's
# own modules (codegen, compile, runtime_library, prebuilt units, deferred links), its
# command line, tests and benchmarks.
__all__ = ["get_module", "CacheEntry", "CompileError", "CompilerMissing", "CacheError",
           "CacheTrustError", "stats", "events", "cache_root", "list_entries", "find_entry",
           "verify", "prune", "clear", "last_origin"]
