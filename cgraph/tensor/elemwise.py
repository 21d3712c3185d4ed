"""Elementwise ops (a scalar op mapped over broadcast inputs) and DimShuffle (axis views)."""
import numpy as np

from ..graph.basic import Apply, Op
from .type import C_TYPES, TensorType, shape_str
from .var import TensorVariable, as_tensor_variable


class Elemwise(Op):
    """Apply ``scalar_op`` elementwise, with numpy broadcasting.

    Inputs of lower rank are padded on the left with broadcastable axes (a DimShuffle), so
    every input of the node has the output's rank.
    """

    __props__ = ("scalar_op",)
    c_template = "ops/elemwise.c.j2"
    c_kernel_template = "ops/elemwise_kernel.c.j2"    # its loop over a row, at module level
    allocates_fresh_output = True
    # inputs of the output's rank stay as they are; the dtype comes from the scalar op's
    # rule on the input dtypes, the pattern from the inputs' (subclasses keep make_node)
    output_types_depend_only_on_input_types = True

    def __init__(self, scalar_op):
        self.scalar_op = scalar_op

    def __str__(self):
        return f"Elemwise{{{self.scalar_op.name}}}"

    def message_name(self):
        return self.scalar_op.name

    def short_name(self):
        return "fused" if hasattr(self.scalar_op, "c_body") else self.scalar_op.name.rstrip("_")

    def writes_inplace_safely(self, node):
        # element by element after its last possible failure; subclasses (XlogX...) are
        # not taken: their loops have not been checked for it
        return type(self) is Elemwise and not self.scalar_op.may_fail

    def make_node(self, *inputs):
        if len(inputs) != self.scalar_op.nin:
            raise TypeError(f"{self.scalar_op.name} takes {self.scalar_op.nin} inputs, "
                            f"got {len(inputs)}")
        inputs = [as_tensor_variable(x) for x in inputs]
        ndim = max(x.ndim for x in inputs)
        inputs = [pad_left(x, ndim) for x in inputs]
        in_dtypes = [x.dtype for x in inputs]
        _check_dtypes(self.scalar_op, in_dtypes, inputs)
        out_dtype = self.scalar_op.out_dtype(in_dtypes)
        bcast = tuple(all(x.broadcastable[d] for x in inputs) for d in range(ndim))
        return Apply(self, inputs, [TensorVariable(TensorType(out_dtype, bcast))])

    def perform(self, node, inputs):
        result = self.scalar_op.perform(inputs, node.outputs[0].dtype)
        if result.shape != np.broadcast_shapes(*[a.shape for a in inputs]):
            result = np.broadcast_to(result, np.broadcast_shapes(*[a.shape for a in inputs]))
        return [result]

    def L_op(self, inputs, outputs, output_grads):
        rule = self.scalar_op.grad   # a float op without a rule raises: no silent zero
        if rule is None:
            raise NotImplementedError(f"the gradient of {self.scalar_op.name} is not implemented")
        grads = rule(*inputs, outputs[0], output_grads[0])
        return [None if g is None else sum_to_shape(g, x) for g, x in zip(grads, inputs)]

    def c_params(self, node):
        nd = node.outputs[0].ndim
        args = [f"a{k}" for k in range(len(node.inputs))]
        if hasattr(self.scalar_op, "c_body"):
            statements, expr = self.scalar_op.c_body(args)
        else:
            in_dtypes = [x.dtype for x in node.inputs]
            compute = self.scalar_op.compute_dtypes(in_dtypes)
            converted = [f"(({_ctype(c)}){a})" if c != d else a
                         for a, c, d in zip(args, compute, in_dtypes)]
            statements, expr = [], self.scalar_op.c_code(converted, in_dtypes,
                                                         node.outputs[0].dtype)
        # inputs whose every axis is broadcastable hold one element: read once, before the loop
        scalar = [k for k, x in enumerate(node.inputs) if all(x.broadcastable) or nd == 0]
        return {
            "statements": statements,
            "expr": expr,
            "may_fail": self.scalar_op.may_fail,
            "scalar_inputs": scalar,
            "vector_inputs": [k for k in range(len(node.inputs)) if k not in scalar],
            "scalar_mask": f"{sum(1 << k for k in scalar):#x}ULL",
            "tail": loop_tail([v.dtype for v in node.inputs + node.outputs]
                              + list(self.scalar_op.temporary_dtypes)),
        }


