"""Numerically stable forms, found in the graph so users can write the naive expression.

Each rule is a ``Rule(pattern, build)`` (patterns.py, as in canonicalize.py): when the pattern
matches a node's output, the node is replaced by ``build(out, **bindings)``. Rules that
involve non-elementwise ops (softmax, sums) are written as functions.
"""
from ..tensor import basic as T
from ..tensor.nnet import LogSoftmax, Softmax
from ..tensor.reduction import Reduce
from ..tensor.subtensor import AdvancedSubtensor
from .patterns import Rule, match, rules_for, strip_broadcast

log_softmax = LogSoftmax()   # the op itself (not T.nnet.logsoftmax): keeps a vector a vector

ELEMENTWISE_RULES = [
    # log(sigmoid(x)) = -softplus(-x)
    Rule(("log", ("sigmoid", "x")), lambda out, x: -T.softplus(-x)),
    # log(1 - sigmoid(x)) = -softplus(x)
    Rule(("log", ("sub", 1, ("sigmoid", "x"))), lambda out, x: -T.softplus(x)),
    # log(1 + exp(x)) = softplus(x), in both orders and as log1p
    Rule(("log", ("add", 1, ("exp", "x"))), lambda out, x: T.softplus(x)),
    Rule(("log", ("add", ("exp", "x"), 1)), lambda out, x: T.softplus(x)),
    Rule(("log1p", ("exp", "x")), lambda out, x: T.softplus(x)),
    # log(1 - exp(-softplus..)) forms are rare; log(exp(x)) = x is exact
    Rule(("log", ("exp", "x")), lambda out, x: x),
]


def stable_elementwise(node):
    out = node.outputs[0]
    for rule in rules_for(ELEMENTWISE_RULES, out):
        bindings = rule.bindings(out)
        if bindings is not None:
            result = rule.build(out, **bindings)
            if result.type != out.type:
                result = _as_type(result, out)
            return [result]
    return None


def stable_log_softmax(node):
    """log(softmax(x)) -> log_softmax(x), also through integer-array indexing:
    log(softmax(x)[i, y]) -> log_softmax(x)[i, y] (the classic NLL of a classifier)."""
    bindings = match(("log", "p"), node.outputs[0])
    if bindings is None:
        return None
    p = strip_broadcast(bindings["p"])
    if p.owner is None:
        return None
    if type(p.owner.op) is Softmax:
        return [_as_type(log_softmax(p.owner.inputs[0]), node.outputs[0])]
    if isinstance(p.owner.op, AdvancedSubtensor):
        src = p.owner.inputs[0]
        if src.owner is not None and type(src.owner.op) is Softmax:
            stable = log_softmax(src.owner.inputs[0])
            indexed = p.owner.op(stable, *p.owner.inputs[1:])
            return [_as_type(indexed, node.outputs[0])]
    return None


def stable_logsumexp(node):
    """log(sum(exp(x), axis)) -> m + log(sum(exp(x - m), axis)) with m = max(x, axis)."""
    bindings = match(("log", "s"), node.outputs[0])
    if bindings is None:
        return None
    s = strip_broadcast(bindings["s"])
    if s.owner is None or not isinstance(s.owner.op, Reduce) or s.owner.op.mode != "sum":
        return None
    e = s.owner.inputs[0]
    inner = match(("exp", "x"), e)
    if inner is None:
        return None
    x = inner["x"]
    op = s.owner.op
    m = T.max(x, axis=op.axis, keepdims=True)
    m_out = m if op.keepdims else T.max(x, axis=op.axis, keepdims=False)
    shifted = T.sum(T.exp(x - m), axis=op.axis, keepdims=op.keepdims)
    # an all -inf slice would give nan from (-inf) - (-inf); keep exact -inf there
    safe = T.switch(T.isinf(m_out), m_out, m_out + T.log(shifted))
    return [_as_type(safe, node.outputs[0])]


def _as_type(var, like):
    if var.dtype != like.dtype:
        var = T.cast(var, like.dtype)
    return var


STABILIZE = [stable_elementwise, stable_log_softmax, stable_logsumexp]
