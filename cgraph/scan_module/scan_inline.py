"""A loop of one step is its body: ``inline_one_step_scans`` replaces each Scan whose
``n_steps`` is the constant 1 by its inner graph, cloned once onto the outer variables.

What the single step reads: row 0 of each sequence (``scan()`` already sliced the sequence
for its taps and reversed it for ``go_backwards``, so step 0 reads row 0), row ``lag + k``
of a state's initial value for tap ``k``, the non-sequences as they are. What the loop
returns: a full state buffer is its ``lag`` initial rows then the new value; a state kept
in "last" mode is the new value; a nit-sot output is the value with a time axis of length
1; a while loop ran one step whatever its condition. Reads of the last row (``out[-1]``,
``out[lag:]``, the updates of shared variables and random states the body made) take the
new value directly, so no join nor padding is left behind them.

The inlined body has not been through the rewrite phases of the outer graph (the Scan keeps
its body aside and optimizes it on its own), so the phases run again over the whole graph
when a loop was inlined: the stable forms (log-sigmoid...) and merges apply to the body too,
before the other passes and the gemm and elementwise fusion. Outputs no one reads (the
RBM's last hidden sample) are then simply not in the graph.

Run-time errors change with the loop gone: a sequence or an initial value too short for
the step fails on indexing (IndexError) instead of the loop's length check (ValueError),
and a state whose step changes its shape is no longer caught by the loop's shape check.
"""
import numpy as np

from ..graph.basic import Constant, clone_replace, io_toposort
from ..tensor.elemwise import DimShuffle
from ..tensor.shape_ops import join, patternbroadcast, shape_padleft
from ..tensor.subtensor import Subtensor
from ..tensor.var import constant
from .scan_op import FULL, STEPS, Scan


def _is_one(var):
    return isinstance(var, Constant) and np.ndim(var.data) == 0 and var.data == 1


def _row(x, k):
    """Row ``k`` (a non-negative constant) of ``x``; the row of a padded value is the value."""
    owner = x.owner
    if k == 0 and owner is not None and isinstance(owner.op, DimShuffle) and \
            owner.op.new_order == ("x",) + tuple(range(owner.inputs[0].ndim)):
        return owner.inputs[0]
    return Subtensor([("index", k)])(x)


def _step_values(node):
    """The body of Scan ``node`` cloned onto its outer inputs: (new state values, nit-sot
    values)."""
    op = node.op
    _, seqs, inits, non_seqs = op.split_outer_inputs(node.inputs)
    in_seqs, in_taps, in_non_seqs = op.split_inner_inputs()
    replace = {inner: _row(outer, 0) for inner, outer in zip(in_seqs, seqs)}
    for r, (init, taps) in enumerate(zip(inits, in_taps)):
        lag = op.lags[r]
        for k, inner in zip(op.state_taps[r], taps):
            replace[inner] = _row(init, lag + k)
    replace.update(zip(in_non_seqs, non_seqs))
    states, nits, _ = op.split_outputs(op.inner_outputs)
    values = clone_replace(list(states) + list(nits), replace)
    return values[:op.n_states], values[op.n_states:]


def _last_row_read(client, length):
    """For a Subtensor ``client`` reading an axis 0 of static ``length`` with constant
    entries: ("index", rest) when it takes the last row, ("slice", rest) when it keeps only
    the last row, else None (``rest``: its entries after axis 0)."""
    if not isinstance(client.op, Subtensor) or len(client.inputs) != 1:
        return None
    first, rest = client.op.idx_list[0], client.op.idx_list[1:]
    if first[0] == "index":
        return ("index", rest) if first[1] in (length - 1, -1) else None
    if first[3] == 0:
        return None          # the Subtensor raises its own error on a zero step
    kept = range(length)[slice(*first[1:])]
    return ("slice", rest) if list(kept) == [length - 1] else None


def _replacements(node, clients):
    """{variable: replacement} for the outputs of one-step Scan ``node`` and for the reads
    of their last row."""
    op = node.op
    _, _, inits, _ = op.split_outer_inputs(node.inputs)
    new_states, new_nits = _step_values(node)
    out_states, out_nits, done = op.split_outputs(node.outputs)
    replace = {}
    # (outer output, new value, rows before it) for outputs with a time axis
    stacked = []
    for r, (out, value) in enumerate(zip(out_states, new_states)):
        if op.state_modes[r] == FULL:
            stacked.append((out, value, op.lags[r], inits[r]))
        elif op.state_modes[r] == STEPS:
            stacked.append((out, value, 0, None))
        else:
            replace[out] = patternbroadcast(value, out.broadcastable)
    stacked += [(out, value, 0, None) for out, value in zip(out_nits, new_nits)]
    for out, value, lag, init in stacked:
        padded = shape_padleft(value)
        whole = padded if lag == 0 else \
            join(0, Subtensor([("slice", None, lag, None)])(init), padded)
        replace[out] = patternbroadcast(whole, out.broadcastable)
        for client in clients.get(out, ()):
            read = _last_row_read(client, lag + 1)
            if read is None:
                continue
            kind, rest = read
            if kind == "index":
                part = Subtensor(rest)(value) if rest else value
            else:
                part = Subtensor((("slice", None, None, None),) + rest)(padded)
            result = client.outputs[0]
            replace[result] = patternbroadcast(part, result.broadcastable)
    if op.as_while:
        replace[done] = constant(1, dtype="int64")
    return replace


def inline_one_step_scans(inputs, outputs):
    """The graph of ``outputs`` with every Scan of one constant step replaced by its body."""
    nodes = io_toposort(outputs, stop_at=inputs)
    if not any(isinstance(n.op, Scan) and _is_one(n.inputs[0]) for n in nodes):
        return outputs
    clients = {}
    for n in nodes:
        for var in n.inputs:
            clients.setdefault(var, []).append(n)
    replace = {}
    for n in nodes:
        if isinstance(n.op, Scan) and _is_one(n.inputs[0]):
            replace.update(_replacements(n, clients))
    outputs = clone_replace(outputs, replace)
    # the body joins the outer graph: it gets the phases the outer graph had (a body
    # holding a one-step loop of its own is inlined by the next round)
    from ..rewrite import PHASES, merge
    from ..rewrite.engine import apply_phase
    outputs = merge(inputs, outputs)
    for phase in PHASES:
        outputs = merge(inputs, apply_phase(phase, inputs, outputs))
    return inline_one_step_scans(inputs, outputs)
