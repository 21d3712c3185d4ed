"""Which narrow products (n <= 12 columns) the narrow kernels take from BLAS: a size per form
timed per machine (cgraph/gemm_tuning.py's narrow choice, cg_set_<p>gemm_narrow_from in
templates/ops/narrow_gemm.c.j2). The rule on fake timings (three machines), the record
(kept, shown, an old one without the choice set aside and timed again), the forced choices
(CGRAPH_GEMM_NARROW), and values against numpy at the shapes each path takes."""
import ctypes
import json

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph import blas_pointers, gemm_tuning, runtime_library
from cgraph.cache_files import read_sealed, seal
from cgraph.tensor.blas import gemm
from test_gemm_variants import lib, one_blas_thread, quiet_machine  # noqa: F401 (fixtures)
from test_gemm_variants import restore_variants as restore_choice  # noqa: F401
from test_narrow_gemm import narrow
from util import TOLERANCE, assert_same

rng = np.random.default_rng(11)
CORE = blas_pointers.blas_core()


def macs(shape):
    m, n, k = shape
    return m * n * k


# Three machines as a fake narrow timer sees them: the kernel's time over BLAS's below and
# past 1M multiply-adds (a Zen 4's OpenBLAS takes products up to 1M to its small-matrix
# kernels), and the size the choice must then name for both forms.
MACHINES = {
    "zen4": (1.5, 0.6, 1000001),          # BLAS's small kernels ahead to 1M, the kernel past
    "avx2": (0.8, 0.6, 0),                # no small-matrix kernels: the narrow kernel always
    "slow": (1.5, 1.2, None)}             # the narrow kernel never


def machine_timer(below, past, calls=None):
    """BLAS (path -1) takes the product's size in seconds, the kernel ``below`` or ``past``
    times that, by whether the size passes 1M."""
    def timer(dtype, form, path, shape):
        if calls is not None:
            calls.append((dtype, form, path, shape))
        size = macs(shape)
        return size * (1.0 if path == -1 else below if size <= 10**6 else past)
    return timer


@pytest.mark.parametrize("machine", list(MACHINES))
def test_each_machine_gets_the_size_its_timings_support(machine):
    below, past, expected = MACHINES[machine]
    got = gemm_tuning.measure_narrow(machine_timer(below, past))
    for dtype in gemm_tuning.DTYPES:
        for form in gemm_tuning.NARROW_FORMS:
            assert got[dtype][form]["from"] == expected, (machine, dtype, form)
            ratios = got[dtype][form]["vs_blas"]
            assert set(ratios) == {"x".join(map(str, s))
                                   for s in gemm_tuning.NARROW_SHAPES[form]}
            assert ratios["20x10x500" if form == "dot" else "500x10x20"] == below


def test_the_size_is_the_fastest_over_the_ladder_and_a_tie_keeps_the_choice_in_force():
    """_narrow_from on best times {shape: [BLAS, kernel]}: the start with the lowest
    geometric mean wins; one within NOISE of it that is in force stays."""
    shapes = [(20, 10, 500), (100, 10, 500), (250, 10, 500), (600, 10, 784)]
    # the kernel loses only at the smallest: past it
    best = {shapes[0]: [1.0, 2.0], shapes[1]: [1.0, 0.9], shapes[2]: [1.0, 0.5],
            shapes[3]: [1.0, 0.5]}
    assert gemm_tuning._narrow_from(best) == macs(shapes[0]) + 1
    # a loss in the middle smaller than the win at the small end: every product
    best[shapes[0]] = [1.0, 0.5]
    best[shapes[1]] = [1.0, 1.05]
    assert gemm_tuning._narrow_from(best) == 0
    # all but even: every product, unless a start within NOISE of that is in force (BLAS for
    # all, twice as slow past 1M, is not)
    best[shapes[0]] = [1.0, 0.98]
    best[shapes[1]] = [1.0, 1.01]
    assert gemm_tuning._narrow_from(best) == 0
    assert gemm_tuning._narrow_from(best, macs(shapes[1]) + 1) == macs(shapes[1]) + 1
    assert gemm_tuning._narrow_from(best, None) == 0


