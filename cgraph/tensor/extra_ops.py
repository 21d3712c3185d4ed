"""``theano.tensor.extra_ops``: cumulative sums and products, repeat, diff, bincount,
one-hot encoding, fill_diagonal, squeeze, unique.

Two ops have C templates of their own (``CumOp``: templates/ops/cumulative.c.j2,
``RepeatOp`` for a vector of repeats: templates/ops/repeat.c.j2); the rest are built from
existing ops the way Theano builds them (repeat by a scalar from alloc and reshape,
bincount and to_one_hot from an indexed increment, diff from slices), so their C and their
gradients come with those ops.
"""
import numbers

import numpy as np

from ..graph.basic import Apply, Op
from ..graph.labels import label_of
from . import basic as _T
from .shape_ops import alloc, arange, flatten, reshape, shape_i, zeros
from .sort import add_sort_support
from .subtensor import inc_subtensor, set_subtensor
from .type import C_TYPES, TensorType, is_int, resolve_dtype
from .var import TensorVariable, as_tensor_variable, register_operations
from .basic import squeeze  # noqa: F401  (Theano's extra_ops.squeeze)
from .sort import argsort, sort  # noqa: F401


def _axis_of(op_name, x, axis):
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{op_name}: axis must be an int or None, got {axis!r}")
    if not -x.ndim <= axis < max(x.ndim, 1):
        raise ValueError(f"{op_name}: axis(={axis}) out of bounds for {x!r} of {x.ndim} "
                         f"dimensions")
    return int(axis) % max(x.ndim, 1)


def _lanes(axis, ndim):
    return {"axis": axis, "others": [d for d in range(ndim) if d != axis]}


class CumOp(Op):
    """Running sum (``mode='add'``) or product (``'mul'``) along ``axis``; ``axis=None``
    works on the flattened input (the op is then applied to ``flatten(x)``). Integers keep
    their dtype and wrap around on overflow, as Theano's op did; bool counts as int64."""

    __props__ = ("axis", "mode")
    c_template = "ops/cumulative.c.j2"

    def __init__(self, axis=None, mode="add"):
        if mode not in ("add", "mul"):
            raise ValueError(f'{type(self).__name__}: Unknown mode "{mode}"')
        self.axis = axis
        self.mode = mode

    def __str__(self):
        return f"{type(self).__name__}{{{self.axis}, {self.mode}}}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        if self.axis is None:
            if x.ndim != 1:
                x = flatten(x)
        else:
            _axis_of(str(self), x, self.axis)
            if x.ndim == 0:
                raise ValueError(f"{self}: axis(={self.axis}) out of bounds for the scalar "
                                 f"{x!r}")
        dtype = "int64" if x.dtype == "bool" else x.dtype
        return Apply(self, [x], [TensorVariable(TensorType(dtype, x.broadcastable))])

    def _axis(self, x_ndim):
        return 0 if self.axis is None else self.axis % x_ndim

    def perform(self, node, inputs):
        (x,) = inputs
        fn = np.cumsum if self.mode == "add" else np.cumprod
        return [fn(x, axis=self._axis(x.ndim), dtype=node.outputs[0].dtype)]

    def L_op(self, inputs, outputs, output_grads):
        """Theano's formulas: the reversed running sum of the reversed gradient; for the
        product, of ``cumprod(x) * g``, divided by ``x`` (so undefined where x is 0)."""
        (x,), (g,) = inputs, output_grads
        axis = self._axis(x.ndim)
        rev = tuple(slice(None, None, -1) if d == axis else slice(None) for d in range(x.ndim))
        if self.mode == "add":
            return [CumOp(axis, "add")(g[rev])[rev]]
        return [CumOp(axis, "add")((outputs[0] * g)[rev])[rev] / x]

    def c_params(self, node):
        out_ctype = C_TYPES[node.outputs[0].dtype]
        op = "*" if self.mode == "mul" else "+"
        # integers wrap around on overflow, as in numpy (unsigned arithmetic: defined C)
        step = f"({out_ctype})((uint64_t)cg_acc {op} (uint64_t)cg_v)" \
            if is_int(node.outputs[0].dtype) else f"cg_acc {op} cg_v"
        return {"axis": self._axis(node.inputs[0].ndim), "nd": node.inputs[0].ndim,
                "init": "1" if self.mode == "mul" else "0", "step": step}


def cumsum(x, axis=None):
    """The running sum of ``x`` along ``axis`` (None: of the flattened ``x``)."""
    return CumOp(axis=axis, mode="add")(x)


def cumprod(x, axis=None):
    """The running product of ``x`` along ``axis`` (None: of the flattened ``x``)."""
    return CumOp(axis=axis, mode="mul")(x)


