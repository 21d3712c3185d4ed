"""The float64 tanh of our own (``cg_tanh`` in templates/runtime.h), measured in ulps against
the correctly rounded tanh (mpmath at 120 bits), through compiled cgraph functions (the
elementwise loop, vectorised with its scalar tail, and GemmEpilogue's in-place tanh):

- a dense sweep of float64's range: near 0 down to the subnormals, every point where the
  reduction y = n ln2 + r changes n (and the floats either side), the clamp at 20 and the
  values around 19.1 where tanh starts rounding to 1, huge values; both signs;
- special values exactly: +-inf, NaN, the sign of 0;
- the float64 C of tanh calls the kernel, not libm;
- (exhaustive) a million random bit patterns over [-25, 25].
"""
import mpmath   # a test dependency (pyproject's test extra): the references are exact
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from ulps64 import assert_within

ULP_BOUND = 2    # the bound runtime.h states
RNG = np.random.default_rng(2026)
_FUNCTIONS = {}


def _elementwise():
    if "tanh" not in _FUNCTIONS:
        x = T.dvector("x")
        _FUNCTIONS["tanh"] = cgraph.function([x], T.tanh(x))
    return _FUNCTIONS["tanh"]


def _worst(got, xs):
    return assert_within(ULP_BOUND, "tanh", mpmath.tanh, got, xs)


def _sweep():
    ln2 = np.log(2.0)
    switch = (np.arange(60) + 0.5) * ln2 / 2        # 2|x| = (n + 1/2) ln2: n changes
    around = [np.nextafter(switch, 0), switch, np.nextafter(switch, 1)]
    clamp = np.array([19.0, 19.06, 19.1, 19.2, np.nextafter(20.0, 0), 20.0,
                      np.nextafter(20.0, 21), 21.0, 700.0, 1e10, 1e300, np.finfo(float).max])
    tiny = np.array([5e-324, 1e-320, np.finfo(float).tiny, 1e-300, 1e-200, 1e-20, 1e-8])
    xs = np.concatenate([np.logspace(-320, 1.4, 6001), RNG.uniform(0, 20, 6000),
                         *around, clamp, tiny])
    return np.concatenate([xs, -xs])


def test_elementwise_tanh_within_the_bound_over_the_range():
    xs = _sweep()
    got = _elementwise()(xs)
    assert got.dtype == np.float64
    _worst(got, xs)
    # strided (the loop's other path) and a length not a multiple of the vector width
    _worst(_elementwise()(xs[::3]), xs[::3])
    _worst(_elementwise()(xs[:13]), xs[:13])


def test_special_values_exactly():
    got = _elementwise()(np.array([np.inf, -np.inf, np.nan, -0.0, 0.0, -np.nan]))
    assert got[0] == 1.0 and got[1] == -1.0
    assert np.isnan(got[2]) and np.isnan(got[5])
    assert got[3] == 0.0 and np.signbit(got[3])
    assert got[4] == 0.0 and not np.signbit(got[4])


def test_the_float64_c_calls_the_kernel_and_gemm_tanh_uses_it():
    assert "cg_tanh(" in _elementwise().c_source
    a, b, c = T.dmatrix("a"), T.dmatrix("b"), T.dvector("c")
    f = cgraph.function([a, b, c], T.tanh(T.dot(a, b) + c))
    assert "cg_tanh_inplace" in f.c_source          # the epilogue (runtime.h: cg_tanh)
    # eighths: the products and sums are exact whatever the order of the sum
    av = RNG.integers(-16, 17, (7, 5)) / 8.0
    bv = RNG.integers(-16, 17, (5, 9)) / 8.0
    cv = RNG.integers(-16, 17, 9) / 8.0
    got = f(av, bv, cv)
    pre = av @ bv + cv
    _worst(got.ravel(), pre.ravel())


@pytest.mark.exhaustive
def test_random_bit_patterns():
    xs = RNG.uniform(-25, 25, 1_000_000)
    for chunk in np.array_split(xs, 20):
        _worst(_elementwise()(chunk), chunk)
