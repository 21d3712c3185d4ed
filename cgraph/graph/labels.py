"""How messages name graph variables: one text for the C code and the numpy reference.

Every layer that reports an error about a variable (ops checking shapes, the runners,
nan_guard, the generated C) names it here, so the same variable reads the same everywhere.
What an op contributes to a label comes from its hooks (``Op.message_name``,
``Op.label_through``), so this module knows no op class.
"""
from .basic import Constant, Variable


def label_of(var: Variable, depth: int = 2) -> str:
    """A short human name for ``var`` in messages: its name, or the expression computing it."""
    if var.name:
        return var.name
    if isinstance(var, Constant):
        return str(var.data.reshape(())[()]) if var.data.size == 1 else repr(var)
    owner = var.owner
    if owner is None:
        return repr(var)
    shown = owner.op.label_through(owner)
    if shown is not None:
        return label_of(shown, depth)
    name = owner.op.message_name()
    if depth == 0:
        return f"{name}(...)"
    text = f"{name}({', '.join(label_of(v, depth - 1) for v in owner.inputs)})"
    return text if len(text) <= 80 else text[:77] + "..."


def c_text(text: str) -> str:
    """``text`` as the inside of a C string literal, for the runtime to print with ``%s``
    (a label passed as an argument): its ``%`` signs as written."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def c_string(text: str) -> str:
    """``text`` as the inside of a C string literal that is itself a printf format (a label
    written into the message a template formats): its ``%`` signs doubled, so they print as
    written. A label the runtime prints with ``%s`` takes ``c_text``."""
    return c_text(text).replace("%", "%%")


def nan_guard_message(var: Variable, node_id: int | None = None, node=None) -> str:
    """What nan_guard says when ``var`` (an input, or the output of ``node``) holds a NaN or
    an Inf; ``{kind}`` and ``{index}`` stand for what was found and where. One text for both
    modes, so the C and the numpy reference raise the same message."""
    where = (f"the output {label_of(var)} of node {node_id} ({node.op})" if node is not None
             else f"the input {label_of(var)}")
    return f"NanGuard: {where} contains {{kind}}" + (" at index {index}" if var.ndim else "")
