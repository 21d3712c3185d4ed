"""Algebraic simplification: expressions rewritten to cheaper ones with the same values.

Elementwise rules are data, as in stabilize.py: ``Rule(pattern, build, guard)`` (patterns.py),
where the pattern matches the node's output, ``guard(out)`` says whether the rule applies to
this node's types, and ``build(out, **bindings)`` returns the replacement. Every
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
- second(x, v) and SumToShape(g, x) read only x's shape: an x computed by a reduction (or
  elementwise from one, through inputs of x's broadcastable pattern) is replaced by zeros of
  its shape, whose lengths Shape_i reads from the reduction's input (next rule). The RBM's
  free energy is needed only through its gradient, whose broadcasts read the free energy's
  shape: its softplus sums are no longer computed. SumToShape(g, x) -> g when both have
  length 1 on every axis.
- Shape_i{i}(y) -> the length of the input axis y's axis i comes from, when y is computed by
  an Elemwise (an input not broadcastable there), a DimShuffle, a Dot or a Reduce, and 1 on
  an axis y has as broadcastable.
  These two skip computing y, as Theano's shape inference does: an error y would have raised
  (shapes that do not match somewhere inside it) is not raised. Elemwise ops that may fail on
  values (integer division by zero) are kept.
- Subtensor{k}(Shape(x)) -> Shape_i{k}(x) for a constant k within x's rank (``v.shape[0]``,
  as a random draw's ``size=p.shape`` reads it): the length then goes through the rule above
  and ``x`` is no longer read for its shape alone (its producer can fuse with its reader).
- second(x, v) * c -> second(x, v * c) for v and c of length 1 on every axis: the same
  products (v * c, then broadcast), bit-identical. The gradient of ``l2 * sum(W ** 2)`` is
  ``second(W, l2) * 2 * W``: then ``second(W, l2 * 2) * W``, which the next rule makes
  ``(l2 * 2) * W``, a scalar times W that gemm fusion folds into an update's beta.
- elementwise(..., second(x, v), ..., y, ...) -> elementwise(..., v, ..., y, ...) when y
  provably has x's shape: the broadcast with y already gives v x's shape. The gradient of
  ``softplus(x W + b)`` is ``second(x W + b, g) * sigmoid(x W + b)``: the product is then
  read once, by the sigmoid, which fuses into the Gemm's epilogue (W4).
- DimShuffle of DimShuffle -> one DimShuffle; an identity DimShuffle -> its input; Reshape of
  Reshape -> one Reshape (of the original input: an inner reshape that would have failed
  no longer raises).
"""
from fractions import Fraction

import numpy as np

from ..tensor import basic as T
from ..tensor.elemwise import DimShuffle, Elemwise, SumToShape
from ..tensor.scalar_ops import Composite, upcast
from ..tensor.blas import Dot
from ..tensor.reduction import Reduce
from ..tensor.shape_ops import Reshape, Shape_i, alloc, patternbroadcast
from ..tensor.shape_queries import Shape
from ..tensor.subtensor import Subtensor
from ..tensor.type import FLOAT_DTYPES, INT_DTYPES
from ..tensor.var import constant
from .patterns import Const, Rule, constant_value, rules_for


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


# --- the rules ---------------------------------------------------------------------------------

RULES = []


def _rule(patterns, build, guard=None):
    for pattern in patterns if isinstance(patterns, list) else [patterns]:
        RULES.append(Rule(pattern, build, guard) if guard else Rule(pattern, build))


def _both_orders(name, a, b):
    return [(name, a, b), (name, b, a)]


def _keep_x(out, x, c):
    return _as(x, out)


_rule(("identity", "x"), lambda out, x: x)   # also zero_grad(x) and the other gradient views
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
    for rule in rules_for(RULES, out):
        bindings = rule.bindings(out)
        if bindings is None or not _one_dtype(rule.pattern, bindings, out):
            continue
        result = rule.build(out, **bindings)
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


def _is_second(var):
    owner = var.owner
    return owner is not None and isinstance(owner.op, Elemwise) and \
        getattr(owner.op.scalar_op, "name", None) == "second"


def second_through_scalar_mul(node):
    """second(x, v) * c -> second(x, v * c) when v and c have length 1 on every axis and the
    product computes in second's dtype: the fill moves out, so that a reader of its shape
    (second_beside_same_shape) can drop it."""
    op = node.op
    if not isinstance(op, Elemwise) or isinstance(op.scalar_op, Composite) or \
            op.scalar_op.name != "mul" or len(node.inputs) != 2:
        return None
    out = node.outputs[0]
    for k in (0, 1):
        s, c = node.inputs[k], node.inputs[1 - k]
        if not _is_second(s) or not all(c.broadcastable):
            continue
        x, v = s.owner.inputs
        if not all(v.broadcastable) or v.dtype != s.dtype or out.dtype != s.dtype:
            continue
        result = _with_type(T.second(x, T.mul(v, c) if k == 0 else T.mul(c, v)), out)
        if result is not None:
            return [result]
    return None