def test_the_record_keeps_the_choice_and_an_old_one_is_timed_again(lib, tmp_path, monkeypatch,
                                                                   one_blas_thread):
    """The narrow choice is part of the record; a record without it (the format before) is
    set aside with a warning and the kernels timed again; a kept one is not timed."""
    key = runtime_library.runtime().key
    monkeypatch.setattr(gemm_tuning, "cpu_identity", lambda: "FakeVendor family 7 model 1")
    small = lambda dtype, variant, shape: macs(shape) * (1.0 if variant == 0 else 1.5)  # noqa
    calls = []
    record = gemm_tuning.choose(lib, key, root=str(tmp_path), timer=small,
                                narrow_timer=machine_timer(*MACHINES["zen4"][:2], calls))
    assert calls
    assert record["choice"]["float64"]["narrow"]["outer"]["from"] == 1000001
    assert "narrow dot:>=1000001 outer:>=1000001" in gemm_tuning.describe(record)
    path = gemm_tuning.record_path(str(tmp_path), key, "FakeVendor family 7 model 1", 1, CORE)
    assert json.loads(read_sealed(path)) == record
    calls.clear()
    again = gemm_tuning.choose(lib, key, root=str(tmp_path), timer=small,
                               narrow_timer=machine_timer(0.5, 0.5, calls))
    assert again == record and not calls
    old = json.loads(read_sealed(path))
    for choice in old["choice"].values():
        del choice["narrow"]
    with open(path, "wb") as f:
        f.write(seal(json.dumps(old).encode()))
    with pytest.warns(RuntimeWarning, match="no narrow choice"):
        new = gemm_tuning.choose(lib, key, root=str(tmp_path), timer=small,
                                 narrow_timer=machine_timer(0.5, 0.5, calls))
    assert calls and new["choice"]["float32"]["narrow"]["dot"]["from"] == 0


def _set_from(lib, dtype, form, size):
    f = getattr(lib, f"cg_set_{'s' if dtype == 'float32' else 'd'}gemm_narrow_from")
    f.argtypes, f.restype = [ctypes.c_int, ctypes.c_int64], ctypes.c_int
    return f(form, size)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_size_in_force_decides_which_products_the_kernel_takes(lib, dtype, restore_choice):
    """From the size set for a form, the kernel takes that form's products, below it BLAS
    (0 returned); -1: none. A float minibatch times a transposed B is not the choice's."""
    a = rng.normal(size=(600, 784)).astype(dtype)
    b = rng.normal(size=(784, 10)).astype(dtype)
    small_a, small_b = a[:20, :500], b[:500]             # W3's h W2: 100,000 multiply-adds
    x = rng.normal(size=(20, 500)).astype(dtype)         # W3's h.T d2, A a transposed view
    d = rng.normal(size=(20, 10)).astype(dtype)
    assert _set_from(lib, dtype, 2, 0) == 0 and _set_from(lib, dtype, 0, -2) == 0
    for size, takes_small in [(0, True), (10**6, False), (100_000, True), (100_001, False)]:
        assert _set_from(lib, dtype, 0, size) == 1 and _set_from(lib, dtype, 1, size) == 1
        assert narrow(lib, small_a, small_b)[0] == takes_small
        assert narrow(lib, x.T, d)[0] == takes_small
        taken, c = narrow(lib, a, b)                       # W2's x W: 4.7M
        assert taken
        assert_same(c, a @ b, rtol=TOLERANCE[dtype] * 10, what=f"x W from {size}")
    assert _set_from(lib, dtype, 0, -1) == 1 and _set_from(lib, dtype, 1, 0) == 1
    assert not narrow(lib, a, b)[0] and narrow(lib, x.T, d)[0]
    w = rng.normal(size=(784, 500)).astype(dtype)          # W4's h W.T, float only
    assert narrow(lib, a[:20], w.T.copy().T)[0] == (dtype == "float32")


