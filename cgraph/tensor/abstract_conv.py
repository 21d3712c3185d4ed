"""``T.nnet.abstract_conv``: Theano's names for convolutions and their gradients.

Theano programs reach the convolution ops through this module: ``AbstractConv2d`` (the
forward op, ``op(images, filters)``), ``AbstractConv2d_gradInputs`` (``op(filters,
output_grad, input_spatial_shape)``: the transposed convolution of Lasagne's
TransposedConv2DLayer) and ``AbstractConv2d_gradWeights`` (``op(images, output_grad,
filter_spatial_shape)``: the dilated convolution of DilatedConv2DLayer), their 3-d
counterparts, the functions that build them, and the shape arithmetic
(``get_conv_output_shape`` ...). The ops are cgraph's (cgraph/tensor/conv.py,
cgraph/tensor/conv3d.py) under Theano's constructor signatures: ``imshp`` and ``kshp`` are
shape hints (None where unknown), checked when the function runs.
"""
from __future__ import annotations

import numbers
from typing import Any, Optional, Sequence

import numpy as np

from ..config import config
from ..graph.basic import Constant, Variable
from .basic import cast, concatenate
from .conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights, conv2d
from .conv3d import Conv3d, Conv3dGradInputs, Conv3dGradWeights, conv3d
from .var import as_tensor_variable

__all__ = ["AbstractConv2d", "AbstractConv2d_gradInputs", "AbstractConv2d_gradWeights",
           "AbstractConv3d", "AbstractConv3d_gradInputs", "AbstractConv3d_gradWeights",
           "conv2d", "conv3d", "conv2d_grad_wrt_inputs", "conv2d_grad_wrt_weights",
           "conv3d_grad_wrt_inputs", "conv3d_grad_wrt_weights", "get_conv_output_shape",
           "get_conv_shape_1axis", "get_conv_gradweights_shape",
           "get_conv_gradweights_shape_1axis", "get_conv_gradinputs_shape",
           "get_conv_gradinputs_shape_1axis", "border_mode_to_pad", "bilinear_kernel_1D",
           "bilinear_kernel_2D", "bilinear_upsampling", "causal_conv1d", "conv2d_transpose",
           "separable_conv2d", "separable_conv3d"]


def _hint(shape):
    """A shape hint with symbolic entries replaced by None (they are checked at run time
    through the shape argument instead)."""
    if shape is None:
        return None
    return tuple(_static_int(s) for s in shape)


def _static_int(value):
    if value is None:
        return None
    if isinstance(value, Constant):
        value = value.data
    if isinstance(value, Variable):
        return None
    if isinstance(value, np.ndarray):
        value = value.item()
    return int(value)


class AbstractConv2d(Conv2d):
    """The 2-d convolution op, with Theano's constructor: ``AbstractConv2d(imshp, kshp,
    border_mode, subsample, filter_flip, filter_dilation, num_groups, unshared)(images,
    filters)``."""

    def __init__(self, imshp=None, kshp=None, border_mode="valid", subsample=(1, 1),
                 filter_flip=True, filter_dilation=(1, 1), num_groups=1, unshared=False):
        super().__init__(border_mode, subsample, filter_dilation, filter_flip, num_groups,
                         unshared, imshp=_hint(imshp), kshp=_hint(kshp))


class AbstractConv2d_gradInputs(Conv2dGradInputs):
    """The gradient of a 2-d convolution with respect to its images (the transposed
    convolution): ``op(filters, output_grad, shape)`` where ``shape`` holds the images'
    rows and columns (ints or symbolic scalars, or a vector)."""

    def __init__(self, imshp=None, kshp=None, border_mode="valid", subsample=(1, 1),
                 filter_flip=True, filter_dilation=(1, 1), num_groups=1, unshared=False):
        super().__init__(border_mode, subsample, filter_dilation, filter_flip, num_groups,
                         unshared, imshp=_hint(imshp), kshp=_hint(kshp))

    def make_node(self, kern, topgrad, shape, add_assert_shape=True):
        # the hints are always checked: add_assert_shape (Theano's switch) changes nothing
        return super().make_node(kern, topgrad, _spatial_shape(shape, 2, type(self).__name__))


