"""Indexing: ``x[...]`` with numpy's semantics, and writing into indexed regions.

``x[index]`` is split into at most three ops, each simple on its own:

- ``Subtensor``: basic indexing (integers, slices with constant or symbolic bounds); a view.
- ``AdvancedSubtensor``: integer-array indexing on some axes, full slices on the others;
  numpy's rule places the broadcast index dimensions; a copy.
- ``DimShuffle``: the new axes asked for with ``None``, and the reordering needed when a
  ``None`` separates advanced indices.

When the index has integer arrays, integers count as advanced indices (numpy's rule) and the
slices are applied first by a ``Subtensor`` that keeps every axis.

``set_subtensor``/``inc_subtensor`` walk that chain back to the indexed variable and build
``IncSubtensor`` / ``AdvancedIncSubtensor`` nodes, which copy the base and write into it.
"""
import numbers
import weakref

import numpy as np

from ..graph.basic import Apply, Constant, Op, Variable
from ..graph.labels import c_text, label_of
from .basic import cast, eq, mul
from .elemwise import DimShuffle, pad_left, sum_to_shape
from .reduction import sum as reduce_sum
from .shape_ops import arange, flatten, reshape, shape, shape_i, zeros_like
from .type import INT_DTYPES, TensorType, shape_str
from .var import TensorVariable, as_tensor_variable, constant, register_operations

__all__ = ["set_subtensor", "inc_subtensor", "take", "Subtensor", "AdvancedSubtensor",
           "IncSubtensor", "AdvancedIncSubtensor"]

INT64_MIN, INT64_MAX = -2**63, 2**63 - 1

_PYTHON_BOOL_MESSAGE = (
    "TensorType does not support Python bools for indexing, such as tensor[[True, False]]. "
    "To use a boolean mask, convert the mask to a NumPy array first, e.g., "
    "tensor[numpy.array([True, False])].")
_BOOL_MASK_MESSAGE = (
    "boolean mask indexing (x[mask]) is not supported: the result's shape would depend on "
    "the mask's values. Use integer indices, e.g. x[mask.nonzero()] computed in numpy, or "
    "T.switch(mask, x, 0) to keep the shape.")

# Variables made inside one ``x[...]`` on the way to its result (the view that applies the
# slices before advanced indexing): writing into them means writing into their base.
_CHAIN_LINKS = weakref.WeakSet()


# --- reading the index ----------------------------------------------------------------


class _Advanced:
    """An integer-array index (or an integer, when arrays are present), as a variable."""

    def __init__(self, var):
        self.var = var


def _python_bools_in(value):
    if isinstance(value, (bool, np.bool_)):
        return True
    if isinstance(value, (list, tuple)):
        return any(_python_bools_in(v) for v in value)
    return False


def _array_index(value, x):
    """A list/tuple/ndarray used as an index, as an integer tensor constant."""
    if isinstance(value, (list, tuple)):
        if _python_bools_in(value):
            raise TypeError(_PYTHON_BOOL_MESSAGE)
        if any(isinstance(v, Variable) for v in value):
            return as_tensor_variable(list(value))
        arr = np.asarray(value)
        if arr.size == 0:
            arr = arr.astype("int64")
    else:
        arr = value
    if arr.dtype.kind == "b":
        raise NotImplementedError(_BOOL_MASK_MESSAGE)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"indexing {label_of(x)}: index arrays must hold integers, got an array "
                        f"of dtype {arr.dtype}")
    if arr.dtype.name not in INT_DTYPES:
        if arr.size and (arr.min() < INT64_MIN or arr.max() > INT64_MAX):
            raise IndexError(f"indexing {label_of(x)}: index values do not fit in int64")
        arr = arr.astype("int64")
    return constant(arr)