def loop_tail(dtypes) -> int:
    """The elements of the smallest of ``dtypes`` (a loop's operands and the temporaries its
    body declares) in 64 bytes: a multiple of any vector width the loop can have. The
    runtime pads a flat loop's last elements to this many (elemwise_driver)."""
    return 64 // min([np.dtype(d).itemsize for d in dtypes] + [8])


def _ctype(dtype):
    return C_TYPES[dtype]


def _check_dtypes(scalar_op, in_dtypes, inputs):
    """Let numpy say whether the op is defined for these dtypes (e.g. no bool subtraction)."""
    try:
        with np.errstate(all="ignore"):
            scalar_op.perform([np.ones(1, dtype=d) for d in in_dtypes],
                              scalar_op.out_dtype(in_dtypes))
    except TypeError as exc:
        names = ", ".join(f"{x!r} ({x.dtype})" for x in inputs)
        raise TypeError(f"{scalar_op.name} is not defined for inputs {names}: {exc}") from None
    except (ZeroDivisionError, ValueError):
        pass   # the probe's ones may divide by zero (a composite k // (k - 1)): dtypes are fine


def pad_left(x, ndim):
    """``x`` with broadcastable axes added on the left up to ``ndim`` dimensions."""
    if x.ndim == ndim:
        return x
    return DimShuffle(x.broadcastable, ["x"] * (ndim - x.ndim) + list(range(x.ndim)))(x)


class DimShuffle(Op):
    """Reorder axes, insert broadcastable axes ('x') and drop broadcastable ones; a view.

    ``new_order`` lists, for each output axis, the input axis it comes from or 'x'.
    """

    __props__ = ("input_broadcastable", "new_order")
    c_template = "ops/dimshuffle.c.j2"
    output_types_depend_only_on_input_types = True   # the input's dtype and new_order's pattern

    def label_through(self, node):
        """The input, when this only adds broadcast axes (messages name x, not x.dimshuffle)."""
        kept = [a for a in self.new_order if a != "x"]
        if "x" in self.new_order and kept == list(range(node.inputs[0].ndim)):
            return node.inputs[0]
        return None

    def __init__(self, input_broadcastable, new_order):
        self.input_broadcastable = tuple(input_broadcastable)
        self.new_order = tuple(new_order)
        ndim = len(self.input_broadcastable)
        kept = [a for a in self.new_order if a != "x"]
        for a in kept:
            if not isinstance(a, (int, np.integer)) or not 0 <= a < ndim:
                raise ValueError(f"dimshuffle pattern {self.new_order} refers to axis {a!r} "
                                 f"of a {ndim}-dimensional input")
        if len(set(kept)) != len(kept):
            raise ValueError(f"dimshuffle pattern {self.new_order} repeats an axis")
        for a in range(ndim):
            if a not in kept and not self.input_broadcastable[a]:
                raise ValueError(f"dimshuffle pattern {self.new_order} drops axis {a}, which is "
                                 f"not broadcastable (only length-1 axes can be dropped)")
        self.dropped = tuple(a for a in range(ndim) if a not in kept)

    def __str__(self):
        return "DimShuffle{" + ",".join(str(a) for a in self.new_order) + "}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.broadcastable != self.input_broadcastable:
            if len(x.broadcastable) != len(self.input_broadcastable):
                raise TypeError(f"DimShuffle expected a {len(self.input_broadcastable)}-d "
                                f"input, got {x!r} with {x.ndim} dimensions")
        bcast = tuple(True if a == "x" else x.broadcastable[a] for a in self.new_order)
        return Apply(self, [x], [TensorVariable(TensorType(x.dtype, bcast))])

    def perform(self, node, inputs):
        (x,) = inputs
        for a in self.dropped:
            if x.shape[a] != 1:
                raise ValueError(f"DimShuffle drops axis {a} of {node.inputs[0]!r}, which has "
                                 f"shape {shape_str(x.shape)}: that axis must have length 1")
        kept = [a for a in self.new_order if a != "x"]
        y = np.transpose(x, kept + list(self.dropped))
        y = y.reshape(y.shape[:len(kept)]) if self.dropped else y
        shape = []
        it = iter(y.shape)
        for a in self.new_order:
            shape.append(1 if a == "x" else next(it))
        return [y.reshape(shape)]

    def L_op(self, inputs, outputs, output_grads):
        """Sum over the new axes, undo the permutation, restore the dropped axes."""
        from .reduction import sum as reduce_sum
        (gz,) = output_grads
        new_axes = [k for k, a in enumerate(self.new_order) if a == "x"]
        if new_axes:
            gz = reduce_sum(gz, axis=new_axes)
        kept = [a for a in self.new_order if a != "x"]
        inverse = [kept.index(a) if a in kept else "x" for a in range(len(self.input_broadcastable))]
        gz = DimShuffle(gz.broadcastable, inverse)(gz)
        return [gz]

    def c_params(self, node):
        return {"new_order": self.new_order, "dropped": self.dropped}


