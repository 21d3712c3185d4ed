"""The C compiler and everything about it that changes a built module.

The CPU target is written out feature by feature (what ``-march=native`` resolves to), so a
cache shared between machines never hands one CPU's code to another. Probing runs the
compiler, so its result is remembered per process and on disk, keyed by the compiler
binary's path, size and modification time.
"""
import functools
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig

from .config import config

BASE_FLAGS = ["-O3", "-fPIC", "-shared", "-Wall", "-fwrapv", "-fno-math-errno",
              "-fvisibility=hidden"]


class CompilerMissing(RuntimeError):
    pass


@functools.lru_cache(maxsize=None)
def toolchain(cc=None, probe_dir=None):
    """A dict describing the compiler: path, version, target flags, Python ABI."""
    cc = cc or config.cc
    path = shutil.which(cc)
    if path is None:
        raise CompilerMissing(
            f"cgraph needs a C compiler to build functions, and {cc!r} was not found on PATH. "
            f"Install one (Debian/Ubuntu: apt-get install gcc; Fedora: dnf install gcc), or "
            f"set CGRAPH_FLAGS=cc=/path/to/compiler, or compile with mode='py' to run the "
            f"graph with numpy (slower, no compiler needed).")
    path = os.path.realpath(path)
    st = os.stat(path)
    stamp = hashlib.sha256(f"{path}|{st.st_size}|{st.st_mtime_ns}|{sys.version}".encode()).hexdigest()[:24]
    if probe_dir:
        saved = os.path.join(probe_dir, f"{stamp}.json")
        try:
            with open(saved) as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
    info = _probe(path)
    if probe_dir:
        _write_json_atomic(saved, info)
    return info


def _probe(path):
    version = subprocess.run([path, "--version"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[0]
    full = subprocess.run([path, "-dumpfullversion", "-dumpversion"], capture_output=True,
                          text=True).stdout.strip()
    return {
        "cc": path,
        "version": f"{version} ({full})",
        "target_flags": _native_flags(path),
        "python_include": sysconfig.get_paths()["include"],
        "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
        "python_abi": sys.implementation.cache_tag,
    }


def _native_flags(path):
    """The explicit -m flags that -march=native stands for on this CPU."""
    proc = subprocess.run([path, "-march=native", "-E", "-v", "-"], input="",
                          capture_output=True, text=True)
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


def compile_command(info, source_path, output_path):
    return ([info["cc"], *BASE_FLAGS, *info["target_flags"], f"-I{info['python_include']}",
             source_path, "-o", output_path, "-lm"])


def _write_json_atomic(path, data):
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass   # the probe is only remembered to save time
