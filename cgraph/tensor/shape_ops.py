"""Shape ops: building shape vectors, reshaping, joining, allocating, ranges; reading shapes
(Shape, Shape_i: shape_queries.py) and the filled-like constructors (math_ops.py) are
re-exported here.

A shape argument (``reshape``, ``alloc``, ``zeros``...) may be an int, a symbolic integer
scalar, a tuple or list mixing both, or an integer vector variable such as ``x.shape``. It is
turned into one int64 vector variable (``as_shape_vector``): a constant when every entry is
known, else a ``MakeVector``. What is known about its entries when the graph is built
(``shape_entries``) gives the static broadcastable pattern of the result: an entry that is a
constant 1 makes a broadcastable axis, as in Theano.
"""
import warnings

import numpy as np

from ..graph.basic import Apply, Constant, Op, Variable
from ..graph.labels import label_of
from .elemwise import DimShuffle, Elemwise, sum_to_shape
from .math_ops import cast, eq, mul
from .math_ops import fill, ones_like, second, zeros_like  # noqa: F401  (re-exported)
from .reduction import sum as reduce_sum
from .scalar_ops import upcast
from .shape_queries import Shape, Shape_i, is_python_int, shape, shape_i
from .shape_queries import shape_of  # noqa: F401  (re-exported)
from .type import TensorType, is_int, resolve_dtype, shape_str
from .var import TensorVariable, as_tensor_variable, constant, register_operations


# --- what is known about shape values when the graph is built ----------------------------

def constant_int_or_none(var):
    """The value of an integer scalar variable if it is fixed when the graph is built.

    Sees through constants, ``Shape_i`` of a broadcastable axis (always 1) and integer casts.
    """
    if isinstance(var, Constant):
        data = var.data
        if data.ndim == 0 and data.dtype.kind in "iu":
            return int(data)
        return None
    owner = var.owner
    if owner is None:
        return None
    if isinstance(owner.op, Shape_i):
        return 1 if owner.inputs[0].broadcastable[owner.op.i] else None
    if isinstance(owner.op, Elemwise) and owner.op.scalar_op.name.startswith("cast_") \
            and is_int(var.dtype):
        return constant_int_or_none(owner.inputs[0])
    return None


def shape_entries(vector):
    """Per entry of an integer vector, its value if known when the graph is built, else None.

    Returns None when even the vector's length is unknown.
    """
    if isinstance(vector, Constant):
        return [int(v) for v in vector.data.reshape(-1)]
    owner = vector.owner
    if owner is not None and isinstance(owner.op, MakeVector):
        return [constant_int_or_none(v) for v in owner.inputs]
    if owner is not None and isinstance(owner.op, Shape):
        return [1 if b else None for b in owner.inputs[0].broadcastable]
    if owner is not None and isinstance(owner.op, Elemwise) and len(owner.inputs) == 1 \
            and owner.op.scalar_op.name.startswith("cast_"):
        return shape_entries(owner.inputs[0])
    constant_slice = getattr(owner.op, "constant_slice", None) if owner is not None else None
    if constant_slice is not None and constant_slice() is not None:
        # x.shape[2:]: a constant slice (Subtensor's) of a vector whose length is known
        entries = shape_entries(owner.inputs[0])
        return None if entries is None else entries[constant_slice()]
    if vector.broadcastable == (True,):
        return [None]
    return None


def get_vector_length(vector):
    """The length of a symbolic vector, when it is known at graph-building time."""
    vector = as_tensor_variable(vector)
    if vector.ndim != 1:
        raise TypeError(f"argument must be a vector, got {vector!r} with {vector.ndim} dimensions")
    entries = shape_entries(vector)
    if entries is None:
        raise ValueError(f"length of {vector!r} is not known when the graph is built")
    return len(entries)


def _static_broadcastable(entries):
    return tuple(e == 1 for e in entries)


# --- turning user shape arguments into int64 vectors -------------------------------------