class AbstractConv2d_gradWeights(Conv2dGradWeights):
    """The gradient of a 2-d convolution with respect to its filters: ``op(images,
    output_grad, shape)`` where ``shape`` holds the filters' rows and columns."""

    def __init__(self, imshp=None, kshp=None, border_mode="valid", subsample=(1, 1),
                 filter_flip=True, filter_dilation=(1, 1), num_groups=1, unshared=False):
        super().__init__(border_mode, subsample, filter_dilation, filter_flip, num_groups,
                         unshared, imshp=_hint(imshp), kshp=_hint(kshp))

    def make_node(self, img, topgrad, shape, add_assert_shape=True):
        return super().make_node(img, topgrad, _spatial_shape(shape, 2, type(self).__name__))


class AbstractConv3d(Conv3d):
    """The 3-d convolution op, with Theano's constructor."""

    def __init__(self, imshp=None, kshp=None, border_mode="valid", subsample=(1, 1, 1),
                 filter_flip=True, filter_dilation=(1, 1, 1), num_groups=1):
        super().__init__(border_mode, subsample, filter_dilation, filter_flip, num_groups,
                         imshp=_hint(imshp), kshp=_hint(kshp))


class AbstractConv3d_gradInputs(Conv3dGradInputs):
    """The gradient of a 3-d convolution with respect to its images: ``op(filters,
    output_grad, shape)``, ``shape`` the images' depth, rows and columns."""

    def __init__(self, imshp=None, kshp=None, border_mode="valid", subsample=(1, 1, 1),
                 filter_flip=True, filter_dilation=(1, 1, 1), num_groups=1):
        super().__init__(border_mode, subsample, filter_dilation, filter_flip, num_groups,
                         imshp=_hint(imshp), kshp=_hint(kshp))

    def make_node(self, kern, topgrad, shape, add_assert_shape=True):
        return super().make_node(kern, topgrad, _spatial_shape(shape, 3, type(self).__name__))


class AbstractConv3d_gradWeights(Conv3dGradWeights):
    """The gradient of a 3-d convolution with respect to its filters: ``op(images,
    output_grad, shape)``, ``shape`` the filters' depth, rows and columns."""

    def __init__(self, imshp=None, kshp=None, border_mode="valid", subsample=(1, 1, 1),
                 filter_flip=True, filter_dilation=(1, 1, 1), num_groups=1):
        super().__init__(border_mode, subsample, filter_dilation, filter_flip, num_groups,
                         imshp=_hint(imshp), kshp=_hint(kshp))

    def make_node(self, img, topgrad, shape, add_assert_shape=True):
        return super().make_node(img, topgrad, _spatial_shape(shape, 3, type(self).__name__))


def _spatial_shape(shape, ndim, op_name):
    """The spatial shape argument as an int64 vector of ``ndim`` entries."""
    if isinstance(shape, (tuple, list)) and len(shape) != ndim:
        raise ValueError(f"{op_name}: the shape must hold {ndim} sizes, got {shape!r}")
    shape = as_tensor_variable(shape)
    if shape.ndim != 1 or not shape.dtype.startswith(("int", "uint")):
        raise TypeError(f"{op_name}: the shape {shape!r} must be a vector of integers, got "
                        f"{shape.type}")
    return shape if shape.dtype == "int64" else cast(shape, "int64")


def _check_symbolic_or_int(values, dims, what, allow_none, allow_symbolic):
    for d in dims:
        v = values[d]
        ok = (v is None and allow_none) or isinstance(v, (numbers.Integral, Constant)) \
            or (allow_symbolic and isinstance(v, Variable))
        if not ok:
            kind = "a symbolic variable, a constant" if allow_symbolic else "a constant"
            raise ValueError(f"{what}[{d}] must be {kind} or None.")


