"""The C compiler and everything about it that changes a built module.

The CPU target is written out feature by feature (what ``-march=native`` resolves to), so a
cache shared between machines never hands one CPU's code to another. Probing runs the
compiler (~10 ms), so its result is remembered per process and on disk, in a file named
after the compiler binary (path, size, modification time, inode), the CPU model and the
Python installation: a different CPU or interpreter reading the same cache probes again.

Finding a module already built needs the description but not the compiler: ``lookup`` takes
the record of the compiler binary found on PATH, else (no compiler, a broken one, or one not
probed on this machine yet: a cache shipped into an image) the description last probed by
a cgraph of this version on this CPU with this Python, kept in a record named after those;
a compiler runs only when a module must be built (see cache.get_module). Both records are
sealed (cgraph/cache_files.py): a damaged one is set aside and probed again.
"""
import functools
import hashlib
import json
import os
import sys

from ..version import __version__
from .. import parallel   # OpenMP flags (config.openmp, config.omp_threads)
from ..cache_files import BadFile, read_sealed, write_sealed
from ..config import config
from .entries import quarantine_file
from .shipped import shipped_probe

# A call to a function nothing declares (a runtime helper missing from runtime.h) is an
# error, not -Wall's warning: C would assume it returns int and the module would misbehave.
BASE_FLAGS = ["-fPIC", "-shared", "-Wall", "-Werror=implicit-function-declaration", "-fwrapv",
              "-fno-math-errno", "-fvisibility=hidden"]

# How hard gcc optimises, by the size of the module's C source. gcc's time grows with the
# code it optimises: -O3 on the MLP training step (~60 kernels, 127 KB) takes ~1.4 s, of
# which -O1 plus the loop vectoriser needs ~45%, and the step runs as fast (its time is in
# BLAS and in loops the vectoriser handles; a LeNet-style conv step was within 3%). Small
# modules (one fused loop, ~4 KB: the runtime header is included by name, not counted) keep
# -O3, which costs them little. (Until the header left the source the limit was 48 KB,
# ~42 KB of it the header: 6 KB of a graph's own code keeps that boundary.) -fstrict-aliasing is -O2's and keeps the aliasing rules the templates rely on;
# -O2's early-inlining budget inlines the runtime helpers before gcc looks for uninitialised
# values (at -O1's, ``CG_ALLOC`` of a 0-d array warns that its unset shape is read). Other
# compilers (clang) keep -O3 everywhere: these flags are gcc's.
FULL_OPTIMIZATION_BELOW = 6_000     # characters of generated C
FULL_OPTIMIZATION = ["-O3"]
# -fexpensive-optimizations (-O2's) is what runs gcc's vzeroupper pass: without it, code
# after a vectorised AVX loop calls libm's scalar functions (SSE) with the AVX state dirty,
# and each call stalls (W2's log_softmax: 190 us instead of 12; W4's softplus likewise).
LARGE_MODULE_OPTIMIZATION = ["-O1", "-ftree-vectorize", "-fvect-cost-model=dynamic",
                             "-fstrict-aliasing", "--param=early-inlining-insns=14",
                             "-fexpensive-optimizations"]

# Variables through which the environment silently changes what gcc compiles or links.
# The compiler runs without them, so the command line in the key is the whole story.
_COMPILER_ENV_DROPPED = ("CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC_INCLUDE_PATH",
                         "LIBRARY_PATH", "GCC_EXEC_PREFIX", "COMPILER_PATH",
                         "DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES", "GCC_COMPARE_DEBUG")

_PROBE_FIELDS = ("cc", "version", "target_flags", "vector_math", "openmp", "python_include",
                 "ext_suffix", "python_abi")

_INSTALL_HINT = ("Install one (Debian/Ubuntu: apt-get install gcc; Fedora: dnf install gcc; "
                 "macOS: xcode-select --install), or set CGRAPH_FLAGS=cc=/path/to/compiler, or "
                 "compile with mode='py' (cgraph.function(..., mode='py')) to run the graph with "
                 "numpy: slower, but no compiler needed.")


class CompilerMissing(RuntimeError):
    """No usable C compiler: raised at the first compile, never replaced by a silent fallback."""


class AssumedToolchain(dict):
    """A description read from the machine's record, not from the compiler found (if any):
    good for finding built modules; before building, cgraph probes the real compiler."""