def _as_int_scalar(value, what):
    """``value`` as a 0-d integer variable, or a TypeError naming ``what``."""
    if is_python_int(value):
        return constant(int(value), dtype="int64")
    if isinstance(value, Variable):
        var = as_tensor_variable(value)
        if var.ndim != 0:
            raise TypeError(f"{what} must be an integer scalar, got {var!r} with {var.ndim} "
                            f"dimensions")
        if not is_int(var.dtype):
            raise TypeError(f"{what} must be an integer, got {var!r} of dtype {var.dtype}")
        return var
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iu":
        return constant(int(value), dtype="int64")
    raise TypeError(f"{what} must be an integer, got {type(value).__name__} {value!r}")


def as_shape_vector(shape, what="shape"):
    """The int64 vector variable for a shape given as int, scalar, tuple/list or int vector."""
    if isinstance(shape, Variable):
        var = as_tensor_variable(shape)
        if var.ndim == 0:
            return as_shape_vector([var], what)
        if var.ndim != 1:
            raise TypeError(f"{what} must be an integer vector, got {var!r} with {var.ndim} "
                            f"dimensions")
        if not is_int(var.dtype):
            raise TypeError(f"{what} must be an integer vector, got {var!r} of dtype {var.dtype}")
        if var.dtype == "int64":
            return var
        return cast(var, "int64")
    if isinstance(shape, np.ndarray):
        if shape.ndim > 1 or (shape.size and shape.dtype.kind not in "iu"):
            raise TypeError(f"{what} must be a 1-d array of integers, got an array of dtype "
                            f"{shape.dtype} and shape {shape_str(shape.shape)}")
        shape = [int(s) for s in shape.reshape(-1)]
    if not isinstance(shape, (list, tuple)):
        shape = [shape]
    entries = [_as_int_scalar(s, f"{what} entry {k}") for k, s in enumerate(shape)]
    if all(isinstance(e, Constant) for e in entries):
        return constant(np.array([int(e.data) for e in entries], dtype="int64"))
    return MakeVector("int64")(*entries)


# --- MakeVector, Rebroadcast ----------------------------------------------------------

class Rebroadcast(Op):
    """``x`` (a view) with the broadcastable pattern ``pattern``; axes made broadcastable
    are checked to have length 1 at run time. Theano's addbroadcast/unbroadcast/patternbroadcast.
    """

    __props__ = ("pattern",)
    c_template = "ops/rebroadcast.c.j2"

    def __init__(self, pattern):
        self.pattern = tuple(bool(b) for b in pattern)

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.ndim != len(self.pattern):
            raise ValueError(f"broadcastable pattern {self.pattern} has {len(self.pattern)} "
                             f"entries but {x!r} has {x.ndim} dimensions")
        return Apply(self, [x], [TensorVariable(TensorType(x.dtype, self.pattern))])

    def perform(self, node, inputs):
        (x,) = inputs
        for d in self._checked(node):
            if x.shape[d] != 1:
                raise ValueError(f"axis {d} of {node.inputs[0]!r} is declared broadcastable, "
                                 f"so it must have length 1, but it has length {x.shape[d]}")
        return [x]

    def _checked(self, node):
        return [d for d, b in enumerate(self.pattern) if b and not node.inputs[0].broadcastable[d]]

    def c_params(self, node):
        return {"checked": self._checked(node)}

    def L_op(self, inputs, outputs, output_grads):
        return [patternbroadcast(output_grads[0], inputs[0].broadcastable)]


def patternbroadcast(x, broadcastable):
    """``x`` with exactly the broadcastable pattern given (checked at run time)."""
    x = as_tensor_variable(x)
    if tuple(broadcastable) == x.broadcastable:
        return x
    return Rebroadcast(broadcastable)(x)


def addbroadcast(x, *axes):
    """``x`` with ``axes`` declared broadcastable (they must have length 1 at run time)."""
    x = as_tensor_variable(x)
    return patternbroadcast(x, [b or d in axes for d, b in enumerate(x.broadcastable)])


def unbroadcast(x, *axes):
    """``x`` with ``axes`` no longer broadcastable (they may change length later)."""
    x = as_tensor_variable(x)
    return patternbroadcast(x, [b and d not in axes for d, b in enumerate(x.broadcastable)])