def conv2d_grad_wrt_inputs(output_grad, filters, input_shape: Sequence[Any],
                           filter_shape: Optional[Sequence[Any]] = None,
                           border_mode="valid", subsample=(1, 1), filter_flip=True,
                           filter_dilation=(1, 1), num_groups=1, unshared=False):
    """The gradient of a 2-d convolution with respect to its input, as Theano's: the
    transposed convolution of ``output_grad`` by ``filters`` to images of ``input_shape``
    (batch, channels: ints or None; rows, columns: ints or symbolic scalars)."""
    _check_symbolic_or_int(input_shape, [0, 1], "input_shape", True, False)
    _check_symbolic_or_int(input_shape, [2, 3], "input_shape", False, True)
    if filter_shape is not None:
        expected = 6 if unshared else 4
        if len(filter_shape) != expected:
            raise ValueError(f"The length of filter_shape was {len(filter_shape)}, but we "
                             f"expected {expected}.")
        _check_symbolic_or_int(filter_shape, range(expected), "filter_shape", True, False)
    op = AbstractConv2d_gradInputs(imshp=input_shape, kshp=filter_shape,
                                   border_mode=border_mode, subsample=subsample,
                                   filter_flip=filter_flip, filter_dilation=filter_dilation,
                                   num_groups=num_groups, unshared=unshared)
    return op(filters, output_grad, tuple(input_shape[-2:]))


def conv2d_grad_wrt_weights(input, output_grad, filter_shape: Sequence[Any],
                            input_shape: Optional[Sequence[Any]] = None,
                            border_mode="valid", subsample=(1, 1), filter_flip=True,
                            filter_dilation=(1, 1), num_groups=1, unshared=False):
    """The gradient of a 2-d convolution with respect to its filters, as Theano's: filters
    of ``filter_shape`` (leading sizes ints or None, the last two ints or symbolic)."""
    lead = 4 if unshared else 2
    _check_symbolic_or_int(filter_shape, range(lead), "filter_shape", True, False)
    _check_symbolic_or_int(filter_shape, [-2, -1], "filter_shape", False, True)
    if input_shape is not None:
        _check_symbolic_or_int(input_shape, range(4), "input_shape", True, False)
    op = AbstractConv2d_gradWeights(imshp=input_shape, kshp=filter_shape,
                                    border_mode=border_mode, subsample=subsample,
                                    filter_flip=filter_flip, filter_dilation=filter_dilation,
                                    num_groups=num_groups, unshared=unshared)
    return op(input, output_grad, tuple(filter_shape[-2:]))


def conv3d_grad_wrt_inputs(output_grad, filters, input_shape: Sequence[Any],
                           filter_shape: Optional[Sequence[Any]] = None,
                           border_mode="valid", subsample=(1, 1, 1), filter_flip=True,
                           filter_dilation=(1, 1, 1), num_groups=1):
    """The gradient of a 3-d convolution with respect to its input, as Theano's."""
    _check_symbolic_or_int(input_shape, [0, 1], "input_shape", True, False)
    _check_symbolic_or_int(input_shape, [2, 3, 4], "input_shape", False, True)
    op = AbstractConv3d_gradInputs(imshp=input_shape, kshp=filter_shape,
                                   border_mode=border_mode, subsample=subsample,
                                   filter_flip=filter_flip, filter_dilation=filter_dilation,
                                   num_groups=num_groups)
    return op(filters, output_grad, tuple(input_shape[-3:]))


def conv3d_grad_wrt_weights(input, output_grad, filter_shape: Sequence[Any],
                            input_shape: Optional[Sequence[Any]] = None,
                            border_mode="valid", subsample=(1, 1, 1), filter_flip=True,
                            filter_dilation=(1, 1, 1), num_groups=1):
    """The gradient of a 3-d convolution with respect to its filters, as Theano's."""
    _check_symbolic_or_int(filter_shape, [0, 1], "filter_shape", True, False)
    _check_symbolic_or_int(filter_shape, [2, 3, 4], "filter_shape", False, True)
    op = AbstractConv3d_gradWeights(imshp=input_shape, kshp=filter_shape,
                                    border_mode=border_mode, subsample=subsample,
                                    filter_flip=filter_flip, filter_dilation=filter_dilation,
                                    num_groups=num_groups)
    return op(input, output_grad, tuple(filter_shape[-3:]))


# --- shape arithmetic (ints, None where unknown, or symbolic scalars) --------------------

def _pads_1axis(border_mode, dil_kernel):
    if border_mode == "half":
        return dil_kernel // 2, dil_kernel // 2
    if border_mode == "full":
        return dil_kernel - 1, dil_kernel - 1
    if border_mode == "valid":
        return 0, 0
    if isinstance(border_mode, tuple):
        pad_l, pad_r = border_mode
    else:
        pad_l = pad_r = border_mode
    if pad_l < 0 or pad_r < 0:
        raise ValueError("border_mode must be >= 0")
    return pad_l, pad_r


