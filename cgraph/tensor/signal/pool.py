"""Pooling over the last two axes, as Theano's ``theano.tensor.signal.pool``.

``Pool`` takes the max, the sum or the average of windows of ``ws`` rows by columns, moved
by ``stride``, over an image padded with ``pad`` zeros on each side (padding needs
``ignore_border=True``). With ``ignore_border=False`` a last, partial window covers what
the full windows leave at the bottom and right borders. 'max' and 'sum' never see the
padding; 'average_inc_pad' divides by the window's size including padding,
'average_exc_pad' by the number of image values in it.

Gradients: ``MaxPoolGrad`` gives each window's output gradient to every position of the
window that equals its maximum (Theano's rule: ties all receive it), ``AveragePoolGrad``
spreads it evenly (divided as the forward divided). ``MaxPoolGradGrad`` is the gradient of
``MaxPoolGrad`` with respect to its output gradient, which makes second derivatives and
``Rop`` work through a max pool.

The window sizes, strides and padding are fixed when the graph is built (op attributes);
the C code (templates/ops/pool*.c.j2) loops over the windows, while ``perform`` works on
whole shifted slices of a padded copy with numpy.
"""
import numbers
import warnings

import numpy as np

from ...graph.basic import Apply, Constant, Op, Variable
from ..type import TensorType, is_float, shape_str
from ..var import TensorVariable, as_tensor_variable

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def _label(var):
    from ...codegen.lower import label_of
    return label_of(var)


def _static_pair(value, what):
    """A pair of Python ints from a tuple, a list, an array or a constant vector."""
    if isinstance(value, Variable):
        if not isinstance(value, Constant):
            raise NotImplementedError(f"pool_2d: {what} must be known when the graph is built "
                                      f"(a tuple of ints); got the symbolic {value!r}")
        value = value.data
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"pool_2d: {what} must be a tuple of two ints, got {value!r}")
    for v in value:
        if not isinstance(v, (numbers.Integral, np.integer)) or isinstance(v, (bool, np.bool_)):
            raise TypeError(f"pool_2d: {what} must be ints, got {value!r}")
    return (int(value[0]), int(value[1]))


