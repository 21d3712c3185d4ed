"""Lowering: a list of Apply nodes becomes one C source rendered from the templates.

Each graph variable is a ``cg_array`` local of the entry function, named after the variable.
Graph inputs arrive as contiguous arrays; small constants are embedded in the source, large
ones are passed in like inputs. Each node contributes one block rendered from its op's
template; outputs are handed to the caller in buffers of their own.
"""
from dataclasses import dataclass, field

import numpy as np

from .. import __version__
from ..graph.basic import Constant
from ..tensor.type import FLOAT_DTYPES
from .names import NameTable
from .render import render

EMBED_CONSTANT_LIMIT = 256   # elements; larger constants are passed in at call time


@dataclass
class VarInfo:
    """What a template needs to know about a variable."""
    name: str          # C identifier
    label: str         # how error messages name it (the user's name or the expression)
    ndim: int
    dtype: str
    ctype: str
    broadcastable: tuple
    comment: str = ""
    shape_offset: int = 0
    shape: tuple = ()
    values: list = field(default_factory=list)
    data_name: str = ""


@dataclass
class Lowered:
    source: str
    inputs: list              # graph variables passed in, in order (function inputs first)
    hidden_constants: list    # values of large constants, passed after the inputs
    outputs: list             # graph variables returned, in order
    nodes: list               # Apply nodes in execution order; an error names one by index


def c_literal(value, dtype):
    if dtype == "bool":
        return "1" if value else "0"
    if dtype.startswith("float"):
        v = float(value)
        if np.isnan(v):
            return "NAN"
        if np.isinf(v):
            return "INFINITY" if v > 0 else "-INFINITY"
        text = repr(v)
        return text + ("f" if dtype == "float32" else "")
    if dtype == "int64" and int(value) == -2**63:
        return "INT64_MIN"
    return f"{int(value)}LL" if dtype == "int64" else str(int(value))


def label_of(var, depth=2):
    """A short human name for ``var`` in messages: its name, or the expression computing it."""
    from ..tensor.elemwise import DimShuffle, Elemwise
    if var.name:
        return var.name
    if isinstance(var, Constant):
        return str(var.data.reshape(())[()]) if var.data.size == 1 else repr(var)
    owner = var.owner
    if owner is None:
        return repr(var)
    if isinstance(owner.op, DimShuffle) and "x" in owner.op.new_order and \
            [a for a in owner.op.new_order if a != "x"] == list(range(owner.inputs[0].ndim)):
        return label_of(owner.inputs[0], depth)      # only adds broadcast axes
    name = owner.op.scalar_op.name if isinstance(owner.op, Elemwise) else str(owner.op)
    if depth == 0:
        return f"{name}(...)"
    text = f"{name}({', '.join(label_of(v, depth - 1) for v in owner.inputs)})"
    return text if len(text) <= 80 else text[:77] + "..."


def c_string(text):
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ").replace("%", "%%")


class ModuleParts:
    """What one C module collects besides cg_run: module-level code that ops contribute (a
    scan's step function, say) and the names of module-level symbols, unique across it."""

    def __init__(self):
        self.support = []
        self.symbols = NameTable()

    def add_support(self, code):
        self.support.append(code)


@dataclass
class Body:
    """The lowered statements of one graph, for cg_run or for an inner function."""
    variables: list
    inputs: list          # VarInfo of the graph inputs (then the large constants)
    constants: list       # VarInfo of embedded constants (with .data_name)
    blocks: list
    outputs: list         # VarInfo per output, with shape offsets
    hidden: list          # Constant variables passed in as inputs


def nan_guard_message(var, node_id=None, node=None):
    """What nan_guard says when ``var`` (an input, or the output of ``node``) holds a NaN or
    an Inf; ``{kind}`` and ``{index}`` stand for what was found and where. One text for both
    modes, so the C and the numpy reference raise the same message."""
    where = (f"the output {label_of(var)} of node {node_id} ({node.op})" if node is not None
             else f"the input {label_of(var)}")
    return f"NanGuard: {where} contains {{kind}}" + (" at index {index}" if var.ndim else "")