def get_conv_shape_1axis(image_shape, kernel_shape, border_mode, subsample, dilation=1):
    """The output size of a convolution along one axis (None if any size is None)."""
    if None in (image_shape, kernel_shape, border_mode, subsample, dilation):
        return None
    dil_kernel = (kernel_shape - 1) * dilation + 1
    pad_l, pad_r = _pads_1axis(border_mode, dil_kernel)
    out = image_shape - dil_kernel
    if pad_l != 0:
        out += pad_l
    if pad_r != 0:
        out += pad_r
    if subsample != 1:
        out = out // subsample
    return out + 1


def get_conv_output_shape(image_shape, kernel_shape, border_mode, subsample,
                          filter_dilation=None):
    """(batch, output channels, spatial sizes...) of a convolution, None where unknown."""
    convdim = len(image_shape) - 2
    batch, spatial = image_shape[0], image_shape[2:]
    nkern, kernel = kernel_shape[0], kernel_shape[-convdim:]
    if filter_dilation is None:
        filter_dilation = (1,) * len(subsample)
    modes = border_mode if isinstance(border_mode, tuple) else (border_mode,) * convdim
    return (batch, nkern) + tuple(
        get_conv_shape_1axis(spatial[i], kernel[i], modes[i], subsample[i], filter_dilation[i])
        for i in range(len(subsample)))


def get_conv_gradweights_shape_1axis(image_shape, top_shape, border_mode, subsample,
                                     dilation):
    """The filter size along one axis from the image and output sizes (None if unknown)."""
    if None in (image_shape, top_shape, border_mode, subsample, dilation):
        return None
    if subsample != 1 or border_mode == "half":
        return None
    if border_mode == "full":
        kernel = top_shape - image_shape + 1
    elif border_mode == "valid":
        kernel = image_shape - top_shape + 1
    else:
        pad_l, pad_r = _pads_1axis(border_mode, 0)
        kernel = image_shape + pad_l + pad_r - top_shape + 1
    if dilation > 1:
        kernel = kernel / dilation
    return kernel


def get_conv_gradweights_shape(image_shape, top_shape, border_mode, subsample,
                               filter_dilation=None, num_groups=1):
    """The filters' shape from the image and output shapes, None where undetermined."""
    convdim = len(image_shape) - 2
    nchan, spatial = image_shape[1], image_shape[2:]
    nkern, top = top_shape[1], top_shape[2:]
    if filter_dilation is None:
        filter_dilation = (1,) * len(subsample)
    if num_groups > 1 and nchan is not None:
        nchan = nchan // num_groups
    modes = border_mode if isinstance(border_mode, tuple) else (border_mode,) * convdim
    return (nkern, nchan) + tuple(
        get_conv_gradweights_shape_1axis(spatial[i], top[i], modes[i], subsample[i],
                                         filter_dilation[i])
        for i in range(len(subsample)))


def get_conv_gradinputs_shape_1axis(kernel_shape, top_shape, border_mode, subsample,
                                    dilation):
    """The image size along one axis from the filter and output sizes (None if unknown:
    with a stride, several image sizes give the same output)."""
    if None in (kernel_shape, top_shape, border_mode, subsample, dilation):
        return None
    if subsample != 1:
        return None
    dil_kernel = (kernel_shape - 1) * dilation + 1
    pad_l, pad_r = _pads_1axis(border_mode, dil_kernel)
    return (top_shape - 1) * subsample + dil_kernel - pad_l - pad_r


def get_conv_gradinputs_shape(kernel_shape, top_shape, border_mode, subsample,
                              filter_dilation=None, num_groups=1):
    """The images' shape from the filter and output shapes, None where undetermined."""
    convdim = len(top_shape) - 2
    nkern, kernel = kernel_shape[1], kernel_shape[-convdim:]
    batch, top = top_shape[0], top_shape[2:]
    if filter_dilation is None:
        filter_dilation = (1,) * len(subsample)
    if num_groups > 1 and nkern is not None:
        nkern = nkern * num_groups
    modes = border_mode if isinstance(border_mode, tuple) else (border_mode,) * convdim
    return (batch, nkern) + tuple(
        get_conv_gradinputs_shape_1axis(kernel[i], top[i], modes[i], subsample[i],
                                        filter_dilation[i])
        for i in range(len(subsample)))