def _integer_scalar(value, x, what):
    """A Python int for a constant integer, else the 0-d integer variable itself."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(_PYTHON_BOOL_MESSAGE)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, Variable):
        var = as_tensor_variable(value)
        if var.dtype == "bool":
            raise NotImplementedError(_BOOL_MASK_MESSAGE)
        if var.dtype not in INT_DTYPES:
            raise TypeError(f"indexing {label_of(x)}: {what} must be an integer, got "
                            f"{label_of(var)} of dtype {var.dtype}")
        if var.ndim != 0:
            raise TypeError(f"indexing {label_of(x)}: {what} must be a scalar, got "
                            f"{label_of(var)} with {var.ndim} dimensions")
        if isinstance(var, Constant):
            return int(var.data)
        return var
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iu":
        return int(value)
    raise TypeError(f"indexing {label_of(x)}: {what} must be an integer or a symbolic integer "
                    f"scalar, got {type(value).__name__} {value!r}")


def _read_entry(entry, x):
    """One element of an index tuple: None, Ellipsis, slice, an int (or 0-d int variable),
    or an ``_Advanced`` array."""
    if entry is None or entry is Ellipsis:
        return entry
    if isinstance(entry, slice):
        parts = [None if v is None else _integer_scalar(v, x, "a slice bound")
                 for v in (entry.start, entry.stop, entry.step)]
        if parts[2] == 0:
            raise ValueError(f"indexing {label_of(x)}: slice step cannot be zero")
        return slice(*parts)
    if isinstance(entry, (list, tuple)) or isinstance(entry, np.ndarray) and entry.ndim > 0:
        return _Advanced(_array_index(entry, x))
    if isinstance(entry, Variable) and as_tensor_variable(entry).ndim > 0:
        var = as_tensor_variable(entry)
        if var.dtype == "bool":
            raise NotImplementedError(_BOOL_MASK_MESSAGE)
        if var.dtype not in INT_DTYPES:
            raise TypeError(f"indexing {label_of(x)}: index arrays must hold integers, got "
                            f"{label_of(var)} of dtype {var.dtype}")
        return _Advanced(var)
    return _integer_scalar(entry, x, "an index")


def _expand(x, index):
    """The index as a list with one entry per axis of ``x`` (Ellipsis expanded, missing
    trailing axes as full slices), plus the None entries where they were."""
    if isinstance(index, list) and any(isinstance(e, slice) for e in index):
        index = tuple(index)   # Theano (and numpy before 1.23) read such a list as a tuple
    if not isinstance(index, tuple):
        index = (index,)
    entries = [_read_entry(e, x) for e in index]
    if sum(e is Ellipsis for e in entries) > 1:
        raise IndexError("an index can only have a single Ellipsis (`...`)")
    consumed = sum(e is not None and e is not Ellipsis for e in entries)
    if consumed > x.ndim:
        raise IndexError("too many indices for array")
    fill = [slice(None)] * (x.ndim - consumed)
    if Ellipsis in entries:
        at = entries.index(Ellipsis)
        return entries[:at] + fill + entries[at + 1:]
    return entries + fill


# --- x[index] ---------------------------------------------------------------------------


def getitem(x, index):
    """``x[index]`` with numpy's semantics (called by ``TensorVariable.__getitem__``)."""
    x = as_tensor_variable(x)
    entries = _expand(x, index)
    if any(isinstance(e, _Advanced) for e in entries):
        return _advanced_getitem(x, entries)
    axes = [e for e in entries if e is not None]
    view = x
    if _trim(axes) or None not in entries:
        view = _subtensor(x, axes)
    return _insert_new_axes(view, entries)


def _trim(axes):
    """``axes`` without the trailing full slices (they change nothing)."""
    axes = list(axes)
    while axes and isinstance(axes[-1], slice) and axes[-1] == slice(None):
        axes.pop()
    return axes


def _subtensor(x, axes):
    idx_list, scalars = [], []

    def part(v, lowest=INT64_MIN):
        if isinstance(v, Variable):
            scalars.append(v)
            return v.dtype
        return v if v is None else min(max(v, lowest), INT64_MAX)

    for e in _trim(axes):
        if isinstance(e, slice):
            # a step of -2**63 would have no negation in int64; -(2**63 - 1) selects the same
            idx_list.append(("slice", part(e.start), part(e.stop), part(e.step, -INT64_MAX)))
        elif isinstance(e, Variable):
            idx_list.append(("index", part(e)))
        else:
            if not INT64_MIN <= e <= INT64_MAX:
                raise IndexError(f"index {e} is out of bounds for {label_of(x)}")
            idx_list.append(("index", e))
    return Subtensor(idx_list)(x, *scalars)


def _insert_new_axes(view, entries):
    """``view`` (the indexed result without Nones) with the None axes inserted."""
    if None not in entries:
        return view
    order, axis = [], 0
    for e in entries:
        if e is None:
            order.append("x")
        elif isinstance(e, slice):
            order.append(axis)
            axis += 1
    return DimShuffle(view.broadcastable, order)(view)


