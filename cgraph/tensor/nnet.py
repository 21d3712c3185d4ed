"""``T.nnet``: neural-network functions, as Theano's ``theano.tensor.nnet``.

``softmax`` and ``log_softmax`` are ops of their own (numerically stable: the row maximum is
subtracted before ``exp``); the activations are built from elementwise ops. The
crossentropies are graphs of existing ops, except ``sigmoid_binary_crossentropy``, one
elementwise op whose gradient is exactly ``sigmoid(x) - t``. Crossentropies of a softmax
(sigmoid) output are built on its input, so that their gradients are stable too.
"""
import warnings

import numpy as np

from ..graph.basic import Apply, Op, Variable
from .basic import cast, clip, exp, log, sigmoid, softplus, switch
from .elemwise import Elemwise, sum_to_shape
from .reduction import sum as reduce_sum
from .scalar_ops import ScalarOp, upcast_float
from .shape_ops import arange, shape_i
from .type import is_float, is_int
from .var import TensorVariable, as_tensor_variable, constant
from . import abstract_conv  # noqa: F401  (T.nnet.abstract_conv, as in Theano)
from .abstract_conv import conv2d_transpose, separable_conv2d  # noqa: F401
from .conv3d import conv3d  # noqa: F401
import sys as _sys  # noqa: E402
# importable by Theano's path too (import theano.tensor.nnet.abstract_conv): the import
# system finds an entry of sys.modules even though this module is not a package
_sys.modules[__name__ + ".abstract_conv"] = abstract_conv

ultra_fast_sigmoid = sigmoid   # Theano's piecewise approximation; the exact one is as fast here


class Softmax(Op):
    """Softmax of each row (the last axis) of a vector or a matrix of floats."""

    c_template = "ops/softmax.c.j2"
    log = False
    output_types_depend_only_on_input_types = True   # the input's type (LogSoftmax too)

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

    def L_op(self, inputs, outputs, output_grads):
        """dx = (gz - sum(gz * sm)) * sm, the sum over each row."""
        (gz,), (sm,) = output_grads, outputs
        if gz is None:
            return [None]
        return [(gz - reduce_sum(gz * sm, axis=-1, keepdims=True)) * sm]

    def c_params(self, node):
        return {"log": self.log, "p": "s" if node.outputs[0].dtype == "float32" else "d"}

    def c_support_code(self, node, module):
        # the runtime runs the node; the exp over a block is this module's (vector math)
        p = "s" if node.outputs[0].dtype == "float32" else "d"
        name = f"cg_softmax_exp_{p}"
        module.add_support_template("ops/softmax_exp.c.j2", name=name, p=p,
                                    ct="float" if p == "s" else "double")
        return {"vexp": name}


class LogSoftmax(Softmax):
    """log(softmax(x)) of each row, computed as x - max - log(sum(exp(x - max)))."""

    log = True

    def L_op(self, inputs, outputs, output_grads):
        """dx = gz - softmax(x) * sum(gz), the sum over each row; exp(lsm) never overflows."""
        (gz,), (lsm,) = output_grads, outputs
        if gz is None:
            return [None]
        return [gz - exp(lsm) * reduce_sum(gz, axis=-1, keepdims=True)]


_softmax, _log_softmax = Softmax(), LogSoftmax()


def _as_float(x):
    """``x`` as a tensor, integers converted to float as ``T.exp`` does."""
    x = as_tensor_variable(x)
    return x if is_float(x.dtype) else cast(x, upcast_float(x.dtype))


