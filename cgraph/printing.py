"""Seeing inside graphs, as Theano's ``theano.printing``.

``debugprint`` (alias ``dprint``) writes one line per variable, children indented under the
node that uses them; ``pprint`` (alias ``pp``) renders a variable as one infix expression;
``pydotprint`` draws the graph with Graphviz. All three accept a variable, an Apply or a list
of them; ``debugprint`` and ``pydotprint`` also take a compiled function, of which they show
the graph after rewrites, in execution order, with the shared variables and their updates.
"""
import os
import sys

import numpy as np

from .compile.function import Function
from .compile.sharedvalue import SharedVariable
from .graph.basic import Apply, Constant, Op, Variable, io_toposort
from .tensor.blas import Dot
from .tensor.elemwise import DimShuffle, Elemwise
from .tensor.nnet import Softmax
from .tensor.reduction import ArgReduce, Reduce
from .tensor.shape_ops import Alloc, ARange, Join, MakeVector, Reshape, Shape, Shape_i
from .tensor.subtensor import (AdvancedIncSubtensor, AdvancedSubtensor, IncSubtensor,
                               Subtensor)
from .tensor.type import TensorType

__all__ = ["debugprint", "dprint", "pprint", "pp", "PPrinter", "pydotprint"]


# --- what a printer shows of the object it is given ----------------------------------------

class _GraphView:
    """The variables to show and, for a compiled function, what is known about them.

    ``roots``: the variables printed at the top level; ``order``: {Apply: position in the
    function's execution order} (empty outside a function); ``notes``: {root position: text}
    saying which outputs are the new values of which shared variable.
    """

    def __init__(self, roots, order=None, notes=None):
        self.roots = roots
        self.order = order or {}
        self.notes = notes or {}

    @classmethod
    def of(cls, obj, caller):
        if isinstance(obj, Function):
            # outputs after the user's are the update values (see CallLayout)
            layout = obj.layout
            notes = {layout.n_outputs + k: f"-> update of {t!r}"
                     for k, t in enumerate(layout.update_targets)}
            return cls(list(obj.graph_outputs), {n: k for k, n in enumerate(obj.nodes)}, notes)
        items = obj if isinstance(obj, (list, tuple)) else [obj]
        roots = []
        for item in items:
            if isinstance(item, Variable):
                roots.append(item)
            elif isinstance(item, Apply):
                roots.extend(item.outputs)
            else:
                raise TypeError(
                    f"{caller} cannot print an object of type {type(item).__name__}: give a "
                    f"Variable, an Apply, a list of them or a compiled function")
        return cls(roots)

    def nodes(self):
        """The Apply nodes of the graph, in execution order."""
        if self.order:
            return sorted(self.order, key=self.order.get)
        return io_toposort(self.roots)


def type_text(var):
    """The variable's type, with what is statically known of its shape.

    As the type's own text: ``TensorType(float64, matrix)``, or ``TensorType(float64, (1, ?))``
    when some dimensions are broadcastable (length 1). A constant's whole shape is known:
    ``TensorType(float64, (2, 3))``.
    """
    t = var.type
    if isinstance(var, Constant) and isinstance(t, TensorType) and t.ndim > 0 \
            and not all(t.broadcastable):
        shape = var.data.shape
        return f"TensorType({t.dtype}, ({', '.join(map(str, shape))}{',' * (len(shape) == 1)}))"
    return str(t)


def _value_text(value, limit=60):
    """A numpy value on one line: every element when there are few (``[[1.0, 2.0]]``),
    else numpy's summary, shortened to about ``limit`` characters."""
    value = np.asarray(value)
    if value.size <= 16:
        return _nested_text(value)
    text = np.array2string(value, separator=", ", threshold=8, edgeitems=2,
                           max_line_width=10 ** 6).replace("\n", "")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _nested_text(value):
    if value.ndim == 0:
        return str(value[()])   # numpy's shortest text for the scalar: 0.1 in float32 too
    return "[" + ", ".join(_nested_text(item) for item in value) + "]"


