"""Sorting: ``sort`` and ``argsort`` along one axis (or the flattened array), as in Theano.

The C version is a stable merge sort (templates/ops/sort_support.c.j2); the numpy reference
asks numpy for a stable sort too, so ties give the same ``argsort`` in both modes whatever
``kind`` says (Theano passed ``kind`` on to numpy; the sorted values do not depend on it).
NaN sorts last, as in numpy. The axis must be known when the graph is built.
"""
import numbers

import numpy as np

from ..graph.basic import Apply, Constant, Op
from .shape_ops import flatten
from .type import TensorType, is_float
from .var import TensorVariable, as_tensor_variable, constant, register_operations

_KINDS = ("quicksort", "mergesort", "heapsort", "stable")


def _static_axis(op_name, x, axis):
    """``axis`` (an int or an integer constant) as a non-negative axis of ``x``."""
    if isinstance(axis, Constant):
        axis = axis.data.item() if axis.data.ndim == 0 else axis.data
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{op_name}: the axis must be an int known when the graph is built "
                        f"(or None to sort the flattened array), got {axis!r}")
    if x.ndim == 0:
        raise ValueError(f"{op_name}: cannot sort {x!r}, a 0-d tensor (axis {axis} is out of "
                         f"bounds); sort a vector or more")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{op_name}: axis {axis} is out of bounds for {x!r} of "
                         f"{x.ndim} dimensions")
    return int(axis) % x.ndim


class _SortBase(Op):
    __props__ = ("kind", "order")
    c_template = "ops/sort.c.j2"
    what = None

    def __init__(self, kind="quicksort", order=None):
        if kind not in _KINDS:
            raise ValueError(f"{type(self).__name__}: kind must be one of {_KINDS}, got "
                             f"{kind!r}")
        if order is not None:
            raise ValueError(f"{type(self).__name__}: order (sorting structured arrays by "
                             f"field) is not supported: cgraph has no structured dtypes")
        self.kind = kind
        self.order = order

    def __str__(self):
        return f"{type(self).__name__}{{{self.kind}, {self.order}}}"

    def make_node(self, input, axis=-1):
        x = as_tensor_variable(input)
        a = _static_axis(type(self).__name__, x, axis)
        return Apply(self, [x, constant(np.int64(a))], [self._output_type(x)])

    def c_params(self, node):
        x = node.inputs[0]
        axis = int(node.inputs[1].data)
        return {"what": self.what, "axis": axis,
                "others": [d for d in range(x.ndim) if d != axis]}

    def c_support_code(self, node, module):
        add_sort_support(module, node.inputs[0].dtype)
        return {}


def add_sort_support(module, dtype):
    """The merge sort of ``dtype`` values, once per module."""
    module.add_support_template("ops/sort_support.c.j2", dtype=dtype,
                                ctype=TensorType(dtype, ()).ctype, is_float=is_float(dtype))


class SortOp(_SortBase):
    """The values of ``input`` sorted along ``axis`` (Theano's ``SortOp``)."""
    what = "sort"

    def _output_type(self, x):
        return TensorVariable(x.type)

    def perform(self, node, inputs):
        x, axis = inputs
        return [np.sort(x, axis=int(axis), kind="stable")]

    def L_op(self, inputs, outputs, output_grads):
        """Each input element gets the gradient of the place it was sorted to: the output
        gradient taken along the axis at the inverse permutation, argsort(argsort(x))."""
        x, axis = inputs
        (g,) = output_grads
        inverse = argsort(argsort(x, axis), axis)
        return [TakeAlongAxis(int(axis.data))(g, inverse), None]


class ArgSortOp(_SortBase):
    """The int64 positions that sort ``input`` along ``axis`` (Theano's ``ArgSortOp``)."""
    what = "argsort"

    def _output_type(self, x):
        return TensorVariable(TensorType("int64", x.broadcastable))

    def perform(self, node, inputs):
        x, axis = inputs
        return [np.argsort(x, axis=int(axis), kind="stable").astype("int64")]

    def L_op(self, inputs, outputs, output_grads):
        return [None, None]     # integer positions: no gradient, as in Theano (zeros)


class TakeAlongAxis(Op):
    """``out[..., k, ...] = x[..., idx[..., k, ...], ...]`` along ``axis``, with ``idx`` of
    ``x``'s shape (numpy's take_along_axis): how sort's gradient undoes the sort."""

    __props__ = ("axis",)
    c_template = "ops/sort.c.j2"

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, x, idx):
        x, idx = as_tensor_variable(x), as_tensor_variable(idx)
        if idx.dtype != "int64" or idx.ndim != x.ndim or not 0 <= self.axis < x.ndim:
            raise TypeError(f"TakeAlongAxis: needs int64 indices of {x!r}'s rank and an axis "
                            f"of it, got {idx!r} ({idx.type}) and axis {self.axis}")
        return Apply(self, [x, idx], [TensorVariable(x.type)])

    def perform(self, node, inputs):
        x, idx = inputs
        if idx.shape != x.shape:
            raise ValueError(f"the indices have shape {idx.shape} but the values {x.shape}")
        n = x.shape[self.axis]
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            bad = idx[(idx < 0) | (idx >= n)].flat[0]
            raise IndexError(f"index {bad} is out of bounds for axis {self.axis} with size {n}")
        return [np.take_along_axis(x, idx, axis=self.axis)]

    def c_params(self, node):
        nd = node.inputs[0].ndim
        return {"what": "take", "axis": self.axis,
                "others": [d for d in range(nd) if d != self.axis]}


def sort(a, axis=-1, kind="quicksort", order=None):
    """``a`` sorted along ``axis`` (None: the flattened array), NaN last."""
    a = as_tensor_variable(a)
    if axis is None:
        a, axis = flatten(a), 0
    return SortOp(kind, order)(a, axis)


def argsort(a, axis=-1, kind="quicksort", order=None):
    """The int64 positions that sort ``a`` along ``axis`` (None: the flattened array); ties
    keep their order (a stable sort, whatever ``kind`` says)."""
    a = as_tensor_variable(a)
    if axis is None:
        a, axis = flatten(a), 0
    return ArgSortOp(kind, order)(a, axis)


register_operations(__name__, globals())   # x.sort(), x.argsort() (var.py)
