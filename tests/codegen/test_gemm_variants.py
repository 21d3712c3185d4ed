"""The small-GEMM kernel's tile variants (templates/ops/small_gemm.c.j2) and their selection
per CPU (cgraph/gemm_tuning.py): every variant compiled here against numpy, called directly
and through dot; the choice made by timing (a fake timer standing for a Zen 4, a Zen 5 and an
AVX2-only Intel), kept in the cache as a sealed record, rebuilt with a warning when tampered
with, shown by `cache show`."""
import ctypes
import io
import json
import os
import contextlib
import warnings

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph import blas_pointers, cache, gemm_tuning, runtime_library
from cgraph.cache import cli as cache_cli
from cgraph.cache_files import read_sealed, seal

rng = np.random.default_rng(7)

# (m, n, k): single elements, every tile's row and column tails, k = 1, sizes past a tile, k
# past several blocks of k (CG_GEMM_KC_BYTES: 64 to 128 rows) with a partial last one
SHAPES = [(1, 1, 1), (1, 33, 1), (5, 1, 7), (7, 13, 5), (13, 37, 9), (25, 70, 3),
          (33, 100, 65), (12, 64, 16), (97, 17, 40), (21, 40, 301)]
_CT = {"float32": ctypes.c_float, "float64": ctypes.c_double}
read_proc_stat = gemm_tuning.read_proc_stat     # (quiet_machine replaces it in the module)


@pytest.fixture(scope="module")
def lib():
    return runtime_library.runtime().lib


@pytest.fixture
def restore_variants(lib, monkeypatch):
    """Put back the variants chosen for this machine after a test that changes them (or the
    narrow choice: test_narrow_choice.py)."""
    yield
    monkeypatch.delenv("CGRAPH_GEMM_VARIANT", raising=False)
    monkeypatch.delenv("CGRAPH_GEMM_NARROW", raising=False)
    monkeypatch.delenv("CGRAPH_GEMM_SKINNY", raising=False)
    gemm_tuning.apply(lib, gemm_tuning.choose(lib, runtime_library.runtime().key))


@pytest.fixture(autouse=True)
def quiet_machine(monkeypatch):
    """The machine as the tuning sees it: quiet (the tests set its load where it matters), so
    records timed with a steady fake timer are never timed again behind a test's back."""
    monkeypatch.setattr(gemm_tuning, "load_per_core", lambda: 0.0)
    monkeypatch.setattr(gemm_tuning, "read_proc_stat", lambda: None)


def fake_narrow_timer(dtype, form, path, shape):
    """The narrow kernel (path 0) half BLAS's time on every shape: test_narrow_choice.py
    tests that choice; here it only has to be quick and the same each time."""
    m, n, k = shape
    return m * n * k * (0.5 if path == 0 else 1.0)


@pytest.fixture(autouse=True)
def narrow_timed_by_a_fake(monkeypatch):
    """Records made here time the narrow kernels with fake_narrow_timer, not in C."""
    monkeypatch.setattr(gemm_tuning, "c_narrow_timer", lambda *args, **kw: fake_narrow_timer)


# The core OpenBLAS chose its kernels for here: the records of this machine name it
CORE = blas_pointers.blas_core()


@pytest.fixture
def one_blas_thread(monkeypatch):
    """BLAS as on one thread, where skinny products are timed against it."""
    import cgraph.blas_pointers as blas_pointers
    monkeypatch.setattr(blas_pointers, "blas_threads", lambda: 1)