def _as_rows(c, op_name):
    """``c`` as a float matrix, as Theano's softmax ops take it: a vector becomes a 1 x n row
    (with Theano's deprecation warning), so ``softmax(v)[:, 0]`` works as it did there."""
    c = _as_float(c)
    if c.ndim >= 1 and c.broadcastable[-1]:
        warnings.warn("The softmax is applied on a dimension of shape 1, which does not have a "
                      "semantic meaning.", stacklevel=3)
    if c.ndim == 1:
        warnings.warn(f"DEPRECATION: If x is a vector, {op_name} will not automatically pad x "
                      f"anymore in next releases. If you need it, please do it manually. The "
                      f"vector case is gonna be supported soon and the output will be a "
                      f"vector.", stacklevel=3)
        c = c.dimshuffle("x", 0)
    return c


def softmax(c):
    """exp(c) / sum(exp(c)) over each row of a matrix; a vector is taken as a 1 x n row, as
    in Theano (the result is that row)."""
    return _softmax(_as_rows(c, "Softmax"))


def log_softmax(c):
    """log(softmax(c)), computed stably; a vector is taken as a 1 x n row, as in Theano."""
    return _log_softmax(_as_rows(c, "LogSoftmax"))


logsoftmax = log_softmax


def relu(x, alpha=0):
    """Rectified linear unit: x where x >= 0, else alpha * x (alpha may be a tensor).

    Written as switch(x < 0, alpha * x, x), so NaN passes through; with alpha 0 the negative
    branch is a zero of x's dtype, so relu(-inf) is 0 and integer inputs keep their dtype.
    A numpy array (or number) with alpha 0 gives a numpy array, as Theano's relu did (its
    0.5 * (x + abs(x)) stayed numpy); programs rely on it (Lasagne's rectify in its tests).
    """
    if not isinstance(x, Variable) and isinstance(alpha, (int, float)) and alpha == 0:
        value = np.asarray(x)
        return np.where(value < 0, np.zeros((), dtype=value.dtype), value)
    x = as_tensor_variable(x)
    if isinstance(alpha, (int, float)) and alpha == 0:
        return switch(x < 0, constant(0, dtype=x.dtype), x)
    return switch(x < 0, alpha * x, x)


def hard_sigmoid(x):
    """clip(0.2 x + 0.5, 0, 1), computed in the float dtype of x."""
    x = _as_float(x)
    slope, shift = constant(0.2, dtype=x.dtype), constant(0.5, dtype=x.dtype)
    return clip(x * slope + shift, 0, 1)


# --- crossentropies -------------------------------------------------------------------------

def _softmax_input(p):
    """``x`` when ``p`` is ``softmax(x)`` (the op itself, not log_softmax), else None."""
    if p.owner is not None and type(p.owner.op) is Softmax:
        return p.owner.inputs[0]
    return None


def _sigmoid_input(p):
    """``x`` when ``p`` is ``sigmoid(x)``, else None."""
    if p.owner is not None and type(p.owner.op) is Elemwise and \
            p.owner.op.scalar_op.name == "sigmoid":
        return p.owner.inputs[0]
    return None


def _numpy_sigmoid_xent(x, t):
    return np.logaddexp(np.zeros((), x.dtype), -np.abs(x)) + x * ((x > 0) - t)


# softplus(-|x|) + x * ([x > 0] - t): equal to t softplus(-x) + (1 - t) softplus(x), without
# the rounding of softplus(x) - x t for large x and with softplus only of a non-positive value
_SIGMOID_XENT = ScalarOp(
    "sigmoid_binary_crossentropy", 2, _numpy_sigmoid_xent,
    "(cg_softplus{f}(-fabs{f}({0})) + {0} * (({ct})({0} > 0) - {1}))", out_rule="float")


class SigmoidBinaryCrossentropy(Elemwise):
    """Elementwise crossentropy of sigmoid(x) against target t, computed from the logits x;
    its gradient is gz * (sigmoid(x) - t) for x and -gz * x for t."""

    def __init__(self):
        super().__init__(_SIGMOID_XENT)

    def L_op(self, inputs, outputs, output_grads):
        (x, t), (gz,) = inputs, output_grads
        if gz is None:
            return [None, None]
        gx = sum_to_shape(gz * (sigmoid(x) - t), x)
        gt = sum_to_shape(-gz * x, t) if is_float(t.dtype) else None
        return [gx, gt]


