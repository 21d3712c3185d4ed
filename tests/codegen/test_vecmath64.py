"""The float64 sigmoid and softplus (``cg_sigmoid``/``cg_softplus`` in templates/runtime.h, on
our own ``cg_exp_nonpos`` and ``cg_log1p_unit``), measured in ulps against the correctly
rounded results (mpmath at 120 bits), through compiled cgraph functions (the vectorised
elementwise loop, its scalar tail and its strided path):

- a dense sweep: near 0 down to the subnormals, every point where exp's reduction
  -|x| = n ln2 + r changes n (and the floats either side), log1p's switch-over at
  exp(-|x|) = 1/2, exp's clamp at -746 and the subnormal results below -708; both signs;
- special values exactly: +-inf, NaN (with any payload), the sign of 0;
- the float64 C calls the kernels, not libm.
"""
import mpmath   # a test dependency (pyproject's test extra): the references are exact
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from ulps64 import assert_within

ULP_BOUND = 2    # the bound runtime.h states
RNG = np.random.default_rng(2027)
_FUNCTIONS = {}


def _function(name):
    if name not in _FUNCTIONS:
        x = T.dvector("x")
        out = T.nnet.sigmoid(x) if name == "sigmoid" else T.nnet.softplus(x)
        _FUNCTIONS[name] = cgraph.function([x], out)
    return _FUNCTIONS[name]


_REFERENCES = {"sigmoid": lambda v: 1 / (1 + mpmath.exp(-v)),
               "softplus": lambda v: mpmath.log1p(mpmath.exp(v))}


def _worst(name, got, xs):
    return assert_within(ULP_BOUND, name, _REFERENCES[name], got, xs)


def _sweep():
    ln2 = np.log(2.0)
    switch = (np.arange(1080) + 0.5) * ln2            # |x| = (n + 1/2) ln2: n changes
    half = np.array([ln2])                             # exp(-|x|) = 1/2: log1p's switch
    points = np.concatenate([switch, half])
    around = [np.nextafter(points, 0), points, np.nextafter(points, np.inf)]
    edges = np.array([700.0, 708.0, 708.4, 709.0, 720.0, 740.0, 744.4, 745.0, 745.1, 745.2,
                      np.nextafter(746.0, 0), 746.0, np.nextafter(746.0, np.inf), 800.0,
                      1e10, 1e300, np.finfo(float).max])
    tiny = np.array([5e-324, 1e-320, np.finfo(float).tiny, 1e-300, 1e-200, 1e-20, 1e-8])
    xs = np.concatenate([np.logspace(-320, np.log10(745.5), 8001), RNG.uniform(0, 40, 6000),
                         RNG.uniform(0, 750, 2000), *around, edges, tiny])
    return np.concatenate([xs, -xs])


@pytest.mark.parametrize("name", ["sigmoid", "softplus"])
def test_within_the_bound_over_the_range(name):
    xs = _sweep()
    f = _function(name)
    got = f(xs)
    assert got.dtype == np.float64
    _worst(name, got, xs)
    # strided (the loop's other path) and a length not a multiple of the vector width
    _worst(name, f(xs[::3]), xs[::3])
    _worst(name, f(xs[:13]), xs[:13])


def test_special_values_exactly():
    specials = np.array([np.inf, -np.inf, np.nan, -0.0, 0.0, -np.nan])
    sig = _function("sigmoid")(specials)
    assert sig[0] == 1.0 and sig[1] == 0.0 and not np.signbit(sig[1])
    assert np.isnan(sig[2]) and np.isnan(sig[5])
    assert sig[3] == 0.5 and sig[4] == 0.5
    sp = _function("softplus")(specials)
    assert sp[0] == np.inf and sp[1] == 0.0 and not np.signbit(sp[1])
    assert np.isnan(sp[2]) and np.isnan(sp[5])
    assert sp[3] == np.log(2.0) and sp[4] == np.log(2.0)


@pytest.mark.parametrize("name", ["sigmoid", "softplus"])
def test_nans_with_payloads_stay_nan(name):
    # the exp kernel takes 2^n from the low bits of a sum that a NaN's payload fills
    payloads = np.array([1, 2, 0x1FF, 0xFFF, 0x1000, 0x7FFFF, 0x8000000000000 | 1,
                         0xFFFFFFFFFFFFF], dtype=np.uint64)
    bits = np.concatenate([payloads | np.uint64(0x7FF0000000000000),
                           payloads | np.uint64(0xFFF0000000000000)])
    xs = np.tile(bits.view(np.float64), 3)     # the vector loop and its tail
    assert np.isnan(_function(name)(xs)).all()


def test_against_the_numpy_reference_mode():
    xs = np.concatenate([RNG.normal(0, 30, 999), [0.0, -0.0]])
    x = T.dvector("x")
    out = T.nnet.sigmoid(x) * 2 + T.nnet.softplus(-x)
    got = cgraph.function([x], out)(xs)
    want = cgraph.function([x], out, mode="py")(xs)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


def test_the_float64_c_calls_the_kernels():
    assert "cg_sigmoid(" in _function("sigmoid").c_source
    assert "cg_softplus(" in _function("softplus").c_source


@pytest.mark.exhaustive
@pytest.mark.parametrize("name", ["sigmoid", "softplus"])
def test_random_values(name):
    xs = np.concatenate([RNG.uniform(-50, 50, 500_000), RNG.uniform(-750, 750, 500_000)])
    for chunk in np.array_split(xs, 20):
        _worst(name, _function(name)(chunk), chunk)
