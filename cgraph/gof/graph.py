"""``theano.gof.graph``: walking and comparing graphs with Theano's functions and orders.

The traversals give Theano's order, which programs and tests depend on: ``ancestors`` and
``inputs`` list variables as found by a depth-first search that takes the *last* of the
given variables first and, below each node, its inputs from left to right.
"""
from collections.abc import Iterable, Mapping

from ..graph.basic import Apply, Constant, Op, Variable, clone_replace, io_toposort as _toposort

__all__ = ["Apply", "Constant", "Op", "Variable", "ancestors", "inputs", "variables",
           "orphans", "ops", "io_toposort", "is_same_graph", "equal_computations"]


def _depth_first(start: Iterable[Variable], expand) -> list[Variable]:
    """Variables reached from ``start`` (the last one first), each listed once, in the order
    a stack visits them; ``expand(v)`` gives what to visit below ``v``, leftmost first."""
    stack, seen, order = list(start), set(), []
    while stack:
        var = stack.pop()
        if id(var) in seen:
            continue
        seen.add(id(var))
        order.append(var)
        stack.extend(reversed(expand(var)))
    return order


def ancestors(variable_list: Iterable[Variable], blockers=None) -> list[Variable]:
    """The variables that those of ``variable_list`` depend on, themselves included; the
    search does not go above a variable in ``blockers``."""
    blockers = list(blockers or ())

    def expand(var):
        if var.owner is not None and not any(var is b for b in blockers):
            return var.owner.inputs
        return []
    return _depth_first(variable_list, expand)


def inputs(variable_list: Iterable[Variable], blockers=None) -> list[Variable]:
    """The variables without owner (graph inputs, shared variables, constants) that
    ``variable_list`` depends on, in the order of ``ancestors``."""
    return [var for var in ancestors(variable_list, blockers) if var.owner is None]


def _variables_and_orphans(i, o):
    inputs_ = list(i)

    def expand(var):
        if var.owner is not None and not any(var is x for x in inputs_):
            return list(var.owner.inputs) + list(var.owner.outputs)
        return []
    found = _depth_first(o, expand)
    orphans_ = [v for v in found if v.owner is None and not any(v is x for x in inputs_)]
    return found, orphans_


def variables(i: Iterable[Variable], o: Iterable[Variable]) -> list[Variable]:
    """Every variable of the subgraph between inputs ``i`` and outputs ``o`` (both included,
    with the other outputs of the nodes on the way and the orphans)."""
    return _variables_and_orphans(i, o)[0]


def orphans(i: Iterable[Variable], o: Iterable[Variable]) -> list[Variable]:
    """The variables without owner that ``o`` depends on and that are not in ``i``."""
    return _variables_and_orphans(i, o)[1]


def ops(i: Iterable[Variable], o: Iterable[Variable]) -> set[Apply]:
    """The Apply nodes between ``i`` and ``o`` (Theano's name for them): the owners of the
    variables of ``o`` and of every variable on the way, not those of ``i``."""
    inputs_ = list(i)
    return {v.owner for v in variables(inputs_, o)
            if v.owner is not None and not any(v is x for x in inputs_)}


def io_toposort(inputs: Iterable[Variable], outputs: Iterable[Variable], orderings=None,
                clients=None) -> list[Apply]:
    """The Apply nodes from ``inputs`` to ``outputs``, each after the nodes it reads.

    Theano's extra ``orderings`` (constraints from its destroy handler) do not exist in
    cgraph's graphs; ``clients`` was only a cache there."""
    if orderings:
        raise NotImplementedError("io_toposort: cgraph has no extra orderings between nodes "
                                  "(Theano's came from in-place ops); call it without them")
    return _toposort(list(outputs), stop_at=list(inputs))


def _same_constant(a: Variable, b: Variable) -> bool:
    return (isinstance(a, Constant) and isinstance(b, Constant) and a.type == b.type
            and a.signature() == b.signature())


def equal_computations(xs: list[Variable], ys: list[Variable], in_xs=None, in_ys=None) -> bool:
    """Whether each ``xs[k]`` computes the same thing as ``ys[k]``: equal ops applied in the
    same way to inputs that are the same variables, equal constants, or a pair
    ``(in_xs[j], in_ys[j])`` declared equivalent (whose types must match).

    The graphs are compared as built: ``x * (y * z)`` and ``(x * y) * z`` differ.
    """
    xs, ys = list(xs), list(ys)
    in_xs, in_ys = list(in_xs or ()), list(in_ys or ())
    if len(xs) != len(ys):
        raise ValueError(f"equal_computations: {len(xs)} variables in xs but {len(ys)} in ys")
    if len(in_xs) != len(in_ys):
        return False
    if any(a.type != b.type for a, b in zip(in_xs, in_ys)):
        return False
    for x, y in zip(xs, ys):
        if (x.owner is None) != (y.owner is None):
            return False
        if x.owner is not None and x.index != y.index:
            return False
        if x.type != y.type and not any(x is a for a in in_xs):
            return False
    known = {(id(a), id(b)): True for a, b in zip(in_xs, in_ys)}
    return all(_same_computation(x, y, known) for x, y in zip(xs, ys))


def _same_computation(x: Variable, y: Variable, known: dict) -> bool:
    """Compare the graphs of ``x`` and ``y`` pair by pair, without recursion (graphs may be
    deeper than Python's stack); ``known`` caches the verdict of each pair of variables."""
    stack = [(x, y, False)]
    while stack:
        a, b, inputs_checked = stack.pop()
        key = (id(a), id(b))
        if key in known and not inputs_checked:
            continue
        if a.owner is None or b.owner is None:
            known[key] = a is b or _same_constant(a, b)
            continue
        node_a, node_b = a.owner, b.owner
        if (a.index != b.index or node_a.op != node_b.op
                or len(node_a.inputs) != len(node_b.inputs)
                or len(node_a.outputs) != len(node_b.outputs)):
            known[key] = False
            continue
        pairs = list(zip(node_a.inputs, node_b.inputs))
        if inputs_checked:
            known[key] = all(known[(id(i), id(j))] for i, j in pairs)
            continue
        stack.append((a, b, True))
        stack.extend((i, j, False) for i, j in pairs if (id(i), id(j)) not in known)
    return known[(id(x), id(y))]


def is_same_graph(var1: Variable, var2: Variable, givens=None, debug: bool = False) -> bool:
    """Whether ``var1`` and ``var2`` perform the same computation (as built: ``x * (y * z)``
    and ``(x * y) * z`` differ). ``givens`` ({old: new} or pairs) substitutes variables in
    both graphs first, so ``x + 1`` and ``y + 1`` are the same graph given ``{x: y}``."""
    givens = dict(givens or {})
    if givens:
        var1, var2 = clone_replace([var1, var2], givens)
    return equal_computations([var1], [var2])
