"""3-d convolution for neural networks: Theano's abstract ``T.nnet.conv3d`` and its gradients.

Volumes are NCDHW, ``(batch, channels, depth, rows, columns)``; filters are ``(output
channels, input channels / num_groups, depth, rows, columns)``. The geometry is conv2d's
(cgraph/tensor/conv.py) with a third spatial axis:

    out[b, o, i, j, k] = sum over c, t, u, v of
                         xpad[b, c, i*sd + t*dd, j*sh + u*dh, k*sw + v*dw] * w'[o, c, t, u, v]

``border_mode`` is 'valid', 'full', 'half', an int or a tuple of three ints (symmetric
padding: Theano has no asymmetric padding in 3-d), ``subsample`` the strides,
``filter_dilation`` the spacing of the taps, ``filter_flip`` a true convolution.

``Conv3d`` is the forward op; ``Conv3dGradInputs`` (the transposed convolution) and
``Conv3dGradWeights`` are its gradients, whose third input is either a tensor of the
result's shape or the vector of the result's three spatial sizes (as Theano's
AbstractConv3d_gradInputs / _gradWeights take it). The C code is vol2col + one BLAS gemm per
volume and group (templates/ops/conv3d*.c.j2); ``perform`` loops over the filter taps with
numpy.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..graph.basic import Apply, Op
from ..graph.labels import c_text, label_of
from .conv import as_nd, check_gradient_shapes, common_float, hint_str, shape_hint
from .math_ops import cast
from .shape_queries import is_python_int
from .type import TensorType, shape_str
from .var import TensorVariable, as_tensor_variable

ND = 3
_BORDER_MODE_HELP = ('which must be either "valid", "full", "half", a non-negative integer '
                     'or a tuple of three non-negative integers')


def normalize_border_mode_3d(border_mode):
    """'valid', 'full', 'half', or the explicit pads (pd, ph, pw) on both sides."""
    if isinstance(border_mode, str):
        if border_mode not in ("valid", "full", "half"):
            raise ValueError(f"invalid border_mode {border_mode!r}, {_BORDER_MODE_HELP}")
        return border_mode
    if is_python_int(border_mode):
        pads = (int(border_mode),) * ND
    elif isinstance(border_mode, (tuple, list)) and len(border_mode) == ND:
        if any(isinstance(p, (tuple, list)) for p in border_mode):
            raise NotImplementedError("Asymmetric padding not implemented for 3D")
        if not all(is_python_int(p) for p in border_mode):
            raise ValueError(f"invalid border_mode {border_mode!r}, {_BORDER_MODE_HELP}")
        pads = tuple(int(p) for p in border_mode)
    else:
        raise ValueError(f"invalid border_mode {border_mode!r}, {_BORDER_MODE_HELP}")
    if min(pads) < 0:
        raise ValueError(f"invalid border_mode {border_mode!r}: padding must not be negative")
    return "valid" if pads == (0,) * ND else pads


def _positive_triple(value, what):
    if not isinstance(value, (tuple, list)) or len(value) != ND \
            or not all(is_python_int(v) and v >= 1 for v in value):
        raise ValueError(f"{what} must be a tuple of three positive integers, got {value!r}")
    return tuple(int(v) for v in value)


class _Conv3dBase(Op):
    """The geometry shared by the 3-d forward op and its two gradients."""

    __props__ = ("border_mode", "subsample", "filter_dilation", "filter_flip", "num_groups",
                 "imshp", "kshp")

    def __init__(self, border_mode="valid", subsample=(1, 1, 1), filter_dilation=(1, 1, 1),
                 filter_flip=True, num_groups=1, imshp=None, kshp=None):
        self.border_mode = normalize_border_mode_3d(border_mode)
        self.subsample = _positive_triple(subsample, "subsample")
        self.filter_dilation = _positive_triple(filter_dilation, "filter_dilation")
        self.filter_flip = bool(filter_flip)
        if not is_python_int(num_groups) or num_groups < 1:
            raise ValueError(f"num_groups must be a positive integer, got {num_groups!r}")
        self.num_groups = int(num_groups)
        self.imshp = shape_hint(imshp, "input_shape", 5)
        self.kshp = shape_hint(kshp, "filter_shape", 5)
        if self.imshp and self.kshp and None not in (self.imshp[1], self.kshp[1]) \
                and self.imshp[1] != self.kshp[1] * self.num_groups:
            raise ValueError(f"conv3d: input_shape {hint_str(self.imshp)} has "
                             f"{self.imshp[1]} channels but filter_shape "
                             f"{hint_str(self.kshp)} expects {self.kshp[1]} x num_groups "
                             f"{self.num_groups}")

    def __str__(self):
        return (f"{type(self).__name__}{{{self.border_str()}, subsample={self.subsample}, "
                f"dilation={self.filter_dilation}, flip={self.filter_flip}"
                + (f", groups={self.num_groups}" if self.num_groups > 1 else "") + "}")

    def border_str(self):
        return repr(self.border_mode) if isinstance(self.border_mode, str) \
            else str(self.border_mode)

    def _args(self):
        return (self.border_mode, self.subsample, self.filter_dilation, self.filter_flip,
                self.num_groups)

    def pads(self, kernel):
        """The zero padding on each side of each spatial axis, for filters of ``kernel``."""
        extents = [(k - 1) * d + 1 for k, d in zip(kernel, self.filter_dilation)]
        if self.border_mode == "valid":
            return (0,) * ND
        if self.border_mode == "full":
            return tuple(e - 1 for e in extents)
        if self.border_mode == "half":
            return tuple(e // 2 for e in extents)
        return self.border_mode

    def check_shapes(self, xshape, wshape, x_label, w_label):
        """The output shape, or the ValueError the C code raises for these shapes."""
        b, c = xshape[:2]
        o, cg = wshape[:2]
        groups = self.num_groups
        if o % groups:
            raise ValueError(f"conv3d: filters {w_label} has shape {shape_str(wshape)}: its "
                             f"{o} output channels are not a multiple of num_groups={groups}")
        if c != cg * groups:
            raise ValueError(f"conv3d: input {x_label} has shape {shape_str(xshape)} and "
                             f"filters {w_label} has shape {shape_str(wshape)}: the input has "
                             f"{c} channels but the filters expect {cg}"
                             + (f" x num_groups {groups} = {cg * groups}" if groups > 1 else ""))
        if 0 in wshape[2:]:
            raise ValueError(f"conv3d: filters {w_label} has shape {shape_str(wshape)}: a "
                             f"filter needs at least one tap along each axis")
        pads = self.pads(wshape[2:])
        extents = [(k - 1) * d + 1 for k, d in zip(wshape[2:], self.filter_dilation)]
        padded = [n + 2 * p for n, p in zip(xshape[2:], pads)]
        if any(e > p for e, p in zip(extents, padded)):
            raise ValueError(f"conv3d: filters {w_label} of shape {shape_str(wshape)} "
                             f"({' x '.join(map(str, extents))} once dilated) do not fit in "
                             f"input {x_label} of shape {shape_str(xshape)} padded to "
                             f"{' x '.join(map(str, padded))} "
                             f"(border_mode={self.border_str()})")
        return (b, o) + tuple((p - e) // s + 1
                              for p, e, s in zip(padded, extents, self.subsample))

    def c_params(self, node):
        """The values templates/ops/conv3d*.c.j2 fill in: the geometry as the initialiser of
        the runtime's cg_conv3d_geom, the BLAS prefix and the shape hints."""
        explicit = not isinstance(self.border_mode, str)
        border = "explicit" if explicit else self.border_mode
        pads = list(self.border_mode) if explicit else [0] * ND
        border_str = c_text(self.border_str())   # printed with %s

        def triple(values):
            return "{" + ", ".join(map(str, values)) + "}"

        return {
            # subsample, dilation, num_groups, border, explicit pads, flip, border_str
            "geometry": f"{triple(self.subsample)}, {triple(self.filter_dilation)}, "
                        f"{self.num_groups}, CG_BORDER_{border.upper()}, {triple(pads)}, "
                        f"{int(self.filter_flip)}, \"{border_str}\"",
            "groups": self.num_groups,
            "blas_prefix": "s" if node.outputs[0].dtype == "float32" else "d",
            "imshp": list(self.imshp) if self.imshp else [None] * 5,
            "kshp": list(self.kshp) if self.kshp else [None] * 5,
            "imshp_str": hint_str(self.imshp) if self.imshp else "",
            "kshp_str": hint_str(self.kshp) if self.kshp else "",
        }

    # --- numpy reference: one tensordot per filter tap -----------------------------------

    def _taps(self, kernel, out_spatial):
        """For each filter tap, the slices of the padded volume that it meets."""
        for tap in itertools.product(*(range(k) for k in kernel)):
            yield tap, tuple(slice(t * d, t * d + s * (n - 1) + 1, s) for t, d, s, n in
                             zip(tap, self.filter_dilation, self.subsample, out_spatial))

    def _flipped(self, w):
        return w[:, :, ::-1, ::-1, ::-1] if self.filter_flip else w

    def _padded(self, x, kernel):
        pads = self.pads(kernel)
        return np.pad(x.astype("float64"), ((0, 0), (0, 0)) + tuple((p, p) for p in pads))


