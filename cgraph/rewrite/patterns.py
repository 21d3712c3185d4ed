"""Matching elementwise expressions against small patterns written as nested tuples.

A pattern is a string (binds any variable; the same name must bind the same variable), a
number (a constant whose every element equals it), or a tuple ``(scalar op name, *argument
patterns)`` matching an Elemwise node. Broadcasting DimShuffles that only add axes are looked
through, so ``1 - sigmoid(x)`` matches ``("sub", 1, ("sigmoid", "x"))`` for any rank of x.
"""
import functools
import numbers
from typing import Callable, NamedTuple

import numpy as np

from ..graph.basic import Constant
from ..tensor.elemwise import DimShuffle, Elemwise


def strip_broadcast(var):
    """``var`` without DimShuffles that only insert broadcastable axes."""
    while var.owner is not None and isinstance(var.owner.op, DimShuffle):
        op = var.owner.op
        if [a for a in op.new_order if a != "x"] != list(range(len(op.input_broadcastable))):
            break
        var = var.owner.inputs[0]
    return var


def constant_value(var):
    """The single value of a constant filled with one number, else None."""
    var = strip_broadcast(var)
    if isinstance(var, Constant) and var.data.size >= 1:
        flat = var.data.reshape(-1)
        if np.all(flat == flat[0]):
            return flat[0].item()
    return None


def match(pattern, var, bindings=None):
    """Bindings {name: variable} if ``var`` matches ``pattern``, else None."""
    bindings = {} if bindings is None else bindings
    if isinstance(pattern, str):
        if pattern in bindings:
            return bindings if bindings[pattern] is var else None
        bindings[pattern] = var
        return bindings
    if isinstance(pattern, numbers.Number):
        value = constant_value(var)
        return bindings if value is not None and value == pattern else None
    name, *args = pattern
    var = strip_broadcast(var) if not isinstance(var, Constant) else var
    owner = var.owner
    if owner is None or not isinstance(owner.op, Elemwise) or owner.op.scalar_op.name != name:
        return None
    if len(args) != len(owner.inputs):
        return None
    for arg, inp in zip(args, owner.inputs):
        if match(arg, inp, bindings) is None:
            return None
    return bindings


class Const:
    """In a rule's pattern: a constant with one element (length 1 on every axis once
    broadcast to the node's rank), equal to ``value`` (any value when None), bound as
    ``name``."""

    def __init__(self, name, value=None):
        self.name, self.value = name, value


def _plain(pattern, consts):
    """The pattern for patterns.match, with each Const replaced by its name (noted in
    ``consts``)."""
    if isinstance(pattern, Const):
        consts.append(pattern)
        return pattern.name
    if isinstance(pattern, tuple):
        return (pattern[0],) + tuple(_plain(p, consts) for p in pattern[1:])
    return pattern


@functools.lru_cache(maxsize=None)
def _plain_once(pattern):
    """(plain pattern, its Const entries): a rule's pattern is rewritten once, not for
    every node it is tried on."""
    consts = []
    return _plain(pattern, consts), tuple(consts)


def match_rule(pattern, var):
    """Bindings if ``var`` matches ``pattern`` (which may hold Const entries), else None."""
    plain, consts = _plain_once(pattern)
    bindings = match(plain, var)
    if bindings is None:
        return None
    for c in consts:
        bound = bindings[c.name]
        value = constant_value(bound)
        if value is None or not isinstance(strip_broadcast(bound), Constant) \
                or not all(bound.broadcastable):
            return None
        if c.value is not None and value != c.value:
            return None
    return bindings


def _always(out):
    return True


class Rule(NamedTuple):
    """One elementwise rewrite of a table (canonicalize.RULES, stabilize.ELEMENTWISE_RULES).

    ``pattern``: what the node's output must look like (strings, numbers, Const, nested
    tuples: see this module); ``build(out, **bindings)``: the replacement of ``out`` from
    the bound variables, or None when the rule turns out not to apply; ``guard(out)``: whether
    the rule applies to ``out``'s types at all (checked before matching).
    """
    pattern: tuple
    build: Callable
    guard: Callable = _always

    def bindings(self, out):
        """The bound variables when this rule applies to ``out``, else None."""
        return match_rule(self.pattern, out) if self.guard(out) else None


def rules_for(rules, var):
    """The rules of the table ``rules`` (in their order) that can match ``var``: those whose
    pattern is rooted at the scalar op of the Elemwise computing ``var`` (broadcasts looked
    through, as ``match`` does; matching checks the rest). A node is tried against the few
    rules of its own op rather than the whole table (~40 rules in canonicalize, tried on
    every node of every pass)."""
    owner = strip_broadcast(var).owner
    if owner is None or not isinstance(owner.op, Elemwise):
        return ()
    return _index(rules).get(owner.op.scalar_op.name, ())


_indexes = {}    # id(table) -> (the table's rules, {op name: rules rooted at it})


def _index(rules):
    found = _indexes.get(id(rules))
    if found is not None and found[0] == rules:    # unchanged (a list compare, in C)
        return found[1]
    by_name = {}
    for rule in rules:
        # (every rule's pattern is rooted at an op: a bare name or number would match any
        # variable and could not be indexed; refuse it here rather than skip it silently)
        if not isinstance(rule.pattern, tuple):
            raise TypeError(f"a rule's pattern must name an op at its root: {rule.pattern!r}")
        by_name.setdefault(rule.pattern[0], []).append(rule)
    _indexes[id(rules)] = (list(rules), by_name)
    return by_name