class MakeVector(Op):
    """A vector of ``dtype`` from scalar variables: ``MakeVector('int64')(n, m)``."""

    __props__ = ("dtype",)
    c_template = "ops/make_vector.c.j2"

    def __init__(self, dtype="int64"):
        self.dtype = resolve_dtype(dtype)

    def make_node(self, *inputs):
        inputs = [as_tensor_variable(x) for x in inputs]
        for k, x in enumerate(inputs):
            if x.ndim != 0:
                raise TypeError(f"MakeVector: input {k} ({x!r}) has {x.ndim} dimensions; only "
                                f"scalars can be packed into a vector")
            if not _fits(x, self.dtype):
                raise TypeError(f"MakeVector: input {k} ({x!r}) has dtype {x.dtype}, which "
                                f"cannot be stored in a {self.dtype} vector without loss")
        bcast = (len(inputs) == 1,)
        return Apply(self, inputs, [TensorVariable(TensorType(self.dtype, bcast))])

    def perform(self, node, inputs):
        return [np.array([v.item() for v in inputs], dtype=self.dtype).reshape(len(inputs))]

    def L_op(self, inputs, outputs, output_grads):
        (gz,) = output_grads
        return [gz[k] for k in range(len(inputs))]


def _fits(var, dtype):
    """``var``'s values can be stored in ``dtype`` without loss (constants: by value)."""
    if np.can_cast(var.dtype, dtype, casting="safe"):
        return True
    if isinstance(var, Constant) and var.data.dtype.kind in "biu" and np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return info.min <= int(var.data) <= info.max
    return False


# --- Reshape and flatten -----------------------------------------------------------------

class Reshape(Op):
    """``x`` with a new shape of ``ndim`` entries (one may be -1, inferred); a view when ``x``
    is contiguous.

    Inputs: ``x`` and the int64 shape vector.
    """

    __props__ = ("ndim",)
    c_template = "ops/reshape.c.j2"
    view_map = {0: [0]}   # Theano's convention: output 0 may share input 0's buffer

    def __init__(self, ndim):
        self.ndim = int(ndim)

    def make_node(self, x, shape):
        x = as_tensor_variable(x)
        shape = as_shape_vector(shape, "reshape: the new shape")
        entries = _checked_entries(shape, self.ndim, "reshape: the new shape",
                                   f"reshape of {x!r}", allow_minus_one=True)
        out = TensorVariable(TensorType(x.dtype, _static_broadcastable(entries)))
        return Apply(self, [x, shape], [out])

    def perform(self, node, inputs):
        x, requested = inputs
        label = label_of(node.inputs[0])
        requested = _read_shape(requested, self.ndim, f"the new shape of {label}")
        req_text = shape_str(requested)
        if requested.count(-1) > 1:
            raise ValueError(f"cannot reshape {label} into shape {req_text}: only one "
                             f"dimension can be -1 (inferred)")
        for s in requested:
            if s < -1:
                raise ValueError(f"cannot reshape {label} into shape {req_text}: negative "
                                 f"dimension {s} (only -1, for an inferred dimension, is allowed)")
        known = int(np.prod([s for s in requested if s != -1], dtype=np.int64))
        target = list(requested)
        fits = known == x.size
        if -1 in requested:
            fits = known != 0 and x.size % known == 0
            if fits:
                target[requested.index(-1)] = x.size // known
        if not fits:
            raise ValueError(f"cannot reshape {label} of shape {shape_str(x.shape)} into shape "
                             f"{req_text}")
        return [np.reshape(x, target)]

    def L_op(self, inputs, outputs, output_grads):
        x = inputs[0]
        return [reshape(output_grads[0], shape(x), ndim=x.ndim), None]


def _read_shape(vector, ndim, what):
    if vector.shape[0] != ndim:
        raise ValueError(f"{what} has {vector.shape[0]} entries, but {ndim} were declared")
    return [int(v) for v in vector]


def _checked_entries(shape, ndim, name, what, allow_minus_one):
    """The entries of the shape vector (None where only known at run time), checked against
    ``ndim`` and, where constant, for negative (or repeated -1) lengths."""
    entries = shape_entries(shape)
    if entries is None:
        return [None] * ndim
    if len(entries) != ndim:
        raise ValueError(f"{name} has {len(entries)} entries but ndim={ndim}")
    _check_static_shape(entries, what, allow_minus_one=allow_minus_one)
    return entries