def run_variant(lib, variant, a, b, alpha=1.0, beta=0.0, c=None):
    """cg_<p>gemm_variant on numpy views a and b (any strides), into c (a new array if None)."""
    dtype = a.dtype.name
    ct, i64, ptr = _CT[dtype], ctypes.c_int64, ctypes.c_void_p
    f = getattr(lib, f"cg_{dtype[5] == '3' and 's' or 'd'}gemm_variant")
    f.argtypes = [ctypes.c_int, i64, i64, i64, ct, ptr, i64, i64, ptr, i64, i64, ct, ptr]
    f.restype = ctypes.c_int
    (m, k), n = a.shape, b.shape[1]
    c = np.empty((m, n), a.dtype) if c is None else c
    size = a.itemsize
    ok = f(variant, m, n, k, alpha, a.ctypes.data, a.strides[0] // size, a.strides[1] // size,
           b.ctypes.data, b.strides[0] // size, b.strides[1] // size, beta, c.ctypes.data)
    assert ok == 1
    return c


def tol(dtype, k):
    return (1e-4, 1e-5 * k) if dtype == "float32" else (1e-12, 1e-13 * k)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_variant_matches_numpy(lib, dtype):
    """Each compiled variant on odd shapes, with A transposed or every-other-column, B
    transposed (packed) or strided, and alpha/beta (beta == 0 never reads C: NaN there)."""
    names = gemm_tuning.variant_names(lib)
    assert len(names) >= 2
    for variant, name in enumerate(names):
        for m, n, k in SHAPES:
            a = rng.standard_normal((m, k)).astype(dtype)
            b = rng.standard_normal((k, n)).astype(dtype)
            expected = a.astype(np.float64) @ b.astype(np.float64)
            rtol, atol = tol(dtype, k)
            a_views = [a, np.asfortranarray(a), np.repeat(a, 2, axis=1)[:, ::2]]
            b_views = [b, np.asfortranarray(b), np.repeat(b, 3, axis=1)[:, ::3]]
            for av in a_views:
                for bv in b_views:
                    c = np.full((m, n), np.nan, dtype)
                    run_variant(lib, variant, av, bv, c=c)
                    np.testing.assert_allclose(c, expected, rtol=rtol, atol=atol,
                                               err_msg=f"{name} {m}x{n}x{k}")
            c0 = rng.standard_normal((m, n)).astype(dtype)
            c = run_variant(lib, variant, a, b.T.copy().T, alpha=-0.5, beta=2.0, c=c0.copy())
            np.testing.assert_allclose(c, -0.5 * expected + 2.0 * c0, rtol=rtol,
                                       atol=atol + 1e-5, err_msg=f"{name} alpha/beta")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_row_remainder_of_every_variant(lib, dtype):
    """Every row count up to 33 (each variant may run any m up to 32: the tile per row
    count; each remainder runs on the smallest tile that holds it, the rows past it reading
    A's last row again, never stored), with a partial and a full last block of columns, beta
    reading C."""
    for variant, name in enumerate(gemm_tuning.variant_names(lib)):
        for m in range(1, 34):
            for n, k in ((37, 9), (64, 3)):
                a = rng.standard_normal((m, k)).astype(dtype)
                b = rng.standard_normal((k, n)).astype(dtype)
                c0 = rng.standard_normal((m, n)).astype(dtype)
                expected = 1.5 * (a.astype(np.float64) @ b) + 0.5 * c0
                c = run_variant(lib, variant, a, b, alpha=1.5, beta=0.5, c=c0.copy())
                rtol, atol = tol(dtype, k)
                np.testing.assert_allclose(c, expected, rtol=rtol, atol=atol + 1e-5,
                                           err_msg=f"{name} {m}x{n}x{k}")


def test_unknown_variant_is_refused(lib, restore_variants):
    a = np.ones((2, 2))
    for p in ("s", "d"):
        setter = getattr(lib, f"cg_set_{p}gemm_variant")
        setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
        assert setter(len(gemm_tuning.variant_names(lib))) == 0
        assert setter(-2) == 0
        assert setter(-1) == 1      # BLAS
    f = lib.cg_dgemm_variant
    f.argtypes = [ctypes.c_int] + [ctypes.c_int64] * 3 + [ctypes.c_double, ctypes.c_void_p] + \
        [ctypes.c_int64] * 2 + [ctypes.c_void_p] + [ctypes.c_int64] * 2 + \
        [ctypes.c_double, ctypes.c_void_p]
    assert f(99, 2, 2, 2, 1.0, a.ctypes.data, 2, 1, a.ctypes.data, 2, 1, 0.0,
             np.empty((2, 2)).ctypes.data) == 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dot_with_each_variant(lib, dtype, monkeypatch, restore_variants):
    """dot through a compiled function, each variant in force (CGRAPH_GEMM_VARIANT), on
    shapes the kernel takes (with row and column tails and a transposed B) and empty ones."""
    a, b, c = (T.matrix(name, dtype=dtype) for name in "abc")
    f = cgraph.function([a, b], T.dot(a, b))
    g = cgraph.function([a, c], T.dot(a, c.T))
    record = gemm_tuning.choose(lib, runtime_library.runtime().key)
    for name in gemm_tuning.variant_names(lib) + ["BLAS"]:     # BLAS: the kernel declines
        monkeypatch.setenv("CGRAPH_GEMM_VARIANT", name)
        expected = None if name == "BLAS" else name
        assert gemm_tuning.apply(lib, record) == {"float32": expected, "float64": expected}
        for m, n, k in [(16, 64, 64), (13, 37, 9), (21, 50, 33), (1, 17, 1), (0, 20, 5),
                        (4, 20, 0)]:
            av = rng.standard_normal((m, k)).astype(dtype)
            bv = rng.standard_normal((k, n)).astype(dtype)
            out = f(av, bv)
            assert out.dtype == dtype and out.shape == (m, n)
            np.testing.assert_allclose(out, av.astype(np.float64) @ bv, *tol(dtype, max(k, 1)),
                                       err_msg=f"{name} {m}x{n}x{k}")
        cv = rng.standard_normal((40, 30)).astype(dtype)      # dot(a, c.T): B packed
        av = rng.standard_normal((11, 30)).astype(dtype)
        np.testing.assert_allclose(g(av, cv), av.astype(np.float64) @ cv.T, *tol(dtype, 30),
                                   err_msg=name)


def test_forced_unknown_variant_names_the_variable(lib, monkeypatch, restore_variants):
    monkeypatch.setenv("CGRAPH_GEMM_VARIANT", "9x9v99")
    with pytest.raises(ValueError, match="CGRAPH_GEMM_VARIANT='9x9v99' names no small-GEMM"):
        gemm_tuning.apply(lib, gemm_tuning.choose(lib, runtime_library.runtime().key))


def test_skinny_products_go_to_a_variant_only_when_it_beats_blas():
    """Per kind of skinny product, the fastest variant when it is 5% faster than BLAS, else
    BLAS (None)."""
    names = ["A", "B"]
    speed = {"m": {-1: 1.0, 0: 0.7, 1: 0.8},      # A wins clearly
             "n": {-1: 1.0, 0: 0.97, 1: 1.2},     # A within the margin: BLAS
             "k": {-1: 1.0, 0: 1.5, 1: 2.0}}      # BLAS
    skinny = {"m": [(1, 1, 1)], "n": [(2, 2, 2)], "k": [(3, 3, 3)]}
    kind_of = {shape: kind for kind, shapes in skinny.items() for shape in shapes}

    def timer(dtype, variant, shape):
        if shape in ((1, 1, 1), (2, 2, 2), (3, 3, 3)):
            return speed[kind_of[shape]][variant]
        return 5.0 if variant == -1 else 1.0 + variant
    result = gemm_tuning.measure(names, timer, dtypes=["float32"], shapes=[(9, 9, 9)],
                                 rounds=1, skinny=skinny)["float32"]
    assert result["variant"] == "A"
    assert {kind: s["variant"] for kind, s in result["skinny"].items()} == \
        {"m": "A", "n": None, "k": None}
    assert result["skinny"]["m"]["vs_blas"] == {"BLAS": 1.0, "A": 0.7, "B": 0.8}


@pytest.mark.slow   # every variant x kind x shape: ~2 s of CPU per dtype
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dot_on_the_skinny_path(lib, dtype, restore_variants):
    """Products past the small limit with one side <= 32 (row and column tails included),
    through each variant as the skinny kernel of every kind, and through BLAS."""
    a, b, c = (T.matrix(name, dtype=dtype) for name in "abc")
    f = cgraph.function([a, b], T.dot(a, b))
    g = cgraph.function([a, c], T.dot(a, c.T))       # transposed B: BLAS
    p = "s" if dtype == "float32" else "d"
    setter = getattr(lib, f"cg_set_{p}gemm_skinny_variant")
    setter.argtypes, setter.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    assert setter(3, 0) == 0 and setter(0, 99) == 0
    shapes = [(21, 301, 401), (20, 500, 784), (401, 10, 601), (333, 401, 19), (1, 2500, 900)]
    for variant in [-1] + list(range(len(gemm_tuning.variant_names(lib)))):
        for kind in range(3):
            assert setter(kind, variant) == 1
        for m, n, k in shapes:
            av = rng.standard_normal((m, k)).astype(dtype)
            bv = rng.standard_normal((k, n)).astype(dtype)
            expected = av.astype(np.float64) @ bv
            np.testing.assert_allclose(f(av, bv), expected, *tol(dtype, k),
                                       err_msg=f"variant {variant} {m}x{n}x{k}")
            np.testing.assert_allclose(f(av.T.copy().T, bv), expected, *tol(dtype, k))
            np.testing.assert_allclose(g(av, np.ascontiguousarray(bv.T)), expected,
                                       *tol(dtype, k))


def test_measure_takes_the_geometric_mean_over_shapes():
    """A variant twice as slow on one shape loses to one 10% slower on every shape; the
    best of the rounds counts (a burst of load on one timing does not decide)."""
    names = ["A", "B", "C"]
    calls = []

    def timer(dtype, variant, shape):
        calls.append((dtype, variant, shape))
        first_round = len([c for c in calls if c[1:] == (variant, shape)]) == 1
        base = 3.0 if variant == -1 else {"A": 1.0, "B": 1.1, "C": 1.05}[names[variant]]
        if variant == 2 and shape == (1, 2, 3):
            base = 2.0
        return base * (50 if first_round else 1)

    result = gemm_tuning.measure(names, timer, dtypes=["float64"],
                                 shapes=[(1, 2, 3), (4, 5, 6), (7, 8, 9)], rounds=2, skinny={})
    assert result["float64"]["variant"] == "A"
    assert result["float64"]["scores"]["A"] == 1.0
    assert result["float64"]["scores"]["B"] == pytest.approx(1.1, rel=1e-3)
    assert result["float64"]["scores"]["C"] == pytest.approx((1.05 * 1.05 * 2.0) ** (1 / 3),
                                                              rel=1e-3)
    # rounds=2 asked for, but a best time holds only once CONFIRM_COUNT rounds meet it (the
    # first round, 50x slower, meets none)
    assert len(calls) == 3 * (3 + 1) * (1 + gemm_tuning.CONFIRM_COUNT)     # BLAS too


def _noisy(true_seconds, seed, burst=None):
    """A timer on a busy machine: each timing the true one, slowed at random (a quarter of them
    by 3% to 60%), never sped up; ``burst(candidate, round)`` True: slowed 2-3x more."""
    import random
    rounds, draws = {}, {}

    def timer(dtype, variant, shape):
        r = rounds[(variant, shape)] = rounds.get((variant, shape), 0) + 1
        # a stream per candidate and shape: the same draws whatever else is timed
        draw = draws.setdefault((dtype, variant, shape),
                                random.Random(f"{seed} {dtype} {variant} {shape}"))
        slowed = 1 + (draw.random() < 0.25) * draw.uniform(0.03, 0.6)
        if burst and burst(variant, r):
            slowed *= draw.uniform(2, 3)
        return true_seconds(variant, shape) * slowed
    return timer


def test_a_skinny_variant_wins_over_cold_timings_that_spread_a_few_percent():
    """Skinny timings evict the caches first: on an idle machine every candidate's rounds
    spread by a few percent, alike. A variant 25% faster than BLAS on every shape takes the
    kind; the same spread with the variant 2% slower leaves it to BLAS."""
    names = ["A", "B"]
    spread = [1.0, 1.06, 1.04, 1.08, 1.05, 1.07, 1.03, 1.09, 1.06]   # never within 2% twice
    counts = {}

    def cold(factor):
        def timer(dtype, variant, shape):
            r = counts[(factor, variant, shape)] = counts.get((factor, variant, shape), 0) + 1
            base = 1.0 if variant == -1 else (factor if variant == 0 else 1.5)
            return base * spread[(r - 1) % len(spread)]
        return timer
    kinds = {"m": [(20, 500, 784), (32, 256, 300)]}
    for factor, expected in ((0.75, "A"), (1.02, None)):
        got = gemm_tuning.measure(names, cold(factor), dtypes=["float64"], shapes=[(9, 9, 9)],
                                  skinny=kinds)["float64"]["skinny"]["m"]["variant"]
        assert got == expected, (factor, got)


def test_a_noisy_timer_still_gives_the_fastest_variant_and_blas_where_it_wins():
    """Under load (timings slowed at random) the choice is the one the true times give: the
    fastest small variant (B, 4% ahead of A) and, per skinny kind, a variant only where it
    truly beats BLAS by the margin ("m": C 20% faster), never where it loses to BLAS by a
    little ("n": C 2% slower) or wins by less than the margin ("k": C 1% faster)."""
    names = ["A", "B", "C"]
    skinny = {"m": [(1, 1, 1), (1, 1, 2)], "n": [(2, 2, 2)], "k": [(3, 3, 3)]}
    vs_blas = {1: 0.8, 2: 1.02, 3: 0.99}        # C's time over BLAS's, by the shape's n

    def true_seconds(variant, shape):
        if shape[0] == 9:
            return {-1: 2.0, 0: 1.04, 1: 1.0, 2: 1.3}[variant] * shape[2]
        return 1.0 if variant == -1 else vs_blas[shape[1]] if variant == 2 else 1.5
    for seed in range(20):
        result = gemm_tuning.measure(names, _noisy(true_seconds, seed), dtypes=["float32"],
                                     shapes=[(9, 9, 9), (9, 9, 5)], skinny=skinny)["float32"]
        assert result["variant"] == "B", seed
        assert {kind: s["variant"] for kind, s in result["skinny"].items()} == \
            {"m": "C", "n": None, "k": None}, seed
        assert result["rounds"] >= gemm_tuning.ROUNDS


def test_a_burst_of_load_on_the_fastest_variant_is_outlasted():
    """The fastest variant slowed 2-3x in each of the first ROUNDS rounds (a burst of load
    that happened to fall on its timings): rounds go on until its time is seen again, and it
    is chosen; with a budget of ROUNDS rounds alone, the slower one would be."""
    names = ["A", "B"]

    def true_seconds(variant, shape):
        return {-1: 2.0, 0: 1.0, 1: 1.1}[variant]
    burst = lambda variant, r: variant == 0 and r <= gemm_tuning.ROUNDS   # noqa: E731
    result = gemm_tuning.measure(names, _noisy(true_seconds, 1, burst), dtypes=["float64"],
                                 shapes=[(9, 9, 9)], skinny={})["float64"]
    assert result["variant"] == "A"
    assert result["rounds"] > gemm_tuning.ROUNDS
    # the budget: never more than MAX_ROUND_FACTOR times the rounds, however it goes
    always = lambda variant, r: True                                        # noqa: E731
    result = gemm_tuning.measure(names, _noisy(true_seconds, 2, always), dtypes=["float64"],
                                 shapes=[(9, 9, 9)], skinny={})["float64"]
    assert result["rounds"] <= gemm_tuning.ROUNDS * gemm_tuning.MAX_ROUND_FACTOR


def test_a_record_made_under_load_is_kept_on_the_call_path_and_retuned_on_demand(
        lib, tmp_path, monkeypatch, one_blas_thread):
    """The record keeps the load and the timings' spread; one made on a busy machine (by
    either) is used as it is by every later process, quiet or not (timing it again there would
    land in a warm function()); retune times it again and replaces it; retune for a record
    made under load only (`cache prebuild`) times nothing for a quiet record or while the
    machine is still busy; a record from before the load was recorded counts as made under
    load."""
    names = gemm_tuning.variant_names(lib)
    key = runtime_library.runtime().key
    cpu = "FakeVendor family 9 model 9"
    monkeypatch.setattr(gemm_tuning, "cpu_identity", lambda: cpu)
    path = gemm_tuning.record_path(str(tmp_path), key, cpu, 1, CORE)
    timed = []

    def counting(winner):
        def timer(*args):
            timed.append(winner)
            return fake_timer(winner)(*args)
        return timer
    monkeypatch.setattr(gemm_tuning, "load_per_core", lambda: 1.5)
    busy = gemm_tuning.choose(lib, key, root=str(tmp_path), timer=counting(0))
    assert busy["under_load"] and busy["load_per_core"] == 1.5 and busy["spread"] == 1.0
    assert "under load (1.5 of the CPUs busy with other processes" in \
        gemm_tuning.describe(busy)
    assert "cache retune" in gemm_tuning.describe(busy)
    monkeypatch.setattr(gemm_tuning, "load_per_core", lambda: 0.1)
    timed.clear()
    assert gemm_tuning.choose(lib, key, root=str(tmp_path), timer=counting(1)) == busy
    assert not timed                                    # quiet now, but not on the call path
    before, quiet = gemm_tuning.retune(lib, key, root=str(tmp_path), timer=counting(1))
    assert before == busy and timed and not quiet["under_load"] and quiet["timed_again"] == 1
    assert quiet["choice"]["float32"]["variant"] == names[1 % len(names)]
    assert json.loads(read_sealed(path)) == quiet       # the record replaced, sealed
    assert "under load" not in gemm_tuning.describe(quiet)
    timed.clear()
    assert gemm_tuning.retune(lib, key, root=str(tmp_path), timer=counting(0),
                              only_under_load=True) == (quiet, None)
    assert not timed                                    # made quiet: kept
    # timings spread on a quiet machine: under load too
    spread = gemm_tuning.measure_record(lib, key, names, cpu, 1,
                                        timer=_noisy(lambda v, s: 2.0 + v, 3, lambda v, r: True))
    assert spread["spread"] > gemm_tuning.SPREAD_LIMIT and spread["under_load"]
    # a record from before the load was recorded, the machine still busy, then quiet
    old = dict(quiet)
    for field in ("under_load", "load_per_core", "spread", "timed_again"):
        del old[field]
    os.remove(path)
    with open(path, "wb") as f:
        f.write(seal(json.dumps(old).encode()))
    monkeypatch.setattr(gemm_tuning, "quiet_now", lambda: False)
    assert gemm_tuning.retune(lib, key, root=str(tmp_path), timer=counting(0),
                              only_under_load=True)[1] is None
    monkeypatch.setattr(gemm_tuning, "quiet_now", lambda: True)
    timed.clear()
    again = gemm_tuning.retune(lib, key, root=str(tmp_path), timer=counting(0),
                               only_under_load=True)[1]
    assert timed and again["under_load"] is False and again["timed_again"] == 1


def test_cache_retune_times_the_tiles_again(lib, tmp_path, monkeypatch, one_blas_thread,
                                            restore_variants):
    """`python -m cgraph cache retune` replaces the record of the runtime in use and says
    what it was and what it is now."""
    names = gemm_tuning.variant_names(lib)
    monkeypatch.setattr(gemm_tuning, "cpu_identity", lambda: "FakeVendor family 9 model 12")
    monkeypatch.setenv("CGRAPH_CACHE_DIR", str(tmp_path))
    key = runtime_library.runtime().key
    gemm_tuning.choose(lib, key, root=str(tmp_path), timer=fake_timer(0))
    winner = len(names) - 1
    monkeypatch.setattr(gemm_tuning, "c_timer", lambda *args, **kw: fake_timer(winner))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cache_cli.main(["retune"]) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"before: small-GEMM tiles: float32 {names[0]},")
    assert lines[1].startswith(f"now:    small-GEMM tiles: float32 {names[winner]},")
    record = gemm_tuning.choose(lib, key, root=str(tmp_path), timer=_no_timing)
    assert record["timed_again"] == 1 and record["choice"]["float64"]["variant"] == names[winner]
    assert gemm_tuning.chosen()["variants"]["float64"] == names[winner]
    monkeypatch.undo()          # (restore_variants applies this machine's record again)