_sigmoid_binary_crossentropy = SigmoidBinaryCrossentropy()


def sigmoid_binary_crossentropy(output, target):
    """binary_crossentropy(sigmoid(output), target) computed stably from the logits
    ``output``, elementwise (no sum); the gradient for ``output`` is exactly
    ``sigmoid(output) - target`` times the incoming gradient."""
    return _sigmoid_binary_crossentropy(_as_float(output), target)


def binary_crossentropy(output, target):
    """-(target * log(output) + (1 - target) * log(1 - output)), elementwise (no sum).

    When ``output`` is ``sigmoid(x)``, the stable form on ``x`` is used instead (same values,
    and a gradient that stays finite when the sigmoid saturates).
    """
    output, target = as_tensor_variable(output), as_tensor_variable(target)
    logits = _sigmoid_input(output)
    if logits is not None:
        return sigmoid_binary_crossentropy(logits, target)
    return -(target * log(output) + (1 - target) * log(1 - output))


def categorical_crossentropy(coding_dist, true_dist):
    """The crossentropy of each row of ``coding_dist`` (probabilities on the last axis)
    against ``true_dist``: a distribution of the same rank (one-hot or probabilities,
    ``-sum(true * log(coding), axis=-1)``) or an integer vector of class indices for a
    matrix ``coding_dist`` (``-log(coding[arange(n), true])``). One cost per row.

    When ``coding_dist`` is ``softmax(x)``, ``log_softmax(x)`` is used instead of
    ``log(coding_dist)`` (what the stable_log_softmax rewrite does to the forward graph),
    so that the cost and its gradient stay finite for saturated rows.
    """
    coding_dist, true_dist = as_tensor_variable(coding_dist), as_tensor_variable(true_dist)
    logits = _softmax_input(coding_dist)
    if true_dist.ndim == coding_dist.ndim:
        log_coding = log(coding_dist) if logits is None else _log_softmax(logits)
        return -reduce_sum(true_dist * log_coding, axis=coding_dist.ndim - 1)
    if true_dist.ndim == coding_dist.ndim - 1:
        if coding_dist.ndim != 2:
            raise TypeError(f"matrix required for argument: coding_dist (got {coding_dist!r} "
                            f"with {coding_dist.ndim} dimensions)")
        if not is_int(true_dist.dtype):
            raise TypeError(f"integer vector required for argument: true_one_of_n (got "
                            f"{true_dist!r} of type {true_dist.type})")
        # the rows are counted on the array that is indexed, so no other value is computed
        if logits is None:
            return -log(coding_dist[arange(shape_i(coding_dist, 0)), true_dist])
        log_coding = _log_softmax(logits)
        return -log_coding[arange(shape_i(log_coding, 0)), true_dist]
    raise TypeError("rank mismatch between coding and true distributions")


__all__ = ["softmax", "log_softmax", "logsoftmax", "relu", "sigmoid", "softplus",
           "ultra_fast_sigmoid", "hard_sigmoid", "Softmax", "LogSoftmax",
           "binary_crossentropy", "sigmoid_binary_crossentropy", "categorical_crossentropy",
           "SigmoidBinaryCrossentropy"]
from .conv import conv2d  # noqa: E402,F401
from . import bn  # noqa: E402,F401  (T.nnet.bn, as Theano's theano.tensor.nnet.bn)
import sys as _sys  # noqa: E402
_sys.modules[__name__ + ".bn"] = bn   # importable by Theano's path, though nnet is a module
from .bn import batch_normalization  # noqa: E402,F401
from .. import unsupported as _unsupported  # noqa: E402  (the namespace's __getattr__)


def __getattr__(name):
    return _unsupported.lookup("cgraph.tensor.nnet", name)