def _check_static_shape(entries, what, allow_minus_one):
    known = [e for e in entries if e is not None]
    if allow_minus_one and known.count(-1) > 1:
        raise ValueError(f"{what}: the new shape {_entries_str(entries)} has more than one -1 "
                         f"entry; only one dimension can be inferred")
    lowest = -1 if allow_minus_one else 0
    for e in known:
        if e < lowest:
            raise ValueError(f"{what}: negative dimension {e} in shape {_entries_str(entries)}")


def _entries_str(entries):
    return shape_str(["?" if e is None else e for e in entries])


def reshape(x, newshape, ndim=None):
    """``x`` reshaped to ``newshape`` (ints, symbolic scalars, or an int vector; one -1).

    ``ndim`` is needed when ``newshape`` is a symbolic vector whose length is unknown.
    """
    x = as_tensor_variable(x)
    shape_vec = as_shape_vector(newshape, "reshape: the new shape")
    entries = shape_entries(shape_vec)
    if ndim is None:
        if entries is None:
            raise TypeError(f"reshape of {x!r}: the new shape {shape_vec!r} is a symbolic vector "
                            f"whose length is not known when the graph is built; pass ndim=")
        ndim = len(entries)
    elif not is_python_int(ndim) or ndim < 0:
        raise TypeError(f"reshape: ndim must be a non-negative int, got {ndim!r}")
    return Reshape(ndim)(x, shape_vec)


def flatten(x, ndim=None, outdim=None):
    """``x`` with its first ``ndim - 1`` axes kept and the others collapsed into one."""
    x = as_tensor_variable(x)
    if outdim is not None:
        if ndim is not None and ndim != outdim:
            raise ValueError("flatten: pass ndim or its old name outdim, not both")
        ndim = outdim
    ndim = 1 if ndim is None else ndim
    if not is_python_int(ndim) or ndim < 1 or (ndim > 1 and ndim > x.ndim):
        raise ValueError(f"flatten: ndim {ndim!r} out of bound [1, {x.ndim + 1})")
    if ndim == 1:
        return reshape(x, (-1,))
    # No -1 here: numpy refuses to infer a dimension when the array is empty.
    kept = [_static_or_shape_i(x, d) for d in range(ndim - 1)]
    rest = range(ndim - 1, x.ndim)
    if all(x.broadcastable[d] for d in rest):
        collapsed = 1
    else:
        collapsed = shape_i(x, rest[0])
        for d in rest[1:]:
            if not x.broadcastable[d]:
                collapsed = mul(collapsed, shape_i(x, d))
    return reshape(x, kept + [collapsed])


def _static_or_shape_i(x, d):
    return 1 if x.broadcastable[d] else shape_i(x, d)


# --- Join and the stacking functions -----------------------------------------------------

