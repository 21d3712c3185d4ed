"""Shared variables: construction rules, get/set_value, and use across functions."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph import function, shared


def test_dtype_rules():
    assert shared(0.5).dtype == "float64"            # Python float: float64, whatever floatX
    assert shared(3).dtype == "int64"
    assert shared(np.float32(1)).dtype == "float32"
    assert shared(np.zeros((2, 3), dtype="int8")).dtype == "int8"
    assert shared(True).dtype == "bool"
    assert shared(np.zeros((1, 3))).broadcastable == (False, False)
    assert shared(np.zeros((1, 3)), broadcastable=(True, False)).broadcastable == (True, False)
    with pytest.raises(TypeError, match="symbolic"):
        shared(T.dvector())
    with pytest.raises(TypeError, match="numpy array or a number"):
        shared("text")
    with pytest.raises(ValueError, match="broadcastable"):
        shared(np.zeros((2, 3)), broadcastable=(True, False))


def test_get_value_copies_unless_borrowed():
    value = np.arange(3.0)
    s = shared(value, name="s")
    value[0] = 99.0
    assert s.get_value()[0] == 0.0                   # shared() copied
    got = s.get_value()
    got[1] = 42.0
    assert s.get_value()[1] == 1.0
    s.get_value(borrow=True)[2] = 7.0
    assert s.get_value()[2] == 7.0
    b = shared(value, borrow=True)
    value[1] = -1.0
    assert b.get_value(borrow=True)[1] == -1.0


def test_set_value_rules():
    s = shared(np.zeros(3, dtype="float32"), name="weights")
    s.set_value(np.ones(5, dtype="float32"))          # shape may change
    assert s.get_value().shape == (5,)
    s.set_value([1, 2, 3])                            # ints convert exactly
    assert s.get_value().dtype == np.float32
    with pytest.raises(TypeError, match="weights.*float64"):
        s.set_value(np.ones(3))
    with pytest.raises(TypeError, match="weights.*dimensions"):
        s.set_value(np.ones((2, 2), dtype="float32"))
    with pytest.raises(AttributeError, match="get_value"):
        s.value
    d = shared(np.zeros(2), name="d", allow_downcast=True)
    i = shared(np.zeros(2, dtype="int32"), allow_downcast=True)
    i.set_value(np.array([1.7, 2.2]))
    assert i.get_value().tolist() == [1, 2]
    d.set_value(np.ones(2, dtype="float32"))
    assert d.get_value().dtype == np.float64


@pytest.mark.parametrize("mode", ["c", "py"])
def test_functions_read_the_current_value(mode):
    w = shared(np.ones(2), name="w")
    x = T.dvector("x")
    f = function([x], x * w, mode=mode)
    assert f([1.0, 2.0]).tolist() == [1.0, 2.0]
    w.set_value(np.array([3.0, 4.0]))
    assert f([1.0, 2.0]).tolist() == [3.0, 8.0]
    w.set_value(np.array([1.0, 2.0, 3.0]))
    assert f([1.0, 1.0, 1.0]).tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("mode", ["c", "py"])
def test_updates_are_seen_by_every_function(mode):
    w = shared(np.zeros(2), name="w")
    inc = function([], [], updates=[(w, w + 1)], mode=mode)
    read = function([], w * 2, mode=mode)
    inc()
    inc()
    assert read().tolist() == [4.0, 4.0]


def test_noncontiguous_borrowed_value_is_made_contiguous():
    base = np.arange(12.0).reshape(3, 4)
    s = shared(base[:, ::2], borrow=True)
    assert s.get_value(borrow=True).flags.c_contiguous
    f = function([], s + 0)
    np.testing.assert_array_equal(f(), base[:, ::2])


def test_zero():
    s = shared(np.ones(3))
    s.zero()
    assert s.get_value().tolist() == [0.0, 0.0, 0.0]
