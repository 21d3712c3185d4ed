"""In-place updates: which shared values a compiled call may overwrite with their new value.

An update ``W <- f(W, ...)`` normally gets a new buffer each call and the old one is freed.
When the node computing the new value is an elementwise op (on floats: it cannot fail half
way) or a Gemm (``W - lr * dot(x.T, d)``: beta * W then BLAS adds the product), it can write
straight into W's buffer instead, provided

- at compile time (this module): the new value is read by nothing but the update itself, so
  its node can run after every other node; each such node is then scheduled last, after
  everything that reads the old values (a node's other output, a GemmSquares' sum of W's
  squares, may be read: what reads it runs after the late nodes, provided it is
  elementwise, cannot fail and reads no buffer that may be an updated input's);
- at run time (the check lowered by cgraph.codegen.lower before those nodes): every shape
  works out (nothing can fail once the first write happened), W's buffer is no other input's
  (the same array given twice, or two shared variables holding one array), and no operand of
  these nodes but W itself, read element for element, overlaps a buffer being overwritten.
  When any of it fails, every candidate computes into a new buffer as usual.

When cg_run writes in place it returns in out_data[k] the very pointer it got in in_data[j];
the runner then returns the input array itself as the new value. As in Theano, an array
obtained with ``get_value(borrow=True)`` (or given to ``shared(..., borrow=True)``) may thus
change with later calls; ``get_value()`` returns a copy.

Every decision about in-place writes is taken here (``inplace_updates``; under nan_guard
none); the runners and the C call path read the result from the function's CallLayout. The
module belongs to compiling, not to the rewrites: a warm function() plans without importing
the rewrite passes.
"""
from ..graph.basic import Constant, readers_of
from ..tensor.elemwise import Elemwise
from ..tensor.type import FLOAT_DTYPES


def inplace_updates(inputs, outputs, nodes, update_pairs, nan_guard=False):
    """The one decision of which updates a compiled call writes in place:
    {output position: input position}. Empty under ``nan_guard`` (a guard may fail after a
    write, and the shared value must then keep its old value); else ``plan_inplace``.
    Lowering, the cache's layout signature, the runners and the C call path all take the
    plan from here (through the function's CallLayout)."""
    if nan_guard:
        return {}
    return plan_inplace(inputs, outputs, nodes, update_pairs)


def plan_inplace(inputs, outputs, nodes, update_pairs):
    """{output position: input position} of the updates that may be written in place.

    ``update_pairs``: (output position, input position) of every update of a shared variable
    the graph reads. Only plans: lowering checks the run-time conditions.
    """
    readers = {}
    for node in nodes:
        for var in node.inputs:
            readers[var] = readers.get(var, 0) + 1
    output_uses = {}
    for var in outputs:
        output_uses[var] = output_uses.get(var, 0) + 1
    plan, owners = {}, set()
    for k, j in update_pairs:
        value, target = outputs[k], inputs[j]
        node = value.owner
        if node is None or node in owners or readers.get(value) or output_uses[value] != 1:
            continue
        if value.dtype != target.dtype or value.ndim != target.ndim:
            continue
        if node.outputs[0].dtype not in FLOAT_DTYPES or not node.op.writes_inplace_safely(node):
            continue
        plan[k] = j
        owners.add(node)
    return _without_unsafe_readers(plan, inputs, outputs, nodes)


def _unaliased(var, targets):
    """Whether ``var`` surely shares no byte with a buffer in ``targets`` (updated inputs):
    a constant, a new buffer (allocates_fresh_output), or another input (the call's check
    stops writing in place when the caller gave one array twice)."""
    if isinstance(var, Constant):
        return True
    if var.owner is None:
        return var not in targets
    return var.owner.op.allocates_fresh_output


def _without_unsafe_readers(plan, inputs, outputs, nodes):
    """``plan`` without the updates whose node has other outputs that something reads, where
    what runs after the late nodes could see a buffer overwritten (it reads an updated
    input, or what may be a view of one), could fail (nothing may fail once a buffer is
    written: only elementwise ops that cannot fail), or sits in a lazy branch (IfElse)."""
    while True:
        late = {outputs[k].owner for k in plan}
        after = readers_of(nodes, late)
        if not after:
            return plan
        from ..ifelse import IfElse
        targets = {inputs[j] for j in plan.values()}
        unsafe = any(isinstance(n.op, IfElse) for n in nodes) or any(
            type(n.op) is not Elemwise or n.op.scalar_op.may_fail or
            not all(_unaliased(v, targets) for v in n.inputs)
            for n in after)
        if not unsafe:
            return plan
        plan = {k: j for k, j in plan.items() if len(outputs[k].owner.outputs) == 1}


def schedule_inplace(nodes, outputs, plan):
    """``nodes`` with the nodes of planned in-place updates moved to the end (in update
    order): nothing reads their results, so they may run last; only what reads their other
    outputs (a cost reading a GemmSquares' sum of squares) runs after them."""
    late = [outputs[k].owner for k in sorted(plan)]
    late_set = set(late)
    after = set(readers_of(nodes, late_set))
    return [n for n in nodes if n not in late_set and n not in after] + late + \
        [n for n in nodes if n in after]
