"""The graph: Variables produced by Apply nodes of Ops, as Theano users know them.

A ``Variable`` is a symbolic value of some ``Type``; it is either a graph input (no owner),
a ``Constant``, or the output of an ``Apply`` node, which records one application of an
``Op`` to input variables.
"""
from collections import deque
from dataclasses import dataclass, field
import itertools

from .trace import user_line

_next_id = itertools.count()
_eval_compiler = []   # how Variable.eval compiles: set by cgraph.compile, a layer above


def set_eval_compiler(compile_function) -> None:
    """Install ``compile_function(inputs, output)`` (cgraph.function) for ``eval``."""
    _eval_compiler[:] = [compile_function]


def eval_compiler():
    """The function ``eval`` compiles with (cgraph.function, once cgraph is imported)."""
    if not _eval_compiler:
        raise RuntimeError("eval() needs cgraph.compile: import cgraph first")
    return _eval_compiler[0]


class Variable:
    """A symbolic value. ``owner`` is the Apply that computes it (None for graph inputs)."""

    def __init__(self, type, owner=None, index=None, name=None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name
        self.trace = user_line()
        self.id = next(_next_id)

    def clone(self):
        """A new input variable of the same type and name (not connected to any graph)."""
        return type(self)(self.type, name=self.name)

    def __repr__(self):
        return self.name if self.name else self.auto_name()

    def auto_name(self):
        if self.owner is not None:
            out = f"{self.owner.op}.{self.index}" if len(self.owner.outputs) > 1 else str(self.owner.op)
            return out
        return f"<{self.type}>"

    # Python identity semantics for == and hash, as in Theano (use T.eq for elementwise).
    __hash__ = object.__hash__


class Constant(Variable):
    """A variable whose value is known when the graph is built."""

    def __init__(self, type, data, name=None):
        super().__init__(type, None, None, name)
        self.data = data

    def clone(self):
        return type(self)(self.type, self.data, name=self.name)

    def signature(self):
        """A hashable key such that equal signatures mean equal constants (for merging)."""
        return (self.type, self.data.dtype.str, self.data.shape, self.data.tobytes())


class Apply:
    """One application of ``op`` to ``inputs``, producing ``outputs``."""

    def __init__(self, op, inputs, outputs):
        self.op = op
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        for i, out in enumerate(self.outputs):
            out.owner, out.index = self, i
        self.trace = user_line()

    def clone_with_new_inputs(self, inputs):
        """The same op applied to other inputs.

        make_node re-derives the outputs' types (and checks the inputs), unless the op
        declares ``output_types_depend_only_on_input_types`` and every new input has the
        type of the input it replaces: then make_node would give these very types, and the
        outputs are new variables of the old types.
        """
        op = self.op
        if op.output_types_depend_only_on_input_types and len(inputs) == len(self.inputs) \
                and all(isinstance(new, Variable) and new.type == old.type
                        for new, old in zip(inputs, self.inputs)):
            return Apply(op, inputs, [type(out)(out.type) for out in self.outputs])
        return op.make_node(*inputs)

    def __repr__(self):
        return f"{self.op}({', '.join(map(repr, self.inputs))})"


class GradientNotImplemented(NotImplementedError):
    """Raised by ``Op.L_op`` of an op that defines no gradient (grad() names the node)."""


class Op:
    """An operation. This class lists every hook an op may define, with its default; the
    rest of cgraph calls these and never asks ``hasattr``.

    Building and running (every op):

    - ``make_node(*inputs) -> Apply``: checks and converts the inputs, makes the outputs.
    - ``perform(node, inputs: list[ndarray]) -> list[ndarray]``: the numpy reference (py mode
      and constant folding).
    - ``__props__``: the attribute names that make two ops equal (equal nodes merge).
    - ``output_types_depend_only_on_input_types``: make_node, given inputs of the types of an
      existing node's inputs, accepts them as they are (no cast, no padding, no check of a
      constant's value) and makes outputs of that node's output types and variable classes,
      whatever the inputs' values or history; cloning a node onto inputs of unchanged types
      then skips make_node (``Apply.clone_with_new_inputs``). False (the default) for any op
      that looks further: Reshape and Alloc read constant values and the shape vector's
      history, MakeVector checks that a constant fits its dtype.

    C code (cgraph.codegen.lower):

    - ``c_template``: the Jinja2 template of the op's block (under templates/), None when the
      op has no C; ``c_params(node) -> dict``: the values the template needs besides the
      inputs' and outputs' names.
    - ``c_support_code(node, module) -> dict``: adds module-level code through ``module``
      (``add_support``, ``add_kernel``, ``add_support_template``, ``lower_inner_function``)
      and returns more template values.
    - ``c_kernel_template``: a template for the op's loop as a module-level function shared by
      equal nodes; ``c_kernel_context(node, context) -> dict`` adjusts its values.
    - ``short_name() -> str``: names the C variables of the op's outputs (``add3``).
    - ``allocates_fresh_output``: the C always writes the output into a new buffer, never a
      view of an input (the buffer-recycling plan relies on it).
    - ``takes_dying_inputs``: the template gets ``dying``, the positions of the inputs in
      buffers of their own that nothing reads after the node (it may keep one as an
      output's buffer: Scan).
    - ``writes_inplace_safely(node) -> bool``: the op may write an update's new value into the
      shared variable's buffer (cgraph.rewrite.inplace); ``inplace_conditions(node, info,
      target) -> InplaceConditions``: the run-time C checks that make that write safe.

    Gradients (cgraph.gradient):

    - ``L_op(inputs, outputs, output_grads) -> list[Variable | None]``: one gradient per
      input, None where no gradient flows; ``output_grads[k]`` is None for an output the cost
      does not depend on.
    - ``disconnects_gradient``: grad() treats the output as a constant.

    Rewrites and messages:

    - ``foldable``: constant folding may run ``perform`` at compile time (False for random
      draws and loops).
    - ``message_name() -> str`` and ``label_through(node) -> Variable | None``: how messages
      name the op's outputs (cgraph.graph.labels).
    """

    __props__ = ()
    c_template = None
    c_kernel_template = None
    allocates_fresh_output = False
    takes_dying_inputs = False
    output_types_depend_only_on_input_types = False
    disconnects_gradient = False
    foldable = True

    def make_node(self, *inputs) -> "Apply":
        raise NotImplementedError

    def perform(self, node: "Apply", inputs: list) -> list:
        """Compute the outputs from numpy input values; returns a list of arrays."""
        raise NotImplementedError

    def c_params(self, node: "Apply") -> dict:
        """Extra values for this op's C template."""
        return {}

    def c_support_code(self, node: "Apply", module) -> dict:
        """Module-level code this node needs (added to ``module``); more template values."""
        return {}

    def c_kernel_context(self, node: "Apply", context: dict) -> dict:
        """The values of the kernel template (default: the node's operands, as given)."""
        return context

    def short_name(self) -> str:
        """The stem of the C names of this op's outputs."""
        return type(self).__name__.lower()

    def writes_inplace_safely(self, node: "Apply") -> bool:
        """Whether this node may compute an update straight into the updated buffer."""
        return False

    def inplace_conditions(self, node: "Apply", info, target) -> "InplaceConditions":
        """The run-time conditions of an in-place write (see InplaceConditions); by default
        the node reads every input element for element, broadcast to the output's shape."""
        return InplaceConditions(elementwise=list(node.inputs))

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        """The gradient of the cost with respect to each input."""
        raise GradientNotImplemented(f"{self} has no gradient implemented")

    def message_name(self) -> str:
        """The op's name in a variable's label: ``name(inputs)``."""
        return str(self)

    def label_through(self, node: "Apply") -> "Variable | None":
        """The input whose label also names this node's output (an op that only adds
        broadcast axes), or None."""
        return None

    def __call__(self, *inputs, **kwargs):
        node = self.make_node(*inputs, **kwargs)
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    def _props(self):
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other):
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self):
        return hash((type(self), self._props()))

    def __str__(self):
        if not self.__props__:
            return type(self).__name__
        props = ", ".join(str(p) for p in self._props())
        return f"{type(self).__name__}{{{props}}}"