def border_mode_to_pad(mode, convdim: int, kshp):
    """The ((before, after), ...) zero padding of each spatial axis for ``mode``."""
    if isinstance(mode, tuple):
        return tuple(m if isinstance(m, tuple) else (m, m) for m in mode)
    if mode == "valid":
        return ((0, 0),) * convdim
    if mode == "full":
        return tuple((k - 1, k - 1) for k in kshp)
    if mode == "half":
        return tuple((k // 2, k // 2) for k in kshp)
    raise ValueError(f"invalid border_mode {mode!r}")


# --- built from the ops above ------------------------------------------------------------

def conv2d_transpose(input, filters, output_shape: Sequence[Any],
                     filter_shape: Optional[Sequence[Any]] = None, border_mode="valid",
                     input_dilation=(1, 1), filter_flip=True, filter_dilation=(1, 1),
                     num_groups=1, unshared=False):
    """The transposed convolution of ``input`` by ``filters`` (input channels, output
    channels, rows, columns) to an output of ``output_shape``, as Theano's
    ``T.nnet.conv2d_transpose``: the gradient of conv2d with respect to its input, with
    ``input_dilation`` the forward convolution's stride and ``border_mode`` its padding
    (here a cropping)."""
    return conv2d_grad_wrt_inputs(input, filters, output_shape, filter_shape,
                                  border_mode=border_mode, subsample=input_dilation,
                                  filter_flip=filter_flip, filter_dilation=filter_dilation,
                                  num_groups=num_groups, unshared=unshared)


def _separable(conv, nd, input, depthwise_filters, pointwise_filters, num_channels,
               input_shape, depthwise_filter_shape, pointwise_filter_shape, border_mode,
               subsample, filter_flip, filter_dilation):
    depthwise = conv(input, depthwise_filters, input_shape=input_shape,
                     filter_shape=depthwise_filter_shape, border_mode=border_mode,
                     subsample=subsample, filter_flip=filter_flip,
                     filter_dilation=filter_dilation, num_groups=num_channels)
    return conv(depthwise, pointwise_filters, filter_shape=pointwise_filter_shape,
                border_mode="valid", subsample=(1,) * nd, filter_flip=filter_flip,
                filter_dilation=(1,) * nd, num_groups=1)


def separable_conv2d(input, depthwise_filters, pointwise_filters, num_channels: int,
                     input_shape=None, depthwise_filter_shape=None,
                     pointwise_filter_shape=None, border_mode="valid", subsample=(1, 1),
                     filter_flip=True, filter_dilation=(1, 1)):
    """A depthwise convolution (each input channel by its own filters: ``depthwise_filters``
    of shape (depthwise output channels, 1, rows, columns)) followed by a pointwise one
    mixing the channels (``pointwise_filters``: (output channels, depthwise output
    channels, 1, 1)), as Theano's."""
    return _separable(conv2d, 2, input, depthwise_filters, pointwise_filters, num_channels,
                      input_shape, depthwise_filter_shape, pointwise_filter_shape,
                      border_mode, subsample, filter_flip, filter_dilation)


def separable_conv3d(input, depthwise_filters, pointwise_filters, num_channels: int,
                     input_shape=None, depthwise_filter_shape=None,
                     pointwise_filter_shape=None, border_mode="valid", subsample=(1, 1, 1),
                     filter_flip=True, filter_dilation=(1, 1, 1)):
    """separable_conv2d with a third spatial axis, as Theano's."""
    return _separable(conv3d, 3, input, depthwise_filters, pointwise_filters, num_channels,
                      input_shape, depthwise_filter_shape, pointwise_filter_shape,
                      border_mode, subsample, filter_flip, filter_dilation)


def causal_conv1d(input, filters, filter_shape, input_shape=None, subsample=1,
                  filter_flip=True, filter_dilation=1, num_groups=1, unshared=False):
    """A 1-d convolution of (batch, channels, time) whose output at time t sees only the
    inputs up to t (left zero padding of (filter length - 1) x dilation), as Theano's."""
    input, filters = as_tensor_variable(input), as_tensor_variable(filters)
    width = filter_shape[-1]
    pad = (width - 1) * filter_dilation
    images = input.dimshuffle(0, 1, "x", 2)
    kernels = filters.dimshuffle(*(list(range(filters.ndim - 1)) + ["x", filters.ndim - 1]))
    kshp = tuple(filter_shape[:-1]) + (1, width)
    imshp = None if input_shape is None else tuple(input_shape[:2]) + (1, input_shape[2])
    out = conv2d(images, kernels, input_shape=imshp, filter_shape=kshp,
                 border_mode=((0, 0), (pad, 0)), subsample=(1, subsample),
                 filter_flip=filter_flip, filter_dilation=(1, filter_dilation),
                 num_groups=num_groups, unshared=unshared)
    return out[:, :, 0, :]


def bilinear_kernel_1D(ratio: int, normalize: bool = True):
    """The 1-d kernel of linear interpolation by an integer ratio, as a constant tensor:
    1, 2, ..., ratio, ..., 2, 1 (divided by ratio when normalize)."""
    half = np.arange(1, ratio + 1, dtype="float64")
    kernel = np.concatenate([half, half[-2::-1]])
    if normalize:
        kernel = kernel / ratio
    return as_tensor_variable(kernel.astype(config.floatX))


def bilinear_kernel_2D(ratio: int, normalize: bool = True):
    """The 2-d kernel of bilinear interpolation: the outer product of two 1-d kernels."""
    k = bilinear_kernel_1D(ratio, normalize)
    return k.dimshuffle(0, "x") * k.dimshuffle("x", 0)


def bilinear_upsampling(input, ratio=None, frac_ratio=None, batch_size=None,
                        num_input_channels=None, use_1D_kernel=True):
    """Upsample (batch, channels, rows, columns) images by an integer ``ratio`` with
    bilinear interpolation, the borders repeated, as Theano's (a transposed convolution
    of each channel by the bilinear kernel)."""
    if frac_ratio is not None:
        raise NotImplementedError("bilinear_upsampling: frac_ratio is not supported; give "
                                  "an integer ratio")
    if ratio is None or not isinstance(ratio, numbers.Integral) or ratio < 1:
        raise ValueError(f"bilinear_upsampling: ratio must be a positive integer, got "
                         f"{ratio!r}")
    input = as_tensor_variable(input)
    if input.ndim != 4:
        raise TypeError(f"bilinear_upsampling: input {input!r} must be a 4-d tensor")
    rows, cols = input.shape[2], input.shape[3]
    images = input.reshape((-1, 1, rows, cols))
    # repeat the first and last rows and columns, so the borders interpolate to themselves
    padded = concatenate([images[:, :, :1, :], images, images[:, :, -1:, :]], axis=2)
    padded = concatenate([padded[:, :, :, :1], padded, padded[:, :, :, -1:]], axis=3)
    pad = 2 * ratio - (ratio - 1) // 2 - 1
    out_rows, out_cols = rows * ratio, cols * ratio
    if use_1D_kernel:
        kernel = bilinear_kernel_1D(ratio)
        step = conv2d_grad_wrt_inputs(
            padded, kernel.dimshuffle("x", "x", 0, "x"),
            input_shape=(None, 1, out_rows, cols + 2),
            filter_shape=(1, 1, None, 1), border_mode=(pad, 0), subsample=(ratio, 1))
        upsampled = conv2d_grad_wrt_inputs(
            step, kernel.dimshuffle("x", "x", "x", 0),
            input_shape=(None, 1, out_rows, out_cols),
            filter_shape=(1, 1, 1, None), border_mode=(0, pad), subsample=(1, ratio))
    else:
        kernel = bilinear_kernel_2D(ratio)
        upsampled = conv2d_grad_wrt_inputs(
            padded, kernel.dimshuffle("x", "x", 0, 1),
            input_shape=(None, 1, out_rows, out_cols),
            filter_shape=(1, 1, None, None), border_mode=(pad, pad),
            subsample=(ratio, ratio))
    return upsampled.reshape((input.shape[0], input.shape[1], out_rows, out_cols))
