"""``dot`` and ``outer``: float32/float64 products go through BLAS, other dtypes through loops;
the gradient of a product is two more products with transposed operands. ``Gemm`` is
``beta * z + alpha * dot(a, b)`` in one BLAS call, built by the gemm fusion rewrite.

``Dot`` multiplies an N-d tensor (N >= 1) by a vector or a matrix, following numpy's
``dot``: the last axis of the first operand is summed against the first axis of the second.
A 0-d operand makes the product elementwise; ``dot`` with a second operand of more than 2
dimensions is lowered to a transpose, reshapes and one Dot (tensordot.py).
"""
import numpy as np

from ..graph.basic import Apply, Constant, InplaceConditions, Op
from ..graph.labels import c_text, label_of
from .elemwise import loop_tail, pad_left
from .math_ops import cast
from .scalar_ops import upcast
from .shape_ops import reshape, shape_i
from .type import TensorType, shape_str
from .var import TensorVariable, as_tensor_variable

BLAS_DTYPES = ("float32", "float64")


class Dot(Op):
    """numpy's ``dot`` of ``a`` (N-d, N >= 1) and ``b`` (vector or matrix), of one dtype."""

    c_template = "ops/dot.c.j2"
    allocates_fresh_output = True
    # operands of one dtype are not cast again; the pattern joins the operands' patterns
    output_types_depend_only_on_input_types = True

    def __str__(self):
        return "Dot"

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        if a.ndim == 0 or b.ndim == 0:
            raise TypeError(f"Dot needs operands of at least 1 dimension, got {a!r} "
                            f"({a.ndim}-d) and {b!r} ({b.ndim}-d); dot() multiplies a "
                            f"0-d operand elementwise instead")
        if b.ndim > 2:
            raise NotImplementedError(
                f"dot of {a!r} ({a.ndim}-d) and {b!r} ({b.ndim}-d): a second operand of "
                f"more than 2 dimensions is not a Dot: use dot() or tensordot()")
        dtype = upcast(a.dtype, b.dtype)
        a, b = cast(a, dtype), cast(b, dtype)
        bcast = a.broadcastable[:-1] + b.broadcastable[1:]
        return Apply(self, [a, b], [TensorVariable(TensorType(dtype, bcast))])

    def perform(self, node, inputs):
        a, b = inputs
        if a.shape[-1] != b.shape[0]:
            raise ValueError(inner_mismatch_message(node, a.shape, b.shape))
        return [np.asarray(np.dot(a, b), dtype=node.outputs[0].dtype)]

    def L_op(self, inputs, outputs, output_grads):
        """Products with the other operand transposed: for z = a . b, da = gz . b^T and
        db = a^T . gz, where an N-d ``a`` (N > 2) is first seen as a matrix of its rows."""
        a, b = inputs
        (gz,) = output_grads
        if gz is None:
            return [None, None]
        if b.ndim == 1:
            # z has a's shape without its last axis: each z entry is a row of a times b
            ga = b * (gz if a.ndim == 1 else gz.dimshuffle(*range(a.ndim - 1), "x"))
            if a.ndim == 1:
                gb = gz * a
            else:
                gb = matrix_dot(_as_rows(gz, a.ndim), _as_rows(a, a.ndim))
            return [ga, gb]
        ga = matrix_dot(gz, b.T)
        if a.ndim == 1:
            gb = outer(a, gz)
        else:
            gb = matrix_dot(_as_rows(a, a.ndim).T, _as_rows(gz, a.ndim))
        return [ga, gb]

    def c_params(self, node):
        dtype = node.outputs[0].dtype
        return {"use_blas": dtype in BLAS_DTYPES, "blas_prefix": "s" if dtype == "float32" else "d"}


def inner_mismatch_message(node, a_shape, b_shape, operands=(0, 1)):
    """The error for operands whose inner dimensions differ, naming both (the node's
    inputs at the positions ``operands``)."""
    a, b = (label_of(node.inputs[k]) for k in operands)
    return (f"dot: {a} has shape {shape_str(a_shape)} but {b} has shape {shape_str(b_shape)}: "
            f"inner dimensions {a_shape[-1]} and {b_shape[0]} differ")


def _as_rows(x, a_ndim):
    """``x`` (a gradient or an operand of a dot whose first operand had ``a_ndim``
    dimensions) with all the axes coming from that operand's leading axes collapsed into one:
    (p, q, k) -> (p*q, k) and (p, q) -> (p*q,). Matrices and vectors come back unchanged."""
    lead = a_ndim - 1
    if lead <= 1:
        return x
    rows = shape_i(x, 0)
    for d in range(1, lead):
        rows = rows * shape_i(x, d)
    rest = [shape_i(x, d) for d in range(lead, x.ndim)]
    return reshape(x, [rows] + rest, ndim=1 + len(rest))


