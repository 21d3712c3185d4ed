"""Graph building blocks: Variable, Constant, Apply, Op and traversal helpers."""
from .basic import (Apply, Constant, Op, Variable, ancestors, clone_replace, graph_inputs,
                    io_toposort)