class Join(Op):
    """The inputs concatenated along ``axis``; they agree on every other axis."""

    __props__ = ("axis",)
    c_template = "ops/join.c.j2"

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, *tensors):
        tensors = [as_tensor_variable(t) for t in tensors]
        if not tensors:
            raise ValueError("Cannot join an empty list of tensors")
        ndim = tensors[0].ndim
        for t in tensors[1:]:
            if t.ndim != ndim:
                raise TypeError(f"Join() can only join tensors with the same number of "
                                f"dimensions: {tensors[0]!r} has {ndim}, {t!r} has {t.ndim}")
        if ndim == 0:
            raise TypeError("Join cannot join 0-d tensors; use stack to make a vector of scalars")
        if not 0 <= self.axis < ndim:
            raise IndexError(f"Join axis {self.axis} out of bounds [0, {ndim})")
        bcast = [any(t.broadcastable[d] for t in tensors) for d in range(ndim)]
        bcast[self.axis] = len(tensors) == 1 and tensors[0].broadcastable[self.axis]
        dtype = upcast(*[t.dtype for t in tensors])
        return Apply(self, tensors, [TensorVariable(TensorType(dtype, bcast))])

    def perform(self, node, inputs):
        first = inputs[0]
        for var, value in zip(node.inputs[1:], inputs[1:]):
            others_differ = any(value.shape[d] != first.shape[d]
                                for d in range(first.ndim) if d != self.axis)
            if others_differ:
                raise ValueError(
                    f"cannot join {label_of(node.inputs[0])} of shape {shape_str(first.shape)} "
                    f"and {label_of(var)} of shape {shape_str(value.shape)} along axis "
                    f"{self.axis}: all inputs must have the same shape except along the join "
                    f"axis")
        out_dtype = node.outputs[0].dtype
        return [np.concatenate([v.astype(out_dtype, copy=False) for v in inputs], axis=self.axis)]

    def c_params(self, node):
        return {"axis": self.axis, "broadcast": False}

    def L_op(self, inputs, outputs, output_grads):
        """Each input's gradient is its slab of the output's gradient (the sizes along the
        axis are read at run time). An input declared broadcastable along the axis (length 1,
        as each input of ``stack``) gets its row by an integer index, so its gradient stays
        broadcastable there too."""
        (gz,) = output_grads
        lead = (slice(None),) * self.axis
        grads, start = [], 0
        for t in inputs:
            if t.broadcastable[self.axis]:
                grads.append(shape_padaxis(gz[lead + (start,)], self.axis))
                start = start + 1
            else:
                stop = start + shape_i(t, self.axis)
                grads.append(gz[lead + (slice(start, stop),)])
                start = stop
        return grads


class BroadcastJoin(Join):
    """Join whose inputs broadcast on the other axes, as numpy's broadcasting does: a length
    1 there repeats to the others' length. ``dot(u1.T, b1) - dot(u2.T, b2)`` broadcasts a
    product of one row against one of many; joined into one product (rewrite/gemm.py), the
    operands are joined this way so that the one product computes the same sum."""

    def make_node(self, *tensors):
        node = super().make_node(*tensors)
        bcast = [all(t.broadcastable[d] for t in node.inputs) for d in range(node.inputs[0].ndim)]
        bcast[self.axis] = node.outputs[0].broadcastable[self.axis]
        return Apply(self, node.inputs, [TensorVariable(TensorType(node.outputs[0].dtype, bcast))])

    def perform(self, node, inputs):
        lengths = list(inputs[0].shape)
        for var, value in zip(node.inputs, inputs):
            for d in range(value.ndim):
                if d == self.axis or value.shape[d] == 1 or value.shape[d] == lengths[d]:
                    continue
                if lengths[d] != 1:
                    raise ValueError(
                        f"cannot join {label_of(node.inputs[0])} of shape "
                        f"{shape_str(inputs[0].shape)} and {label_of(var)} of shape "
                        f"{shape_str(value.shape)} along axis {self.axis}: the other axes "
                        f"must be of the same length or 1")
                lengths[d] = value.shape[d]
        out_dtype = node.outputs[0].dtype
        parts = []
        for value in inputs:
            lengths[self.axis] = value.shape[self.axis]
            parts.append(np.broadcast_to(value, tuple(lengths)).astype(out_dtype, copy=False))
        return [np.concatenate(parts, axis=self.axis)]

    def c_params(self, node):
        return {"axis": self.axis, "broadcast": True}

    def L_op(self, inputs, outputs, output_grads):
        """Join's slabs, each summed back over the axes its input was broadcast on."""
        grads = super().L_op(inputs, outputs, output_grads)
        return [sum_to_shape(g, t) for g, t in zip(grads, inputs)]


def _as_axis(axis, what):
    if isinstance(axis, Constant) and axis.data.ndim == 0 and axis.data.dtype.kind in "iu":
        return int(axis.data)
    if not is_python_int(axis):
        raise TypeError(f"{what}: the axis must be a constant integer, got {axis!r}")
    return int(axis)


def join(axis, *tensors_list):
    """The tensors concatenated along ``axis`` (negative counts from the end)."""
    axis = _as_axis(axis, "join")
    tensors = [as_tensor_variable(t) for t in tensors_list]
    if len(tensors) == 1:
        return tensors[0]
    ndim = tensors[0].ndim if tensors else 0
    if axis < 0 and tensors:
        if axis < -ndim:
            raise IndexError(f"Join axis {axis} out of bounds [-{ndim}, {ndim})")
        axis += ndim
    return Join(axis)(*tensors)


