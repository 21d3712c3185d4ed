"""Units built ahead of time: the runtime library and the call-path extension.

Every process with an empty cache needs these two shared units (cgraph/runtime_library.py,
cgraph/compile/fastcall.py), and they take gcc ~1.2 s together. So ``pip install`` builds
them (setup.py calls ``build`` in its build step) and ships them inside the package, in
``cgraph/_prebuilt/<key>/``: the files a cache entry has (module.c, build.json, the shared
object, manifest.json), under the key the cache computes at run time. The key covers the
compiler, its flags, the CPU features, the Python ABI, numpy's version and the sources, so
a package copied to another CPU, used with another compiler or with edited templates simply
finds no unit with its key and builds in the cache as before.

On a cache miss for one of these keys, the cache calls ``adopt``: the unit's files are
checked against its manifest (size, sha256), copied into a private folder of the cache and
published there like a build of its own (one rename), then loaded through the cache's usual
checks. A unit that fails its checks is refused with one warning and built in the cache.
Only a writable cache adopts units (a read-only one builds privately, as before).

Beside the units, the folder ships what else a first run would make: the compiler's probe
(``toolchain/``, named as in the cache after the compiler binary, the CPU and the Python),
Jinja's compiled templates (``templates/``, named by Jinja after each template's name and
installed file name, used only for the same source, Jinja and Python) and the small-GEMM
tile choice (``tuning/``, timed here, taken on the same CPU and runtime library only: see
gemm_tuning.shipped_record).

``python -m cgraph cache prebuild`` fills the cache with all of this ahead of time (for a
source tree, where no package folder exists), or writes it into a folder (``--into``).
"""
import hashlib
import json
import os
import sys
import threading
import time

import numpy as np

from . import cache, runtime_library
from .cache import compiler
from .cache.layout import RUNTIME_FILE
from .cache_files import seal
from .template_files import templates_dir
from .compile.fastcall import EXTENSION_NAME, extension_spec   # what the units are built from



# --- what the two units are built from (the run-time loaders use the same) -----------------

def installed_numpy_include() -> str:
    """The numpy header folder of the environment being installed into: its own numpy's
    (in pip's isolated build environment, numpy sits in a temporary folder, and the folder
    names are part of the extension's key). The headers are the same for one numpy version,
    and the version is in the key too."""
    import sysconfig
    relative = os.path.relpath(np.get_include(), os.path.dirname(np.__file__))
    return os.path.join(sysconfig.get_paths()["platlib"], "numpy", relative)


# --- building (install time, or `cache prebuild --into`) ----------------------------------

def build(dest: str, for_install: bool = False) -> dict:
    """Build the runtime library and the call-path extension into ``dest/<key>/``, both
    compilers running at once; returns {kind: key}. ``for_install``: the extension's key
    names the numpy headers of the environment being installed into (installed_numpy_include)
    rather than those this process compiles with. Raises what the compiler step raises
    (cache.CompilerMissing, cache.CompileError)."""
    os.makedirs(dest, exist_ok=True)
    root = cache.cache_root()
    tc = cache.toolchain(root, build=True)
    source, include_dirs, extra = extension_spec()
    units = [("runtime", "runtime",
              cache.runtime_material(runtime_library.source_digest(), root, True),
              None, runtime_library.render_source)]
    built_with = cache.extension_material(source, root, include_dirs, extra, True)
    keyed_by = cache.extension_material(
        source, root, [installed_numpy_include()] if for_install else include_dirs, extra, True)
    units.append(("extension", EXTENSION_NAME, keyed_by, built_with, source))
    done, errors = {}, []

    def one(kind, name, material, built_with, source):
        key = cache.compute_key(material)
        folder = os.path.join(dest, key)
        # os.urandom rather than uuid: importing uuid cost a warm function() ~2 ms
        tmp = f"{folder}.tmp-{os.urandom(4).hex()}"
        os.makedirs(tmp, mode=0o755)
        try:
            build = cache.build_entry(tmp, key, built_with or material, source, name, tc,
                                 faults=False)
            if build["returncode"] != 0:
                raise cache.CompileError(f"cgraph: building the {kind} unit failed:\n"
                                         f"{build['compiler_output'][-2000:]}", tmp)
            if built_with is not None:
                _record_key_material(tmp, material)
            os.unlink(os.path.join(tmp, cache.LAST_USED))    # a cache entry's, not shipped
            for name in os.listdir(tmp):    # shipped files: readable by every user
                os.chmod(os.path.join(tmp, name), 0o644)
            if os.path.isdir(folder):
                import shutil   # (not at import: it loads bz2, lzma, ~2 ms)
                shutil.rmtree(folder)
            os.rename(tmp, folder)
            done[kind] = key
        except BaseException as exc:   # noqa: BLE001 - raised again by build()
            errors.append(exc)
        finally:
            if os.path.isdir(tmp):
                import shutil   # (not at import: it loads bz2, lzma, ~2 ms)
                shutil.rmtree(tmp, ignore_errors=True)

    threads = [threading.Thread(target=one, args=unit) for unit in units]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    _ship_probe(root, tc, dest)
    _ship_templates(dest, for_install)
    _ship_tuning(dest, done["runtime"])
    return done


