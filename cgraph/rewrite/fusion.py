"""Elementwise fusion: a chain of elementwise ops becomes one loop.

Working back from each elementwise node, the producers of its inputs are absorbed while they
are elementwise and nothing outside the group reads their results; the group becomes one
Elemwise over a Composite scalar op, so ``sigmoid(x * w + b) * y`` reads x, w, b and y once
and writes one array instead of four.
"""
from collections import Counter

from ..graph.basic import clone_replace, io_toposort
from ..tensor.elemwise import Elemwise
from ..tensor.scalar_ops import Composite

MAX_INPUTS = 32     # keeps the generated loop body (and the compiler's register pressure) sane
MAX_STEPS = 64


def _fusable(node):
    return isinstance(node.op, Elemwise) and not isinstance(node.op.scalar_op, Composite)


def fuse_elementwise(inputs, outputs):
    nodes = io_toposort(outputs, stop_at=inputs)
    order = {node: k for k, node in enumerate(nodes)}
    clients = Counter(v for node in nodes for v in node.inputs)
    clients.update(outputs)
    absorbed, replace = set(), {}
    for node in reversed(nodes):
        if node in absorbed or not _fusable(node):
            continue
        group = _grow(node, clients, absorbed, inputs)
        if len(group) == 1:
            continue
        absorbed.update(group)
        replace[node.outputs[0]] = _composite(sorted(group, key=order.get), node)
    return clone_replace(outputs, replace) if replace else list(outputs)


def _grow(root, clients, absorbed, graph_inputs):
    group = [root]
    stop = set(graph_inputs)
    changed = True
    while changed and len(group) < MAX_STEPS:
        changed = False
        for member in list(group):
            for var in member.inputs:
                producer = var.owner
                if (producer is None or var in stop or producer in group or producer in absorbed
                        or not _fusable(producer)):
                    continue
                uses_inside = sum(1 for m in group for v in m.inputs if v is var)
                if clients[var] != uses_inside:
                    continue   # someone outside needs this value: keep it materialised
                if len(_external_inputs(group + [producer])) > MAX_INPUTS:
                    continue
                group.append(producer)
                changed = True
    return group


def _external_inputs(group):
    produced = {v for node in group for v in node.outputs}
    external = []
    for node in group:
        for var in node.inputs:
            if var not in produced and all(var is not e for e in external):
                external.append(var)
    return external


def _composite(group, root):
    """One Elemwise(Composite) node computing ``root``'s output from the group's inputs."""
    external = _external_inputs(group)
    ref = {id(v): k for k, v in enumerate(external)}
    steps = []
    for node in group:   # in execution order
        args = tuple(ref[id(v)] for v in node.inputs)
        steps.append((node.op.scalar_op, args, node.outputs[0].dtype))
        ref[id(node.outputs[0])] = len(external) + len(steps) - 1
    composite = Composite(steps, [v.dtype for v in external])
    fused = Elemwise(composite)(*external)
    fused.name = root.outputs[0].name
    fused.owner.trace = root.trace   # errors name the user's line, not the function() call
    return fused