def _nan_guard_check(vi, message, node_id):
    """C statements failing with CG_NONFINITE when the float array ``vi`` holds a NaN/Inf."""
    fmt = c_string(message).replace("{kind}", "%s").replace("{index}", "%s")
    index_arg = (", cg_index_str(cg_where, sizeof cg_where, cg_at, "
                 f"{vi.ndim})" if vi.ndim else "")
    return "\n".join([
        f"/* nan_guard: {vi.name} must hold no NaN and no Inf */",
        "{",
        "    int64_t cg_at[CG_MAXDIM];",
        f"    const int cg_kind = cg_first_nonfinite(&{vi.name}, {vi.ndim}, "
        f"{int(vi.dtype == 'float64')}, cg_at);",
        "    if (cg_kind) {",
        "        char cg_where[200];" if vi.ndim else "        (void)cg_at;",
        f"        CG_FAIL(CG_NONFINITE, {node_id}, \"{fmt}\",",
        f"                cg_nonfinite_name(cg_kind){index_arg});",
        "    }",
        "}",
    ])


def constants_used(nodes, outputs):
    """The constants a graph reads, in order of first use."""
    used, seen = [], set()
    for var in [v for node in nodes for v in node.inputs] + list(outputs):
        if isinstance(var, Constant) and var not in seen:
            seen.add(var)
            used.append(var)
    return used


def passed_constants(nodes, outputs):
    """The constants too large to embed: cg_run receives them after the inputs."""
    return [c for c in constants_used(nodes, outputs) if c.data.size > EMBED_CONSTANT_LIMIT]


def lower_body(inputs, outputs, nodes, module, embed_all_constants=False, profile=False,
               nan_guard=False):
    """Lower ``nodes`` (computing ``outputs`` from ``inputs``) to blocks of C statements.

    With ``nan_guard``, the float inputs and every float output of every node are checked
    for NaN and Inf as soon as they are available; the first one found fails the call with
    CG_NONFINITE (FloatingPointError on the Python side).
    """
    names = NameTable()
    info = {}
    variables, input_infos, constant_infos = [], [], []

    def declare(var, fallback, comment=""):
        vi = VarInfo(name=names.make(var.name, fallback), label=c_string(label_of(var)),
                     ndim=var.ndim, dtype=var.dtype, ctype=var.type.ctype,
                     broadcastable=var.broadcastable, comment=comment)
        info[var] = vi
        variables.append(vi)
        return vi

    used_constants = constants_used(nodes, outputs)
    hidden = [] if embed_all_constants else \
        [c for c in used_constants if c.data.size > EMBED_CONSTANT_LIMIT]

    shape_offset = 0
    for k, var in enumerate(list(inputs) + hidden):
        if var in info:
            continue
        vi = declare(var, f"in{k}", "input" if k < len(inputs) else "large constant")
        vi.shape_offset = shape_offset
        shape_offset += var.ndim
        input_infos.append(vi)

    for var in used_constants:
        if var not in info:
            vi = declare(var, f"c{len(constant_infos)}", f"constant {label_of(var)}")
            vi.shape = var.data.shape
            vi.values = [c_literal(v, var.dtype) for v in var.data.ravel()]
            vi.data_name = module.symbols.make(f"{vi.name}_data", "constant_data")
            constant_infos.append(vi)

    blocks = []
    if nan_guard:
        checks = [_nan_guard_check(vi, nan_guard_message(var), -1)
                  for var, vi in zip(inputs, input_infos) if vi.dtype in FLOAT_DTYPES]
        if checks:
            blocks.append({"header": "nan_guard: the float inputs", "code": "\n".join(checks)})
    for node_id, node in enumerate(nodes):
        for var in node.outputs:
            if var not in info:
                declare(var, f"{_op_short_name(node.op)}{node_id}")
        out_name = node.outputs[0].name
        op_label = c_string(f"{node.op}" + (f" computing {out_name}" if out_name else ""))
        params = node.op.c_params(node)
        if hasattr(node.op, "c_support_code"):
            params.update(node.op.c_support_code(node, module))
        code = render(node.op.c_template,
                      ins=[info[v] for v in node.inputs], outs=[info[v] for v in node.outputs],
                      node_id=node_id, op_label=op_label, **params)
        # The user's source line is not written into the C (it would change the cache key
        # whenever code above moves); errors report it from the Python side.
        header = f"{node.op}: {', '.join(info[v].name for v in node.outputs)} <- " \
                 f"{', '.join(info[v].name for v in node.inputs)}"
        code = code.rstrip()
        if profile:
            # instrumented build: time spent in each node, read back by cg_profile_read
            code = (f"{{\n    const int64_t cg_t0 = cg_now_ns();\n{_indent(code)}\n"
                    f"    cg_profile_ns[{node_id}] += cg_now_ns() - cg_t0;\n"
                    f"    cg_profile_calls[{node_id}]++;\n}}")
        if nan_guard:
            code = "\n".join([code] + [
                _nan_guard_check(info[var], nan_guard_message(var, node_id, node), node_id)
                for var in node.outputs if var.dtype in FLOAT_DTYPES])
        blocks.append({"header": header.replace("*/", "* /"), "code": code})

    output_infos = []
    shape_offset = 0
    for var in outputs:
        if var not in info:
            raise AssertionError(f"output {var!r} was not lowered")
        vi = VarInfo(**{**info[var].__dict__})
        vi.shape_offset = shape_offset
        shape_offset += var.ndim
        output_infos.append(vi)
    return Body(variables, input_infos, constant_infos, blocks, output_infos, hidden)


