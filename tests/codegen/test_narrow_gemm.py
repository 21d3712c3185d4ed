"""Products with a narrow result (cg_<p>gemm_narrow, templates/ops/narrow_gemm.c.j2: n <= 12
columns, A's rows or columns contiguous), e.g. W2's x W and x.T d: the kernel called alone
(which products it takes, its values against numpy for alpha/beta, NaN, tails of every size)
and through dot/gemm graphs in C against the numpy reference mode, every operand layout, with
the gradient of a softmax layer checked numerically."""
import ctypes

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph import runtime_library
from cgraph.gradient import verify_grad
from cgraph.tensor.blas import gemm
from test_small_gemm import operands, values_for
from util import TOLERANCE, assert_clean_build, assert_same

rng = np.random.default_rng(3)
_CT = {"float32": ctypes.c_float, "float64": ctypes.c_double}

# (m, k, n): W2's forward and weight-gradient products, each result width J takes (n <= 4, 8,
# 10, 12, and 13 which it leaves; 9 with a zero column of 10), row tails of both forms (m odd,
# m % 32), k tails (k % 16, % 8), one row, k = 1, and products small enough that the small
# kernel is tried first; W4's h W.T (a minibatch times a transposed B: any n, by blocks of 12
# columns, the last one partial: 10 of 22),
# and a batch of 33 rows, which that case leaves.
SHAPES = [(600, 784, 10), (784, 600, 10), (37, 70, 1), (45, 33, 5), (100, 64, 8),
          (70, 40, 12), (9, 1000, 13), (1, 784, 10), (600, 1, 10), (31, 16, 3), (3, 7, 8),
          (50, 64, 9), (40, 37, 10), (20, 500, 784), (19, 40, 30), (20, 64, 22),
          (33, 64, 20)]


@pytest.fixture(scope="module")
def lib():
    """The runtime library with the narrow kernels taking every narrow product they can
    (CGRAPH_GEMM_NARROW=kernel: these tests are the kernels'; test_narrow_choice.py tests the
    measured choice of which products they take), the machine's choice put back after."""
    from cgraph import gemm_tuning
    lib = runtime_library.runtime().lib
    record = gemm_tuning.choose(lib, runtime_library.runtime().key)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CGRAPH_GEMM_NARROW", "kernel")
        gemm_tuning.apply(lib, record)
    yield lib
    gemm_tuning.apply(lib, record)


def narrow(lib, a, b, alpha=1.0, beta=0.0, c=None, threads=1):
    """cg_<p>gemm_narrow on views a, b (any strides), on up to ``threads`` threads: (taken,
    c)."""
    dtype = a.dtype.name
    m, k = a.shape
    n = b.shape[1]
    c = np.zeros((m, n), dtype) if c is None else c
    ct, i64, ptr = _CT[dtype], ctypes.c_int64, ctypes.c_void_p
    f = getattr(lib, f"cg_{'s' if dtype == 'float32' else 'd'}gemm_narrow")
    f.argtypes = [i64, i64, i64, ct, ptr, i64, i64, ptr, i64, i64, ct, ptr, ctypes.c_int]
    f.restype = ctypes.c_int
    size = a.itemsize
    taken = f(m, n, k, alpha, a.ctypes.data, a.strides[0] // size, a.strides[1] // size,
              b.ctypes.data, b.strides[0] // size, b.strides[1] // size, beta, c.ctypes.data,
              threads)
    return bool(taken), c