def test_the_load_is_read_over_the_timing_from_proc_stat(tmp_path, monkeypatch):
    """Other processes' share of the CPUs over the interval: busy ticks less this process's
    own CPU time, over all ticks; the load average where /proc/stat is missing or the
    interval too short to count."""
    monkeypatch.setattr(gemm_tuning, "_TICKS_PER_SECOND", 100)
    monkeypatch.setattr(gemm_tuning, "load_per_core", lambda: 0.7)

    def probe(start, end, own_seconds):
        stats, own = iter([start, end]), iter([10.0, 10.0 + own_seconds])
        p = gemm_tuning.LoadProbe(stat=lambda: next(stats), own_seconds=lambda: next(own))
        return p.other_load()
    # 2 CPUs for 0.5 s: 100 ticks; this process 0.4 s of them, others 30 ticks
    assert probe((1000, 5000), (1070, 5100), 0.4) == 0.3
    assert probe((1000, 5000), (1040, 5100), 0.4) == 0.0      # only this process: quiet
    assert probe((1000, 5000), (1100, 5100), 0.0) == 1.0      # others on every CPU
    assert probe(None, None, 0.4) == 0.7                      # no /proc/stat: load average
    assert probe((1000, 5000), (1005, 5010), 0.0) == 0.7      # too short to tell
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 5 50 800 40 3 2 10 7 0\ncpu0 50 2 25 400 20 1 1 5 3 0\n")
    assert read_proc_stat(str(stat)) == (170, 1010)
    stat.write_text("not a stat file\n")
    assert read_proc_stat(str(stat)) is None
    assert read_proc_stat(str(tmp_path / "missing")) is None


def test_a_tie_goes_to_the_choice_in_force():
    """Candidates within NOISE of the best are a tie: the small variant in force stays, a
    skinny variant in force keeps its kind while not slower than BLAS (a new one needs the
    margin), BLAS in force keeps a kind a variant wins by less than the margin; without a
    choice in force a skinny tie goes to the dtype's small variant."""
    names = ["A", "B"]
    small = {-1: 2.0, 0: 1.0, 1: 1.02}            # A 2% ahead of B: a tie
    kinds = {"m": [(1, 1, 1)], "n": [(2, 2, 2)], "k": [(3, 3, 3)]}
    vs_blas = {1: {-1: 1.0, 0: 0.97, 1: 0.99},    # m: A 3% faster than BLAS
               2: {-1: 1.0, 0: 0.60, 1: 0.59},    # n: A and B tie, well ahead of BLAS
               3: {-1: 1.0, 0: 0.93, 1: 1.2}}     # k: A wins by the margin

    def timer(dtype, variant, shape):
        return small[variant] if shape == (9, 9, 9) else vs_blas[shape[0]][variant]

    def run(previous):
        got = gemm_tuning.measure(names, timer, dtypes=["float32"], shapes=[(9, 9, 9)],
                                  skinny=kinds, previous=previous)["float32"]
        return got["variant"], {kind: s["variant"] for kind, s in got["skinny"].items()}
    assert run(None) == ("A", {"m": None, "n": "A", "k": "A"})
    in_force = {"float32": {"variant": "B", "skinny": {"m": {"variant": "A"},
                                                       "n": {"variant": "B"},
                                                       "k": {"variant": None}}}}
    assert run(in_force) == ("B", {"m": "A", "n": "B", "k": "A"})


def test_where_blas_runs_the_small_products_a_skinny_tie_goes_by_the_variants_order():
    """With BLAS running the small products, no tile of ours runs them: a skinny tie goes to
    the fastest of the tied variants, not to the best small tile (on a Zen 4, 12x2v32 tied
    12x2v64 on the "m" shapes, 0.81 / 0.80 of BLAS, but was 5-7% slower in W3's steps)."""
    names = ["A", "B"]
    small = {-1: 0.5, 0: 1.02, 1: 1.0}            # BLAS wins the small products; B the best tile
    kinds = {"m": [(1, 1, 1)]}
    vs_blas = {-1: 1.0, 0: 0.59, 1: 0.60}         # A and B tie, well ahead of BLAS

    def timer(dtype, variant, shape):
        return small[variant] if shape == (9, 9, 9) else vs_blas[variant]
    got = gemm_tuning.measure(names, timer, dtypes=["float32"], shapes=[(9, 9, 9)],
                              skinny=kinds)["float32"]
    assert (got["variant"], got["tile"]) == (None, "B")
    assert got["skinny"]["m"]["variant"] == "A"


def test_a_kind_goes_by_its_shapes_geometric_mean_the_same_way_each_time():
    """A variant that wins clearly on one shape of a kind and ties on the other takes the
    kind every time, however the noise falls (the rule that wanted a win on every shape gave
    BLAS in one timing and the variant in the next); one that loses on the other shape as
    much as it wins on the first leaves it to BLAS every time."""
    names = ["A", "B"]
    kinds = {"m": [(1, 1, 1), (1, 1, 2)]}
    for second, expected in ((0.99, "A"), (1.15, None)):
        def true_seconds(variant, shape):
            if shape[0] == 9:
                return 5.0 if variant == -1 else 1.0 + variant
            return 1.0 if variant == -1 else 1.5 if variant == 1 else \
                (0.85 if shape[2] == 1 else second)
        got = {gemm_tuning.measure(names, _noisy(true_seconds, seed), dtypes=["float64"],
                                   shapes=[(9, 9, 9)], skinny=kinds)["float64"]["skinny"]["m"][
                                       "variant"] for seed in range(8)}
        assert got == {expected}, (second, got)


# Three machines the selection must serve, as a fake timer sees them: which variant (by its
# position among those compiled: the first, the last, the second) runs fastest there.
MACHINES = {"AuthenticAMD family 25 model 17 (AMD EPYC Zen 4)": 0,
            "AuthenticAMD family 26 model 2 (AMD EPYC Zen 5)": -1,
            "GenuineIntel family 6 model 158 (Intel Core AVX2)": 1}


def fake_timer(winner, blas=1.2):
    """Variant ``winner`` fastest, BLAS (-1) ``blas`` times slower than it."""
    def timer(dtype, variant, shape):
        m, n, k = shape
        factor = blas if variant == -1 else 1.0 if variant == winner else 1.5 + variant * 0.01
        return m * n * k * factor
    return timer


