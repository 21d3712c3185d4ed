"""Products over chosen axes, as Theano's ``tensordot``, ``batched_dot`` and
``batched_tensordot``, and ``dot`` with a second operand of more than 2 dimensions.

All are lowered to ops that exist: the operands are transposed so that the summed axes are
last in ``a`` and first in ``b``, reshaped to matrices, multiplied by one ``Dot`` (BLAS) and
reshaped back; gradients follow through those ops. A batched product of floats is one
``BatchedDot`` (a matrix product per batch entry, in C); of other dtypes, an elementwise
product summed over the inner axis, which the fusion rewrite computes as one loop.
"""
import numbers

import numpy as np

from ..graph.basic import Apply, Op
from ..graph.labels import label_of
from .blas import BLAS_DTYPES, Dot, matrix_dot
from .math_ops import cast, dimshuffle
from .reduction import sum as reduce_sum
from .shape_ops import patternbroadcast, reshape, shape_i
from .scalar_ops import upcast
from .type import TensorType, shape_str
from .var import TensorVariable, as_tensor_variable, register_operations

plain_dot = Dot()   # the products of matrices the ones below reduce to


def _size(x, axes):
    """The number of elements of ``x`` along ``axes`` (an int64 scalar; 1 for no axes)."""
    size = None
    for d in axes:
        size = shape_i(x, d) if size is None else size * shape_i(x, d)
    return 1 if size is None else size


def _summed_axes(a, b, axes, batched):
    """The summed axes of ``a`` and of ``b`` (lists of the same length) from ``axes``."""
    first = 1 if batched else 0
    if isinstance(axes, numbers.Integral):
        n = int(axes)
        for label, x in (("a", a), ("b", b)):
            if n < 0 or n > x.ndim - first:
                raise ValueError(f"tensordot: cannot sum over {n} axes of {label} = {x!r}, which "
                                 f"has {x.ndim} dimensions" + (" (one of them the batch axis)"
                                                               if batched else ""))
        return list(range(a.ndim - n, a.ndim)), list(range(first, first + n))
    try:
        a_axes, b_axes = ([int(d)] if isinstance(d, numbers.Integral) else [int(k) for k in d]
                          for d in axes)
    except (TypeError, ValueError):
        raise ValueError(f"tensordot: axes must be an int or a pair of axis lists, got "
                         f"{axes!r}") from None
    if len(a_axes) != len(b_axes):
        raise ValueError(f"tensordot: axes {axes!r} name {len(a_axes)} axes of a and "
                         f"{len(b_axes)} of b")
    checked = []
    for label, x, ax in (("a", a, a_axes), ("b", b, b_axes)):
        ax = [d + x.ndim if d < 0 else d for d in ax]
        if any(not 0 <= d < x.ndim for d in ax) or len(set(ax)) != len(ax):
            raise ValueError(f"tensordot: axes {axes!r} are not distinct axes of {label} = "
                             f"{x!r} ({x.ndim} dimensions)")
        if batched and 0 in ax:
            raise ValueError(f"batched_tensordot: axes {axes!r} include the batch axis 0 of "
                             f"{label} = {x!r}")
        checked.append(ax)
    return checked


def _product(a, b, axes, batched):
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    a_sum, b_sum = _summed_axes(a, b, axes, batched)
    batch = [0] if batched else []
    a_free = [d for d in range(a.ndim) if d not in a_sum and d not in batch]
    b_free = [d for d in range(b.ndim) if d not in b_sum and d not in batch]
    out_bcast = tuple(a.broadcastable[d] for d in batch + a_free) + \
        tuple(b.broadcastable[d] for d in b_free)
    a = dimshuffle(a, batch + a_free + a_sum)
    b = dimshuffle(b, batch + b_sum + b_free)
    n_batch, n_a_free, n_sum = len(batch), len(a_free), len(a_sum)
    a_free_axes = list(range(n_batch, n_batch + n_a_free))
    b_free_axes = list(range(n_batch + n_sum, b.ndim))
    if not batched and n_sum == 1 and len(b_free) <= 1:
        return plain_dot(a, b)    # already what Dot computes: no reshape needed
    if batched and n_a_free == 1 and n_sum == 1 and len(b_free) == 1:
        return _batched_matrix_product(a, b)   # already (batch, m, k) and (batch, k, n)
    lead = [shape_i(a, 0)] if batched else []
    a_mat = reshape(a, lead + [_size(a, a_free_axes), _size(a, range(a.ndim - n_sum, a.ndim))])
    b_mat = reshape(b, lead + [_size(b, range(n_batch, n_batch + n_sum)), _size(b, b_free_axes)])
    product = _batched_matrix_product(a_mat, b_mat) if batched else plain_dot(a_mat, b_mat)
    out_shape = lead + [shape_i(a, d) for d in a_free_axes] + [shape_i(b, d) for d in b_free_axes]
    return patternbroadcast(reshape(product, out_shape), out_bcast)


