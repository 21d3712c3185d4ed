"""``tanh(Gemm(...))`` becomes one ``GemmTanh`` node (cgraph/tensor/blas_epilogue.py).

A whole-graph pass run after gemm and elementwise fusion (the Gemm exists and its z loop is
final): an elementwise ``tanh`` whose one input is a Gemm's result of the same dtype, read by
nothing else and not itself a graph output, is replaced by the GemmTanh of the Gemm's inputs.
The recurrent step ``tanh(dot(x_t, W) + dot(h, U) + b)`` is the case it is for: the tanh runs
in place on the product while it is in the cache, with no second node and buffer. Values are
unchanged (the same Gemm, the same tanh).
"""
from collections import Counter

from ..graph.basic import io_toposort
from ..tensor.blas import Gemm
from ..tensor.blas_epilogue import GemmTanh
from ..tensor.elemwise import Elemwise
from .engine import rebuild_node


def _fusable_gemm(node, clients, outputs):
    """The Gemm node whose result ``node`` (a tanh) can take over, or None."""
    if type(node.op) is not Elemwise or node.op.scalar_op.name != "tanh":
        return None
    (var,) = node.inputs
    gemm = var.owner
    if gemm is None or type(gemm.op) is not Gemm or clients[var] != 1 or \
            any(var is out for out in outputs):
        return None
    if var.type != node.outputs[0].type:
        return None     # (a tanh computing in another dtype)
    return gemm


def fuse_gemm_tanh(inputs, outputs):
    """``outputs`` with each fusable ``tanh(Gemm(...))`` one GemmTanh node."""
    nodes = io_toposort(outputs, stop_at=inputs)
    clients = Counter(v for node in nodes for v in node.inputs)
    fused = {node: gemm for node in nodes
             if (gemm := _fusable_gemm(node, clients, outputs)) is not None}
    if not fused:
        return list(outputs)
    absorbed = set(fused.values())
    memo = {}
    for node in nodes:
        if node in absorbed:
            continue        # computed inside the GemmTanh that replaces its reader
        if node in fused:
            gemm = fused[node]
            new = GemmTanh(gemm.op.scalar_op)(*(memo.get(v, v) for v in gemm.inputs))
            old = node.outputs[0]
            new.name = old.name
            new.owner.trace = node.trace
            memo[old] = new
            continue
        current = rebuild_node(node, memo)
        for old, new in zip(node.outputs, current.outputs):
            memo[old] = new
    return [memo.get(v, v) for v in outputs]
