"""Which tile variant of the small-GEMM kernel runs on this CPU: measured once, kept in the cache.

The runtime library compiles every tile variant of ``templates/ops/small_gemm.c.j2`` for the
CPU's features. Which one is fastest depends on the CPU (its vector registers, the width and
number of its FMA units, their latency), so rather than a table of CPUs, cgraph times the
variants on first use, on product shapes the kernel takes (a recurrent layer's, a small
batch's), and keeps the choice in the cache: a sealed record under ``tuning/`` named after the
runtime library's key (compiler, CPU features, templates), the CPU's identity (vendor, family,
model, name), the number of threads BLAS runs and the core OpenBLAS chose its kernels for (it
is timed against BLAS: OPENBLAS_CORETYPE=Haswell on a Zen 4 is another BLAS than its SkylakeX
kernels). A record that is damaged, edited or made for another library, CPU or BLAS is set
aside with a warning and the variants are timed again; a record of the format before the BLAS
core was named is not found under the new names, so it is timed again too. The units built at
install time (cgraph/prebuilt.py) ship the record timed there: an empty cache on the same CPU
takes it instead of timing (see shipped_record). On a busy machine the timings go on until the
choice holds (_rounds_until_stable). How busy the machine was is measured over the timing
itself (LoadProbe: /proc/stat) and kept in the record; a record made under load is used as it
is, never timed again on the call path (that cost a warm function() 0.3-0.6 s): ``python -m
cgraph cache retune`` times it again, and so does ``cache prebuild`` (retune). Not a thread in
the background either: it would time beside the program's first steps, on the same cores (W3's
steps took 1.5-1.9x as long beside it, in all no less than timing first, and its timings,
disturbed by them, chose differently). A new timing prefers the choice in force where it cannot
tell it from the best (measure's ``previous``), so that repeated timings on one machine agree.

The same timings decide who runs skinny products too large for the small kernel (one side
at most 32, e.g. a minibatch of 20 times a 784 x 500 layer): a variant where it beats BLAS on
this CPU by 5% over the kind's shapes (geometric mean; operands evicted from the caches
first, as a layer's weights are; the weight gradients' kind x.T d added into C, as an
update adds them: UPDATE_SHAPES), else BLAS.
Where the few-rows kind ("m") goes to a tile, h W.T (that kind with B a transposed layer) is
timed too, by each dot tile and by packed panels on that tile (TRANSPOSED_B_SHAPES, evicted),
and runs on the fastest (the record's "transposed_b"; a record without one runs the library's
default, the first dot tile).
When BLAS runs on several threads the variants are timed on as many (the kernel splits a
product among the threads a module gives it), and a module that gives a product fewer
threads leaves it to BLAS (cg_set_gemm_skinny_threads).

BLAS is a candidate for the small products too: where it beats the best tile by 5% over SHAPES
(the skinny kinds' rule, the roles swapped), the small kernel declines them and BLAS runs (the
record's variant is None, "BLAS" in `cache show`; the best tile stays as "tile", the one a
later timing prefers in a tie). On a Zen 4 OpenBLAS's SkylakeX kernels, called from C, did: the
best tile took 1.18-1.22x BLAS's time in float32, 1.17-1.18x in float64 (geometric means, four
timings; on a Zen 5 BLAS was 3-20% ahead on W7's shapes). Under load the tile's times seldom
agree and 1.2x is short of SKINNY_CLEAR: such a record keeps the tile until retuned.

The record also says from which size (m*n*k) the narrow kernels (templates/ops/narrow_gemm.c.j2:
at most 12 columns) take a product from BLAS, per dtype and form (A by rows: x W; A by
columns: x.T d), timed over products grown from W3's to W2's (NARROW_SHAPES, measure_narrow;
~0.18 s of CPU): on a Zen 4 OpenBLAS's SkylakeX small-matrix kernels, which it runs up to 1M
multiply-adds, beat them there (W3's h W2 in both dtypes and h.T d2 in float64: 0.56-0.65x
their time, warm), its general path lost to them past it (W2's products: 1.7-2.3x). A record without that choice
(the format before) is set aside and timed again.

Each row count m up to 32 of the small products runs on the fastest for it of the kind's
choice, BLAS and the tiles near the best; of the skinny "m" kind, where it runs a tile, on
the fastest tile of that tile's width (measure_by_m, the record's "by_m"): a 12-row tile runs
16 rows as 12 + 4, 1.25-1.32x the time of an 8-row tile's 8 + 8 on a Zen 4, and a small-
product tile chosen by the geometric mean over SHAPES (under load: 12x2v32 in float64) can
lose to BLAS on W7's 16 rows. Timed warm, 0.15-0.16 s of CPU for the four tables on a busy
machine (the rounds' cap), about a third of that where the first rounds agree; a record
without it (the format before) is timed again.

``CGRAPH_GEMM_VARIANT=<name>`` forces one variant (or ``BLAS``) for both dtypes (to compare
them); ``CGRAPH_GEMM_SKINNY=blas`` leaves every skinny product to BLAS;
``CGRAPH_GEMM_NARROW=kernel`` gives the narrow kernels every narrow product they can take (the
rule before they were timed), ``=blas`` none; ``CGRAPH_GEMM_BY_M=off`` runs each kind's tile
for every m.
"""
import ctypes
import hashlib
import json
import math
import os
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from . import cache
from .cache.shipped import prebuilt_dir, shipped_tuning
from .cache_files import BadFile, read_sealed, write_sealed

DTYPES = ("float32", "float64")
_PREFIX = {"float32": "s", "float64": "d"}

# (m, n, k) of the products timed: a recurrent layer's (batch 16, 32 inputs, 64 units, and its
# gradients), a square one and shapes whose sizes are not multiples of any tile.
SHAPES: Tuple[Tuple[int, int, int], ...] = (
    (16, 64, 32), (16, 64, 64), (64, 64, 16), (32, 64, 16), (64, 64, 64), (20, 100, 50),
    (7, 40, 120))
# Skinny products past the small limit, by the side that is at most 32 (the kinds of
# cg_set_<p>gemm_skinny_variant): a minibatch times a layer, a layer times a few classes, a
# weight gradient summed over a minibatch.
SKINNY_SHAPES: Dict[str, Tuple[Tuple[int, int, int], ...]] = {
    "m": ((20, 500, 784), (32, 256, 300)),
    "n": ((600, 10, 784), (500, 20, 300)),
    "k": ((784, 500, 20), (300, 256, 32))}