def lower_inner_function(module, function_name, inputs, outputs, nodes, comment="",
                         shape_messages=()):
    """A static C function computing ``outputs`` from ``inputs`` (a scan's step, say).

    Its calling convention is documented at the top of templates/inner_function.c.j2 (inputs
    may be strided views; results go to arrays the caller allocated, or, for a NULL one, to
    an array allocated from the caller's pool). Every constant is embedded. Returns a CG_*
    status. ``shape_messages[k]``: the error message (C string pieces, two ``%s`` for the
    shapes) when output ``k`` has not the shape the caller expects.
    """
    body = lower_body(inputs, outputs, nodes, module, embed_all_constants=True)
    code = render("inner_function.c.j2", name=function_name,
                  comment=comment.replace("*/", "* /"), body=body,
                  shape_messages=list(shape_messages))
    module.add_support(code)
    return body


def _indent(code):
    return "\n".join(("    " + line) if line else line for line in code.splitlines())


def lower(inputs, outputs, nodes, function_name, profile=False, nan_guard=False):
    """The whole module for a function: support code, then cg_run.

    With ``profile`` every node's block is timed (a separate module, with its own key).
    With ``nan_guard`` every float value is checked for NaN/Inf (see ``lower_body``).
    """
    module = ModuleParts()
    body = lower_body(inputs, outputs, nodes, module, profile=profile, nan_guard=nan_guard)
    source = render(
        "module.c.j2", version=__version__, function_name=c_string(function_name or "anonymous"),
        input_summary=", ".join(f"{v.name} ({v.dtype}, {v.ndim}-d)" for v in body.inputs) or "none",
        output_summary=", ".join(f"{v.name} ({v.dtype}, {v.ndim}-d)" for v in body.outputs) or "none",
        body=body, support=module.support, profile_nodes=len(nodes) if profile else 0)
    return Lowered(source=source, inputs=list(inputs) + body.hidden,
                   hidden_constants=[v.data for v in body.hidden], outputs=list(outputs),
                   nodes=nodes)


def _op_short_name(op):
    from ..tensor.elemwise import Elemwise
    if isinstance(op, Elemwise):
        return "fused" if hasattr(op.scalar_op, "c_body") else op.scalar_op.name.rstrip("_")
    return type(op).__name__.lower()