# Run by _ship_tuning in a child: cgraph's package folder as a bare package (its __init__
# would import everything), the runtime library loaded from the units' folder and timed.
_TIMING_CHILD = """
import sys, types
package = types.ModuleType("cgraph")
package.__path__ = [sys.argv[1]]
sys.modules["cgraph"] = package
from cgraph.prebuilt import time_tiles
time_tiles(*sys.argv[2:])
"""


def _ship_tuning(dest, runtime_key):
    """Ship the small-GEMM tile choice too (cgraph/gemm_tuning.py): a first run on this CPU
    then takes it instead of timing the tiles (~0.28 s of CPU beside its first module's
    gcc). Timed in a child process whose BLAS runs one thread (the record says so: a run
    with BLAS on several threads derives its own from it). Best effort: without it an empty
    cache times the tiles as before."""
    import subprocess
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", _TIMING_CHILD,
                           os.path.dirname(os.path.abspath(__file__)),
                           os.path.join(dest, runtime_key), runtime_key, dest],
                          env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        print(f"cgraph: the small-GEMM tiles were not timed for shipping (they are timed at "
              f"first use): {proc.stderr.strip()[-500:]}", file=sys.stderr)


def time_tiles(unit_folder: str, runtime_key: str, dest: str) -> str:
    """Time the tiles of the runtime library in ``unit_folder`` (built with ``runtime_key``)
    and write the sealed record into ``dest``/tuning/, named as the cache names it; returns
    its path. Run by _ship_tuning in a child whose BLAS runs on one thread."""
    import ctypes
    from . import gemm_tuning
    from .blas_pointers import blas_core, blas_threads
    lib = ctypes.CDLL(os.path.join(unit_folder, RUNTIME_FILE))
    runtime_library.set_blas(lib)
    threads = blas_threads()
    if threads not in (None, gemm_tuning.SHIPPED_THREADS):
        raise RuntimeError(f"BLAS runs {threads} threads, not {gemm_tuning.SHIPPED_THREADS}")
    cpu = gemm_tuning.cpu_identity()
    record = gemm_tuning.measure_record(lib, runtime_key, gemm_tuning.variant_names(lib),
                                        cpu, threads, core=blas_core())
    path = gemm_tuning.record_path(dest, runtime_key, cpu, threads, record["blas_core"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(seal(json.dumps(record, indent=1).encode()))
    os.chmod(path, 0o644)
    return path


def _ship_probe(root, tc, dest):
    """Ship the compiler probe too: a first run then finds it instead of running gcc five
    times (~0.1-0.5 s). Its name covers the compiler binary, the CPU and the Python, as in
    the cache."""
    record = compiler.binary_record(os.path.join(root, "toolchain"), tc["cc"])
    if os.path.isfile(record):
        os.makedirs(os.path.join(dest, "toolchain"), exist_ok=True)
        target = os.path.join(dest, "toolchain", os.path.basename(record))
        import shutil   # (not at import: it loads bz2, lzma, ~2 ms)
        shutil.copyfile(record, target)
        os.chmod(target, 0o644)


def _ship_templates(dest, for_install):
    """Ship Jinja's compiled form of every template too: a first run then loads the ~6-20
    templates its module needs instead of compiling them (~0.1-0.25 s). Jinja finds them
    by template name and file name (the installed one, ``for_install``), and uses them only
    if the template's source and Jinja's and Python's versions are the same."""
    import sysconfig
    import jinja2
    from .codegen import render

    class Keys(jinja2.BytecodeCache):     # Jinja's own naming of a template's bytecode
        def load_bytecode(self, bucket):
            pass

        def dump_bytecode(self, bucket):
            pass

    keys, env, source_dir = Keys(), render.environment(), render.templates_dir()
    target_dir = os.path.join(sysconfig.get_paths()["purelib"], "cgraph", "templates") \
        if for_install else source_dir
    out = os.path.join(dest, "templates")
    os.makedirs(out, exist_ok=True)
    for name in _template_names(source_dir):
        with open(os.path.join(source_dir, *name.split("/"))) as f:
            source = f.read()
        filename = os.path.normpath(os.path.join(target_dir, *name.split("/")))
        try:
            code = env.compile(source, name, filename)
        except jinja2.TemplateError:
            continue        # not a template (a header only copied into modules)
        bucket = jinja2.bccache.Bucket(env, keys.get_cache_key(name, filename),
                                       keys.get_source_checksum(source))
        bucket.code = code
        path = os.path.join(out, f"{bucket.key}.sealed")
        with open(path, "wb") as f:
            f.write(seal(bucket.bytecode_to_string()))
        os.chmod(path, 0o644)


def _template_names(source_dir):
    """The names Jinja loads the templates by ("ops/gemm.c.j2")."""
    for folder, _, files in sorted(os.walk(source_dir)):
        for file_name in sorted(files):
            if file_name.endswith((".j2", ".h")):
                yield os.path.relpath(os.path.join(folder, file_name), source_dir) \
                    .replace(os.sep, "/")


def compile_templates():
    """Every template compiled into the cache's ``templates/`` (Jinja writes them there)."""
    import jinja2
    from .codegen import render
    env = render.environment()
    for name in _template_names(render.templates_dir()):
        try:
            env.get_template(name)
        except jinja2.TemplateError:
            pass        # not a template (a header only copied into modules)


def _record_key_material(folder, material):
    """build.json records the material of the unit's key (``cache verify`` checks that the
    two agree); its "command" stays the one that ran, with the numpy headers it compiled
    with. The manifest is updated to match."""
    path = os.path.join(folder, "build.json")
    with open(path) as f:
        build = json.load(f)
    build["material"] = material
    data = json.dumps(build, indent=1).encode()
    with open(path, "wb") as f:
        f.write(data)
    manifest_path = os.path.join(folder, cache.MANIFEST)
    with open(manifest_path) as f:
        manifest = json.load(f)
    manifest["files"]["build.json"] = {"size": len(data),
                                       "sha256": hashlib.sha256(data).hexdigest()}
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)


# --- install time (setup.py) --------------------------------------------------------------

def main(argv=None) -> int:
    """``python -m cgraph.prebuilt DEST``: build both units into DEST for the environment
    being installed into (setup.py runs this in a child process). Exit status 0 on success."""
    argv = sys.argv[1:] if argv is None else argv
    started = time.perf_counter()
    keys = build(argv[0], for_install=True)
    print(f"cgraph: prebuilt {', '.join(f'{k} {v[:16]}' for k, v in sorted(keys.items()))} "
          f"in {time.perf_counter() - started:.1f} s")
    return 0