class Conv3d(_Conv3dBase):
    """``conv3d(input, filters)``; ``imshp``/``kshp`` are the user's shape hints (None where
    unknown), checked against the runtime shapes."""

    c_template = "ops/conv3d.c.j2"

    def make_node(self, x, w):
        x = as_nd(x, 5, "input", "conv3d")
        w = as_nd(w, 5, "filters", "conv3d")
        dtype = common_float(x, w)
        x, w = cast(x, dtype), cast(w, dtype)
        bcast = (x.broadcastable[0], w.broadcastable[0], False, False, False)
        return Apply(self, [x, w], [TensorVariable(TensorType(dtype, bcast))])

    def perform(self, node, inputs):
        x, w = inputs
        x_label, w_label = label_of(node.inputs[0]), label_of(node.inputs[1])
        for hint, value, kind, label, name in ((self.imshp, x, "image", x_label, "input_shape"),
                                               (self.kshp, w, "filters", w_label,
                                                "filter_shape")):
            if hint and any(h is not None and h != s for h, s in zip(hint, value.shape)):
                what = "input" if kind == "image" else "filters"
                raise ValueError(f"AbstractConv shape mismatch: shape of {kind} does not "
                                 f"match given shape: {what} {label} has shape "
                                 f"{shape_str(value.shape)} but {name} is {hint_str(hint)}")
        out_shape = self.check_shapes(x.shape, w.shape, x_label, w_label)
        xpad, wf = self._padded(x, w.shape[2:]), self._flipped(w).astype("float64")
        out = np.zeros(out_shape)
        groups, cg, og = self.num_groups, w.shape[1], out_shape[1] // self.num_groups
        for g in range(groups):
            xg, wg = xpad[:, g * cg:(g + 1) * cg], wf[g * og:(g + 1) * og]
            for tap, window in self._taps(w.shape[2:], out_shape[2:]):
                part = np.tensordot(xg[(slice(None), slice(None)) + window],
                                    wg[(slice(None), slice(None)) + tap], axes=([1], [1]))
                out[:, g * og:(g + 1) * og] += np.moveaxis(part, -1, 1)
        return [out.astype(node.outputs[0].dtype)]

    def L_op(self, inputs, outputs, output_grads):
        x, w = inputs
        (gy,) = output_grads
        if gy is None:
            return [None, None]
        return [Conv3dGradInputs(*self._args())(w, gy, x),
                Conv3dGradWeights(*self._args())(x, gy, w)]