def _constant_text(const):
    """How a constant appears inside an expression: its name, else its value."""
    if const.name:
        return const.name
    if const.data.size > 16:
        return f"Constant{{{const.data.dtype}, shape={const.data.shape}}}"
    return _value_text(const.data)


# --- debugprint --------------------------------------------------------------------------

def _char_id(number):
    """0 -> A, 25 -> Z, 26 -> BA: the base-26 letters Theano uses for ids."""
    text = ""
    while True:
        number, digit = divmod(number, 26)
        text = chr(ord("A") + digit) + text
        if number == 0:
            return text


class _DebugPrinter:
    """Collects debugprint's lines; ids are assigned in the order objects are first seen."""

    def __init__(self, view, print_type, ids, stop_on_name, done, used_ids, print_storage,
                 print_clients):
        if ids not in ("CHAR", "int", "id", ""):
            raise ValueError(f"debugprint: ids must be 'CHAR', 'int', 'id' or '', got {ids!r}")
        self.view = view
        self.print_type = print_type
        self.ids = ids
        self.stop_on_name = stop_on_name
        self.done = done          # objects whose inputs were already printed: {obj: id}
        self.used_ids = used_ids  # objects that have an id: {obj: id}
        self.print_storage = print_storage
        self.clients = self._clients() if print_clients else None
        self.lines = []           # [text, users] (users: the clients to list, or None)

    def _clients(self):
        """{variable: its users}: the nodes that read it, and "output" for a root."""
        users = {}
        for node in io_toposort(self.view.roots):
            for var in node.inputs:
                entry = users.setdefault(var, [])
                if node not in entry:
                    entry.append(node)
        for root in self.view.roots:
            users.setdefault(root, []).append("output")
        return users

    def id_of(self, obj):
        if self.ids == "":
            return ""
        if obj not in self.used_ids:
            tag = {"CHAR": _char_id, "int": str}.get(self.ids, lambda _: str(id(obj)))
            self.used_ids[obj] = f"[id {tag(len(self.used_ids))}]"
        return self.used_ids[obj]

    def show(self, var, prefix, child_prefix, depth, note=""):
        """Print ``var``'s line then, unless already shown, its inputs indented under it."""
        if depth == 0:
            return
        node = var.owner
        type_part = f"<{type_text(var)}>" if self.print_type else ""
        if node is None:
            parts = [prefix + self._leaf_label(var), self.id_of(var), type_part]
            if isinstance(var, SharedVariable):
                parts.append("(shared)")
            if self.print_storage and (isinstance(var, (Constant, SharedVariable))):
                value = var.data if isinstance(var, Constant) else var.container.value
                parts.append(f"storage={_value_text(value)}")
            self.done.setdefault(var, self.used_ids.get(var, ""))
            self._emit(parts, note, None)
            return
        output = str(node.op) + (f".{var.index}" if len(node.outputs) > 1 else "")
        name = f"'{var.name or ''}'"
        if node in self.view.order:
            name += f"   {self.view.order[node]}"
        parts = [prefix + output, self.id_of(node), type_part, name]
        users = self.clients.get(var, []) if self.clients is not None else []
        self._emit(parts, note, users if len(users) > 1 else None)
        if node in self.done:
            return
        self.done[node] = self.used_ids.get(node, "")
        if self.stop_on_name and var.name is not None:
            return
        for k, inp in enumerate(node.inputs):
            last = k == len(node.inputs) - 1
            self.show(inp, child_prefix + " |", child_prefix + ("  " if last else " |"),
                      depth - 1)

    @staticmethod
    def _leaf_label(var):
        if isinstance(var, Constant) and not var.name:
            return f"TensorConstant{{{_constant_text(var)}}}"
        return repr(var)

    def _emit(self, parts, note, users):
        self.lines.append([" ".join(p for p in parts + [note] if p), users])

    def text(self):
        out = []
        for line, users in self.lines:
            if users:
                # ids of clients printed later (or not at all) are known only now
                names = ["output" if u == "output" else self.id_of(u) or str(u.op)
                         for u in users]
                line += " clients:" + ",".join(names)
            out.append(line + "\n")
        return "".join(out)


