"""``FunctionGraph``: the graph a compiled function runs, seen as Theano's ``fgraph``.

A read-only view of the rewritten graph (``f.maker.fgraph``): its inputs (the function's
inputs, then the shared variables it reads), its outputs (the outputs, then the new values
of the updates), the Apply nodes and all variables between them, and ``toposort()``, the
nodes in the order the function computes them.
"""
from .basic import io_toposort


class FunctionGraph:
    def __init__(self, inputs, outputs, order=None):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self._order = list(order) if order is not None else io_toposort(self.outputs,
                                                                         self.inputs)

    def toposort(self):
        """The Apply nodes, each after the nodes computing its inputs."""
        return list(self._order)

    @property
    def apply_nodes(self):
        return set(self._order)

    @property
    def variables(self):
        found = set(self.inputs) | set(self.outputs)
        for node in self._order:
            found.update(node.inputs)
            found.update(node.outputs)
        return found

    def clients(self, var):
        """The (node, input position) pairs that read ``var`` ('output', k) for outputs."""
        uses = [(node, k) for node in self._order for k, inp in enumerate(node.inputs)
                if inp is var]
        return uses + [("output", k) for k, out in enumerate(self.outputs) if out is var]

    def __str__(self):
        return f"FunctionGraph({', '.join(map(str, self.outputs))})"

    __repr__ = __str__
