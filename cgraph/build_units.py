"""Building a module split into translation units (cgraph/codegen/units.py): each unit is
compiled to an object file by its own compiler process, all at the same time, then the
objects are linked into the module.

The cache (cgraph/cache.py) treats such a build as one compiler run: ``unit_material`` gives
the commands that go into the key (one per unit, and the link as the key's ``command``), and
``start`` returns an object that behaves like the ``subprocess.Popen`` of a single compile
(``communicate``, ``returncode``, ``kill``), so the entry, its key, manifest, lock, failure
folder and quarantine are those of any module. The entry keeps ``module.c`` (every unit,
behind its marker line); the unit files and objects are build intermediates, removed once
the module is linked (kept with the rest when a unit fails to compile).
"""
import os
import time

from . import toolchain as _tc
from .codegen.units import UNIT_MARKER, unit_role

# Optimisation per kind of unit. The elementwise kernels (the loops the vectoriser must see)
# get -O3: on the MLP step (W3) they are 30 KB of C, 0.14 s of gcc at -O3 (0.09 s at the
# large-module level). Node blocks get the level the whole module would get as one unit
# (toolchain.optimization_flags: -O1 plus the vectoriser past 48 KB), so their run time is
# unchanged: they still hold loops (reductions, convolutions, pooling, sampling). Measured
# on the MLP step's blocks unit (118 KB, user CPU, min of 3): -O0 0.14 s, -O1 0.43 s, -O1 +
# vectoriser 0.49 s, -O2 0.63 s, -O3 0.93 s; once those loops live in the runtime library
# the blocks are glue and -O0 would do. Other compilers than gcc keep -O3 everywhere.
LOOPS_OPTIMIZATION = _tc.FULL_OPTIMIZATION


def optimization_flags(info: dict, unit_source: str, module_size: int) -> list:
    """The optimisation flags of one unit of a module of ``module_size`` characters."""
    if unit_role(unit_source) == "loops":
        return list(LOOPS_OPTIMIZATION)
    return _tc.optimization_flags(info, module_size)


def unit_sources(source: str) -> list:
    """The units of a split module's source, in order; [] for a module of one unit."""
    if not source.startswith(UNIT_MARKER):
        return []
    pieces = source.split("\n" + UNIT_MARKER)
    return [pieces[0]] + [UNIT_MARKER + p for p in pieces[1:]]


def unit_file(k: int) -> str:
    return f"unit{k}.c"


def _object_file(k):
    return f"unit{k}.o"


def unit_material(info: dict, source: str, output: str, runtime: bool) -> dict:
    """What a split module adds to (and changes in) its key material: ``unit_commands`` (the
    compile of each unit, at the optimisation its size calls for) and ``command`` (the link).
    {} for a module of one unit."""
    sources = unit_sources(source)
    if not sources:
        return {}
    flags = [f for f in _tc.BASE_FLAGS if f not in ("-shared", "-fvisibility=hidden")]
    compiles = [[info["cc"], *optimization_flags(info, text, len(source)), *flags,
                 *info["target_flags"], *_tc._vector_flags(info), "-c", unit_file(k), "-o",
                 _object_file(k)] for k, text in enumerate(sources)]
    link = [info["cc"], "-shared", "-fPIC", *_tc.parallel.compile_flags(info),
            *[_object_file(k) for k in range(len(sources))], "-o", output,
            *([_tc.RUNTIME_PATH] if runtime else []), *_tc._math_libs(info)]
    return {"command": link, "unit_commands": compiles}


class UnitsBuild:
    """The compiles of every unit, started together, then the link: a stand-in for the
    Popen of one compiler run. ``unit_seconds`` records each unit's compile wall time (and
    the link's), for build.json and the benchmarks' W6 report."""

    def __init__(self, unit_commands, link_command, folder, env):
        with open(os.path.join(folder, "module.c"), encoding="utf-8") as f:
            sources = unit_sources(f.read())
        if len(sources) != len(unit_commands):
            raise ValueError(f"module.c has {len(sources)} units, its key {len(unit_commands)}")
        for k, text in enumerate(sources):
            with open(os.path.join(folder, unit_file(k)), "w", encoding="utf-8") as f:
                f.write(text)
        self.folder, self.env, self.link_command = folder, env, link_command
        self.returncode = None
        self.unit_seconds = {}
        self._started = time.perf_counter()
        self._running = [(unit_file(k), self._popen(command))
                         for k, command in enumerate(unit_commands)]

    def _popen(self, command):
        import subprocess           # imported by builds only: a warm start runs none
        return subprocess.Popen(command, cwd=self.folder, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=self.env)

    def communicate(self):
        import threading
        results = {}

        def wait(name, proc):      # one waiter per unit: each unit's own wall time
            results[name] = proc.communicate()
            self.unit_seconds[name] = round(time.perf_counter() - self._started, 4)

        for name, _ in self._running:       # in the units' order, whichever ends first
            self.unit_seconds[name] = None
        waiters = [threading.Thread(target=wait, args=item) for item in self._running]
        for t in waiters:
            t.start()
        for t in waiters:
            t.join()
        out = b"".join(results[name][0] for name, _ in self._running)
        err = b"".join(results[name][1] for name, _ in self._running)
        failed = next((p.returncode for _, p in self._running if p.returncode), 0)
        self._running = []
        if failed:
            self.returncode = failed
            return out, err
        t0 = time.perf_counter()
        link = self._popen(self.link_command)
        self._running = [("link", link)]
        o, e = link.communicate()
        self._running = []
        self.unit_seconds["link"] = round(time.perf_counter() - t0, 4)
        self.returncode = link.returncode
        if link.returncode == 0:
            self._remove_intermediates()
        return out + o, err + e

    def kill(self):
        for _, proc in self._running:
            proc.kill()

    def _remove_intermediates(self):
        for k in range(len(self.unit_seconds) - 1):
            for name in (unit_file(k), _object_file(k)):
                try:
                    os.unlink(os.path.join(self.folder, name))
                except FileNotFoundError:
                    pass


def start(unit_commands: list, link_command: list, folder: str, env: dict) -> UnitsBuild:
    """Start compiling every unit of the module whose source is ``folder``/module.c."""
    return UnitsBuild(unit_commands, link_command, folder, env)