def debugprint(obj, depth=-1, print_type=False, file=None, ids="CHAR", stop_on_name=False,
               done=None, print_storage=False, print_clients=False, used_ids=None):
    """Print a graph as indented text, one line per variable (Theano's debugprint).

    ``obj``: a Variable, an Apply, a list of them, or a compiled function (then the graph
    after rewrites is shown, each node with its position in the execution order, and each
    output that is the new value of a shared variable marked ``-> update of W``).

    A line shows the op that computes the variable (``Elemwise{add}``; ``.N`` for output N
    of a node with several) or, for a graph input, its name; then its id (``[id A]``), with
    ``print_type`` its type, and the variable's name in quotes. The node's inputs follow,
    indented with `` |``. A node met again is printed as its line alone (its id refers to the
    first time). Shared variables are marked ``(shared)``.

    ``depth``: levels to print (-1: all). ``file``: None prints to stdout, ``"str"`` returns
    the text, a file object receives it. ``ids``: ``"CHAR"`` (A, B, ..), ``"int"``, ``"id"``
    (Python ids) or ``""`` (none). ``stop_on_name``: do not print below a named variable.
    ``print_storage``: show the values of constants and shared variables (intermediate values
    are not kept by cgraph). ``print_clients``: for a variable used more than once, list the
    ids of its users (``output`` for a printed root). ``done`` and ``used_ids`` ({object: id}
    dicts) carry the ids across several calls so that their outputs refer to each other.
    """
    view = _GraphView.of(obj, "debugprint")
    printer = _DebugPrinter(view, print_type, ids, stop_on_name,
                            {} if done is None else done, {} if used_ids is None else used_ids,
                            print_storage, print_clients)
    for k, root in enumerate(view.roots):
        printer.show(root, "", "", depth, view.notes.get(k, ""))
    text = printer.text()
    if file == "str":
        return text
    target = sys.stdout if file is None else file
    target.write(text)
    if file is None:
        target.flush()
        return None
    return file


dprint = debugprint


# --- pprint ------------------------------------------------------------------------------

_INFIX = {"add": "+", "sub": "-", "mul": "*", "true_div": "/", "floor_div": "//", "mod": "%",
          "pow": "**", "lt": "<", "gt": ">", "le": "<=", "ge": ">=", "eq": "==", "neq": "!=",
          "and_": "&", "or_": "|", "xor": "^"}
_PREFIX = {"neg": "-", "invert": "~"}


class PPrinter:
    """Renders a variable as one expression, choosing a printer by the op that computes it.

    ``assign(condition, printer)`` adds a rule, tried before the earlier ones: ``condition``
    is an Op (nodes of an equal op), an Op class (nodes of its instances) or a predicate
    ``f(var) -> bool``; ``printer(var, pprinter) -> str`` renders the variable, calling
    ``pprinter.process(input)`` for the inputs it shows.
    """

    def __init__(self):
        self.printers = []
        self._memo = None

    def assign(self, condition, printer):
        if isinstance(condition, type):
            self.printers.insert(0, (_made_by_instance_of(condition), printer))
        elif isinstance(condition, Op):
            self.printers.insert(0, (_made_by_op(condition), printer))
        else:
            self.printers.insert(0, (condition, printer))

    def process(self, var):
        """The expression of ``var`` (each shared subexpression rendered once per call)."""
        top = self._memo is None
        if top:
            self._memo = {}
        try:
            if var not in self._memo:
                self._memo[var] = self._render(var)
            return self._memo[var]
        finally:
            if top:
                self._memo = None

    def _render(self, var):
        for condition, printer in self.printers:
            if condition(var):
                return printer(var, self)
        return _default_printer(var, self)

    def __call__(self, obj):
        if isinstance(obj, Apply):
            obj = obj.outputs if len(obj.outputs) > 1 else obj.outputs[0]
        if isinstance(obj, (list, tuple)):
            return "\n".join(self(item) for item in obj)
        if not isinstance(obj, Variable):
            raise TypeError(f"pprint cannot print an object of type {type(obj).__name__}: "
                            f"give a Variable, an Apply or a list of them")
        return self.process(obj)