SKINNY_KINDS = ("m", "n", "k")
# h W.T (a minibatch times a transposed layer, cg_<p>gemm_transposed_b_skinny): by the dot
# tiles or by packed panels on the "m" kind's tile, timed (evicted) where that kind went to a
# tile. On a Zen 4 the dot tiles took 0.76x the panels' time in float32, 0.84x in float64
# (their in-register transposes are dear on AVX-512's 256-bit units); the panels were chosen
# on a Zen 5 before the dot tiles existed. "panels" names them in the record.
TRANSPOSED_B_SHAPES: Tuple[Tuple[int, int, int], ...] = ((20, 784, 500), (32, 300, 256))
PANELS = "panels"
BLAS = "BLAS"       # (a tile per row count's name for BLAS)
# A weight gradient summed over a minibatch, x.T d, is added into the weights (an update:
# Gemm's beta = 1, the weights out of L2), so the "k" kind is timed so (c_timer; A the
# transposed view, which the tiles copy by rows): timed with A by rows and C only written,
# the tiles tied or beat OpenBLAS on a Zen 4 (6x4v64: 0.93-1.05x its time) where in the steps
# of W3 and W4 they lost to it by 1-12%; timed as an update, 6x4v64 took 1.08-1.13x
# OpenBLAS's time in float32, 0.96-1.05x in float64.
UPDATE_SHAPES = frozenset(SKINNY_SHAPES["k"])
# Products with a narrow result (n <= 12 columns: templates/ops/narrow_gemm.c.j2) by form:
# A's rows contiguous ("dot", x W) or its columns ("outer", x.T d, added into C as a weight
# gradient is). The narrow kernels pack B (k x n) and keep few sums, so the side that pays
# for that (m for the dot form, k for the outer one) is grown from W3's products (20x500 by
# 500x10, 500x20 by 20x10) to W2's (600x784 by 784x10, 784x600 by 600x10); BLAS takes every
# product below the size (m*n*k) whose choice makes the ladder fastest (_narrow_from). On a
# Zen 4 the kernels took 1.2-2.4x the time of OpenBLAS's SkylakeX small-matrix kernels
# (taken by OpenBLAS up to 1M multiply-adds), 0.46-0.84x that of its general path past them
# (best of 9, warm, both dtypes, n = 10 and 4); the outer form in float32 took 0.85-1.04x
# its time below too.
NARROW_SHAPES: Dict[str, Tuple[Tuple[int, int, int], ...]] = {
    "dot": ((20, 10, 500), (50, 10, 500), (100, 10, 500), (150, 10, 500), (200, 10, 500),
            (250, 10, 500), (600, 10, 784)),
    "outer": ((500, 10, 20), (500, 10, 50), (500, 10, 100), (500, 10, 150), (500, 10, 200),
              (500, 10, 250), (784, 10, 600))}
NARROW_FORMS = ("dot", "outer")
# The tile per row count (cg_set_<p>gemm_variant_for_m): each m up to BY_M rows is timed
# (warm, BY_M_SECONDS a timing) on BY_M_SHAPES' n x k by the kind's own and a few others
# (by_m_candidates: for the small products BLAS and the tiles within BY_M_WITHIN of the
# fastest; for the "m" kind, where it runs a tile, those of its width), and runs on the
# fastest: a tile of mr rows runs m as passes of mr and a remainder on a smaller tile, which
# can cost more than its rows (Zen 4, 16x64x64: 12x2v64's 12 + 4 rows took 1.25x float32's,
# 1.32x float64's time of 8x2v64's 8 + 8; best of 41, paired). A tie (NOISE) goes to the tile
# in force for that m, then to the kind's own. "small": the small products (W7's 16x64x64
# is theirs), "m": the skinny "m" kind (W3's 20x784 by 784x500).
BY_M = 32
BY_M_TABLES = ("small", "m")
BY_M_SHAPES = {"small": (64, 64), "m": (128, 256)}
BY_M_SECONDS = 3e-5
BY_M_WITHIN = 1.15
BY_M_CANDIDATES = 3
SKINNY_MARGIN = 0.95        # a variant takes a kind from BLAS only when 5% faster: noise
# A variant this much faster than BLAS takes the kind even when BLAS's rounds do not agree
# (under load): BLAS would have to be slowed by a quarter in every round, and the variants
# timed between its timings not.
SKINNY_CLEAR = 0.8
# Candidates within NOISE of the best are a tie, settled by preference (the choice in force,
# then the dtype's small-product variant unless BLAS runs those): the geometric means of the
# best rounds vary by up to ~2% from one timing to the next on one machine (4 fresh timings,
# Zen 5), and 8x2v64 and 12x2v64 are that close on the "n" kind.
NOISE = 1.03
SKINNY_ROUNDS = 3           # each timing of a skinny product evicts the caches: fewer rounds
ROUNDS = 5                  # each variant timed at least this many times per shape, interleaved
# Timing on a busy machine (its other processes share the core's caches and FMA units, and a
# burst of load slows whatever runs then): rounds go on past ROUNDS (SKINNY_ROUNDS) until the
# choice has stayed the same for STABLE_ROUNDS rounds and every candidate's best time has been
# met again within CONFIRM by CONFIRM_COUNT - 1 other rounds (a candidate slowed in every
# round so far is not known yet: its best time is not its time; two slowed rounds may agree
# by chance, three rarely), or MAX_ROUND_FACTOR times the rounds or EXTRA_SECONDS of CPU past
# the first rounds are spent (with ~20 runnable processes on 2 cores: 0.7 s of CPU in all,
# against 0.27 s for the fixed rounds, which then picked different skinny variants from one
# run to the next; a quiet machine stops at the first rounds).
STABLE_ROUNDS = 3
CONFIRM = 1.02
CONFIRM_COUNT = 3
MAX_ROUND_FACTOR = 3
EXTRA_SECONDS = 0.05
# A record is made on a busy machine when other processes kept more than BUSY of the CPUs
# busy during the timing (LoadProbe), or its timings spread by more than SPREAD_LIMIT (the
# median round over the best, over every candidate and shape); `cache show` says so.
BUSY = 0.25
SPREAD_LIMIT = 1.15
# /proc/stat counts in ticks (USER_HZ); a sample of fewer ticks than this, over every CPU,
# is too short to tell (the timing takes ~0.3 s: ~60 ticks on 2 CPUs).
MIN_TICKS = 20
SECONDS_PER_TIMING = 3e-4   # about this long per timing (the product repeated)
FOLDER = "tuning"

# A timer: (dtype, variant id or -1 for BLAS, (m, n, k)) -> seconds per product.
Timer = Callable[[str, int, Tuple[int, int, int]], float]
# A narrow timer: (dtype, form, path: 0 the narrow kernel or -1 BLAS, (m, n, k)) -> seconds.
NarrowTimer = Callable[[str, str, int, Tuple[int, int, int]], float]

_applied: Dict[str, object] = {}     # the choice in force in this process (see chosen())


def variant_names(lib) -> List[str]:
    """The names of the runtime library's tile variants, by id."""
    get = lib.cg_gemm_variant_name
    get.restype, get.argtypes = ctypes.c_char_p, [ctypes.c_int]
    names = []
    while True:
        name = get(len(names))
        if name is None:
            return names
        names.append(name.decode())


def dot_tile_names(lib) -> List[str]:
    """The names of the runtime library's dot tiles for h W.T, by id."""
    get = lib.cg_gemm_dot_tile_name
    get.argtypes, get.restype = [ctypes.c_int], ctypes.c_char_p
    names = []
    while get(len(names)) is not None:
        names.append(get(len(names)).decode())
    return names


def transposed_b_timer(lib, threads: int = 1):
    """Times h W.T in C (cg_<p>gemm_transposed_b_time, evicted first): (dtype, form (-1: the
    panels), (m, n, k), the panels' tile variant) -> seconds per product."""
    functions = {}
    for dtype, p in _PREFIX.items():
        f = getattr(lib, f"cg_{p}gemm_transposed_b_time")
        f.restype = ctypes.c_double
        f.argtypes = [ctypes.c_int, ctypes.c_int] + [ctypes.c_int64] * 4 + [ctypes.c_int]
        functions[dtype] = f

    def timer(dtype, form, shape, variant):
        seconds = functions[dtype](form, variant, *shape, 1, threads)
        if seconds < 0:
            raise MemoryError(f"cgraph: cannot time h W.T by form {form}")
        return seconds
    return timer


def transposed_b_choice(timer, dtype: str, forms: Sequence[str], variant: int,
                        previous: Optional[str] = None) -> dict:
    """How h W.T runs for dtype: the fastest of the panels (on tile ``variant``) and the dot
    tiles ``forms`` by the geometric mean over TRANSPOSED_B_SHAPES of its time relative to
    the fastest's, a tie (NOISE) to ``previous`` (the form in force), then to the first dot
    tile (the library's default: 3x8v64 and 3x8v32 tie on a Zen 4); timed in rounds until
    the choice holds. {"form": a name or PANELS, "scores", "rounds", "spread"}."""
    names = [PANELS] + list(forms)

    def decide(timings):
        scores = _geometric_means(timings.best(), min)
        return _preferred(dict(zip(names, scores)), names, [previous, names[1]])
    form, timings = _rounds_until_stable(lambda d, c, shape: timer(d, c, shape, variant), dtype,
                                         range(-1, len(forms)), TRANSPOSED_B_SHAPES,
                                         SKINNY_ROUNDS, decide)
    return {"form": form, "scores": dict(zip(names, _geometric_means(timings.best(), min))),
            "rounds": timings.count, "spread": timings.spread()}


