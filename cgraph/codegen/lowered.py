"""What lowering a graph produces (what the runners read of a module's calling convention,
and its signature, is the function's CallLayout: cgraph/compile/layout.py)."""
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
    #                                               may be written into (see compile.inplace)

    @property
    def inputs(self) -> list:
        """Every variable cg_run receives: the graph's inputs, then the hidden constants."""
        return list(self.graph_inputs) + list(self.hidden)

    @property
    def hidden_constants(self) -> list:
        """The hidden constants' values, in the order cg_run takes them."""
        return [c.data for c in self.hidden]