def _advanced_getitem(x, entries):
    # integers become 0-d index arrays, as numpy treats them next to arrays
    entries = [_Advanced(e if isinstance(e, Variable) else constant(e, dtype="int64"))
               if isinstance(e, (int, Variable)) else e for e in entries]
    axes = [e for e in entries if e is not None]
    slices = [slice(None) if isinstance(e, _Advanced) else e for e in axes]
    view = x
    if _trim(slices):
        view = _subtensor(x, slices)
        _CHAIN_LINKS.add(view)
    pattern, arrays = [], []
    for e in axes:
        if isinstance(e, _Advanced):
            pattern.append(len(arrays))
            arrays.append(e.var)
        else:
            pattern.append(None)
    result = AdvancedSubtensor(pattern)(view, *arrays)
    if None not in entries:
        return result
    # numpy's layout with the None axes in place: the op's layout says where each axis is
    n_broadcast = max(v.ndim for v in arrays)
    op_layout = AdvancedSubtensor.layout(pattern, n_broadcast)
    wanted = advanced_layout(["new" if e is None else "array" if isinstance(e, _Advanced)
                              else "slice" for e in entries], n_broadcast)
    order = ["x" if item == "new" else op_layout.index(item) for item in wanted]
    return DimShuffle(result.broadcastable, order)(result)


def advanced_layout(kinds, n_broadcast):
    """numpy's result axes for an index with integer arrays.

    ``kinds`` has one entry per index element: "array" (an index array or an integer),
    "slice" (an axis kept whole) or "new" (None). The result lists ("b", j) for dim j of the
    arrays' broadcast shape, ("axis", a) for input axis a, and "new": the broadcast dims
    replace the arrays when those are adjacent, else they come first.
    """
    positions = [k for k, kind in enumerate(kinds) if kind == "array"]
    adjacent = positions[-1] - positions[0] + 1 == len(positions)
    broadcast = [("b", j) for j in range(n_broadcast)]
    layout = [] if adjacent else list(broadcast)
    axis = 0
    for k, kind in enumerate(kinds):
        if kind == "new":
            layout.append("new")
            continue
        if kind == "slice":
            layout.append(("axis", axis))
        elif adjacent and k == positions[0]:
            layout.extend(broadcast)
        axis += 1
    return layout


# --- the ops ----------------------------------------------------------------------------


def _check_scalar_inputs(op, scalars):
    expected = [v for e in op.idx_list for v in e[1:] if isinstance(v, str)]
    if len(scalars) != len(expected):
        raise TypeError(f"{op} takes {len(expected)} index scalars, got {len(scalars)}")
    result = []
    for s, dtype in zip(scalars, expected):
        s = as_tensor_variable(s)
        if s.ndim != 0 or s.dtype != dtype:
            raise TypeError(f"{op}: index {label_of(s)} must be a {dtype} scalar, got {s.type}")
        result.append(s)
    return result


def _entry_values(idx_list, scalars):
    """The idx_list with the symbolic values of this call filled in (Python ints)."""
    it = iter(int(s) for s in scalars)
    return [(e[0],) + tuple(next(it) if isinstance(v, str) else v for v in e[1:])
            for e in idx_list]


def _numpy_basic_index(x, idx_list, scalars, var):
    """The numpy index tuple for ``x``; integers checked with a message naming ``var``."""
    index = []
    for axis, e in enumerate(_entry_values(idx_list, scalars)):
        if e[0] == "index":
            size = x.shape[axis]
            if not -size <= e[1] < size:
                raise IndexError(f"index {e[1]} is out of bounds for axis {axis} of "
                                 f"{label_of(var)} with size {size}")
            index.append(e[1])
        else:
            if e[3] == 0:
                raise ValueError(f"slice step cannot be zero (axis {axis} of {label_of(var)})")
            index.append(slice(e[1], e[2], e[3]))
    return tuple(index)


def _c_entries(idx_list, first_input):
    """The idx_list for a template: each value None, ("const", v) or ("input", position)."""
    position = first_input
    entries = []
    for e in idx_list:
        values = []
        for v in e[1:]:
            if isinstance(v, str):
                values.append(("input", position))
                position += 1
            else:
                values.append(None if v is None else ("const", v))
        entries.append({"kind": e[0], "values": values})
    return entries


def _format_idx_list(idx_list):
    parts = []
    for e in idx_list:
        text = [("" if v is None else str(v)) for v in e[1:]]
        parts.append(text[0] if e[0] == "index" else
                     ":".join(text[:2]) + (f":{text[2]}" if e[3] is not None else ""))
    return ", ".join(parts)


def _basic_result_broadcastable(idx_list, x):
    """Axes kept by a slice are broadcastable only if they were and the slice keeps the
    whole (length-1) axis; integer-indexed axes are dropped."""
    bcast = []
    for axis, e in enumerate(idx_list):
        if e[0] == "slice":
            full = e[1] is None and e[2] is None and not isinstance(e[3], str)
            bcast.append(x.broadcastable[axis] and full)
    return tuple(bcast) + x.broadcastable[len(idx_list):]


