"""``T.nnet``: neural-network functions, as Theano's ``theano.tensor.nnet``.

``softmax`` and ``log_softmax`` are ops of their own (numerically stable: the row maximum is
subtracted before ``exp``); the activations are built from elementwise ops.
"""
import numpy as np

from ..graph.basic import Apply, Op
from .basic import cast, clip, sigmoid, softplus, switch
from .scalar_ops import upcast_float
from .type import is_float
from .var import TensorVariable, as_tensor_variable, constant

ultra_fast_sigmoid = sigmoid   # Theano's piecewise approximation; the exact one is as fast here


class Softmax(Op):
    """Softmax of each row (the last axis) of a vector or a matrix of floats."""

    c_template = "ops/softmax.c.j2"
    log = False

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.ndim not in (1, 2) or not is_float(x.dtype):
            raise ValueError(f"x must be 1-d or 2-d tensor of floats. Got {x.type}")
        return Apply(self, [x], [TensorVariable(x.type)])

    def perform(self, node, inputs):
        (x,) = inputs
        if x.shape[-1] == 0:
            return [np.empty(x.shape, dtype=x.dtype)]
        with np.errstate(invalid="ignore", over="ignore"):
            shifted = x - x.max(axis=-1, keepdims=True)
            total = np.exp(shifted).sum(axis=-1, keepdims=True, dtype="float64")
            if self.log:
                result = shifted - np.log(total)
            else:
                result = np.exp(shifted) / total
        return [result.astype(x.dtype)]

    def c_params(self, node):
        return {"log": self.log}


class LogSoftmax(Softmax):
    """log(softmax(x)) of each row, computed as x - max - log(sum(exp(x - max)))."""

    log = True


_softmax, _log_softmax = Softmax(), LogSoftmax()


def _as_float(x):
    """``x`` as a tensor, integers converted to float as ``T.exp`` does."""
    x = as_tensor_variable(x)
    return x if is_float(x.dtype) else cast(x, upcast_float(x.dtype))


def softmax(c):
    """exp(c) / sum(exp(c)) over the last axis of a vector or of each row of a matrix."""
    return _softmax(_as_float(c))


def log_softmax(c):
    """log(softmax(c)), computed stably."""
    return _log_softmax(_as_float(c))


logsoftmax = log_softmax


def relu(x, alpha=0):
    """Rectified linear unit: x where x >= 0, else alpha * x (alpha may be a tensor).

    Written as switch(x < 0, alpha * x, x), so NaN passes through; with alpha 0 the negative
    branch is a zero of x's dtype, so relu(-inf) is 0 and integer inputs keep their dtype.
    """
    x = as_tensor_variable(x)
    if isinstance(alpha, (int, float)) and alpha == 0:
        return switch(x < 0, constant(0, dtype=x.dtype), x)
    return switch(x < 0, alpha * x, x)


def hard_sigmoid(x):
    """clip(0.2 x + 0.5, 0, 1), computed in the float dtype of x."""
    x = _as_float(x)
    slope, shift = constant(0.2, dtype=x.dtype), constant(0.5, dtype=x.dtype)
    return clip(x * slope + shift, 0, 1)


__all__ = ["softmax", "log_softmax", "logsoftmax", "relu", "sigmoid", "softplus",
           "ultra_fast_sigmoid", "hard_sigmoid", "Softmax", "LogSoftmax"]
