"""Where an array is nonzero: Theano's ``nonzero``, ``flatnonzero`` and ``nonzero_values``.

One op, ``Nonzero``, gives the indices of the nonzero entries (NaN counts as nonzero, as in
numpy) as an int64 matrix with one row per axis and one column per entry, in C order; the
number of columns is known only when the graph runs. The functions take its rows, or index
the flattened array with them, as Theano's do (``x[t.nonzero()]`` is Lasagne's
multiclass hinge loss).
"""
import numpy as np

from ..graph.basic import Apply, Op
from .type import TensorType
from .var import TensorVariable, as_tensor_variable, register_operations


class Nonzero(Op):
    """The indices of the nonzero entries of a tensor of rank >= 1, as an int64 matrix of
    shape (ndim, count)."""

    c_template = "ops/nonzero.c.j2"

    def make_node(self, a):
        a = as_tensor_variable(a)
        if a.ndim == 0:
            raise ValueError(f"nonzero of {a!r}: Nonzero only supports non-scalar arrays.")
        return Apply(self, [a], [TensorVariable(TensorType("int64", (False, False)))])

    def perform(self, node, inputs):
        (a,) = inputs
        return [np.array(np.nonzero(a), dtype="int64").reshape(a.ndim, -1)]

    def L_op(self, inputs, outputs, output_grads):
        return [None]   # the indices do not change with the values (integer output)


_nonzero = Nonzero()


def nonzero(a, return_matrix: bool = False):
    """The indices where ``a`` is nonzero: a tuple of ``a.ndim`` int64 vectors (so that
    ``a[nonzero(a)]`` are the nonzero entries), or the (ndim, count) matrix of them with
    ``return_matrix=True``."""
    a = as_tensor_variable(a)
    matrix = _nonzero(a)
    if return_matrix:
        return matrix
    return tuple(matrix[axis] for axis in range(a.ndim))


def flatnonzero(a) -> TensorVariable:
    """The indices of the nonzero entries of ``a`` flattened (C order), as an int64 vector."""
    a = as_tensor_variable(a)
    if a.ndim == 0:
        raise ValueError(f"flatnonzero of {a!r}: Nonzero only supports non-scalar arrays.")
    return _nonzero(a.flatten())[0]


def nonzero_values(a) -> TensorVariable:
    """The nonzero entries of ``a``, flattened in C order."""
    a = as_tensor_variable(a)
    return a.flatten()[flatnonzero(a)]


__all__ = ["Nonzero", "nonzero", "flatnonzero", "nonzero_values"]


register_operations(__name__, globals())   # the methods of tensor variables (var.py)
