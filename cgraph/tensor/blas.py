"""``dot`` and ``outer``: float32/float64 products go through BLAS, other dtypes through loops.

``Dot`` multiplies an N-d tensor (N >= 1) by a vector or a matrix, following numpy's
``dot``: the last axis of the first operand is summed against the first axis of the second.
A 0-d operand makes the product elementwise; a second operand of more than 2 dimensions is
not supported yet.
"""
import numpy as np

from ..graph.basic import Apply, Op
from .scalar_ops import upcast
from .type import TensorType, shape_str
from .var import TensorVariable, as_tensor_variable

BLAS_DTYPES = ("float32", "float64")


class Dot(Op):
    """numpy's ``dot`` of ``a`` (N-d, N >= 1) and ``b`` (vector or matrix), of one dtype."""

    c_template = "ops/dot.c.j2"

    def __str__(self):
        return "Dot"

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        if a.ndim == 0 or b.ndim == 0:
            raise TypeError(f"Dot needs operands of at least 1 dimension, got {a!r} "
                            f"({a.ndim}-d) and {b!r} ({b.ndim}-d); dot() multiplies a "
                            f"0-d operand elementwise instead")
        if b.ndim > 2:
            raise NotImplementedError(
                f"dot of {a!r} ({a.ndim}-d) and {b!r} ({b.ndim}-d): a second operand of "
                f"more than 2 dimensions is not supported yet (nor are tensordot and "
                f"batched_dot)")
        dtype = upcast(a.dtype, b.dtype)
        a, b = _cast(a, dtype), _cast(b, dtype)
        bcast = a.broadcastable[:-1] + b.broadcastable[1:]
        return Apply(self, [a, b], [TensorVariable(TensorType(dtype, bcast))])

    def perform(self, node, inputs):
        a, b = inputs
        if a.shape[-1] != b.shape[0]:
            raise ValueError(inner_mismatch_message(node, a.shape, b.shape))
        return [np.asarray(np.dot(a, b), dtype=node.outputs[0].dtype)]

    def c_params(self, node):
        dtype = node.outputs[0].dtype
        return {"use_blas": dtype in BLAS_DTYPES, "blas_prefix": "s" if dtype == "float32" else "d"}


def inner_mismatch_message(node, a_shape, b_shape):
    """The error for operands whose inner dimensions differ, naming both."""
    from ..codegen.lower import label_of
    a, b = (label_of(v) for v in node.inputs)
    return (f"dot: {a} has shape {shape_str(a_shape)} but {b} has shape {shape_str(b_shape)}: "
            f"inner dimensions {a_shape[-1]} and {b_shape[0]} differ")


def _cast(x, dtype):
    from .basic import cast
    return cast(x, dtype)


_dot = Dot()


def dot(a, b):
    """numpy's ``dot``: vector.vector -> scalar, matrix.vector -> vector, vector.matrix ->
    vector, matrix.matrix -> matrix, and an N-d tensor times a vector or a matrix.

    A 0-d operand means elementwise multiplication. The result has the numpy upcast of the
    two dtypes (the operands are cast to it first).
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return _dot(a, b)


def outer(x, y):
    """The outer product of two vectors (other tensors are flattened first), as Theano's."""
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    if x.ndim != 1:
        x = x.flatten()
    if y.ndim != 1:
        y = y.flatten()
    return dot(x.dimshuffle(0, "x"), y.dimshuffle("x", 0))
