"""Shape-only uses: a value read only for its shape need not be computed.

The gradient of an elementwise op sums each input's gradient back to that input's shape
(``SumToShape(g, x)``), which keeps ``x`` alive for its shape alone. In a backward loop
``x`` is a forward intermediate (``dot(x_t, W)``, say) that the loop would recompute every
step just to read its shape. ``sum_to_shape_of_sources`` replaces ``SumToShape(g, x)`` by
``SumToBroadcastShape(g, sources...)``, whose target shape is read from cheaper variables
``x``'s shape is made of: through elementwise ops (the broadcast of their inputs' shapes,
the same rule ``cg_broadcast`` applies), axis views (DimShuffle), ``dot`` (rows of the first
operand, columns of the second) and other sums to a shape. Variables that no op needs
any more then drop out of the graph.

Dropping ``x`` also drops its checks (an elementwise op raising on shapes that cannot be
broadcast); a gradient's ``x`` was computed by the forward graph (or the forward loop), which
ran those checks on the same values.
"""

from ..graph.basic import Apply, Op
from ..graph.labels import c_text, label_of
from ..tensor.blas import Dot
from ..tensor.elemwise import DimShuffle, Elemwise, SumToShape, sum_array_to_shape
from ..tensor.type import TensorType
from ..tensor.var import TensorVariable, as_tensor_variable


class SumToBroadcastShape(Op):
    """``g`` summed over the axes where the target shape has length 1 and ``g`` does not.

    Inputs: ``g``, then source arrays. ``dims[d]`` lists the ``(source, axis)`` pairs whose
    lengths broadcast to the target's length on axis ``d`` (the length that is not 1, else
    1; no pair: length 1). ``label`` names the variable whose shape this is, for messages.
    """

    __props__ = ("dims", "broadcastable", "label")
    c_template = "ops/sum_to_broadcast_shape.c.j2"

    def __init__(self, dims, broadcastable, label):
        self.dims = tuple(tuple((int(k), int(a)) for k, a in pairs) for pairs in dims)
        self.broadcastable = tuple(bool(b) for b in broadcastable)
        self.label = label

    def __str__(self):
        return "SumToBroadcastShape"

    def short_name(self):
        return "sum_to"     # (C names: sum_to26, not sumtobroadcastshape26)

    def make_node(self, g, *sources):
        g = as_tensor_variable(g)
        sources = [as_tensor_variable(s) for s in sources]
        if g.ndim != len(self.dims):
            raise TypeError(f"SumToBroadcastShape: {g!r} has {g.ndim} dimensions, the target "
                            f"shape {len(self.dims)}")
        for pairs in self.dims:
            for k, a in pairs:
                if not (0 <= k < len(sources) and 0 <= a < sources[k].ndim):
                    raise TypeError(f"SumToBroadcastShape: no axis {a} of source {k}")
        return Apply(self, [g] + sources,
                     [TensorVariable(TensorType(g.dtype, self.broadcastable))])

    def target_shape(self, sources):
        shape = []
        for pairs in self.dims:
            length = 1
            for k, a in pairs:
                if sources[k].shape[a] != 1:
                    length = sources[k].shape[a]
            shape.append(length)
        return tuple(shape)

    def perform(self, node, inputs):
        g, sources = inputs[0], inputs[1:]
        return [sum_array_to_shape(g, self.target_shape(sources), self.label)]

    def c_params(self, node):
        return {"dims": self.dims, "target_label": c_text(self.label)}


def _length_sources(var, axis, depth=32):
    """``(variable, axis)`` pairs whose lengths broadcast to ``var.shape[axis]``."""
    if var.broadcastable[axis]:
        return []
    owner = var.owner
    if owner is None or depth == 0:
        return [(var, axis)]
    op = owner.op
    if isinstance(op, Elemwise):
        pairs = []
        for inp in owner.inputs:
            pairs += _length_sources(inp, axis, depth - 1)
        return pairs
    if isinstance(op, DimShuffle):
        source_axis = op.new_order[axis]
        return [] if source_axis == "x" else \
            _length_sources(owner.inputs[0], source_axis, depth - 1)
    if isinstance(op, Dot):
        a, b = owner.inputs
        if axis < a.ndim - 1:
            return _length_sources(a, axis, depth - 1)
        return _length_sources(b, 1, depth - 1)
    if isinstance(op, SumToShape):
        return _length_sources(owner.inputs[1], axis, depth - 1)
    if isinstance(op, SumToBroadcastShape):
        sources = owner.inputs[1:]
        pairs = []
        for k, a in op.dims[axis]:
            pairs += _length_sources(sources[k], a, depth - 1)
        return pairs
    return [(var, axis)]


def sum_to_shape_of_sources(node):
    """SumToShape(g, x) -> SumToBroadcastShape(g, ...) reading x's shape from the variables
    it is made of, when x is computed by an op that passes shapes through (or has length 1
    on every axis)."""
    if not isinstance(node.op, SumToShape):
        return None
    g, x = node.inputs
    if x.owner is None or not (all(x.broadcastable) or isinstance(
            x.owner.op, (Elemwise, DimShuffle, Dot, SumToShape, SumToBroadcastShape))):
        return None
    sources, dims = [], []
    for axis in range(x.ndim):
        pairs = []
        for var, a in _length_sources(x, axis):
            if var not in sources:
                sources.append(var)
            pair = (sources.index(var), a)
            if pair not in pairs:
                pairs.append(pair)
        dims.append(tuple(pairs))
    op = SumToBroadcastShape(dims, node.outputs[0].broadcastable, label_of(x))
    return [op(g, *sources)]



def read_shapes_from_sources(inputs, outputs):
    """The whole-graph pass: every SumToShape of a shape-transparent value rewritten."""
    from .engine import Phase, apply_phase
    return apply_phase(Phase("shape only", [sum_to_shape_of_sources]), inputs, outputs)