def _which(cc):
    """shutil.which(cc) for a compiler command: shutil itself loads bz2, lzma and zlib
    (~2 ms of every ``import cgraph`` and warm start that asks for the compiler)."""
    if os.sep in cc:
        found = [cc]
    else:
        found = [os.path.join(d or os.curdir, cc)
                 for d in os.environ.get("PATH", os.defpath).split(os.pathsep)]
    return next((p for p in found if os.path.isfile(p) and os.access(p, os.X_OK)), None)


@functools.lru_cache(maxsize=None)
def toolchain(cc=None, probe_dir=None):
    """A dict describing the compiler: path, version, target flags, Python ABI (runs the
    compiler unless this binary's probe is remembered in ``probe_dir``)."""
    cc = cc or config.cc
    path = _which(cc)
    if path is None:
        raise CompilerMissing(
            f"cgraph needs a C compiler to build functions, and {cc!r} was not found"
            f"{'' if os.sep in cc else ' on PATH'}. {_INSTALL_HINT}")
    path = os.path.realpath(path)
    saved = binary_record(probe_dir, path) if probe_dir else None
    info = _read_probe(saved) if saved else None
    if info is None and saved:
        info = shipped_probe(saved, _PROBE_FIELDS)   # this binary's probe, made at install time
        if info is not None:
            _write_probe(saved, info)
    if info is None or info["cc"] != path:
        info = _probe(path)
        if saved:
            _write_probe(saved, info)
    if probe_dir:
        machine = _machine_record(probe_dir, cc)
        if _read_probe(machine) != info:
            _write_probe(machine, info)
    return info


@functools.lru_cache(maxsize=None)
def lookup(cc=None, probe_dir=None):
    """The compiler description to find built modules with, running nothing when a record
    has it: this compiler binary's, else the machine's (an AssumedToolchain), else a probe."""
    cc = cc or config.cc
    if probe_dir:
        path = _which(cc)
        if path is not None:
            path = os.path.realpath(path)
            try:
                info = _read_probe(binary_record(probe_dir, path))
            except OSError:
                info = None
            if info is not None and info["cc"] == path:
                return info
        info = _read_probe(_machine_record(probe_dir, cc))
        if info is not None and info["python_abi"] == sys.implementation.cache_tag:
            return AssumedToolchain(info)
    return toolchain(cc, probe_dir)


def binary_record(probe_dir: str, path: str) -> str:
    """The record of the compiler binary at ``path`` ("-sealed": older cgraphs, which may
    share the cache, read and write unsealed records under the bare stamp)."""
    return os.path.join(probe_dir, f"{_probe_stamp(path)}-sealed.json")


def _machine_record(probe_dir, cc):
    """The record of the description last probed for the compiler named ``cc`` on this
    machine type (CPU, Python installation, cgraph version), whichever binary it was."""
    parts = [cc, _cpu_identity(), sys.version, sys.base_prefix, sys.implementation.cache_tag,
             __version__]
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]
    return os.path.join(probe_dir, f"machine-{digest}.json")


def _probe_stamp(path):
    """Names the remembered probe: changes with the compiler binary, the CPU, the Python."""
    st = os.stat(path)
    parts = [path, str(st.st_size), str(st.st_mtime_ns), str(st.st_ino), _cpu_identity(),
             sys.version, sys.base_prefix, sys.implementation.cache_tag]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def _cpu_identity():
    """Model and feature flags of the first CPU (cheap: one small read of /proc/cpuinfo)."""
    wanted = ("vendor_id", "cpu family", "model", "model name", "flags", "Features",
              "CPU implementer", "CPU architecture", "CPU variant", "CPU part")
    try:
        with open("/proc/cpuinfo") as f:
            block = f.read(16384).split("\n\n", 1)[0]
    except OSError:
        import platform
        return f"{platform.machine()}|{platform.processor()}"
    lines = [line for line in block.splitlines() if line.split(":", 1)[0].strip() in wanted]
    return "\n".join(lines)


def _read_probe(saved):
    """The description recorded at ``saved``, or None (absent, or damaged: then set aside
    with a warning, and probed again)."""
    try:
        payload = read_sealed(saved, 1 << 20)
        if payload is None:
            return None
        info = json.loads(payload)
        if not isinstance(info, dict) or any(k not in info for k in _PROBE_FIELDS) or \
                not isinstance(info["target_flags"], list):
            raise BadFile(saved, "is not a compiler description")
    except (BadFile, ValueError) as exc:
        quarantine_file(os.path.dirname(os.path.dirname(saved)), saved,
                        exc.why if isinstance(exc, BadFile) else "is not valid JSON")
        return None
    return info