class _Conv3dGradBase(_Conv3dBase):
    """(operand, output gradient, reference): the reference is a tensor of the result's
    shape or the vector of its three spatial sizes."""

    def make_node(self, operand, gy, ref):
        name = type(self).__name__
        operand = as_nd(operand, 5, "operand", name)
        gy = as_nd(gy, 5, "output gradient", name)
        ref = as_tensor_variable(ref)
        dtype = common_float(operand, gy)
        operand, gy = cast(operand, dtype), cast(gy, dtype)
        if ref.ndim == 1:
            if not ref.dtype.startswith(("int", "uint")):
                raise TypeError(f"{name}: the shape {ref!r} must hold integers, got {ref.type}")
            ref = cast(ref, "int64")
            if self.ref == "x":
                bcast = (gy.broadcastable[0], operand.broadcastable[1] and self.num_groups == 1)
            else:
                bcast = (gy.broadcastable[1], operand.broadcastable[1])
            bcast += (False,) * ND
        else:
            ref = as_nd(ref, 5, "reference", name)
            bcast = ref.broadcastable
        return Apply(self, [operand, gy, ref], [TensorVariable(TensorType(dtype, bcast))])

    @staticmethod
    def shape_form(node):
        return node.inputs[2].ndim == 1

    def ref_shape(self, node, operand, gy, ref):
        if not self.shape_form(node):
            return tuple(ref.shape)
        if ref.shape != (ND,):
            raise ValueError(f"{self.theano_name}: the shape {label_of(node.inputs[2])} must "
                             f"hold 3 sizes (depth, rows, columns), got {ref.shape[0]}")
        spatial = tuple(int(v) for v in ref)
        if min(spatial) < 0:
            raise ValueError(f"{self.theano_name}: the shape {label_of(node.inputs[2])} is "
                             f"{spatial}: sizes must not be negative")
        if self.ref == "x":
            return (gy.shape[0], operand.shape[1] * self.num_groups) + spatial
        return (gy.shape[1], operand.shape[1] // self.num_groups) + spatial

    def c_params(self, node):
        params = super().c_params(node)
        params["shape_form"] = self.shape_form(node)
        params["theano_name"] = self.theano_name
        return params


class Conv3dGradInputs(_Conv3dGradBase):
    """The gradient of conv3d with respect to its input: ``(filters, gy, input or its
    spatial shape)``."""

    c_template = "ops/conv3d_grad_inputs.c.j2"
    ref = "x"
    theano_name = "AbstractConv3d_gradInputs"

    def perform(self, node, inputs):
        w, gy, xref = inputs
        xshape = self.ref_shape(node, w, gy, xref)
        out_shape = check_gradient_shapes(self, node, xshape, w.shape, gy, "conv3d")
        kernel = w.shape[2:]
        pads = self.pads(kernel)
        gxpad = np.zeros(xshape[:2] + tuple(n + 2 * p for n, p in zip(xshape[2:], pads)))
        wf, gy64 = self._flipped(w).astype("float64"), gy.astype("float64")
        groups, cg, og = self.num_groups, w.shape[1], out_shape[1] // self.num_groups
        for g in range(groups):
            gyg, wg = gy64[:, g * og:(g + 1) * og], wf[g * og:(g + 1) * og]
            for tap, window in self._taps(kernel, out_shape[2:]):
                part = np.tensordot(gyg, wg[(slice(None), slice(None)) + tap], axes=([1], [0]))
                gxpad[(slice(None), slice(g * cg, (g + 1) * cg)) + window] += \
                    np.moveaxis(part, -1, 1)
        inside = tuple(slice(p, p + n) for p, n in zip(pads, xshape[2:]))
        return [gxpad[(slice(None), slice(None)) + inside].astype(node.outputs[0].dtype)]

    def L_op(self, inputs, outputs, output_grads):
        """gx = T(w, gy) is bilinear, with <T(w, gy), a> = <gy, conv(a, w)>."""
        w, gy, _ = inputs
        (ggx,) = output_grads
        if ggx is None:
            return [None, None, None]
        return [Conv3dGradWeights(*self._args())(ggx, gy, w), Conv3d(*self._args())(ggx, w),
                None]


class Conv3dGradWeights(_Conv3dGradBase):
    """The gradient of conv3d with respect to its filters: ``(input, gy, filters or their
    spatial shape)``."""

    c_template = "ops/conv3d_grad_weights.c.j2"
    ref = "w"
    theano_name = "AbstractConv3d_gradWeights"

    def perform(self, node, inputs):
        x, gy, wref = inputs
        wshape = self.ref_shape(node, x, gy, wref)
        out_shape = check_gradient_shapes(self, node, x.shape, wshape, gy, "conv3d")
        kernel = wshape[2:]
        xpad, gy64 = self._padded(x, kernel), gy.astype("float64")
        gw = np.zeros(wshape)
        groups, cg, og = self.num_groups, wshape[1], wshape[0] // self.num_groups
        for g in range(groups):
            xg, gyg = xpad[:, g * cg:(g + 1) * cg], gy64[:, g * og:(g + 1) * og]
            for tap, window in self._taps(kernel, out_shape[2:]):
                gw[(slice(g * og, (g + 1) * og), slice(None)) + tap] = np.tensordot(
                    gyg, xg[(slice(None), slice(None)) + window],
                    axes=([0, 2, 3, 4], [0, 2, 3, 4]))
        return [self._flipped(gw).astype(node.outputs[0].dtype)]

    def L_op(self, inputs, outputs, output_grads):
        """gw = U(x, gy) is bilinear, with <U(x, gy), a> = <gy, conv(x, a)>."""
        x, gy, _ = inputs
        (ggw,) = output_grads
        if ggw is None:
            return [None, None, None]
        return [Conv3dGradInputs(*self._args())(ggw, gy, x), Conv3d(*self._args())(x, ggw),
                None]


def conv3d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1, 1), filter_flip=True, filter_dilation=(1, 1, 1), num_groups=1):
    """The 3-d convolution of a batch of volumes by a bank of filters, as Theano's
    ``theano.tensor.nnet.conv3d``.

    ``input`` is (batch, channels, depth, rows, columns); ``filters`` is (output channels,
    channels / num_groups, depth, rows, columns). ``border_mode``: 'valid', 'full', 'half',
    an int or a tuple of three ints of zero padding on both sides. ``subsample`` is the
    stride, ``filter_dilation`` the spacing of the taps; ``filter_flip=False`` computes a
    cross-correlation. ``input_shape`` and ``filter_shape`` (None where unknown) are checked
    at run time. Returns (batch, output channels, depth, rows, columns).
    """
    op = Conv3d(border_mode, subsample, filter_dilation, filter_flip, num_groups,
                imshp=input_shape, kshp=filter_shape)
    return op(input, filters)
