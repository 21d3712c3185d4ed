"""Batch normalization, as Theano 1.0.5's ``theano.tensor.nnet.bn`` (``T.nnet.bn``).

Theano builds abstract ops that a rewrite replaces by this arithmetic on the CPU (cuDNN
kernels on a GPU); here the functions build the arithmetic directly, so the gradients are
those of the mean, the variance and the elementwise formula, and fusion turns each
elementwise part into one loop.
"""
import numpy as np

from ..config import config
from .basic import cast, inv, sqrt
from .reduction import mean as reduce_mean, var as reduce_var
from .shape_ops import addbroadcast, patternbroadcast, shape_i
from .var import as_tensor_variable, constant


def batch_normalization(inputs, gamma, beta, mean, std, mode="low_mem"):
    """(inputs - mean) * (gamma / std) + beta, every operand broadcast against ``inputs``.

    Theano's two modes trade memory for speed in its own kernels; both give the same values
    and the same graph here."""
    if mode not in ("low_mem", "high_mem"):
        raise ValueError('mode must be either "low_mem", "high_mem"')
    inputs = as_tensor_variable(inputs)
    return (inputs - mean) * (gamma / std) + beta


def _normalization_axes(axes, ndim):
    """The sorted normalized axes and the others, from Theano's names or a tuple."""
    if isinstance(axes, str) and axes == "per-activation":
        axes = (0,)
    elif isinstance(axes, str) and axes == "spatial":
        axes = (0,) + tuple(range(2, ndim))
    elif isinstance(axes, (tuple, list, np.ndarray)):
        axes = tuple(int(a) for a in axes)
    else:
        raise ValueError(f"invalid axes: {axes!r} (use 'per-activation', 'spatial' or a "
                         f"tuple of axes)")
    axes = tuple(sorted(axes))
    if not axes:
        raise ValueError("there should be at least one normalization axis")
    if min(axes) < 0 or max(axes) >= ndim:
        raise ValueError(f"axes should be less than ndim (<{ndim}), but {axes} given")
    return axes, tuple(d for d in range(ndim) if d not in axes)


def _check_epsilon(epsilon):
    # Theano's bound (cuDNN's), checked on the floatX value: float32(1e-5) < 1e-5
    if np.asarray(epsilon, dtype=config.floatX) < 1e-5:
        raise ValueError(f"epsilon must be at least 1e-5, got {epsilon}")


class _Params:
    """Parameters given either with the input's rank (length 1 on the normalized axes) or
    with only the other axes; brought to the input's rank for the arithmetic, and back."""

    def __init__(self, ndim, axes, kept, first_ndim):
        self.ndim, self.axes, self.kept = ndim, axes, kept
        self.full = first_ndim == ndim
        self.params_ndim = ndim if self.full else len(kept)

    def check(self, what, *params):
        if any(as_tensor_variable(p).ndim != self.params_ndim for p in params):
            ranks = " and ".join(str(as_tensor_variable(p).ndim) for p in params)
            raise ValueError(f"{what} dimensionality must match the number of non-normalized "
                             f"axes, or have the same number of dimensions as the inputs; got "
                             f"{ranks} instead of {self.params_ndim}")

    def expand(self, p):
        p = as_tensor_variable(p)
        if self.full:
            return addbroadcast(p, *self.axes)
        pattern = ["x"] * self.ndim
        for i, axis in enumerate(self.kept):
            pattern[axis] = i
        return p.dimshuffle(pattern)

    def reduce(self, v):
        """A statistic of the input's rank back to the parameters' layout."""
        return v if self.full else v.dimshuffle(self.kept)


def batch_normalization_train(inputs, gamma, beta, axes="per-activation", epsilon=1e-4,
                              running_average_factor=0.1, running_mean=None,
                              running_var=None):
    """Normalize ``inputs`` by the mean and variance over ``axes`` ('per-activation' = (0,),
    'spatial' = (0, 2, 3, ...), or a tuple), then scale by ``gamma`` and shift by ``beta``.

    Returns (out, mean, invstd), plus the new running mean and variance when both
    ``running_mean`` and ``running_var`` are given: ``running * (1 - factor) + stat * factor``,
    the variance scaled by m / (m - 1) for the m values averaged (unbiased). Statistics come
    back in the layout of ``gamma``.
    """
    inputs = as_tensor_variable(inputs)
    ndim = inputs.ndim
    axes, kept = _normalization_axes(axes, ndim)
    params = _Params(ndim, axes, kept, as_tensor_variable(gamma).ndim)
    params.check("gamma and beta", gamma, beta)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must either both be given or both be "
                         "None")
    if running_mean is not None:
        params.check("running_mean and running_var", running_mean, running_var)
    _check_epsilon(epsilon)
    dtype = inputs.dtype
    gamma, beta = params.expand(gamma), params.expand(beta)
    mean = reduce_mean(inputs, axis=axes, keepdims=True)
    var = reduce_var(inputs, axis=axes, keepdims=True)
    invstd = inv(sqrt(var + constant(epsilon, dtype=var.dtype)))
    out = (inputs - mean) * (gamma * invstd) + beta
    results = [out, params.reduce(mean), params.reduce(invstd)]
    if running_mean is not None:
        factor = constant(running_average_factor, dtype=dtype)
        keep = constant(1.0 - running_average_factor, dtype=dtype)
        m = None
        for axis in axes:
            m = shape_i(inputs, axis) if m is None else m * shape_i(inputs, axis)
        m = cast(m, dtype)
        for old, stat in ((running_mean, mean), (running_var, var * (m / (m - 1)))):
            old = as_tensor_variable(old)
            new = params.expand(old) * keep + stat * factor
            results.append(patternbroadcast(cast(params.reduce(new), old.dtype),
                                            old.broadcastable))
    return tuple(results)


def batch_normalization_test(inputs, gamma, beta, mean, var, axes="per-activation",
                             epsilon=1e-4):
    """Normalize ``inputs`` with a given ``mean`` and ``var`` (the running averages of
    training): (inputs - mean) * gamma / sqrt(var + epsilon) + beta."""
    inputs = as_tensor_variable(inputs)
    axes, kept = _normalization_axes(axes, inputs.ndim)
    params = _Params(inputs.ndim, axes, kept, as_tensor_variable(gamma).ndim)
    params.check("gamma and beta", gamma, beta)
    params.check("mean and var", mean, var)
    _check_epsilon(epsilon)
    gamma, beta, mean, var = (params.expand(p) for p in (gamma, beta, mean, var))
    return (inputs - mean) * gamma / sqrt(var + constant(epsilon, dtype=var.dtype)) + beta


__all__ = ["batch_normalization", "batch_normalization_train", "batch_normalization_test"]