def _made_by_instance_of(cls):
    return lambda var: var.owner is not None and isinstance(var.owner.op, cls)


def _made_by_op(op):
    return lambda var: var.owner is not None and var.owner.op == op


def _leaf_printer(var, pp):
    if isinstance(var, Constant):
        return _constant_text(var)
    return repr(var)


def _default_printer(var, pp):
    """``Op(inputs)``; ``.N`` names output N of a node with several."""
    node = var.owner
    if node is None:
        return _leaf_printer(var, pp)
    text = f"{node.op}({', '.join(pp.process(i) for i in node.inputs)})"
    return text + (f".{var.index}" if len(node.outputs) > 1 else "")


def _without_padding(var):
    """``var`` without the DimShuffle that Elemwise adds to broadcast a lower-rank input
    (only leading new axes): ``x + b`` reads better than ``x + DimShuffle{x,0}(b)``."""
    while var.owner is not None and isinstance(var.owner.op, DimShuffle):
        order = var.owner.op.new_order
        k = order.count("x")
        if order[:k] != ("x",) * k or order[k:] != tuple(range(len(order) - k)):
            break
        var = var.owner.inputs[0]
    return var


def _elemwise_printer(var, pp):
    scalar = var.owner.op.scalar_op
    args = [pp.process(_without_padding(i)) for i in var.owner.inputs]
    if scalar.name in _INFIX:
        return "(" + f" {_INFIX[scalar.name]} ".join(args) + ")"
    if scalar.name in _PREFIX:
        return f"({_PREFIX[scalar.name]}{args[0]})"
    if scalar.name.startswith("cast_"):
        return f"cast({args[0]}, {var.dtype})"
    return f"{scalar.name}({', '.join(args)})"


def _dimshuffle_printer(var, pp):
    op = var.owner.op
    x = pp.process(var.owner.inputs[0])
    if len(op.new_order) > 1 and op.new_order == tuple(reversed(range(len(op.new_order)))):
        return f"{x}.T"
    return f"{x}.dimshuffle({', '.join(repr(a) for a in op.new_order)})"


def _dot_printer(var, pp):
    a, b = (pp.process(i) for i in var.owner.inputs)
    return f"({a} \\dot {b})"


def _axes_keywords(op, ndim):
    """``, axis=(1,)`` (nothing when every axis is reduced) and the other options set."""
    words = []
    if tuple(op.axis) != tuple(range(ndim)):
        words.append(f"axis=({', '.join(map(str, op.axis))}{',' * (len(op.axis) == 1)})")
    if op.keepdims:
        words.append("keepdims=True")
    for key in ("ddof", "dtype", "acc_dtype"):
        value = getattr(op, key, None)
        if value:
            words.append(f"{key}={value}")
    return "".join(", " + w for w in words)


def _reduce_printer(var, pp):
    op, x = var.owner.op, var.owner.inputs[0]
    return f"{op.mode}({pp.process(x)}{_axes_keywords(op, x.ndim)})"


def _argreduce_printer(var, pp):
    op, x = var.owner.op, var.owner.inputs[0]
    name = op.kind if op.with_value and var.index == 0 else f"arg{op.kind}"
    return f"{name}({pp.process(x)}{_axes_keywords(op, x.ndim)})"


def _basic_index_text(idx_list, scalars, pp):
    """``0:20, i`` from a Subtensor index list; symbolic entries take the next scalar."""
    scalars = iter(scalars)

    def entry(value):
        if value is None:
            return ""
        return pp.process(next(scalars)) if isinstance(value, str) else str(value)

    parts = []
    for e in idx_list:
        if e[0] == "index":
            parts.append(entry(e[1]))
        else:
            text = f"{entry(e[1])}:{entry(e[2])}"
            parts.append(text + (f":{entry(e[3])}" if e[3] is not None else ""))
    return ", ".join(parts)


