"""T.nnet.relu of a numpy array gives a numpy array, as Theano's did (its 0.5 * (x + abs(x))
stayed numpy): Lasagne's tests compare rectify(ndarray) with a function's result."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T


@pytest.mark.parametrize("value", [np.array([[-1.5, 0.0, 2.0], [np.nan, -0.0, 3.0]]),
                                   np.array([-2, 0, 5], dtype="int32"),
                                   np.array([-1.0, 4.0], dtype="float32"), -3.0, 2])
def test_relu_of_numpy_is_numpy_and_matches_the_graph(value):
    got = T.nnet.relu(value)
    assert isinstance(got, np.ndarray)
    x = T.as_tensor_variable(np.asarray(value)).type("x")
    ref = cgraph.function([x], T.nnet.relu(x))(np.asarray(value))
    assert got.dtype == ref.dtype and got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)   # NaN where NaN; -0.0 == 0


def test_relu_of_numpy_with_a_slope_stays_symbolic():
    # as in Theano, where alpha became a tensor: only alpha 0 is computed in numpy
    out = T.nnet.relu(np.array([-2.0, 3.0]), alpha=0.1)
    assert isinstance(out, T.TensorVariable)
    np.testing.assert_allclose(out.eval(), [-0.2, 3.0])
