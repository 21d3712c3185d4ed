"""Building a module split into translation units (cgraph/codegen/units.py): each unit is
compiled to an object file by its own compiler process, as many at a time as there are
cores, then the objects are linked into the module.

The cache (cgraph/cache/) treats such a build as one compiler run: ``unit_material`` gives
the commands that go into the key (one per unit, and the link as the key's ``command``), and
``start`` returns an object that behaves like the ``subprocess.Popen`` of a single compile
(``communicate``, ``returncode``, ``kill``), so the entry, its key, manifest, lock, failure
folder and quarantine are those of any module. The entry keeps ``module.c`` (every unit,
behind its marker line); the unit files and objects are build intermediates, removed once
the module is linked (kept with the rest when a unit fails to compile).

The runtime library is built the same way (``runtime_unit_material``): its units are fixed
by its template (RUNTIME_UNITS), so its key is made without rendering it.
"""
import os
import time

from .. import parallel
from . import compiler as _tc

# Optimisation per kind of unit. The elementwise kernels (the loops the vectoriser must see)
# get -O3: on the MLP step (W3) they are 7 KB of C (and the header), 0.17 s of gcc at -O3
# (0.13 s at the large-module level). Node blocks get the level the whole module would get as one unit
# (toolchain.optimization_flags: -O1 plus the vectoriser past 6 KB), so their run time is
# unchanged: they still hold loops (fused reductions, softmax, advanced indexing,
# integer pooling, sampling; convolutions and float pooling are the runtime's). Measured
# on the MLP step's blocks unit (56 KB since the runtime header and the plain reductions
# left it; gcc 12, user+sys CPU, min of 3, loaded machine): -O0 0.10 s, -O1 0.26 s,
# -O1 + vectoriser 0.31 s, -O2 0.41 s, -O3 0.59 s (118 KB before: 0.14, 0.43, 0.49, 0.63,
# 0.93); its kernels' unit (7 KB) -O3 0.17 s, -O0 0.05 s.
# -O1 alone would leave its fused sums of squares scalar; once the remaining loops live in
# the runtime library the blocks are glue and -O0 would do. Other compilers than gcc keep -O3 everywhere.
# Flag sets tried per role on W6's units (blocks 51.7 KB, loops 7.4 KB; gcc 12, user+sys CPU,
# min of 5-7 interleaved, loaded machine): blocks as above 0.222 s; loop vectoriser only (no
# SLP) 0.215, -fvect-cost-model=cheap 0.221, -fno-semantic-interposition 0.223,
# -fno-asynchronous-unwind-tables 0.214, without gcc's IPA analyses (modref, pure-const,
# reference, profile) 0.212, no vectoriser 0.178, -O0 0.077. Loops at -O3 0.143; without
# epilogue vectorisation 0.139, without SLP 0.134, -O2 with the vectoriser 0.126,
# -fno-semantic-interposition 0.141. None cuts the blocks unit (the critical path: the two
# compile side by side) beyond noise short of dropping the vectoriser its loops need, and
# the loops unit finishes first, so the flags stay as they are.
# A split module is one source: each unit behind a marker line naming its number and role
# (see codegen/units.py, which writes it).
UNIT_MARKER = "/* @cgraph-unit "


def unit_role(unit_source: str) -> str:
    """What a unit holds: "blocks" (node blocks, cg_run) or "loops" (elementwise kernels)."""
    head = unit_source[:unit_source.index("*/")]
    return head.rsplit(":", 1)[1].strip() if ":" in head else "blocks"


LOOPS_OPTIMIZATION = _tc.FULL_OPTIMIZATION


def optimization_flags(info: dict, unit_source: str, module_size: int) -> list:
    """The optimisation flags of one unit of a module of ``module_size`` characters."""
    if unit_role(unit_source) == "loops":
        return list(LOOPS_OPTIMIZATION)
    return _tc.optimization_flags(info, module_size)