class BatchedDot(Op):
    """out[i] = a[i] . b[i] for 3-d float32/float64 ``a`` (batch, m, k) and ``b``
    (batch, k, n) of one dtype: one matrix product per batch entry, by BLAS (or the inline
    kernel of small products) in C."""

    c_template = "ops/batched_dot.c.j2"

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        if a.ndim != 3 or b.ndim != 3 or a.dtype != b.dtype or a.dtype not in BLAS_DTYPES:
            raise TypeError(f"BatchedDot takes two 3-d tensors of one float dtype, got {a!r} "
                            f"({a.type}) and {b!r} ({b.type})")
        bcast = (a.broadcastable[0] and b.broadcastable[0], a.broadcastable[1],
                 b.broadcastable[2])
        return Apply(self, [a, b], [TensorVariable(TensorType(a.dtype, bcast))])

    def perform(self, node, inputs):
        a, b = inputs
        if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
            raise ValueError(f"batched_dot: {label_of(node.inputs[0])} has shape "
                             f"{shape_str(a.shape)} but {label_of(node.inputs[1])} has shape "
                             f"{shape_str(b.shape)}: the batch sizes and the inner dimensions "
                             f"must be equal")
        return [np.matmul(a, b)]

    def L_op(self, inputs, outputs, output_grads):
        """da[i] = gz[i] . b[i]^T and db[i] = a[i]^T . gz[i]."""
        a, b = inputs
        (gz,) = output_grads
        if gz is None:
            return [None, None]
        return [self(gz, dimshuffle(b, [0, 2, 1])), self(dimshuffle(a, [0, 2, 1]), gz)]

    def c_params(self, node):
        # cg_<p>gemm_small and cg_<p>gemm come from the runtime library
        return {"blas_prefix": "s" if node.outputs[0].dtype == "float32" else "d"}


_batched_dot_op = BatchedDot()


def _batched_matrix_product(a, b):
    """out[i] = a[i] . b[i] for 3-d ``a`` (B, n, k) and ``b`` (B, k, m): the BatchedDot op
    for floats; other dtypes as one fused multiply-and-sum, ``b`` first reshaped to a's batch
    and inner lengths (a reshape refuses another size, so mismatched operands raise instead
    of broadcasting)."""
    dtype = upcast(a.dtype, b.dtype)
    if dtype in BLAS_DTYPES:
        return _batched_dot_op(cast(a, dtype), cast(b, dtype))
    b = reshape(b, [shape_i(a, 0), shape_i(a, 2), shape_i(b, 2)])
    # the sum in the operands' upcast dtype (wrapping as dot's integer products do)
    return reduce_sum(dimshuffle(a, [0, 1, 2, "x"]) * dimshuffle(b, [0, "x", 1, 2]), axis=2,
                      dtype=dtype)


def tensordot(a, b, axes=2):
    """numpy's ``tensordot``: ``axes`` an int n (the last n axes of ``a`` summed against the
    first n of ``b``) or a pair of axis lists; the result has a's remaining axes, then b's."""
    return _product(a, b, axes, batched=False)


def batched_tensordot(x, y, axes=2):
    """``tensordot`` of x[i] and y[i] for every i along the first (batch) axis of both; an
    int ``axes`` n sums the last n axes of x against the n axes of y after the batch axis."""
    return _product(x, y, axes, batched=True)


def batched_dot(a, b):
    """out[i] = dot(a[i], b[i]) along the first (batch) axis of both, as Theano's: a vector
    scales the other operand's batches; higher ranks sum a's last axis against b's
    second-to-last (its axis 1 when b is 2-d)."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    for label, x in (("a", a), ("b", b)):
        if x.ndim == 0:
            raise TypeError(f"batched_dot: {label} = {x!r} must have at least one (batch) axis")
    if a.ndim == 1:
        return dimshuffle(a, [0] + ["x"] * (b.ndim - 1)) * b
    if b.ndim == 1:
        return a * dimshuffle(b, [0] + ["x"] * (a.ndim - 1))
    return batched_tensordot(a, b, [[a.ndim - 1], [max(1, b.ndim - 2)]])


def dot_nd(a, b):
    """numpy's ``dot`` for a second operand of more than 2 dimensions: a's last axis summed
    against b's second-to-last."""
    return tensordot(a, b, [[a.ndim - 1], [b.ndim - 2]])


def dot(a, b):
    """numpy's ``dot``: vector.vector -> scalar, matrix.vector -> vector, vector.matrix ->
    vector, matrix.matrix -> matrix, an N-d tensor times a vector or a matrix, and any
    operand times an N-d tensor (a's last axis against b's second-to-last).

    A 0-d operand means elementwise multiplication. The result has the numpy upcast of the
    two dtypes (the operands are cast to it first).
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if b.ndim > 2 and a.ndim > 0:
        return dot_nd(a, b)
    return matrix_dot(a, b)


__all__ = ["dot", "tensordot", "batched_dot", "batched_tensordot"]


register_operations(__name__, globals())   # the methods of tensor variables (var.py)