def _subtensor_printer(var, pp):
    x, *scalars = var.owner.inputs
    return f"{pp.process(x)}[{_basic_index_text(var.owner.op.idx_list, scalars, pp)}]"


def _inc_subtensor_printer(var, pp):
    op = var.owner.op
    x, y, *scalars = var.owner.inputs
    kind = "set" if op.set_instead_of_inc else "inc"
    region = f"{pp.process(x)}[{_basic_index_text(op.idx_list, scalars, pp)}]"
    return f"{kind}_subtensor({region}, {pp.process(y)})"


def _advanced_index_text(pattern, indices, pp):
    return ", ".join(":" if p is None else pp.process(indices[p]) for p in pattern)


def _advanced_subtensor_printer(var, pp):
    x, *indices = var.owner.inputs
    return f"{pp.process(x)}[{_advanced_index_text(var.owner.op.pattern, indices, pp)}]"


def _advanced_inc_subtensor_printer(var, pp):
    op = var.owner.op
    x, y, *indices = var.owner.inputs
    kind = "set" if op.set_instead_of_inc else "inc"
    region = f"{pp.process(x)}[{_advanced_index_text(op.pattern, indices, pp)}]"
    return f"{kind}_subtensor({region}, {pp.process(y)})"


def _call_printer(name, leading_props=()):
    """A printer rendering ``name(props..., inputs...)``."""
    def printer(var, pp):
        args = [str(getattr(var.owner.op, p)) for p in leading_props]
        args += [pp.process(i) for i in var.owner.inputs]
        return f"{name}({', '.join(args)})"
    return printer


def _default_pprinter():
    pp = PPrinter()
    pp.assign(Elemwise, _elemwise_printer)
    pp.assign(DimShuffle, _dimshuffle_printer)
    pp.assign(Dot, _dot_printer)
    pp.assign(Reduce, _reduce_printer)
    pp.assign(ArgReduce, _argreduce_printer)
    pp.assign(Subtensor, _subtensor_printer)
    pp.assign(IncSubtensor, _inc_subtensor_printer)
    pp.assign(AdvancedSubtensor, _advanced_subtensor_printer)
    pp.assign(AdvancedIncSubtensor, _advanced_inc_subtensor_printer)
    pp.assign(Shape, lambda var, pp: f"{pp.process(var.owner.inputs[0])}.shape")
    pp.assign(Shape_i, lambda var, pp:
              f"{pp.process(var.owner.inputs[0])}.shape[{var.owner.op.i}]")
    pp.assign(MakeVector, lambda var, pp:
              "[" + ", ".join(pp.process(i) for i in var.owner.inputs) + "]")
    pp.assign(Reshape, _call_printer("reshape"))
    pp.assign(Join, _call_printer("join", ("axis",)))
    pp.assign(Alloc, _call_printer("alloc"))
    pp.assign(ARange, _call_printer("arange"))
    pp.assign(Softmax, lambda var, pp:
              f"{'log_softmax' if var.owner.op.log else 'softmax'}"
              f"({pp.process(var.owner.inputs[0])})")
    pp.assign(lambda var: var.owner is None, _leaf_printer)
    return pp


pprint = _default_pprinter()
pprint.__doc__ = """``pprint(var)``: ``var`` as one infix expression, e.g. ``((x \\dot W) + b)``."""
pp = pprint


# --- pydotprint --------------------------------------------------------------------------

_INSTALL_HINT = ("pydotprint draws graphs with Graphviz: it needs the graphviz Python package "
                 "(pip install graphviz, or pip install 'cgraph[graph]') and the Graphviz "
                 "'dot' program (apt-get install graphviz on Debian/Ubuntu, brew install "
                 "graphviz on macOS).")

# Op class name (a substring of it) -> fill colour of the node's box; the last match wins.
default_colorCodes = {
    "Shape": "cyan",
    "Elemwise": "#FFAABB",
    "Subtensor": "#FFAAFF",
    "Alloc": "#FFAA22",
    "Dot": "#FFFF88",
    "Scan": "yellow",
}