class RepeatOp(Op):
    """``numpy.repeat(x, repeats, axis)`` for a vector of repeats (one per element along
    ``axis``, or one for all); ``axis=None`` repeats the flattened ``x``. As in Theano,
    there is no gradient through a vector of repeats (``repeat`` takes a scalar one through
    alloc and reshape, which have gradients)."""

    __props__ = ("axis",)
    c_template = "ops/repeat.c.j2"

    def __init__(self, axis=None):
        self.axis = axis

    def __str__(self):
        return f"RepeatOp{{{self.axis}}}"

    def make_node(self, x, repeats):
        x = as_tensor_variable(x)
        repeats = as_tensor_variable(repeats)
        if not is_int(repeats.dtype):
            raise TypeError(f"repeat: repeats.dtype must be an integer, got {repeats!r} of "
                            f"dtype {repeats.dtype}")
        if repeats.ndim != 1:
            raise TypeError(f"RepeatOp: repeats must be a vector, got {repeats!r} with "
                            f"{repeats.ndim} dimensions (repeat() takes scalars)")
        if self.axis is None:
            if x.ndim != 1:
                x = flatten(x)
        else:
            _axis_of("repeat", x, self.axis)
        bcast = tuple(False if d == self._axis() else b for d, b in enumerate(x.broadcastable))
        return Apply(self, [x, repeats], [TensorVariable(TensorType(x.dtype, bcast))])

    def _axis(self, ndim=None):
        return 0 if self.axis is None else self.axis % (ndim or 1)

    def perform(self, node, inputs):
        x, repeats = inputs
        axis = self._axis(x.ndim)
        if repeats.shape[0] not in (1, x.shape[axis]):
            raise ValueError(f"{label_of(node.inputs[1])} gives {repeats.shape[0]} repeats for "
                             f"the {x.shape[axis]} elements of {label_of(node.inputs[0])} along "
                             f"axis {axis}")
        if (repeats < 0).any():
            raise ValueError(f"negative repeat count {repeats[repeats < 0][0]} in "
                             f"{label_of(node.inputs[1])}")
        return [np.repeat(x, repeats.astype("int64"), axis=axis)]

    def L_op(self, inputs, outputs, output_grads):
        raise NotImplementedError("repeat: no gradient through a vector of repeats (as in "
                                  "Theano); repeat by a scalar has one")

    def c_params(self, node):
        x = node.inputs[0]
        return _lanes(self._axis(x.ndim), x.ndim)


def repeat(x, repeats, axis=None):
    """``numpy.repeat``: each element of ``x`` along ``axis`` (None: of the flattened ``x``)
    ``repeats`` times; ``repeats`` is an int, an integer scalar or one per element."""
    x = as_tensor_variable(x)
    repeats = as_tensor_variable(repeats)
    if repeats.ndim > 1:
        raise ValueError("The dimension of repeats should not exceed 1.")
    if not is_int(repeats.dtype):
        raise TypeError(f"repeat: repeats.dtype must be an integer, got {repeats.dtype}")
    if repeats.ndim == 1 and not repeats.broadcastable[0]:
        return RepeatOp(axis=axis)(x, repeats)
    if repeats.ndim == 1:
        repeats = repeats[0]
    if axis is None:
        x, axis = flatten(x), 0
    else:
        axis = _axis_of("repeat", x, axis)
    # x with a new axis after `axis`, broadcast to the repeat count, then merged into it
    shape = [shape_i(x, d) for d in range(x.ndim)]
    spread = shape[:axis + 1] + [repeats] + shape[axis + 1:]
    order = list(range(axis + 1)) + ["x"] + list(range(axis + 1, x.ndim))
    merged = shape[:axis] + [shape[axis] * repeats] + shape[axis + 1:]
    return reshape(alloc(x.dimshuffle(*order), *spread), merged)


def diff(x, n=1, axis=-1):
    """The ``n``-th discrete difference along ``axis``: ``out[i] = x[i + 1] - x[i]``,
    applied ``n`` times (numpy.diff)."""
    x = as_tensor_variable(x)
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"diff: order n must be a non-negative int, got {n!r}")
    if x.ndim == 0:
        raise ValueError(f"diff requires input that is at least one dimensional, got {x!r}")
    axis = _axis_of("diff", x, axis)
    head = tuple(slice(1, None) if d == axis else slice(None) for d in range(x.ndim))
    tail = tuple(slice(None, -1) if d == axis else slice(None) for d in range(x.ndim))
    for _ in range(n):
        x = x[head] - x[tail] if x.dtype != "bool" else _T.neq(x[head], x[tail])
    return x


def bincount(x, weights=None, minlength=None, assert_nonneg=False):
    """How often each value 0, 1, ..., max(x) occurs in the integer vector ``x`` (the sum
    of ``weights`` at those positions, if given); at least ``minlength`` bins. As in Theano
    (not numpy), a negative value counts from the last bin."""
    x = as_tensor_variable(x)
    if x.ndim != 1:
        raise TypeError("Inputs must be of dimension 1.")
    if not is_int(x.dtype):
        raise TypeError(f"bincount: {x!r} must hold integers, got dtype {x.dtype}")
    bins = _T.cast(x.max() + 1, "int64")
    if minlength is not None:
        bins = _T.maximum(bins, minlength)
    if weights is None:
        return inc_subtensor(zeros([bins], dtype=x.dtype)[x], 1)
    weights = as_tensor_variable(weights)
    return inc_subtensor(zeros([bins], dtype=weights.dtype)[x], weights)


