"""The inline small-product kernel of dot and gemm (cg_<p>gemm_small, ops/small_gemm.c.j2)
against numpy: every transpose combination, negative and odd strides, float32/float64, alpha/beta
(0, NaN in z), tails of rows and columns, empty and length-1 axes, and sizes on both sides of
its thresholds (so the kernel and BLAS both run), built at -O3 and at -O1 -ftree-vectorize."""
import ctypes
import json
import os

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.tensor.blas import gemm
import cgraph.cache.compiler
from util import TOLERANCE, assert_clean_build, assert_same

rng = np.random.default_rng(0)

# (m, k, n). The kernel (its tile variant chosen for this CPU: test_gemm_variants.py tries
# each) takes products up to m*n*k = 128^3 at least one 64-byte vector wide (8 doubles, 16
# floats); transposed or reversed-column B is packed, and B's last columns copied zero-padded,
# when that takes at most 4096 elements. Sizes straddle each limit.
SHAPES = [
    (16, 64, 64),     # W7's product: the kernel, 8-row blocks only
    (13, 5, 37),      # row tail (13 % 8) and column tail (37 % 16, 37 % 32)
    (1, 1, 32),       # one row, k = 1
    (9, 70, 64),      # k*n = 4480: packed B declined (BLAS), direct B in the kernel
    (64, 64, 96),     # 64^3 * 1.5: the kernel
    (130, 130, 130),  # above 128^3: BLAS
    (3, 7, 8),        # float32: narrower than a vector, BLAS; float64: the kernel
    (0, 4, 32), (4, 0, 32), (4, 32, 0), (1, 0, 1),   # empty products
]


def operands(dtype):
    """Symbolic inputs and the dot operands built from them: a and b as contiguous,
    transposed, reversed (negative stride) and every-other-column (stride 2) views."""
    A, At, Ar, A2 = (T.matrix(n, dtype=dtype) for n in ("A", "At", "Ar", "A2"))
    B, Bt, Brr, Brc = (T.matrix(n, dtype=dtype) for n in ("B", "Bt", "Brr", "Brc"))
    a_views = {"a": A, "a.T": At.T, "a[::-1]": Ar[::-1], "a[:, ::2]": A2[:, ::2]}
    b_views = {"b": B, "b.T": Bt.T, "b[::-1]": Brr[::-1], "b[:, ::-1]": Brc[:, ::-1]}
    return [A, At, Ar, A2, B, Bt, Brr, Brc], a_views, b_views


def values_for(a, b):
    """The input values that make every view above equal a and b."""
    a2 = np.repeat(a, 2, axis=1)
    a2[:, 1::2] = np.nan   # never read: the view takes the even columns
    return [a, np.ascontiguousarray(a.T), a[::-1].copy(), a2,
            b, np.ascontiguousarray(b.T), b[::-1].copy(), b[:, ::-1].copy()]


def build_command(f):
    """The compile command of the module (of its first unit, when it is split in units)."""
    with open(os.path.join(os.path.dirname(f.module_path), "build.json")) as fh:
        build = json.load(fh)
    return build["material"].get("unit_commands", [build["command"]])[0]