def concatenate(tensor_list, axis=0):
    """``numpy.concatenate`` for symbolic tensors: same rank, same sizes off ``axis``."""
    if not isinstance(tensor_list, (list, tuple)):
        raise TypeError("The 'tensors' argument must be either a tuple or a list, make sure "
                        "you did not forget () or [] around arguments of concatenate.",
                        tensor_list)
    return join(axis, *tensor_list)


def shape_padleft(t, n_ones=1):
    """``t`` with ``n_ones`` broadcastable axes added on the left."""
    t = as_tensor_variable(t)
    return DimShuffle(t.broadcastable, ["x"] * n_ones + list(range(t.ndim)))(t)


def shape_padright(t, n_ones=1):
    """``t`` with ``n_ones`` broadcastable axes added on the right."""
    t = as_tensor_variable(t)
    return DimShuffle(t.broadcastable, list(range(t.ndim)) + ["x"] * n_ones)(t)


def shape_padaxis(t, axis):
    """``t`` with a broadcastable axis inserted at ``axis`` (negative counts from the end)."""
    t = as_tensor_variable(t)
    ndim = t.ndim + 1
    if not -ndim <= axis < ndim:
        raise IndexError(f"axis {axis} is out of bounds [-{ndim}, {ndim})")
    axis = axis % ndim
    pattern = list(range(t.ndim))
    pattern.insert(axis, "x")
    return DimShuffle(t.broadcastable, pattern)(t)


def stack(*tensors, **kwargs):
    """The tensors stacked along a new axis: ``stack(tensors, axis=0)``.

    The old form ``stack(*tensors)`` still works, with a DeprecationWarning. Scalars are
    packed with ``MakeVector``.
    """
    unknown = set(kwargs) - {"axis", "tensors"}
    if unknown:
        raise TypeError(f"stack() got unexpected keyword arguments {sorted(unknown)}")
    if not tensors and not kwargs:
        raise TypeError("stack(tensors, axis) must have at least one parameter")
    if "tensors" in kwargs:
        if tensors:
            raise TypeError("stack() got multiple values for 'tensors'")
        tensors, axis = kwargs["tensors"], kwargs.get("axis", 0)
    elif not kwargs and not isinstance(tensors[0], (list, tuple)):
        warnings.warn("stack(*tensors) interface is deprecated, use stack(tensors, axis=0) "
                      "instead.", DeprecationWarning, stacklevel=2)
        axis = 0
    else:
        if len(tensors) > 2:
            raise TypeError("stack(tensors, axis=0) takes at most two positional arguments")
        axis = tensors[1] if len(tensors) == 2 else kwargs.get("axis", 0)
        tensors = tensors[0]
    if len(tensors) == 0:
        raise ValueError("tensors is empty. You should at least provide one tensor to "
                         "stack(tensors, axis).")
    tensors = [as_tensor_variable(t) for t in tensors]
    if all(t.ndim == 0 for t in tensors):
        return MakeVector(upcast(*[t.dtype for t in tensors]))(*tensors)
    axis = _as_axis(axis, "stack")
    return join(axis, *[shape_padaxis(t, axis) for t in tensors])


def horizontal_stack(*args):
    """Matrices side by side (``concatenate(args, axis=1)``)."""
    return concatenate(_matrices(args, "horizontal_stack"), axis=1)


def vertical_stack(*args):
    """Matrices one above the other (``concatenate(args, axis=0)``)."""
    return concatenate(_matrices(args, "vertical_stack"), axis=0)


def _matrices(args, what):
    if len(args) < 2:
        raise TypeError(f"{what} needs at least two matrices")
    args = [as_tensor_variable(a) for a in args]
    for a in args:
        if a.ndim != 2:
            raise TypeError(f"{what} only stacks matrices; {a!r} has {a.ndim} dimensions")
    return args


# --- Alloc and the filled constructors ---------------------------------------------------