def lanes(dtype):
    """Elements per vector of the kernel: 64-byte vectors where the CPU (for which the runtime
    is compiled) has AVX-512, else 32."""
    with open("/proc/cpuinfo") as fh:
        avx512 = " avx512f" in fh.read()
    return (64 if avx512 else 32) // np.dtype(dtype).itemsize


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_takes_narrow_products_and_matches_numpy(lib, dtype):
    """n <= 12: rows of A contiguous and k at least two vectors: the dot form; columns of A
    contiguous and m at least one tile (1 vector with AVX2, 2 with AVX-512): the outer form.
    float32, any n: rows of A and columns of B contiguous, k at least two vectors and m <= 32:
    the dot form on B in place. Anything else declined. Values against numpy for all."""
    V = lanes(dtype)
    tile = V * (2 if V * np.dtype(dtype).itemsize == 64 else 1)
    for m, k, n in SHAPES:
        a = rng.normal(size=(m, k)).astype(dtype)
        b = rng.normal(size=(k, n)).astype(dtype)
        at = np.ascontiguousarray(a.T).T             # columns contiguous
        a2 = np.repeat(a, 2, axis=1)[:, ::2]         # neither side contiguous
        for name, av in [("a", a), ("a.T", at), ("a[:, ::2]", a2)]:
            sa0, sa1 = (s // av.itemsize for s in av.strides)
            narrow_n = n <= 12 and ((sa1 == 1 and k >= 2 * V) or (sa0 == 1 and m >= tile))
            for bn, bv in [("b", b), ("b.T", np.ascontiguousarray(b.T).T),
                           ("b[::-1]", b[::-1].copy()[::-1])]:
                sb0, sb1 = (s // bv.itemsize for s in bv.strides)
                b_in_place = (dtype == "float32" and sa1 == 1 and sb0 == 1 and sb1 != 1 and
                              k >= 2 * V and m <= 32)
                expect = narrow_n or b_in_place
                taken, c = narrow(lib, av, bv)
                what = f"{dtype} {name} x {bn} at {(m, k, n)}"
                assert taken == expect, what
                if taken:
                    assert_same(c, a @ b, rtol=TOLERANCE[dtype] * 10, what=what)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_alpha_beta_nan(lib, dtype):
    """alpha and beta as BLAS: beta == 0 does not read C (NaN there is overwritten), alpha ==
    0 still multiplies a NaN of A; NaN and inf in the operands reach the result."""
    for m, k, n in [(600, 784, 10), (784, 600, 10), (45, 33, 5)]:
        a = rng.normal(size=(m, k)).astype(dtype)
        b = rng.normal(size=(k, n)).astype(dtype)
        for av in (a, np.ascontiguousarray(a.T).T):
            c0 = rng.normal(size=(m, n)).astype(dtype)
            taken, c = narrow(lib, av, b, -0.5, 2.0, c0.copy())
            assert taken
            assert_same(c, -0.5 * (a @ b) + 2 * c0, rtol=TOLERANCE[dtype] * 10,
                        what="alpha, beta")
            poisoned = np.full((m, n), np.nan, dtype)
            _, c = narrow(lib, av, b, 1.5, 0.0, poisoned)
            assert_same(c, 1.5 * (a @ b), rtol=TOLERANCE[dtype] * 10, what="beta = 0, NaN in C")
            an = a.copy()
            an[m // 2, k // 3] = np.nan
            bn = b.copy()
            bn[k - 1, n - 1] = np.inf
            view = an if av is a else np.ascontiguousarray(an.T).T
            _, c = narrow(lib, view, bn, 0.0, 0.0)
            with np.errstate(all="ignore"):
                expected = 0.0 * (an @ bn)
            assert_same(c, expected.astype(dtype), what="alpha = 0 with NaN and inf")


@pytest.fixture
def split_every_product(lib):
    """Every product large enough for threads (cg_set_gemm_thread_macs(1): one multiply-add
    per thread), so that small, odd shapes are cut into as many pieces as they have units,
    and split whatever the pool's times say (its choice off)."""
    f = lib.cg_set_gemm_thread_macs
    f.argtypes, f.restype = [ctypes.c_int64], ctypes.c_int64
    old = f(1)
    choice = lib.cg_set_pool_choice(0)
    yield
    f(old)
    lib.cg_set_pool_choice(choice)


# the threaded pieces' edges: odd rows for the pairs of the dot form, rows past the last
# block of the outer form, one block, a block and one row, h W.T with the last block of 12
# columns partial or full; one row and one column
THREAD_SHAPES = SHAPES + [(1, 64, 3), (2, 64, 11), (17, 96, 12), (65, 40, 7), (33, 9, 9),
                          (20, 100, 25), (7, 64, 24), (5, 300, 37)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_on_two_threads_gives_the_same_bits(lib, dtype, split_every_product):
    """On 2 threads (every product split) the kernel takes the same products and gives the
    same bits as on 1, for every form, layout (strided and negative-stride B too), alpha and
    beta, and matches numpy."""
    for m, k, n in THREAD_SHAPES:
        a = rng.normal(size=(m, k)).astype(dtype)
        b = rng.normal(size=(k, n)).astype(dtype)
        c0 = rng.normal(size=(m, n)).astype(dtype)
        for name, av in [("a", a), ("a.T", np.ascontiguousarray(a.T).T)]:
            for bn, bv in [("b", b), ("b.T", np.ascontiguousarray(b.T).T),
                           ("b[::-1]", b[::-1].copy()[::-1])]:
                for alpha, beta in [(1.0, 0.0), (-0.5, 2.0)]:
                    what = f"{dtype} {name} x {bn} at {(m, k, n)}, alpha={alpha}, beta={beta}"
                    taken1, c1 = narrow(lib, av, bv, alpha, beta, c0.copy(), threads=1)
                    taken2, c2 = narrow(lib, av, bv, alpha, beta, c0.copy(), threads=2)
                    assert taken1 == taken2, what
                    if taken1:
                        assert np.array_equal(c1, c2), f"{what}: the bits depend on the threads"
                        assert_same(c2, alpha * (a @ b) + beta * c0, rtol=TOLERANCE[dtype] * 10,
                                    what=what)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_threads_at_w2_sizes(lib, dtype):
    """W2's products at the default threshold (split on 2 threads): the same bits as on 1."""
    for m, k, n, transposed in [(600, 784, 10, False), (784, 600, 10, True),
                                (20, 500, 784, False)]:
        a = rng.normal(size=(k, m) if transposed else (m, k)).astype(dtype)
        a = a.T if transposed else a
        b = rng.normal(size=(n, k)).astype(dtype).T if m == 20 else \
            rng.normal(size=(k, n)).astype(dtype)
        results = [narrow(lib, a, b, threads=t) for t in (1, 2, 3)]
        assert len({taken for taken, _ in results}) == 1
        if results[0][0]:
            for _, c in results[1:]:
                assert np.array_equal(results[0][1], c), f"{dtype} {(m, k, n)}"
            assert_same(results[0][1], a @ b, rtol=TOLERANCE[dtype] * 10, what=f"{(m, k, n)}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dot_every_layout_against_reference(lib, dtype):
    """dot(a, b) and gemm for the 16 layout combinations of test_small_gemm in C, against the
    numpy reference mode and numpy, over the narrow shapes (both forms, declined ones, tails)."""
    inputs, a_views, b_views = operands(dtype)
    A, At, Ar, A2, B, Bt, Brr, Brc = inputs
    names, outputs = [], []
    for an, av in a_views.items():
        for bn, bv in b_views.items():
            names.append(f"dot({an}, {bn})")
            outputs.append(T.dot(av, bv))
    alpha, beta = T.scalar("alpha", dtype=dtype), T.scalar("beta", dtype=dtype)
    Z = T.matrix("Z", dtype=dtype)
    names.append("gemm(z, a.T, b)")
    outputs.append(gemm(Z, alpha, At.T, B, beta))
    f = cgraph.function(inputs + [Z, alpha, beta], outputs)
    f_py = cgraph.function(inputs + [Z, alpha, beta], outputs, mode="py")
    assert_clean_build(f)
    tol = TOLERANCE[dtype] * 10
    for m, k, n in SHAPES + [(0, 784, 10), (600, 0, 10), (1, 1, 1)]:
        a = rng.normal(size=(m, k)).astype(dtype)
        b = rng.normal(size=(k, n)).astype(dtype)
        z = rng.normal(size=(m, n)).astype(dtype)
        values = values_for(a, b) + [z, np.asarray(0.7, dtype), np.asarray(-1.25, dtype)]
        got, ref = f(*values), f_py(*values)
        for name, g, r in zip(names, got, ref):
            assert_same(g, r, rtol=tol, what=f"{name} at {(m, k, n)} against py mode")
        for name, g in zip(names[:-1], got[:-1]):
            assert_same(g, a @ b, rtol=tol, what=f"{name} at {(m, k, n)}")
        assert_same(got[-1], (-1.25 * z + 0.7 * (a @ b)).astype(dtype), rtol=tol, what="gemm")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_layer_gradient(lib, dtype):
    """A softmax layer's NLL, whose forward (x W: the dot form) and weight gradient (x.T d:
    the outer form) are narrow products: the gradient against finite differences, and one
    SGD step's values against the numpy reference mode."""
    m, k, n = 70, 100, 10          # m*n*k = 70,000: the narrow kernel before the small one
    y = rng.integers(0, n, size=m)

    def cost(x, W):
        p = T.nnet.softmax(T.dot(x, W))
        return -T.mean(T.log(p)[T.arange(m), y])

    x = rng.normal(size=(m, k)).astype(dtype)
    W = (0.1 * rng.normal(size=(k, n))).astype(dtype)
    verify_grad(cost, [x, W], rng=np.random.default_rng(0))
    xs, Ws = T.matrix("x", dtype=dtype), T.matrix("W", dtype=dtype)
    c = cost(xs, Ws)
    gx, gW = cgraph.grad(c, [xs, Ws])
    f = cgraph.function([xs, Ws], [c, gx, gW])
    f_py = cgraph.function([xs, Ws], [c, gx, gW], mode="py")
    for g, r in zip(f(x, W), f_py(x, W)):
        assert_same(g, r, rtol=TOLERANCE[dtype] * 100, what="softmax layer step")


@pytest.fixture
def restore_variants(lib, monkeypatch):
    """Put back the variants chosen for this machine after a test that changes them."""
    from cgraph import gemm_tuning
    yield
    monkeypatch.delenv("CGRAPH_GEMM_VARIANT", raising=False)
    monkeypatch.setenv("CGRAPH_GEMM_NARROW", "kernel")     # (as the module's lib has it)
    gemm_tuning.apply(lib, gemm_tuning.choose(lib, runtime_library.runtime().key))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_transposed_a_summed_over_a_minibatch(lib, dtype, restore_variants):
    """x.T g with k <= 32 (W4's weight gradients): A copied by rows, then the tile variant
    set for skinny products of small k, whichever it is, or BLAS (-1): the same values, in
    dot and gemm (beta = 1, a weight update in place), against the reference mode and numpy."""
    from cgraph import gemm_tuning
    X, G, Wz = (T.matrix(n, dtype=dtype) for n in ("X", "G", "Wz"))
    outputs = [T.dot(X.T, G), gemm(Wz, np.asarray(-0.1, dtype), X.T, G, np.asarray(1.0, dtype))]
    f = cgraph.function([X, G, Wz], outputs)
    f_py = cgraph.function([X, G, Wz], outputs, mode="py")
    assert_clean_build(f)
    setter = getattr(lib, f"cg_set_{'s' if dtype == 'float32' else 'd'}gemm_skinny_variant")
    lib.cg_set_gemm_skinny_threads.argtypes = [ctypes.c_int]
    assert lib.cg_set_gemm_skinny_threads(1) == 1      # (the module runs on one thread)
    tol = TOLERANCE[dtype] * 10
    for variant in [-1] + list(range(len(gemm_tuning.variant_names(lib)))):
        assert setter(2, variant) == 1
        for m, k, n in [(784, 20, 500), (100, 32, 33), (33, 1, 40), (57, 13, 70)]:
            x = rng.normal(size=(k, m)).astype(dtype)
            g = rng.normal(size=(k, n)).astype(dtype)
            w = rng.normal(size=(m, n)).astype(dtype)
            got, ref = f(x, g, w), f_py(x, g, w)
            what = f"variant {variant} at {(m, k, n)}"
            for name, c, r in zip(("dot", "gemm"), got, ref):
                assert_same(c, r, rtol=tol, what=f"{name}, {what}, against py mode")
            assert_same(got[0], x.T @ g, rtol=tol, what=f"dot, {what}")
            assert_same(got[1], (w - 0.1 * (x.T @ g)).astype(dtype), rtol=tol, what=f"gemm, {what}")