def to_one_hot(y, nb_class, dtype=None):
    """The matrix whose row i is the one-hot encoding of ``y[i]`` among ``nb_class``
    classes (dtype floatX unless given); a value >= nb_class raises IndexError, a negative
    one counts from the last class, as in Theano."""
    y = as_tensor_variable(y)
    if y.ndim != 1 or not is_int(y.dtype):
        raise TypeError(f"to_one_hot: y must be a vector of integers, got {y!r} "
                        f"({y.type})")
    ret = zeros((shape_i(y, 0), nb_class), dtype=resolve_dtype(dtype))
    return set_subtensor(ret[arange(shape_i(y, 0)), y], 1)


def fill_diagonal(a, val):
    """A copy of ``a`` (2 dimensions or more) whose main diagonal (the entries whose indices
    are all equal) is ``val``, a scalar that must not upcast ``a``."""
    a = as_tensor_variable(a)
    val = as_tensor_variable(val)
    if a.ndim < 2:
        raise TypeError("FillDiagonal: first parameter must have at least two dimensions")
    if val.ndim != 0:
        raise TypeError("FillDiagonal: second parameter must be a scalar")
    if np.result_type(np.dtype(a.dtype), np.dtype(val.dtype)) != np.dtype(a.dtype):
        raise TypeError(f"FillDiagonal: type of second parameter must be the same as the "
                        f"first's ({val!r} is {val.dtype}, {a!r} is {a.dtype})")
    on_diagonal = None
    first = arange(shape_i(a, 0))
    for d in range(1, a.ndim):
        order = ["x"] * a.ndim
        order[0] = 0
        rows = first.dimshuffle(*order)
        order = ["x"] * a.ndim
        order[d] = 0
        cols = arange(shape_i(a, d)).dimshuffle(*order)
        same = _T.eq(rows, cols)
        on_diagonal = same if on_diagonal is None else _T.and_(on_diagonal, same)
    return _T.switch(on_diagonal, _T.cast(val, a.dtype), a)


class Unique(Op):
    """``numpy.unique`` of the flattened input: the sorted distinct values (NaNs as one),
    then, as asked, the position of each one's first occurrence, the inverse (which
    distinct value each element is) and the counts, all int64 vectors. Only ``axis=None``
    (Theano also allowed an axis: unique rows, say)."""

    __props__ = ("return_index", "return_inverse", "return_counts", "axis")
    c_template = "ops/unique.c.j2"

    def __init__(self, return_index=False, return_inverse=False, return_counts=False,
                 axis=None):
        if axis is not None:
            raise NotImplementedError("Unique(axis=...) is not supported; only axis=None "
                                      "(the flattened input)")
        self.return_index = bool(return_index)
        self.return_inverse = bool(return_inverse)
        self.return_counts = bool(return_counts)
        self.axis = axis

    def make_node(self, x):
        x = as_tensor_variable(x)
        outputs = [TensorVariable(TensorType(x.dtype, (False,)))]
        for wanted in (self.return_index, self.return_inverse, self.return_counts):
            if wanted:
                outputs.append(TensorVariable(TensorType("int64", (False,))))
        return Apply(self, [x], outputs)

    def perform(self, node, inputs):
        (x,) = inputs
        outs = np.unique(x.ravel(), return_index=self.return_index,
                         return_inverse=self.return_inverse,
                         return_counts=self.return_counts)
        outs = list(outs) if isinstance(outs, tuple) else [outs]
        return [outs[0]] + [np.asarray(o, dtype="int64").ravel() for o in outs[1:]]

    def L_op(self, inputs, outputs, output_grads):
        raise NotImplementedError("unique has no gradient")

    def _positions(self):
        at, positions = 1, {}
        for name, wanted in (("index_at", self.return_index),
                             ("inverse_at", self.return_inverse),
                             ("counts_at", self.return_counts)):
            positions[name] = at if wanted else 0
            at += wanted
        return positions

    def c_params(self, node):
        return {"is_float": node.inputs[0].dtype.startswith("float"), **self._positions()}

    def c_support_code(self, node, module):
        add_sort_support(module, node.inputs[0].dtype)
        return {}


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None):
    """The sorted distinct values of ``ar`` (flattened), with the optional outputs of
    numpy.unique; a list when any is asked for."""
    outs = Unique(return_index, return_inverse, return_counts, axis)(ar)
    return outs


class DiffOp:
    """Theano's ``DiffOp(n, axis)(x)``, built from slices (``diff``)."""

    def __init__(self, n=1, axis=-1):
        self.n, self.axis = n, axis

    def __call__(self, x):
        return diff(x, self.n, self.axis)


__all__ = ["CumOp", "cumsum", "cumprod", "RepeatOp", "repeat", "diff", "DiffOp", "bincount",
           "to_one_hot", "fill_diagonal", "squeeze", "sort", "argsort", "Unique", "unique"]


register_operations(__name__, globals())   # the methods of tensor variables (var.py)
