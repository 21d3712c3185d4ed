"""``theano.tensor.nlinalg``: the inverse and the determinant of a matrix, through LAPACK
(templates/ops/linalg.c.j2; the routines come from numpy's OpenBLAS, see
cgraph/blas_pointers.py). Integer matrices are cast to float64 first, as numpy does.

A singular matrix has no inverse: ``numpy.linalg.LinAlgError`` (a ValueError), as numpy
raises, in both modes.
"""
import numpy as np

from ..graph.basic import Apply, Op
from .basic import cast
from .tensordot import dot
from .type import TensorType, is_float
from .var import TensorVariable, as_tensor_variable


def as_float_matrix(op_name, x):
    """``x`` as a float matrix (integers and bools cast to float64)."""
    x = as_tensor_variable(x)
    if x.ndim != 2:
        raise TypeError(f"{op_name}: {x!r} must be a matrix, got {x.ndim} dimensions")
    if not is_float(x.dtype):
        x = cast(x, "float64")
    return x


def check_square(x):
    """numpy's error for a matrix that is not square (the C says the same)."""
    if x.shape[0] != x.shape[1]:
        raise np.linalg.LinAlgError(f"Last 2 dimensions of the array must be square: "
                                    f"shape {x.shape}")


class LapackOp(Op):
    """An op whose C calls LAPACK: its module asks the loader for the routines."""

    c_template = "ops/linalg.c.j2"

    def c_support_code(self, node, module):
        module.uses_lapack = True
        return {}


class MatrixInverse(LapackOp):
    """The inverse of a square matrix."""

    __props__ = ()

    def make_node(self, x):
        x = as_float_matrix("matrix_inverse", x)
        return Apply(self, [x], [TensorVariable(TensorType(x.dtype, (False, False)))])

    def perform(self, node, inputs):
        (x,) = inputs
        check_square(x)
        return [np.linalg.inv(x).astype(x.dtype)]

    def L_op(self, inputs, outputs, output_grads):
        """-(X^-1 . gz^T . X^-1)^T, as Theano."""
        xi, (gz,) = outputs[0], output_grads
        return [-dot(dot(xi, gz.T), xi).T]

    def c_params(self, node):
        return {"what": "inverse"}


matrix_inverse = MatrixInverse()


class Det(LapackOp):
    """The determinant of a square matrix (a scalar of its dtype)."""

    __props__ = ()

    def __str__(self):
        return "Det"

    def make_node(self, x):
        x = as_float_matrix("det", x)
        return Apply(self, [x], [TensorVariable(TensorType(x.dtype, ()))])

    def perform(self, node, inputs):
        (x,) = inputs
        check_square(x)
        return [np.asarray(np.linalg.det(x), dtype=x.dtype)]

    def L_op(self, inputs, outputs, output_grads):
        """gz * det(x) * inverse(x)^T, as Theano."""
        (x,), (gz,) = inputs, output_grads
        return [gz * outputs[0] * matrix_inverse(x).T]

    def c_params(self, node):
        return {"what": "det"}


det = Det()


def matrix_dot(*args):
    """The product of several matrices, left to right."""
    result = args[0]
    for a in args[1:]:
        result = dot(result, a)
    return result
