"""What lowering a graph produces and what the C runner reads of it.

A module of its own, so that a warm start (a module found by its pre-key) describes the
module it links without importing the lowering and its templates."""
from dataclasses import dataclass, field


@dataclass
class Lowered:
    source: str
    inputs: list              # graph variables passed in, in order (function inputs first)
    hidden_constants: list    # values of large constants, passed after the inputs
    outputs: list             # graph variables returned, in order
    nodes: list               # Apply nodes in execution order; an error names one by index
    inplace: dict = field(default_factory=dict)   # output position -> input position it
    #                                               may be written into (see rewrite.inplace)


def layout_signature(inputs, outputs, inplace) -> str:
    """What a module's cg_run takes and returns: dtype and broadcastable pattern (so the
    number of dimensions) of every input and output, and the in-place updates. Recorded in
    the module's manifest, and checked before a module found by its key alone is called."""
    def describe(var):
        return f"{var.dtype}[{''.join('1' if b else '0' for b in var.broadcastable)}]"
    return (f"in {','.join(map(describe, inputs))}; out {','.join(map(describe, outputs))}; "
            f"inplace {','.join(f'{o}>{i}' for o, i in sorted(inplace.items()))}")
