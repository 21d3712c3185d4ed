"""``theano.tensor.slinalg``: Cholesky factors and linear solves through LAPACK
(templates/ops/linalg.c.j2), with Theano's gradients. The numpy reference calls scipy, as
Theano did; errors are ``numpy.linalg.LinAlgError`` (scipy's LinAlgError is the same class).
"""
import numpy as np

from ..graph.basic import Apply
from . import basic as T
from .basic import cast
from .blas import outer
from .tensordot import dot
from .nlinalg import LapackOp, as_float_matrix, check_square
from .shape_ops import arange, shape_i
from .type import TensorType, is_float
from .var import TensorVariable, as_tensor_variable

MATRIX_STRUCTURES = ("general", "symmetric", "lower_triangular", "upper_triangular",
                     "hermitian", "banded", "diagonal", "toeplitz")


def _triangle(x, lower):
    """``x`` with zeros above (``lower``) or below its diagonal."""
    rows = arange(shape_i(x, 0)).dimshuffle(0, "x")
    cols = arange(shape_i(x, 1)).dimshuffle("x", 0)
    keep = T.ge(rows, cols) if lower else T.le(rows, cols)
    return T.switch(keep, x, T.zeros_like(x))


def _diagonal_part(x):
    """``x`` with zeros off its diagonal."""
    rows = arange(shape_i(x, 0)).dimshuffle(0, "x")
    cols = arange(shape_i(x, 1)).dimshuffle("x", 0)
    return T.switch(T.eq(rows, cols), x, T.zeros_like(x))


class Cholesky(LapackOp):
    """The triangular factor L of a positive definite X: dot(L, L.T) == X (``lower``), or U
    with dot(U.T, U) == X. Only X's triangle on that side is read. ``on_error='nan'``
    gives a matrix of NaN instead of raising LinAlgError when X is not positive definite."""

    __props__ = ("lower", "destructive", "on_error")

    def __init__(self, lower=True, on_error="raise"):
        if on_error not in ("raise", "nan"):
            raise ValueError('on_error must be one of "raise" or ""nan"')
        self.lower = bool(lower)
        self.destructive = False
        self.on_error = on_error

    def make_node(self, x):
        x = as_float_matrix("cholesky", x)
        return Apply(self, [x], [TensorVariable(TensorType(x.dtype, (False, False)))])

    def perform(self, node, inputs):
        import scipy.linalg   # deferred: ~0.1 s to import, needed only by perform
        (x,) = inputs
        check_square(x)
        try:
            return [scipy.linalg.cholesky(x, lower=self.lower).astype(x.dtype)]
        except np.linalg.LinAlgError:
            if self.on_error == "raise":
                raise
            return [np.full(x.shape, np.nan, dtype=x.dtype)]

    def L_op(self, inputs, outputs, output_grads):
        """Murray's reverse-mode formula (arXiv:1602.07527), as Theano."""
        chol_x, dz = outputs[0], output_grads[0]
        if self.on_error == "nan":
            ok = ~T.any(T.isnan(chol_x))
            chol_x = T.switch(ok, chol_x, 1)
            dz = T.switch(ok, dz, 1)
        if not self.lower:
            chol_x, dz = chol_x.T, dz.T
        inner = dot(chol_x.T, dz)
        phi = _triangle(inner, lower=True) - _diagonal_part(inner) / 2.0
        # L^-T phi L^-1 by two triangular solves
        s = solve_upper_triangular(chol_x.T, solve_upper_triangular(chol_x.T, phi.T).T)
        grad = _triangle(s + s.T, lower=self.lower) - _diagonal_part(s)
        if self.on_error == "nan":
            grad = T.switch(ok, grad, np.nan)
        return [grad]

    def c_params(self, node):
        return {"what": "cholesky", "uplo": "L" if self.lower else "U",
                "on_error": self.on_error}


cholesky = Cholesky()


class Solve(LapackOp):
    """The solution x of ``A x = b`` (b a vector or a matrix). A triangular ``A_structure``
    reads only that triangle of A; any other structure solves the general system, as
    Theano did."""

    __props__ = ("A_structure", "lower", "overwrite_A", "overwrite_b")

    def __init__(self, A_structure="general", lower=False, overwrite_A=False,
                 overwrite_b=False):
        if A_structure not in MATRIX_STRUCTURES:
            raise ValueError(f"Invalid matrix structure argument {A_structure!r}; one of "
                             f"{MATRIX_STRUCTURES}")
        self.A_structure = A_structure
        self.lower = lower
        self.overwrite_A = overwrite_A
        self.overwrite_b = overwrite_b

    def __str__(self):
        return f"Solve{{{self.A_structure}}}"

    def make_node(self, A, b):
        A = as_float_matrix("solve", A)
        b = as_tensor_variable(b)
        if b.ndim not in (1, 2):
            raise TypeError(f"solve: b must be a vector or a matrix, got {b!r} with "
                            f"{b.ndim} dimensions")
        dtype = np.result_type(np.dtype(A.dtype), np.dtype(b.dtype)).name
        dtype = dtype if is_float(dtype) else "float64"
        A = A if A.dtype == dtype else cast(A, dtype)
        b = b if b.dtype == dtype else cast(b, dtype)
        return Apply(self, [A, b], [TensorVariable(TensorType(dtype, b.broadcastable))])

    def perform(self, node, inputs):
        import scipy.linalg   # deferred: ~0.1 s to import, needed only by perform
        A, b = inputs
        check_square(A)
        if b.shape[0] != A.shape[0]:
            raise ValueError(f"incompatible dimensions: {A.shape} and {b.shape}")
        if self.A_structure in ("lower_triangular", "upper_triangular"):
            result = scipy.linalg.solve_triangular(
                A, b, lower=self.A_structure == "lower_triangular")
        else:
            result = scipy.linalg.solve(A, b)
        return [np.asarray(result, dtype=node.outputs[0].dtype)]

    def L_op(self, inputs, outputs, output_grads):
        """Giles' formulas: b_bar = A^-T c_bar, A_bar = -b_bar c^T (its triangle), as
        Theano."""
        A, b = inputs
        c, c_bar = outputs[0], output_grads[0]
        flipped = {"lower_triangular": "upper_triangular",
                   "upper_triangular": "lower_triangular"}
        b_bar = Solve(flipped.get(self.A_structure, self.A_structure),
                      lower=not self.lower)(A.T, c_bar)
        A_bar = -outer(b_bar, c) if c.ndim == 1 else -dot(b_bar, c.T)
        if self.A_structure == "lower_triangular":
            A_bar = _triangle(A_bar, lower=True)
        elif self.A_structure == "upper_triangular":
            A_bar = _triangle(A_bar, lower=False)
        return [A_bar, b_bar]

    def c_params(self, node):
        triangle = {"lower_triangular": "L", "upper_triangular": "U"}.get(self.A_structure)
        return {"what": "solve", "triangle": triangle}


solve = Solve()
solve_lower_triangular = Solve(A_structure="lower_triangular", lower=True)
solve_upper_triangular = Solve(A_structure="upper_triangular", lower=False)
solve_symmetric = Solve(A_structure="symmetric")
