"""Pooling over the last two or three axes, as Theano's ``theano.tensor.signal.pool``.

``Pool`` takes the max, the sum or the average of windows of ``ws`` sizes, moved by
``stride``, over an image padded with ``pad`` zeros on each side (padding needs
``ignore_border=True``). With ``ignore_border=False`` a last, partial window covers what
the full windows leave at the far borders. 'max' and 'sum' never see the padding;
'average_inc_pad' divides by the window's size including padding, 'average_exc_pad' by the
number of image values in it. ``ndim`` (2 or 3) is the number of pooled axes. A window
can hold no image value only when a pooled axis is empty and padded; its max is then the
dtype's lowest value (-inf), its sum 0, its average_exc_pad NaN (0 for integers).

As in Theano 1.0, the window sizes, strides and padding are inputs of the ops (int64
vectors of ``ndim`` entries), so they may be symbolic (Lasagne's spatial pyramid pooling
computes them from the input's shape); they are checked when the graph is built if they
are constants, when the function runs otherwise. Constant ones are written into the C code
as literals.

Gradients: ``MaxPoolGrad`` gives each window's output gradient to every position of the
window that equals its maximum (Theano's rule: ties all receive it), ``AveragePoolGrad``
spreads it evenly (divided as the forward divided). ``MaxPoolGradGrad`` is the gradient of
``MaxPoolGrad`` with respect to its output gradient, which makes second derivatives and
``Rop`` work through a max pool.

The C code (templates/ops/pool*.c.j2) loops over the windows, while ``perform`` works on
whole shifted slices of a padded copy with numpy.
"""
from __future__ import annotations

import itertools
import warnings

import numpy as np

from ...graph.basic import Apply, Constant, Op, Variable
from ...graph.labels import c_text, label_of
from ..basic import cast, maximum, switch
from ..shape_ops import zeros_like
from ..shape_queries import is_python_int
from ..type import TensorType, is_float, shape_str
from ..var import TensorVariable, as_tensor_variable, constant

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")
_GEOMETRY = ("ws", "stride", "pad")


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