def _checked_idx_list(idx_list):
    """``idx_list`` as nested tuples; a constant step of 0 is refused here, once, since the C
    templates take constant steps as valid (symbolic steps are checked at run time)."""
    idx_list = tuple(tuple(e) for e in idx_list)
    for axis, e in enumerate(idx_list):
        if e[0] == "slice" and isinstance(e[3], int) and not isinstance(e[3], bool) \
                and e[3] == 0:
            raise ValueError(f"slice step cannot be zero (axis {axis})")
    return idx_list


class Subtensor(Op):
    """Basic indexing: a view of ``x``.

    ``idx_list`` has one entry per leading indexed axis: ``("index", v)`` or
    ``("slice", start, stop, step)``, each value None (slices only), a Python int, or the
    dtype name of a symbolic scalar input (they follow ``x``, in order).
    """

    __props__ = ("idx_list",)
    c_template = "ops/subtensor.c.j2"
    output_types_depend_only_on_input_types = True   # x's type and idx_list

    def __init__(self, idx_list):
        self.idx_list = _checked_idx_list(idx_list)

    def __str__(self):
        return f"Subtensor{{{_format_idx_list(self.idx_list)}}}"

    def constant_slice(self) -> "slice | None":
        """The slice this op takes when it is one slice of constant bounds (``v[2:]``), else
        None: shape_ops.shape_entries reads the length of ``x.shape[2:]`` through it
        (shape_ops is below this module, so it asks the op rather than importing it)."""
        if len(self.idx_list) == 1 and self.idx_list[0][0] == "slice" \
                and not any(isinstance(v, str) for v in self.idx_list[0][1:]):
            return slice(*self.idx_list[0][1:])
        return None

    def make_node(self, x, *scalars):
        x = as_tensor_variable(x)
        if len(self.idx_list) > x.ndim:
            raise IndexError("too many indices for array")
        scalars = _check_scalar_inputs(self, scalars)
        out_type = TensorType(x.dtype, _basic_result_broadcastable(self.idx_list, x))
        return Apply(self, [x] + scalars, [TensorVariable(out_type)])

    def perform(self, node, inputs):
        x, scalars = inputs[0], inputs[1:]
        index = _numpy_basic_index(x, self.idx_list, scalars, node.inputs[0])
        return [np.asarray(x[index])]

    def L_op(self, inputs, outputs, output_grads):
        """Zeros shaped like ``x`` with ``gz`` written into the region this op read."""
        x, scalars = inputs[0], inputs[1:]
        gz = _as_dtype(output_grads[0], x.dtype)
        gx = IncSubtensor(self.idx_list)(_zeros_like(x), gz, *scalars)
        return [gx] + [None] * len(scalars)

    def c_params(self, node):
        return {"entries": _c_entries(self.idx_list, 1)}


class IncSubtensor(Op):
    """``x`` with the basic-indexed region ``x[idx_list]`` incremented by (or set to) ``y``;
    a new array. Inputs: x, y, then the symbolic index scalars (as for Subtensor)."""

    __props__ = ("idx_list", "set_instead_of_inc")
    c_template = "ops/inc_subtensor.c.j2"
    output_types_depend_only_on_input_types = True   # x's type

    def __init__(self, idx_list, set_instead_of_inc=False):
        self.idx_list = _checked_idx_list(idx_list)
        self.set_instead_of_inc = bool(set_instead_of_inc)

    def __str__(self):
        kind = "Set" if self.set_instead_of_inc else "Inc"
        return f"{kind}Subtensor{{{_format_idx_list(self.idx_list)}}}"

    def make_node(self, x, y, *scalars):
        x, y = as_tensor_variable(x), as_tensor_variable(y)
        scalars = _check_scalar_inputs(self, scalars)
        region_ndim = len(_basic_result_broadcastable(self.idx_list, x))
        _check_value(x, y, region_ndim)
        return Apply(self, [x, y] + scalars, [TensorVariable(x.type)])

    def perform(self, node, inputs):
        x, y, scalars = inputs[0], inputs[1], inputs[2:]
        out = x.copy()
        index = _numpy_basic_index(out, self.idx_list, scalars, node.inputs[0])
        _check_broadcast_into(np.shape(out[index]), y, node)
        if self.set_instead_of_inc:
            out[index] = y
        else:
            out[index] += y
        return [out]

    def L_op(self, inputs, outputs, output_grads):
        """x gets ``gz`` (its region zeroed when setting: those values were overwritten); y
        gets the region of ``gz``, summed over the positions y was broadcast to."""
        x, y, scalars = inputs[0], inputs[1], inputs[2:]
        gz = _as_dtype(output_grads[0], x.dtype)
        gx = gz
        if self.set_instead_of_inc:
            gx = IncSubtensor(self.idx_list, True)(gz, _zero(gz), *scalars)
        gy = _sum_into(Subtensor(self.idx_list)(gz, *scalars), y)
        return [gx, gy] + [None] * len(scalars)

    def c_params(self, node):
        return {"entries": _c_entries(self.idx_list, 2),
                "region_ndim": node.inputs[0].ndim - sum(e[0] == "index" for e in self.idx_list),
                "set_instead_of_inc": self.set_instead_of_inc}


