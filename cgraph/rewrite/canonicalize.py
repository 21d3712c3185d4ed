"""Algebraic simplification: expressions rewritten to cheaper ones with the same values.

Elementwise rules are data, as in stabilize.py: (pattern, build, guard), where the pattern
(see patterns.py) matches the node's output, ``guard(bindings, out)`` says whether the rule
applies to this node's types, and ``build(out, **bindings)`` returns the replacement. Every
replacement is given the replaced variable's exact type (dtype by a cast, which converts as
the replaced op did; broadcastable pattern checked), or the rule is not applied.

What "the same values" means here, rule by rule:
- neutral elements (x*1, x+0, x-0, x/1, x**1, x//1 for integers): x itself. The one
  difference: for a float x holding -0.0, ``x + 0`` is +0.0 and the rewrite keeps -0.0 (the
  two compare equal). Applied only when the constant has length 1 on every axis, so it cannot
  change the result's shape.
- x*0, x-x, integer dtypes only: zeros shaped like x (for floats, NaN*0 and inf-inf are NaN).
- c1*(c2*x), c1+(c2+x), integer dtypes only (exact wrap-around arithmetic): (c1*c2)*x. Float
  constants are not collected: reassociation changes rounding and overflow.
- x/c for a float result and a constant c whose reciprocal is exact (powers of two): x*(1/c),
  bit-identical. Other constants are left alone (x*(1/c) may differ from x/c by an ulp).
- x**2 -> x*x, x**0.5 -> sqrt(x), x**-1 -> 1/x: numpy computes these powers exactly so (its
  power ufunc special-cases them, e.g. (-inf)**0.5 is nan as sqrt(-inf)), so they are
  bit-identical to numpy while the C pow() was not.
- exp(log(x)) -> x where x >= 0, NaN elsewhere (log is NaN there, so the result is NaN as
  before): the exact value, where numpy's exp(log(x)) has the rounding error of both
  functions (up to an ulp or two). log(exp(x)) -> x lives in stabilize.py.
- neg(neg(x)) -> x, neg(x)*neg(y) -> x*y: exact (also for integers, which wrap).
- second(f(x, c), v) -> second(x, v) (second reads only its first input's shape, which f
  with scalar-like c does not change): the gradient of sum(x ** 2) no longer computes x ** 2
  for its shape, so the sum can fold x ** 2 in its own loop. second(m, v) -> v when both
  have length 1 on every axis (the seed of a gradient no longer needs the cost computed).
- SumToShape(g, x) -> g when g is provably of x's shape (x itself, or elementwise in x and
  scalars): the sum it would do is over no axis.
- DimShuffle of DimShuffle -> one DimShuffle; an identity DimShuffle -> its input; Reshape of
  Reshape -> one Reshape (of the original input: an inner reshape that would have failed
  no longer raises).
"""
from fractions import Fraction

import numpy as np

from ..graph.basic import Constant
from ..tensor import basic as T
from ..tensor.elemwise import DimShuffle, Elemwise, SumToShape
from ..tensor.scalar_ops import Composite, upcast
from ..tensor.shape_ops import Reshape, patternbroadcast
from ..tensor.type import FLOAT_DTYPES, INT_DTYPES
from ..tensor.var import constant
from .patterns import constant_value, match, strip_broadcast


class Const:
    """In a rule's pattern: a constant with one element (length 1 on every axis once
    broadcast to the node's rank), equal to ``value`` (any value when None), bound as
    ``name``."""

    def __init__(self, name, value=None):
        self.name, self.value = name, value


def _plain(pattern, consts):
    """The pattern for patterns.match, with each Const replaced by its name (noted in
    ``consts``)."""
    if isinstance(pattern, Const):
        consts.append(pattern)
        return pattern.name
    if isinstance(pattern, tuple):
        return (pattern[0],) + tuple(_plain(p, consts) for p in pattern[1:])
    return pattern


def match_rule(pattern, var):
    """Bindings if ``var`` matches ``pattern`` (which may hold Const entries), else None."""
    consts = []
    bindings = match(_plain(pattern, consts), var)
    if bindings is None:
        return None
    for c in consts:
        bound = bindings[c.name]
        value = constant_value(bound)
        if value is None or not isinstance(strip_broadcast(bound), Constant) \
                or not all(bound.broadcastable):
            return None
        if c.value is not None and value != c.value:
            return None
    return bindings


