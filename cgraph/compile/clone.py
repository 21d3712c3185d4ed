"""``theano.clone``: a copy of a graph, with some variables replaced and optionally fresh inputs.

Unlike ``clone_replace`` (which keeps the nodes a replacement does not reach, for the
rewrites), this copies every node, as Theano's does: the result never shares a node with the
original graph. Replacements are simultaneous: a replacement that itself uses a replaced
variable keeps the original there.
"""
from collections.abc import Mapping, Sequence

from ..graph.basic import Variable, clone_keeping_names, io_toposort
from .sharedvalue import shared


def _replacement_pairs(replace) -> list[tuple]:
    if replace is None:
        return []
    if isinstance(replace, Mapping):
        return list(replace.items())
    if isinstance(replace, Sequence) and not isinstance(replace, str):
        return [tuple(pair) for pair in replace]
    raise ValueError(f"clone: replace is neither a dictionary, list, tuple or None; got "
                     f"{replace!r} of type {type(replace).__name__}")


class _GraphCopier:
    """Copies graphs node by node; the variables without owner are kept (``share_inputs``)
    or replaced by one clone each, the same clone wherever they appear."""

    def __init__(self, share_inputs: bool, strict: bool):
        self.share_inputs, self.strict = share_inputs, strict
        self.leaves: dict[Variable, Variable] = {}

    def leaf(self, var: Variable) -> Variable:
        if self.share_inputs:
            return var
        if var not in self.leaves:
            # a shared variable's clone shares its storage, as in Theano
            self.leaves[var] = var.clone()
        return self.leaves[var]

    def copy(self, outputs: list[Variable], given: dict) -> list[Variable]:
        """Copies of ``outputs``, with each variable of ``given`` standing for its value."""
        memo = dict(given)
        for node in io_toposort(outputs, stop_at=memo):
            new_inputs = [memo[v] if v in memo else self.leaf(v) for v in node.inputs]
            if self.strict:
                for old, new in zip(node.inputs, new_inputs):
                    if new.type != old.type:
                        raise TypeError(
                            f"clone: {new!r} of type {new.type} cannot stand for {old!r} of "
                            f"type {old.type} (an input of {node.op}); pass strict=False to "
                            f"let the graph take the new type")
            new_node = clone_keeping_names(node, new_inputs)
            for old, new in zip(node.outputs, new_node.outputs):
                memo.setdefault(old, new)
        return [memo[v] if v in memo else self.leaf(v) for v in outputs]


def clone(output, replace=None, strict: bool = True, share_inputs: bool = True):
    """A copy of the graph of ``output`` (a variable, or a list of them: the result has the
    same form) in which each key of ``replace`` ({old: new} or (old, new) pairs) is replaced
    by a copy of its value's graph.

    ``share_inputs=False`` clones the graph's inputs too (a cloned shared variable shares
    its value with the original, as in Theano: Lasagne's batch normalisation gives such a
    clone a ``default_update``). ``strict=True`` requires each replacement to have the type
    of the variable it replaces; with ``strict=False`` the copied nodes take the new types.
    A value of ``replace`` that is not a variable becomes a shared variable, as in Theano.
    """

    single = isinstance(output, Variable)
    outputs = [output] if single else list(output)
    for var in outputs:
        if not isinstance(var, Variable):
            raise TypeError(f"clone: outputs must be variables; got {var!r}")
    copier = _GraphCopier(share_inputs, strict)
    given = {}
    for old, new in _replacement_pairs(replace):
        if not isinstance(old, Variable):
            raise TypeError(f"clone: the variables to replace must be variables; got {old!r}")
        if old in given:
            raise ValueError(f"clone: {old!r} is replaced twice")
        if not isinstance(new, Variable):
            new = shared(new)
        # each replacement is copied on its own, before any key is replaced: simultaneous
        given[old] = copier.copy([new], {})[0]
    copies = copier.copy(outputs, given)
    return copies[0] if single else copies