_dot = Dot()


def matrix_dot(a, b):
    """numpy's ``dot`` for a second operand of at most 2 dimensions: one Dot node, or the
    elementwise product when an operand is 0-d. ``dot`` (cgraph.tensor.tensordot) also
    takes second operands of more dimensions."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return _dot(a, b)


def outer(x, y):
    """The outer product of two vectors (other tensors are flattened first), as Theano's."""
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    if x.ndim != 1:
        x = x.flatten()
    if y.ndim != 1:
        y = y.flatten()
    return matrix_dot(x.dimshuffle(0, "x"), y.dimshuffle("x", 0))


class Gemm(Op):
    """``beta * z + alpha * dot(a, b)`` in one BLAS call (gemm, or gemv when an operand is a
    vector), as the gemm fusion rewrite builds it from the elementwise expression.

    Inputs: ``alpha, a, b, beta, *z_inputs``. ``a`` and ``b``: vectors or matrices, not both
    vectors; ``alpha``, ``beta``: 0-d; all of one float dtype. ``z`` is the one z input, or,
    with ``scalar_op`` (a Composite, set by the fusion rewrite), that op applied elementwise
    to the z inputs; it has the product's rank and broadcasts as in an elementwise op (a bias
    row is copied into every row of the result).

    The result is a new array: beta * z is first written into it, then BLAS adds alpha times
    the product in place, so no input's buffer is ever written. Where the product itself
    would be broadcast (an axis where it has length 1 and z does not) or alpha is 0 (BLAS
    would skip the product, so a NaN in it would not propagate), the product goes through a
    temporary instead. Rounding: BLAS adds the scaled product into z as it accumulates, so
    results may differ from ``z + alpha * dot(a, b)`` computed in two steps by an ulp or so.
    """

    __props__ = ("scalar_op",)
    c_template = "ops/gemm.c.j2"
    allocates_fresh_output = True

    def __init__(self, scalar_op=None):
        self.scalar_op = scalar_op

    def writes_inplace_safely(self, node):
        return True   # beta * z is written first, then BLAS adds the product into it

    def inplace_conditions(self, node, info, target):
        """BLAS must take the operands directly, the product must have the target's shape
        and nothing may fail once z is written (alpha = 0 would go through a temporary)."""
        alpha, a, b = (info[v] for v in node.inputs[:3])
        checks = [f"if (!cg_gemm_inplace_ok(&{a.name}, {a.ndim}, &{b.name}, {b.ndim}, "
                  f"*(const {alpha.ctype} *){alpha.name}.data != 0, &{target.name})) "
                  "cg_inplace = 0;"]
        return InplaceConditions(checks=checks, whole=list(node.inputs[:4]),
                                 elementwise=list(node.inputs[4:]), shape_checked=True)

    def __str__(self):
        return "Gemm" if self.scalar_op is None else f"Gemm{{{self.scalar_op.name}}}"

    def make_node(self, alpha, a, b, beta, *z_inputs):
        alpha, a, b, beta = (as_tensor_variable(v) for v in (alpha, a, b, beta))
        z_inputs = [as_tensor_variable(v) for v in z_inputs]
        if a.ndim not in (1, 2) or b.ndim not in (1, 2) or a.ndim + b.ndim == 2:
            raise TypeError(f"Gemm multiplies a matrix by a matrix or a vector, got {a!r} "
                            f"({a.ndim}-d) and {b!r} ({b.ndim}-d)")
        nin = 1 if self.scalar_op is None else self.scalar_op.nin
        if len(z_inputs) != nin:
            raise TypeError(f"{self} takes {nin} z input(s), got {len(z_inputs)}")
        product = a.broadcastable[:-1] + b.broadcastable[1:]
        if any(z.ndim > len(product) for z in z_inputs):
            raise TypeError(f"Gemm: the z inputs {z_inputs} have more dimensions than the "
                            f"product ({len(product)})")
        z_inputs = [pad_left(z, len(product)) for z in z_inputs]
        if alpha.ndim != 0 or beta.ndim != 0:
            raise TypeError(f"Gemm: alpha {alpha!r} and beta {beta!r} must be 0-d")
        z_dtype = self._z_dtype([z.dtype for z in z_inputs])
        dtypes = [v.dtype for v in (alpha, a, b, beta)] + [z_dtype]
        if len(set(dtypes)) != 1 or dtypes[0] not in BLAS_DTYPES:
            raise TypeError(f"Gemm needs alpha, a, b, beta and z of one float dtype, got "
                            f"{dtypes}")
        z_bcast = [all(z.broadcastable[d] for z in z_inputs) for d in range(len(product))]
        bcast = tuple(zb and pb for zb, pb in zip(z_bcast, product))
        return Apply(self, [alpha, a, b, beta] + z_inputs,
                     [TensorVariable(TensorType(z_dtype, bcast))])

    def _z_dtype(self, in_dtypes):
        if self.scalar_op is None:
            return in_dtypes[0]
        if tuple(in_dtypes) != tuple(self.scalar_op.in_dtypes):
            raise TypeError(f"{self} was built for z inputs of dtypes "
                            f"{self.scalar_op.in_dtypes}, got {tuple(in_dtypes)}")
        return self.scalar_op.out_dtype(in_dtypes)

    def perform(self, node, inputs):
        alpha, a, b, beta, *z_inputs = inputs
        dtype = node.outputs[0].dtype
        if a.shape[-1] != b.shape[0]:
            raise ValueError(inner_mismatch_message(node, a.shape, b.shape, operands=(1, 2)))
        if self.scalar_op is None:
            z = z_inputs[0]
        else:
            z = self.scalar_op.perform(z_inputs, dtype)
            z = np.broadcast_to(z, np.broadcast_shapes(*[v.shape for v in z_inputs]))
        product = np.dot(a, b)
        try:
            shape = np.broadcast_shapes(z.shape, product.shape)
        except ValueError:
            raise ValueError(f"{self}: shapes cannot be broadcast together: "
                             f"{self._z_label(node)} has shape {shape_str(z.shape)}, the "
                             f"product has shape {shape_str(product.shape)}") from None
        with np.errstate(all="ignore"):
            result = beta * z + alpha * product
        return [np.array(np.broadcast_to(result, shape), dtype=dtype)]

    def _z_label(self, node):
        if self.scalar_op is None:
            return label_of(node.inputs[4])
        return self.scalar_op.name

    def c_params(self, node):
        beta = node.inputs[3]
        dtype = node.outputs[0].dtype
        z_inputs = node.inputs[4:]
        args = [f"a{k}" for k in range(len(z_inputs))]
        if self.scalar_op is None:
            statements, expr = [], "a0"
        else:
            statements, expr = self.scalar_op.c_body(args)
        beta_is_one = isinstance(beta, Constant) and bool(np.all(beta.data == 1))
        scalar = [k for k, z in enumerate(z_inputs) if all(z.broadcastable)]
        if not beta_is_one:
            scalar.append(len(z_inputs))   # beta: the loop's last operand
        return {"blas_prefix": "s" if dtype == "float32" else "d",
                # a constant beta of 1 (z + alpha * a.b) copies z without multiplying
                "beta_is_one": beta_is_one,
                # the loop is out = beta * z: nothing to copy when out is z's own buffer
                # (beta, if not 1, is then the product's: cg_<p>gemm_node's c_beta)
                "z_copy": self.scalar_op is None and z_inputs[0].ndim == node.outputs[0].ndim,
                "z_scalar_mask": f"{sum(1 << k for k in scalar):#x}ULL",
                "tail": loop_tail([v.dtype for v in node.inputs[3:] + node.outputs]
                                  + list(() if self.scalar_op is None else
                                         self.scalar_op.temporary_dtypes)),
                "statements": statements, "expr": expr, "z_label": c_text(self._z_label(node)),
                # z inputs of one element are read once, before the loop
                "scalar_z": [k for k, z in enumerate(z_inputs) if all(z.broadcastable)],
                "vector_z": [k for k, z in enumerate(z_inputs) if not all(z.broadcastable)]}

    # out = beta * z is an elementwise loop over the z inputs (and beta), run by the runtime
    c_kernel_template = "ops/elemwise_kernel.c.j2"

    def c_kernel_context(self, node, context):
        """The loop's operands: the z inputs, then beta unless it is the constant 1."""
        ins = context["ins"]
        zs, scalar, expr = ins[4:], list(context["scalar_z"]), context["expr"]
        if not context["beta_is_one"]:
            zs = zs + [ins[3]]
            expr = f"a{len(zs) - 1} * ({context['outs'][0].ctype})({expr})"
            scalar.append(len(zs) - 1)
        return {**context, "ins": zs, "vector_inputs": context["vector_z"],
                "scalar_inputs": scalar, "expr": expr, "may_fail": False}


def gemm(z, alpha, a, b, beta):
    """``beta * z + alpha * dot(a, b)`` as one Gemm node."""
    return Gemm()(alpha, a, b, beta, z)