# --- guards and builders --------------------------------------------------------------------

def _int_result(out):
    return out.dtype in INT_DTYPES


def _float_result(out):
    return out.dtype in FLOAT_DTYPES


def _not_bool(out):
    return out.dtype != "bool"


def _as(var, out):
    """``var`` converted to ``out``'s dtype (the conversion the replaced op applied)."""
    return T.cast(var, out.dtype)


def _zeros_like(x, out):
    return T.second(x, constant(0, dtype=out.dtype))


def _reciprocal(c, dtype):
    """1/c as a constant of ``dtype`` when it is exact (c a power of two), else None."""
    c = np.asarray(c, dtype=dtype)
    if c == 0 or not np.isfinite(c):
        return None
    with np.errstate(all="ignore"):
        r = np.asarray(1, dtype=dtype) / c
    if not np.isfinite(r) or r == 0 or Fraction(float(r)) * Fraction(float(c)) != 1:
        return None
    return constant(r, dtype=dtype)


def _divide_by_constant(out, x, c):
    r = _reciprocal(constant_value(c), out.dtype)
    return None if r is None else T.mul(_as(x, out), r)


def _exp_of_log(out, x):
    nan = constant(np.nan, dtype=out.dtype)
    return T.switch(T.ge(x, constant(0, dtype=x.dtype)), _as(x, out), nan)


# --- the rules: (pattern, build(out, **bindings), guard(out)) -----------------------------------

RULES = []


def _rule(patterns, build, guard=None):
    for pattern in patterns if isinstance(patterns, list) else [patterns]:
        RULES.append((pattern, build, guard or (lambda out: True)))


def _both_orders(name, a, b):
    return [(name, a, b), (name, b, a)]


def _keep_x(out, x, c):
    return _as(x, out)


_rule(_both_orders("mul", "x", Const("c", 1)), _keep_x)
_rule(_both_orders("add", "x", Const("c", 0)), _keep_x)
_rule(("sub", "x", Const("c", 0)), _keep_x)
_rule(("true_div", "x", Const("c", 1)), _keep_x)
_rule(("pow", "x", Const("c", 1)), _keep_x)
_rule(("floor_div", "x", Const("c", 1)), _keep_x, _int_result)
_rule(_both_orders("mul", "x", Const("c", 0)), lambda out, x, c: _zeros_like(x, out),
      _int_result)
_rule(("sub", "x", "x"), lambda out, x: _zeros_like(x, out), _int_result)
_rule(("true_div", "x", Const("c")), _divide_by_constant, _float_result)
_rule(("pow", "x", Const("c", 2)), lambda out, x, c: T.sqr(_as(x, out)), _not_bool)
_rule(("pow", "x", Const("c", 0.5)), lambda out, x, c: T.sqrt(_as(x, out)), _float_result)
_rule(("pow", "x", Const("c", -1)),
      lambda out, x, c: T.true_div(constant(1, dtype=out.dtype), _as(x, out)), _float_result)
_rule(("exp", ("log", "x")), _exp_of_log)
_rule(("neg", ("neg", "x")), lambda out, x: _as(x, out))
_rule(("mul", ("neg", "x"), ("neg", "y")), lambda out, x, y: T.mul(x, y))
for _op in ("add", "mul"):
    # c1 op (c2 op x) -> (c1 op c2) op x; constant folding computes c1 op c2
    _rule([(_op, Const("c1"), (_op, Const("c2"), "x")),
           (_op, Const("c1"), (_op, "x", Const("c2"))),
           (_op, (_op, Const("c2"), "x"), Const("c1")),
           (_op, (_op, "x", Const("c2")), Const("c1"))],
          lambda out, c1, c2, x, _fn=getattr(T, _op): _fn(_fn(_as(c1, out), _as(c2, out)), x),
          _int_result)


def canonical_elementwise(node):
    out = node.outputs[0]
    for pattern, build, guard in RULES:
        if not guard(out):
            continue
        bindings = match_rule(pattern, out)
        if bindings is None or not _one_dtype(pattern, bindings, out):
            continue
        result = build(out, **bindings)
        if result is None:
            continue
        result = _with_type(result, out)
        if result is not None:
            return [result]
    return None