def _check_value(x, y, region_ndim):
    if y.dtype != x.dtype:
        raise TypeError(f"the value {label_of(y)} ({y.dtype}) must have the dtype of "
                        f"{label_of(x)} ({x.dtype}); inc_subtensor casts it")
    if y.ndim > region_ndim:
        raise TypeError(f"Trying to increment a {region_ndim}-dimensional subtensor with a "
                        f"{y.ndim}-dimensional value.")


def _check_broadcast_into(region_shape, y, node):
    """``y`` must broadcast to the region's shape without growing it."""
    y_shape = np.shape(y)
    offset = len(region_shape) - len(y_shape)
    if offset < 0 or any(s != 1 and s != region_shape[offset + d] for d, s in enumerate(y_shape)):
        raise ValueError(f"cannot write {label_of(node.inputs[1])} of shape {shape_str(y_shape)} "
                         f"into the region of {label_of(node.inputs[0])} of shape "
                         f"{shape_str(region_shape)}: the shapes do not broadcast")


# --- gradient helpers ------------------------------------------------------------------


def _as_dtype(g, dtype):
    return cast(g, dtype)


def _zeros_like(x, dtype=None):
    return zeros_like(x, dtype=dtype)


def _zero(like):
    return constant(0, dtype=like.dtype)


def _sum_into(region_grad, y):
    """The gradient of the region (which ``y`` was broadcast into, from the right) summed
    back to ``y``'s shape."""
    lead = region_grad.ndim - y.ndim
    if lead:
        region_grad = reduce_sum(region_grad, axis=list(range(lead)))
    return sum_to_shape(region_grad, y)


def _may_repeat(indices):
    """False when constant index arrays provably name each position once (all of one sign,
    so -1 and n-1 cannot meet, and no repeated combination)."""
    if not all(isinstance(i, Constant) for i in indices):
        return True
    try:
        arrays = np.broadcast_arrays(*[i.data for i in indices])
    except ValueError:
        return True   # the forward op reports the mismatch when it runs
    if any(arr.size and arr.min() < 0 <= arr.max() for arr in arrays):
        return True
    combos = np.stack([arr.reshape(-1) for arr in arrays], axis=1) if arrays[0].size else None
    return combos is not None and len(np.unique(combos, axis=0)) != len(combos)


def _last_write_mask(pattern, x, indices, dtype):
    """1 at the region positions whose write survives a set with these indices, else 0:
    every region position writes its own number, and reads back which number won."""
    region = AdvancedSubtensor(pattern)(x, *indices)
    if region.ndim == 0:
        return constant(1, dtype=dtype)
    size = shape_i(region, 0)
    for d in range(1, region.ndim):
        size = mul(size, shape_i(region, d))
    numbers = reshape(arange(size), shape(region), ndim=region.ndim)
    written = AdvancedIncSubtensor(pattern, True)(_zeros_like(x, "int64"), numbers, *indices)
    return _as_dtype(eq(AdvancedSubtensor(pattern)(written, *indices), numbers), dtype)


