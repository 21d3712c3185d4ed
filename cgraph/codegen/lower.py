"""Lowering: a list of Apply nodes becomes one C source rendered from the templates.

Each graph variable is a ``cg_array`` local of the entry function, named after the variable.
Graph inputs arrive as contiguous arrays; small constants are embedded in the source, large
ones are passed in like inputs. Each node contributes one block rendered from its op's
template; outputs are handed to the caller in buffers of their own.
"""
import re
import textwrap
from dataclasses import dataclass, field

import numpy as np

from ..version import __version__
from ..graph.basic import Constant, readers_of
from ..graph.labels import (OP_LABEL_TOKEN, c_string, c_text, label_of,  # noqa: F401 (also used from here)
                             label_token, nan_guard_message, op_label_of)
from ..ifelse import IfElse, branch_layout
from ..tensor.shape_ops import Reshape
from ..tensor.type import FLOAT_DTYPES
from .names import NameTable
from .lowered import Lowered   # noqa: F401 - what lower() returns
from .render import render
from . import units

EMBED_CONSTANT_LIMIT = 256   # elements; larger constants are passed in at call time


@dataclass
class VarInfo:
    """What a template needs to know about a variable."""
    name: str          # C identifier
    label: str         # how error messages name it (the user's name or the expression),
                       # inside a printf format (c_string: % doubled)
    ndim: int
    dtype: str
    ctype: str
    broadcastable: tuple
    comment: str = ""
    shape_offset: int = 0
    shape: tuple = ()
    values: list = field(default_factory=list)
    data_name: str = ""
    data_owner: bool = True     # a constant's static array is written with this one
    inplace_input: int = -1     # an output that may be written into this input's buffer
    after_late: bool = False    # an output computed in the late blocks, not an update (a
                                # GemmSquares' sum of squares, or what reads it)
    arg_label: str = ""         # the label as an argument the runtime prints with %s (c_text)


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


class ModuleParts:
    """What one C module collects besides cg_run: module-level code that ops contribute (a
    scan's step function, say) and the names of module-level symbols, unique across it."""

    def __init__(self):
        self.support = []
        self.symbols = NameTable()
        self._kernels = {}    # a kernel's code (its name left out) -> its name

    def kernel_names(self):
        return set(self._kernels.values())

    def add_support(self, code):
        self.support.append(code)

    def add_support_template(self, template, **context):
        """Module-level code rendered from ``template``, once per module whatever number of
        nodes asks for it."""
        code = render(template, **context)
        if code not in self.support:
            self.add_support(code)

    def lower_inner_function(self, function_name, inputs, outputs, nodes, comment="",
                             shape_messages=()):
        """A static C function of this module computing ``outputs`` from ``inputs`` (see
        lower_inner_function): how an op with a graph inside (scan) gets its body lowered."""
        return lower_inner_function(self, function_name, inputs, outputs, nodes, comment,
                                    shape_messages)

    def add_kernel(self, template, name, **context):
        """A module-level function rendered from ``template`` (given ``kernel``, its name):
        one per distinct code, whatever node asks for it. Returns its name, ``name`` made
        unique (names starting with cg_ never clash with cg_run's locals: see NameTable)."""
        code = render(template, kernel="@KERNEL@", **context)
        known = self._kernels.get(code)
        if known is not None:
            return known
        unique, k = name, 2
        while unique in self.symbols.used:
            unique, k = f"{name}_{k}", k + 1
        self.symbols.used.add(unique)
        self._kernels[code] = unique
        self.add_support(code.replace("@KERNEL@", unique))
        return unique