def test_each_cpu_gets_its_fastest_variant(lib, tmp_path, monkeypatch, one_blas_thread):
    """Each CPU's record names the variant its timer found fastest, in its own file; a second
    look reads the record without timing anything."""
    names = gemm_tuning.variant_names(lib)
    key = runtime_library.runtime().key
    paths = set()
    for cpu, position in MACHINES.items():
        winner = range(len(names))[position]
        monkeypatch.setattr(gemm_tuning, "cpu_identity", lambda cpu=cpu: cpu)
        record = gemm_tuning.choose(lib, key, root=str(tmp_path), timer=fake_timer(winner))
        assert record["cpu"] == cpu
        assert {d: c["variant"] for d, c in record["choice"].items()} == \
            {"float32": names[winner], "float64": names[winner]}
        for choice in record["choice"].values():
            assert {kind: s["variant"] for kind, s in choice["skinny"].items()} == \
                dict.fromkeys("mnk", names[winner])
        path = gemm_tuning.record_path(str(tmp_path), key, cpu, 1, CORE)
        assert json.loads(read_sealed(path)) == record
        paths.add(path)

        def no_timing(*args):
            raise AssertionError("timed again although the record is in the cache")
        assert gemm_tuning.choose(lib, key, root=str(tmp_path), timer=no_timing) == record
        skinny = f"skinny m<=32:{names[winner]} n<=32:{names[winner]} k<=32:{names[winner]}" \
            ", narrow dot:all outer:all"      # (fake_narrow_timer: the kernel always faster)
        assert gemm_tuning.describe(record) == (
            f"small-GEMM tiles: float32 {names[winner]}, {skinny}; float64 {names[winner]}, "
            f"{skinny} (measured on {cpu}, against OpenBLAS's {CORE} kernels)")
    assert len(paths) == len(MACHINES)
    # the choice of another runtime library (other templates, compiler or CPU features)
    # is not this one's
    counted = []
    gemm_tuning.choose(lib, "0" * 64, root=str(tmp_path),
                       timer=lambda *a: counted.append(a) or 1.0)
    assert counted


def _tampered_variants():
    def flip_byte(data):
        return data[:-3] + bytes([data[-3] ^ 1]) + data[-2:]

    def other_runtime(data):       # resealed, so only the content tells
        record = json.loads(data.split(b"\n", 1)[1])
        record["runtime"] = "f" * 64
        return seal(json.dumps(record).encode())

    def unknown_variant(data):
        record = json.loads(data.split(b"\n", 1)[1])
        record["choice"]["float32"]["variant"] = "99x99v64"
        return seal(json.dumps(record).encode())

    def truncated(data):
        return data[:40]
    return [flip_byte, other_runtime, unknown_variant, truncated]


@pytest.mark.parametrize("tamper", _tampered_variants(), ids=lambda f: f.__name__)
def test_tampered_record_is_rebuilt_with_a_warning(lib, tmp_path, monkeypatch, tamper, one_blas_thread):
    names = gemm_tuning.variant_names(lib)
    key = runtime_library.runtime().key
    monkeypatch.setattr(gemm_tuning, "cpu_identity", lambda: "FakeVendor family 1 model 2")
    first = gemm_tuning.choose(lib, key, root=str(tmp_path), timer=fake_timer(0))
    path = gemm_tuning.record_path(str(tmp_path), key, "FakeVendor family 1 model 2", 1, CORE)
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(tamper(data))
    winner = len(names) - 1
    with pytest.warns(RuntimeWarning, match="gemm-.*json"):
        again = gemm_tuning.choose(lib, key, root=str(tmp_path), timer=fake_timer(winner))
    assert again["choice"]["float64"]["variant"] == names[winner] != \
        first["choice"]["float64"]["variant"] or len(names) == 1
    assert json.loads(read_sealed(path)) == again          # written anew, sealed
    assert os.listdir(tmp_path / "quarantine")              # the bad one set aside
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gemm_tuning.choose(lib, key, root=str(tmp_path), timer=fake_timer(0)) == again


def test_cache_show_and_verify_see_the_choice(lib, tmp_path, monkeypatch, one_blas_thread):
    """`cache show` without a key lists the choices with every variant's score; `cache
    verify` checks the records like every other sealed record."""
    key = runtime_library.runtime().key
    monkeypatch.setattr(gemm_tuning, "cpu_identity", lambda: "FakeVendor family 3 model 4")
    record = gemm_tuning.choose(lib, key, root=str(tmp_path), timer=fake_timer(0))
    name = record["choice"]["float32"]["variant"]
    monkeypatch.setenv("CGRAPH_CACHE_DIR", str(tmp_path))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cache_cli.main(["show"]) == 0
    text = out.getvalue()
    assert "1 kernel choices" in text
    assert f"float32 {name}, skinny m<=32:{name}" in text
    assert "(measured on FakeVendor family 3 model 4" in text
    assert "skinny (n <= 32)" in text and "time relative to BLAS" in text
    for variant in gemm_tuning.variant_names(lib):
        assert variant in text
    checked, bad = cache.verify_records(str(tmp_path))
    assert checked >= 1 and not bad
    path = gemm_tuning.record_path(str(tmp_path), key, "FakeVendor family 3 model 4", 1, CORE)
    with open(path, "ab") as f:
        f.write(b" ")
    checked, bad = cache.verify_records(str(tmp_path), quarantine=False)
    assert [b[0] for b in bad] == [path]


# --- the choice shipped with the prebuilt units -------------------------------------------