def _symbolic_out_size(length, ws, stride, pad, ignore_border):
    """out_size for a symbolic ``length`` (ints for the rest)."""
    padded = length + 2 * pad
    if ignore_border:
        return maximum((padded - ws) // stride + 1, 0)
    if stride >= ws:
        count = (padded - 1) // stride + 1
    else:
        count = maximum((padded - 1 - ws + stride) // stride, 0) + 1
    return switch(padded > 0, count, 0)




def _static_values(var):
    """The values of a geometry input if it is a constant, else None."""
    if isinstance(var, Constant):
        return tuple(int(v) for v in np.asarray(var.data).reshape(-1))
    return None


def _check_geometry(ws, stride, pad, ignore_border, nd, error=NotImplementedError, where=""):
    """The rules Theano states for window sizes, strides and padding (values known)."""
    for what, values in (("ws", ws), ("stride", stride), ("pad", pad)):
        if len(values) != nd:
            raise ValueError(f"pool{where}: {what} must hold {nd} values, got "
                             f"{len(values)}")
    if min(ws) < 1 or min(stride) < 1 or min(pad) < 0:
        raise ValueError(f"pool{where}: ws {tuple(ws)} and stride {tuple(stride)} must be "
                         f"positive and pad {tuple(pad)} not negative")
    if any(pad) and not ignore_border:
        raise error("padding works only with ignore_border=True")
    if any(p >= w for p, w in zip(pad, ws)):
        raise error(f"padding must be smaller than the window: pad {tuple(pad)}, ws "
                    f"{tuple(ws)}")


def _geometry_variable(value, what, nd):
    """``value`` (a tuple of ints or of symbolic int scalars, or an int vector) as an
    int64 vector variable."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (tuple, list)):
        if len(value) != nd:
            raise ValueError(f"pool: {what} must hold {nd} values, got {tuple(value)}")
        for v in value:
            if isinstance(v, Variable):
                if v.ndim != 0 or not v.dtype.startswith(("int", "uint")):
                    raise TypeError(f"pool: {what} must be ints, got {value!r}")
            elif not is_python_int(v):
                raise TypeError(f"pool: {what} must be ints, got {value!r}")
    var = as_tensor_variable(value)
    if var.ndim != 1 or not var.dtype.startswith(("int", "uint")):
        raise TypeError(f"pool: {what} must be a vector of ints, got {var!r} ({var.type})")
    if var.dtype == "int64":
        return var
    if isinstance(var, Constant):       # stays a constant: checked now, a literal in C
        return constant(np.asarray(var.data, dtype="int64"))
    return cast(var, "int64")


class _PoolBase(Op):
    """What the pooling op and its gradients share: the geometry inputs (the last three)
    and the numpy reference's window arithmetic."""

    __props__ = ("ignore_border", "mode", "ndim")
    n_tensor_inputs = 1

    def __init__(self, ignore_border=False, mode="max", ndim=2, openmp=None):
        # openmp: Theano's switch, accepted and ignored (the pooling loops run on one thread)
        if mode == "max_deterministic":
            mode = "max"
        if mode not in MODES:
            raise ValueError(f"Pool mode parameter only support 'max', 'sum', "
                             f"'average_inc_pad' and 'average_exc_pad'. Got {mode}")
        if ndim not in (2, 3):
            raise ValueError(f"pool: ndim must be 2 or 3, got {ndim!r}")
        self.ignore_border = bool(ignore_border)
        self.mode = mode
        self.ndim = int(ndim)

    def __str__(self):
        return (f"{type(self).__name__}{{{self.mode}, ndim={self.ndim}, "
                f"ignore_border={self.ignore_border}}}")

    def _geometry_inputs(self, ws, stride, pad):
        nd = self.ndim
        if ws is None:
            raise ValueError("You must provide a tuple value for the window size.")
        if stride is None:
            stride = ws
        if pad is None:
            pad = (0,) * nd
        ws, stride, pad = (_geometry_variable(v, what, nd)
                           for v, what in zip((ws, stride, pad), _GEOMETRY))
        static = [_static_values(v) for v in (ws, stride, pad)]
        if None not in static:
            _check_geometry(*static, self.ignore_border, nd)
        return [ws, stride, pad]

    def _check_rank(self, *tensors):
        for t in tensors:
            if t.ndim < self.ndim:
                raise NotImplementedError(f"pool_{self.ndim}d requires a dimension >= "
                                          f"{self.ndim}, got {t!r} with {t.ndim}")

    def geometry(self, node, inputs):
        """(ws, stride, pad) of this call as tuples of ints, checked."""
        values = [tuple(int(v) for v in a) for a in inputs[-3:]]
        _check_geometry(*values, self.ignore_border, self.ndim, ValueError,
                        f" of {label_of(node.inputs[0])}")
        return values

    def pooled_shape(self, shape, ws, stride, pad):
        """The output shape of this op for an input of ``shape`` (ints)."""
        nd = self.ndim
        return tuple(shape[:-nd]) + tuple(
            out_size(shape[-nd + a], ws[a], stride[a], pad[a], self.ignore_border)
            for a in range(nd))

    def c_params(self, node):
        """The values templates/ops/pool*.c.j2 fill in: the geometry (C initialisers of
        cg_ws, cg_st and cg_pad: the literals where the graph fixed them, else zeros, and
        ``dynamic``, the bit mask of those cg_pooling_geometry reads at run time), the mode
        and the C strings of the tensor inputs' labels."""
        x = node.inputs[0]
        dtype = np.dtype(x.dtype)
        static = [_static_values(v) for v in node.inputs[-3:]]
        ws, st, pad = (", ".join(map(str, values or (0,) * self.ndim)) for values in static)
        tensors = node.inputs[:len(node.inputs) - 3]
        return {"nd": self.ndim, "ndim": x.ndim, "lead": x.ndim - self.ndim,
                "ignore_border": int(self.ignore_border),
                "mode": f"CG_POOL_{self.mode.upper()}",
                "lowest": {"f": "-INFINITY", "i": f"INT{dtype.itemsize * 8}_MIN"}.get(
                    dtype.kind, "0"),
                "float_prefix": {"float32": "s", "float64": "d"}.get(x.dtype),
                "ws": ws, "st": st, "pad": pad,
                "dynamic": sum(1 << k for k, values in enumerate(static) if values is None),
                # plain C strings (not printf formats): the runtime prints them with %s
                "labels": [c_text(label_of(v)) for v in tensors]}

    # --- numpy reference: the windows as shifted strided slices of a padded copy ----------

    def _padded(self, x, out_shape, fill, ws, stride, pad):
        """x inside a canvas of ``fill`` large enough for every window, and the slices of
        the canvas where x sits."""
        nd = self.ndim
        size = []
        for a in range(nd):
            n_out = out_shape[-nd + a]
            size.append(max(x.shape[-nd + a] + 2 * pad[a],
                            (n_out - 1) * stride[a] + ws[a] if n_out else 0))
        canvas = np.full(x.shape[:-nd] + tuple(size), fill, dtype=x.dtype)
        inside = (Ellipsis,) + tuple(slice(pad[a], pad[a] + x.shape[-nd + a])
                                     for a in range(nd))
        canvas[inside] = x
        return canvas, inside

    def _offsets(self, out_shape, ws, stride):
        """For each position inside a window, the slices of the canvas that it visits in
        every window."""
        nd = self.ndim
        n_out = out_shape[-nd:]
        for position in itertools.product(*(range(w) for w in ws)):
            yield (Ellipsis,) + tuple(slice(u, u + s * (n - 1) + 1, s)
                                      for u, s, n in zip(position, stride, n_out))

    def _counts(self, shape, out_shape, ws, stride, pad):
        """The divisor of each window for the average modes."""
        nd = self.ndim
        counts = np.ones((1,) * nd)
        for a in range(nd):
            length = shape[-nd + a]
            per_window = []
            for k in range(out_shape[-nd + a]):
                start = k * stride[a]
                end = min(start + ws[a], length + 2 * pad[a])
                if self.mode != "average_inc_pad":
                    start, end = max(start, pad[a]), min(end, length + pad[a])
                per_window.append(end - start)
            axis_shape = [1] * nd
            axis_shape[a] = len(per_window)
            counts = counts * np.array(per_window, dtype="float64").reshape(axis_shape)
        return counts

    def _geometry_grads(self):
        return [None, None, None]


def _lowest(dtype):
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind == "b":
        return False
    return np.iinfo(dtype).min


class Pool(_PoolBase):
    """Max, sum or average pooling of the last ``ndim`` axes: ``Pool(ignore_border, mode,
    ndim)(x, ws, stride=None, pad=None)``, as Theano's."""

    c_template = "ops/pool.c.j2"

    @staticmethod
    def out_shape(imgshape, ws=None, ignore_border=False, stride=None, pad=None, ndim=2):
        """The shape pooling gives for an input of ``imgshape`` (ints or symbolic scalars;
        ``ws``, ``stride`` and ``pad`` ints), as Theano's ``Pool.out_shape``."""
        if ws is None:
            raise ValueError("You must provide a tuple value for the window size.")
        if isinstance(imgshape, Variable):      # x.shape: its length is the rank of x
            imgshape = list(imgshape)
        if len(imgshape) < ndim:
            raise TypeError(f"imgshape must have at least {ndim} dimensions")
        stride = ws if stride is None else stride
        pad = (0,) * ndim if pad is None else pad
        lead = list(imgshape[:-ndim])
        for a in range(ndim):
            length = imgshape[-ndim + a]
            if isinstance(length, Variable):
                lead.append(_symbolic_out_size(length, ws[a], stride[a], pad[a],
                                               ignore_border))
            else:
                lead.append(out_size(int(length), ws[a], stride[a], pad[a], ignore_border))
        return lead

    def make_node(self, x, ws, stride=None, pad=None):
        x = as_tensor_variable(x)
        self._check_rank(x)
        if x.dtype == "bool" and self.mode != "max":
            raise TypeError(f"pool_{self.ndim}d: mode {self.mode!r} needs numbers, got "
                            f"{x!r} of dtype bool")
        geometry = self._geometry_inputs(ws, stride, pad)
        out = TensorVariable(TensorType(x.dtype, x.broadcastable[:-self.ndim]
                                        + (False,) * self.ndim))
        return Apply(self, [x] + geometry, [out])

    def perform(self, node, inputs):
        x = inputs[0]
        ws, stride, pad = self.geometry(node, inputs)
        out_shape = self.pooled_shape(x.shape, ws, stride, pad)
        if 0 in out_shape:
            return [np.empty(out_shape, dtype=x.dtype)]
        if self.mode == "max":
            canvas, _ = self._padded(x, out_shape, _lowest(x.dtype), ws, stride, pad)
            result = None
            for window in self._offsets(out_shape, ws, stride):
                part = canvas[window]
                result = part.copy() if result is None else np.maximum(result, part)
            return [result]
        acc = "float64" if is_float(x.dtype) else "int64"
        canvas, _ = self._padded(x.astype(acc), out_shape, 0, ws, stride, pad)
        total = np.zeros(out_shape, dtype=acc)
        for window in self._offsets(out_shape, ws, stride):
            total += canvas[window]
        if self.mode != "sum":
            counts = self._counts(x.shape, out_shape, ws, stride, pad)
            with np.errstate(invalid="ignore", divide="ignore"):
                total = total / counts
            if not is_float(x.dtype):    # an empty window's average: 0 (NaN for floats)
                total = np.where(counts == 0, 0, total)
        with np.errstate(invalid="ignore", over="ignore"):
            return [total.astype(x.dtype)]

    def L_op(self, inputs, outputs, output_grads):
        x, geometry = inputs[0], inputs[1:]
        (out,), (gz,) = outputs, output_grads
        if gz is None or not is_float(x.dtype):
            return [None] + self._geometry_grads()
        if self.mode == "max":
            grad = MaxPoolGrad(self.ignore_border, ndim=self.ndim)(x, out, gz, *geometry)
        else:
            grad = AveragePoolGrad(self.ignore_border, self.mode, self.ndim)(x, gz, *geometry)
        return [grad] + self._geometry_grads()


def _check_pooled(op, node, x, pooled, index, what, geometry):
    """``pooled`` (input ``index`` of the node: the forward output or its gradient) has the
    shape that pooling x gives."""
    expected = op.pooled_shape(x.shape, *geometry)
    if tuple(pooled.shape) != tuple(expected):
        raise ValueError(f"pool gradient: the {what} {label_of(node.inputs[index])} has shape "
                         f"{shape_str(pooled.shape)}, but pooling {label_of(node.inputs[0])} of "
                         f"shape {shape_str(x.shape)} gives {shape_str(expected)}")
    return expected


class MaxPoolGrad(_PoolBase):
    """(x, maxout, gz, ws, stride, pad) -> gx: each window's gradient goes to the positions
    of the window where x equals the window's maximum."""

    c_template = "ops/pool_max_grad.c.j2"

    def __init__(self, ignore_border=False, ndim=2, openmp=None):
        super().__init__(ignore_border, "max", ndim)

    def make_node(self, x, maxout, gz, ws, stride=None, pad=None):
        x, maxout, gz = (as_tensor_variable(v) for v in (x, maxout, gz))
        if not (x.ndim == maxout.ndim == gz.ndim) or x.dtype != maxout.dtype \
                or not is_float(x.dtype):
            raise TypeError(f"MaxPoolGrad: x {x.type}, maxout {maxout.type} and gz {gz.type} "
                            f"must have one rank, x and maxout one float dtype")
        self._check_rank(x)
        if gz.dtype != x.dtype:
            gz = cast(gz, x.dtype)
        return Apply(self, [x, maxout, gz] + self._geometry_inputs(ws, stride, pad),
                     [TensorVariable(x.type)])

    def perform(self, node, inputs):
        x, maxout, gz = inputs[:3]
        geometry = self.geometry(node, inputs)
        out_shape = _check_pooled(self, node, x, maxout, 1, "pooled output", geometry)
        _check_pooled(self, node, x, gz, 2, "output gradient", geometry)
        if 0 in out_shape:
            return [np.zeros(x.shape, dtype=x.dtype)]
        ws, stride, pad = geometry
        canvas, inside = self._padded(x, out_shape, _lowest(x.dtype), ws, stride, pad)
        gcanvas = np.zeros(canvas.shape, dtype="float64")
        for window in self._offsets(out_shape, ws, stride):
            gcanvas[window] += np.where(canvas[window] == maxout, gz, 0)
        return [gcanvas[inside].astype(x.dtype)]

    def L_op(self, inputs, outputs, output_grads):
        x, maxout, gz = inputs[:3]
        (ggx,) = output_grads
        if ggx is None:
            return [None] * 6
        grad_grad = MaxPoolGradGrad(self.ignore_border, ndim=self.ndim)
        return [zeros_like(x), zeros_like(maxout), grad_grad(x, maxout, ggx, *inputs[3:])] \
            + self._geometry_grads()


class MaxPoolGradGrad(_PoolBase):
    """(x, maxout, ggx, ws, stride, pad) -> the sum of ggx over the positions of each window
    where x equals the window's maximum: the gradient of MaxPoolGrad with respect to its
    gz (Theano's DownsampleFactorMaxGradGrad)."""

    c_template = "ops/pool_max_grad_grad.c.j2"

    def __init__(self, ignore_border=False, mode="max", ndim=2, openmp=None):
        if mode != "max":
            raise ValueError(f"MaxPoolGradGrad is for mode 'max', got {mode!r}")
        super().__init__(ignore_border, "max", ndim)

    def make_node(self, x, maxout, ggx, ws, stride=None, pad=None):
        x, maxout, ggx = (as_tensor_variable(v) for v in (x, maxout, ggx))
        if not (x.ndim == maxout.ndim == ggx.ndim) or not \
                (x.dtype == maxout.dtype == ggx.dtype):
            raise TypeError(f"MaxPoolGradGrad: x {x.type}, maxout {maxout.type} and ggx "
                            f"{ggx.type} must have one rank and one dtype")
        self._check_rank(x)
        return Apply(self, [x, maxout, ggx] + self._geometry_inputs(ws, stride, pad),
                     [TensorVariable(maxout.type)])

    def perform(self, node, inputs):
        x, maxout, ggx = inputs[:3]
        geometry = self.geometry(node, inputs)
        out_shape = _check_pooled(self, node, x, maxout, 1, "pooled output", geometry)
        if tuple(ggx.shape) != tuple(x.shape):
            raise ValueError(f"pool gradient: {label_of(node.inputs[2])} has shape "
                             f"{shape_str(ggx.shape)}, but {label_of(node.inputs[0])} has "
                             f"shape {shape_str(x.shape)}")
        if 0 in out_shape:
            return [np.zeros(out_shape, dtype=x.dtype)]
        ws, stride, pad = geometry
        canvas, _ = self._padded(x, out_shape, _lowest(x.dtype), ws, stride, pad)
        gcanvas, _ = self._padded(ggx.astype("float64"), out_shape, 0, ws, stride, pad)
        total = np.zeros(out_shape, dtype="float64")
        for window in self._offsets(out_shape, ws, stride):
            total += np.where(canvas[window] == maxout, gcanvas[window], 0)
        return [total.astype(x.dtype)]

    def L_op(self, inputs, outputs, output_grads):
        x, maxout, ggx = inputs[:3]
        (g,) = output_grads
        if g is None:
            return [None] * 6
        grad = MaxPoolGrad(self.ignore_border, ndim=self.ndim)
        return [zeros_like(x), zeros_like(maxout), grad(x, maxout, g, *inputs[3:])] \
            + self._geometry_grads()


DownsampleFactorMaxGradGrad = MaxPoolGradGrad


class AveragePoolGrad(_PoolBase):
    """(x, gz, ws, stride, pad) -> gx for the sum and average modes; x gives only the
    shape."""

    c_template = "ops/pool_average_grad.c.j2"

    def __init__(self, ignore_border=False, mode="average_inc_pad", ndim=2):
        super().__init__(ignore_border, mode, ndim)
        if self.mode == "max":
            raise ValueError("AveragePoolGrad is for the modes 'sum', 'average_inc_pad' and "
                             "'average_exc_pad'; use MaxPoolGrad for 'max'")

    def make_node(self, x, gz, ws, stride=None, pad=None):
        x, gz = as_tensor_variable(x), as_tensor_variable(gz)
        if x.ndim != gz.ndim:
            raise TypeError(f"AveragePoolGrad: x {x.type} and gz {gz.type} must have one "
                            f"rank")
        self._check_rank(x)
        if gz.dtype != x.dtype:
            gz = cast(gz, x.dtype)
        return Apply(self, [x, gz] + self._geometry_inputs(ws, stride, pad),
                     [TensorVariable(x.type)])

    def perform(self, node, inputs):
        x, gz = inputs[:2]
        geometry = self.geometry(node, inputs)
        out_shape = _check_pooled(self, node, x, gz, 1, "output gradient", geometry)
        if 0 in out_shape:
            return [np.zeros(x.shape, dtype=x.dtype)]
        ws, stride, pad = geometry
        value = gz.astype("float64")
        if self.mode != "sum":
            counts = self._counts(x.shape, out_shape, ws, stride, pad)
            value = value / np.maximum(counts, 1)   # an empty window spreads nothing
        canvas, inside = self._padded(np.zeros(x.shape, dtype="float64"), out_shape, 0,
                                      ws, stride, pad)
        for window in self._offsets(out_shape, ws, stride):
            canvas[window] += value
        return [canvas[inside].astype(x.dtype)]

    def L_op(self, inputs, outputs, output_grads):
        """Linear in gz, the adjoint of pooling: <gx(gz), a> = <gz, pool(a)>."""
        (ggx,) = output_grads
        if ggx is None:
            return [None] * 5
        pool = Pool(self.ignore_border, self.mode, self.ndim)
        return [None, pool(ggx, *inputs[2:])] + self._geometry_grads()


def _deprecated_alias(new_value, old_value, new, old, default=None):
    if old_value is None:
        return new_value
    if new_value is not None and new_value != default:
        raise ValueError(f"You can't provide a tuple value to both '{new}' and '{old}'. "
                         f"Please provide a value only to '{new}'.")
    warnings.warn(f"DEPRECATION: the '{old}' parameter is not going to exist anymore as it "
                  f"is going to be replaced by the parameter '{new}'.",
                  DeprecationWarning, stacklevel=4)
    return old_value


def _pool_nd(nd, input, ws, ignore_border, stride, pad, mode, ds, st, padding):
    ws = _deprecated_alias(ws, ds, "ws", "ds")
    if ws is None:
        raise ValueError("You must provide a tuple value for the window size.")
    stride = _deprecated_alias(stride, st, "stride", "st")
    pad = _deprecated_alias(pad, padding, "pad", "padding", default=(0,) * nd)
    input = as_tensor_variable(input)
    if input.ndim < nd:
        raise NotImplementedError(f"pool_{nd}d requires a dimension >= {nd}")
    if ignore_border is None:
        warnings.warn(
            f"pool_{nd}d() will have the parameter ignore_border default value changed to "
            f"True (currently False). To have consistent behavior with all Theano version, "
            f"explicitly add the parameter ignore_border=True.", stacklevel=3)
        ignore_border = False
    return Pool(ignore_border, mode, nd)(input, ws, stride, pad)


def pool_2d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0), mode="max",
            ds=None, st=None, padding=None):
    """Pool the last two axes of ``input`` (rank >= 2) with windows of ``ws`` (rows,
    columns), as Theano's ``pool_2d``.

    ``ws``, ``stride`` (default ``ws``) and ``pad`` (zeros added on both sides of each
    axis; needs ``ignore_border=True``; None means none) are tuples of ints or of symbolic
    int scalars, or int vectors. With ``ignore_border=False`` partial windows at the bottom
    and right borders count; ``ignore_border=None`` warns and means False, as in Theano
    1.0. ``mode``: 'max', 'sum', 'average_inc_pad' or 'average_exc_pad'. ``ds``, ``st`` and
    ``padding`` are the deprecated names of ``ws``, ``stride`` and ``pad``.
    """
    return _pool_nd(2, input, ws, ignore_border, stride, pad, mode, ds, st, padding)


def pool_3d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0, 0), mode="max",
            ds=None, st=None, padding=None):
    """Pool the last three axes of ``input`` (rank >= 3), as Theano's ``pool_3d``: the
    arguments are those of ``pool_2d`` with three values each."""
    return _pool_nd(3, input, ws, ignore_border, stride, pad, mode, ds, st, padding)


def max_pool_2d_same_size(input, patch_size):
    """Keep the maximum of each non-overlapping ``patch_size`` patch of the last two axes
    and set every other value to zero; the output has the input's shape (Theano's)."""
    pooled = Pool(True)(input, patch_size)
    return MaxPoolGrad(True)(input, pooled, pooled, patch_size)