def out_size(length, ws, stride, pad, ignore_border):
    """The number of windows along one axis of ``length`` values (Theano's Pool.out_shape)."""
    padded = length + 2 * pad
    if ignore_border:
        return max((padded - ws) // stride + 1, 0)
    if padded == 0:
        return 0
    if stride >= ws:
        return (padded - 1) // stride + 1
    return max(0, (padded - 1 - ws + stride) // stride) + 1


def window_starts(n_out, stride):
    return [r * stride for r in range(n_out)]


class _PoolBase(Op):
    """Attributes shared by the pooling op and its gradients."""

    __props__ = ("ws", "stride", "pad", "ignore_border", "mode")

    def __init__(self, ws, ignore_border=False, stride=None, pad=(0, 0), mode="max"):
        if mode == "max_deterministic":
            mode = "max"
        if mode not in MODES:
            raise ValueError(f"Pool mode parameter only support 'max', 'sum', "
                             f"'average_inc_pad' and 'average_exc_pad'. Got {mode}")
        self.ws = _static_pair(ws, "ws")
        self.stride = self.ws if stride is None else _static_pair(stride, "stride")
        self.pad = (0, 0) if pad is None else _static_pair(pad, "pad")
        self.ignore_border = bool(ignore_border)
        self.mode = mode
        if min(self.ws) < 1 or min(self.stride) < 1 or min(self.pad) < 0:
            raise ValueError(f"pool_2d: ws {self.ws} and stride {self.stride} must be positive "
                             f"and pad {self.pad} not negative")
        if self.pad != (0, 0) and not self.ignore_border:
            raise NotImplementedError("padding works only with ignore_border=True")
        if self.pad[0] >= self.ws[0] or self.pad[1] >= self.ws[1]:
            raise NotImplementedError(f"padding must be smaller than the window: pad "
                                      f"{self.pad}, ws {self.ws}")

    def __str__(self):
        return (f"{type(self).__name__}{{{self.mode}, ws={self.ws}, stride={self.stride}, "
                f"pad={self.pad}, ignore_border={self.ignore_border}}}")

    def out_shape(self, shape):
        return tuple(shape[:-2]) + tuple(
            out_size(shape[-2 + a], self.ws[a], self.stride[a], self.pad[a], self.ignore_border)
            for a in range(2))

    def c_params(self, node):
        return {"ws": self.ws, "stride": self.stride, "pad": self.pad,
                "ignore_border": self.ignore_border, "mode": self.mode,
                "acc_ctype": "double" if is_float(node.inputs[0].dtype) else "int64_t"}

    # --- numpy reference: the windows as shifted strided slices of a padded copy ----------

    def _padded(self, x, out_shape, fill):
        """x inside a canvas of ``fill`` large enough for every window, and the slices of
        the canvas where x sits."""
        (ph, pw), (sh, sw), (wh, ww) = self.pad, self.stride, self.ws
        oh, ow = out_shape[-2:]
        rows = max(x.shape[-2] + 2 * ph, (oh - 1) * sh + wh if oh else 0)
        cols = max(x.shape[-1] + 2 * pw, (ow - 1) * sw + ww if ow else 0)
        canvas = np.full(x.shape[:-2] + (rows, cols), fill, dtype=x.dtype)
        inside = (Ellipsis, slice(ph, ph + x.shape[-2]), slice(pw, pw + x.shape[-1]))
        canvas[inside] = x
        return canvas, inside

    def _offsets(self, out_shape):
        """For each position (u, v) inside a window, the slices of the canvas that it
        visits in every window."""
        (sh, sw), (wh, ww) = self.stride, self.ws
        oh, ow = out_shape[-2:]
        for u in range(wh):
            for v in range(ww):
                yield (Ellipsis, slice(u, u + sh * (oh - 1) + 1, sh),
                       slice(v, v + sw * (ow - 1) + 1, sw))

    def _counts(self, shape, out_shape):
        """The divisor of each window for the average modes."""
        counts = []
        for a in range(2):
            length, pad = shape[-2 + a], self.pad[a]
            ws, stride = self.ws[a], self.stride[a]
            per_window = []
            for start in window_starts(out_shape[-2 + a], stride):
                end = min(start + ws, length + 2 * pad)
                if self.mode != "average_inc_pad":
                    start, end = max(start, pad), min(end, length + pad)
                per_window.append(end - start)
            counts.append(np.array(per_window, dtype="float64"))
        return counts[0][:, None] * counts[1][None, :]


def _lowest(dtype):
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind == "b":
        return False
    return np.iinfo(dtype).min


class Pool(_PoolBase):
    """Max, sum or average pooling of the last two axes of a tensor of rank >= 2."""

    c_template = "ops/pool.c.j2"

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.ndim < 2:
            raise NotImplementedError(f"pool_2d requires a dimension >= 2, got {x!r} with "
                                      f"{x.ndim}")
        if x.dtype == "bool" and self.mode != "max":
            raise TypeError(f"pool_2d: mode {self.mode!r} needs numbers, got {x!r} of dtype "
                            f"bool")
        out = TensorVariable(TensorType(x.dtype, x.broadcastable[:-2] + (False, False)))
        return Apply(self, [x], [out])

    def perform(self, node, inputs):
        (x,) = inputs
        out_shape = self.out_shape(x.shape)
        if 0 in out_shape:
            return [np.empty(out_shape, dtype=x.dtype)]
        if self.mode == "max":
            canvas, _ = self._padded(x, out_shape, _lowest(x.dtype))
            result = None
            for window in self._offsets(out_shape):
                part = canvas[window]
                result = part.copy() if result is None else np.maximum(result, part)
            return [result]
        acc = "float64" if is_float(x.dtype) else "int64"
        canvas, _ = self._padded(x.astype(acc), out_shape, 0)
        total = np.zeros(out_shape, dtype=acc)
        for window in self._offsets(out_shape):
            total += canvas[window]
        if self.mode != "sum":
            total = total / self._counts(x.shape, out_shape)
        with np.errstate(invalid="ignore", over="ignore"):
            return [total.astype(x.dtype)]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (out,), (gz,) = inputs, outputs, output_grads
        if gz is None or not is_float(x.dtype):
            return [None]
        if self.mode == "max":
            return [MaxPoolGrad(self.ws, self.ignore_border, self.stride, self.pad)(x, out, gz)]
        return [AveragePoolGrad(self.ws, self.ignore_border, self.stride, self.pad,
                                self.mode)(x, gz)]


def _check_pooled(op, node, x, pooled, index, what):
    """``pooled`` (input ``index`` of the node: the forward output or its gradient) has the
    shape that pooling x gives."""
    expected = op.out_shape(x.shape)
    if tuple(pooled.shape) != tuple(expected):
        raise ValueError(f"pool gradient: the {what} {_label(node.inputs[index])} has shape "
                         f"{shape_str(pooled.shape)}, but pooling {_label(node.inputs[0])} of "
                         f"shape {shape_str(x.shape)} gives {shape_str(expected)}")
    return expected


class MaxPoolGrad(_PoolBase):
    """(x, maxout, gz) -> gx: each window's gradient goes to the positions of the window
    where x equals the window's maximum."""

    c_template = "ops/pool_max_grad.c.j2"

    def __init__(self, ws, ignore_border=False, stride=None, pad=(0, 0)):
        super().__init__(ws, ignore_border, stride, pad, "max")

    def make_node(self, x, maxout, gz):
        x, maxout, gz = (as_tensor_variable(v) for v in (x, maxout, gz))
        if not (x.ndim == maxout.ndim == gz.ndim >= 2) or x.dtype != maxout.dtype \
                or not is_float(x.dtype):
            raise TypeError(f"MaxPoolGrad: x {x.type}, maxout {maxout.type} and gz {gz.type} "
                            f"must have one rank >= 2, x and maxout one float dtype")
        if gz.dtype != x.dtype:
            from ..basic import cast
            gz = cast(gz, x.dtype)
        return Apply(self, [x, maxout, gz], [TensorVariable(x.type)])

    def perform(self, node, inputs):
        x, maxout, gz = inputs
        out_shape = _check_pooled(self, node, x, maxout, 1, "pooled output")
        _check_pooled(self, node, x, gz, 2, "output gradient")
        if 0 in out_shape:
            return [np.zeros(x.shape, dtype=x.dtype)]
        canvas, inside = self._padded(x, out_shape, _lowest(x.dtype))
        gcanvas = np.zeros(canvas.shape, dtype="float64")
        for window in self._offsets(out_shape):
            gcanvas[window] += np.where(canvas[window] == maxout, gz, 0)
        return [gcanvas[inside].astype(x.dtype)]

    def L_op(self, inputs, outputs, output_grads):
        x, maxout, gz = inputs
        (ggx,) = output_grads
        if ggx is None:
            return [None, None, None]
        from ..shape_ops import zeros_like
        grad_grad = MaxPoolGradGrad(self.ws, self.ignore_border, self.stride, self.pad)
        return [zeros_like(x), zeros_like(maxout), grad_grad(x, maxout, ggx)]


class MaxPoolGradGrad(_PoolBase):
    """(x, maxout, ggx) -> the sum of ggx over the positions of each window where x equals
    the window's maximum: the gradient of MaxPoolGrad with respect to its gz."""

    c_template = "ops/pool_max_grad_grad.c.j2"

    def __init__(self, ws, ignore_border=False, stride=None, pad=(0, 0)):
        super().__init__(ws, ignore_border, stride, pad, "max")

    def make_node(self, x, maxout, ggx):
        x, maxout, ggx = (as_tensor_variable(v) for v in (x, maxout, ggx))
        if not (x.ndim == maxout.ndim == ggx.ndim >= 2) or not \
                (x.dtype == maxout.dtype == ggx.dtype):
            raise TypeError(f"MaxPoolGradGrad: x {x.type}, maxout {maxout.type} and ggx "
                            f"{ggx.type} must have one rank >= 2 and one dtype")
        return Apply(self, [x, maxout, ggx], [TensorVariable(maxout.type)])

    def perform(self, node, inputs):
        x, maxout, ggx = inputs
        out_shape = _check_pooled(self, node, x, maxout, 1, "pooled output")
        if tuple(ggx.shape) != tuple(x.shape):
            raise ValueError(f"pool gradient: {_label(node.inputs[2])} has shape "
                             f"{shape_str(ggx.shape)}, but {_label(node.inputs[0])} has "
                             f"shape {shape_str(x.shape)}")
        if 0 in out_shape:
            return [np.zeros(out_shape, dtype=x.dtype)]
        canvas, _ = self._padded(x, out_shape, _lowest(x.dtype))
        gcanvas, _ = self._padded(ggx.astype("float64"), out_shape, 0)
        total = np.zeros(out_shape, dtype="float64")
        for window in self._offsets(out_shape):
            total += np.where(canvas[window] == maxout, gcanvas[window], 0)
        return [total.astype(x.dtype)]

    def L_op(self, inputs, outputs, output_grads):
        x, maxout, ggx = inputs
        (g,) = output_grads
        if g is None:
            return [None, None, None]
        from ..shape_ops import zeros_like
        grad = MaxPoolGrad(self.ws, self.ignore_border, self.stride, self.pad)
        return [zeros_like(x), zeros_like(maxout), grad(x, maxout, g)]


class AveragePoolGrad(_PoolBase):
    """(x, gz) -> gx for the sum and average modes; x gives only the shape."""

    c_template = "ops/pool_average_grad.c.j2"

    def make_node(self, x, gz):
        x, gz = as_tensor_variable(x), as_tensor_variable(gz)
        if self.mode == "max":
            raise ValueError("AveragePoolGrad is for the modes 'sum', 'average_inc_pad' and "
                             "'average_exc_pad'; use MaxPoolGrad for 'max'")
        if not (x.ndim == gz.ndim >= 2):
            raise TypeError(f"AveragePoolGrad: x {x.type} and gz {gz.type} must have one "
                            f"rank >= 2")
        if gz.dtype != x.dtype:
            from ..basic import cast
            gz = cast(gz, x.dtype)
        return Apply(self, [x, gz], [TensorVariable(x.type)])

    def perform(self, node, inputs):
        x, gz = inputs
        out_shape = _check_pooled(self, node, x, gz, 1, "output gradient")
        if 0 in out_shape:
            return [np.zeros(x.shape, dtype=x.dtype)]
        value = gz.astype("float64")
        if self.mode != "sum":
            value = value / self._counts(x.shape, out_shape)
        canvas, inside = self._padded(np.zeros(x.shape, dtype="float64"), out_shape, 0)
        for window in self._offsets(out_shape):
            canvas[window] += value
        return [canvas[inside].astype(x.dtype)]

    def L_op(self, inputs, outputs, output_grads):
        """Linear in gz, the adjoint of pooling: <gx(gz), a> = <gz, pool(a)>."""
        x, gz = inputs
        (ggx,) = output_grads
        if ggx is None:
            return [None, None]
        pool = Pool(self.ws, self.ignore_border, self.stride, self.pad, self.mode)
        return [None, pool(ggx)]


def _deprecated_alias(new_value, old_value, new, old, default=None):
    if old_value is None:
        return new_value
    if new_value is not None and new_value != default:
        raise ValueError(f"You can't provide a tuple value to both '{new}' and '{old}'. "
                         f"Please provide a value only to '{new}'.")
    warnings.warn(f"DEPRECATION: the '{old}' parameter is not going to exist anymore as it "
                  f"is going to be replaced by the parameter '{new}'.",
                  DeprecationWarning, stacklevel=3)
    return old_value


def pool_2d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0), mode="max",
            ds=None, st=None, padding=None):
    """Pool the last two axes of ``input`` (rank >= 2) with windows of ``ws`` (rows,
    columns), as Theano's ``pool_2d``.

    ``stride`` (default ``ws``) moves the windows; ``pad`` adds zeros on both sides of each
    axis (needs ``ignore_border=True``). With ``ignore_border=False`` partial windows at the
    bottom and right borders count; ``ignore_border=None`` warns and means False, as in
    Theano 1.0. ``mode``: 'max', 'sum', 'average_inc_pad' or 'average_exc_pad'. ``ds``,
    ``st`` and ``padding`` are the deprecated names of ``ws``, ``stride`` and ``pad``.
    """
    ws = _deprecated_alias(ws, ds, "ws", "ds")
    if ws is None:
        raise ValueError("You must provide a tuple value for the window size.")
    stride = _deprecated_alias(stride, st, "stride", "st")
    pad = _deprecated_alias(pad, padding, "pad", "padding", default=(0, 0))
    input = as_tensor_variable(input)
    if input.ndim < 2:
        raise NotImplementedError("pool_2d requires a dimension >= 2")
    if ignore_border is None:
        warnings.warn(
            "pool_2d() will have the parameter ignore_border default value changed to True "
            "(currently False). To have consistent behavior with all Theano version, "
            "explicitly add the parameter ignore_border=True.", stacklevel=2)
        ignore_border = False
    return Pool(ws, ignore_border, stride, pad, mode)(input)