@dataclass
class Body:
    """The lowered statements of one graph, for cg_run or for an inner function."""
    variables: list
    inputs: list          # VarInfo of the graph inputs (then the large constants)
    constants: list       # VarInfo of embedded constants (with .data_name)
    blocks: list
    outputs: list         # VarInfo per output, with shape offsets
    hidden: list          # Constant variables passed in as inputs
    inplace_check: str = ""    # C deciding cg_inplace (run after `blocks`)
    late_blocks: list = field(default_factory=list)   # in-place candidates, after the
    #                                                   other outputs are taken


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
               nan_guard=False, inplace=None, into_caller=False, label_tokens=False):
    """Lower ``nodes`` (computing ``outputs`` from ``inputs``) to blocks of C statements.

    With ``nan_guard``, the float inputs and every float output of every node are checked
    for NaN and Inf as soon as they are available; the first one found fails the call with
    CG_NONFINITE (FloatingPointError on the Python side).

    ``inplace`` ({output position: input position}, from compile.inplace.inplace_updates, whose
    nodes ``schedule_inplace`` put last): those nodes become ``late_blocks`` that write into
    the input's buffer when ``inplace_check`` sets cg_inplace.

    After the last reader of a group of variables that may share buffers, their pool
    buffers are given back (cg_pool_recycle), so later nodes of the call reuse them.

    With ``into_caller`` (an inner function, see templates/inner_function.c.j2) the node
    computing output k allocates it in the caller's array cg_out[k] when that has the
    result's shape (cg_pool_dest): no copy afterwards.

    With ``label_tokens`` (a module's cg_run, whose messages reach runners.raise_error with
    the failing node's graph) a node result's long label is written as its token
    (graph/labels.label_token), spelled out when an error is raised.
    """
    # (with nan_guard the plan is empty: compile.inplace.inplace_updates decides)
    inplace = dict(inplace or {})
    names = NameTable()
    info = {}
    variables, input_infos, constant_infos = [], [], []

    def declare(var, fallback, comment=""):
        vi = VarInfo(name=names.make(var.name, fallback), label=c_string(label_of(var)),
                     arg_label=c_text(label_of(var)),
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

    shared_data = {}   # (ctype, values) -> the static array holding them
    for var in used_constants:
        if var not in info:
            vi = declare(var, f"c{len(constant_infos)}", f"constant {label_of(var)}")
            vi.shape = var.data.shape
            vi.values = [c_literal(v, var.dtype) for v in var.data.ravel()]
            same = shared_data.get((vi.ctype, tuple(vi.values)))
            vi.data_owner = same is None    # equal values: one static array for both
            vi.data_name = same or module.symbols.make(f"{vi.name}_data", "constant_data")
            shared_data.setdefault((vi.ctype, tuple(vi.values)), vi.data_name)
            constant_infos.append(vi)

    blocks = []
    if nan_guard:
        checks = [_nan_guard_check(vi, nan_guard_message(var), -1)
                  for var, vi in zip(inputs, input_infos) if vi.dtype in FLOAT_DTYPES]
        if checks:
            blocks.append({"header": "nan_guard: the float inputs", "code": "\n".join(checks)})
    late_nodes = {outputs[k].owner: (k, j) for k, j in inplace.items()}
    # what reads a late node's other output (a GemmSquares' sum of squares): schedule_inplace
    # put it after the late nodes, and it runs after them
    after_late = set(readers_of(nodes, late_nodes))
    # what runs after them allocates nothing there either when all it computes is 0-d (a
    # cost reading a GemmSquares' sum): allocated early too, CG_DEST_FOR gives their buffers
    early_after = bool(after_late) and all(v.ndim == 0 for n in after_late for v in n.outputs)
    last_late = -1          # the position in late_blocks of the last late node's block
    into = {}      # a result computed by a node -> the caller's slot it may be written in
    if into_caller:
        for k, var in enumerate(outputs):
            if var.owner is not None and var not in into and all(var is not v for v in inputs):
                into[var] = k
    # lazy ifelse: nodes only one branch needs run under its condition (see cgraph/ifelse.py);
    # node ids stay the positions in `nodes`, the order of the blocks is `order`'s
    order, guards = branch_layout(nodes, outputs)
    node_ids = {node: k for k, node in enumerate(nodes)}
    flags = {}     # IfElse node -> the C flag holding its condition
    recycle_after = _recycling_plan(inputs, outputs, order)
    last_read, viewers = {}, {}
    for position, node in enumerate(order):
        for v in node.inputs:
            last_read[v] = position
            if not node.op.allocates_fresh_output:
                viewers.setdefault(v, set()).add(node)
    guarded = []   # (guard, block) in order, nested into if blocks at the end
    late_blocks = []
    early_allocs = []     # (allocations run after the other blocks, before the late ones)
    for position, node in enumerate(order):
        node_id = node_ids[node]
        guard = guards.get(node, ())
        for outer in guard:
            if outer[0] not in flags:
                guarded.append((guards.get(outer[0], ()),
                                _condition_flag(outer[0], node_ids[outer[0]], info, flags)))
        if isinstance(node.op, IfElse) and node not in flags:
            guarded.append((guard, _condition_flag(node, node_id, info, flags)))
        for var in node.outputs:
            if var not in info:
                vi = declare(var, f"{node.op.short_name()}{node_id}")
                if label_tokens and var is node.outputs[0] and not var.name and \
                        vi.name == f"{node.op.short_name()}{node_id}":
                    # its label (an expression, up to 80 characters) spelled out once, by
                    # the Python side, should a message name it (graph/labels.py)
                    token = label_token(vi.name)
                    if len(token) < len(vi.arg_label):
                        vi.label = vi.arg_label = token
        if label_tokens:
            op_label = op_arg_label = OP_LABEL_TOKEN
        else:
            op_label, op_arg_label = c_string(op_label_of(node)), c_text(op_label_of(node))
        params = node.op.c_params(node)
        if node.op.takes_dying_inputs:
            # inputs in buffers of their own that nothing reads after this node: the node
            # may keep one as an output's buffer (a Scan writes a state over its seed)
            # (its outputs then share the input's buffer group: recycled after their readers)
            params["dying"] = [k for k, v in enumerate(node.inputs)
                               if node.inputs.count(v) == 1 and
                               _buffer_dies_at(v, node, position, last_read, viewers, outputs)]
        if isinstance(node.op, IfElse):
            params["flag"] = flags[node]
        params.update(node.op.c_support_code(node, module))
        kernel_template = node.op.c_kernel_template
        if kernel_template and node.outputs[0].ndim > 0:
            # the node's loop as a module-level function, shared by nodes with the same code
            context = dict(params, ins=[info[v] for v in node.inputs],
                           outs=[info[v] for v in node.outputs], may_alias=node in late_nodes,
                           op_text=f"{node.op}".replace("*/", "* /"))
            context = node.op.c_kernel_context(node, context)   # the loop's operands
            params["kernel"] = runtime_loop(context) or module.add_kernel(
                kernel_template, f"cg_loop_{info[node.outputs[0]].name}", **context)
        # A late node's other outputs it names (a GemmSquares' 0-d sum) are allocated before
        # the late blocks: nothing may fail once one of them has written an input's buffer
        if node in late_nodes:
            early = [info[node.outputs[k]] for k in getattr(node.op, "early_outputs", ())]
        elif early_after and node in after_late:
            early = [info[v] for v in node.outputs]
        else:
            early = []
        early_allocs += [f"CG_ALLOC({v.name}, {v.ndim}, {v.ctype}, {node_id});" for v in early]
        # (late: the block may write into an updated input's buffer, CG_DEST_FOR not NULL)
        code = render(node.op.c_template,
                      ins=[info[v] for v in node.inputs], outs=[info[v] for v in node.outputs],
                      node_id=node_id, op_label=op_label, op_arg_label=op_arg_label,
                      late=node in late_nodes, preallocated=bool(early), **params)
        if label_tokens:
            code = _labels_as_tokens(code, [(label_of(v), info[v].label)
                                            for v in node.inputs + node.outputs])
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
        dest = [v for v in node.outputs if v in into][:1]    # the pool holds one request
        if dest:
            k, name = into[dest[0]], info[dest[0]].name
            header += f" (into the caller's cg_out[{k}] when it fits)"
            code = "\n".join([
                f"if (cg_out[{k}].data) {{ pool.dest_of = &{name}; pool.dest = &cg_out[{k}]; }}",
                code,
                "pool.dest_of = NULL;"])
        if node in late_nodes:
            k, j = late_nodes[node]
            out_name, target = info[node.outputs[0]].name, info[inputs[j]].name
            # the output may be an input's buffer here: no `restrict` promise in this block
            # (only where the block writes one: no runtime.h macro expands to `restrict`)
            no_restrict = re.search(r"\brestrict\b", code) is not None
            # (the next late block redefines CG_DEST_FOR; the last one restores it, below)
            code = "\n".join(
                ["#undef CG_DEST_FOR",
                 f"#define CG_DEST_FOR(a) CG_DEST_INTO(a, {out_name}, {target})"]
                + ["#define restrict"] * no_restrict + [code] + ["#undef restrict"] * no_restrict)
        # a buffer is given back only where its variable was surely computed (not after
        # the branch that computes it: the pool frees it at the end of the call anyway)
        # (none after the last node: the pool is released next, nothing more to serve)
        dead = [info[v] for v in recycle_after.get(position, ())
                if guard[:len(guards.get(v.owner, ()))] == guards.get(v.owner, ())
                and position < len(order) - 1]
        if dead:
            code += "\n" + _recycle_code(dead)
        block = {"header": header.replace("*/", "* /"), "code": code}
        if node in late_nodes or node in after_late:
            late_blocks.append(block)
            last_late = len(late_blocks) - 1 if node in late_nodes else last_late
        else:
            guarded.append((guard, block))
    blocks += _nest_branches(guarded, flags)
    if early_allocs:
        blocks.append({"header": "the late blocks' 0-d results, before any writes an input",
                       "code": "\n".join(early_allocs)})
    if last_late >= 0:      # (what runs after the last late node writes no input's buffer)
        late_blocks[last_late]["code"] += "\n#undef CG_DEST_FOR\n#define CG_DEST_FOR(a) " + \
            ("((a).data)" if early_after else "NULL")

    output_infos = []
    shape_offset = 0
    for var in outputs:
        if var not in info:
            raise AssertionError(f"output {var!r} was not lowered")
        vi = VarInfo(**{**info[var].__dict__})
        vi.shape_offset = shape_offset
        shape_offset += var.ndim
        output_infos.append(vi)
    for k, j in inplace.items():
        output_infos[k].inplace_input = j
    for k, var in enumerate(outputs):
        output_infos[k].after_late = var.owner in after_late or \
            (var.owner in late_nodes and k not in inplace)
    check = _inplace_check(inputs, input_infos, info, outputs, inplace) if inplace else ""
    return Body(variables, input_infos, constant_infos, blocks, output_infos, hidden,
                inplace_check=check, late_blocks=late_blocks)


_STRING_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def _labels_as_tokens(code, labels):
    """``code`` with the labels an op wrote itself (its c_params: label_of of an operand)
    written as the operand's token, where it has one (``labels``: (label, C label) pairs),
    in its string literals only. The messages stay the same: the token is spelled out as
    that very label (graph/labels.expand_label_tokens)."""
    # as a printf format (c_string) or as an argument printed with %s (c_text)
    pairs = sorted({(form, token) for text, token in labels if token.startswith("@{")
                    for form in (c_string(text), c_text(text)) if len(form) > len(token)},
                   key=lambda pair: -len(pair[0]))
    if not pairs:
        return code

    def tokens(match):
        literal = match.group(0)
        for text, token in pairs:
            literal = literal.replace(text, token)
        return literal
    return _STRING_LITERAL.sub(tokens, code)


_PLAIN_EXPR = re.compile(r"a(\d+)|\(\(void\)a\d+, a(\d+)\)")


def runtime_loop(context: dict):
    """The runtime's loop (runtime.h, plain elementwise loops) for a kernel ``context`` whose
    loop only copies input 0 into the output or fills it with input 0 or 1 (one element):
    a Gemm's z = bias, Elemwise{second}; its name, or None (a kernel is generated)."""
    if context.get("statements") or context.get("may_fail"):
        return None
    match = _PLAIN_EXPR.fullmatch(context["expr"].strip())
    if not match:
        return None
    k = int(match.group(1) or match.group(2))
    out, ins = context["outs"][0], context["ins"]
    size = np.dtype(out.dtype).itemsize
    if k >= len(ins) or ins[k].ctype != out.ctype or size not in (1, 2, 4, 8):
        return None
    if k in context["scalar_inputs"] and k < 2:
        return f"cg_loop_fill{k + 1}_{size}"
    if k == 0 and k in context["vector_inputs"]:
        return f"cg_loop_copy1_{size}"
    return None


def _condition_flag(node, node_id, info, flags):
    """The block reading an IfElse's condition once into a flag: the branches' blocks and
    the IfElse's own block test the same flag."""
    cond = info[node.inputs[0]]
    flag = flags[node] = f"cg_then{node_id}"
    return {"header": f"{node.op}: condition {cond.name} selects the branch of node {node_id}",
            "code": f"const int {flag} = *(const {cond.ctype} *){cond.name}.data != 0;"}


# Variables given back to the pool together from this many on are listed in a table and
# recycled by a loop: the last node's reader frees ~25 at once, one line each was ~1.2 KB of
# the MLP step's module (tests/codegen/test_module_size.py).
RECYCLE_TABLE_FROM = 4


def _recycle_code(dead):
    """The C that gives the buffers of ``dead`` (variable infos) back to the pool."""
    if len(dead) < RECYCLE_TABLE_FROM:
        return "\n".join(f"cg_pool_recycle_array(&pool, &{vi.name}, {vi.ndim});" for vi in dead)
    def table(declaration, items):
        return textwrap.fill(f"{declaration} = {{ {', '.join(items)} }};", 88,
                             initial_indent="    ", subsequent_indent=" " * 8)
    return "\n".join([
        "{   /* past their last reader: back to the pool */",
        table("const cg_array *const cg_dead[]", ["&" + vi.name for vi in dead]),
        table("static const signed char cg_dead_nd[]", [str(vi.ndim) for vi in dead]),
        f"    for (int k = 0; k < {len(dead)}; k++)",
        "        cg_pool_recycle_array(&pool, cg_dead[k], cg_dead_nd[k]);",
        "}"])


def _nest_branches(guarded, flags, depth=0):
    """The blocks of ``guarded`` ((guard, block) pairs, branch members consecutive), those
    whose guard is deeper than ``depth`` wrapped in one ``if`` block per branch."""
    blocks, k = [], 0
    while k < len(guarded):
        guard, block = guarded[k]
        if len(guard) <= depth:
            blocks.append(block)
            k += 1
            continue
        head = guard[depth]
        end = k
        while end < len(guarded) and guarded[end][0][depth:depth + 1] == (head,):
            end += 1
        inner = _nest_branches(guarded[k:end], flags, depth + 1)
        ifelse_node, branch = head
        which = "then" if branch else "else"
        body = "\n\n".join(f"/* {b['header']} */\n{b['code']}" for b in inner)
        blocks.append({
            "header": f"the nodes only the `{which}` branch of {ifelse_node.op} needs: run "
                      f"only when it is taken",
            "code": f"if ({'' if branch else '!'}{flags[ifelse_node]}) {{\n{_indent(body)}\n}}"})
        k = end
    return blocks


def _buffer_dies_at(v, node, position, last_read, viewers, outputs):
    """Whether ``v``, an input of ``node`` (at ``position`` of the order), is in a buffer
    nothing reads after ``node``: a fresh buffer, or a reshape of one (a Scan's pushed-out
    product, computed as one of matrices), no output, no other node viewing it."""
    reader = node
    while viewers.get(v) == {reader} and last_read[v] <= position and \
            not any(v is out for out in outputs) and v.owner is not None:
        if v.owner.op.allocates_fresh_output:
            return True
        if not isinstance(v.owner.op, Reshape):
            return False
        reader, v = v.owner, v.owner.inputs[0]
    return False


def _recycling_plan(inputs, outputs, nodes):
    """{node index: variables whose buffers may be given back after that node}.

    Variables that may share a buffer (a view and what it views, through any op not known to
    allocate fresh outputs) form one group; a group's buffers are given back after the last
    node reading any of its members, unless one is an output (outputs live to the end).
    Inputs and constants are never pool buffers (cg_pool_recycle ignores them); an empty
    view of one may point into any buffer, so empty variables are not given back
    (cg_pool_recycle_array)."""
    parent = {}

    def find(v):
        while parent.get(v, v) is not v:
            parent[v] = parent.get(parent[v], parent[v])
            v = parent[v]
        return v

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra is not rb:
            parent[ra] = rb

    last = {}
    defined = []
    for node_id, node in enumerate(nodes):
        for v in node.inputs:
            last[v] = node_id
        for v in node.outputs:
            last.setdefault(v, node_id)
            defined.append(v)
            if not node.op.allocates_fresh_output:   # else the output may view an input
                for x in node.inputs:
                    if not isinstance(x, Constant):
                        union(v, x)
    end = {}
    for v, node_id in last.items():   # inputs in a group count: views of them are readers
        r = find(v)
        end[r] = max(end.get(r, -1), node_id)
    keep = {find(v) for v in outputs}
    plan = {}
    for v in defined:
        r = find(v)
        if r in keep:
            continue
        plan.setdefault(end[r], []).append(v)
    return plan


def _inplace_check(inputs, input_infos, info, outputs, inplace):
    """C that sets cg_inplace to 1 only when every planned in-place write is safe: see
    cgraph/rewrite/inplace.py. Runs after every other node, before the candidates."""
    lines = ["/* in-place updates: only if no candidate can fail and nothing overlaps */",
             "cg_inplace = 1;"]
    n_in = len(input_infos)
    # no updated input's buffer is another input's (the runtime checks every pair); the
    # tables serve the candidates' operands too (cg_overlaps_updated)
    lines += ["{",
              "    const cg_array *const cg_ins[] = { "
              + ", ".join(f"&{vi.name}" for vi in input_infos) + " };",
              "    static const int cg_nds[] = { "
              + ", ".join(str(vi.ndim) for vi in input_infos) + " };",
              "    static const int64_t cg_isz[] = { "
              + ", ".join(f"sizeof({vi.ctype})" for vi in input_infos) + " };",
              "    static const signed char cg_updated[] = { "
              + ", ".join("1" if j in inplace.values() else "0"
                          for j in range(n_in)) + " };",
              f"    if (cg_inputs_overlap(cg_ins, cg_nds, cg_isz, cg_updated, {n_in})) "
              "cg_inplace = 0;",
              "    /* a candidate's operand sharing a byte with an updated input */",
              "    #define CG_OVERLAPS_UPDATED(a, nd, isz) cg_overlaps_updated(&(a), nd, isz, "
              f"cg_ins, cg_nds, cg_isz, cg_updated, {n_in})"]
    for k, j in inplace.items():
        node = outputs[k].owner
        target = inputs[j]
        ti = input_infos[j]
        lines.append(f"    /* {info[node.outputs[0]].name} into {ti.name} */")
        conditions = node.op.inplace_conditions(node, info, ti)
        body = list(conditions.checks)
        operands = [(v, info[v]) for v in conditions.whole]
        shaped = [(v, info[v]) for v in conditions.elementwise]
        # every elementwise operand: length 1 or W's length on each axis, and, if it is not
        # W itself, no byte in common with a buffer being overwritten
        for v, vi in shaped:
            if v is target:
                continue
            if vi.ndim != ti.ndim:
                body.append("cg_inplace = 0;")
                continue
            if not (isinstance(v, Constant) and all(n == 1 for n in v.data.shape)):
                # (a constant of ones broadcasts: no check)
                body.append(f"if (!cg_broadcasts_to(&{vi.name}, &{ti.name}, {ti.ndim})) "
                            "cg_inplace = 0;")
            operands.append((v, vi))
        if not conditions.shape_checked and ti.ndim:
            # the broadcast result must have W's shape: some operand has W's length
            for d in range(ti.ndim):
                if any(v is target for v, _ in shaped):
                    break
                has = " || ".join(f"{vi.name}.shape[{d}] == {ti.name}.shape[{d}]"
                                  for _, vi in shaped) or "0"
                body.append(f"if (!({has})) cg_inplace = 0;")
        for v, vi in operands:
            # constants, and new buffers from the pool, share no byte with an input
            if isinstance(v, Constant) or (v.owner is not None and v.owner.op.allocates_fresh_output):
                continue
            body.append(f"if (CG_OVERLAPS_UPDATED({vi.name}, {vi.ndim}, sizeof({vi.ctype}))) "
                        "cg_inplace = 0;")
        lines += ["    " + line for line in body]
    lines += ["    #undef CG_OVERLAPS_UPDATED", "}"]
    return "\n".join(lines)


def lower_inner_function(module, function_name, inputs, outputs, nodes, comment="",
                         shape_messages=()):
    """A static C function computing ``outputs`` from ``inputs`` (a scan's step, say).

    Its calling convention is documented at the top of templates/inner_function.c.j2 (inputs
    may be strided views; results go to arrays the caller allocated, or, for a NULL one, to
    an array allocated from the caller's pool). Every constant is embedded. Returns a CG_*
    status. ``shape_messages[k]``: the error message (C string pieces, two ``%s`` for the
    shapes) when output ``k`` has not the shape the caller expects.
    """
    body = lower_body(inputs, outputs, nodes, module, embed_all_constants=True,
                      into_caller=True)
    code = render("inner_function.c.j2", name=function_name,
                  comment=comment.replace("*/", "* /"), body=body,
                  shape_messages=list(shape_messages))
    module.add_support(code)
    return body


def _indent(code):
    return "\n".join(("    " + line) if line else line for line in code.splitlines())


def lower(inputs, outputs, nodes, function_name, profile=False, nan_guard=False, inplace=None):
    """The whole module for a function: support code, then cg_run.

    With ``profile`` every node's block is timed (a separate module, with its own key).
    With ``nan_guard`` every float value is checked for NaN/Inf (see ``lower_body``).
    """
    module = ModuleParts()
    body = lower_body(inputs, outputs, nodes, module, profile=profile, nan_guard=nan_guard,
                      inplace=inplace, label_tokens=True)
    def render_module(body, support):
        return render(
            "module.c.j2", version=__version__,
            function_name=c_string(function_name or "anonymous"),
            input_summary=", ".join(f"{v.name} ({v.dtype}, {v.ndim}-d)" for v in body.inputs) or "none",
            output_summary=", ".join(f"{v.name} ({v.dtype}, {v.ndim}-d)" for v in body.outputs) or "none",
            body=body, support=support, profile_nodes=len(nodes) if profile else 0,
            uses_lapack=getattr(module, "uses_lapack", False))

    # a large module becomes translation units compiled in parallel (see codegen/units.py)
    groups = units.block_groups(body, module.support, profile, getattr(module, "uses_lapack", False))
    source = render_module(body, module.support) if not groups else units.split_module(
        body, module.support, render_module, c_string(function_name or "anonymous"), groups,
        module.kernel_names())
    return Lowered(source=source, graph_inputs=list(inputs), hidden=list(body.hidden),
                   outputs=list(outputs), nodes=nodes, inplace=dict(inplace or {}))