def _ship(units, lib, key, cpu, winner):
    """A record made as `cache prebuild` makes it (BLAS on one thread), in ``units``/tuning/."""
    record = gemm_tuning.measure_record(lib, key, gemm_tuning.variant_names(lib), cpu, 1,
                                        timer=fake_timer(winner), core=CORE)
    path = gemm_tuning.record_path(str(units), key, cpu, 1, CORE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(seal(json.dumps(record).encode()))
    return record, path


def _no_timing(*args):
    raise AssertionError("timed although a shipped choice fits")


@pytest.mark.parametrize("threads", [1, 2])
def test_a_shipped_choice_spares_the_timing(lib, tmp_path, monkeypatch, threads):
    """An empty cache takes the choice shipped for this library and CPU instead of timing,
    keeps it as its own record, and says where it came from; with BLAS on two threads it
    keeps the small-product choice and leaves every skinny product to BLAS, as timing
    there would."""
    import cgraph.blas_pointers as blas_pointers
    names = gemm_tuning.variant_names(lib)
    key, cpu = runtime_library.runtime().key, "FakeVendor family 9 model 10"
    monkeypatch.setattr(gemm_tuning, "cpu_identity", lambda: cpu)
    monkeypatch.setattr(blas_pointers, "blas_threads", lambda: threads)
    monkeypatch.setenv("CGRAPH_PREBUILT_DIR", str(tmp_path / "units"))
    winner = len(names) - 1
    shipped, _ = _ship(tmp_path / "units", lib, key, cpu, winner)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record = gemm_tuning.choose(lib, key, root=str(tmp_path / "cache"), timer=_no_timing)
    assert record["source"] == gemm_tuning.SHIPPED and record["blas_threads"] == threads
    for dtype, choice in record["choice"].items():
        assert choice["variant"] == shipped["choice"][dtype]["variant"] == names[winner]
        skinny = {kind: s["variant"] for kind, s in choice["skinny"].items()}
        assert skinny == (dict.fromkeys("mnk", names[winner]) if threads == 1 else
                          dict.fromkeys("mnk", None))
    path = gemm_tuning.record_path(str(tmp_path / "cache"), key, cpu, threads, CORE)
    assert json.loads(read_sealed(path)) == record      # the cache's own record now
    assert gemm_tuning.SHIPPED in gemm_tuning.describe(record)
    monkeypatch.setenv("CGRAPH_CACHE_DIR", str(tmp_path / "cache"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cache_cli.main(["show"]) == 0
    assert f"{gemm_tuning.SHIPPED}, on {cpu}" in out.getvalue()


def test_a_shipped_choice_made_under_load_is_not_timed_again(lib, tmp_path, monkeypatch,
                                                             one_blas_thread):
    """A choice shipped from a busy install is kept by the cache that took it, even on a
    quiet machine: timing it again would land in some later warm function()."""
    names = gemm_tuning.variant_names(lib)
    key, cpu = runtime_library.runtime().key, "FakeVendor family 9 model 11"
    monkeypatch.setattr(gemm_tuning, "cpu_identity", lambda: cpu)
    monkeypatch.setenv("CGRAPH_PREBUILT_DIR", str(tmp_path / "units"))
    monkeypatch.setattr(gemm_tuning, "load_per_core", lambda: 1.5)
    shipped, _ = _ship(tmp_path / "units", lib, key, cpu, len(names) - 1)
    assert shipped["under_load"]
    first = gemm_tuning.choose(lib, key, root=str(tmp_path / "cache"), timer=_no_timing)
    monkeypatch.setattr(gemm_tuning, "load_per_core", lambda: 0.1)
    again = gemm_tuning.choose(lib, key, root=str(tmp_path / "cache"), timer=_no_timing)
    assert again == first and again["source"] == gemm_tuning.SHIPPED


def test_a_choice_shipped_for_another_cpu_or_library_is_not_taken(lib, tmp_path, monkeypatch,
                                                                   one_blas_thread):
    names = gemm_tuning.variant_names(lib)
    key = runtime_library.runtime().key
    monkeypatch.setenv("CGRAPH_PREBUILT_DIR", str(tmp_path / "units"))
    _ship(tmp_path / "units", lib, key, "FakeVendor family 11 model 12", len(names) - 1)
    _ship(tmp_path / "units", lib, "0" * 64, "FakeVendor family 13 model 14", len(names) - 1)
    for cpu, runtime_key in (("FakeVendor family 11 model 99", key),     # another model
                             ("FakeVendor family 13 model 14", key)):    # another library
        monkeypatch.setattr(gemm_tuning, "cpu_identity", lambda cpu=cpu: cpu)
        record = gemm_tuning.choose(lib, runtime_key, root=str(tmp_path / "cache"),
                                    timer=fake_timer(0))
        assert "source" not in record and record["choice"]["float64"]["variant"] == names[0]


def _tampered_shipped():
    def writable_by_others(path):
        os.chmod(path, 0o666)

    def other_cpu_inside(path):       # resealed under the right name: only the content tells
        with open(path, "rb") as f:
            record = json.loads(f.read().split(b"\n", 1)[1])
        record["cpu"] = "FakeVendor family 0 model 0"
        with open(path, "wb") as f:
            f.write(seal(json.dumps(record).encode()))

    def edited(path):
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data.replace(b'"variant": "', b'"variant": "9', 1))
    return [writable_by_others, other_cpu_inside, edited] + [
        lambda path, tamper=tamper: _rewrite(path, tamper) for tamper in _tampered_variants()]


def _rewrite(path, tamper):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(tamper(data))


@pytest.mark.parametrize("tamper", range(len(_tampered_shipped())))
def test_a_tampered_shipped_choice_is_refused_with_a_warning(lib, tmp_path, monkeypatch, tamper,
                                                             one_blas_thread):
    """A shipped record that fails the checks of a cache record (seal, owner and mode, the
    library, CPU and variants it names) is not taken: one warning, the tiles timed."""
    names = gemm_tuning.variant_names(lib)
    key, cpu = runtime_library.runtime().key, "FakeVendor family 15 model 16"
    monkeypatch.setattr(gemm_tuning, "cpu_identity", lambda: cpu)
    monkeypatch.setenv("CGRAPH_PREBUILT_DIR", str(tmp_path / "units"))
    _, path = _ship(tmp_path / "units", lib, key, cpu, len(names) - 1)
    _tampered_shipped()[tamper](path)
    with pytest.warns(RuntimeWarning, match="shipped small-GEMM choice .*gemm-.*json"):
        record = gemm_tuning.choose(lib, key, root=str(tmp_path / "cache"), timer=fake_timer(0))
    assert "source" not in record and record["choice"]["float32"]["variant"] == names[0]


def test_the_runtime_applies_the_recorded_choice(lib):
    """The loaded runtime runs the variants its cache's record names."""
    record = gemm_tuning.choose(lib, runtime_library.runtime().key)
    in_force = gemm_tuning.chosen()
    if in_force["forced"]:
        pytest.skip("CGRAPH_GEMM_VARIANT is set")
    assert in_force["variants"] == {d: c["variant"] for d, c in record["choice"].items()}
    if os.environ.get("CGRAPH_GEMM_SKINNY", "").lower() != "blas":
        assert in_force["skinny"] == {d: {kind: s["variant"] for kind, s in c["skinny"].items()}
                                      for d, c in record["choice"].items()}


def test_a_choice_made_against_other_blas_threads_is_not_used(lib, tmp_path, monkeypatch):
    """BLAS on two threads is another competitor than on one: each count has its record."""
    import cgraph.blas_pointers as blas_pointers
    key = runtime_library.runtime().key
    monkeypatch.setattr(gemm_tuning, "cpu_identity", lambda: "FakeVendor family 5 model 6")
    monkeypatch.setattr(blas_pointers, "blas_threads", lambda: 1)
    one = gemm_tuning.choose(lib, key, root=str(tmp_path), timer=fake_timer(0, blas=2.0))
    monkeypatch.setattr(blas_pointers, "blas_threads", lambda: 2)
    two = gemm_tuning.choose(lib, key, root=str(tmp_path), timer=fake_timer(0, blas=0.5))
    assert (one["blas_threads"], two["blas_threads"]) == (1, 2)
    assert one["choice"]["float32"]["skinny"]["m"]["variant"] is not None
    assert two["choice"]["float32"]["skinny"]["m"]["variant"] is None      # BLAS
    assert len(os.listdir(tmp_path / "tuning")) == 2


def test_the_c_timer_times_every_candidate_warm_and_cold(lib):
    """Every variant and BLAS (-1) give a positive time, warm and with evicted operands; an
    unknown variant is an error, not a time."""
    names = gemm_tuning.variant_names(lib)
    for cold in (False, True):
        timer = gemm_tuning.c_timer(lib, cold=cold)
        for dtype in ("float32", "float64"):
            for variant in [-1] + list(range(len(names))):
                seconds = timer(dtype, variant, (5, 40, 7))
                assert 0 < seconds < 1
            with pytest.raises(MemoryError, match="cannot time"):
                timer(dtype, len(names), (5, 40, 7))


def test_the_k_kind_is_timed_as_an_update():
    """The skinny products summed over a minibatch (kind "k": a weight gradient x.T d) are
    timed as an update runs them (mode 2, CG_TIME_UPDATE: cold, A transposed, added into C);
    the other skinny kinds cold with C only written (1), small products warm (0)."""
    calls = []

    class FakeLib:
        def __getattr__(self, name):
            def time_threads(variant, m, n, k, reps, mode, threads):
                calls.append(((m, n, k), mode))
                return 1e-4 * reps
            return time_threads
    cold = gemm_tuning.c_timer(FakeLib(), cold=True)
    warm = gemm_tuning.c_timer(FakeLib())
    for kind, shapes in gemm_tuning.SKINNY_SHAPES.items():
        for shape in shapes:
            calls.clear()
            cold("float64", -1, shape)
            assert calls == [(shape, 2 if kind == "k" else 1)], kind
            calls.clear()
            warm("float32", 0, shape)
            assert calls == [(shape, 0)]


def test_the_c_timer_times_an_update(lib):
    """cg_<p>gemm_time_threads in mode 2 (A transposed, the product added into an evicted C)
    gives a positive time for BLAS (-1) and every variant, at a k-kind shape with a partial
    tile, on one thread and on two; an unknown variant is an error (-1)."""
    names = gemm_tuning.variant_names(lib)
    for p in "sd":
        f = getattr(lib, f"cg_{p}gemm_time_threads")
        f.restype = ctypes.c_double
        f.argtypes = [ctypes.c_int] + [ctypes.c_int64] * 4 + [ctypes.c_int, ctypes.c_int]
        for variant in [-1] + list(range(len(names))):
            for threads in (1, 2):
                assert 0 < f(variant, 37, 45, 20, 1, 2, threads) < 1
        assert f(len(names), 37, 45, 20, 1, 2, 1) == -1


def test_skinny_products_timed_against_a_multithreaded_blas(lib, tmp_path, monkeypatch,
                                                            restore_variants):
    """With BLAS on two threads the skinny products are timed against it (the variants on as
    many threads: c_timer's ``threads``); a variant that wins takes them, but only where a
    module gives the product as many threads: on one, BLAS runs it."""
    import cgraph.blas_pointers as blas_pointers
    monkeypatch.setattr(blas_pointers, "blas_threads", lambda: 2)
    monkeypatch.setattr(gemm_tuning, "cpu_identity", lambda: "FakeVendor family 7 model 8")
    monkeypatch.delenv("CGRAPH_GEMM_SKINNY", raising=False)
    shapes = []

    def timer(dtype, variant, shape):
        shapes.append(shape)
        return fake_timer(0, blas=5.0)(dtype, variant, shape)
    record = gemm_tuning.choose(lib, runtime_library.runtime().key, root=str(tmp_path),
                                timer=timer)
    skinny = {s for kind in gemm_tuning.SKINNY_SHAPES.values() for s in kind}
    assert skinny <= set(shapes)
    names = gemm_tuning.variant_names(lib)
    for choice in record["choice"].values():
        assert {kind: s["variant"] for kind, s in choice["skinny"].items()} == \
            dict.fromkeys("mnk", names[0])
    gemm_tuning.apply(lib, record)
    f = lib.cg_dgemm_small_threads
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    f.argtypes = [i64, i64, i64, ctypes.c_double, ptr, i64, i64, ptr, i64, i64,
                  ctypes.c_double, ptr, ctypes.c_int]
    m, k, n = 20, 784, 500                                 # skinny: m <= 32
    a, b, c = np.ones((m, k)), np.ones((k, n)), np.zeros((m, n))
    taken = [f(m, n, k, 1.0, a.ctypes.data, k, 1, b.ctypes.data, n, 1, 0.0, c.ctypes.data, t)
             for t in (1, 2)]
    assert taken == [0, 1]
    assert (c == k).all()


def test_the_c_timer_times_threaded_variants(lib):
    """Variants timed as they run on 2 threads, BLAS (-1) on its own: positive times."""
    names = gemm_tuning.variant_names(lib)
    timer = gemm_tuning.c_timer(lib, cold=True, threads=2)
    for dtype in ("float32", "float64"):
        for variant in [-1] + list(range(len(names))):
            assert 0 < timer(dtype, variant, (20, 300, 200)) < 1


@pytest.fixture(scope="module")
def avx2_runtime(tmp_path_factory):
    """The runtime library compiled for a CPU without AVX-512 (gcc -mavx2 -mfma
    -mno-avx512f), loaded: once for the tests that run its kernels (~8 s of CPU)."""
    import shutil
    import subprocess
    if not shutil.which("gcc"):
        pytest.skip("no gcc")
    from cgraph.cache import build_units
    folder = tmp_path_factory.mktemp("avx2")
    lib_path, objects = folder / "rt_avx2.so", []
    for k, unit in enumerate(build_units.unit_sources(runtime_library.render_source())):
        src = folder / f"unit{k}.c"
        src.write_text(unit)
        objects.append(str(folder / f"unit{k}.o"))
        subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-fPIC", "-fvisibility=hidden",
                        "-mavx2", "-mfma", "-mno-avx512f", "-c", str(src), "-o", objects[-1]],
                       check=True)
    subprocess.run(["gcc", "-shared", *objects, "-o", str(lib_path), "-lm"], check=True)
    return ctypes.CDLL(str(lib_path))


@pytest.mark.slow   # a second runtime library compiled: ~8 s of CPU
def test_an_avx2_only_build_has_the_32_byte_variants(avx2_runtime):
    """The runtime compiled for a CPU without AVX-512 (gcc -mavx2 -mfma) holds the variants of
    32-byte vectors of 12 sums only, each agreeing with numpy; timing them picks one
    (skinny products are left out)."""
    avx2 = avx2_runtime
    names = gemm_tuning.variant_names(avx2)
    assert names and all(name.endswith("v32") for name in names)
    assert "8x3v32" not in names and "12x2v32" not in names     # 24 sums: 32 registers
    for dtype in ("float32", "float64"):
        for variant, name in enumerate(names):
            for m, n, k in SHAPES + [(m, 37, 9) for m in range(1, 14)]:   # every row tail
                a = rng.standard_normal((m, k)).astype(dtype)
                b = rng.standard_normal((k, n)).astype(dtype)
                np.testing.assert_allclose(run_variant(avx2, variant, a, np.asfortranarray(b)),
                                           a.astype(np.float64) @ b, *tol(dtype, k),
                                           err_msg=f"{name} {m}x{n}x{k}")
    runtime_library.set_blas(avx2)        # BLAS is timed beside the tiles
    result = gemm_tuning.measure(names, gemm_tuning.c_timer(avx2), skinny={}, rounds=1)
    for dtype in ("float32", "float64"):
        assert result[dtype]["tile"] in names and result[dtype]["variant"] in names + [None]


