"""2-d convolution for neural networks: Theano's abstract ``T.nnet.conv2d`` and its gradients.

Images are NCHW, ``(batch, channels, rows, columns)``; filters are ``(output channels,
input channels / num_groups, rows, columns)``. Every op here computes one cross-correlation
geometry, shared through ``_ConvBase``:

    out[b, o, i, j] = sum over c, u, v of xpad[b, c, i*sh + u*dh, j*sw + v*dw] * w'[o, c, u, v]

where ``xpad`` is the image padded with zeros (``border_mode``), (sh, sw) the ``subsample``
strides, (dh, dw) the ``filter_dilation`` and ``w'`` the filters, flipped on both spatial
axes when ``filter_flip`` is True (a true convolution, Theano's default). With
``num_groups`` > 1, c runs over the channels of the group of o. ``unshared=True`` gives each
output position its own filters, of shape ``(output channels, output rows, output columns,
input channels / num_groups, rows, columns)``: ``w'[o, i, j, c, u, v]``.

``Conv2d`` is the forward op; its gradients are ``Conv2dGradInputs`` (a transposed
convolution: the filters spread each output gradient back over the window it came from) and
``Conv2dGradWeights`` (the correlation of the image with the output gradient). Their third
input gives the shape of their result: a tensor of that shape, or the vector of its two
spatial sizes (Theano's AbstractConv2d_gradInputs / _gradWeights, cgraph/tensor/
abstract_conv.py, take the latter; the other sizes follow from the operands). The C code
of all three is im2col + one BLAS gemm per image and group (templates/ops/conv2d*.c.j2;
unshared filters use plain loops over the im2col matrix instead); ``perform`` loops over the
filter taps with numpy, so the two implementations stay independent.
"""
import warnings

import numpy as np

from ..graph.basic import Apply, Op
from ..graph.labels import label_of
from .basic import cast
from .scalar_ops import upcast, upcast_float
from .shape_queries import is_python_int
from .type import TensorType, is_float, shape_str
from .var import TensorVariable, as_tensor_variable

_BORDER_MODE_HELP = ('which must be either "valid", "full", "half", an integer or a tuple of '
                     'two integers or of two pairs of integers')




def normalize_border_mode(border_mode):
    """'valid', 'full', 'half', or explicit pads ((top, bottom), (left, right))."""
    if isinstance(border_mode, str):
        if border_mode not in ("valid", "full", "half"):
            raise ValueError(f"invalid border_mode {border_mode!r}, {_BORDER_MODE_HELP}")
        return border_mode
    if is_python_int(border_mode):
        pads = ((int(border_mode),) * 2,) * 2
    elif isinstance(border_mode, (tuple, list)) and len(border_mode) == 2:
        pads = []
        for p in border_mode:
            if is_python_int(p):
                pads.append((int(p), int(p)))
            elif isinstance(p, (tuple, list)) and len(p) == 2 and all(is_python_int(q) for q in p):
                pads.append((int(p[0]), int(p[1])))
            else:
                raise ValueError(f"invalid border_mode {border_mode!r}, {_BORDER_MODE_HELP}")
        pads = tuple(pads)
    else:
        raise ValueError(f"invalid border_mode {border_mode!r}, {_BORDER_MODE_HELP}")
    if any(q < 0 for p in pads for q in p):
        raise ValueError(f"invalid border_mode {border_mode!r}: padding must not be negative")
    return "valid" if pads == ((0, 0), (0, 0)) else pads


def _positive_pair(value, what):
    if not isinstance(value, (tuple, list)) or len(value) != 2 \
            or not all(is_python_int(v) and v >= 1 for v in value):
        raise ValueError(f"{what} must be a tuple of two positive integers, got {value!r}")
    return (int(value[0]), int(value[1]))


def shape_hint(hint, what: str, ndim: int):
    """A user's shape hint (image_shape, filter_shape...) as a tuple of ``ndim`` ints or
    None entries (None if no hint); a ValueError naming ``what`` otherwise."""
    if hint is None:
        return None
    if not isinstance(hint, (tuple, list)) or len(hint) != ndim or \
            not all(h is None or (is_python_int(h) and h >= 0) for h in hint):
        raise ValueError(f"{what} must be a tuple of {ndim} non-negative integers or None, "
                         f"got {hint!r}")
    return tuple(None if h is None else int(h) for h in hint)


def hint_str(hint) -> str:
    """A shape hint as text for messages: (None, 3, 28, 28)."""
    return "(" + ", ".join("None" if h is None else str(h) for h in hint) + ")"


