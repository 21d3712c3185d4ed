"""Fused elementwise loops: vector math accuracy, special values, OpenMP threads.

The loops call glibc's vector math (libmvec) and, for float32 softplus, an inline log1p; they
run in blocks shared among OpenMP threads above ``config.openmp_elemwise_minsize`` elements.
These tests compare them with numpy at the precision of each dtype, at the values where
math functions are most often wrong (NaN, infinities, signed zeros, subnormals, overflow
edges), and check that the thread count never changes a result.
"""
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.config import config

from util import assert_clean_build

# a few ulp, as libmvec promises against libm
RTOL = {"float64": 8 * np.finfo("float64").eps, "float32": 8 * np.finfo("float32").eps}
N = 100_003   # above the OpenMP threshold, and not a multiple of any block or vector width


def _w1(v):
    x, w, b, y, z = v
    return T.nnet.sigmoid(x * w + b) * y + T.log1p(T.exp(z))


def _w1_numpy(x, w, b, y, z):
    # log1p(exp(z)) is rewritten to softplus(z) (it never overflows): numpy's logaddexp
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-(x * w + b))) * y + np.logaddexp(np.zeros((), z.dtype), z)


def _assert_w1_close(got, args):
    """Within a few ulp of the exact value, counted on the size of W1's two terms (their sum
    may cancel), the exact value taken in float64 (and float64 results against numpy)."""
    dtype = got.dtype.name
    wide = [a.astype("float64") for a in args]
    ref = _w1_numpy(*wide)
    with np.errstate(over="ignore"):
        scale = np.abs(1 / (1 + np.exp(-(wide[0] * wide[1] + wide[2]))) * wide[3]) \
            + np.logaddexp(0, wide[4])
    bound = RTOL[dtype] * scale + np.finfo(dtype).tiny
    worst = np.max(np.abs(got - ref) - bound)
    assert worst <= 0, f"{dtype}: W1 off by {worst:.3g} beyond {RTOL[dtype]:g} of its terms"


def _w1_function():
    """W1 in float64 and float32 as two outputs of one function."""
    v64 = [T.dvector(c) for c in "xwbyz"]
    v32 = [T.fvector(c + "32") for c in "xwbyz"]
    return cgraph.function(v64 + v32, [_w1(v64), _w1(v32)])


def _w1_values(n=N, scale=3.0):
    rng = np.random.default_rng(1)
    v64 = [rng.standard_normal(n) * scale for _ in range(5)]
    return v64 + [a.astype("float32") for a in v64]


@pytest.fixture
def openmp_settings():
    """config's thread settings, put back after; the pool's choice off meanwhile, so that
    every loop large enough is split even after a late worker."""
    from cgraph import runtime_library
    lib = runtime_library.runtime().lib
    saved = (config.openmp, config.omp_threads, config.openmp_elemwise_minsize)
    choice = lib.cg_set_pool_choice(0)
    yield config
    lib.cg_set_pool_choice(choice)
    config.openmp, config.omp_threads, config.openmp_elemwise_minsize = saved


@pytest.mark.slow   # many compiles: 5 s on 2 busy cores
def test_w1_matches_numpy_and_the_thread_count_changes_nothing(openmp_settings):
    values = _w1_values()
    results, keys = [], set()
    for openmp, threads in ((True, 2), (True, 1), (False, 0)):
        openmp_settings.openmp, openmp_settings.omp_threads = openmp, threads
        f = _w1_function()
        assert_clean_build(f)
        keys.add(f.cache_key)
        results.append(f(*values))
    assert len(keys) == 3, "the OpenMP settings must be part of the module's cache key"
    for out, dtype, args in ((0, "float64", values[:5]), (1, "float32", values[5:])):
        got = results[0][out]
        assert got.dtype == dtype
        _assert_w1_close(got, args)
        for other in results[1:]:   # bit for bit, whatever the threads
            assert np.array_equal(got, other[out]), f"{dtype}: result depends on the threads"


def test_w1_strided_and_broadcast_inputs():
    """Large non-contiguous and broadcast operands take the general loop: same values."""
    f = _w1_function()
    values = _w1_values(2 * N)
    strided = [a[::2] for a in values]
    strided[2] = values[2][:1] * np.ones(N)              # a broadcast-like full vector
    got = f(*strided)
    _assert_w1_close(got[0], strided[:5])
    _assert_w1_close(got[1], strided[5:])


