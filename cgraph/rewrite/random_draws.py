"""Draws no one reads: a Philox draw whose samples have no reader, kept only for the new
state it returns (a one-step scan's last sample, inlined with the update of its stream),
becomes a ``PhiloxAdvance`` (cgraph/tensor/random.py): the same new state, no samples.

A whole-graph pass (it must see every reader of the samples), run before fusion: with the
draw gone, what the draw read only for its shape (``size=p.shape``) is no longer read.
Values are unchanged: every later draw from the stream starts at the same counter. A draw
larger than memory (but of a size in bytes that fits int64) no longer raises, since nothing
is allocated.
"""
from collections import Counter

from ..graph.basic import io_toposort
from ..tensor.random import PhiloxAdvance, PhiloxRandom
from .engine import rebuild_node


def advance_unread_draws(inputs, outputs):
    """``outputs`` with each Philox draw whose samples no one reads a PhiloxAdvance."""
    nodes = io_toposort(outputs, stop_at=inputs)
    read = Counter(v for node in nodes for v in node.inputs)
    read.update(outputs)
    unread = {node for node in nodes
              if isinstance(node.op, PhiloxRandom) and not read[node.outputs[1]]}
    if not unread:
        return list(outputs)
    memo = {}
    for node in nodes:
        if node in unread:
            op = node.op
            state, size = (memo.get(v, v) for v in node.inputs)
            new = PhiloxAdvance(op.distribution, op.dtype, op.ndim)(state, size)
            new.name = node.outputs[0].name
            new.owner.trace = node.trace
            memo[node.outputs[0]] = new
            continue
        current = rebuild_node(node, memo)
        for old, new in zip(node.outputs, current.outputs):
            memo[old] = new
    return [memo.get(v, v) for v in outputs]
