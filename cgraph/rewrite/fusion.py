"""Elementwise fusion: a chain of elementwise ops becomes one loop, and an elementwise
producer read only by a reduction becomes part of the reduction's loop.

Working back from each elementwise node, the producers of its inputs are absorbed while they
are elementwise and nothing outside the group reads their results; the group becomes one
Elemwise over a Composite scalar op, so ``sigmoid(x * w + b) * y`` reads x, w, b and y once
and writes one array instead of four.

A reduction (``Reduce``) whose input is such a group (or a single elementwise node) that
nothing else reads takes the group's Composite as its ``scalar_op``: ``sum(exp(x))`` and
``mean((a - b) ** 2)`` then run as one loop that never writes the elementwise result. A
``Gemm`` does the same with its z: ``p - lr * (g + dot(x, d))`` computes ``p - lr * g``
straight into the result, to which BLAS then adds the product.
"""
from collections import Counter

from ..graph.basic import io_toposort
from ..tensor.blas import Gemm
from ..tensor.elemwise import Elemwise
from ..tensor.reduction import Reduce
from ..tensor.scalar_ops import Composite
from .engine import rebuild_node

MAX_INPUTS = 32     # keeps the generated loop body (and the compiler's register pressure) sane
MAX_STEPS = 64


def _fusable(node):
    return isinstance(node.op, Elemwise) and not isinstance(node.op.scalar_op, Composite)


def fuse_elementwise(inputs, outputs):
    nodes = io_toposort(outputs, stop_at=inputs)
    order = {node: k for k, node in enumerate(nodes)}
    clients = Counter(v for node in nodes for v in node.inputs)
    clients.update(outputs)
    absorbed = set()
    groups = {}       # root node -> its group (in execution order), for groups of 2 or more
    for node in reversed(nodes):
        if node in absorbed or not _fusable(node):
            continue
        group = _grow(node, clients, absorbed, inputs)
        if len(group) == 1:
            continue
        absorbed.update(group)
        groups[node] = sorted(group, key=order.get)
    into_consumer = {}  # Reduce or Gemm node -> the elementwise group it computes in its loop
    for node in nodes:
        group = _absorbable_group(node, clients, groups, inputs)
        if group is not None:
            into_consumer[node] = group
    inner_roots = {group[-1] for group in into_consumer.values()}
    if not groups and not into_consumer:
        return list(outputs)

    # Rebuild in execution order, so a group whose inputs come from another fused group (or
    # from a node rebuilt because of one) reads the new variables.
    memo = {}
    for node in nodes:
        if node in inner_roots or (node in absorbed and node not in groups):
            continue   # computed inside a fused node
        if node in into_consumer:
            new_out = _fused_consumer(node, into_consumer[node], memo)
        elif node in groups:
            new_out = _composite(groups[node], node, memo)
        else:
            current = rebuild_node(node, memo)
            for old, new in zip(node.outputs, current.outputs):
                memo[old] = new
            continue
        memo[node.outputs[0]] = new_out
    return [memo.get(v, v) for v in outputs]


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


def _absorbed_input(node):
    """The input of ``node`` whose elementwise producer it can compute in its own loop: the
    value a Reduce folds, the z of a Gemm; None for other nodes."""
    op = node.op
    if isinstance(op, Reduce) and op.scalar_op is None and op.mode in Reduce.FUSABLE_MODES:
        return node.inputs[0]
    if isinstance(op, Gemm) and op.scalar_op is None:
        return node.inputs[4]
    return None


def _absorbable_group(node, clients, groups, graph_inputs):
    """The elementwise group (execution order) that ``node`` (a Reduce or a Gemm) can
    compute in its own loop, or None."""
    var = _absorbed_input(node)
    if var is None:
        return None
    producer = var.owner
    if producer is None or var in graph_inputs or clients[var] != 1:
        return None
    if producer in groups:
        group = groups[producer]
    elif isinstance(producer.op, Elemwise):   # a single node, or a Composite fused before
        group = [producer]
    else:
        return None
    if isinstance(node.op, Gemm) and _may_fail(group):
        return None   # the Gemm's copy loop has no integer-division error path
    return group


def _may_fail(group):
    composite, _ = _scalar_program(group, {})
    statements, expr = composite.c_body([f"a{k}" for k in range(composite.nin)])
    return any("cg_bad" in line for line in statements + [expr])


def _external_inputs(group):
    produced = {v for node in group for v in node.outputs}
    external = []
    for node in group:
        for var in node.inputs:
            if var not in produced and all(var is not e for e in external):
                external.append(var)
    return external


def _scalar_program(group, memo):
    """(Composite computing the group's last node, its inputs after ``memo``)."""
    if len(group) == 1 and isinstance(group[0].op.scalar_op, Composite):
        node = group[0]
        return node.op.scalar_op, [memo.get(v, v) for v in node.inputs]
    external = _external_inputs(group)
    ref = {id(v): k for k, v in enumerate(external)}
    steps = []
    for node in group:   # in execution order
        args = tuple(ref[id(v)] for v in node.inputs)
        steps.append((node.op.scalar_op, args, node.outputs[0].dtype))
        ref[id(node.outputs[0])] = len(external) + len(steps) - 1
    composite = Composite(steps, [v.dtype for v in external])
    return composite, [memo.get(v, v) for v in external]


def _composite(group, root, memo):
    """One Elemwise(Composite) node computing ``root``'s output from the group's inputs."""
    composite, external = _scalar_program(group, memo)
    fused = Elemwise(composite)(*external)
    fused.name = root.outputs[0].name
    fused.owner.trace = root.trace   # errors name the user's line, not the function() call
    return fused


def _fused_consumer(node, group, memo):
    """``node`` (a Reduce or a Gemm) applying the group's Composite to its inputs as it
    reads them."""
    composite, external = _scalar_program(group, memo)
    op = node.op
    if isinstance(op, Gemm):
        alpha, a, b, beta = (memo.get(v, v) for v in node.inputs[:4])
        fused = Gemm(scalar_op=composite)(alpha, a, b, beta, *external)
    else:
        fused = Reduce(op.mode, op.axis, op.keepdims, op.dtype, op.acc_dtype, op.ddof,
                       scalar_op=composite)(*external)
    fused.name = node.outputs[0].name
    fused.owner.trace = node.trace
    return fused