def _specials(dtype):
    fi = np.finfo(dtype)
    values = [np.nan, np.inf, -np.inf, 0.0, -0.0, fi.smallest_subnormal, -fi.smallest_subnormal,
              fi.tiny, -fi.tiny, 1e-30, -1e-30, 1e-8, -1e-8, 0.5, -0.5, 1, -1, 17, -17, 30, -30,
              88.7, 89, -87.3, -103, -104, 709.7, 710, -745, -746, 1000, -1000, fi.max, -fi.max]
    return np.array(values, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_special_values_match_numpy(dtype):
    """Each special value at many positions (vector body and scalar tail, every lane)."""
    specials = _specials(dtype)
    rng = np.random.default_rng(2)
    v = specials[rng.integers(0, len(specials), 3 * 4096 + 13)]
    x = T.vector("x", dtype=dtype)
    f = cgraph.function([x], [T.nnet.sigmoid(x), T.nnet.softplus(x), T.log1p(T.exp(x)),
                              T.exp(x), T.log1p(x), T.log(x), T.tanh(x)])
    assert_clean_build(f)
    zero = np.zeros((), dtype)
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(v))     # sigmoid keeps its subnormal results far below 0
        expected = [np.where(v >= 0, np.ones((), dtype), e) / (1 + e), np.logaddexp(zero, v), np.logaddexp(zero, v),
                    np.exp(v), np.log1p(v), np.log(v), np.tanh(v)]
    names = ["sigmoid", "softplus", "log1p(exp)", "exp", "log1p", "log", "tanh"]
    eps = np.finfo(dtype).eps
    for name, got, want in zip(names, f(v), expected):
        assert got.dtype == dtype, name
        for value in specials:
            at = np.isnan(v) if np.isnan(value) else (v == value) & (np.signbit(v) == np.signbit(value))
            g, w = got[at], want[at]
            np.testing.assert_allclose(g, w, rtol=4 * eps, atol=0, equal_nan=True,
                                       err_msg=f"{name}({value!r})")
            finite = ~np.isnan(w)
            assert np.array_equal(np.signbit(g[finite]), np.signbit(w[finite])), \
                f"{name}({value!r}): sign of zero"
            assert len(set(g[finite].tolist())) <= 1, f"{name}({value!r}) depends on the position"


def test_log1p_exp_of_large_values_is_stable():
    """log1p(exp(z)) becomes softplus(z): 1000 at z = 1000 where numpy's literal formula gives
    inf, in both modes; sigmoid saturates to exactly 0 and 1."""
    z = T.dvector("z")
    outs = [T.log1p(T.exp(z)), T.nnet.sigmoid(z)]
    values = np.array([1000.0, -1000.0, 710.0, 36.0, -36.0, np.inf, -np.inf] * 20)
    got = cgraph.function([z], outs)(values)
    ref = cgraph.function([z], outs, mode="py")(values)
    eps = np.finfo("float64").eps
    np.testing.assert_allclose(got[0], ref[0], rtol=4 * eps, atol=0)
    np.testing.assert_allclose(got[0], np.logaddexp(0, values), rtol=4 * eps, atol=0)
    assert got[0][0] == 1000.0 and got[0][1] == 0.0 and got[0][5] == np.inf
    np.testing.assert_array_equal(got[1][[0, 1, 5, 6]], [1.0, 0.0, 1.0, 0.0])


def test_float32_softplus_is_within_a_few_ulp():
    """float32 softplus (libmvec's expf, then an inline log1p) against float64 over the whole
    input range: within 4 ulp, as with libmvec's log1pf (its worst was 3.2, expf's error
    passing through; numpy's 1.5), and subnormal results kept."""
    x = T.fvector("x")
    f = cgraph.function([x], T.nnet.softplus(x))
    v = np.concatenate([np.linspace(-110, 30, 400_001, dtype="float32"),
                        -np.geomspace(1e-30, 1e2, 20_000).astype("float32")])
    got = f(v)
    exact = np.logaddexp(0.0, v.astype("float64")).astype("float32")
    ulp = np.spacing(np.abs(exact)).astype("float64")
    assert np.max(np.abs(got.astype("float64") - exact) / ulp) <= 4.0


def test_integer_division_loops_stay_correct_and_raise():
    """Loops that may report an error run on one thread and still report it."""
    a, b = T.lvector("a"), T.lvector("b")
    f = cgraph.function([a, b], a // b + a % b)
    av = np.arange(-N, N, 2, dtype="int64")
    bv = np.where(np.arange(N) % 7 == 0, 3, -5).astype("int64")
    np.testing.assert_array_equal(f(av, bv), av // bv + av % bv)
    bv[N - 3] = 0
    with pytest.raises(ZeroDivisionError):
        f(av, bv)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "float32", "float64"])
