"""What lowering a graph produces, and the signature of a module's cg_run.

A module of its own, so that a warm start (a module found by its pre-key) checks the
module it links without importing the lowering and its templates. What the runners read
of a module's calling convention is the function's CallLayout (cgraph/compile/layout.py).
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Lowered:
    """A lowered module: made by ``codegen.lower.lower`` only."""
    source: str
    graph_inputs: list        # graph variables passed in, in order (function inputs first)
    hidden: list              # Constants too large to embed, passed after the inputs
    outputs: list             # graph variables returned, in order
    nodes: list               # Apply nodes in execution order; an error names one by index
    inplace: dict = field(default_factory=dict)   # output position -> input position it
    #                                               may be written into (see rewrite.inplace)

    @property
    def inputs(self) -> list:
        """Every variable cg_run receives: the graph's inputs, then the hidden constants."""
        return list(self.graph_inputs) + list(self.hidden)

    @property
    def hidden_constants(self) -> list:
        """The hidden constants' values, in the order cg_run takes them."""
        return [c.data for c in self.hidden]


def layout_signature(inputs, outputs, inplace) -> str:
    """What a module's cg_run takes and returns: dtype and broadcastable pattern (so the
    number of dimensions) of every input and output, and the in-place updates. Recorded in
    the module's manifest, and checked before a module found by its key alone is called."""
    def describe(var):
        return f"{var.dtype}[{''.join('1' if b else '0' for b in var.broadcastable)}]"
    return (f"in {','.join(map(describe, inputs))}; out {','.join(map(describe, outputs))}; "
            f"inplace {','.join(f'{o}>{i}' for o, i in sorted(inplace.items()))}")