def measure_transposed_b(choice: dict, names: Sequence[str], forms: Sequence[str], timer,
                         previous: Optional[dict] = None) -> None:
    """Add to each dtype's choice how h W.T runs ("transposed_b"), where the "m" kind went to
    a tile variant (else BLAS runs h W.T: nothing to choose)."""
    for dtype, c in choice.items():
        tile = c["skinny"]["m"]["variant"]
        if tile is not None and forms:
            before = ((previous or {}).get(dtype) or {}).get("transposed_b") or {}
            c["transposed_b"] = transposed_b_choice(timer, dtype, forms, names.index(tile),
                                                    before.get("form"))


def _kind_variant(choice: dict, table: str) -> str:
    """The variant a kind runs ("BLAS": none): the small products' or the skinny "m" kind's."""
    return (choice["variant"] if table == "small" else choice["skinny"]["m"]["variant"]) or BLAS


def _width(name: str) -> Tuple[int, int]:
    """(vectors, bytes a vector) of a tile's row: "12x2v64" -> (2, 64)."""
    rows, _, rest = name.partition("x")
    vectors, _, size = rest.partition("v")
    return int(vectors), int(size)


def by_m_candidates(choice: dict, table: str, names: Sequence[str]) -> List[str]:
    """The kind's own (a tile, or BLAS), then its other candidates by the kind's own timing:
    for the small products BLAS and the tiles within BY_M_WITHIN of the fastest tile (at most
    BY_M_CANDIDATES tiles; timed per m on W7's n x k, warm, as they run); for the "m" kind
    (where it runs a tile) the variants of its width alone (the same blocks of columns,
    other heights: they differ in how they split m rows alone), as a width or BLAS timed on
    one warm n x k would be chosen for it (12x2v32 ahead of 12x2v64 on 20 x 128 x 256 warm
    ran W3's 20x784x500 cold at 0.90-0.95x its speed; BLAS runs it cold, past its
    small-matrix kernels)."""
    own = _kind_variant(choice, table)
    if table == "small":
        scores = {n: s for n, s in choice["scores"].items() if n in names}
        best = min(scores.values())
        tiles = sorted((n for n in scores if scores[n] <= BY_M_WITHIN * best),
                       key=lambda n: scores[n])[:BY_M_CANDIDATES]
        return [own] + [c for c in [BLAS] + tiles if c != own]
    if own == BLAS:
        return [own]
    scores = choice["skinny"]["m"]["vs_blas"]
    same = sorted((n for n in names if n != own and _width(n) == _width(own)),
                  key=lambda n: scores.get(n, math.inf))
    return ([own] + same)[:BY_M_CANDIDATES]