def test_padded_tails_of_every_element_width_match_numpy(dtype):
    """Short lengths run entirely in the padded tail (copies of its first element, filled by
    element width): every length up to past two tails, of each width, matches numpy."""
    a, b = T.vector("a", dtype=dtype), T.vector("b", dtype=dtype)
    f = cgraph.function([a, b], a * b + a)
    rng = np.random.default_rng(7)
    for n in list(range(0, 20)) + [63, 64, 65, 127, 129, 130]:
        av = rng.integers(-5, 6, n).astype(dtype)
        bv = rng.integers(-5, 6, n).astype(dtype)
        np.testing.assert_array_equal(f(av, bv), av * bv + av)


def test_padding_of_a_division_tail_raises_nothing():
    """The padding repeats a real element: a // b over short lengths without a zero divisor
    raises nothing, and a zero among the real elements still raises."""
    a, b = T.lvector("a"), T.lvector("b")
    f = cgraph.function([a, b], a // b)
    for n in range(1, 70):
        av = np.arange(n, dtype="int64") - 3
        bv = np.full(n, -2, dtype="int64")
        np.testing.assert_array_equal(f(av, bv), av // bv)
        bv[n - 1] = 0
        with pytest.raises(ZeroDivisionError):
            f(av, bv)


@pytest.mark.slow   # a program in another process: 3 s on 2 busy cores
def test_forked_child_runs_loops_without_hanging(tmp_path):
    """A forked child has none of its parent's worker threads: it computes on one thread
    (its old functions and ones it compiles) rather than hang, and knows it is a child
    although its parent had read the environment's thread settings (cg_thread_env: 2 asked
    by OMP_NUM_THREADS, 0 a forked child)."""
    script = textwrap.dedent("""
        import os, sys
        import numpy as np
        import cgraph, cgraph.tensor as T
        from cgraph import runtime_library
        x = T.dvector("x")
        f = cgraph.function([x], T.exp(x) * 2)
        a = np.linspace(-1, 1, 300_000)
        expected = np.exp(a) * 2
        assert np.allclose(f(a), expected)
        thread_env = runtime_library.runtime().lib.cg_thread_env
        assert thread_env() == 2
        pid = os.fork()
        if pid == 0:
            ok = thread_env() == 0 and np.allclose(f(a), expected)
            g = cgraph.function([x], T.exp(x) * 3)
            ok = ok and np.allclose(g(a), np.exp(a) * 3)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert np.allclose(f(a), expected)
        print("done")
    """)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root, OMP_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "done" in proc.stdout, proc.stderr


def test_openmp_flags_are_validated(openmp_settings):
    with pytest.raises(ValueError, match="omp_threads"):
        openmp_settings.omp_threads = -1
    with pytest.raises(ValueError, match="openmp_elemwise_minsize"):
        openmp_settings.openmp_elemwise_minsize = -5
    openmp_settings.omp_threads = 3
    assert openmp_settings.omp_threads == 3


def test_math_loops_use_full_width_vectors_on_avx512():
    """On an AVX-512 CPU with libmvec, a float32 tanh loop calls the 64-byte variant (gcc's
    tuning would pick the 32-byte one: CG_WIDE_LOOP in runtime.h); float64's is our own
    cg_tanh, inline, calling nothing; both match numpy on a length that leaves a tail in
    every vector width."""
    import json
    import shutil
    x64, x32 = T.vector("x64", dtype="float64"), T.vector("x32", dtype="float32")
    f = cgraph.function([x64, x32], [T.tanh(x64), T.tanh(x32)])
    v = np.linspace(-20, 20, 1037)
    got64, got32 = f(v, v.astype("float32"))
    np.testing.assert_allclose(got64, np.tanh(v), rtol=RTOL["float64"], atol=1e-300)
    np.testing.assert_allclose(got32, np.tanh(v.astype("float32")), rtol=RTOL["float32"],
                               atol=1e-37)
    with open(os.path.join(os.path.dirname(f.module_path), "build.json")) as fh:
        command = json.load(fh)["command"]
    nm = shutil.which("nm")
    if nm is None or "gcc" not in os.path.basename(command[0]) or "-mavx512f" not in command \
            or "-DCG_LIBMVEC" not in command:
        pytest.skip("needs gcc, nm, an AVX-512 CPU and libmvec")
    symbols = subprocess.run([nm, "-D", f.module_path], capture_output=True, text=True).stdout
    assert "_ZGVeN16v_tanhf" in symbols, symbols
    assert not re.search(r"\b(_ZGV\w*_)?tanh@", symbols), symbols
