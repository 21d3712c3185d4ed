"""An elementwise loop over a Gemm's result becomes one ``GemmEpilogue`` node
(cgraph/tensor/blas_epilogue.py).

A whole-graph pass run after gemm and elementwise fusion (the Gemm exists, its z loop and the
Composites are final): an Elemwise (one scalar op or a fused Composite) reading a Gemm's
result of its own output type, a result read by nothing else (once) and not itself a graph
output, is replaced by the GemmEpilogue of the Gemm's inputs and its other inputs. A layer's
``tanh(x W + b)`` (W7's recurrent step), ``sigmoid(v W + b)`` (W4's RBM), ``relu(x W + b)``
(an MLP): the loop runs in place on the product while it is in the cache, with no second
node and buffer. Values are unchanged (the same Gemm, the same loop).
"""
from collections import Counter

from ..graph.basic import io_toposort
from ..tensor.blas import Gemm
from ..tensor.blas_epilogue import GemmEpilogue
from ..tensor.elemwise import Elemwise
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