_VARIABLE_COLORS = {"input": "green", "constant": "palegreen", "shared": "gold",
                    "output": "blue", "unused": "lightgrey", "intermediate": None}


def _import_graphviz():
    try:
        import graphviz
    except ImportError:
        raise ImportError(f"Could not import the graphviz Python package. {_INSTALL_HINT}") \
            from None
    import shutil   # (not at import: it loads bz2, lzma, ~2 ms)
    if shutil.which("dot") is None:
        raise RuntimeError(f"The Graphviz 'dot' program was not found on the PATH. "
                           f"{_INSTALL_HINT}")
    return graphviz


def _shorten(text, limit):
    return text if len(text) <= limit else text[:max(limit - 3, 1)] + "..."


def _dot_label(text):
    # a backslash starts an escape sequence in Graphviz labels
    return text.replace("\\", "\\\\")


class _DotGraph:
    """Builds the Graphviz description of a graph view (see ``pydotprint``)."""

    def __init__(self, graphviz, view, obj, compact, with_ids, high_contrast, color_codes,
                 max_label_size, var_with_name_simple):
        self.view = view
        self.compact = compact
        self.with_ids = with_ids
        self.high_contrast = high_contrast
        self.color_codes = color_codes
        self.max_label_size = max_label_size
        self.var_with_name_simple = var_with_name_simple
        self.graph = graphviz.Digraph(name=getattr(obj, "name", None) or "cgraph")
        self.var_ids = {}       # variable -> Graphviz node name
        self.nodes = view.nodes()
        self.apply_ids = {node: f"apply{k}" for k, node in enumerate(self.nodes)}
        self.roots = set(view.roots)
        self.used = {v for node in self.nodes for v in node.inputs}
        self.update_targets = {}
        if isinstance(obj, Function):
            first = obj.layout.n_outputs
            for k, target in enumerate(obj.layout.update_targets):
                self.update_targets.setdefault(view.roots[first + k], []).append(target)

    def build(self):
        for node in self.nodes:
            self._add_apply(node)
        for root in self.view.roots:
            self._variable_node(root)      # outputs that are graph inputs too
        for value, targets in self.update_targets.items():
            for target in targets:
                self.graph.edge(self._variable_node(value), self._variable_node(target),
                                label="update", style="dashed", color="blue",
                                constraint="false")
        return self.graph

    def _kind(self, var):
        if isinstance(var, SharedVariable):
            return "shared"
        if isinstance(var, Constant):
            return "constant"
        if var.owner is None:
            return "input"
        if var in self.roots:
            return "output"
        if var not in self.used:
            return "unused"
        return "intermediate"

    def _drawn(self, var):
        """Whether ``var`` gets an ellipse of its own (compact mode skips unnamed
        intermediate values: their edges go straight from node to node)."""
        return var.owner is None or not self.compact or var.name is not None \
            or self._kind(var) != "intermediate"

    def _style(self, color, shape):
        if color is None:
            return {"shape": shape}
        if self.high_contrast:
            style = {"shape": shape, "style": "filled", "fillcolor": color}
            if color == "blue":
                style["fontcolor"] = "white"
            return style
        return {"shape": shape, "color": color}

    def _variable_label(self, var):
        if var.name is not None:
            label = var.name if self.var_with_name_simple else f"{var.name}\n{type_text(var)}"
        elif isinstance(var, Constant):
            label = f"val={_value_text(var.data, 30)}\n{type_text(var)}"
        else:
            label = type_text(var)
        if var in self.update_targets:
            names = ", ".join(repr(t) for t in self.update_targets[var])
            label = f"update of {names}\n{label}"
        if self.with_ids:
            label += f" id={len(self.var_ids)}"
        return "\n".join(_shorten(line, self.max_label_size) for line in label.split("\n"))

    def _variable_node(self, var):
        if var not in self.var_ids:
            name = f"var{len(self.var_ids)}"
            label = self._variable_label(var)
            self.var_ids[var] = name
            color = _VARIABLE_COLORS[self._kind(var)]
            self.graph.node(name, _dot_label(label), **self._style(color, "ellipse"))
        return self.var_ids[var]

    def _add_apply(self, node):
        label = str(node.op)
        if self.with_ids:
            label += f" id={self.view.order.get(node, self.nodes.index(node))}"
        color = None
        for op_name, code in self.color_codes.items():
            if op_name in type(node.op).__name__:
                color = code
        self.graph.node(self.apply_ids[node], _dot_label(_shorten(label, self.max_label_size)),
                        **self._style(color, "box"))
        for k, var in enumerate(node.inputs):
            label = type_text(var)
            if len(node.inputs) > 1:
                label = f"{k} {label}"
            if self._drawn(var):
                source = self._variable_node(var)
            else:
                source = self.apply_ids[var.owner]
            self.graph.edge(source, self.apply_ids[node],
                            label=_dot_label(_shorten(label, self.max_label_size)))
        for k, var in enumerate(node.outputs):
            if not self._drawn(var):
                continue
            label = type_text(var)
            if len(node.outputs) > 1:
                label = f"{k} {label}"
            self.graph.edge(self.apply_ids[node], self._variable_node(var),
                            label=_dot_label(_shorten(label, self.max_label_size)))