class _ConvBase(Op):
    """The geometry shared by the forward op and its two gradients."""

    __props__ = ("border_mode", "subsample", "filter_dilation", "filter_flip", "num_groups",
                 "unshared")

    def __init__(self, border_mode="valid", subsample=(1, 1), filter_dilation=(1, 1),
                 filter_flip=True, num_groups=1, unshared=False):
        self.border_mode = normalize_border_mode(border_mode)
        self.subsample = _positive_pair(subsample, "subsample")
        self.filter_dilation = _positive_pair(filter_dilation, "filter_dilation")
        self.filter_flip = bool(filter_flip)
        if not is_python_int(num_groups) or num_groups < 1:
            raise ValueError(f"num_groups must be a positive integer, got {num_groups!r}")
        self.num_groups = int(num_groups)
        self.unshared = bool(unshared)

    # filters: (out channels, [out rows, out columns,] channels per group, rows, columns)
    filter_ndim = property(lambda self: 6 if self.unshared else 4)

    def __str__(self):
        return (f"{type(self).__name__}{{{self.border_str()}, subsample={self.subsample}, "
                f"dilation={self.filter_dilation}, flip={self.filter_flip}"
                + (f", groups={self.num_groups}" if self.num_groups > 1 else "")
                + (", unshared" if self.unshared else "") + "}")

    def _args(self):
        return (self.border_mode, self.subsample, self.filter_dilation, self.filter_flip,
                self.num_groups, self.unshared)

    def geometry(self):
        """The op computing the plain forward convolution of this geometry."""
        return Conv2d(*self._args())

    def _grad_ops(self):
        return Conv2dGradInputs(*self._args()), Conv2dGradWeights(*self._args())

    def pads(self, kh, kw):
        """(top, bottom, left, right) zero padding for filters of kh x kw."""
        dh, dw = self.filter_dilation
        ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
        if self.border_mode == "valid":
            return 0, 0, 0, 0
        if self.border_mode == "full":
            return ekh - 1, ekh - 1, ekw - 1, ekw - 1
        if self.border_mode == "half":
            return ekh // 2, ekh // 2, ekw // 2, ekw // 2
        (pt, pb), (pl, pr) = self.border_mode
        return pt, pb, pl, pr

    def border_str(self):
        return repr(self.border_mode) if isinstance(self.border_mode, str) \
            else str(self.border_mode)

    def check_shapes(self, xshape, wshape, x_label, w_label):
        """The output shape, or the ValueError the C code raises for these shapes."""
        b, c, h, w = xshape
        o, cg, kh, kw = wshape[0], wshape[-3], wshape[-2], wshape[-1]
        groups = self.num_groups
        if o % groups:
            raise ValueError(f"conv2d: filters {w_label} has shape {shape_str(wshape)}: its "
                             f"{o} output channels are not a multiple of num_groups={groups}")
        if c != cg * groups:
            raise ValueError(f"conv2d: input {x_label} has shape {shape_str(xshape)} and "
                             f"filters {w_label} has shape {shape_str(wshape)}: the input has "
                             f"{c} channels but the filters expect {cg}"
                             + (f" x num_groups {groups} = {cg * groups}" if groups > 1 else ""))
        if kh == 0 or kw == 0:
            raise ValueError(f"conv2d: filters {w_label} has shape {shape_str(wshape)}: a "
                             f"filter needs at least one row and one column")
        pt, pb, pl, pr = self.pads(kh, kw)
        (sh, sw), (dh, dw) = self.subsample, self.filter_dilation
        ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
        ph, pw = h + pt + pb, w + pl + pr
        if ekh > ph or ekw > pw:
            raise ValueError(f"conv2d: filters {w_label} of shape {shape_str(wshape)} "
                             f"({ekh} x {ekw} once dilated) do not fit in input {x_label} of "
                             f"shape {shape_str(xshape)} padded to {ph} x {pw} "
                             f"(border_mode={self.border_str()})")
        oh, ow = (ph - ekh) // sh + 1, (pw - ekw) // sw + 1
        if self.unshared and tuple(wshape[1:3]) != (oh, ow):
            raise ValueError(f"conv2d: unshared filters {w_label} has shape "
                             f"{shape_str(wshape)}: it needs one filter per output position, "
                             f"but the output has {oh} x {ow} positions")
        return (b, o, oh, ow)

    def c_params(self, node):
        explicit = not isinstance(self.border_mode, str)
        return {
            "border": "explicit" if explicit else self.border_mode,
            "border_str": self.border_str(),
            "explicit_pads": [q for p in self.border_mode for q in p] if explicit else [0] * 4,
            "subsample": self.subsample, "dilation": self.filter_dilation,
            "flip": self.filter_flip, "groups": self.num_groups, "unshared": self.unshared,
            "blas_prefix": "s" if node.outputs[0].dtype == "float32" else "d",
        }

    # --- numpy reference: one tensordot per filter tap (u, v) ---------------------------

    def _taps(self, kh, kw, oh, ow):
        """For each filter tap, the (row, column) slices of the padded image it meets."""
        (sh, sw), (dh, dw) = self.subsample, self.filter_dilation
        for u in range(kh):
            for v in range(kw):
                rows = slice(u * dh, u * dh + sh * (oh - 1) + 1, sh)
                cols = slice(v * dw, v * dw + sw * (ow - 1) + 1, sw)
                yield u, v, rows, cols

    def _flipped(self, w):
        return w[..., ::-1, ::-1] if self.filter_flip else w

    def _tap_product(self, a, w, u, v, spec):
        """Contract ``a`` with the filters' tap (u, v) (w already flipped and of one group):
        ``spec`` names the axes, the filters being 'oc' (shared) or 'oijc' (unshared)."""
        if self.unshared:
            return np.einsum(spec.replace("oc", "oijc"), a, w[..., u, v], optimize=True)
        # shared filters: one tensordot over the channel axis of ``a`` (axis 1), whose
        # letter says which axis of the filters it meets; the result comes out (b, i, j, .)
        summed = spec[1]
        part = np.tensordot(a, w[:, :, u, v], axes=([1], ["oc".index(summed)]))
        return part.transpose(0, 3, 1, 2)