def second_beside_same_shape(node):
    """elementwise(second(x, v), y) -> elementwise(v, y) when y provably has x's shape:
    the node's broadcast already gives v x's shape (and fails where second would), so x is
    not read. Only where v has second's dtype (second casts nothing then)."""
    op = node.op
    if not isinstance(op, Elemwise) or isinstance(op.scalar_op, Composite) or \
            len(node.outputs) != 1 or op.scalar_op.name == "second":
        return None
    inputs = list(node.inputs)
    changed = False
    for k, s in enumerate(inputs):
        if not _is_second(s):
            continue
        x, v = s.owner.inputs
        if v.dtype != s.dtype or x.ndim != s.ndim:
            continue
        if any(j != k and y.ndim == x.ndim and (_has_shape_of(y, x, depth=8) or
                                                _has_shape_of(x, y, depth=8))
               for j, y in enumerate(inputs)):
            inputs[k] = v
            changed = True
    if not changed:
        return None
    result = _with_type(op(*inputs), node.outputs[0])
    return None if result is None else [result]


def sum_to_shape_of_same_shape(node):
    """SumToShape(g, x) -> g when g provably has x's shape: g is x, or an elementwise result
    of inputs that have x's shape or length 1 on every axis (the gradient of ``x ** 2`` or of
    ``c * x`` is such a g). Then nothing is summed, and g's elementwise producer can fuse
    with what reads the gradient (a Gemm's update, say)."""
    if not isinstance(node.op, SumToShape):
        return None
    g, x = node.inputs
    if not (_has_shape_of(g, x, depth=8) or all(g.broadcastable) and all(x.broadcastable)):
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


def shape_read_of_reduction(node):
    """second(x, v) -> second(zeros shaped as x, v), SumToShape(g, x) -> SumToShape(g, zeros
    shaped as x), when x comes from a reduction: they read only x's shape, which the zeros
    take from the reduction's input (Shape_i), so the reduction need not run for them."""
    if isinstance(node.op, SumToShape):
        position = 1
    elif getattr(node.op, "scalar_op", None) is not None and node.op.scalar_op.name == "second":
        position = 0
    else:
        return None
    standin = _zeros_shaped_as(node.inputs[position], depth=8)
    if standin is None:
        return None
    inputs = list(node.inputs)
    inputs[position] = standin
    result = _with_type(node.op(*inputs), node.outputs[0])
    return None if result is None else [result]


def _zeros_shaped_as(x, depth):
    owner = x.owner
    if owner is None or depth == 0 or x.ndim == 0:
        return None
    if isinstance(owner.op, Reduce):
        zeros = alloc(np.array(0, dtype=x.dtype), *[Shape_i(d)(x) for d in range(x.ndim)])
        return patternbroadcast(zeros, x.broadcastable) if zeros.ndim == x.ndim else None
    if isinstance(owner.op, Elemwise) and not owner.op.scalar_op.may_fail and \
            len(owner.outputs) == 1:
        for v in owner.inputs:
            if v.broadcastable == x.broadcastable:
                zeros = _zeros_shaped_as(v, depth - 1)
                if zeros is not None:
                    return zeros if zeros.dtype == x.dtype else T.cast(zeros, x.dtype)
    return None


def shape_i_of_computed(node):
    """Shape_i{i}(y) -> Shape_i{j}(x) for the input x whose axis j gives y's axis i (or the
    constant 1 for an axis y has as broadcastable), so y need not be computed for its length."""
    if not isinstance(node.op, Shape_i):
        return None
    (y,) = node.inputs
    source = _axis_source(y, node.op.i)
    if source is None:
        return None
    if source == 1:
        return [constant(1, dtype="int64")]
    x, j = source
    return [Shape_i(j)(x)]


def _axis_source(y, i):
    """(x, j) with x an input of y's owner whose axis j has y's axis i's length, 1 when
    that length is statically 1, or None."""
    owner = y.owner
    if owner is None:
        return None
    op = owner.op
    if isinstance(op, Elemwise) and (op.scalar_op.may_fail or len(owner.outputs) != 1):
        return None
    if not isinstance(op, (Elemwise, DimShuffle, Dot, Reduce)):
        return None
    if y.broadcastable[i]:
        return 1   # a broadcastable axis has length 1
    if isinstance(op, Elemwise):
        for x in owner.inputs:
            if x.ndim == y.ndim and not x.broadcastable[i]:
                return x, i
        return None
    if isinstance(op, DimShuffle):
        return owner.inputs[0], op.new_order[i]
    if isinstance(op, Dot):
        a, b = owner.inputs
        return (a, i) if i < a.ndim - 1 else (b, 1)
    x = owner.inputs[0]   # a Reduce
    if op.keepdims:
        return x, i
    return x, [d for d in range(x.ndim) if d not in op.axis][i]


# --- shape ops ------------------------------------------------------------------------------

def shape_entry_of_shape(node):
    """Subtensor{k}(Shape(x)) -> Shape_i{k}(x) for a constant k in x's rank (negative k
    counts from the end); an index out of range keeps its IndexError."""
    if not isinstance(node.op, Subtensor) or len(node.op.idx_list) != 1:
        return None
    kind, *entry = node.op.idx_list[0]
    shape = node.inputs[0]
    if kind != "index" or not isinstance(entry[0], int) or shape.owner is None or \
            not isinstance(shape.owner.op, Shape):
        return None
    x = shape.owner.inputs[0]
    k = entry[0] + x.ndim if entry[0] < 0 else entry[0]
    if not 0 <= k < x.ndim:
        return None
    return [Shape_i(k)(x)]


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


CANONICALIZE = [canonical_elementwise, second_of_elementwise, second_through_scalar_mul,
                second_beside_same_shape,
                sum_to_shape_of_same_shape, shape_read_of_reduction, shape_entry_of_shape,
                shape_i_of_computed, merge_dimshuffles, merge_reshapes]