class Alloc(Op):
    """A new array of the given shape holding ``value`` broadcast into it.

    Inputs: ``value`` (rank at most ``ndim``) and the int64 shape vector.
    """

    __props__ = ("ndim",)
    c_template = "ops/alloc.c.j2"

    def __init__(self, ndim):
        self.ndim = int(ndim)

    def make_node(self, value, shape):
        value = as_tensor_variable(value)
        shape = as_shape_vector(shape, "alloc: the shape")
        entries = _checked_entries(shape, self.ndim, "alloc: the shape", f"alloc of {value!r}",
                                   allow_minus_one=False)
        if value.ndim > self.ndim:
            raise TypeError(f"The Alloc value to use ({value!r}) has more dimensions "
                            f"({value.ndim}) than the specified shape ({self.ndim})")
        out = TensorVariable(TensorType(value.dtype, _static_broadcastable(entries)))
        return Apply(self, [value, shape], [out])

    def perform(self, node, inputs):
        value, requested = inputs
        label = label_of(node.inputs[0])
        target = _read_shape(requested, self.ndim, f"the shape of alloc of {label}")
        if any(s < 0 for s in target):
            raise ValueError(f"cannot allocate an array of shape {shape_str(target)} filled "
                             f"with {label}: negative dimensions are not allowed")
        lead = self.ndim - value.ndim
        for d, length in enumerate(value.shape):
            if length != 1 and length != target[lead + d]:
                raise ValueError(f"cannot broadcast {label} of shape {shape_str(value.shape)} "
                                 f"to shape {shape_str(target)}")
        return [np.array(np.broadcast_to(value, target))]

    def L_op(self, inputs, outputs, output_grads):
        """The value's gradient sums the output's over the axes it was broadcast along."""
        value = inputs[0]
        gz = output_grads[0]
        lead = self.ndim - value.ndim
        if lead:
            gz = reduce_sum(gz, axis=list(range(lead)))
        return [sum_to_shape(gz, value), None]


def alloc(value, *shape):
    """A new array of shape ``shape`` filled with ``value`` (broadcast): ``alloc(0., n, 3)``.

    ``shape`` may also be given as one tuple, list or integer vector (``alloc(v, x.shape)``).
    """
    if len(shape) == 1 and (isinstance(shape[0], (list, tuple, np.ndarray))
                            or isinstance(shape[0], Variable) and shape[0].ndim == 1):
        shape = shape[0]
    shape_vec = as_shape_vector(shape, "alloc: the shape")
    entries = shape_entries(shape_vec)
    if entries is None:
        raise TypeError(f"alloc: the shape {shape_vec!r} is a symbolic vector whose length is "
                        f"not known when the graph is built")
    return Alloc(len(entries))(value, shape_vec)


def _shape_argument(shape):
    """zeros/ones accept one int or scalar as the shape of a vector."""
    if isinstance(shape, (list, tuple)):
        return shape
    if isinstance(shape, Variable) and shape.ndim == 1:
        return shape
    return [shape]


def zeros(shape, dtype=None):
    """An array of zeros (dtype floatX unless given) of a possibly symbolic shape."""
    return alloc(np.array(0, dtype=resolve_dtype(dtype)), _shape_argument(shape))


def ones(shape, dtype=None):
    """An array of ones (dtype floatX unless given) of a possibly symbolic shape."""
    return alloc(np.array(1, dtype=resolve_dtype(dtype)), _shape_argument(shape))


# --- ranges ------------------------------------------------------------------------------