def sum_array_to_shape(g, shape, label):
    """``g`` summed over the axes where ``shape`` has length 1 and ``g`` does not (keeping
    them): the gradient of a broadcast variable. Any other length mismatch is an error naming
    the variable (``label``)."""
    axes = []
    for d, (lg, lx) in enumerate(zip(g.shape, shape)):
        if lg != lx:
            if lx != 1:
                raise ValueError(f"the gradient of {label} has length {lg} on axis {d} but "
                                 f"the variable has length {lx}")
            axes.append(d)
    return np.sum(g, axis=tuple(axes), keepdims=True, dtype=g.dtype) if axes else g


class SumToShape(Op):
    """``g`` summed over the axes where ``x`` has length 1 and ``g`` does not: the adjoint of
    broadcasting, which gives the gradient of a broadcast operand its own shape.

    Both inputs have the same rank. The decision is made at run time, so operands that were
    broadcast without being declared broadcastable get the right gradient too.
    """

    c_template = "ops/sum_to_shape.c.j2"
    output_types_depend_only_on_input_types = True   # g's dtype, x's pattern

    def short_name(self):
        return "sum_to"

    def make_node(self, g, x):
        g, x = as_tensor_variable(g), as_tensor_variable(x)
        if g.ndim != x.ndim:
            raise TypeError(f"SumToShape needs inputs of one rank, got {g.ndim} and {x.ndim}")
        return Apply(self, [g, x], [TensorVariable(TensorType(g.dtype, x.broadcastable))])

    def perform(self, node, inputs):
        g, x = inputs
        return [sum_array_to_shape(g, x.shape, repr(node.inputs[1]))]

    def L_op(self, inputs, outputs, output_grads):
        g, x = inputs
        from .math_ops import zeros_like
        return [broadcast_like(output_grads[0], g), zeros_like(x)]


def sum_to_shape(g, x):
    """``g`` reduced to the shape of ``x`` (see SumToShape); ``g`` itself when it cannot differ."""
    if g.type == x.type and g is x:
        return g
    return SumToShape()(g, x)


def broadcast_like(value, like):
    """``value`` broadcast to the shape of ``like`` (same rank), as an elementwise op does."""
    from .math_ops import second
    return second(like, value)