class AdvancedSubtensor(Op):
    """Integer-array indexing: ``x[i0, :, i1]`` with numpy's semantics; a new array.

    ``pattern`` has one entry per axis of ``x``: None (a full slice) or the number of the
    index array (the inputs after ``x``) used on that axis. The index arrays broadcast
    together; their dimensions replace the indexed axes when those are adjacent, else they
    come first.
    """

    __props__ = ("pattern",)

    def short_name(self):
        return "adv_index"      # (C names: adv_index12, not advancedsubtensor12)
    c_template = "ops/advanced_subtensor.c.j2"
    output_types_depend_only_on_input_types = True   # x's, the indices' types

    def __init__(self, pattern):
        self.pattern = tuple(pattern)

    def __str__(self):
        return "AdvancedSubtensor{" + ", ".join(
            ":" if p is None else f"idx{p}" for p in self.pattern) + "}"

    @staticmethod
    def layout(pattern, n_broadcast):
        """The output axes: ('b', j) broadcast index dims and ('axis', a) full axes of x."""
        return advanced_layout(["slice" if p is None else "array" for p in pattern],
                               n_broadcast)

    def make_node(self, x, *indices):
        x = as_tensor_variable(x)
        indices = _check_index_arrays(self.pattern, x, indices)
        n_broadcast = max(i.ndim for i in indices)
        index_bcast = _index_broadcastable(indices, n_broadcast)
        bcast = tuple(index_bcast[item[1]] if item[0] == "b" else x.broadcastable[item[1]]
                      for item in self.layout(self.pattern, n_broadcast))
        return Apply(self, [x] + indices, [TensorVariable(TensorType(x.dtype, bcast))])

    def perform(self, node, inputs):
        x, indices = inputs[0], inputs[1:]
        index = _numpy_advanced_index(self.pattern, x, indices, node)
        return [np.asarray(x[index])]

    def L_op(self, inputs, outputs, output_grads):
        """Zeros shaped like ``x`` with ``gz`` added at the indexed positions: a position read
        several times (repeated indices) accumulates every gradient, as ``np.add.at``."""
        x, indices = inputs[0], inputs[1:]
        gz = _as_dtype(output_grads[0], x.dtype)
        gx = AdvancedIncSubtensor(self.pattern)(_zeros_like(x), gz, *indices)
        return [gx] + [None] * len(indices)

    def c_params(self, node):
        return _advanced_c_params(self.pattern, node, first_index=1)


class AdvancedIncSubtensor(Op):
    """``x`` with the region ``x[pattern...]`` (as AdvancedSubtensor) incremented by or set
    to ``y``; a new array. Repeated indices accumulate (like ``np.add.at``) when
    incrementing; when setting, the last write wins. Inputs: x, y, index arrays."""

    __props__ = ("pattern", "set_instead_of_inc")
    c_template = "ops/advanced_subtensor.c.j2"
    output_types_depend_only_on_input_types = True   # x's type

    def short_name(self):
        return "adv_set" if self.set_instead_of_inc else "adv_inc"

    def __init__(self, pattern, set_instead_of_inc=False):
        self.pattern = tuple(pattern)
        self.set_instead_of_inc = bool(set_instead_of_inc)

    def __str__(self):
        kind = "Set" if self.set_instead_of_inc else "Inc"
        return f"Advanced{kind}Subtensor{{" + ", ".join(
            ":" if p is None else f"idx{p}" for p in self.pattern) + "}"

    def make_node(self, x, y, *indices):
        x, y = as_tensor_variable(x), as_tensor_variable(y)
        indices = _check_index_arrays(self.pattern, x, indices)
        n_broadcast = max(i.ndim for i in indices)
        _check_value(x, y, len(AdvancedSubtensor.layout(self.pattern, n_broadcast)))
        return Apply(self, [x, y] + indices, [TensorVariable(x.type)])

    def perform(self, node, inputs):
        x, y, indices = inputs[0], inputs[1], inputs[2:]
        index = _numpy_advanced_index(self.pattern, x, indices, node)
        out = x.copy()
        region_shape = np.shape(out[index])
        _check_broadcast_into(region_shape, y, node)
        if self.set_instead_of_inc:
            out[index] = y
        else:
            # y broadcast first: numpy 2.4's add.at adds a y that must be broadcast over a
            # 2-d index once per row only (np.add.at(zeros(2), [[1, 1], [1, 1]], [4, 1])
            # gives 5 at 1, not 10)
            np.add.at(out, index, np.broadcast_to(y, region_shape))
        return [out]

    def L_op(self, inputs, outputs, output_grads):
        """As IncSubtensor's. When setting with repeated indices only the last write of a
        position reaches the output, so the earlier values written there get no gradient."""
        x, y, indices = inputs[0], inputs[1], inputs[2:]
        gz = _as_dtype(output_grads[0], x.dtype)
        gx = gz
        region_grad = AdvancedSubtensor(self.pattern)(gz, *indices)
        if self.set_instead_of_inc:
            gx = AdvancedIncSubtensor(self.pattern, True)(gz, _zero(gz), *indices)
            if _may_repeat(indices):
                region_grad = region_grad * _last_write_mask(self.pattern, x, indices,
                                                             region_grad.dtype)
        return [gx, _sum_into(region_grad, y)] + [None] * len(indices)

    def c_params(self, node):
        params = _advanced_c_params(self.pattern, node, first_index=2)
        params["set_instead_of_inc"] = self.set_instead_of_inc
        return params


