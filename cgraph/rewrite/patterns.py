"""Matching elementwise expressions against small patterns written as nested tuples.

A pattern is a string (binds any variable; the same name must bind the same variable), a
number (a constant whose every element equals it), or a tuple ``(scalar op name, *argument
patterns)`` matching an Elemwise node. Broadcasting DimShuffles that only add axes are looked
through, so ``1 - sigmoid(x)`` matches ``("sub", 1, ("sigmoid", "x"))`` for any rank of x.
"""
import numbers

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
