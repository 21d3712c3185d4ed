"""Theano's lazy ``ifelse``: only the branch the condition selects is computed.

``ifelse(c, then, else)`` is one ``IfElse`` node whose inputs are the condition, the ``then``
values and the ``else`` values. Laziness is a property of how the nodes are run, not of the
op: ``branch_layout`` finds the nodes needed only by one branch of an IfElse (not by its
condition, the other branch, another output or any other node) and places them right
before it, each with the branch it belongs to. The C lowering wraps them in ``if (flag)``
blocks and the numpy reference skips them, so the untaken branch's nodes never run (nor fail).
Nodes needed by both branches or by anything else run unconditionally, before.
"""
from .graph.basic import Apply, Op
from .tensor.shape_ops import zeros_like
from .tensor.var import TensorVariable, as_tensor_variable


class IfElse(Op):
    """``n_outs`` outputs: the ``then`` inputs when the scalar condition is nonzero, else the
    ``else`` inputs (views of them: nothing is copied). Inputs: ``(cond, *thens, *elses)``."""

    __props__ = ("n_outs",)
    c_template = "ops/ifelse.c.j2"

    def __init__(self, n_outs: int, name: str | None = None):
        self.n_outs = int(n_outs)
        self.name = name

    def __str__(self):
        return f"if{{{self.name}}}" if self.name else "if{}"

    def make_node(self, cond, *branches):
        if len(branches) != 2 * self.n_outs:
            raise TypeError(f"IfElse: expected {2 * self.n_outs} branch values after the "
                            f"condition, got {len(branches)}")
        cond = as_tensor_variable(cond)
        if cond.ndim != 0:
            raise TypeError(f"ifelse: the condition {cond!r} must be a scalar (0 stands for "
                            f"False, anything else for True), got {cond.ndim} dimensions")
        branches = [as_tensor_variable(b) for b in branches]
        thens, elses = branches[:self.n_outs], branches[self.n_outs:]
        for k, (t, f) in enumerate(zip(thens, elses)):
            if t.type != f.type:
                raise TypeError(
                    f"ifelse: the two branches should have identical types, but value {k} is "
                    f"{t!r} of type {t.type} on the `then` branch and {f!r} of type {f.type} "
                    f"on the `else` branch (cast or use T.patternbroadcast to make them match)")
        return Apply(self, [cond] + branches, [TensorVariable(t.type) for t in thens])

    def perform(self, node, inputs):
        cond, values = inputs[0], inputs[1:]
        chosen = values[:self.n_outs] if cond != 0 else values[self.n_outs:]
        return [v.copy() for v in chosen]

    def L_op(self, inputs, outputs, output_grads):
        """The gradient flows to the taken branch: ifelse(c, g, 0) for ``then``, ifelse(c,
        0, g) for ``else``; the condition gets none."""
        cond = inputs[0]
        grads = [g if g is not None else zeros_like(o) for g, o in zip(output_grads, outputs)]
        thens, elses = inputs[1:1 + self.n_outs], inputs[1 + self.n_outs:]
        name_t = self.name and self.name + "_grad_t"
        name_f = self.name and self.name + "_grad_f"
        to_then = IfElse(self.n_outs, name_t)(cond, *grads, *[zeros_like(t) for t in thens])
        to_else = IfElse(self.n_outs, name_f)(cond, *[zeros_like(f) for f in elses], *grads)
        as_list = (lambda v: list(v) if isinstance(v, (list, tuple)) else [v])
        return [None] + as_list(to_then) + as_list(to_else)

    def c_params(self, node):
        return {"n_outs": self.n_outs}


def ifelse(condition, then_branch, else_branch, name: str | None = None):
    """``then_branch`` if the scalar ``condition`` is nonzero, else ``else_branch``; only the
    selected branch is computed. Branches are variables, or lists/tuples of them (of one
    length, matching types); a list or tuple in gives a list or tuple out, as in Theano."""
    kind = type(then_branch) if isinstance(then_branch, (list, tuple)) else None
    thens = list(then_branch) if isinstance(then_branch, (list, tuple)) else [then_branch]
    elses = list(else_branch) if isinstance(else_branch, (list, tuple)) else [else_branch]
    if len(thens) != len(elses):
        raise ValueError(f"The number of values on the `then` branch should have the same "
                         f"number of variables as the `else` branch : (variables on `then` "
                         f"{len(thens)}, variables on `else` {len(elses)})")
    outs = IfElse(len(thens), name)(condition, *thens, *elses)
    outs = outs if isinstance(outs, list) else [outs]
    if kind is None:
        return outs[0]
    return list(outs) if kind is list else tuple(outs)


# --- laziness: which nodes run only for one branch ---------------------------------------

def branch_layout(nodes, outputs):
    """``(order, guards)``: ``nodes`` (in topological order) reordered so that the nodes
    needed only by one branch of an IfElse come right before it (``then`` ones first), and
    ``guards[node]``, the tuple of ``(ifelse_node, branch)`` (branch True for ``then``) under
    which a node runs, outermost first; unconditional nodes have no entry.

    Without IfElse nodes, ``nodes`` is returned unchanged."""
    if not any(isinstance(n.op, IfElse) for n in nodes):
        return list(nodes), {}
    consumers = {}
    for node in nodes:
        for pos, var in enumerate(node.inputs):
            consumers.setdefault(var, []).append((node, pos))
    needed_outside = set(outputs)
    guards = {}

    def carve(scope, ifelse_node, positions):
        """The nodes of ``scope`` (a list in topological order) needed only through
        ``ifelse_node``'s inputs at ``positions``."""
        owned = set()
        end = scope.index(ifelse_node)
        for node in reversed(scope[:end]):
            uses = [c for v in node.outputs for c in consumers.get(v, ())]
            if not uses or any(v in needed_outside for v in node.outputs):
                continue
            if all(c in owned or (c is ifelse_node and p in positions) for c, p in uses):
                owned.add(node)
        return [n for n in scope[:end] if n in owned]

    def lay_out(scope, outer):
        """``scope`` with each IfElse's branch nodes moved right before it (recursively)."""
        placed = {}      # IfElse node -> (then nodes, else nodes), laid out themselves
        remaining = list(scope)
        for node in reversed(scope):
            if node not in remaining or not isinstance(node.op, IfElse):
                continue
            n = node.op.n_outs
            then_nodes = carve(remaining, node, set(range(1, 1 + n)))
            taken = set(then_nodes)
            else_nodes = [m for m in carve(remaining, node, set(range(1 + n, 1 + 2 * n)))
                          if m not in taken]
            taken.update(else_nodes)
            remaining = [m for m in remaining if m not in taken]
            placed[node] = (then_nodes, else_nodes)
        order = []
        for node in remaining:
            if node in placed:
                then_nodes, else_nodes = placed[node]
                for branch, members in ((True, then_nodes), (False, else_nodes)):
                    inner = outer + ((node, branch),)
                    for m in members:
                        guards[m] = inner
                    order += lay_out(members, inner)
            order.append(node)
        return order

    return lay_out(list(nodes), ()), guards


def guard_holds(guard, value_of):
    """Whether the branch guard ``(ifelse_node, branch)`` is taken; ``value_of(variable)``
    gives the values computed so far."""
    node, branch = guard
    return bool(value_of(node.inputs[0]) != 0) == branch