class ARange(Op):
    """``numpy.arange(start, stop, step)`` of dtype ``dtype`` from three scalars.

    The length is ``max(0, ceil((stop - start) / step))``; values are ``start + i * step``,
    computed in int64 when every argument is an integer, else in float64, then cast.
    """

    __props__ = ("dtype",)
    c_template = "ops/arange.c.j2"
    output_types_depend_only_on_input_types = True   # a vector of the op's dtype

    def __init__(self, dtype):
        self.dtype = resolve_dtype(dtype)

    def make_node(self, start, stop, step):
        args = [as_tensor_variable(a) for a in (start, stop, step)]
        for name, a in zip(("start", "stop", "step"), args):
            if a.ndim != 0:
                raise TypeError(f"arange: {name} must be a scalar, got {a!r} with {a.ndim} "
                                f"dimensions")
        return Apply(self, args, [TensorVariable(TensorType(self.dtype, (False,)))])

    def perform(self, node, inputs):
        start, stop, step = (v.item() for v in inputs)
        if step == 0:
            raise ValueError("step must not be zero")
        integral = all(v.dtype.kind in "biu" for v in inputs)
        if not integral and not np.isfinite((stop - start) / step):
            raise ValueError(f"cannot compute the length of a range from {start} to "
                             f"{stop} by {step}")
        if integral:
            # exact length, as Python's range (numpy's is computed through a float division
            # and comes out one short near the int64 limits); values wrap as the C code's
            length = max(0, (stop - start + step - (1 if step > 0 else -1)) // step)
            if length > np.iinfo(np.int64).max:
                raise ValueError("Maximum allowed size exceeded")
            values = np.empty(length, dtype="int64")    # refuses impossible sizes, as C
            values[:] = np.arange(length, dtype="int64")
            with np.errstate(over="ignore"):
                values = values * np.int64(step) + np.int64(start)
        else:
            values = np.arange(start, stop, step, dtype="float64")
        return [values.astype(self.dtype)]

    def c_params(self, node):
        return {"integral": all(v.dtype in ("bool",) or is_int(v.dtype) for v in node.inputs)}

    def L_op(self, inputs, outputs, output_grads):
        """Element i is ``start + i * step``: start gets the sum of the gradient, step its sum
        weighted by i. ``stop`` only sets the length (a step function of it): no gradient."""
        (gz,) = output_grads
        positions = arange(shape_i(outputs[0], 0), dtype=gz.dtype)
        return [reduce_sum(gz), None, reduce_sum(gz * positions)]


def arange(start, stop=None, step=1, dtype=None):
    """``numpy.arange`` for symbolic or constant scalars.

    dtype None follows Theano: the upcast of the arguments' dtypes, with every integer result
    widened to int64 (so ``arange(5)`` is int64 and ``arange(fscalar)`` float32).
    """
    if stop is None:
        start, stop = 0, start
    args = [as_tensor_variable(a) for a in (start, stop, step)]
    for name, a in zip(("start", "stop", "step"), args):
        if a.ndim != 0:
            raise TypeError(f"arange: {name} must be a scalar, got {a!r} with {a.ndim} "
                            f"dimensions")
    if dtype is None:
        dtype = upcast(*[a.dtype for a in args])
        if dtype == "bool" or is_int(dtype):
            dtype = "int64"
    return ARange(resolve_dtype(dtype))(*args)


def eye(n, m=None, k=0, dtype=None):
    """An ``n`` x ``m`` matrix with ones on diagonal ``k`` (dtype floatX unless given)."""
    dtype = resolve_dtype(dtype)
    n = _as_int_scalar(n, "eye: n")
    m = n if m is None else _as_int_scalar(m, "eye: m")
    k = _as_int_scalar(k, "eye: k")
    rows = shape_padright(arange(n))
    cols = shape_padleft(arange(m))
    return cast(eq(rows + k, cols), dtype)


def identity_like(x):
    """The identity matrix shaped like the matrix ``x``, of ``x``'s dtype."""
    x = as_tensor_variable(x)
    if x.ndim != 2:
        raise TypeError(f"identity_like needs a matrix, got {x!r} with {x.ndim} dimensions")
    return eye(shape_i(x, 0), shape_i(x, 1), dtype=x.dtype)


__all__ = ["Rebroadcast", "addbroadcast", "unbroadcast", "patternbroadcast", "Alloc", "ARange", "Join", "MakeVector", "Reshape", "Shape", "Shape_i", "alloc",
           "arange", "as_shape_vector", "concatenate", "constant_int_or_none", "eye", "fill",
           "flatten", "get_vector_length", "horizontal_stack", "identity_like", "join", "ones",
           "ones_like", "reshape", "second", "shape", "shape_entries", "shape_i", "shape_of",
           "shape_padaxis", "shape_padleft", "shape_padright", "stack", "vertical_stack",
           "zeros", "zeros_like"]


register_operations(__name__, globals())   # the methods of tensor variables (var.py)
