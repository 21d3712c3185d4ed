"""scan: loops over symbolic sequences, compiled into the function's C module.

``scan`` builds the loop (scan.py) as one ``Scan`` node (scan_op.py), whose body becomes a
static step function of the module and whose loop runs in C; its gradient is a backward
``Scan`` (scan_grad.py). States of which a function reads only the last step are kept in a
ring of rows (scan_rewrite.py); products of a sequence and a non-sequence run before the
loop, outputs no one reads are dropped and transposed non-sequences of products are
copied once, contiguous (scan_pushout.py); a loop of one constant step
is replaced by its body (scan_inline.py); all registered here as
whole-graph rewrites.
"""
from .scan import scan, until  # noqa: F401
from .scan_op import Scan  # noqa: F401
from .scan_inline import inline_one_step_scans
from .scan_pushout import (copy_transposed_non_sequences, drop_unused_scan_outputs,
                           push_out_sequence_dots)
from .scan_rewrite import keep_last_steps, keep_steps_apart
from ..rewrite import GRAPH_PASSES

# a loop of one constant step becomes its body before anything else (the passes after it,
# read_shapes_from_sources among them, then see the body as part of the outer graph)
if inline_one_step_scans not in GRAPH_PASSES:
    GRAPH_PASSES.insert(0, inline_one_step_scans)
# products moved out of the body first, then what no one reads dropped, then the transposed
# non-sequences the products read copied once, then rings, then the initial rows apart
for _graph_pass in (push_out_sequence_dots, drop_unused_scan_outputs,
                    copy_transposed_non_sequences, keep_last_steps, keep_steps_apart):
    if _graph_pass not in GRAPH_PASSES:
        GRAPH_PASSES.append(_graph_pass)

__all__ = ["scan", "until", "Scan"]
