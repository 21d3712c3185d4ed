"""``T.xlogx``: x log x and x log y with the value 0 where x is 0 (as Theano's
``theano.tensor.xlogx``), the terms of an entropy, finite where a probability is zero."""
import numpy as np

from .basic import log
from .elemwise import Elemwise, sum_to_shape
from .scalar_ops import ScalarOp
from .var import as_tensor_variable


def _numpy_xlogx(x):
    return np.where(x == 0, np.zeros((), x.dtype), x * np.log(x))


def _numpy_xlogy0(x, y):
    return np.where(x == 0, np.zeros((), x.dtype), x * np.log(y))


_XLOGX = ScalarOp("xlogx", 1, _numpy_xlogx,
                  "({0} == 0 ? ({ct})0 : {0} * log{f}({0}))", out_rule="float")
_XLOGY0 = ScalarOp("xlogy0", 2, _numpy_xlogy0,
                   "({0} == 0 ? ({ct})0 : {0} * log{f}({1}))", out_rule="float")


class XlogX(Elemwise):
    """x log x, 0 at x = 0; the gradient is gz (1 + log x)."""

    def __init__(self):
        super().__init__(_XLOGX)

    def L_op(self, inputs, outputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        return [gz * (1 + log(x))]


class XlogY0(Elemwise):
    """x log y, 0 where x = 0; the gradients are gz log y and gz x / y."""

    def __init__(self):
        super().__init__(_XLOGY0)

    def L_op(self, inputs, outputs, output_grads):
        (x, y), (gz,) = inputs, output_grads
        return [sum_to_shape(gz * log(y), x), sum_to_shape(gz * x / y, y)]


_xlogx, _xlogy0 = XlogX(), XlogY0()


def xlogx(x):
    """x * log(x) elementwise, 0 where x is 0 (integers give floats, as log does)."""
    return _xlogx(as_tensor_variable(x))


def xlogy0(x, y):
    """x * log(y) elementwise with broadcasting, 0 where x is 0 (whatever y is there)."""
    return _xlogy0(as_tensor_variable(x), as_tensor_variable(y))


__all__ = ["xlogx", "xlogy0", "XlogX", "XlogY0"]