def _check_index_arrays(pattern, x, indices):
    if len(pattern) != x.ndim:
        raise TypeError(f"advanced indexing pattern {pattern} has {len(pattern)} entries for "
                        f"{label_of(x)} with {x.ndim} dimensions")
    n_arrays = len([p for p in pattern if p is not None])
    if n_arrays == 0 or sorted(p for p in pattern if p is not None) != list(range(n_arrays)):
        raise ValueError(f"advanced indexing pattern {pattern} must number its index arrays "
                         f"0, 1, ...")
    if len(indices) != n_arrays:
        raise TypeError(f"advanced indexing takes {n_arrays} index arrays, got {len(indices)}")
    indices = [as_tensor_variable(i) for i in indices]
    for i in indices:
        if i.dtype not in INT_DTYPES:
            raise TypeError(f"index arrays must hold integers, got {label_of(i)} of dtype "
                            f"{i.dtype}")
    return indices


def _index_broadcastable(indices, n_broadcast):
    """Broadcastable flags of the index arrays' broadcast shape (right-aligned)."""
    flags = []
    for j in range(n_broadcast):
        flags.append(all(i.broadcastable[j - (n_broadcast - i.ndim)]
                         for i in indices if j >= n_broadcast - i.ndim))
    return flags


def _indexed_label(node, pattern):
    """How messages name the array an advanced index reads: when it is the view that applied
    the slices of the same ``x[...]``, that view's indexed axes are whole axes of its base,
    so the message names the base (``x``, not ``Subtensor{:, 1:}(x)``)."""
    var = node.inputs[0]
    owner = var.owner
    if owner is not None and isinstance(owner.op, Subtensor):
        entries = owner.op.idx_list
        if all(e[0] == "slice" for e in entries) and all(
                a >= len(entries) or entries[a][1:] == (None, None, None)
                for a, p in enumerate(pattern) if p is not None):
            return label_of(owner.inputs[0])
    return label_of(var)


def _numpy_advanced_index(pattern, x, indices, node):
    """The numpy index tuple; out-of-range entries and shape mismatches raise IndexError
    naming the indexed variable. As numpy, index arrays broadcast to an empty shape are not
    checked (nothing is read), except integers (0-d arrays)."""
    try:
        empty = 0 in np.broadcast_shapes(*[np.shape(i) for i in indices])
    except ValueError:
        shapes = " ".join(shape_str(np.shape(i)) for i in indices)
        raise IndexError(f"shape mismatch: indexing arrays for {_indexed_label(node, pattern)} "
                         f"could not be broadcast together with shapes {shapes}") from None
    index = []
    for axis, p in enumerate(pattern):
        if p is None:
            index.append(slice(None))
            continue
        values, size = np.asarray(indices[p]), x.shape[axis]
        bad = (values < -size) | (values >= size)
        if bad.any() and (values.ndim == 0 or not empty):
            raise IndexError(f"index {values[bad].flat[0]} is out of bounds for axis {axis} "
                             f"of {_indexed_label(node, pattern)} with size {size}")
        index.append(values.astype("int64"))
    return tuple(index)


def _advanced_c_params(pattern, node, first_index):
    """The values templates/ops/advanced_subtensor.c.j2 fills in: the static tables of the
    runtime's cg_advanced_index (C initialisers) and its mode."""
    x, indices = node.inputs[0], node.inputs[first_index:]
    n_broadcast = max(v.ndim for v in indices)
    layout = AdvancedSubtensor.layout(pattern, n_broadcast)
    writes = first_index == 2
    op = node.op
    mode = ("CG_ADV_SET" if op.set_instead_of_inc else "CG_ADV_INC") if writes \
        else "CG_ADV_READ"
    # plain C strings (not printf formats): the runtime prints them with %s
    labels = [_indexed_label(node, pattern)] + ([label_of(node.inputs[1]), label_of(x)]
                                                 if writes else [])
    return {
        "first_index": first_index,
        "writes": writes,
        "mode": mode,
        "n_broadcast": n_broadcast,
        "bshape_size": max(n_broadcast, 1),
        "region_ndim": len(layout),
        "nds": _c_list(v.ndim for v in indices),
        "index_dtypes": _c_list(f"CG_DT_{v.dtype.upper()}" for v in indices),
        # per axis of x: the number of its index array, -1 for a full slice
        "pattern_init": _c_list(-1 if p is None else p for p in pattern),
        # per region axis: dim j of the broadcast shape (j) or axis a of x (-a - 1)
        "layout_init": _c_list(j if kind == "b" else -j - 1 for kind, j in layout),
        "labels": [c_text(text) for text in labels],
    }