@pytest.mark.parametrize("level", ["-O3", "-O1"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_dot_every_layout(dtype, level, monkeypatch):
    """dot(a, b) for the 16 layout combinations, plus a 3-d a, over every shape, in a module
    built at -O3 and at -O1 -ftree-vectorize (gcc's levels for small and large modules)."""
    monkeypatch.setattr(cgraph.cache.compiler, "FULL_OPTIMIZATION_BELOW", 10**9 if level == "-O3" else 0)
    inputs, a_views, b_views = operands(dtype)
    Bt = inputs[5]
    names, outputs = [], []
    for an, av in a_views.items():
        for bn, bv in b_views.items():
            names.append(f"dot({an}, {bn})")
            outputs.append(T.dot(av, bv))
    A3 = T.tensor3("A3", dtype=dtype)
    names.append("dot(a3, b.T)")
    outputs.append(T.dot(A3, Bt.T))
    f = cgraph.function(inputs + [A3], outputs)
    assert_clean_build(f)
    assert level in build_command(f)
    for m, k, n in SHAPES:
        a = rng.normal(size=(m, k)).astype(dtype)
        b = rng.normal(size=(k, n)).astype(dtype)
        a3 = np.stack([a, -a])
        got = f(*values_for(a, b), a3)
        for name, g in zip(names[:-1], got[:-1]):
            assert_same(g, a @ b, rtol=TOLERANCE[dtype] * 10, what=f"{name} at {(m, k, n)}")
        assert_same(got[-1], a3 @ b, rtol=TOLERANCE[dtype] * 10, what=f"dot(a3, b) at {(m, k, n)}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gemm_alpha_beta(dtype):
    """beta * z + alpha * dot(a, b) over layouts, alpha/beta values (0 and NaN included),
    a full z and a broadcast bias row."""
    inputs, _, _ = operands(dtype)
    A, At, Ar, A2, B, Bt, Brr, Brc = inputs
    alpha, beta = T.scalar("alpha", dtype=dtype), T.scalar("beta", dtype=dtype)
    Z, zrow = T.matrix("Z", dtype=dtype), T.vector("zrow", dtype=dtype)
    cases = {"gemm(z, a, b)": gemm(Z, alpha, A, B, beta),
             "gemm(z, a.T, b.T)": gemm(Z, alpha, At.T, Bt.T, beta),
             "gemm(z, a[::-1], b[:, ::-1])": gemm(Z, alpha, Ar[::-1], Brc[:, ::-1], beta),
             "gemm(zrow, a[:, ::2], b[::-1])": gemm(zrow, alpha, A2[:, ::2], Brr[::-1], beta)}
    f = cgraph.function([A, At, Ar, A2, B, Bt, Brr, Brc, Z, zrow, alpha, beta],
                        list(cases.values()))
    assert_clean_build(f)
    tol = TOLERANCE[dtype] * 10
    for m, k, n in SHAPES:
        a = rng.normal(size=(m, k)).astype(dtype)
        b = rng.normal(size=(k, n)).astype(dtype)
        z = rng.normal(size=(m, n)).astype(dtype)
        zr = rng.normal(size=n).astype(dtype)
        for al, be, poison in [(1.5, -0.5, None), (0.0, 1.0, None), (1.0, 0.0, "z"),
                               (0.0, 0.0, "a"), (-2.0, 1.0, None)]:
            za, zra, aa = z.copy(), zr.copy(), a.copy()
            if poison == "z" and z.size:
                za[0, 0] = np.nan   # beta = 0 still multiplies z: NaN as in numpy
                zra[-1] = np.nan
            if poison == "a" and a.size:
                aa[-1, -1] = np.nan   # alpha = 0 still multiplies the product
            with np.errstate(all="ignore"):
                expected = [be * za + al * (aa @ b)] * 3 + [be * zra + al * (aa @ b)]
            got = f(*values_for(aa, b), za, zra, np.asarray(al, dtype), np.asarray(be, dtype))
            for (name, _), g, e in zip(cases.items(), got, expected):
                assert_same(g, e.astype(dtype), rtol=tol,
                            what=f"{name} at {(m, k, n)}, alpha={al}, beta={be}, {poison}")


def test_nan_and_inf_reach_the_result():
    """NaN and inf in the operands of a small product reach the result as in numpy."""
    a, b = T.matrix("a"), T.matrix("b")
    f = cgraph.function([a, b], T.dot(a, b.T))
    assert_clean_build(f)
    av = rng.normal(size=(16, 64))
    bv = rng.normal(size=(64, 64))
    av[3, 5] = np.nan
    bv[7, 2] = np.inf
    assert_same(f(av, bv), av @ bv.T, what="dot(a, b.T) with NaN and inf")


# --- threads: the kernel's products split among threads give the bits of one thread ------

_CT = {"float32": ctypes.c_float, "float64": ctypes.c_double}


@pytest.fixture(scope="module")
def lib():
    from cgraph import runtime_library
    return runtime_library.runtime().lib


@pytest.fixture
def split_every_product(lib):
    """cg_set_gemm_thread_macs(1): every product large enough for threads, so small, odd
    shapes are cut into as many pieces as they have tiles; skinny variants taken on any
    thread count (cg_set_gemm_skinny_threads(1)); the pool's choice off; the tile
    variants in force put back after."""
    from cgraph import gemm_tuning, runtime_library
    f = lib.cg_set_gemm_thread_macs
    f.argtypes, f.restype = [ctypes.c_int64], ctypes.c_int64
    old = f(1)
    lib.cg_set_gemm_skinny_threads.argtypes = [ctypes.c_int]
    assert lib.cg_set_gemm_skinny_threads(1) == 1
    choice = lib.cg_set_pool_choice(0)   # every job split, whatever the times say
    yield
    f(old)
    lib.cg_set_pool_choice(choice)
    gemm_tuning.apply(lib, gemm_tuning.choose(lib, runtime_library.runtime().key))


def product_kernel(lib, name, a, b, alpha, beta, c, threads):
    """cg_<p><name> (cg_<p>gemm_small_threads' arguments) on views a, b (any strides) into c:
    whether it was taken."""
    dtype = a.dtype.name
    ct, i64, ptr = _CT[dtype], ctypes.c_int64, ctypes.c_void_p
    f = getattr(lib, f"cg_{'s' if dtype == 'float32' else 'd'}{name}")
    f.argtypes = [i64, i64, i64, ct, ptr, i64, i64, ptr, i64, i64, ct, ptr, ctypes.c_int]
    f.restype = ctypes.c_int
    size = a.itemsize
    return bool(f(a.shape[0], b.shape[1], a.shape[1], alpha, a.ctypes.data, a.strides[0] // size,
                  a.strides[1] // size, b.ctypes.data, b.strides[0] // size,
                  b.strides[1] // size, beta, c.ctypes.data, threads))


def small_threads(lib, a, b, alpha, beta, c, threads):
    """cg_<p>gemm_small_threads on views a, b (any strides) into c: whether it was taken."""
    return product_kernel(lib, "gemm_small_threads", a, b, alpha, beta, c, threads)


# (m, k, n): small products with row and column tails (split by rows or by columns, whichever
# has more tiles), one row, one column tile; past the small limit, each kind of skinny
# product (m, n or k at most 32) with odd sizes
THREAD_SHAPES = [(13, 5, 37), (1, 64, 64), (64, 64, 96), (9, 70, 64), (100, 33, 17),
                 (3, 100, 200), (20, 784, 500), (7, 1001, 333), (600, 784, 20), (301, 999, 17),
                 (784, 20, 500), (1001, 13, 301)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_on_two_threads_gives_the_same_bits(lib, dtype, split_every_product):
    """cg_<p>gemm_small_threads on 2 threads (every product split), each tile variant in force
    for small products and for each kind of skinny one: the same products taken and the same
    bits as on one thread, matching numpy, over contiguous, transposed and strided operands
    and alpha/beta."""
    from cgraph import gemm_tuning
    p = "s" if dtype == "float32" else "d"
    set_small, set_skinny = (getattr(lib, f"cg_set_{p}gemm{w}variant")
                             for w in ("_", "_skinny_"))
    set_small.argtypes, set_skinny.argtypes = [ctypes.c_int], [ctypes.c_int, ctypes.c_int]
    tol = TOLERANCE[dtype] * 10
    for variant, name in enumerate(gemm_tuning.variant_names(lib)):
        assert set_small(variant) == 1
        for kind in range(3):
            assert set_skinny(kind, variant) == 1
        for m, k, n in THREAD_SHAPES:
            a = rng.normal(size=(m, k)).astype(dtype)
            b = rng.normal(size=(k, n)).astype(dtype)
            c0 = rng.normal(size=(m, n)).astype(dtype)
            a_views = {"a": a, "a[:, ::2]": np.repeat(a, 2, axis=1)[:, ::2],
                       "a.T": np.ascontiguousarray(a.T).T}
            b_views = {"b": b, "b.T": np.ascontiguousarray(b.T).T, "b[::-1]": b[::-1].copy()[::-1]}
            for an, av in a_views.items():
                for bn, bv in b_views.items():
                    alpha, beta = (1.0, 0.0) if bn == "b" else (-0.5, 2.0)
                    c1, c2 = c0.copy(), c0.copy()
                    what = f"{name}: {an} x {bn} at {(m, k, n)}"
                    taken = small_threads(lib, av, bv, alpha, beta, c1, 1)
                    assert small_threads(lib, av, bv, alpha, beta, c2, 2) == taken, what
                    if taken:
                        assert np.array_equal(c1, c2), f"{what}: the bits depend on the threads"
                        assert_same(c2, alpha * (a @ b) + beta * c0, rtol=tol, what=what)


@pytest.fixture
def thread_settings():
    from cgraph.config import config
    saved = (config.openmp, config.omp_threads, config.openmp_elemwise_minsize)
    yield config
    config.openmp, config.omp_threads, config.openmp_elemwise_minsize = saved


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dot_and_gemm_on_one_and_two_threads(dtype, thread_settings, split_every_product):
    """dot and gemm in modules built for 1 and for 2 threads (config.omp_threads, every loop
    and product large enough for them): the same bits from both, matching the numpy reference
    mode, over every layout and shapes with 0 and 1 rows, odd sizes, narrow results (the
    narrow kernels), small and skinny products."""
    inputs, a_views, b_views = operands(dtype)
    A, At, Ar, A2, B, Bt, Brr, Brc = inputs
    alpha, beta = T.scalar("alpha", dtype=dtype), T.scalar("beta", dtype=dtype)
    Z = T.matrix("Z", dtype=dtype)
    outputs = [T.dot(av, bv) for av in a_views.values() for bv in b_views.values()]
    outputs += [gemm(Z, alpha, At.T, B, beta), gemm(Z, alpha, A, Bt.T, beta)]
    functions = []
    thread_settings.openmp_elemwise_minsize = 1
    for threads in (1, 2):
        thread_settings.omp_threads = threads
        functions.append(cgraph.function(inputs + [Z, alpha, beta], outputs))
        assert_clean_build(functions[-1])
    assert functions[0].cache_key != functions[1].cache_key
    f_py = cgraph.function(inputs + [Z, alpha, beta], outputs, mode="py")
    tol = TOLERANCE[dtype] * 10
    for m, k, n in [(0, 7, 9), (1, 33, 40), (1, 200, 3), (3, 1, 17), (37, 41, 10), (66, 35, 5),
                    (20, 300, 101), (130, 20, 70), (45, 64, 33)]:
        a = rng.normal(size=(m, k)).astype(dtype)
        b = rng.normal(size=(k, n)).astype(dtype)
        z = rng.normal(size=(m, n)).astype(dtype)
        values = values_for(a, b) + [z, np.asarray(0.7, dtype), np.asarray(-1.25, dtype)]
        one, two = (f(*values) for f in functions)
        ref = f_py(*values)
        for i, (g1, g2, r) in enumerate(zip(one, two, ref)):
            what = f"output {i} at {(m, k, n)}"
            assert np.array_equal(g1, g2), f"{what}: the bits depend on the threads"
            assert_same(g2, r, rtol=tol, what=what)


# --- a minibatch times a transposed B (h W.T), computed transposed on the skinny tiles ------

def transposed_b_skinny(lib, a, b, alpha, beta, c, threads):
    """cg_<p>gemm_transposed_b_skinny on views a, b into c: whether it was taken."""
    return product_kernel(lib, "gemm_transposed_b_skinny", a, b, alpha, beta, c, threads)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_transposed_b_skinny_takes_minibatch_products(lib, dtype, split_every_product):
    """m <= 32 rows times a transposed B past the small limit (W4's 20x500 by W.T): taken on
    every tile variant timed for few rows (kind 0), with the same bits on 1 and 2 threads,
    matching numpy for alpha/beta, a transposed or strided A and NaN in C under beta = 0;
    declined when that kind runs on BLAS, for B's rows contiguous, more than 32 rows, and
    products the small kernel takes."""
    from cgraph import gemm_tuning
    set_skinny = getattr(lib, f"cg_set_{'s' if dtype == 'float32' else 'd'}gemm_skinny_variant")
    set_skinny.argtypes = [ctypes.c_int, ctypes.c_int]
    assert set_form(lib, dtype, -1) == 1    # the packed panels (the dot tiles: below)
    tol = TOLERANCE[dtype] * 10
    # (m, k, n, taken): W4's, odd sizes, one row; 33 rows, and 20x100x100 (small): declined
    shapes = [(20, 500, 784, True), (31, 257, 301, True), (1, 2100, 1001, True),
              (33, 500, 784, False), (20, 100, 100, False)]
    for variant, name in enumerate(gemm_tuning.variant_names(lib)):
        assert set_skinny(0, variant) == 1
        for m, k, n, expect in shapes:
            a = rng.normal(size=(m, k)).astype(dtype)
            bt = rng.normal(size=(n, k)).astype(dtype)
            c0 = rng.normal(size=(m, n)).astype(dtype)
            for an, av in [("a", a), ("a.T", np.ascontiguousarray(a.T).T),
                           ("a[:, ::2]", np.repeat(a, 2, axis=1)[:, ::2])]:
                for alpha, beta in [(1.0, 0.0), (-0.5, 2.0)]:
                    what = f"{name}: {an} x b.T at {(m, k, n)}, alpha={alpha}, beta={beta}"
                    c1 = c0.copy() if beta else np.full((m, n), np.nan, dtype)
                    c2 = c1.copy()
                    taken = transposed_b_skinny(lib, av, bt.T, alpha, beta, c1, 1)
                    assert taken == expect, what
                    assert transposed_b_skinny(lib, av, bt.T, alpha, beta, c2, 2) == taken, what
                    if taken:
                        assert np.array_equal(c1, c2), f"{what}: the bits depend on the threads"
                        assert_same(c1, alpha * (a @ bt.T) + beta * c0, rtol=tol, what=what)
        a = rng.normal(size=(20, 500)).astype(dtype)
        b = rng.normal(size=(500, 784)).astype(dtype)
        assert not transposed_b_skinny(lib, a, b, 1.0, 0.0, np.empty((20, 784), dtype), 1)
    assert set_skinny(0, -1) == 1
    assert not transposed_b_skinny(lib, a, np.ascontiguousarray(b.T).T, 1.0, 0.0,
                                   np.empty((20, 784), dtype), 1)


def set_form(lib, dtype, form):
    """cg_set_<p>gemm_transposed_b_form(form): 1 if there is such a form."""
    f = getattr(lib, f"cg_set_{'s' if dtype == 'float32' else 'd'}gemm_transposed_b_form")
    f.argtypes, f.restype = [ctypes.c_int], ctypes.c_int
    return f(form)


def dot_forms(lib, dtype):
    """The ids of the dot tiles compiled for this CPU (DOT_TILES in small_gemm.c.j2)."""
    forms = []
    while set_form(lib, dtype, len(forms)):
        forms.append(len(forms))
    return forms


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_transposed_b_dot_tiles(lib, dtype, split_every_product):
    """h W.T by the dot tiles (A's rows and B^T's rows dotted in place), every tile compiled:
    rows 1, 19, 20, 21 and 32 (tiles of fewer rows for the last ones), k a multiple of the
    vector, one past it and odd (the last partial vector), n not a multiple of a tile's
    columns; alpha/beta and NaN in C under beta = 0; A's rows strided; the same bits on 1 and
    2 threads, matching numpy. A transposed A (rows not contiguous) and k under one 64-byte
    vector go to the panels instead, with the same results."""
    from cgraph import gemm_tuning
    p = "s" if dtype == "float32" else "d"
    names = gemm_tuning.variant_names(lib)
    getattr(lib, f"cg_set_{p}gemm_skinny_variant")(0, 0)
    forms = dot_forms(lib, dtype)
    assert forms, "no dot tile compiled"
    assert set_form(lib, dtype, len(forms)) == 0 and set_form(lib, dtype, -2) == 0
    lanes = 64 // np.dtype(dtype).itemsize
    tol = TOLERANCE[dtype] * 10
    # (m, k, n): W4's; each row count; k = one 64-byte vector, one past, odd, under a vector
    shapes = [(20, 500, 784), (1, 2100, 1001), (19, 257, 501), (21, 300, 333), (32, 129, 517),
              (20, lanes, 2 * 2**21 // (20 * lanes)), (3, lanes + 1, 2**21 // 3 // (lanes + 1) + 7),
              (20, lanes - 1, 2**21 // 20 // (lanes - 1) + 3)]
    try:
        for form in forms:
            assert set_form(lib, dtype, form) == 1
            for m, k, n in shapes:
                a = rng.normal(size=(m, k)).astype(dtype)
                bt = rng.normal(size=(n, k)).astype(dtype)
                c0 = rng.normal(size=(m, n)).astype(dtype)
                a2 = np.repeat(a, 2, axis=0)
                a2[1::2] = np.nan   # never read: the view takes the even rows
                for an, av in [("a", a), ("a[::2]", a2[::2]), ("a.T", np.ascontiguousarray(a.T).T)]:
                    for alpha, beta in [(1.0, 0.0), (-0.5, 2.0)]:
                        what = (f"dot tile {form} ({names[0]} panels): {an} x b.T at {(m, k, n)}, "
                                f"alpha={alpha}, beta={beta}")
                        c1 = c0.copy() if beta else np.full((m, n), np.nan, dtype)
                        c2 = c1.copy()
                        assert transposed_b_skinny(lib, av, bt.T, alpha, beta, c1, 1), what
                        assert transposed_b_skinny(lib, av, bt.T, alpha, beta, c2, 2), what
                        assert np.array_equal(c1, c2), f"{what}: the bits depend on the threads"
                        assert_same(c1, alpha * (a @ bt.T) + beta * c0, rtol=tol, what=what)
    finally:
        assert set_form(lib, dtype, 0) == 1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_transposed_b_dot_tiles_in_a_function(dtype):
    """dot(h, w.T) compiled, W4's forward back (20x500 by 784x500's transpose), on the form
    this CPU's timing chose: numpy's values, and an empty minibatch."""
    h, w = T.matrix("h", dtype=dtype), T.matrix("w", dtype=dtype)
    f = cgraph.function([h, w], T.dot(h, w.T))
    assert_clean_build(f)
    wv = rng.normal(size=(784, 500)).astype(dtype)
    for m in (20, 7, 0):
        hv = rng.normal(size=(m, 500)).astype(dtype)
        assert_same(f(hv, wv), hv @ wv.T, rtol=TOLERANCE[dtype] * 10, what=f"{m} rows")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_transposed_a_skinny_takes_joined_minibatches(lib, dtype, split_every_product):
    """A transposed view summed over k <= 64 (two minibatches joined: W4's x.T h0 - v.T h1 as
    one product over k = 40) on the variant timed for k small: the same bits on 1 and 2
    threads, matching numpy with alpha/beta; k = 65 declined, and every k when that kind
    runs on BLAS."""
    from cgraph import gemm_tuning
    p = "s" if dtype == "float32" else "d"
    set_skinny = getattr(lib, f"cg_set_{p}gemm_skinny_variant")
    set_skinny.argtypes = [ctypes.c_int, ctypes.c_int]

    def run(at, b, alpha, beta, c, threads):
        return product_kernel(lib, "gemm_transposed_a_skinny", at.T, b, alpha, beta, c, threads)

    assert set_skinny(2, gemm_tuning.variant_names(lib).index("6x4v64")) == 1
    for m, k, n, expect in [(784, 40, 500, True), (101, 64, 77, True), (101, 65, 77, False)]:
        at = rng.normal(size=(k, m)).astype(dtype)        # A = at.T, a transposed view
        b = rng.normal(size=(k, n)).astype(dtype)
        c0 = rng.normal(size=(m, n)).astype(dtype)
        c1, c2 = c0.copy(), c0.copy()
        assert run(at, b, -0.5, 2.0, c1, 1) == expect, (m, k, n)
        assert run(at, b, -0.5, 2.0, c2, 2) == expect, (m, k, n)
        if expect:
            assert np.array_equal(c1, c2), f"{(m, k, n)}: the bits depend on the threads"
            assert_same(c1, -0.5 * (at.T @ b) + 2.0 * c0, rtol=TOLERANCE[dtype] * 10,
                        what=str((m, k, n)))
    assert set_skinny(2, -1) == 1
    assert not run(at, b, 1.0, 0.0, np.empty((101, 77), dtype), 1)