def _one_dtype(pattern, bindings, out):
    """Constant collection is exact when the inner op computes in the result's dtype too
    (integers wrap the same way whatever the order; constants widen exactly)."""
    if "c1" not in bindings:
        return True
    return upcast(bindings["c2"].dtype, bindings["x"].dtype) == out.dtype


def _with_type(result, out):
    """``result`` with ``out``'s type. Every rule keeps the shape, so only the static
    broadcastable pattern may need restating (a view, checked at run time)."""
    if result.dtype != out.dtype:
        result = T.cast(result, out.dtype)
    if result.ndim != out.ndim:
        return None
    return patternbroadcast(result, out.broadcastable)


def second_of_elementwise(node):
    """second(f(x, c...), v) -> second(x, v) when the other inputs of the elementwise f have
    length 1 on every axis: f(x, c...) has x's shape, and second reads only the shape of its
    first input (the gradient of a sum builds such nodes), so f need not be computed."""
    if getattr(node.op, "scalar_op", None) is None or node.op.scalar_op.name != "second":
        return None
    model, value = node.inputs
    if all(model.broadcastable) and all(value.broadcastable):
        return [_with_type(value, node.outputs[0])]   # every axis has length 1: just value
    owner = model.owner
    if owner is None or not isinstance(owner.op, Elemwise) or \
            isinstance(owner.op.scalar_op, Composite) or owner.op.scalar_op.may_fail:
        return None   # (an integer division by zero must still raise)
    shaped = [x for x in owner.inputs if not all(x.broadcastable)]
    if len(shaped) != 1 or shaped[0].broadcastable != model.broadcastable:
        return None
    result = _with_type(T.second(shaped[0], value), node.outputs[0])
    return None if result is None else [result]


def sum_to_shape_of_same_shape(node):
    """SumToShape(g, x) -> g when g provably has x's shape: g is x, or an elementwise result
    of inputs that have x's shape or length 1 on every axis (the gradient of ``x ** 2`` or of
    ``c * x`` is such a g). Then nothing is summed, and g's elementwise producer can fuse
    with what reads the gradient (a Gemm's update, say)."""
    if not isinstance(node.op, SumToShape):
        return None
    g, x = node.inputs
    if not _has_shape_of(g, x, depth=8):
        return None
    result = _with_type(g, node.outputs[0])
    return None if result is None else [result]


def _has_shape_of(var, x, depth):
    if var is x:
        return True
    owner = var.owner
    if depth == 0 or owner is None or not isinstance(owner.op, Elemwise) or var.ndim != x.ndim:
        return False
    shaped = [v for v in owner.inputs if not all(v.broadcastable)]
    return bool(shaped) and all(_has_shape_of(v, x, depth - 1) for v in shaped)


# --- shape ops ------------------------------------------------------------------------------

def merge_dimshuffles(node):
    """DimShuffle(DimShuffle(x)) -> one DimShuffle; an identity DimShuffle -> x."""
    if not isinstance(node.op, DimShuffle):
        return None
    (x,) = node.inputs
    order = node.op.new_order
    if order == tuple(range(x.ndim)) and node.outputs[0].type == x.type:
        return [x]
    inner = x.owner
    if inner is None or not isinstance(inner.op, DimShuffle):
        return None
    source = inner.inputs[0]
    composed = tuple("x" if a == "x" else inner.op.new_order[a] for a in order)
    # An op may drop an axis its input does not declare broadcastable but claims to (its
    # length, 1, is checked at run time; set_subtensor through x[None] builds such ops): the
    # merged op claims what either claimed about the axes it drops.
    claimed = list(inner.op.input_broadcastable)
    for k, a in enumerate(inner.op.new_order):
        if a != "x" and node.op.input_broadcastable[k]:
            claimed[a] = True
    result = DimShuffle(tuple(claimed), composed)(source)
    return [result] if result.type == node.outputs[0].type else None


def merge_reshapes(node):
    """Reshape(Reshape(x, s1), s2) -> Reshape(x, s2)."""
    if not isinstance(node.op, Reshape):
        return None
    x, shape = node.inputs
    if x.owner is None or not isinstance(x.owner.op, Reshape):
        return None
    result = node.op(x.owner.inputs[0], shape)
    return [result] if result.type == node.outputs[0].type else None


CANONICALIZE = [canonical_elementwise, second_of_elementwise, sum_to_shape_of_same_shape,
                merge_dimshuffles, merge_reshapes]