def test_forced_choices(lib, monkeypatch, restore_choice):
    """CGRAPH_GEMM_NARROW=kernel: every narrow product to the kernel (0), =blas: none (None),
    whatever the record says; shown by chosen()."""
    record = gemm_tuning.choose(lib, runtime_library.runtime().key)
    a = rng.normal(size=(20, 500)).astype("float32")
    b = rng.normal(size=(500, 10)).astype("float32")
    for forced, size, taken in [("kernel", 0, True), ("blas", None, False)]:
        monkeypatch.setenv("CGRAPH_GEMM_NARROW", forced)
        gemm_tuning.apply(lib, record)
        assert gemm_tuning.chosen()["narrow"] == {
            dtype: dict.fromkeys(gemm_tuning.NARROW_FORMS, size) for dtype in gemm_tuning.DTYPES}
        assert narrow(lib, a, b)[0] == taken
    monkeypatch.delenv("CGRAPH_GEMM_NARROW")
    gemm_tuning.apply(lib, record)
    assert gemm_tuning.chosen()["narrow"] == {
        dtype: {form: record["choice"][dtype]["narrow"][form]["from"]
                for form in gemm_tuning.NARROW_FORMS} for dtype in gemm_tuning.DTYPES}


@pytest.mark.parametrize("variable", ["CGRAPH_GEMM_NARROW", "CGRAPH_GEMM_SKINNY"])
def test_a_misspelt_forcing_variable_names_itself(lib, monkeypatch, restore_choice, variable):
    """A value the forcing variables do not know is an error naming the variable and the
    values it takes, not a choice silently left to the record."""
    record = gemm_tuning.choose(lib, runtime_library.runtime().key)
    monkeypatch.setenv(variable, "kernal")
    with pytest.raises(ValueError, match=f"{variable}='kernal' is not one of: .*blas"):
        gemm_tuning.apply(lib, record)
    monkeypatch.setenv(variable, "BLAS")        # (the case does not matter)
    gemm_tuning.apply(lib, record)


# (m, k, n): W3's three small products and W2's, rows m = 1, 19, 20, 21, 600, widths n = 1,
# 10, 11 (and 500: d W.T), k = 0 and 1
SHAPES = [(20, 500, 10), (500, 20, 10), (20, 10, 500), (600, 784, 10), (784, 600, 10),
          (1, 500, 10), (19, 500, 10), (21, 500, 11), (600, 40, 1), (21, 1, 10), (19, 0, 11),
          (600, 1, 11), (1, 20, 1), (19, 20, 10)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_values_on_each_path(lib, dtype, monkeypatch, restore_choice):
    """x W, x W added into W (gemm, beta = 1), d W.T (B a transposed view), x.T d and x.T d
    added into W (A a transposed view), in C against numpy, with the narrow products on the
    kernel, on BLAS, and as measured here."""
    X, Y, Yt, Xt, W = (T.matrix(n, dtype=dtype) for n in ("X", "Y", "Yt", "Xt", "W"))
    alpha, one = np.asarray(-0.25, dtype), np.asarray(1.0, dtype)
    f = cgraph.function([X, Y, Yt, Xt, W],
                        [T.dot(X, Y), gemm(W, alpha, X, Y, one), T.dot(X, Yt.T),
                         T.dot(Xt.T, Y), gemm(W, alpha, Xt.T, Y, one)])
    names = ["x W", "W + a x W", "d W.T", "x.T d", "W + a x.T d"]
    tol = TOLERANCE[dtype] * 10
    record = gemm_tuning.choose(lib, runtime_library.runtime().key)
    for forced in ("kernel", "blas", ""):
        monkeypatch.setenv("CGRAPH_GEMM_NARROW", forced)
        gemm_tuning.apply(lib, record)
        for m, k, n in SHAPES:
            x = rng.normal(size=(m, k)).astype(dtype)
            y = rng.normal(size=(k, n)).astype(dtype)
            w = rng.normal(size=(m, n)).astype(dtype)
            product = (x @ y).astype(dtype)
            expected = [product, (w + alpha * product).astype(dtype)] * 2
            expected.insert(2, product)
            got = f(x, y, np.ascontiguousarray(y.T), np.ascontiguousarray(x.T), w)
            for name, g, e in zip(names, got, expected):
                assert_same(g, e, rtol=tol, what=f"{name}, {forced or 'measured'} at {(m, k, n)}")