def _probe(path):
    import sysconfig    # here and below: probing runs once per compiler, not at each start
    proc = _run_probe([path, "--version"], path)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise CompilerMissing(f"the C compiler {path} does not work: '{path} --version' "
                              f"exited with {proc.returncode}: {proc.stderr.strip()[:500]}. "
                              f"{_INSTALL_HINT}")
    version = proc.stdout.splitlines()[0]
    full = _run_probe([path, "-dumpfullversion", "-dumpversion"], path).stdout.strip()
    return {
        "cc": path,
        "version": f"{version} ({full})",
        "target_flags": _native_flags(path),
        "vector_math": _vector_math(path),
        "openmp": _links(path, _OPENMP_TEST, ["-fopenmp"]),
        "python_include": sysconfig.get_paths()["include"],
        "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
        "python_abi": sys.implementation.cache_tag,
    }


# The probe's answers go into every key, so a compiler run that failed for want of resources
# must not pass for an answer: on a loaded machine (CI: many compilers at once) gcc can fail
# to start its cc1 or ld, or be killed, and a silent "no" (no -m flags, no libmvec, no
# OpenMP, an empty version) gave one machine two descriptions, so two caches gave one
# module two keys. Such a run is retried; if it keeps failing the probe fails loudly
# rather than be remembered.
_TRANSIENT = ("cannot execute", "Resource temporarily unavailable", "Cannot allocate memory",
              "No space left on device", "Killed signal", "killed by signal",
              "Too many open files", "vfork", "cannot fork")
PROBE_ATTEMPTS = 4


def _transient(proc) -> bool:
    """Whether a compiler run failed for the machine's sake rather than the code's."""
    return proc.returncode < 0 or (proc.returncode != 0 and
                                   any(t in proc.stderr for t in _TRANSIENT))


def _run_probe(command, path, **kwargs):
    """subprocess.run of one probing compiler run, retried while it fails transiently
    (see _TRANSIENT); CompilerMissing if it never gets through."""
    import subprocess
    import time
    why = ""
    for attempt in range(PROBE_ATTEMPTS):
        if attempt:
            time.sleep(0.02 * 5 ** attempt)      # 0.1, 0.5, 2.5 s
        try:
            proc = subprocess.run(command, capture_output=True, text=True,
                                  env=compiler_environment(), **kwargs)
        except OSError as exc:
            if not os.path.exists(path):
                raise CompilerMissing(f"cgraph could not run the C compiler {path} "
                                      f"({exc.strerror}). {_INSTALL_HINT}") from None
            why = exc.strerror
            continue
        if not _transient(proc):
            return proc
        why = proc.stderr.strip()[-300:] or f"exit status {proc.returncode}"
    raise CompilerMissing(f"cgraph: probing the C compiler {path} failed {PROBE_ATTEMPTS} "
                          f"times ({' '.join(command[1:])}): {why}")


def _native_flags(path):
    """The explicit -m flags that -march=native stands for on this CPU."""
    import shlex
    proc = _run_probe([path, "-march=native", "-E", "-v", "-"], path, input="")
    for line in proc.stderr.splitlines():
        if "cc1" in line and "-march=" in line:
            words = shlex.split(line)
            flags, i = [], 0
            while i < len(words):
                w = words[i]
                if w.startswith(("-march=", "-mtune=")) or (w.startswith("-m") and w[2:3].isalpha()
                                                             and not w.startswith("-mno-")):
                    flags.append(w)
                elif w.startswith("-mno-"):
                    flags.append(w)
                elif w == "--param" and i + 1 < len(words):
                    flags += [w, words[i + 1]]
                    i += 1
                i += 1
            return flags
    return []   # a compiler that cannot tell: build for its default target


_VECTOR_MATH_TEST = """
#pragma omp declare simd notinbranch
double exp(double);
void cg_probe(int n, const double *restrict x, double *restrict y)
{
    for (int i = 0; i < n; i++) y[i] = exp(x[i]);
}
"""


_OPENMP_TEST = """
#include <omp.h>
int cg_probe(void) { return omp_get_max_threads(); }
"""


def _vector_math(path):
    """Whether glibc's SIMD math library (libmvec) links: then fused loops calling exp, log,
    tanh... are vectorised (see templates/runtime.h); elsewhere they call scalar libm."""
    return _links(path, _VECTOR_MATH_TEST, ["-fopenmp-simd", "-fno-math-errno", "-lmvec", "-lm"])


