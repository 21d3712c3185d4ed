"""``theano.gof`` under the names programs use: the graph's classes and ``gof.graph``.

Theano's gof also held its optimizer databases, linkers and C compilation machinery; cgraph
has its own (cgraph.rewrite, cgraph.codegen) and does not offer Theano's under these names.
"""
from ..compile.function import MissingInputError  # noqa: F401
from ..graph.basic import Apply, Constant, Op, Variable  # noqa: F401
from . import graph  # noqa: F401

__all__ = ["Apply", "Constant", "Op", "Variable", "MissingInputError", "graph"]
