"""The float32 kernels of our own in templates/runtime.h (``cg_expf``, ``cg_log1pf``, and
sigmoid and softplus built on them), measured in ulps against the float64 result rounded to
float32, through compiled cgraph functions (the vectorised loop and its scalar tail):

- a sweep of every 509th bit pattern (all of float32's range: normals, subnormals, both
  signs) plus every special value and every threshold (overflow, underflow to subnormal and
  to 0, -1 for log1p, where log1p(x) rounds to x), each to the bound stated in runtime.h;
- special values exactly: inf, -inf, NaN, the sign of 0;
- the float32 C of exp and log1p calls the kernels, not libm;
- (slow) every one of the 2^32 bit patterns, in chunks.
"""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T

# the bounds runtime.h states (ulps; a subnormal result counts ulps of the subnormal spacing)
ULP_BOUNDS = {"exp": 1, "log1p": 1, "sigmoid": 2, "softplus": 2}
REFERENCES = {
    "exp": np.exp,
    "log1p": np.log1p,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "softplus": lambda x: np.logaddexp(0, x),
}


def _graph(name, x):
    return T.nnet.sigmoid(x) if name == "sigmoid" else \
        T.nnet.softplus(x) if name == "softplus" else getattr(T, name)(x)


_FUNCTIONS = {}


def _compiled(name):
    if name not in _FUNCTIONS:
        x = T.vector("x", dtype="float32")
        _FUNCTIONS[name] = cgraph.function([x], _graph(name, x))
    return _FUNCTIONS[name]


def _ordered(values):
    """float32 values as integers that count ulps: adjacent floats differ by 1, -0 == +0."""
    bits = values.view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)


def _reference(name, x):
    with np.errstate(all="ignore"):
        return REFERENCES[name](x.astype(np.float64)).astype(np.float32)


def _ulp_errors(name, x):
    """The kernel's results on x, the reference's, and their distance in ulps (0 where both
    are the same non-finite value or NaN)."""
    got = _compiled(name)(x)
    want = _reference(name, x)
    assert got.dtype == np.float32
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    bad_nan = np.flatnonzero(nan_got != nan_want)
    assert bad_nan.size == 0, f"{name}({x[bad_nan[0]]!r}) = {got[bad_nan[0]]!r}, " \
                              f"want {want[bad_nan[0]]!r}"
    inf = np.isinf(got) | np.isinf(want)
    bad_inf = np.flatnonzero(inf & (got != want))
    assert bad_inf.size == 0, f"{name}({x[bad_inf[0]]!r}) = {got[bad_inf[0]]!r}, " \
                              f"want {want[bad_inf[0]]!r}"
    dist = np.abs(_ordered(got) - _ordered(want))
    dist[nan_got | inf] = 0
    return got, want, dist


def _check_bound(name, x):
    got, want, dist = _ulp_errors(name, x)
    worst = int(np.argmax(dist)) if dist.size else 0
    assert dist.size == 0 or dist[worst] <= ULP_BOUNDS[name], (
        f"{name}({x[worst]!r} = {x[worst:worst + 1].view(np.uint32)[0]:#010x}) = "
        f"{got[worst]!r}, reference {want[worst]!r}: {dist[worst]} ulps")
    return int(dist.max()) if dist.size else 0


def _special_values():
    f32 = np.finfo(np.float32)
    values = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0, 0.5, -0.5, 2.0,
              f32.max, -f32.max, f32.tiny, -f32.tiny, f32.smallest_subnormal,
              -f32.smallest_subnormal, 2 ** -25, -2 ** -25, 2 ** -24, -2 ** -24,
              np.log(2) / 2, -np.log(2) / 2, 1e-3, -1e-3, 0.9999999, -0.9999999]
    # exp: overflow near 88.72, subnormal results below -87.34, 0 below -103.97
    for edge in (88.72284, -87.33655, -103.27893, -103.97208, -104.0, 100.0, -112.0):
        values.extend(np.nextafter(np.float32(edge), np.float32(s), dtype=np.float32) * 1.0
                      for s in (np.inf, -np.inf))
        values.append(edge)
    x = np.array(values, dtype=np.float32)
    # runs of neighbours around the thresholds
    runs = [np.float32(v) for v in (88.72284, -87.33655, -103.97208, -1.0, 2 ** -25, -2 ** -25)]
    ints = [np.arange(-300, 300) + np.array(v).view(np.int32) for v in runs]
    return np.concatenate([x, np.concatenate(ints).astype(np.int32).view(np.float32)])


@pytest.mark.slow   # 8.8 M inputs per kernel: ~2 s of CPU each
@pytest.mark.parametrize("name", sorted(ULP_BOUNDS))
def test_ulp_bound_on_a_sweep_of_all_float32(name):
    patterns = np.arange(0, 2 ** 32, 509, dtype=np.uint64).astype(np.uint32)
    x = np.concatenate([patterns.view(np.float32), _special_values()])
    _check_bound(name, x)
    # and a dense sweep where the results are neither saturated nor tiny
    _check_bound(name, np.linspace(-20, 20, 400_001, dtype=np.float32))


