"""A variable's shape as graph values: ``Shape`` (``x.shape``) and ``Shape_i``
(``x.shape[i]``). They sit below the op families whose graphs and gradients count elements
with them (reduction, shape_ops).
"""
import numbers

import numpy as np

from ..graph.basic import Apply, Op
from .type import TensorType
from .var import TensorVariable, as_tensor_variable, register_operations


def is_python_int(value) -> bool:
    """Whether ``value`` is a Python or numpy integer (not a bool): a static length or axis."""
    return isinstance(value, (numbers.Integral, np.integer)) \
        and not isinstance(value, (bool, np.bool_))


class Shape(Op):
    """``x.shape``: the int64 vector of ``x``'s dimensions."""

    c_template = "ops/shape.c.j2"
    output_types_depend_only_on_input_types = True   # always an int64 vector

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorVariable(TensorType("int64", (False,)))])

    def perform(self, node, inputs):
        return [np.array(inputs[0].shape, dtype="int64")]

    def c_params(self, node):
        return {"axes": list(range(node.inputs[0].ndim))}


class Shape_i(Op):
    """``x.shape[i]`` as an int64 scalar."""

    __props__ = ("i",)
    c_template = "ops/shape.c.j2"
    output_types_depend_only_on_input_types = True   # always an int64 scalar

    def __init__(self, i):
        self.i = int(i)

    def make_node(self, x):
        x = as_tensor_variable(x)
        if not 0 <= self.i < x.ndim:
            raise IndexError(f"Shape_i: axis {self.i} is out of range for {x!r}, which has "
                             f"{x.ndim} dimensions")
        return Apply(self, [x], [TensorVariable(TensorType("int64", ()))])

    def perform(self, node, inputs):
        return [np.array(inputs[0].shape[self.i], dtype="int64")]

    def c_params(self, node):
        return {"axes": [self.i]}


def shape(x):
    """The symbolic shape of ``x``: an int64 vector of length ``x.ndim``."""
    return Shape()(x)


def shape_i(x, i):
    """``x.shape[i]`` as an int64 scalar (negative ``i`` counts from the end)."""
    x = as_tensor_variable(x)
    if not is_python_int(i):
        raise TypeError(f"shape_i: the axis must be a Python int, got {i!r}")
    if not -x.ndim <= i < x.ndim:
        raise IndexError(f"shape_i: axis {i} is out of range for {x!r}, which has {x.ndim} "
                         f"dimensions")
    return Shape_i(i % x.ndim)(x)


shape_of = shape_i


register_operations(__name__, globals())   # x.shape (var.py)
