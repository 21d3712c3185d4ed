"""T.nonzero, T.flatnonzero, T.nonzero_values and the methods x.nonzero(), x.nonzero_values():
numpy's results (NaN is nonzero), in C and in the numpy reference, any strides and shapes."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from util import check, strided_variants

SAMPLES = [
    np.array([0.0, 1.5, 0.0, -2.0]),
    np.array([[0, 1.5, 0], [np.nan, 0, -0.0]]),          # NaN counts, -0.0 does not
    np.zeros((2, 3)),                                    # nothing nonzero: (ndim, 0)
    np.zeros((0, 3)),                                    # a 0-length axis
    np.arange(24.0).reshape(2, 3, 4) % 3,
    np.ones((1, 1, 1)),
]


def expected(value):
    return [np.array(np.nonzero(value), dtype="int64").reshape(value.ndim, -1),
            np.flatnonzero(value).astype("int64"), value.ravel()[np.flatnonzero(value)]]


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: f"{v.ndim}d-{v.size}")
def test_nonzero_matches_numpy_for_every_stride(value):
    x = T.TensorType("float64", (False,) * value.ndim)("x")
    outputs = [T.nonzero(x, return_matrix=True), T.flatnonzero(x), T.nonzero_values(x)]
    for variant in strided_variants(value):
        check([x], outputs, [variant], expected=expected(variant))


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint8", "int32", "int64", "float32"])
def test_nonzero_of_every_dtype(dtype):
    value = (np.arange(12).reshape(3, 4) % 3 == 1) if dtype == "bool" else \
        (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    x = T.TensorType(dtype, (False, False))("x")
    got = check([x], [T.nonzero(x, return_matrix=True), x.nonzero_values()], [value],
                expected=expected(value)[::2])
    assert got[0].dtype == np.int64 and got[1].dtype == value.dtype


@pytest.mark.slow   # many compiles: 6 s on 2 busy cores
def test_nonzero_tuple_indexes_like_numpy():
    # Lasagne's multiclass hinge loss: predictions[targets.nonzero()]
    p, t = T.dmatrix("p"), T.dmatrix("t")
    rows, cols = t.nonzero()
    assert rows.ndim == cols.ndim == 1 and rows.dtype == "int64"
    pv = np.arange(12.0).reshape(3, 4)
    tv = np.eye(3, 4)[[2, 0, 1]]
    check([p, t], [p[t.nonzero()], p[(1 - t).nonzero()].reshape((-1, 3)).max(axis=1)],
          [pv, tv], expected=[pv[tv.nonzero()], pv[(1 - tv).nonzero()].reshape(-1, 3).max(1)])
    # the values it picks carry the gradient; the indices have none
    verify_grad(lambda pp: (pp[T.constant(tv).nonzero()] ** 2).sum(), [pv])


def test_nonzero_of_a_scalar_is_refused():
    with pytest.raises(ValueError, match="Nonzero only supports non-scalar arrays"):
        T.nonzero(T.dscalar("s"))
    with pytest.raises(ValueError, match="Nonzero only supports non-scalar arrays"):
        T.flatnonzero(T.dscalar("s"))


@settings(max_examples=15, deadline=None)
@given(hnp.arrays("float64", hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4),
                  elements=st.sampled_from([0.0, -0.0, 1.0, -3.5, np.nan])))
@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_nonzero_property(value):
    x = T.TensorType("float64", (False,) * value.ndim)("x")
    f = cgraph.function([x], [T.nonzero(x, return_matrix=True), T.nonzero_values(x)])
    matrix, values = f(value)
    np.testing.assert_array_equal(matrix, expected(value)[0])
    np.testing.assert_array_equal(values, expected(value)[2])