def cores() -> int:
    """The cores this process may run on: how many units compile at a time."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


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
                 *info["target_flags"], *_tc.vector_flags(info),
                 *([_tc.RUNTIME_INCLUDE] if runtime else []), "-c", unit_file(k), "-o",
                 _object_file(k)] for k, text in enumerate(sources)]
    link = [info["cc"], "-shared", "-fPIC", *parallel.compile_flags(info),
            *[_object_file(k) for k in range(len(sources))], "-o", output,
            *([_tc.RUNTIME_PATH] if runtime else []), *_tc.math_libs(info)]
    return {"command": link, "unit_commands": compiles}


# The runtime library's units, by role, in the order templates/runtime.c.j2 starts them.
RUNTIME_UNITS = ("runtime", "sampling", "gemm", "narrow", "gemm", "narrow", "convpool")

# Optimisation of the runtime library's units, by role (RUNTIME_UNITS), chosen by
# measurements with gcc 12 on a Rocket Lake (user CPU of each unit's compile; run time of
# the code paths against the library built as one -O3 unit, best of 90 calls):
# - runtime (buffers, copies, sums to a shape, broadcasting, BLAS operand handling, the
#   elementwise driver; 105 KB): -O2 0.78 s, -O3 1.7 s. At -O2 a sum to a shape (the gradient
#   of a broadcast bias, 500x500) ran 1.23x slower; -O2 with the loop vectoriser and loop
#   versioning for strides (1.28 s) runs it as fast.
# - sampling (Philox, binomial counts): -O2 0.73 s, -O3 1.6 s. At -O2 uniform and binomial
#   samples took 1.5x as long, at -O1 more; the loop vectoriser (1.0 s) runs them as fast.
# - gemm, the small-GEMM tiles of one dtype (and the transposed-A product on their skinny
#   path): -O2 0.33 s, -O3 0.40-0.44 s. At -O2 the copy of B's last, partial block of
#   columns is not vectorised (a 7x40 by 40x120 product ran 1.4-1.9x slower); at -O3 the
#   tiles run 6-17% faster than in the one -O3 unit.
# - narrow, the narrow kernels of one dtype (ops/narrow_gemm.c.j2): in the gemm units at -O3
#   they took 0.83 s (float) and 1.09 s (double) of those units' 1.18 and 1.44: their code
#   is vectorised by hand (vector types), and the loop vectoriser, versioning and peeling
#   the packing loops of cg_<p>gemm_narrow (everything inlined), doubled its size. A unit of
#   their own at -O3 without the loop vectoriser: 0.45-0.48 s and 0.51-0.53 s (-O3 with
#   -fvect-cost-model=very-cheap alike). Run time against the library before (W2's shapes,
#   CPU time per product, median of 4 interleaved processes, loaded machine): float32
#   600x784 by 784x10 138 -> 116 us, its x.T d 99 -> 104 us, 20x500 by 500x784 (B
#   transposed) 193 -> 192 us; float64 x W 312 -> 320 us, x.T d 191 -> 188 us. The rows
#   past the last full block of the outer form are copied by memcpy (scalar, that copy made
#   x.T d 17% slower).
# - convpool, the 2-d and 3-d convolutions and pooling (templates/ops/conv_driver.c.j2,
#   conv3d_driver.c.j2 (added later: not in the timings below),
#   pool_driver.c.j2; 116 KB with the header): -O2 0.78 s, -O2 with the loop vectoriser
#   0.99 s, -O3 1.49 s. Against the same code inlined in a module (-O1 + vectoriser), the
#   LeNet shapes (20 images of 20x8x8, 50 3x3 filters, 2x2 max pooling, float64; paired
#   CPU time, loaded machine): conv and its gradients as fast at every level, pooling 10%
#   faster, its gradient 22% faster at -O2 but only 10% at -O3 and 10% slower with the
#   vectoriser (its bit-mask loop).
# The runtime's gcc, unit by unit (gemm 1.18/1.44 s before the narrow kernels left, runtime
# 1.28-1.32, sampling 0.81-0.86): a noinline cg_binomial_<dtype> (16 instantiations, inlined
# into cg_binomial_counts) cut the sampling unit 4% only; the runtime unit at plain -O2
# takes 0.89 s, with the vectoriser 1.11 s, with loop versioning for strides too 1.28 s.
# All six units: 4.75 -> 3.95 s of CPU.
_VECTORISED_O2 = ["-O2", "-ftree-vectorize", "-fvect-cost-model=dynamic"]
RUNTIME_OPTIMIZATION = {"runtime": _VECTORISED_O2 + ["-fversion-loops-for-strides"],
                        "sampling": _VECTORISED_O2, "gemm": ["-O3"],
                        "narrow": ["-O3", "-fno-tree-loop-vectorize"],
                        "convpool": ["-O2"]}


def runtime_unit_material(info: dict, roles, output: str) -> dict:
    """The runtime library's key material for its build: ``unit_commands`` (the compile of
    each unit, by its role in ``roles``) and ``command`` (the link into ``output``)."""
    compiles = [_tc.runtime_unit_command(info, RUNTIME_OPTIMIZATION[role], unit_file(k),
                                         _object_file(k)) for k, role in enumerate(roles)]
    link = _tc.runtime_command(info, [_object_file(k) for k in range(len(roles))], output)
    return {"command": link, "unit_commands": compiles}


# Which units start first when there are more than cores (the runtime library's seven on two):
# the costliest, so that the cores finish together (longest first). gcc CPU seconds of the
# runtime's roles (gcc 12, Rocket Lake, loaded machine): runtime 1.31, sampling 0.83 (1.42
# since softmax, advanced indexing and the plain loops joined it), convpool 0.78, narrow
# 0.48 (float) and 0.52 (double), gemm 0.42 and 0.40. (With the four units before the
# narrow kernels had their own: in template order 2.76 s, longest first 2.50.)
RUNTIME_COST = {"sampling": 1.4, "runtime": 1.3, "convpool": 0.8, "narrow": 0.5, "gemm": 0.4}


def start_order(sources) -> list:
    """The order in which to start compiling the units ``sources``: the runtime's by the cost
    of their role (RUNTIME_COST), before a module's, which go by size."""
    def cost(k):
        text = sources[k]
        return RUNTIME_COST.get(unit_role(text), len(text) / 1e6)
    return sorted(range(len(sources)), key=lambda k: -cost(k))


