"""How messages name graph variables: one text for the C code and the numpy reference.

Every layer that reports an error about a variable (ops checking shapes, the runners,
nan_guard, the generated C) names it here, so the same variable reads the same everywhere.
What an op contributes to a label comes from its hooks (``Op.message_name``,
``Op.label_through``), so this module knows no op class.
"""
import re

from .basic import Constant, Variable

# A node result's label in a module's C (codegen/lower.py): "@{<its C name>}", the name
# being its op's short_name() then the node's position in the function's node list.
_TOKEN = re.compile(r"@\{([A-Za-z_]\w*?)(\d+)\}")


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


# How a module's C names the op of the node whose block it is, in messages: spelled out
# (op_label_of) from the node that failed.
OP_LABEL_TOKEN = "@{op}"


def op_label_of(node) -> str:
    """How messages name ``node``'s op: the op, and the user's name of its result."""
    out_name = node.outputs[0].name
    return f"{node.op}" + (f" computing {out_name}" if out_name else "")


def label_token(c_name: str) -> str:
    """What a module's C writes for the label of the node result named ``c_name`` (an op's
    short_name() and the node's position): the label, up to 80 characters of expression,
    is spelled out by ``expand_label_tokens`` only when a message names it."""
    return f"@{{{c_name}}}"


def expand_label_tokens(message: str, nodes, fail_node: int = -1) -> str:
    """``message`` from a module, each label token (``label_token``) of a result of
    ``nodes`` (the function's node list) replaced by that result's label, and
    OP_LABEL_TOKEN by the label of the op of ``fail_node`` (the node that failed)."""
    if "@{" not in message:
        return message
    if 0 <= fail_node < len(nodes):
        message = message.replace(OP_LABEL_TOKEN, op_label_of(nodes[fail_node]))

    def spelled(match):
        name = match.group(1) + match.group(2)
        for cut in range(len(match.group(1)), len(name)):     # stems may end in digits
            position = int(name[cut:])
            if position < len(nodes) and nodes[position].op.short_name() == name[:cut]:
                return label_of(nodes[position].outputs[0])
        return match.group(0)
    return _TOKEN.sub(spelled, message)


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
