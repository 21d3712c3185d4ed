"""scan: loops over symbolic sequences, compiled into the function's C module.

``scan`` builds the loop (scan.py) as one ``Scan`` node (scan_op.py), whose body becomes a
static step function of the module and whose loop runs in C; its gradient is a backward
``Scan`` (scan_grad.py). States of which a function reads only the last step are kept in a
ring of rows (scan_rewrite.py, registered here as a whole-graph rewrite).
"""
from .scan import scan, until  # noqa: F401
from .scan_op import Scan  # noqa: F401
from .scan_rewrite import keep_last_steps
from ..rewrite import GRAPH_PASSES

if keep_last_steps not in GRAPH_PASSES:
    GRAPH_PASSES.append(keep_last_steps)

__all__ = ["scan", "until", "Scan"]