@dataclass
class InplaceConditions:
    """What must hold at run time for a node to write an update in place (Op hook
    ``inplace_conditions``; checked by the C that cgraph.codegen.lower emits).

    ``checks``: C statements setting ``cg_inplace = 0`` when the write is unsafe.
    ``whole``: inputs read as a whole (a product's operands): must not overlap the buffer.
    ``elementwise``: inputs read element for element: each axis of length 1 or the
    target's, and no overlap with the buffer unless the input is the target itself.
    ``shape_checked``: ``checks`` already ensure the output has the target's shape (else the
    broadcast of the elementwise inputs must have it).
    """
    checks: list = field(default_factory=list)
    whole: list = field(default_factory=list)
    elementwise: list = field(default_factory=list)
    shape_checked: bool = False


def io_toposort(outputs, stop_at=()):
    """Apply nodes needed to compute ``outputs``, each after the nodes it depends on.

    Variables in ``stop_at`` are treated as inputs (their owners are not visited).
    """
    stop = set(stop_at)
    order, state = [], {}
    for root in outputs:
        if root.owner is None or root in stop:
            continue
        stack = [(root.owner, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                if state.get(node) != "done":
                    state[node] = "done"
                    order.append(node)
                continue
            if node in state:
                continue
            state[node] = "visiting"
            stack.append((node, True))
            for inp in reversed(node.inputs):
                if inp.owner is not None and inp not in stop and inp.owner not in state:
                    stack.append((inp.owner, False))
    return order


def graph_inputs(outputs, stop_at=()):
    """The variables without owner (or in ``stop_at``) that ``outputs`` depend on, in order."""
    stop = set(stop_at)
    seen, result = set(), []
    queue = deque(outputs)
    while queue:
        var = queue.popleft()
        if var in seen:
            continue
        seen.add(var)
        if var.owner is None or var in stop:
            result.append(var)
        else:
            queue.extend(var.owner.inputs)
    return result


def readers_of(nodes, sources):
    """The nodes of ``nodes`` (in topological order) that read a result of a node in
    ``sources``, directly or through one another, in that order; ``sources`` left out."""
    sources, found = set(sources), []
    reached = set(sources)
    for node in nodes:
        if node not in sources and any(v.owner in reached for v in node.inputs):
            reached.add(node)
            found.append(node)
    return found


def ancestors(outputs, stop_at=()):
    """Every variable that ``outputs`` depend on, including themselves."""
    stop = set(stop_at)
    seen = set()
    stack = list(outputs)
    while stack:
        var = stack.pop()
        if var in seen:
            continue
        seen.add(var)
        if var.owner is not None and var not in stop:
            stack.extend(var.owner.inputs)
    return seen


def clone_replace(outputs, replace=None):
    """Copy the graph of ``outputs`` with ``replace`` ({old variable: new variable}) applied.

    Nodes whose inputs do not change are kept as they are, so unrelated subgraphs are shared.
    Returns the list of new outputs.
    """
    memo = dict(replace or {})
    for node in io_toposort(outputs, stop_at=memo):
        new_inputs = [memo.get(v, v) for v in node.inputs]
        if all(a is b for a, b in zip(new_inputs, node.inputs)):
            continue
        new_node = clone_keeping_names(node, new_inputs)
        memo.update(zip(node.outputs, new_node.outputs))
    return [memo.get(v, v) for v in outputs]


def clone_keeping_names(node, new_inputs):
    """``node`` applied to ``new_inputs``: the new node and its outputs keep the old ones'
    traces, and the old names where the new outputs have none."""
    new_node = node.clone_with_new_inputs(new_inputs)
    new_node.trace = node.trace
    for old, new in zip(node.outputs, new_node.outputs):
        if new.name is None:
            new.name = old.name
        new.trace = old.trace
    return new_node
