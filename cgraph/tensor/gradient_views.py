"""Ops that return their input unchanged and only alter its gradient (Theano's view ops of
``theano.gradient``): ``disconnected_grad``, ``zero_grad``, ``grad_clip``, ``grad_scale``.

Each is an elementwise identity, so the forward graph costs nothing once the canonicalize
phase has replaced it by its input; the gradient graph is built before that, from ``L_op``.
"""
import warnings

from .basic import clip, zeros_like
from .elemwise import Elemwise
from .scalar_ops import SCALAR_OPS
from .var import as_tensor_variable, constant


class GradientView(Elemwise):
    """``x`` itself; subclasses say what becomes of the gradient that reaches it."""

    # grad() treats the output of an op with this flag as a constant: no gradient flows
    # through it and the variables below are not connected to the cost through it
    disconnects_gradient = False

    def __init__(self):
        super().__init__(SCALAR_OPS["identity"])

    def __str__(self):
        return type(self).__name__


class DisconnectedGrad(GradientView):
    disconnects_gradient = True

    def L_op(self, inputs, outputs, output_grads):
        return [None]


class ZeroGrad(GradientView):
    def L_op(self, inputs, outputs, output_grads):
        return [zeros_like(output_grads[0])]


class GradClip(GradientView):
    __props__ = ("scalar_op", "lower_bound", "upper_bound")

    def __init__(self, lower_bound, upper_bound):
        super().__init__()
        if not upper_bound >= lower_bound:
            raise ValueError(f"grad_clip: the upper bound {upper_bound!r} is below the lower "
                             f"bound {lower_bound!r}")
        self.lower_bound, self.upper_bound = float(lower_bound), float(upper_bound)

    def __str__(self):
        return f"GradClip{{{self.lower_bound}, {self.upper_bound}}}"

    def L_op(self, inputs, outputs, output_grads):
        (gz,) = output_grads
        return [clip(gz, constant(self.lower_bound, dtype=gz.dtype),
                     constant(self.upper_bound, dtype=gz.dtype))]


class GradScale(GradientView):
    __props__ = ("scalar_op", "multiplier")

    def __init__(self, multiplier):
        super().__init__()
        self.multiplier = float(multiplier)

    def __str__(self):
        return f"GradScale{{{self.multiplier}}}"

    def L_op(self, inputs, outputs, output_grads):
        (gz,) = output_grads
        return [gz * constant(self.multiplier, dtype=gz.dtype)]


def disconnected_grad(x):
    """``x``, through which no gradient flows: the variables ``x`` is computed from are not
    connected to a cost through it (asking for their gradient through it alone raises
    DisconnectedInputError, as in Theano)."""
    return DisconnectedGrad()(as_tensor_variable(x))


def zero_grad(x):
    """``x``, whose gradient is truncated to zero (still connected: the gradient of the
    variables below is zero, not an error)."""
    return ZeroGrad()(as_tensor_variable(x))


def consider_constant(x):
    """Deprecated in Theano for zero_grad (same behaviour, with Theano's warning)."""
    warnings.warn("consider_constant() is deprecated, use zero_grad() or disconnected_grad() "
                  "instead.", DeprecationWarning, stacklevel=2)
    return zero_grad(x)


def grad_clip(x, lower_bound, upper_bound):
    """``x``, whose gradient is clipped elementwise to [lower_bound, upper_bound]."""
    return GradClip(lower_bound, upper_bound)(as_tensor_variable(x))


def grad_scale(x, multiplier):
    """``x``, whose gradient is multiplied by ``multiplier`` (-1 reverses it)."""
    return GradScale(multiplier)(as_tensor_variable(x))
