"""``dot`` and ``outer``: float32/float64 products go through BLAS, other dtypes through loops;
the gradient of a product is two more products with transposed operands.

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

    def L_op(self, inputs, outputs, output_grads):
        """Products with the other operand transposed: for z = a . b, da = gz . b^T and
        db = a^T . gz, where an N-d ``a`` (N > 2) is first seen as a matrix of its rows."""
        a, b = inputs
        (gz,) = output_grads
        if gz is None:
            return [None, None]
        if b.ndim == 1:
            # z has a's shape without its last axis: each z entry is a row of a times b
            ga = b * (gz if a.ndim == 1 else gz.dimshuffle(*range(a.ndim - 1), "x"))
            if a.ndim == 1:
                gb = gz * a
            else:
                gb = dot(_as_rows(gz, a.ndim), _as_rows(a, a.ndim))
            return [ga, gb]
        ga = dot(gz, b.T)
        if a.ndim == 1:
            gb = outer(a, gz)
        else:
            gb = dot(_as_rows(a, a.ndim).T, _as_rows(gz, a.ndim))
        return [ga, gb]

    def c_params(self, node):
        dtype = node.outputs[0].dtype
        return {"use_blas": dtype in BLAS_DTYPES, "blas_prefix": "s" if dtype == "float32" else "d"}


def inner_mismatch_message(node, a_shape, b_shape):
    """The error for operands whose inner dimensions differ, naming both."""
    from ..codegen.lower import label_of
    a, b = (label_of(v) for v in node.inputs)
    return (f"dot: {a} has shape {shape_str(a_shape)} but {b} has shape {shape_str(b_shape)}: "
            f"inner dimensions {a_shape[-1]} and {b_shape[0]} differ")


def _as_rows(x, a_ndim):
    """``x`` (a gradient or an operand of a dot whose first operand had ``a_ndim``
    dimensions) with all the axes coming from that operand's leading axes collapsed into one:
    (p, q, k) -> (p*q, k) and (p, q) -> (p*q,). Matrices and vectors come back unchanged."""
    from .shape_ops import reshape, shape_i
    lead = a_ndim - 1
    if lead <= 1:
        return x
    rows = shape_i(x, 0)
    for d in range(1, lead):
        rows = rows * shape_i(x, d)
    rest = [shape_i(x, d) for d in range(lead, x.ndim)]
    return reshape(x, [rows] + rest, ndim=1 + len(rest))


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
