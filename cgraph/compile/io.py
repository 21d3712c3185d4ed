"""``In`` and ``Out``: how a function input or output is passed, as in Theano."""
from ..graph.basic import Variable


class In:
    """A function input with options.

    ``value`` makes the input optional (its default). With ``update`` the input is state:
    ``value`` is its initial value and after every call it takes the update's value.
    ``strict`` refuses any value that is not already an ndarray of the right dtype;
    ``allow_downcast`` permits lossy conversion; ``borrow`` and ``mutable`` are accepted for
    compatibility (cgraph never writes into a caller's array).
    """

    def __init__(self, variable, name=None, value=None, update=None, mutable=None,
                 strict=False, allow_downcast=None, autoname=True, implicit=None, borrow=None,
                 shared=False):
        if not isinstance(variable, Variable):
            raise TypeError(f"In() expects a Variable, got {variable!r}")
        if name is None and autoname:
            name = variable.name
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string! (got: {name!r})")
        self.variable = variable
        self.name = name
        self.value = value
        self.update = update
        self.mutable = mutable if mutable is not None else update is not None
        self.strict = strict
        self.allow_downcast = allow_downcast
        self.borrow = borrow if borrow is not None else self.mutable
        self.implicit = bool(implicit)


class Out:
    """A function output; ``borrow=True`` is accepted (outputs are always fresh arrays)."""

    def __init__(self, variable, borrow=False):
        if not isinstance(variable, Variable):
            raise TypeError(f"Out() expects a Variable, got {variable!r}")
        self.variable = variable
        self.borrow = borrow


SymbolicOutput = Out
Param = In