def pydotprint(fct, outfile=None, compact=True, format="png", with_ids=False,
               high_contrast=True, cond_highlight=None, colorCodes=None, max_label_size=70,
               scan_graphs=False, var_with_name_simple=False, print_output_file=True,
               return_image=False):
    """Draw a graph with Graphviz and write it to ``outfile`` (Theano's pydotprint).

    ``fct``: a compiled function (its graph after rewrites), a Variable, an Apply or a list.
    Variables are ellipses: graph inputs green, constants pale green, shared variables gold,
    outputs blue, unused outputs grey; an output that is the new value of a shared variable
    says so and has a dashed edge to it. Apply nodes are boxes, coloured by op family
    (``colorCodes``: {substring of the op's class name: colour}); edges carry the type, and
    the input's position when a node has several inputs.

    ``outfile``: the file to write; its extension (.png, .svg, .pdf ...) gives the format,
    else ``format`` is used and appended (default ``cgraph.pydotprint.<format>`` in the
    current directory). ``compact``: do not draw unnamed intermediate variables.
    ``with_ids``: add the node's position in the execution order and a variable number.
    ``high_contrast``: fill the shapes rather than colour their border.
    ``max_label_size``: longer labels are shortened. ``var_with_name_simple``: label a named
    variable by its name only. ``print_output_file``: say where the file was written.
    ``return_image``: write nothing and return the image's bytes instead.
    ``cond_highlight`` and ``scan_graphs`` are accepted for compatibility; cgraph has no
    IfElse and no Scan op to highlight yet.

    Needs the ``graphviz`` Python package and the ``dot`` program; ImportError or
    RuntimeError say how to install them.
    """
    view = _GraphView.of(fct, "pydotprint")
    graphviz = _import_graphviz()
    if outfile is None:
        outfile = f"cgraph.pydotprint.{format}"
    outfile = os.fspath(outfile)
    extension = os.path.splitext(outfile)[1][1:].lower()
    if extension in graphviz.FORMATS:
        format = extension
    elif not return_image:
        outfile += "." + format
    if format not in graphviz.FORMATS:
        raise ValueError(f"pydotprint: unknown output format {format!r}; Graphviz knows "
                         f"{', '.join(sorted(graphviz.FORMATS))}")
    graph = _DotGraph(graphviz, view, fct, compact, with_ids, high_contrast,
                      default_colorCodes if colorCodes is None else colorCodes,
                      max_label_size, var_with_name_simple).build()
    try:
        image = graph.pipe(format=format)
    except graphviz.ExecutableNotFound:
        raise RuntimeError(f"The Graphviz 'dot' program could not be run. {_INSTALL_HINT}") \
            from None
    if return_image:
        return image
    with open(outfile, "wb") as fh:
        fh.write(image)
    if print_output_file:
        print("The output file is available at", outfile)
    return None