def _c_list(values):
    """The inside of a C array initialiser (a 0 for an empty array, which C does not have)."""
    return ", ".join(map(str, values)) or "0"


# --- writing into an indexed region ----------------------------------------------------


def set_subtensor(x, y, inplace=False, tolerate_inplace_aliasing=False):
    """The whole tensor that ``x`` was indexed from, with the region ``x`` set to ``y``.

    ``x`` must be the result of indexing (``x = a[...]``); ``y`` broadcasts into it and is
    cast to its dtype. The result is a new array; ``a`` is unchanged.
    """
    return inc_subtensor(x, y, inplace, set_instead_of_inc=True,
                         tolerate_inplace_aliasing=tolerate_inplace_aliasing)


def inc_subtensor(x, y, inplace=False, set_instead_of_inc=False,
                  tolerate_inplace_aliasing=False):
    """The whole tensor that ``x`` was indexed from, with ``y`` added to the region ``x``
    (or written there with ``set_instead_of_inc``). Repeated integer-array indices
    accumulate, like ``np.add.at``."""
    x = as_tensor_variable(x)
    y = as_tensor_variable(y)
    if not _is_indexing_result(x):
        raise TypeError("x must be the result of a subtensor operation")
    if y.ndim > x.ndim:
        raise TypeError(f"Trying to increment a {x.ndim}-dimensional subtensor with a "
                        f"{y.ndim}-dimensional value.")
    if y.dtype != x.dtype:
        y = cast(y, x.dtype)
    return _write(x, y, bool(set_instead_of_inc))


def _is_indexing_result(x):
    if x.owner is None:
        return False
    op = x.owner.op
    if isinstance(op, DimShuffle):
        return not op.dropped and _is_indexing_result(x.owner.inputs[0])
    return isinstance(op, (Subtensor, AdvancedSubtensor))


def _write(region, y, set_instead_of_inc):
    """The updated whole of what ``region`` was indexed from."""
    node = region.owner
    base = node.inputs[0]
    if isinstance(node.op, DimShuffle):
        return _write(base, _undo_dimshuffle(node.op, y, region.ndim), set_instead_of_inc)
    if isinstance(node.op, Subtensor):
        whole = IncSubtensor(node.op.idx_list, set_instead_of_inc)(base, y, *node.inputs[1:])
    else:
        whole = AdvancedIncSubtensor(node.op.pattern, set_instead_of_inc)(
            base, y, *node.inputs[1:])
    if base in _CHAIN_LINKS:
        # the region was a step inside one x[...]: write the updated step into its own base
        return _write(base, whole, True)
    return whole


def _undo_dimshuffle(op, y, ndim):
    """``y`` (shaped like the DimShuffle's output) rearranged like its input: the inserted
    axes are dropped (they must have length 1) and the others put back in order."""
    y = pad_left(y, ndim)
    kept = sorted((a, k) for k, a in enumerate(op.new_order) if a != "x")
    bcast = tuple(True if a == "x" else b for a, b in zip(op.new_order, y.broadcastable))
    # the claimed broadcastable flags let DimShuffle drop the axes; it checks their length
    return DimShuffle(bcast, [k for _, k in kept])(y)


# --- take -------------------------------------------------------------------------------


def take(a, indices, axis=None, mode="raise"):
    """``numpy.take``: the entries of ``a`` at ``indices`` along ``axis`` (of the flattened
    ``a`` when axis is None). Out-of-range indices raise IndexError."""
    a = as_tensor_variable(a)
    if mode != "raise":
        raise NotImplementedError(f"take(mode={mode!r}) is not supported; only mode='raise'")
    if axis is None:
        if a.ndim != 1:
            try:
                a = flatten(a, 1)
            except NotImplementedError:
                raise NotImplementedError(
                    "take(a, indices, axis=None) on a tensor with more than one dimension "
                    "needs flatten, which is not available yet; give an axis") from None
        axis = 0
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"take: axis {axis} is out of range for {label_of(a)} with "
                         f"{a.ndim} dimensions")
    return getitem(a, (slice(None),) * (axis % a.ndim) + (indices,))


register_operations(__name__, globals())   # the methods of tensor variables (var.py)