def row_passes(name: str, m: int) -> Tuple[int, ...]:
    """The tiles (by rows they hold) a variant runs m rows on: passes of its mr rows and the
    remainder on the smallest of its capacities that holds it (templates/ops/small_gemm.c.j2:
    its mr and 2, 4, 6, 8 below it)."""
    mr = int(name.partition("x")[0])
    rest = m % mr
    last = (min(c for c in [2, 4, 6, 8, mr] if c <= mr and c >= rest),) if rest else ()
    return (mr,) * (m // mr) + last


def by_m_choice(timer: Timer, dtype: str, table: str, names: Sequence[str],
                candidates: Sequence[str], before: Optional[dict] = None) -> dict:
    """The tile for each m from 1 to BY_M in a table: the fastest of ``candidates`` (the
    first: the kind's own) on m x BY_M_SHAPES[table], a tie (NOISE) to the one in force for
    that m (``before``: the table's record), then to the kind's own; timed in rounds until
    the choice holds. An m the candidates all run on the same tiles (of one width, the same
    row_passes: m <= 8 for 12x2v64 and 8x2v64) is not timed: the kind's own.
    {"variants": {"m": name or "BLAS"}, "rounds", "spread"}."""
    n, k = BY_M_SHAPES[table]
    shapes = [(m, n, k) for m in range(1, BY_M + 1)
              if len({(c,) if c == BLAS else (_width(c), row_passes(c, m))
                      for c in candidates}) > 1]
    in_force = (before or {}).get("variants") or {}
    if not shapes:
        return {"variants": {str(m): candidates[0] for m in range(1, BY_M + 1)},
                "rounds": 0, "spread": 1.0}

    def decide(timings):
        best = timings.best()
        return tuple(_preferred(dict(zip(candidates, best[shape])), candidates,
                                [in_force.get(str(shape[0])), candidates[0]])
                     for shape in shapes)
    ids = [-1 if c == BLAS else names.index(c) for c in candidates]
    picks, timings = _rounds_until_stable(timer, dtype, ids, shapes, SKINNY_ROUNDS, decide)
    timed = {shape[0]: pick for shape, pick in zip(shapes, picks)}
    return {"variants": {str(m): timed.get(m, candidates[0]) for m in range(1, BY_M + 1)},
            "rounds": timings.count, "spread": timings.spread()}


def measure_by_m(choice: dict, names: Sequence[str], timer: Timer,
                 previous: Optional[dict] = None) -> None:
    """Add to each dtype's choice the tile per row count ("by_m": {table: by_m_choice, or
    None where there is one candidate: the "m" kind on BLAS, or alone of its width})."""
    for dtype, c in choice.items():
        before = ((previous or {}).get(dtype) or {}).get("by_m") or {}
        c["by_m"] = {}
        for table in BY_M_TABLES:
            candidates = by_m_candidates(c, table, names)
            c["by_m"][table] = by_m_choice(timer, dtype, table, names, candidates,
                                           before.get(table)) if len(candidates) > 1 else None


def cpu_identity() -> str:
    """The CPU's vendor, family, model and name (/proc/cpuinfo), or what platform knows."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break           # the first processor is enough
                name, _, value = line.partition(":")
                fields[name.strip()] = value.strip()
    except OSError:
        pass
    if "vendor_id" in fields:
        return (f"{fields.get('vendor_id')} family {fields.get('cpu family', '?')} model "
                f"{fields.get('model', '?')} ({fields.get('model name', '?')})")
    import platform
    return f"{platform.machine()} ({platform.processor() or 'unknown'})"


def c_timer(lib, cold: bool = False, threads: int = 1,
            seconds_per_timing: float = SECONDS_PER_TIMING) -> Timer:
    """Times a variant (-1: BLAS) in C (cg_<p>gemm_time_threads): warm, the product repeated to
    take about ``seconds_per_timing`` at 50 GFLOP/s; ``cold``, once, its operands evicted from the
    caches first (a layer's weights, met once per training step), and for UPDATE_SHAPES
    run as an update (cg_<p>gemm_time's CG_TIME_UPDATE: A transposed, added into C); a
    variant as it runs on ``threads`` threads, BLAS on its own."""
    functions = {}
    for dtype, p in _PREFIX.items():
        f = getattr(lib, f"cg_{p}gemm_time_threads")
        f.restype = ctypes.c_double
        f.argtypes = [ctypes.c_int] + [ctypes.c_int64] * 4 + [ctypes.c_int, ctypes.c_int]
        functions[dtype] = f

    def timer(dtype: str, variant: int, shape: Tuple[int, int, int]) -> float:
        """Seconds per product of variant (-1: BLAS) on shape."""
        m, n, k = shape
        reps = 1 if cold else max(1, int(seconds_per_timing * 5e10 / (2 * m * n * k)))
        mode = (2 if shape in UPDATE_SHAPES else 1) if cold else 0
        seconds = functions[dtype](variant, m, n, k, reps, mode, threads)
        if seconds < 0:
            raise MemoryError(f"cgraph: cannot time the small-GEMM variant {variant}")
        return seconds / reps
    return timer


def c_narrow_timer(lib, threads: int = 1) -> NarrowTimer:
    """Times the narrow kernel (path 0) or BLAS (-1) in C (cg_<p>gemm_narrow_time): warm, the
    product repeated to take about SECONDS_PER_TIMING at 50 GFLOP/s; the outer form as a
    weight gradient (A a transposed view, added into C); the kernel on ``threads``."""
    functions = {}
    for dtype, p in _PREFIX.items():
        f = getattr(lib, f"cg_{p}gemm_narrow_time")
        f.restype = ctypes.c_double
        f.argtypes = [ctypes.c_int, ctypes.c_int] + [ctypes.c_int64] * 4 + [ctypes.c_int] * 2
        functions[dtype] = f

    def timer(dtype: str, form: str, path: int, shape: Tuple[int, int, int]) -> float:
        m, n, k = shape
        reps = max(1, int(SECONDS_PER_TIMING * 5e10 / (2 * m * n * k)))
        seconds = functions[dtype](path, NARROW_FORMS.index(form), m, n, k, reps, 0, threads)
        if seconds < 0:
            raise MemoryError(f"cgraph: cannot time the narrow kernel on {shape}")
        return seconds / reps
    return timer


def load_per_core() -> float:
    """Runnable processes per core besides this one (the 1-minute load average), or 0.0
    where the system does not say: LoadProbe's reading where /proc/stat is missing."""
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return 0.0
    return round(max(0.0, load - 1.0) / (os.cpu_count() or 1), 3)


def read_proc_stat(path: str = "/proc/stat") -> Optional[Tuple[int, int]]:
    """(busy, all) ticks of every CPU since boot, from /proc/stat's first line, or None where
    there is none. Busy is all but idle and iowait; steal (the hypervisor running another
    guest) counts as busy: it slows a timing like another process."""
    try:
        with open(path) as f:
            fields = f.readline().split()
        ticks = [int(x) for x in fields[1:9]]   # user nice system idle iowait irq softirq steal
    except (OSError, ValueError):
        return None
    if not fields or fields[0] != "cpu" or len(ticks) < 4:
        return None
    idle = sum(ticks[3:5])
    return sum(ticks) - idle, sum(ticks)


_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class LoadProbe:
    """How busy other processes kept the CPUs while something ran here, as a share of all the
    CPUs' time (0: idle, 1: every CPU busy with others): /proc/stat's busy ticks over the
    interval less this process's own CPU time (all its threads). Unlike the load average it
    does not lag: a timing right after a heavy job ended reads quiet, one right after a job
    started reads busy. Where /proc/stat is missing or the interval too short to count, the
    1-minute load average at either end (load_per_core)."""

    def __init__(self, stat: Callable[[], Optional[Tuple[int, int]]] = None,
                 own_seconds: Callable[[], float] = time.process_time):
        self.stat = stat or read_proc_stat
        self.own_seconds = own_seconds
        self.start_ticks, self.start_own = self.stat(), own_seconds()
        self.start_load = load_per_core() if self.start_ticks is None else None

    def other_load(self) -> float:
        """The other processes' share of the CPUs since the probe was made."""
        ticks, own = self.stat(), self.own_seconds() - self.start_own
        if self.start_ticks is None or ticks is None or \
                ticks[1] - self.start_ticks[1] < MIN_TICKS:
            before = load_per_core() if self.start_load is None else self.start_load
            return max(before, load_per_core())
        busy, total = ticks[0] - self.start_ticks[0], ticks[1] - self.start_ticks[1]
        others = busy - own * _TICKS_PER_SECOND
        return round(min(1.0, max(0.0, others / total)), 3)


class _Rounds:
    """Every timing of each candidate on each shape, taken in interleaved rounds (each round
    times every candidate on every shape once, so a burst of load hits them all alike)."""

    def __init__(self, timer, dtype, candidates, shapes):
        self.timer, self.dtype, self.candidates = timer, dtype, list(candidates)
        self.shapes = [tuple(s) for s in shapes]
        self.times = {s: [[] for _ in self.candidates] for s in self.shapes}

    def run_round(self):
        for shape in self.shapes:
            for i, candidate in enumerate(self.candidates):
                self.times[shape][i].append(self.timer(self.dtype, candidate, shape))

    def best(self):
        """{shape: [best seconds of each candidate]}"""
        return {s: [min(t) for t in ts] for s, ts in self.times.items()}

    def confirmed(self, candidate: Optional[int] = None, within: float = CONFIRM) -> bool:
        """Every best time (of the candidate at that position, else of all) met again, within
        ``within``, by CONFIRM_COUNT - 1 other rounds."""
        return all(len(t) >= CONFIRM_COUNT and sorted(t)[CONFIRM_COUNT - 1] <= within * min(t)
                   for ts in self.times.values()
                   for t in (ts if candidate is None else [ts[candidate]]))

    @property
    def count(self) -> int:
        """How many rounds were timed."""
        return len(next(iter(self.times.values()))[0])

    def spread(self) -> float:
        """The median over candidates and shapes of (median round / best round)."""
        ratios = sorted(sorted(t)[len(t) // 2] / min(t) if min(t) > 0 else 1.0
                        for ts in self.times.values() for t in ts)
        return round(ratios[len(ratios) // 2], 3) if ratios else 1.0


def _rounds_until_stable(timer, dtype, candidates, shapes, rounds, decide):
    """Time the candidates in rounds (at least ``rounds``, at most MAX_ROUND_FACTOR times
    that and EXTRA_SECONDS of CPU past the first ``rounds``) until ``decide(rounds)`` has
    given the same answer STABLE_ROUNDS rounds running and every best time is confirmed;
    returns (the last answer, the _Rounds)."""
    timings = _Rounds(timer, dtype, candidates, shapes)
    answers = []
    extra_from = None
    for r in range(max(1, rounds) * MAX_ROUND_FACTOR):
        timings.run_round()
        answers.append(decide(timings))
        if r + 1 < rounds:
            continue
        if len(answers) >= STABLE_ROUNDS and timings.confirmed() and \
                len(set(map(repr, answers[-STABLE_ROUNDS:]))) == 1:
            break
        extra_from = time.process_time() if extra_from is None else extra_from
        if time.process_time() - extra_from > EXTRA_SECONDS:
            break
    return answers[-1], timings


def _geometric_means(times, reference):
    """Each candidate's geometric mean over the shapes of its time relative to
    ``reference(times of the shape)``: each shape counts alike, whatever its size."""
    count = len(next(iter(times.values())))
    logs = [0.0] * count
    for best in times.values():
        ref = reference(best)
        for i in range(count):
            logs[i] += math.log(best[i] / ref) / len(times)
    return [round(math.exp(x), 4) for x in logs]


def _preferred(ratios: Dict[str, float], names: Sequence[str], preferred: Sequence) -> str:
    """The name with the lowest ratio, unless one of ``preferred`` (in order) is within
    NOISE of it: a tie goes to the choice already made, not to the noise."""
    best = min(names, key=lambda n: (ratios[n], names.index(n)))
    for name in preferred:
        if name in ratios and ratios[name] <= NOISE * ratios[best]:
            return name
    return best


def _small_choice(timings, names, before):
    """(the variant for small products or None: BLAS, the fastest tile) from rounds of BLAS
    (position 0) and every variant: the tile by the geometric mean of its time relative to
    the fastest candidate's (a tie to the tile in force); BLAS where its mean beats the
    tile's by SKINNY_MARGIN (once it runs them: where it is not slower) and either the tile's
    best times are confirmed (not the tile slowed in every round) or the win is clear
    (SKINNY_CLEAR): the skinny kinds' rule, with BLAS the challenger."""
    scores = _geometric_means(timings.best(), min)
    tile = _preferred(dict(zip(names, scores[1:])), names,
                      [before.get("tile", before.get("variant"))])
    tile_at = 1 + list(names).index(tile)      # its position among the candidates
    blas = scores[0] / scores[tile_at]
    in_force = bool(before) and before.get("variant", "") is None
    if blas >= (1.0 if in_force else SKINNY_MARGIN):
        return tile, tile
    clear = blas < SKINNY_CLEAR
    if clear or timings.confirmed(tile_at, within=1 / SKINNY_MARGIN):
        return None, tile
    return tile, tile


def measure(names: Sequence[str], timer: Timer, dtypes: Sequence[str] = DTYPES,
            shapes: Sequence[Tuple[int, int, int]] = SHAPES, rounds: int = ROUNDS,
            skinny: Optional[Dict[str, Sequence[Tuple[int, int, int]]]] = None,
            skinny_timer: Optional[Timer] = None, previous: Optional[dict] = None) -> dict:
    """For each dtype: the variant for small products, the one with the lowest geometric
    mean over ``shapes`` of its time relative to the fastest candidate's ("tile"), or None
    where BLAS beats it (_small_choice), with every candidate's score ("BLAS" too); and for
    each kind of skinny product (SKINNY_SHAPES, timed with ``skinny_timer``, by default
    ``timer``), the variant with the lowest geometric mean of its time relative to
    BLAS's (timed as variant -1) if that mean beats BLAS by SKINNY_MARGIN and either BLAS's
    best times are confirmed or the win is clear (SKINNY_CLEAR), else None (BLAS runs them),
    with every candidate's geometric mean. ``previous`` (a record's "choice") is the choice
    in force: where the timings cannot tell it from the best (NOISE) it stays, and a skinny
    variant in force keeps its kind while it is not slower than BLAS (no margin to win
    again). Each choice is timed in rounds until it holds (_rounds_until_stable);
    ``rounds``/``spread`` say how many rounds each took and how far its timings spread (the
    median round over the best)."""
    skinny = SKINNY_SHAPES if skinny is None else skinny
    skinny_timer = skinny_timer or timer
    previous = previous or {}
    result = {}
    for dtype in dtypes:
        variants = list(range(len(names)))
        before = previous.get(dtype) or {}

        def small_choice(timings):
            return _small_choice(timings, names, before)
        (variant, tile), timings = _rounds_until_stable(timer, dtype, [-1] + variants, shapes,
                                                        rounds, small_choice)
        scores = dict(zip(["BLAS"] + list(names), _geometric_means(timings.best(), min)))
        choice = {"variant": variant, "tile": tile, "scores": scores, "skinny": {},
                  "rounds": timings.count,
                  "spread": timings.spread()}
        for kind, kind_shapes in skinny.items():
            in_force = (before.get("skinny", {}).get(kind) or {}).get("variant", "")

            def skinny_choice(timings):
                ratios = dict(zip(["BLAS"] + list(names),
                                  _geometric_means(timings.best(), lambda b: b[0])))
                # a tie goes to the choice in force, then to the tile that runs the small
                # products; where BLAS runs those, to the fastest: on a Zen 4, the best
                # small tile 12x2v32 tied 12x2v64 here (0.81 / 0.80 of BLAS) but took
                # 1.05-1.07x its time in W3's steps (m kind, paired in one process)
                pick = _preferred(ratios, names, [in_force, choice["variant"]])
                # a variant must win by the margin (once it runs the kind: not lose) against
                # a BLAS time several rounds agree on (not BLAS slowed in every round),
                # agreeing within the margin itself: these timings evict the caches first and
                # spread 5-10% on an idle machine; a clear win needs no agreement
                if ratios[pick] >= (1.0 if pick == in_force else SKINNY_MARGIN):
                    return None
                clear = ratios[pick] < SKINNY_CLEAR
                return pick if clear or timings.confirmed(0, within=1 / SKINNY_MARGIN) else None
            picked, timings = _rounds_until_stable(skinny_timer, dtype, [-1] + variants,
                                                   kind_shapes, min(rounds, SKINNY_ROUNDS),
                                                   skinny_choice)
            ratios = dict(zip(["BLAS"] + list(names),
                              _geometric_means(timings.best(), lambda b: b[0])))
            choice["skinny"][kind] = {"variant": picked, "vs_blas": ratios,
                                      "rounds": timings.count,
                                      "spread": timings.spread()}
        result[dtype] = choice
    return result


def _narrow_from(best, previous=""):
    """From how many multiply-adds the narrow kernel takes a form's products (0: all, None:
    none), given {shape: [BLAS's best seconds, the kernel's]} over the form's ladder: of 0,
    one past the size of each shape but the last (BLAS up to that shape: OpenBLAS's
    small-matrix kernels take up to a size, 1M on a SkylakeX core) and None, the one with
    the lowest geometric mean of its time (the kernel's from that size on, BLAS's below)
    relative to the faster's; a tie (NOISE) to ``previous`` (the choice in force), then to
    the lower."""
    shapes = sorted(best, key=lambda s: s[0] * s[1] * s[2])
    candidates = [0] + [m * n * k + 1 for m, n, k in shapes[:-1]] + [None]
    scores = {}
    for start in candidates:
        logs = 0.0
        for shape in shapes:
            takes = start is not None and shape[0] * shape[1] * shape[2] >= start
            logs += math.log(best[shape][1 if takes else 0] / min(best[shape])) / len(shapes)
        scores[start] = math.exp(logs)
    pick = min(candidates, key=lambda c: scores[c])
    if previous in scores and scores[previous] <= NOISE * scores[pick]:
        return previous
    return pick


def measure_narrow(timer: NarrowTimer, dtypes: Sequence[str] = DTYPES,
                   shapes: Optional[Dict[str, Sequence[Tuple[int, int, int]]]] = None,
                   rounds: int = ROUNDS, previous: Optional[dict] = None) -> dict:
    """For each dtype and form of narrow product (NARROW_SHAPES): {"from": the size from
    which the narrow kernel takes them (_narrow_from), "vs_blas": {"mxnxk": the kernel's
    best time over BLAS's}}, each timed in rounds until it holds (_rounds_until_stable),
    preferring the choice in force (``previous``: a record's choice) in a tie."""
    shapes = NARROW_SHAPES if shapes is None else shapes
    result = {}
    for dtype in dtypes:
        result[dtype] = {}
        for form in NARROW_FORMS:
            before = (((previous or {}).get(dtype) or {}).get("narrow") or {}).get(form) or {}

            def form_timer(dtype, path, shape, form=form):
                return timer(dtype, form, path, shape)

            def decide(timings, before=before):
                return _narrow_from(timings.best(), before.get("from", ""))
            start, timings = _rounds_until_stable(form_timer, dtype, [-1, 0], shapes[form],
                                                  rounds, decide)
            result[dtype][form] = {
                "from": start,
                "vs_blas": {"x".join(map(str, s)): round(t[1] / t[0], 3)
                            for s, t in timings.best().items()},
                "rounds": timings.count,
                "spread": timings.spread()}
    return result


def worst_spread(choice: dict) -> float:
    """The largest timing spread of a record's choices (1.0 when it has none)."""
    spreads = [c.get("spread", 1.0) for c in choice.values()] + \
        [k.get("spread", 1.0) for c in choice.values()
         for k in list(c.get("skinny", {}).values()) + list(c.get("narrow", {}).values()) +
         [t for t in (c.get("by_m") or {}).values() if t]]
    return max(spreads, default=1.0)


def record_path(root: str, runtime_key: str, cpu: str, blas_threads=None,
                blas_core=None) -> str:
    """Where the record for this runtime library, CPU, BLAS thread count and BLAS core
    (blas_pointers.blas_core) lives."""
    digest = hashlib.sha256(f"{runtime_key}\0{cpu}\0{blas_threads}\0core={blas_core}".encode()
                            ).hexdigest()[:32]
    return os.path.join(root, FOLDER, f"gemm-{digest}.json")


def _check(record, path, runtime_key, cpu, threads, names, core=None):
    """The record's choice, if it was made for this library, CPU, BLAS thread count, BLAS
    core and variants (BadFile if not; a record without the core was made against a BLAS
    not known)."""
    if not isinstance(record, dict) or record.get("runtime") != runtime_key or \
            record.get("cpu") != cpu or record.get("blas_threads") != threads or \
            "blas_core" not in record or record["blas_core"] != core or \
            record.get("variants") != list(names):
        raise BadFile(path, "was made for another runtime library, CPU or BLAS")
    choice = record.get("choice")
    if not isinstance(choice, dict) or set(choice) != set(DTYPES) or \
            not all(isinstance(c, dict) and "variant" in c and
                    (c["variant"] is None or c["variant"] in names) and
                    isinstance(c.get("skinny"), dict) and set(c["skinny"]) == set(SKINNY_KINDS)
                    and all(isinstance(k, dict) and (k.get("variant") is None or
                                                     k.get("variant") in names)
                            for k in c["skinny"].values())
                    for c in choice.values()) or \
            not all(isinstance(c.get("transposed_b", {}), dict) and
                    c.get("transposed_b", {}).get("form", PANELS) in
                    [PANELS] + list(record.get("dot_tiles", []))
                    for c in choice.values()):
        raise BadFile(path, "names no known variant")
    if not all(_narrow_checks(c.get("narrow")) for c in choice.values()):
        # (the format before the narrow choice too: timed again)
        raise BadFile(path, "has no narrow choice")
    if not all(_by_m_checks(c.get("by_m"), names) for c in choice.values()):
        # (the format before the tile per row count too: timed again)
        raise BadFile(path, "has no tile per row count")
    return record


def _by_m_checks(by_m, names) -> bool:
    """Whether a record's tile per row count has each table, None or naming a known variant
    for every m from 1 to BY_M."""
    rows = {str(m) for m in range(1, BY_M + 1)}
    return isinstance(by_m, dict) and set(by_m) == set(BY_M_TABLES) and \
        all(t is None or (isinstance(t, dict) and isinstance(t.get("variants"), dict) and
                          set(t["variants"]) == rows and
                          all(v in names or v == BLAS for v in t["variants"].values()))
            for t in by_m.values())


def _narrow_checks(narrow) -> bool:
    """Whether a record's narrow choice names, for each form, a size (or None: BLAS)."""
    return isinstance(narrow, dict) and set(narrow) == set(NARROW_FORMS) and \
        all(isinstance(f, dict) and "from" in f and
            (f["from"] is None or (type(f["from"]) is int and f["from"] >= 0))
            for f in narrow.values())


def _where(lib, runtime_key: str, root: Optional[str]):
    """(root, variant names, CPU, BLAS threads, BLAS core, record path, cache state) of this
    library's record."""
    root = root or cache.cache_root()
    from .blas_pointers import blas_core, blas_threads
    names = variant_names(lib)
    cpu = cpu_identity()
    threads = blas_threads()      # BLAS is timed as it runs: on 1 thread or on several,
    core = blas_core()            # with the kernels OpenBLAS chose
    path = record_path(root, runtime_key, cpu, threads, core)
    return root, names, cpu, threads, core, path, cache.open_root(root)


def _cached(root, path, state, runtime_key, cpu, threads, names, core) -> Optional[dict]:
    """The cache's record at ``path`` if it checks; one that does not is set aside (with a
    warning) and None returned."""
    if isinstance(state, tuple):
        return None
    try:
        payload = read_sealed(path, 1 << 16)
        if payload is None:
            return None
        try:
            record = json.loads(payload)
        except ValueError:
            raise BadFile(path, "is not valid JSON") from None
        return _check(record, path, runtime_key, cpu, threads, names, core)
    except BadFile as exc:
        cache.quarantine_file(root, path, exc.why)
    except OSError:
        pass
    return None


def choose(lib, runtime_key: str, root: Optional[str] = None,
           timer: Optional[Timer] = None, narrow_timer: Optional[NarrowTimer] = None) -> dict:
    """The record of the variants for this CPU: read from the cache (as it is, even if made
    under load: see retune), else the shipped one, else measured (with ``timer``, by default
    the C one) and written there. A record that does not check is set aside (with a
    warning) and measured again."""
    root, names, cpu, threads, core, path, state = _where(lib, runtime_key, root)
    record = _cached(root, path, state, runtime_key, cpu, threads, names, core)
    if record is not None:
        return record
    record = shipped_record(runtime_key, cpu, threads, names, core)
    if record is None:
        record = measure_record(lib, runtime_key, names, cpu, threads, timer, core=core,
                                narrow_timer=narrow_timer)
    return _keep(record, path, state)


def retune(lib, runtime_key: str, root: Optional[str] = None, timer: Optional[Timer] = None,
           only_under_load: bool = False, narrow_timer: Optional[NarrowTimer] = None
           ) -> Tuple[Optional[dict], Optional[dict]]:
    """Time the tiles again now and replace the cache's record (``python -m cgraph cache
    retune``; ``cache prebuild`` with ``only_under_load``: only a record made under load,
    and only if the machine is quiet now).
    The choice in force (the cache's record, else the shipped one) is kept wherever the new
    timings cannot tell it from the best (measure's ``previous``). Returns (the record
    before, the new one); the new one is None when nothing was timed."""
    root, names, cpu, threads, core, path, state = _where(lib, runtime_key, root)
    before = _cached(root, path, state, runtime_key, cpu, threads, names, core) or \
        shipped_record(runtime_key, cpu, threads, names, core)
    if only_under_load and before is not None and \
            (not made_under_load(before) or not quiet_now()):
        return before, None
    record = measure_record(lib, runtime_key, names, cpu, threads, timer,
                            previous=before and before["choice"], core=core,
                            narrow_timer=narrow_timer)
    if before is not None:
        record["timed_again"] = before.get("timed_again", 0) + 1
    return before, _keep(record, path, state)


def _keep(record: dict, path: str, state) -> dict:
    """Write ``record`` at ``path`` when the cache is writable; returns it."""
    if state == "writable":
        write_sealed(path, json.dumps(record, indent=1).encode())
    return record


def measure_record(lib, runtime_key: str, names: Sequence[str], cpu: str, threads,
                   timer: Optional[Timer] = None, previous: Optional[dict] = None,
                   core: Optional[str] = None, narrow_timer: Optional[NarrowTimer] = None,
                   form_timer=None, by_m_timer: Optional[Timer] = None) -> dict:
    """Time the variants (``timer``, by default the C one) and the narrow kernels
    (``narrow_timer``, by default c_narrow_timer) on this CPU against a BLAS that runs
    ``threads`` threads with the kernels of ``core``, preferring ``previous`` (a record's
    choice) in a tie: the record choose() keeps. h W.T's form is timed with ``form_timer`` (by
    default the C one when ``timer`` is; not at all when only ``timer`` is given: the
    library's default form runs). The tile per row count is timed with ``by_m_timer``, by
    default ``timer`` when given, else the C one (warm, BY_M_SECONDS a timing)."""
    started = time.perf_counter()
    probe = LoadProbe()
    # skinny products against a BLAS on several threads: the variants on as many
    choice = measure(names, timer or c_timer(lib),
                     skinny_timer=timer or c_timer(lib, cold=True, threads=threads or 1),
                     previous=previous)
    narrow = measure_narrow(narrow_timer or c_narrow_timer(lib, threads=threads or 1),
                            previous=previous)
    for dtype, forms in narrow.items():
        choice[dtype]["narrow"] = forms
    measure_by_m(choice, names, by_m_timer or timer or
                 c_timer(lib, seconds_per_timing=BY_M_SECONDS), previous)
    if form_timer is not None or timer is None:
        measure_transposed_b(choice, names, dot_tile_names(lib),
                             form_timer or transposed_b_timer(lib, threads or 1), previous)
    load = probe.other_load()
    spread = worst_spread(choice)
    return {"runtime": runtime_key, "cpu": cpu, "blas_threads": threads, "blas_core": core,
            "variants": list(names), "dot_tiles": dot_tile_names(lib), "choice": choice,
            "shapes": [list(s) for s in SHAPES],
            "measured_seconds": round(time.perf_counter() - started, 3),
            "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
            "load_per_core": load, "spread": spread,
            "under_load": load > BUSY or spread > SPREAD_LIMIT}


def quiet_now(seconds: float = 0.25) -> bool:
    """Whether other processes keep at most BUSY of the CPUs busy, over ``seconds`` of
    sleep here."""
    probe = LoadProbe()
    time.sleep(seconds)
    return probe.other_load() <= BUSY


def made_under_load(record: dict) -> bool:
    """Whether a record was timed on a busy machine (a record from before the load was
    recorded counts as one)."""
    return record.get("under_load", True) is not False


def _blas_takes_skinny(choice):
    # (a shipped record, timed against one BLAS thread, used beside several: its skinny
    # choice does not hold there, and timing them is what the shipped record spares)
    for c in choice.values():
        c["skinny"] = {kind: {"variant": None, "vs_blas": {}} for kind in SKINNY_KINDS}
        c["by_m"] = dict(c["by_m"], m=None)


# --- the choice shipped with the prebuilt units (cgraph/prebuilt.py) ----------------------
# ``cache prebuild --into`` and the install-time build time the tiles once, against a BLAS
# on one thread, and ship the record beside the units, named like the cache's record for that
# runtime library (its key: compiler, CPU features and cache sizes, templates), CPU identity
# and one BLAS thread. An empty cache takes it instead of timing (~0.28 s of CPU that
# otherwise competes with the first module's gcc): only when it names this CPU and library
# and checks like any cache file; else the variants are timed as before.
SHIPPED_THREADS = 1
SHIPPED = "shipped with the prebuilt units"


def shipped_record(runtime_key: str, cpu: str, threads, names: Sequence[str],
                   core: Optional[str] = None) -> Optional[dict]:
    """The record shipped for this library and CPU, made for a BLAS on ``threads`` threads
    (on several: BLAS keeps every skinny product, as when timed here) with the kernels of
    ``core``, or None."""
    timed_with = threads if threads is None or threads == 1 else SHIPPED_THREADS
    path = record_path(prebuilt_dir(), runtime_key, cpu, timed_with, core)
    try:
        payload = shipped_tuning(os.path.basename(path))
        if payload is None:
            return None
        try:
            record = json.loads(payload)
        except ValueError:
            raise BadFile(path, "is not valid JSON") from None
        record = _check(record, path, runtime_key, cpu, timed_with, names, core)
    except BadFile as exc:
        import warnings
        warnings.warn(f"cgraph: the shipped small-GEMM choice {exc.path} {exc.why}; timing "
                      f"the tiles instead", RuntimeWarning, stacklevel=2)
        return None
    if timed_with != threads:
        _blas_takes_skinny(record["choice"])
        record["blas_threads"] = threads
    record["source"] = SHIPPED
    return record


# CGRAPH_GEMM_NARROW=kernel gives the narrow kernels every narrow product they can take (as
# before they were timed), =blas none (to compare them)
_NARROW_FORCED = {"kernel": 0, "blas": None}


def _forced(variable: str, values: Sequence[str]) -> Optional[str]:
    """The value of the environment variable that forces a choice (lower case), None when
    unset or empty; a ValueError naming it when it is none of ``values`` (a misspelt value
    would otherwise be ignored in silence)."""
    value = os.environ.get(variable, "").lower()
    if not value:
        return None
    if value not in values:
        raise ValueError(f"{variable}={os.environ[variable]!r} is not one of: "
                         f"{', '.join(values)}")
    return value


def apply(lib, record: dict) -> Dict[str, str]:
    """Make the variants of ``record`` (or CGRAPH_GEMM_VARIANT's) the ones the library runs;
    returns {dtype: variant name}."""
    names = variant_names(lib)
    forced = os.environ.get("CGRAPH_GEMM_VARIANT")
    if forced:
        if forced not in names and forced != "BLAS":
            raise ValueError(f"CGRAPH_GEMM_VARIANT={forced!r} names no small-GEMM variant; "
                             f"known: {', '.join(names)}, BLAS")
        picked = dict.fromkeys(DTYPES, None if forced == "BLAS" else forced)
    else:
        picked = {dtype: record["choice"][dtype]["variant"] for dtype in DTYPES}
    skinny_off = _forced("CGRAPH_GEMM_SKINNY", ["blas"]) == "blas"
    skinny = {dtype: {kind: None if skinny_off else record["choice"][dtype]["skinny"][kind]["variant"]
                      for kind in SKINNY_KINDS} for dtype in DTYPES}
    narrow_forced = _forced("CGRAPH_GEMM_NARROW", list(_NARROW_FORCED))
    narrow = {dtype: {form: _NARROW_FORCED[narrow_forced] if narrow_forced else
                      record["choice"][dtype]["narrow"][form]["from"]
                      for form in NARROW_FORMS} for dtype in DTYPES}
    for dtype, name in picked.items():
        p = _PREFIX[dtype]
        setter = getattr(lib, f"cg_set_{p}gemm_variant")
        setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
        if not setter(-1 if name is None else names.index(name)):   # -1: BLAS
            raise RuntimeError(f"cgraph: the runtime library refused the variant {name}")
        setter = getattr(lib, f"cg_set_{p}gemm_skinny_variant")
        setter.argtypes, setter.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        for kind, variant in skinny[dtype].items():
            if not setter(SKINNY_KINDS.index(kind), -1 if variant is None else names.index(variant)):
                raise RuntimeError(f"cgraph: the runtime library refused the variant {variant}")
        setter = getattr(lib, f"cg_set_{p}gemm_narrow_from")
        setter.argtypes, setter.restype = [ctypes.c_int, ctypes.c_int64], ctypes.c_int
        for form, start in narrow[dtype].items():
            if not setter(NARROW_FORMS.index(form), -1 if start is None else start):
                raise RuntimeError(f"cgraph: the runtime library refused the narrow size {start}")
    by_m = apply_by_m(lib, record, picked, skinny, forced=bool(forced))
    forms = apply_transposed_b(lib, record)
    # skinny variants were timed on as many threads as BLAS runs (measure_record)
    skinny_threads = getattr(lib, "cg_set_gemm_skinny_threads")
    skinny_threads.argtypes, skinny_threads.restype = [ctypes.c_int], ctypes.c_int
    skinny_threads(max(1, record.get("blas_threads") or 1))
    _applied.clear()
    _applied.update(variants=picked, skinny=skinny, narrow=narrow, forced=bool(forced),
                    cpu=record.get("cpu"), source=record.get("source"),
                    blas_core=record.get("blas_core"), transposed_b=forms, by_m=by_m)
    return picked


def apply_by_m(lib, record: dict, picked: dict, skinny: dict, forced: bool = False
               ) -> Dict[str, Dict[str, Dict[int, str]]]:
    """Make the record's tile per row count the one the library runs (after the kinds'
    variants are set: that clears the tables), where the kind runs
    the record's choice (not under CGRAPH_GEMM_VARIANT for the small products, nor
    CGRAPH_GEMM_SKINNY=blas for the "m" kind, nor with CGRAPH_GEMM_BY_M=off: each kind's own
    for every m); returns {dtype: {table: {m: name or "BLAS"}}} of the m not on the kind's
    own."""
    off = _forced("CGRAPH_GEMM_BY_M", ["off"]) == "off"
    names = variant_names(lib)
    overrides = {}
    for dtype in DTYPES:
        setter = getattr(lib, f"cg_set_{_PREFIX[dtype]}gemm_variant_for_m")
        setter.argtypes, setter.restype = [ctypes.c_int] * 3, ctypes.c_int
        overrides[dtype] = {}
        for i, table in enumerate(BY_M_TABLES):
            own = (picked[dtype] if table == "small" else skinny[dtype]["m"]) or BLAS
            rows = (record["choice"][dtype].get("by_m") or {}).get(table)
            use = rows and not off and own == _kind_variant(record["choice"][dtype], table) \
                and not (forced and table == "small")
            tiles = {m: rows["variants"][str(m)] for m in range(1, BY_M + 1)} if use else {}
            overrides[dtype][table] = {m: t for m, t in tiles.items() if t != own}
            # (setting the kinds' variants, apply() above, gave every m the kind's own)
            for m, tile in overrides[dtype][table].items():
                if not setter(i, m, -1 if tile == BLAS else names.index(tile)):
                    raise RuntimeError(f"cgraph: the runtime library refused the variant "
                                       f"{tile} for {m} rows")
    return overrides


def apply_transposed_b(lib, record: dict) -> Dict[str, str]:
    """Make the record's form of h W.T the one the library runs, per dtype (the library's
    default, the first dot tile, where the record has none: BLAS runs h W.T there, or the
    record predates the forms); returns {dtype: form name}."""
    forms = dot_tile_names(lib)
    picked = {}
    for dtype in DTYPES:
        form = (record["choice"][dtype].get("transposed_b") or {}).get("form")
        form = form or (forms[0] if forms else PANELS)
        setter = getattr(lib, f"cg_set_{_PREFIX[dtype]}gemm_transposed_b_form")
        setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
        if form != PANELS and form not in forms or \
                not setter(-1 if form == PANELS else forms.index(form)):
            raise RuntimeError(f"cgraph: the runtime library refused the h W.T form {form}")
        picked[dtype] = form
    return picked


def select(lib, runtime_key: str) -> Dict[str, str]:
    """Choose (from the cache or by timing) and apply the variants; runtime_library calls it
    once per loaded library."""
    return apply(lib, choose(lib, runtime_key))


def chosen() -> Optional[dict]:
    """The variants in force in this process ({"variants": {dtype: name or None: BLAS},
    "skinny": {dtype: {kind: name or None}}, "narrow": {dtype: {form: size from which the
    narrow kernels run (None: never)}}, "forced", "cpu"}), or None before the runtime library
    is loaded."""
    return dict(_applied) if _applied else None


def describe(record_or_choice: Optional[dict] = None) -> str:
    """One line naming the small-GEMM variants: of a record, else those in force."""
    if record_or_choice is None:
        record_or_choice = chosen()
        if record_or_choice is None:
            return "small-GEMM tiles: not chosen yet (the runtime library is not loaded)"
    if "choice" in record_or_choice:
        choice = record_or_choice["choice"]
        variants = {d: c["variant"] for d, c in choice.items()}
        skinny = {d: {kind: c.get("skinny", {}).get(kind, {}).get("variant")
                      for kind in SKINNY_KINDS} for d, c in choice.items()}
        narrow = {d: {form: (c.get("narrow") or {}).get(form, {}).get("from", 0)
                      for form in NARROW_FORMS} for d, c in choice.items()}
        how = "measured" if record_or_choice.get("source") != SHIPPED else \
            f"measured at {record_or_choice.get('measured_at')}, {SHIPPED},"
    else:
        variants, skinny = record_or_choice["variants"], record_or_choice["skinny"]
        narrow = record_or_choice.get("narrow") or {}
        how = "forced by CGRAPH_GEMM_VARIANT" if record_or_choice.get("forced") else \
            "measured" if record_or_choice.get("source") != SHIPPED else SHIPPED

    if "choice" in record_or_choice:
        forms = {d: (c.get("transposed_b") or {}).get("form") for d, c in choice.items()}
        by_m = {d: {table: by_m_overrides(c, table) for table in BY_M_TABLES}
                for d, c in choice.items()}
    else:
        forms = record_or_choice.get("transposed_b") or {}
        by_m = record_or_choice.get("by_m") or {}

    def rows(d, table):
        return rows_text((by_m.get(d) or {}).get(table) or {})

    def skinny_text(d):
        text = " ".join(f"{kind}<=32:{skinny[d][kind] or 'BLAS'}" +
                        (rows(d, "m") if kind == "m" else "") for kind in SKINNY_KINDS)
        return text + (f" hW.T:{forms[d]}" if forms.get(d) and skinny[d]["m"] else "")

    def narrow_text(d):
        forms_of = narrow.get(d)
        if not forms_of:
            return ""
        return ", narrow " + " ".join(
            f"{form}:" + ("all" if forms_of[form] == 0 else "BLAS" if forms_of[form] is None
                          else f">={forms_of[form]}") for form in NARROW_FORMS)
    text = "; ".join(f"{d} {variants[d] or 'BLAS'}{rows(d, 'small')}, skinny {skinny_text(d)}"
                     f"{narrow_text(d)}"
                     for d in DTYPES if d in variants)
    if "choice" in record_or_choice and made_under_load(record_or_choice):
        how += " under load" if "under_load" in record_or_choice else \
            " with the load not recorded"
        if "load_per_core" in record_or_choice:
            how += (f" ({record_or_choice['load_per_core']} of the CPUs busy with other "
                    f"processes, timings spread {record_or_choice.get('spread')}x)")
        how += "; `python -m cgraph cache retune` on a quiet machine times it again"
    core = record_or_choice.get("blas_core")
    against = f", against OpenBLAS's {core} kernels" if core else ""
    return f"small-GEMM tiles: {text} ({how} on {record_or_choice.get('cpu')}{against})"


def by_m_overrides(choice: dict, table: str) -> Dict[int, str]:
    """{m: tile or "BLAS"} of a record's dtype choice where m rows do not run on the kind's
    own."""
    own = _kind_variant(choice, table)
    rows = ((choice.get("by_m") or {}).get(table) or {}).get("variants") or {}
    return {int(m): t for m, t in rows.items() if t != own}


def rows_text(overrides: Dict[int, str]) -> str:
    """" (m=13-16,25:8x2v64)": the row counts run by another tile than the kind's, by tile."""
    by_tile: Dict[str, List[int]] = {}
    for m in sorted(overrides):
        by_tile.setdefault(overrides[m], []).append(m)
    parts = []
    for tile, ms in by_tile.items():
        runs = []
        for m in ms:
            if runs and runs[-1][1] == m - 1:
                runs[-1][1] = m
            else:
                runs.append([m, m])
        spans = ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
        parts.append(f"m={spans}:{tile}")
    return f" ({' '.join(parts)})" if parts else ""


def records(root: str) -> List[Tuple[str, object]]:
    """Every tuning record in the cache: (path, record, or the BadFile saying why not)."""
    folder = os.path.join(root, FOLDER)
    found = []
    try:
        files = sorted(os.listdir(folder))
    except OSError:
        return found
    for name in files:
        if not (name.startswith("gemm-") and name.endswith(".json")):
            continue
        path = os.path.join(folder, name)
        try:
            payload = read_sealed(path, 1 << 16)
            if payload is not None:
                found.append((path, json.loads(payload)))
        except BadFile as exc:
            found.append((path, exc))
        except (OSError, ValueError):
            continue
    return found