def common_float(*variables) -> str:
    """The float dtype the convolution of ``variables`` computes in (their upcast, made a
    float)."""
    dtype = upcast(*[v.dtype for v in variables])
    return dtype if is_float(dtype) else upcast_float(dtype)


def as_nd(x, ndim: int, what: str, op_name: str):
    """``x`` as a tensor variable of ``ndim`` dimensions, or a TypeError naming it."""
    x = as_tensor_variable(x)
    if x.ndim != ndim:
        raise TypeError(f"{op_name}: {what} {x!r} must be a {ndim}-d tensor, got {x.ndim} "
                        f"dimensions ({x.type})")
    return x


def _cast(x, dtype):
    return x if x.dtype == dtype else cast(x, dtype)


class Conv2d(_ConvBase):
    """``conv2d(input, filters)``; ``imshp``/``kshp`` are the user's shape hints (None where
    unknown), checked against the runtime shapes."""

    __props__ = _ConvBase.__props__ + ("imshp", "kshp")
    c_template = "ops/conv2d.c.j2"

    def __init__(self, border_mode="valid", subsample=(1, 1), filter_dilation=(1, 1),
                 filter_flip=True, num_groups=1, unshared=False, imshp=None, kshp=None):
        super().__init__(border_mode, subsample, filter_dilation, filter_flip, num_groups,
                         unshared)
        self.imshp = shape_hint(imshp, "input_shape", 4)
        self.kshp = shape_hint(kshp, "filter_shape", self.filter_ndim)
        if self.imshp and self.kshp and None not in (self.imshp[1], self.kshp[-3]) \
                and self.imshp[1] != self.kshp[-3] * self.num_groups:
            raise ValueError(f"conv2d: input_shape {hint_str(self.imshp)} has "
                             f"{self.imshp[1]} channels but filter_shape "
                             f"{hint_str(self.kshp)} expects {self.kshp[-3]} x num_groups "
                             f"{self.num_groups}")

    def make_node(self, x, w):
        x = as_nd(x, 4, "input", "conv2d")
        w = as_nd(w, self.filter_ndim, "filters", "conv2d")
        dtype = common_float(x, w)
        x, w = _cast(x, dtype), _cast(w, dtype)
        bcast = (x.broadcastable[0], w.broadcastable[0], False, False)
        return Apply(self, [x, w], [TensorVariable(TensorType(dtype, bcast))])

    def perform(self, node, inputs):
        x, w = inputs
        x_label, w_label = label_of(node.inputs[0]), label_of(node.inputs[1])
        for hint, value, kind, label in ((self.imshp, x, "image", x_label),
                                         (self.kshp, w, "filters", w_label)):
            if hint and any(h is not None and h != s for h, s in zip(hint, value.shape)):
                what = "input" if kind == "image" else "filters"
                raise ValueError(f"AbstractConv shape mismatch: shape of {kind} does not "
                                 f"match given shape: {what} {label} has shape "
                                 f"{shape_str(value.shape)} but "
                                 f"{'input_shape' if kind == 'image' else 'filter_shape'} is "
                                 f"{hint_str(hint)}")
        out_shape = self.check_shapes(x.shape, w.shape, x_label, w_label)
        return [self.correlate(x, w, out_shape).astype(node.outputs[0].dtype)]

    def correlate(self, x, w, out_shape):
        b, o, oh, ow = out_shape
        kh, kw = w.shape[-2:]
        pt, pb, pl, pr = self.pads(kh, kw)
        xpad = np.pad(x.astype("float64"), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        wf = self._flipped(w).astype("float64")
        out = np.zeros(out_shape, dtype="float64")
        groups, cg, og = self.num_groups, w.shape[-3], o // self.num_groups
        for g in range(groups):
            xg, wg = xpad[:, g * cg:(g + 1) * cg], wf[g * og:(g + 1) * og]
            for u, v, rows, cols in self._taps(kh, kw, oh, ow):
                out[:, g * og:(g + 1) * og] += self._tap_product(
                    xg[:, :, rows, cols], wg, u, v, "bcij,oc->boij")
        return out

    def L_op(self, inputs, outputs, output_grads):
        x, w = inputs
        (gy,) = output_grads
        if gy is None:
            return [None, None]
        grad_inputs, grad_weights = self._grad_ops()
        return [grad_inputs(w, gy, x), grad_weights(x, gy, w)]

    def c_params(self, node):
        params = super().c_params(node)
        params["imshp"] = list(self.imshp) if self.imshp else [None] * 4
        params["kshp"] = list(self.kshp) if self.kshp else [None] * self.filter_ndim
        params["imshp_str"] = hint_str(self.imshp) if self.imshp else ""
        params["kshp_str"] = hint_str(self.kshp) if self.kshp else ""
        return params


def check_gradient_shapes(op, node, xshape, wshape, gy, what):
    """What a convolution gradient op (2-d or 3-d; ``what`` names it in messages) checks
    before computing: the user's imshp and kshp (None where unknown) against the image's and
    the filters' shapes, one of which is the result's; then the forward output shape against
    the output gradient's. Returns the forward output shape."""
    operand = node.inputs[0]
    result = node.outputs[0] if op.shape_form(node) else node.inputs[2]
    x_var, w_var = (result, operand) if op.ref == "x" else (operand, result)
    for hint, shape, kind, var, hint_name in ((op.imshp, xshape, "image", x_var, "imshp"),
                                              (op.kshp, wshape, "filters", w_var, "kshp")):
        if hint and any(h is not None and h != s for h, s in zip(hint, shape)):
            raise ValueError(f"{op.theano_name} shape mismatch: shape of {kind} "
                             f"does not match given shape: {label_of(var)} has shape "
                             f"{shape_str(shape)} but {hint_name} is {hint_str(hint)}")
    expected = op.check_shapes(xshape, wshape, label_of(x_var), label_of(w_var))
    if tuple(gy.shape) != tuple(expected):
        raise ValueError(f"{what} gradient: the output gradient {label_of(node.inputs[1])} "
                         f"has shape {shape_str(gy.shape)}, but the convolution of "
                         f"{shape_str(xshape)} by {shape_str(wshape)} has shape "
                         f"{shape_str(expected)}")
    return expected


class _ConvGradBase(_ConvBase):
    """A gradient op: (operand, output gradient, reference). The reference gives only the
    shape of the result: either a tensor of that shape (the input or the filters of the
    forward op, as the gradient graph passes them) or, as Theano's AbstractConv2d_gradInputs
    and _gradWeights take it, the vector of the result's two spatial sizes (the other sizes
    then follow from the operand and the output gradient)."""

    __props__ = _ConvBase.__props__ + ("imshp", "kshp")

    def __init__(self, border_mode="valid", subsample=(1, 1), filter_dilation=(1, 1),
                 filter_flip=True, num_groups=1, unshared=False, imshp=None, kshp=None):
        super().__init__(border_mode, subsample, filter_dilation, filter_flip, num_groups,
                         unshared)
        self.imshp = shape_hint(imshp, "imshp", 4)
        self.kshp = shape_hint(kshp, "kshp", self.filter_ndim)

    def make_node(self, operand, gy, ref):
        name = type(self).__name__
        w_ndim = self.filter_ndim
        operand = as_nd(operand, w_ndim if self.ref == "x" else 4, "operand", name)
        gy = as_nd(gy, 4, "output gradient", name)
        ref = as_tensor_variable(ref)
        dtype = common_float(operand, gy)
        operand, gy = _cast(operand, dtype), _cast(gy, dtype)
        if ref.ndim == 1:
            if not ref.dtype.startswith(("int", "uint")):
                raise TypeError(f"{name}: the shape {ref!r} must hold integers, got {ref.type}")
            ref = _cast(ref, "int64")
            bcast = self._shape_form_broadcastable(operand, gy)
        else:
            ref = as_nd(ref, w_ndim if self.ref == "w" else 4, "reference", name)
            bcast = ref.broadcastable
        return Apply(self, [operand, gy, ref], [TensorVariable(TensorType(dtype, bcast))])

    @staticmethod
    def shape_form(node):
        """True when the node's third input is the result's spatial shape."""
        return node.inputs[2].ndim == 1

    def ref_shape(self, node, operand, gy, ref):
        """The full shape of the result, from the reference tensor or the spatial shape."""
        if not self.shape_form(node):
            return tuple(ref.shape)
        if ref.shape != (2,):
            raise ValueError(f"{self.theano_name}: the shape {label_of(node.inputs[2])} "
                             f"must hold 2 sizes (rows, columns), got {ref.shape[0]}")
        rows, cols = (int(v) for v in ref)
        if rows < 0 or cols < 0:
            raise ValueError(f"{self.theano_name}: the shape {label_of(node.inputs[2])} "
                             f"is ({rows}, {cols}): sizes must not be negative")
        if self.ref == "x":     # (batch, channels, rows, columns) of the image
            return (gy.shape[0], operand.shape[-3] * self.num_groups, rows, cols)
        lead = (gy.shape[1],) + (tuple(gy.shape[2:]) if self.unshared else ())
        return lead + (operand.shape[1] // self.num_groups, rows, cols)

    def c_params(self, node):
        params = super().c_params(node)
        params["shape_form"] = self.shape_form(node)
        params["imshp"] = list(self.imshp) if self.imshp else [None] * 4
        params["kshp"] = list(self.kshp) if self.kshp else [None] * self.filter_ndim
        params["imshp_str"] = hint_str(self.imshp) if self.imshp else ""
        params["kshp_str"] = hint_str(self.kshp) if self.kshp else ""
        return params


class Conv2dGradInputs(_ConvGradBase):
    """The gradient of conv2d with respect to its input: ``(filters, gy, input)``."""

    c_template = "ops/conv2d_grad_inputs.c.j2"
    ref = "x"
    theano_name = "AbstractConv2d_gradInputs"

    def _shape_form_broadcastable(self, w, gy):
        channels = w.broadcastable[-3] and self.num_groups == 1
        return (gy.broadcastable[0], channels, False, False)

    def perform(self, node, inputs):
        w, gy, xref = inputs
        xshape = self.ref_shape(node, w, gy, xref)
        b, c, h, wd = xshape
        kh, kw = w.shape[-2:]
        _, o, oh, ow = check_gradient_shapes(self, node, xshape, w.shape, gy, "conv2d")
        pt, pb, pl, pr = self.pads(kh, kw)
        gxpad = np.zeros((b, c, h + pt + pb, wd + pl + pr), dtype="float64")
        wf = self._flipped(w).astype("float64")
        gy64 = gy.astype("float64")
        groups, cg, og = self.num_groups, w.shape[-3], o // self.num_groups
        for g in range(groups):
            gyg, wg = gy64[:, g * og:(g + 1) * og], wf[g * og:(g + 1) * og]
            for u, v, rows, cols in self._taps(kh, kw, oh, ow):
                gxpad[:, g * cg:(g + 1) * cg, rows, cols] += self._tap_product(
                    gyg, wg, u, v, "boij,oc->bcij")
        gx = gxpad[:, :, pt:pt + h, pl:pl + wd]
        return [gx.astype(node.outputs[0].dtype)]

    def L_op(self, inputs, outputs, output_grads):
        """gx = T(w, gy) is bilinear, with <T(w, gy), a> = <gy, conv(a, w)>."""
        w, gy, xref = inputs
        (ggx,) = output_grads
        if ggx is None:
            return [None, None, None]
        _, grad_weights = self._grad_ops()
        return [grad_weights(ggx, gy, w), self.geometry()(ggx, w), None]


class Conv2dGradWeights(_ConvGradBase):
    """The gradient of conv2d with respect to its filters: ``(input, gy, filters)``."""

    c_template = "ops/conv2d_grad_weights.c.j2"
    ref = "w"
    theano_name = "AbstractConv2d_gradWeights"

    def _shape_form_broadcastable(self, x, gy):
        spatial = (False, False)
        return (gy.broadcastable[1],) + (spatial if self.unshared else ()) + \
            (x.broadcastable[1],) + spatial

    def perform(self, node, inputs):
        x, gy, wref = inputs
        wshape = self.ref_shape(node, x, gy, wref)
        o, cg, kh, kw = wshape[0], wshape[-3], wshape[-2], wshape[-1]
        _, _, oh, ow = check_gradient_shapes(self, node, x.shape, wshape, gy, "conv2d")
        pt, pb, pl, pr = self.pads(kh, kw)
        xpad = np.pad(x.astype("float64"), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        gy64 = gy.astype("float64")
        gw = np.zeros(wshape, dtype="float64")
        groups, og = self.num_groups, o // self.num_groups
        for g in range(groups):
            xg, gyg = xpad[:, g * cg:(g + 1) * cg], gy64[:, g * og:(g + 1) * og]
            for u, v, rows, cols in self._taps(kh, kw, oh, ow):
                patch = xg[:, :, rows, cols]
                if self.unshared:
                    gw[g * og:(g + 1) * og, ..., u, v] = np.einsum("boij,bcij->oijc", gyg, patch,
                                                                   optimize=True)
                else:
                    gw[g * og:(g + 1) * og, :, u, v] = np.tensordot(
                        gyg, patch, axes=([0, 2, 3], [0, 2, 3]))
        return [self._flipped(gw).astype(node.outputs[0].dtype)]

    def L_op(self, inputs, outputs, output_grads):
        """gw = U(x, gy) is bilinear, with <U(x, gy), a> = <gy, conv(x, a)>."""
        x, gy, wref = inputs
        (ggw,) = output_grads
        if ggw is None:
            return [None, None, None]
        grad_inputs, _ = self._grad_ops()
        return [grad_inputs(ggw, gy, x), self.geometry()(x, ggw), None]


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), filter_flip=True, image_shape=None, filter_dilation=(1, 1),
           num_groups=1, unshared=False, **kwargs):
    """The 2-d convolution of a batch of images by a bank of filters, as Theano's
    ``theano.tensor.nnet.conv2d``.

    ``input`` is (batch, channels, rows, columns); ``filters`` is (output channels,
    channels / num_groups, rows, columns). ``border_mode``: 'valid' (no padding), 'full'
    (every partial overlap), 'half' (pad by half the filter: the output keeps the input's
    size for odd filters and unit strides), an int or a pair (pad_h, pad_w) of zero padding
    on both sides, or a pair of pairs ((top, bottom), (left, right)). ``subsample`` is the
    stride, ``filter_dilation`` the spacing of the filter taps. ``filter_flip=True`` flips
    the filters (a true convolution); False computes a cross-correlation. ``unshared=True``
    takes 6-d filters, one per output position (output channels, output rows, output
    columns, channels / num_groups, rows, columns). ``input_shape`` and ``filter_shape``
    (tuples, None where unknown) are checked against the values at run time. Returns (batch, output channels, output rows, output columns).
    """
    if "imshp_logical" in kwargs or "kshp_logical" in kwargs:
        raise ValueError("Keyword arguments 'imshp_logical' and 'kshp_logical' for conv2d "
                         "are not supported anymore (and have not been a reliable way to "
                         "perform upsampling).")
    if kwargs:
        raise TypeError(f"conv2d() got unexpected keyword arguments: {', '.join(kwargs)}")
    if image_shape is not None:
        warnings.warn("The `image_shape` keyword argument to `tensor.nnet.conv2d` is "
                      "deprecated, it has been renamed to `input_shape`.",
                      DeprecationWarning, stacklevel=2)
        if input_shape is not None:
            raise ValueError("input_shape and image_shape should not be provided at the "
                             "same time.")
        input_shape = image_shape
    op = Conv2d(border_mode, subsample, filter_dilation, filter_flip, num_groups, unshared,
                imshp=input_shape, kshp=filter_shape)
    return op(input, filters)