@pytest.mark.parametrize("name, x, want", [
    ("exp", np.inf, np.inf), ("exp", -np.inf, 0.0), ("exp", -0.0, 1.0), ("exp", 89.0, np.inf),
    ("exp", -110.0, 0.0), ("exp", -103.5, 2.0 ** -149),
    ("log1p", -1.0, -np.inf), ("log1p", -1.5, np.nan), ("log1p", -np.inf, np.nan),
    ("log1p", np.inf, np.inf), ("log1p", -0.0, -0.0), ("log1p", 0.0, 0.0),
    ("log1p", 1e-40, 1e-40), ("log1p", -1e-40, -1e-40),
    ("sigmoid", -np.inf, 0.0), ("sigmoid", np.inf, 1.0), ("sigmoid", -200.0, 0.0),
    ("softplus", np.inf, np.inf), ("softplus", -np.inf, 0.0), ("softplus", 200.0, 200.0),
])
def test_special_values_exactly(name, x, want):
    for nan_or_value in (x,):
        x32 = np.full(37, nan_or_value, dtype=np.float32)   # vector loop and scalar tail
        got = _compiled(name)(x32)
        want32 = np.float32(want)
        if np.isnan(want32):
            assert np.isnan(got).all()
        else:
            assert (got == want32).all() and (np.signbit(got) == np.signbit(want32)).all(), \
                f"{name}({x!r}) = {got[0]!r}, want {want32!r}"


@pytest.mark.parametrize("name", ["exp", "log1p", "sigmoid", "softplus"])
def test_nan_propagates(name):
    x = np.array([np.nan, -np.nan, 1.0] * 13, dtype=np.float32)
    got = _compiled(name)(x)
    assert np.isnan(got[0::3]).all() and np.isnan(got[1::3]).all() and np.isfinite(got[2::3]).all()


def _runs_around(points, width):
    """Every float32 within width ulps of each point, both signs."""
    bits = np.asarray(points, dtype=np.float32).view(np.int32).astype(np.int64)
    runs = (bits[:, None] + np.arange(-width, width + 1)).ravel().astype(np.int32).view(np.float32)
    return np.concatenate([runs, -runs])


@pytest.mark.parametrize("name", ["sigmoid", "softplus"])
def test_sigmoid_softplus_bound_where_their_steps_switch(name):
    # exp's clamp at -104 (a mask), its reduction's n at |x| = (n + 1/2) ln2, log1p's
    # k = 0 / 1 at exp(-|x|) = 1/2 (|x| = ln2) and near 0 (f = (e - 1) / 2 from e = 1)
    ln2 = np.log(2.0)
    points = [104.0, 103.97208, 87.33655, ln2, 2 ** -20, 1e-3] + \
        [(n + 0.5) * ln2 for n in range(151)]
    _check_bound(name, _runs_around(points, 400))


@pytest.mark.parametrize("name", ["sigmoid", "softplus"])
def test_sigmoid_softplus_nans_with_payloads_stay_nan(name):
    # exp takes 2^n from the low bits of a sum that a NaN's payload fills, and its clamp is
    # a mask that a NaN's compare must leave alone
    payloads = np.array([1, 2, 0x1FF, 0xFFF, 0x1000, 0x3FFFFF, 0x400000, 0x7FFFFF], dtype=np.uint32)
    bits = np.concatenate([payloads | np.uint32(0x7F800000), payloads | np.uint32(0xFF800000)])
    x = np.tile(bits.view(np.float32), 3)   # the vector loop and its tail
    assert np.isnan(_compiled(name)(x)).all()


@pytest.mark.parametrize("name, kernel", [("exp", "cg_expf("), ("log1p", "cg_log1pf(")])
def test_float32_code_calls_the_kernel_and_float64_libm(name, kernel):
    x32, x64 = T.vector("x", dtype="float32"), T.vector("x", dtype="float64")
    source32 = cgraph.function([x32], getattr(T, name)(x32)).c_source
    source64 = cgraph.function([x64], getattr(T, name)(x64)).c_source
    loops32 = source32[source32.index("int cg_loop"):]
    loops64 = source64[source64.index("int cg_loop"):]
    assert kernel in loops32 and f"{name}f(" not in loops32.replace(kernel, "")
    assert f"{name}(" in loops64 and kernel not in loops64


@pytest.mark.slow
@pytest.mark.exhaustive
@pytest.mark.parametrize("name", ["exp", "log1p"])
def test_ulp_bound_on_every_float32(name):
    chunk = 2 ** 24
    worst = 0
    for start in range(0, 2 ** 32, chunk):
        x = np.arange(start, start + chunk, dtype=np.uint64).astype(np.uint32).view(np.float32)
        worst = max(worst, _check_bound(name, x))
    assert worst == ULP_BOUNDS[name]   # the bound is attained: it is the measured one


@pytest.mark.exhaustive
@pytest.mark.parametrize("name", ["sigmoid", "softplus"])
def test_sigmoid_softplus_bound_on_every_float32(name):
    # their own exp (cg_expf_nonpos) and log1p (cg_log1p_unitf) as well as their algebra
    chunk = 2 ** 24
    for start in range(0, 2 ** 32, chunk):
        x = np.arange(start, start + chunk, dtype=np.uint64).astype(np.uint32).view(np.float32)
        _check_bound(name, x)
