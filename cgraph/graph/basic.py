"""The graph: Variables produced by Apply nodes of Ops, as Theano users know them.

A ``Variable`` is a symbolic value of some ``Type``; it is either a graph input (no owner),
a ``Constant``, or the output of an ``Apply`` node, which records one application of an
``Op`` to input variables.
"""
from collections import deque
import itertools

from .trace import user_line

_next_id = itertools.count()


class Variable:
    """A symbolic value. ``owner`` is the Apply that computes it (None for graph inputs)."""

    def __init__(self, type, owner=None, index=None, name=None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name
        self.trace = user_line()
        self.id = next(_next_id)

    def clone(self):
        """A new input variable of the same type and name (not connected to any graph)."""
        return type(self)(self.type, name=self.name)

    def __repr__(self):
        return self.name if self.name else self.auto_name()

    def auto_name(self):
        if self.owner is not None:
            out = f"{self.owner.op}.{self.index}" if len(self.owner.outputs) > 1 else str(self.owner.op)
            return out
        return f"<{self.type}>"

    def _repr_html_(self):
        """A summary in Jupyter: name, type, the op that made it, its graph."""
        from ..notebook import variable_html
        return variable_html(self)

    # Python identity semantics for == and hash, as in Theano (use T.eq for elementwise).
    __hash__ = object.__hash__


class Constant(Variable):
    """A variable whose value is known when the graph is built."""

    def __init__(self, type, data, name=None):
        super().__init__(type, None, None, name)
        self.data = data

    def clone(self):
        return type(self)(self.type, self.data, name=self.name)

    def signature(self):
        """A hashable key such that equal signatures mean equal constants (for merging)."""
        return (self.type, self.data.dtype.str, self.data.shape, self.data.tobytes())


class Apply:
    """One application of ``op`` to ``inputs``, producing ``outputs``."""

    def __init__(self, op, inputs, outputs):
        self.op = op
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        for i, out in enumerate(self.outputs):
            out.owner, out.index = self, i
        self.trace = user_line()

    def clone_with_new_inputs(self, inputs):
        """The same op applied to other inputs (types are re-derived by make_node)."""
        return self.op.make_node(*inputs)

    def __repr__(self):
        return f"{self.op}({', '.join(map(repr, self.inputs))})"


class Op:
    """An operation. Subclasses define ``make_node`` and ``perform`` (numpy) and name the C
    template that implements them (``c_template``) with ``c_params`` supplying its values.

    ``__props__`` names the attributes that make two ops equal (used to merge equal nodes).
    """

    __props__ = ()
    c_template = None

    def make_node(self, *inputs):
        raise NotImplementedError

    def perform(self, node, inputs):
        """Compute the outputs from numpy input values; returns a list of arrays."""
        raise NotImplementedError

    def c_params(self, node):
        """Extra values for this op's C template."""
        return {}

    def __call__(self, *inputs, **kwargs):
        node = self.make_node(*inputs, **kwargs)
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    def _props(self):
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other):
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self):
        return hash((type(self), self._props()))

    def __str__(self):
        if not self.__props__:
            return type(self).__name__
        props = ", ".join(str(p) for p in self._props())
        return f"{type(self).__name__}{{{props}}}"


def io_toposort(outputs, stop_at=()):
    """Apply nodes needed to compute ``outputs``, each after the nodes it depends on.

    Variables in ``stop_at`` are treated as inputs (their owners are not visited).
    """
    stop = set(stop_at)
    order, state = [], {}
    for root in outputs:
        if root.owner is None or root in stop:
            continue
        stack = [(root.owner, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                if state.get(node) != "done":
                    state[node] = "done"
                    order.append(node)
                continue
            if node in state:
                continue
            state[node] = "visiting"
            stack.append((node, True))
            for inp in reversed(node.inputs):
                if inp.owner is not None and inp not in stop and inp.owner not in state:
                    stack.append((inp.owner, False))
    return order


def graph_inputs(outputs, stop_at=()):
    """The variables without owner (or in ``stop_at``) that ``outputs`` depend on, in order."""
    stop = set(stop_at)
    seen, result = set(), []
    queue = deque(outputs)
    while queue:
        var = queue.popleft()
        if var in seen:
            continue
        seen.add(var)
        if var.owner is None or var in stop:
            result.append(var)
        else:
            queue.extend(var.owner.inputs)
    return result


def ancestors(outputs, stop_at=()):
    """Every variable that ``outputs`` depend on, including themselves."""
    stop = set(stop_at)
    seen = set()
    stack = list(outputs)
    while stack:
        var = stack.pop()
        if var in seen:
            continue
        seen.add(var)
        if var.owner is not None and var not in stop:
            stack.extend(var.owner.inputs)
    return seen


def clone_replace(outputs, replace=None):
    """Copy the graph of ``outputs`` with ``replace`` ({old variable: new variable}) applied.

    Nodes whose inputs do not change are kept as they are, so unrelated subgraphs are shared.
    Returns the list of new outputs.
    """
    memo = dict(replace or {})
    for node in io_toposort(outputs, stop_at=memo):
        new_inputs = [memo.get(v, v) for v in node.inputs]
        if all(a is b for a, b in zip(new_inputs, node.inputs)):
            continue
        new_node = node.clone_with_new_inputs(new_inputs)
        new_node.trace = node.trace
        for old, new in zip(node.outputs, new_node.outputs):
            if new.name is None:
                new.name = old.name
            new.trace = old.trace
            memo[old] = new
    return [memo.get(v, v) for v in outputs]
