"""Graph rewrites run by ``function`` before lowering.

A rewrite is a function from an Apply node to replacement variables (or None when it does
not apply); a phase is a list of rewrites applied over the whole graph until nothing changes.
``optimize`` runs the phases in order. Every rewrite must keep results identical to the
numpy reference (tests/rewrite/test_rewrite.py checks each one).
"""
from .engine import Phase, apply_phase, merge
from .basic_rewrites import constant_folding
from .canonicalize import CANONICALIZE
from .stabilize import STABILIZE
from .sum_product import FACTOR_SUMS
from .fusion import fuse_elementwise
from .gemm import fuse_gemm
from .gemm_epilogue import fuse_gemm_epilogue, fuse_gemm_squares
from .shape_only import read_shapes_from_sources
from .random_draws import advance_unread_draws

PHASES = [
    Phase("constant folding", [constant_folding]),
    # constants appear as rules fire (x**(2-1) -> x**1 -> x), so folding runs along
    Phase("canonicalize", [constant_folding] + CANONICALIZE),
    Phase("stabilize", STABILIZE),
    # after stabilize, where x**2 is sqr(x) and gradients' second(x**2, v) read x
    Phase("factor sums of broadcast products", [constant_folding] + FACTOR_SUMS),
]

# Whole-graph passes ``(inputs, outputs) -> outputs`` registered by other modules (passes
# that must see every use of a variable, which local rewrites do not); run before fusion.
GRAPH_PASSES = [read_shapes_from_sources, advance_unread_draws]


def optimize(inputs, outputs):
    """Outputs of a graph that computes the same values as ``outputs``, simplified."""
    outputs = merge(inputs, outputs)
    for phase in PHASES:
        outputs = apply_phase(phase, inputs, outputs)
        outputs = merge(inputs, outputs)
    for graph_pass in GRAPH_PASSES:
        outputs = graph_pass(inputs, outputs)
    outputs = fuse_gemm(inputs, outputs)
    outputs = fuse_elementwise(inputs, outputs)
    outputs = fuse_gemm_epilogue(inputs, outputs)
    outputs = fuse_gemm_squares(inputs, outputs)
    # gemm and fusion make constants of their own (alpha, beta, folded scalars): one each
    return merge(inputs, outputs)