def _links(path, code, flags):
    """Whether ``code`` builds into a shared library with ``flags``."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "probe.c")
        with open(source, "w") as f:
            f.write(code)
        proc = _run_probe([path, "-O3", "-fPIC", "-shared", source, "-o",
                           os.path.join(tmp, "probe.so"), *flags], path)
    return proc.returncode == 0


def optimization_flags(info, source_size):
    """The optimisation flags for a module of ``source_size`` characters (see above)."""
    version = info.get("version", "")
    is_gcc = ("gcc" in version or "GCC" in version) and "clang" not in version
    return LARGE_MODULE_OPTIMIZATION if is_gcc and source_size >= FULL_OPTIMIZATION_BELOW \
        else FULL_OPTIMIZATION


def compile_command(info, source_path, output_path, source_size=0):
    """The command building a CPython extension (the call path, templates/fastcall.c)."""
    return ([info["cc"], *optimization_flags(info, source_size), *BASE_FLAGS,
             *info["target_flags"], *vector_flags(info), f"-I{info['python_include']}",
             source_path, "-o", output_path, *math_libs(info)])


# Placeholders in a command kept in a cache key, replaced when the command runs: the
# runtime library's file (its folder differs between caches, its key is in the module's
# key), the runtime's shared-object name (made from its own key) and the include flag of
# the folder holding the runtime's header (the installed package's templates: the
# runtime's key covers the header's text, the install location stays out of keys).
RUNTIME_PATH = "@runtime"
RUNTIME_SONAME = "@soname"
RUNTIME_INCLUDE = "-I@include"


def module_command(info, source_path, output_path, source_size=0, runtime=True):
    """The command building a graph module: plain C (no Python.h), linked to the runtime
    library when ``runtime`` (its file name is the RUNTIME_PATH placeholder), its header
    found through RUNTIME_INCLUDE. Not built with -fvisibility=hidden: a module's only
    non-static symbols are its entry points."""
    flags = [f for f in BASE_FLAGS if f != "-fvisibility=hidden"]
    return ([info["cc"], *optimization_flags(info, source_size), *flags,
             *info["target_flags"], *vector_flags(info),
             *([RUNTIME_INCLUDE] if runtime else []), source_path, "-o", output_path,
             *([RUNTIME_PATH] if runtime else []), *math_libs(info)])


def runtime_unit_command(info, optimization, source_path, object_path):
    """The compile of one translation unit of the runtime library (templates/runtime.c.j2,
    cut by build_units) at ``optimization``, with OpenMP where the compiler has it (its
    elementwise driver runs blocks on the threads a module asks for; the settings only
    change what modules ask). Hidden visibility: the units share their internal functions,
    the library exports only the CG_API ones."""
    flags = [f for f in BASE_FLAGS if f != "-shared"]
    return [info["cc"], *optimization, *flags, *info["target_flags"], *_openmp_flags(info),
            "-c", source_path, "-o", object_path]


def runtime_command(info, objects, output_path):
    """The link of the runtime library from its units' ``objects``, named RUNTIME_SONAME so
    that a module's dependency on it resolves to the copy cgraph loaded first."""
    return [info["cc"], "-shared", "-fPIC", *_openmp_flags(info),
            f"-Wl,-soname,{RUNTIME_SONAME}", *objects, "-o", output_path, "-lm"]


def _openmp_flags(info):
    return ["-fopenmp"] if info.get("openmp") else []


def vector_flags(info: dict) -> list:
    """Compile flags of the vector loops: OpenMP's and libmvec's, as the probe found them."""
    return parallel.compile_flags(info) + (["-DCG_LIBMVEC"] if info["vector_math"] else [])


def math_libs(info: dict) -> list:
    """The math libraries to link with: libmvec when the probe found it, and libm."""
    return ["-lmvec", "-lm"] if info["vector_math"] else ["-lm"]


def compiler_environment():
    """The environment the compiler runs in: ours minus the variables that change its output,
    with messages in plain English (cgraph recognises 'No space left on device')."""
    env = {k: v for k, v in os.environ.items() if k not in _COMPILER_ENV_DROPPED}
    env["LC_ALL"] = "C"
    return env


def _write_probe(path, info):
    """Remember a probe (best effort: it only saves time; the cache may be read-only)."""
    write_sealed(path, json.dumps(info, indent=1, sort_keys=True).encode())
