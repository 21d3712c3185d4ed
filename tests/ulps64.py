"""Measuring float64 kernels in ulps against correctly rounded references (mpmath at 120
bits): shared by the tests of cgraph's own float64 math (tanh, sigmoid, softplus)."""
import mpmath   # a test dependency (pyproject's test extra): the references are exact
import numpy as np


def ordered(values):
    """float64 values as integers that count ulps: adjacent floats differ by 1, -0 == +0."""
    bits = values.view(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFFFFFFFFFF), bits)


def correctly_rounded(f, xs):
    """f (a function of mpmath numbers) at each of xs, rounded once to float64."""
    with mpmath.workprec(120):
        return np.array([float(f(mpmath.mpf(float(v)))) for v in xs])


def assert_within(bound, name, f, got, xs):
    """Every got[i] within ``bound`` ulps of f(xs[i]) correctly rounded; the worst distance."""
    want = correctly_rounded(f, xs)
    dist = np.abs(ordered(got) - ordered(want))
    k = int(np.argmax(dist))
    assert dist[k] <= bound, \
        f"{name}({xs[k]!r}) = {got[k]!r}, correctly rounded {want[k]!r}: {dist[k]} ulps"
    return int(dist[k])
