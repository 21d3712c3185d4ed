"""Sums of broadcast products, factored: no large intermediate for a product that only exists
broadcast.

``sum((s.reshape((b, 1, h)) * W.reshape((1, v, h))) ** 2)`` (the contractive autoencoder's
penalty) is a sum over a b x v x h tensor of factors that each span two of its three axes.
Summing an axis that only some factors depend on can be done on those factors alone:

    sum_a(f * g) = f * sum_a(g)        when f has length 1 on axis a (broadcast along it)

so the penalty becomes ``sum_h(sum_b(s**2) * sum_v(W**2))`` and its gradient
``2 * s * sum_v(W**2)`` and ``2 * W * sum_b(s**2)``: nothing b x v x h is computed.

Two rewrites, run after stabilization (where ``x**2`` is ``sqr(x)`` and the gradient's
``second(x ** 2, v)`` reads ``x``):
- ``Sum{axes}(mul(...))``: the product's factors are collected through nested ``mul`` and
  ``sqr`` of a product (``sqr(a * b)`` is ``a * b * a * b``); a ``second(m, v)`` factor whose
  ``m`` is itself part of the product is ``v`` (the product keeps ``m``'s shape). Then, axis by
  axis, the factors that depend on the axis are summed over it (keeping it as a length-1
  axis) before the others multiply them, when those factors span fewer elements than the
  whole product (else factoring would save nothing and only change rounding).
- ``SumToShape(g, x)`` with ``g`` a product: the axes where ``x`` is declared broadcastable and
  ``g`` is not are summed first by a ``Sum`` (which the first rewrite then factors).

What "the same values" means: the sums are reassociated, so results differ in rounding (as
with any change of summation order). A factor holding inf or NaN that multiplies a sum over
an empty axis gives NaN where the unfactored sum of no elements gives 0; and a product that
overflows element by element (inf - inf = NaN in the sum) may give a finite result factored.
Only float products are rewritten, and only plain sums (no dtype override).
"""
from ..tensor import basic as T
from ..tensor.elemwise import Elemwise, SumToShape
from ..tensor.reduction import Reduce
from ..tensor.type import FLOAT_DTYPES


def _scalar_name(var):
    node = var.owner
    if node is not None and isinstance(node.op, Elemwise):
        return node.op.scalar_op.name
    return None


def _collect(var, factors, covered):
    """Append the factors of ``var`` (a product, flattened) to ``factors``; every product
    flattened goes into ``covered`` (the product of all factors keeps its shape)."""
    name = _scalar_name(var)
    if name == "mul":
        covered.add(var)
        for inp in var.owner.inputs:
            _collect(inp, factors, covered)
    elif name == "sqr" and _scalar_name(var.owner.inputs[0]) == "mul":
        covered.add(var)
        _collect(var.owner.inputs[0], factors, covered)
        _collect(var.owner.inputs[0], factors, covered)
    else:
        factors.append(var)


def product_factors(var):
    """The factors of ``var`` if it is a float product of two or more, all of its rank, else
    None."""
    if _scalar_name(var) not in ("mul", "sqr") or var.dtype not in FLOAT_DTYPES:
        return None
    factors, covered = [], set()
    _collect(var, factors, covered)
    resolved = []
    for f in factors:
        # second(m, v) is v broadcast to m's shape; m's shape is the product's already
        if _scalar_name(f) == "second" and (f.owner.inputs[0] in covered or
                                            f.owner.inputs[0] in factors):
            f = f.owner.inputs[1]
        resolved.append(f)
    if len(resolved) < 2 or any(f.ndim != var.ndim for f in resolved):
        return None
    return [T.cast(f, var.dtype) for f in resolved]


def _product(factors):
    product = factors[0]
    for f in factors[1:]:       # mul is binary
        product = T.mul(product, f)
    return product


def _is_plain_sum(op):
    return (isinstance(op, Reduce) and op.mode == "sum" and op.scalar_op is None
            and op.dtype is None)


def _smaller(part, factors):
    """Whether the product of ``part`` has length 1 (is broadcast) on an axis where the
    product of all ``factors`` does not: summing it is then cheaper than summing them all."""
    return any(all(f.broadcastable[d] for f in part) and
               not all(f.broadcastable[d] for f in factors) for d in range(factors[0].ndim))


def _factored(factors, axes, acc_dtype=None):
    """The factors with each of ``axes`` summed on the factors that depend on it alone (kept
    as a length-1 axis), or None when no axis can be, or summing one would read as much as
    the whole product (factoring it would save nothing and only change rounding)."""
    changed = False
    for axis in axes:
        dependent = [f for f in factors if not f.broadcastable[axis]]
        if not dependent or len(dependent) == len(factors) or not _smaller(dependent, factors):
            continue
        partial = Reduce("sum", (axis,), keepdims=True, acc_dtype=acc_dtype)(_product(dependent))
        factors = [f for f in factors if f.broadcastable[axis]] + [partial]
        changed = True
    return factors if changed else None


def factor_sum_of_product(node):
    """Sum{axes}(f * g * ...) -> Sum{axes}(f * Sum{a, keepdims}(g * ...)) for each axis a
    that only some factors depend on."""
    if not _is_plain_sum(node.op):
        return None
    (x,) = node.inputs
    factors = product_factors(x)
    if factors is None:
        return None
    factors = _factored(factors, node.op.axis, node.op.acc_dtype)
    if factors is None:
        return None
    result = node.op(_product(factors))
    if result.type != node.outputs[0].type:
        return None
    return [result]


def sum_broadcast_axes_first(node):
    """SumToShape(g, x) -> SumToShape(Sum{axes, keepdims}(g), x) over the axes where x is
    declared broadcastable and the product g is not."""
    if not isinstance(node.op, SumToShape):
        return None
    g, x = node.inputs
    axes = tuple(a for a in range(x.ndim) if x.broadcastable[a] and not g.broadcastable[a])
    factors = product_factors(g) if axes else None
    if factors is None or _factored(factors, axes) is None:
        return None
    summed = Reduce("sum", axes, keepdims=True)(g)
    if summed.dtype != g.dtype:
        return None
    result = SumToShape()(summed, x)
    if result.type != node.outputs[0].type:
        return None
    return [result]


def sum_of_length_one_axes(node):
    """Sum{axes, keepdims}(x) -> x when x is declared broadcastable on every summed axis:
    what factoring leaves behind once a product no longer spans the axes SumToShape sums."""
    if not _is_plain_sum(node.op) or not node.op.keepdims:
        return None
    (x,) = node.inputs
    if not all(x.broadcastable[a] for a in node.op.axis) or x.dtype not in FLOAT_DTYPES:
        return None
    result = T.cast(x, node.outputs[0].dtype)
    return [result] if result.type == node.outputs[0].type else None


FACTOR_SUMS = [sum_broadcast_axes_first, factor_sum_of_product, sum_of_length_one_axes]