class UnitsBuild:
    """The compiles of every unit, as many at a time as there are cores, then the link: a
    stand-in for the Popen of one compiler run. ``unit_seconds`` records each unit's own
    compile time (and the link's), for build.json and the benchmarks' W6 report."""

    def __init__(self, unit_commands, link_command, folder, env, parallel=None,
                 before_link=None, whole=None):
        """``whole``: the object file of a module of one unit, compiled from module.c as it
        is (the first step of a module compiled before its runtime library is loaded: see
        deferred_link.popen); else module.c is cut into its units' files."""
        self._mismatch = None
        if whole is None:
            with open(os.path.join(folder, "module.c"), encoding="utf-8") as f:
                sources = unit_sources(f.read())
            # a source cut otherwise than its key says (the runtime's key is made before
            # it is rendered) fails as a compile does: nothing runs, the folder is kept
            if len(sources) != len(unit_commands):
                self._mismatch = (f"cgraph: module.c has {len(sources)} translation units, "
                                  f"its key {len(unit_commands)}\n")
            for k, text in enumerate(sources if self._mismatch is None else []):
                with open(os.path.join(folder, unit_file(k)), "w", encoding="utf-8") as f:
                    f.write(text)
            self.names = [unit_file(k) for k in range(len(unit_commands))]
            self.intermediates = self.names + [_object_file(k) for k in range(len(unit_commands))]
            self.order = start_order(sources) if self._mismatch is None else []
        else:
            self.names, self.intermediates = ["module.c"], [whole]
            self.order = [0]
        self.folder, self.env, self.link_command = folder, env, link_command
        self.unit_commands = unit_commands
        self.before_link = before_link     # e.g. wait for the runtime library it links
        self.parallel = parallel or cores()
        self.returncode = None
        self.unit_seconds = dict.fromkeys(self.names)
        self._running = {}
        self._killed = False

    def _popen(self, command):
        import subprocess           # imported by builds only: a warm start runs none
        return subprocess.Popen(command, cwd=self.folder, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=self.env)

    def communicate(self):
        if self._mismatch is not None:
            self.returncode = 1
            return b"", self._mismatch.encode()
        import threading
        results = {}
        # the costliest units first, so that the cores finish together (see start_order)
        waiting = [self.names[k] for k in self.order]
        commands = dict(zip(self.names, self.unit_commands))
        take = threading.Lock()

        def compile_units():
            while True:
                with take:
                    if not waiting or self._killed or \
                            any(code for code, _, _ in results.values()):
                        return        # done, or a unit failed: the rest would be thrown away
                    name = waiting.pop(0)
                t0 = time.perf_counter()
                proc = self._running[name] = self._popen(commands[name])
                out, err = proc.communicate()
                del self._running[name]
                self.unit_seconds[name] = round(time.perf_counter() - t0, 4)
                results[name] = (proc.returncode, out, err)

        workers = [threading.Thread(target=compile_units)
                   for _ in range(min(self.parallel, len(self.names)))]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        done = [results[name] for name in self.unit_seconds if name in results]
        out, err = b"".join(r[1] for r in done), b"".join(r[2] for r in done)
        failed = next((code for code, _, _ in done if code), 0)
        if failed or len(done) < len(self.unit_commands):
            self.returncode = failed or -9
            return out, err
        if self.before_link is not None:
            self.before_link()
        t0 = time.perf_counter()
        link = self._running["link"] = self._popen(self.link_command)
        o, e = link.communicate()
        del self._running["link"]
        self.unit_seconds["link"] = round(time.perf_counter() - t0, 4)
        self.returncode = link.returncode
        if link.returncode == 0:
            self._remove_intermediates()
        return out + o, err + e

    def kill(self):
        self._killed = True
        for proc in list(self._running.values()):
            proc.kill()

    def _remove_intermediates(self):
        for name in self.intermediates:
            try:
                os.unlink(os.path.join(self.folder, name))
            except FileNotFoundError:
                pass


def start(unit_commands: list, link_command: list, folder: str, env: dict,
          before_link=None) -> UnitsBuild:
    """Start compiling every unit of the module whose source is ``folder``/module.c;
    ``before_link()`` runs once they compiled, before the link."""
    return UnitsBuild(unit_commands, link_command, folder, env, before_link=before_link)
