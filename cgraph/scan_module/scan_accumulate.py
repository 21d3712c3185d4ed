"""Speed rewrite of backward loops: sums of products over the steps run after the loop.

A state that only accumulates, ``acc[t] = acc[t - 1] + dot(a_t.T, b_t)`` with ``a_t`` and
``b_t`` matrices that do not read the state, and of which only the final value is kept
(mode "last": the gradient of a loop's non-sequence, scan_grad.py), ends as

    initial[0] + dot(A.T, B),   A = the a_t stacked by rows ((n_steps * m, k)), B likewise,

one large product after the loop instead of a small one (k = m rows deep) per step, as
numpy's BPTT computes ``x.T @ d_pre`` once. The loop returns the b_t (and the a_t) that are
values of its body as outputs not fed back; those that are sequence slices are read from
the sequence itself. The sum's order changes (rounding differs, within the usual dot
error), the loop's checks stay: a state that something else reads (its past rows, another
output, the stop condition) is never rewritten.
"""
from ..graph.basic import ancestors, clone_replace, io_toposort
from ..tensor.blas import Dot
from ..tensor.elemwise import DimShuffle, Elemwise
from ..tensor.tensordot import dot
from .scan_op import LAST, Scan
from .scan_pushout import _rebuild


def sum_products_after_loops(inputs, outputs):
    """The graph of ``outputs`` with each loop's accumulated products (above) computed
    once after the loop."""
    nodes = io_toposort(outputs, stop_at=inputs)
    if not any(isinstance(node.op, Scan) for node in nodes):
        return outputs
    replace = {}
    for node in nodes:
        if isinstance(node.op, Scan) and not node.op.as_while:
            mapping = _sum_after(node)
            if mapping:
                replace.update(mapping)
    return clone_replace(outputs, replace) if replace else outputs


def _accumulated_product(op, r):
    """(a, b) when state ``r`` of ``op`` is ``acc + dot(a.T, b)`` (either order of the sum)
    read only there, kept at its last value; else None."""
    if op.state_modes[r] != LAST or op.state_taps[r] != (-1,):
        return None
    _, in_taps, _ = op.split_inner_inputs()
    tap, new = in_taps[r][0], op.inner_outputs[r]
    owner = new.owner
    if owner is None or not isinstance(owner.op, Elemwise) or len(owner.inputs) != 2 or \
            getattr(owner.op.scalar_op, "name", None) != "add" or tap not in owner.inputs:
        return None
    g = owner.inputs[1] if owner.inputs[0] is tap else owner.inputs[0]
    if g is tap or g.type != tap.type or new.type != tap.type or g.owner is None or \
            not isinstance(g.owner.op, Dot):
        return None
    left, b = g.owner.inputs
    if left.owner is None or not isinstance(left.owner.op, DimShuffle) or \
            left.owner.op.new_order != (1, 0) or b.ndim != 2:
        return None
    a = left.owner.inputs[0]
    others = [v for k, v in enumerate(op.inner_outputs) if k != r] + [g]
    if tap in set(ancestors(others, stop_at=op.inner_inputs)):
        return None
    return a, b


def _sum_after(node):
    op = node.op
    n_steps, seqs, inits, _ = op.split_outer_inputs(node.inputs)
    in_seqs, in_taps, _ = op.split_inner_inputs()
    seq_index = {v: j for j, v in enumerate(in_seqs)}
    taps = {v for vs in in_taps for v in vs}
    found = {}
    for r in range(op.n_states):
        pair = _accumulated_product(op, r)
        # per-step values only: a sequence slice or something the body computes from the
        # step's inputs (a state's tap or a non-sequence is not a row of a stack)
        if pair and all(v in seq_index or (v.owner is not None and v not in taps)
                        for v in pair):
            found[r] = pair
    if not found:
        return None
    # the body values to return per step, each once
    extra_nits = []
    for pair in found.values():
        for v in pair:
            if v not in seq_index and v not in extra_nits:
                extra_nits.append(v)
    keep_states = [r for r in range(op.n_states) if r not in found]
    new, mapping = _rebuild(node, range(op.n_seqs), keep_states, range(op.n_nit_sot),
                            extra_nits=[(v, f"a per-step operand of {op.state_labels[r]}")
                                        for r, v in _labelled(found, extra_nits)])
    _, new_nits, _ = new.op.split_outputs(new.outputs)
    stacked = {v: new_nits[op.n_nit_sot + i] for i, v in enumerate(extra_nits)}
    for j, v in enumerate(in_seqs):
        if any(v in pair for pair in found.values()):
            stacked[v] = seqs[j][:n_steps]
    old_states, _, _ = op.split_outputs(node.outputs)
    for r, (a, b) in found.items():
        total = dot(_rows(stacked[a]).T, _rows(stacked[b]))
        # the step before the first is the initial value's first row (tap -1: lag 1)
        mapping[old_states[r]] = inits[r][0] + total
    return mapping


def _labelled(found, extra_nits):
    """(state, value) for each of ``extra_nits``: the first state whose product reads it."""
    for v in extra_nits:
        yield next(r for r, pair in found.items() if v in pair), v


def _rows(stack):
    """A stack of matrices (steps, m, k) as one matrix of their rows (steps * m, k)."""
    return stack.reshape((stack.shape[0] * stack.shape[1], stack.shape[2]))
