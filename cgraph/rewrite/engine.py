"""Running rewrites over a graph, and merging equal subgraphs."""
from dataclasses import dataclass

from ..graph.basic import Apply, Constant, io_toposort

MAX_PASSES = 20


@dataclass
class Phase:
    name: str
    rewrites: list


def rebuild_node(node: Apply, memo: dict) -> Apply:
    """``node`` with its inputs replaced through ``memo`` ({old variable: new variable}, as
    a pass over the graph in topological order fills it): the same node if none changed,
    else a clone keeping the node's trace (where it was built) and its outputs' names.

    Every pass that rewrites nodes one by one starts each node with it (apply_phase and
    merge here, the fusion and GEMM passes)."""
    new_inputs = [memo.get(v, v) for v in node.inputs]
    if all(a is b for a, b in zip(new_inputs, node.inputs)):
        return node
    new = node.clone_with_new_inputs(new_inputs)
    new.trace = node.trace
    for old, out in zip(node.outputs, new.outputs):
        out.name = out.name or old.name
        out.trace = old.trace
    return new


def apply_phase(phase, inputs, outputs):
    """Apply the phase's rewrites to every node until no rewrite changes anything."""
    for _ in range(MAX_PASSES):
        memo, changed = {}, False
        for node in io_toposort(outputs, stop_at=inputs):
            current = rebuild_node(node, memo)
            result = current.outputs
            for rewrite in phase.rewrites:
                replacement = rewrite(current)
                if replacement is not None:
                    result, changed = replacement, True
                    break
            for old, new in zip(node.outputs, result):
                if new.name is None:
                    new.name = old.name
                memo[old] = new
        outputs = [memo.get(v, v) for v in outputs]
        if not changed:
            break
    return outputs


def merge(inputs, outputs):
    """Merge equal constants, and nodes that apply equal ops to the same inputs."""
    memo, constants, seen = {}, {}, {}
    for node in io_toposort(outputs, stop_at=inputs):
        for var in node.inputs:
            if isinstance(var, Constant) and var not in memo:
                memo[var] = constants.setdefault((var.type, var.signature()), var)
        current = rebuild_node(node, memo)
        key = (current.op, tuple(id(v) for v in current.inputs))
        twin = seen.setdefault(key, current)
        for old, new in zip(node.outputs, twin.outputs):
            memo[old] = new
    for var in outputs:
        if isinstance(var, Constant) and var not in memo:
            memo[var] = constants.setdefault((var.type, var.signature()), var)
    return [memo.get(v, v) for v in outputs]