@pytest.mark.slow   # (the AVX2-only build: see avx2_runtime)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_avx2_only_dot_tile_agrees_with_numpy(avx2_runtime, dtype):
    """h W.T by the dot tile of 32-byte vectors and 8 sums, 2x4v32: the only one an
    AVX2-only CPU compiles (the 64-byte ones need AVX-512, 3x8v32's 24 sums AVX-512VL's 32
    registers), so it never runs on an AVX-512 machine's own build. Every row tail (its 1x4
    tile for an odd last row), k a multiple of the vector, one past and odd, n not a multiple
    of 4, alpha/beta and NaN in C under beta = 0: numpy's values."""
    p = "s" if dtype == "float32" else "d"
    assert gemm_tuning.dot_tile_names(avx2_runtime) == ["2x4v32"]
    assert getattr(avx2_runtime, f"cg_set_{p}gemm_skinny_variant")(0, 0) == 1
    assert getattr(avx2_runtime, f"cg_set_{p}gemm_transposed_b_form")(0) == 1
    lanes = 32 // np.dtype(dtype).itemsize
    for m, k, n in [(20, 500, 784), (1, 2100, 1001), (19, 257, 501), (21, 300, 333),
                    (32, 129, 517), (20, lanes, 2 * 2**21 // (20 * lanes)),
                    (3, lanes + 1, 2**21 // 3 // (lanes + 1) + 7)]:   # (past the small kernel's)
        a = rng.standard_normal((m, k)).astype(dtype)
        bt = rng.standard_normal((n, k)).astype(dtype)
        c0 = rng.standard_normal((m, n)).astype(dtype)
        for alpha, beta in [(1.0, 0.0), (-0.5, 2.0)]:
            c = c0.copy() if beta else np.full((m, n), np.nan, dtype)
            got = transposed_b_bits(avx2_runtime, dtype, a, bt, alpha, beta, c)
            assert got is not None, f"declined at {(m, k, n)}"
            np.testing.assert_allclose(
                got, alpha * (a.astype(np.float64) @ bt.T) + beta * c0, *tol(dtype, k),
                err_msg=f"2x4v32 {dtype} {(m, k, n)} alpha={alpha} beta={beta}")


# --- BLAS as a candidate for the small products; the BLAS core in the record ---------------

def _small_times(blas, tile_b=1.3):
    """A timer: on small shapes (m = 9) tile A 1.0, B ``tile_b``, BLAS ``blas``; skinny
    shapes left to BLAS."""
    def timer(dtype, variant, shape):
        if shape[0] == 9:
            return {-1: blas, 0: 1.0, 1: tile_b}[variant]
        return 1.0 if variant == -1 else 2.0
    return timer


def test_blas_takes_the_small_products_only_where_it_beats_the_best_tile():
    """BLAS is timed beside the tiles on the small shapes: 10% faster than the best tile, it
    takes them (variant None; the best tile kept as "tile", the one skinny ties go to);
    within the margin (3% faster) or slower, the best tile does; once in force it keeps them
    while not slower than the tile (no margin to win again)."""
    names = ["A", "B"]
    kinds = {"m": [(1, 1, 1)]}

    def run(blas, previous=None):
        got = gemm_tuning.measure(names, _small_times(blas), dtypes=["float32"],
                                  shapes=[(9, 9, 9), (9, 9, 5)], skinny=kinds,
                                  previous=previous)["float32"]
        return got["variant"], got["tile"], got["scores"]
    variant, tile, scores = run(0.9)
    assert (variant, tile) == (None, "A")
    assert scores == {"BLAS": 1.0, "A": pytest.approx(1 / 0.9, rel=1e-3),
                      "B": pytest.approx(1.3 / 0.9, rel=1e-3)}
    assert run(0.97)[:2] == ("A", "A")
    assert run(1.2)[:2] == ("A", "A")
    blas_in_force = {"float32": {"variant": None, "tile": "A",
                                 "skinny": {"m": {"variant": None}}}}
    assert run(0.97, blas_in_force)[:2] == (None, "A")
    assert run(1.02, blas_in_force)[:2] == ("A", "A")


def test_blas_is_not_given_the_small_products_by_a_tile_slowed_in_every_round():
    """BLAS 10% faster than the tile's best time, but the tile slowed at random in most
    rounds (its best time not met again): BLAS's win is not known, the tile stays; a tile
    whose times agree loses them to BLAS; a clear win (BLAS 25% faster) needs no
    agreement."""
    names = ["A"]
    slow = [1.0, 1.3, 1.2, 1.4, 1.25, 1.35, 1.15, 1.3, 1.45, 1.2, 1.3, 1.4, 1.25, 1.5, 1.3]
    counts = {}

    def timer(blas, spread):
        def time(dtype, variant, shape):
            r = counts[(blas, spread, variant, shape)] = \
                counts.get((blas, spread, variant, shape), 0) + 1
            if variant == -1:
                return blas
            return slow[(r - 1) % len(slow)] if spread else 1.0
        return time
    for blas, spread, expected in ((0.9, True, "A"), (0.9, False, None), (0.75, True, None)):
        got = gemm_tuning.measure(names, timer(blas, spread), dtypes=["float64"],
                                  shapes=[(9, 9, 9)], skinny={})["float64"]["variant"]
        assert got == expected, (blas, spread, got)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_small_kernel_declines_where_blas_was_chosen(lib, dtype, restore_variants):
    """With BLAS as the small products' variant (-1) cg_<p>gemm_small takes nothing, and a
    compiled dot still agrees with numpy (through BLAS) on small shapes, tails and empty
    ones; with a tile it takes them again."""
    p = "s" if dtype == "float32" else "d"
    ct, i64, ptr = _CT[dtype], ctypes.c_int64, ctypes.c_void_p
    small = getattr(lib, f"cg_{p}gemm_small")
    small.argtypes = [i64, i64, i64, ct, ptr, i64, i64, ptr, i64, i64, ct, ptr]
    small.restype = ctypes.c_int
    setter = getattr(lib, f"cg_set_{p}gemm_variant")
    setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
    a, b = (T.matrix(name, dtype=dtype) for name in "ab")
    f = cgraph.function([a, b], T.dot(a, b))
    for variant, takes in ((-1, 0), (0, 1)):
        assert setter(variant) == 1
        av = rng.standard_normal((16, 64)).astype(dtype)
        bv = rng.standard_normal((64, 64)).astype(dtype)
        c = np.zeros((16, 64), dtype)
        assert small(16, 64, 64, 1, av.ctypes.data, 64, 1, bv.ctypes.data, 64, 1, 0,
                     c.ctypes.data) == takes
        if takes:
            np.testing.assert_allclose(c, av.astype(np.float64) @ bv, *tol(dtype, 64))
        for m, n, k in [(16, 64, 64), (13, 37, 9), (1, 17, 1), (0, 20, 5), (4, 20, 0)]:
            av = rng.standard_normal((m, k)).astype(dtype)
            bv = rng.standard_normal((k, n)).astype(dtype)
            out = f(av, bv)
            assert out.dtype == dtype and out.shape == (m, n)
            np.testing.assert_allclose(out, av.astype(np.float64) @ bv, *tol(dtype, max(k, 1)))


def test_blas_for_the_small_products_shows_in_the_record_and_cache_show(
        lib, tmp_path, monkeypatch, one_blas_thread):
    """A record where BLAS won the small products says so ("BLAS", with the best tile's
    score) in describe() and `cache show`, and the runtime applies it (-1)."""
    key = runtime_library.runtime().key
    monkeypatch.setattr(gemm_tuning, "cpu_identity", lambda: "FakeVendor family 4 model 4")
    record = gemm_tuning.choose(lib, key, root=str(tmp_path), timer=fake_timer(0, blas=0.5))
    assert {d: c["variant"] for d, c in record["choice"].items()} == \
        {"float32": None, "float64": None}
    assert record["blas_core"] == CORE
    assert gemm_tuning.describe(record).startswith("small-GEMM tiles: float32 BLAS, skinny ")
    monkeypatch.setenv("CGRAPH_CACHE_DIR", str(tmp_path))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cache_cli.main(["show"]) == 0
    assert "float64 BLAS, skinny" in out.getvalue()
    assert "time relative to the fastest (geometric mean): BLAS 1.00" in out.getvalue()
    try:
        assert gemm_tuning.apply(lib, record) == {"float32": None, "float64": None}
        assert gemm_tuning.chosen()["variants"] == {"float32": None, "float64": None}
        assert "float32 BLAS" in gemm_tuning.describe()
    finally:
        gemm_tuning.apply(lib, gemm_tuning.choose(lib, key))


def test_a_record_timed_against_another_blas_core_is_timed_again(lib, tmp_path, monkeypatch,
                                                                 one_blas_thread):
    """OpenBLAS's core (OPENBLAS_CORETYPE=Haswell on a machine whose own is SkylakeX) is part
    of the record's identity: each core gets its own record, timed against it; a record
    without the core (the format before it) or naming another one where this core's should
    be is set aside with a warning and timed again."""
    key = runtime_library.runtime().key
    cpu = "FakeVendor family 6 model 6"
    monkeypatch.setattr(gemm_tuning, "cpu_identity", lambda: cpu)
    timed = []

    def counting(*args):
        timed.append(args)
        return fake_timer(0)(*args)
    records = {}
    for core in ("Haswell", "SkylakeX"):
        monkeypatch.setattr(blas_pointers, "blas_core", lambda core=core: core)
        timed.clear()
        records[core] = gemm_tuning.choose(lib, key, root=str(tmp_path), timer=counting)
        assert timed and records[core]["blas_core"] == core
        assert gemm_tuning.record_path(str(tmp_path), key, cpu, 1, "Haswell") != \
            gemm_tuning.record_path(str(tmp_path), key, cpu, 1, "SkylakeX")
    timed.clear()
    assert gemm_tuning.choose(lib, key, root=str(tmp_path), timer=counting) == \
        records["SkylakeX"] and not timed
    path = gemm_tuning.record_path(str(tmp_path), key, cpu, 1, "SkylakeX")
    for n, tampered in enumerate(({k: v for k, v in records["SkylakeX"].items()
                                   if k != "blas_core"},
                                  dict(records["SkylakeX"], blas_core="Haswell"))):
        with open(path, "wb") as f:
            f.write(seal(json.dumps(tampered).encode()))
        timed.clear()
        with warnings.catch_warnings(record=True) as caught:     # (said once per path)
            warnings.simplefilter("always")
            again = gemm_tuning.choose(lib, key, root=str(tmp_path), timer=counting)
        assert [str(w.message) for w in caught if "another runtime library, CPU or BLAS"
                in str(w.message)] or n > 0
        assert timed and again["blas_core"] == "SkylakeX"
        assert len(os.listdir(tmp_path / "quarantine")) == n + 1


def test_the_blas_core_is_openblas_s_own_name():
    """blas_core() reads openblas_get_corename from the BLAS in use: the core
    OPENBLAS_CORETYPE names where it is set."""
    core = blas_pointers.blas_core()
    assert core is None or (isinstance(core, str) and core)
    forced = os.environ.get("OPENBLAS_CORETYPE")
    if forced and core is not None:
        assert core.lower() == forced.lower()


def test_avx512vl_builds_the_32_byte_tiles_of_24_sums(lib):
    """On AVX-512 with VL (32 ymm registers) the 32-byte tiles of 24 sums are compiled beside
    the 64-byte ones; those of 12 sums (AVX2's 16 registers) are not."""
    names = gemm_tuning.variant_names(lib)
    if not any(n.endswith("v64") for n in names):
        pytest.skip("no AVX-512 here")
    with open("/proc/cpuinfo") as f:
        vl = " avx512vl" in f.read()
    assert ("8x3v32" in names and "12x2v32" in names) == vl
    assert "6x2v32" not in names and "3x4v32" not in names


# --- h W.T: the dot tiles or the packed panels, timed per CPU ------------------------------

def form_timer(fastest):
    """h W.T's form ``fastest`` (-1: the panels) fastest, the others 1.4x slower."""
    def timer(dtype, form, shape, variant):
        m, n, k = shape
        return m * n * k * (1.0 if form == fastest else 1.4 + form * 0.01)
    return timer


def transposed_b_bits(lib, dtype, a, bt, alpha=1.0, beta=0.0, c=None):
    """C = alpha a bt.T + beta c by cg_<p>gemm_transposed_b_skinny (the form in force), into
    ``c`` (a new array if None), or None if declined."""
    p = "s" if dtype == "float32" else "d"
    f = getattr(lib, f"cg_{p}gemm_transposed_b_skinny")
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    f.argtypes = [i64, i64, i64, _CT[dtype], ptr, i64, i64, ptr, i64, i64, _CT[dtype], ptr,
                  ctypes.c_int]
    c = np.empty((a.shape[0], bt.shape[0]), dtype) if c is None else c
    taken = f(a.shape[0], bt.shape[0], a.shape[1], alpha, a.ctypes.data, a.shape[1], 1,
              bt.ctypes.data, 1, bt.shape[1], beta, c.ctypes.data, 1)
    return c if taken else None


def test_transposed_b_form_timed_recorded_and_applied(lib, tmp_path, one_blas_thread,
                                                       restore_variants):
    """The record names h W.T's fastest form per dtype (a dot tile, or the panels), only where
    the "m" kind went to a tile; apply puts it in force in the library (the bits of h W.T
    are those of that form); a record naming no known form is set aside."""
    from cgraph.cache_files import BadFile
    names = gemm_tuning.variant_names(lib)
    forms = gemm_tuning.dot_tile_names(lib)
    assert forms
    key, cpu = runtime_library.runtime().key, "FakeVendor family 9 model 44"
    a = rng.normal(size=(20, 500)).astype("float32")
    bt = rng.normal(size=(784, 500)).astype("float32")
    by_form = {}
    for fastest in [-1] + list(range(len(forms))):
        record = gemm_tuning.measure_record(lib, key, names, cpu, 1, timer=fake_timer(0),
                                            core=CORE, form_timer=form_timer(fastest))
        expected = gemm_tuning.PANELS if fastest < 0 else forms[fastest]
        for dtype in gemm_tuning.DTYPES:
            got = record["choice"][dtype]["transposed_b"]
            assert got["form"] == expected and set(got["scores"]) == {"panels", *forms}
        assert gemm_tuning._check(record, "p", key, cpu, 1, names, CORE) is record
        gemm_tuning.apply(lib, record)
        assert gemm_tuning.chosen()["transposed_b"] == dict.fromkeys(gemm_tuning.DTYPES, expected)
        assert ("hW.T:" + expected) in gemm_tuning.describe(record)
        by_form[expected] = transposed_b_bits(lib, "float32", a, bt)
        assert by_form[expected] is not None
        np.testing.assert_allclose(by_form[expected], a @ bt.T, rtol=1e-4, atol=1e-3)
    # each form's bits differ from the panels' (else the apply above would tell nothing)
    assert all(not np.array_equal(by_form[f], by_form["panels"]) for f in forms)
    # ties go to the form in force, then to the first dot tile
    tie = lambda dtype, form, shape, variant: 1.0
    assert gemm_tuning.transposed_b_choice(tie, "float64", forms, 0)["form"] == forms[0]
    assert gemm_tuning.transposed_b_choice(tie, "float64", forms, 0, "panels")["form"] == "panels"
    # BLAS takes the "m" kind: no form timed, none recorded
    record = gemm_tuning.measure_record(lib, key, names, cpu, 1, timer=fake_timer(0, blas=0.5),
                                        core=CORE, form_timer=form_timer(-1))
    assert all("transposed_b" not in c for c in record["choice"].values())
    # a form the library has not
    record = gemm_tuning.measure_record(lib, key, names, cpu, 1, timer=fake_timer(0),
                                        core=CORE, form_timer=form_timer(0))
    record["choice"]["float32"]["transposed_b"]["form"] = "9x9v64"
    with pytest.raises(BadFile):
        gemm_tuning._check(record, "p", key, cpu, 1, names, CORE)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_transposed_b_timer(lib, dtype):
    """The C timer of h W.T: a time for the panels and each dot tile; an unknown form, a
    variant out of range, or a dot tile on k under a vector: an error."""
    timer = gemm_tuning.transposed_b_timer(lib)
    forms = gemm_tuning.dot_tile_names(lib)
    for form in range(-1, len(forms)):
        assert 0 < timer(dtype, form, (3, 100, 40), 0) < 1
    for form, variant, shape in [(len(forms), 0, (3, 100, 40)), (0, -1, (3, 100, 40)),
                                 (0, 99, (3, 100, 40)), (0, 0, (3, 100, 4))]:
        with pytest.raises(MemoryError):
            timer(dtype, form, shape, variant)


# --- the tile per row count (cg_set_<p>gemm_variant_for_m, gemm_tuning.measure_by_m) -------

def _setter(lib, dtype, name, argtypes):
    """The runtime's cg_set_<p><name> (or cg_<p><name> for a name starting "gemm_small")."""
    prefix = "cg_" if name.startswith("gemm_small") else "cg_set_"
    f = getattr(lib, f"{prefix}{'s' if dtype == 'float32' else 'd'}{name}")
    f.argtypes, f.restype = argtypes, ctypes.c_int
    return f


def _small_threads(lib, a, b, c):
    """cg_<p>gemm_small_threads on numpy views a (any strides), b (contiguous rows) into c:
    1 where the kernel took the product, 0 where it left it to BLAS."""
    dtype = a.dtype.name
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    f = _setter(lib, dtype, "gemm_small_threads",
                [i64] * 3 + [_CT[dtype], ptr, i64, i64, ptr, i64, i64, _CT[dtype], ptr,
                             ctypes.c_int])
    (m, k), n, size = a.shape, b.shape[1], a.itemsize
    return f(m, n, k, 1.0, a.ctypes.data, a.strides[0] // size, a.strides[1] // size,
             b.ctypes.data, b.strides[0] // size, 1, 0.0, c.ctypes.data, 1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_each_row_count_runs_the_tile_set_for_it(lib, dtype, restore_variants):
    """A product of m <= 32 rows runs on the variant set for that m in its table (0: small
    products, A through any strides; 1: the skinny "m" kind, A's rows contiguous), else on
    its kind's: told apart by their bits (tiles of other widths sum k in other blocks,
    CG_GEMM_KC_BYTES); BLAS (-1) for an m declines it, a tile for an m takes it where BLAS
    runs the kind; setting the kind's variant clears its table; m = 33 and other tables are
    refused."""
    names = gemm_tuning.variant_names(lib)
    own = names[0]
    other = next(n for n in names if gemm_tuning._width(n) != gemm_tuning._width(own))
    v_own, v_other = names.index(own), names.index(other)
    set_for_m = _setter(lib, dtype, "gemm_variant_for_m", [ctypes.c_int] * 3)
    set_small = _setter(lib, dtype, "gemm_variant", [ctypes.c_int])
    set_skinny = _setter(lib, dtype, "gemm_skinny_variant", [ctypes.c_int] * 2)
    lib.cg_set_gemm_skinny_threads.argtypes = [ctypes.c_int]
    assert set_small(v_own) and set_skinny(0, v_own) and lib.cg_set_gemm_skinny_threads(1)
    for bad in [(2, 1, 0), (-1, 1, 0), (0, 0, 0), (0, 33, 0), (1, 5, len(names)), (1, 5, -3)]:
        assert set_for_m(*bad) == 0
    for table in (0, 1):
        for m in range(1, 33):
            # small products under 128^3, the "m" kind's just past them
            k = 300 if table == 0 else 2 ** 21 // (64 * m) + 1
            b = rng.standard_normal((k, 64)).astype(dtype)
            if table == 0:      # every other column of a wider A
                a = np.repeat(rng.standard_normal((m, k)).astype(dtype), 2, axis=1)[:, ::2]
            else:               # rows of a wider A
                a = rng.standard_normal((m, k + 3)).astype(dtype)[:, :k]
            by_own, by_other = run_variant(lib, v_own, a, b), run_variant(lib, v_other, a, b)
            assert not np.array_equal(by_own, by_other)
            expected = a.astype(np.float64) @ b
            rtol, atol = tol(dtype, k)
            np.testing.assert_allclose(by_other, expected, rtol=rtol, atol=atol)
            for setting, result in ((v_other, by_other), (-2, by_own)):
                assert set_for_m(table, m, setting)
                c = np.full((m, 64), np.nan, dtype)
                assert _small_threads(lib, a, b, c) == 1
                np.testing.assert_array_equal(c, result, err_msg=f"table {table} m={m}")
            if m == 16:     # setting the kind's variant clears its table
                assert set_for_m(table, m, v_other)
                assert (set_small if table == 0 else lambda v: set_skinny(0, v))(v_own)
                c = np.full((m, 64), np.nan, dtype)
                assert _small_threads(lib, a, b, c) == 1
                np.testing.assert_array_equal(c, by_own)
                # the other table's setting does not reach this one
                assert set_for_m(1 - table, m, v_other)
                c = np.full((m, 64), np.nan, dtype)
                assert _small_threads(lib, a, b, c) == 1
                np.testing.assert_array_equal(c, by_own)
                assert set_for_m(1 - table, m, -2)
                # BLAS for m: declined (BLAS runs it)
                assert set_for_m(table, m, -1)
                assert _small_threads(lib, a, b, np.empty((m, 64), dtype)) == 0
                # BLAS runs the kind, a tile this m
                assert (set_small if table == 0 else lambda v: set_skinny(0, v))(-1)
                assert set_for_m(table, m, v_other)
                c = np.full((m, 64), np.nan, dtype)
                assert _small_threads(lib, a, b, c) == 1
                np.testing.assert_array_equal(c, by_other)
                assert set_for_m(table, m, -2)
                assert _small_threads(lib, a, b, c) == 0
                assert set_small(v_own) and set_skinny(0, v_own)


def _pass_cost(name, m):
    """A fake time of m rows on a tile variant: each pass costs about as much whatever its
    rows (a small tile waits on the FMA latency), so a small remainder is dear."""
    cost = {2: 0.55, 4: 0.6, 6: 0.7, 8: 0.75, 12: 1.0}
    return sum(cost.get(rows, rows / 12) for rows in gemm_tuning.row_passes(name, m))


def test_the_tile_per_row_count_is_the_fastest_for_each_m():
    """by_m_choice: per m the fastest candidate; an m every candidate runs on the same tiles
    (m <= 8 for 12x2v64 and 8x2v64) is not timed; a tie goes to the tile in force for m,
    then to the kind's."""
    names = ["8x2v64", "4x4v64", "12x2v64"]
    assert gemm_tuning.row_passes("12x2v64", 16) == (12, 4)
    assert gemm_tuning.row_passes("12x2v64", 20) == (12, 8)
    assert gemm_tuning.row_passes("8x2v64", 20) == (8, 8, 4)
    assert gemm_tuning.row_passes("8x2v64", 3) == gemm_tuning.row_passes("12x2v64", 3) == (4,)
    assert gemm_tuning.row_passes("12x2v64", 24) == (12, 12)
    timed = []

    def timer(dtype, variant, shape):
        timed.append(shape[0])
        return _pass_cost(names[variant], shape[0]) * shape[1] * shape[2]
    got = gemm_tuning.by_m_choice(timer, "float32", "m", names, ["12x2v64", "8x2v64"])
    assert set(timed) == set(range(9, 33))
    for m in range(1, 33):
        costs = {c: _pass_cost(c, m) for c in ("12x2v64", "8x2v64")}
        faster = "8x2v64" if costs["8x2v64"] < costs["12x2v64"] / gemm_tuning.NOISE else "12x2v64"
        assert got["variants"][str(m)] == faster, m
    assert got["variants"]["16"] == "8x2v64" and got["variants"]["20"] == "12x2v64"
    tie = lambda dtype, variant, shape: 1.0
    assert set(gemm_tuning.by_m_choice(tie, "float32", "m", names, ["12x2v64", "8x2v64"])
               ["variants"].values()) == {"12x2v64"}
    before = {"variants": {"16": "8x2v64"}}
    again = gemm_tuning.by_m_choice(tie, "float32", "m", names, ["12x2v64", "8x2v64"], before)
    assert again["variants"]["16"] == "8x2v64" and again["variants"]["17"] == "12x2v64"
    # the candidates: the kind's own, then by the kind's timing BLAS and the tiles near the
    # fastest for the small products, the tiles of its width for the "m" kind
    scores = {"BLAS": 0.5, "8x2v64": 1.1, "4x4v64": 1.0, "12x2v64": 1.2, "6x4v64": 1.3}
    choice = {"variant": "12x2v64", "scores": scores,
              "skinny": {"m": {"variant": "12x2v64", "vs_blas": scores}}}
    names = names + ["6x4v64"]
    assert gemm_tuning.by_m_candidates(choice, "small", names) == \
        ["12x2v64", "BLAS", "4x4v64", "8x2v64"]
    assert gemm_tuning.by_m_candidates(choice, "m", names) == ["12x2v64", "8x2v64"]
    choice["variant"] = choice["skinny"]["m"]["variant"] = None
    assert gemm_tuning.by_m_candidates(choice, "small", names) == ["BLAS", "4x4v64", "8x2v64"]
    assert gemm_tuning.by_m_candidates(choice, "m", names) == ["BLAS"]


def _same_width_pair(names):
    """Two variants of one width and other heights (the tile per row count chooses among
    them), or None."""
    for own in names:
        for other in names:
            if other != own and gemm_tuning._width(other) == gemm_tuning._width(own) and \
                    int(own.partition("x")[0]) > int(other.partition("x")[0]):
                return own, other
    return None


def test_the_tile_per_row_count_round_trips_through_the_record(lib, tmp_path, monkeypatch,
                                                                one_blas_thread,
                                                                restore_variants):
    """The record names the tile for each m of each table where its kind runs a tile; read
    again, it is not timed again; applied, it is in force and shown; CGRAPH_GEMM_BY_M=off
    and CGRAPH_GEMM_VARIANT run the kind's tile for every m; a record without it (the
    format before) is set aside and timed again."""
    names = gemm_tuning.variant_names(lib)
    pair = _same_width_pair(names)
    if pair is None:
        pytest.skip("no two variants of one width here")
    own, other = pair
    key = runtime_library.runtime().key
    cpu = "FakeVendor family 7 model 8"
    monkeypatch.setattr(gemm_tuning, "cpu_identity", lambda: cpu)
    # the tables' shapes told apart from the kinds' by their n x k
    monkeypatch.setattr(gemm_tuning, "BY_M_SHAPES", {"small": (3, 5), "m": (7, 9)})

    def timer(dtype, variant, shape):     # the kinds: own fastest, other near, BLAS 1.2x
        m, n, k = shape
        if (n, k) in gemm_tuning.BY_M_SHAPES.values():     # BLAS fastest on one row
            return (0.1 if m == 1 else 9.0) if variant == -1 else _pass_cost(names[variant], m)
        return m * n * k * (1.2 if variant == -1 else 1.0 if names[variant] == own else
                            1.05 if names[variant] == other else 1.5)
    record = gemm_tuning.choose(lib, key, root=str(tmp_path), timer=timer)
    wins = {m for m in range(1, 33)
            if _pass_cost(other, m) < _pass_cost(own, m) / gemm_tuning.NOISE}
    assert wins
    small = {**dict.fromkeys(wins, other), 1: "BLAS"}
    overrides = {"small": small, "m": dict.fromkeys(wins, other)}
    for choice in record["choice"].values():
        assert choice["variant"] == choice["skinny"]["m"]["variant"] == own
        for table in gemm_tuning.BY_M_TABLES:
            assert gemm_tuning.by_m_overrides(choice, table) == overrides[table]

    def no_timing(*args):
        raise AssertionError("timed again although the record is in the cache")
    assert gemm_tuning.choose(lib, key, root=str(tmp_path), timer=no_timing) == record
    gemm_tuning.apply(lib, record)
    shown = gemm_tuning.rows_text(overrides["m"])
    assert shown.startswith(" (m=") and shown.endswith(f":{other})")
    shown_small = gemm_tuning.rows_text(small)
    assert shown_small.startswith(" (m=1:BLAS m=")
    assert f"float32 {own}{shown_small}, skinny m<=32:{own}{shown} n<=32" in \
        gemm_tuning.describe(record)
    assert gemm_tuning.chosen()["by_m"] == dict.fromkeys(gemm_tuning.DTYPES, overrides)
    assert f"skinny m<=32:{own}{shown}" in gemm_tuning.describe()
    monkeypatch.setenv("CGRAPH_GEMM_BY_M", "off")
    gemm_tuning.apply(lib, record)
    assert all(not t for d in gemm_tuning.chosen()["by_m"].values() for t in d.values())
    monkeypatch.setenv("CGRAPH_GEMM_BY_M", "sometimes")
    with pytest.raises(ValueError, match="CGRAPH_GEMM_BY_M='sometimes' is not one of: off"):
        gemm_tuning.apply(lib, record)
    monkeypatch.delenv("CGRAPH_GEMM_BY_M")
    monkeypatch.setenv("CGRAPH_GEMM_VARIANT", own)      # every small product on it
    gemm_tuning.apply(lib, record)
    assert not gemm_tuning.chosen()["by_m"]["float32"]["small"]
    assert gemm_tuning.chosen()["by_m"]["float32"]["m"] == dict.fromkeys(wins, other)
    monkeypatch.delenv("CGRAPH_GEMM_VARIANT")
    monkeypatch.setenv("CGRAPH_GEMM_SKINNY", "blas")     # every skinny product to BLAS
    gemm_tuning.apply(lib, record)
    assert gemm_tuning.chosen()["by_m"]["float32"] == {"small": small, "m": {}}
    monkeypatch.delenv("CGRAPH_GEMM_SKINNY")
    # the format before: set aside, timed again
    path = gemm_tuning.record_path(str(tmp_path), key, cpu, 1, CORE)
    older = json.loads(read_sealed(path))
    for choice in older["choice"].values():
        del choice["by_m"]
    with open(path, "wb") as f:
        f.write(seal(json.dumps(older).encode()))
    with pytest.warns(RuntimeWarning, match="has no tile per row count"):
        again = gemm_tuning.choose(lib, key, root=str(tmp_path), timer=timer)
    assert again["choice"]["float64"]["by_m"] == record["choice"]["float64"]["by_m"]
    # BLAS runs both kinds: the small products' rows timed against the near tiles (BLAS
    # faster for every m here), the "m" kind's not
    blas = gemm_tuning.measure_record(lib, key, names, cpu, 1, timer=fake_timer(0, blas=0.5),
                                      core=CORE)
    for c in blas["choice"].values():
        assert c["variant"] is None and c["by_m"]["m"] is None
        assert set(c["by_m"]["small"]["variants"].values()) == {"BLAS"}
        assert gemm_tuning.by_m_overrides(c, "small") == {}
