"""An elementwise loop over a Gemm's result becomes one ``GemmEpilogue`` node
(cgraph/tensor/blas_epilogue.py).

A whole-graph pass run after gemm and elementwise fusion (the Gemm exists, its z loop and the
Composites are final): an Elemwise (one scalar op or a fused Composite) reading a Gemm's
result of its own output type, a result read by nothing else (once) and not itself a graph
output, is replaced by the GemmEpilogue of the Gemm's inputs and its other inputs. A layer's
``tanh(x W + b)`` (W7's recurrent step), ``sigmoid(v W + b)`` (W4's RBM), ``relu(x W + b)``
(an MLP): the loop runs in place on the product while it is in the cache, with no second
node and buffer. Values are unchanged (the same Gemm, the same loop).

A second pass, fuse_gemm_squares, joins an update's Gemm of z = W (W - lr * (g + l2 * W),
beta folded by gemm.py) with the cost's sum(W ** 2) (Theano's L2 term) in one GemmSquares
node: W is read once for the squares and, in place, for the decay (W3: one pass over a
784 x 500 weight instead of two).
"""
import heapq
from collections import Counter

from ..graph.basic import io_toposort
from ..tensor.blas import Gemm
from ..tensor.blas_epilogue import GemmEpilogue, GemmSquares
from ..tensor.elemwise import Elemwise
from ..tensor.reduction import Reduce
from .engine import rebuild_node


def _fusable_gemm(node, clients, outputs):
    """(the Gemm node whose result ``node`` can take over, its input position), or None."""
    if type(node.op) is not Elemwise or len(node.outputs) != 1 or node.outputs[0].ndim == 0:
        return None
    for k, var in enumerate(node.inputs):
        gemm = var.owner
        if gemm is None or type(gemm.op) is not Gemm or clients[var] != 1 or \
                any(var is out for out in outputs):
            continue
        if var.type != node.outputs[0].type:
            continue     # (a loop computing in another dtype, or broadcasting the product)
        return gemm, k
    return None


def fuse_gemm_epilogue(inputs, outputs):
    """``outputs`` with each fusable ``elementwise(Gemm(...), ...)`` one GemmEpilogue node."""
    nodes = io_toposort(outputs, stop_at=inputs)
    clients = Counter(v for node in nodes for v in node.inputs)
    fused = {node: found for node in nodes
             if (found := _fusable_gemm(node, clients, outputs)) is not None}
    if not fused:
        return list(outputs)
    absorbed = {gemm for gemm, _ in fused.values()}
    memo = {}
    for node in nodes:
        if node in absorbed:
            continue        # computed inside the GemmEpilogue that replaces its reader
        if node in fused:
            gemm, k = fused[node]
            op = GemmEpilogue(gemm.op.scalar_op, node.op.scalar_op, k, len(gemm.inputs))
            others = [v for j, v in enumerate(node.inputs) if j != k]
            new = op(*(memo.get(v, v) for v in list(gemm.inputs) + others))
            old = node.outputs[0]
            new.name = old.name
            new.owner.trace = node.trace
            memo[old] = new
            continue
        current = rebuild_node(node, memo)
        for old, new in zip(node.outputs, current.outputs):
            memo[old] = new
    return [memo.get(v, v) for v in outputs]


def _squares_of(node):
    """The variable whose squares ``node`` sums over every axis (a Reduce of sqr, fused, in
    its input's dtype), else None."""
    op = node.op
    if not isinstance(op, Reduce) or op.mode != "sum" or op.keepdims or \
            op.scalar_op is None or op.scalar_op.name != "Composite{sqr(i0)}" or \
            op.acc_dtype not in (None, "float64") or len(node.inputs) != 1:
        return None
    (x,) = node.inputs
    if x.ndim == 0 or op.axis != tuple(range(x.ndim)) or node.outputs[0].dtype != x.dtype:
        return None
    return x


def fuse_gemm_squares(inputs, outputs):
    """``outputs`` with a graph output ``Gemm(alpha, a, b, beta, W)`` (an update of W: W an
    input, z itself, no loop) and ``sum(W ** 2)`` computed by one GemmSquares node, which
    reads W once for both (and for the decay, when the update is written in place)."""
    nodes = io_toposort(outputs, stop_at=inputs)
    sums = {}
    for node in nodes:
        x = _squares_of(node)
        if x is not None and any(x is v for v in inputs):
            sums.setdefault(x, node)
    pairs = {}
    for node in nodes:
        if type(node.op) is not Gemm or node.op.scalar_op is not None:
            continue
        z, out = node.inputs[4], node.outputs[0]
        if z in sums and z.type == out.type and any(out is v for v in outputs) and \
                not any(sums[z] is s for s, _ in pairs.values()):
            pairs[node] = (sums[z], z)
    if not pairs:
        return list(outputs)
    by_sum = {s: gemm for gemm, (s, _) in pairs.items()}
    order = _sums_after_gemms(nodes, by_sum)
    if order is None:
        return list(outputs)    # a Gemm that needs its own sum: nothing to fuse
    memo = {}
    for node in order:
        if node in by_sum:
            continue        # computed by the GemmSquares of its Gemm
        if node in pairs:
            squares = pairs[node][0]
            new = GemmSquares(squares.op)(*(memo.get(v, v) for v in node.inputs))
            for old, var in zip((node.outputs[0], squares.outputs[0]), new):
                var.name = old.name
                memo[old] = var
            new[0].owner.trace = node.trace
            continue
        current = rebuild_node(node, memo)
        for old, new in zip(node.outputs, current.outputs):
            memo[old] = new
    return [memo.get(v, v) for v in outputs]


def _sums_after_gemms(nodes, by_sum):
    """``nodes`` (in topological order) reordered so that each sum of ``by_sum`` comes after
    its Gemm (whose GemmSquares computes it), what reads it after it; None when a Gemm
    depends on its sum."""
    position = {node: k for k, node in enumerate(nodes)}
    waits = {node: {v.owner for v in node.inputs if v.owner in position} for node in nodes}
    for total, gemm in by_sum.items():
        waits[total].add(gemm)
    readers = {node: [] for node in nodes}
    for node, before in waits.items():
        for other in before:
            readers[other].append(node)
    ready = [position[node] for node in nodes if not waits[node]]   # (a heap: the original
    order = []                                                      # order where it is free)
    while ready:
        node = nodes[heapq.heappop(ready)]
        order.append(node)
        for reader in readers[node]:
            waits[reader].discard(node)
            if not waits[reader]:
                heapq.heappush(ready, position[reader])
    return order if len(order) == len(nodes) else None
