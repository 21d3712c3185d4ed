"""Memory saving: a loop state of which the graph reads only the last step keeps a ring of
``lag + 1`` rows instead of one row per step; one of which it reads only the steps (what
``scan`` returns: the buffer without its initial rows) keeps the initial rows apart, so the
steps are a buffer of their own (no copy when it is an output).

The pass looks at every use of a Scan's state buffer: when each one reads its last row
(``buf[-1]``, as the updates of shared variables do, or ``buf[lag:][-1]``, as
``outputs[-1]`` does), the state switches to the "last" mode, whose output is that row.
(One difference: after zero steps ``outputs[-1]`` is then the last initial value, where
the whole buffer would have raised an IndexError.)
"""
from collections import defaultdict

from ..graph.basic import clone_replace, io_toposort
from ..tensor.subtensor import Subtensor
from .scan_op import FULL, LAST, STEPS, Scan


def keep_last_steps(inputs, outputs):
    """The graph of ``outputs`` with the states read only at their last step kept as rings."""
    def last_row_reads(op, r, buf, clients, results):
        return _last_row_reads(buf, op.lags[r], clients, results)
    return _switch_state_modes(inputs, outputs, LAST, last_row_reads)


def keep_steps_apart(inputs, outputs):
    """The graph of ``outputs`` with the states read only through ``buf[lag:]`` (every step,
    no initial row) in "steps" mode, whose output is that view."""
    def step_views(op, r, buf, clients, results):
        users = clients[buf]
        if buf in results or not users or not all(
                _is_index(user, ("slice", op.lags[r], None, None)) for user in users):
            return None
        return [user.outputs[0] for user in users]
    return _switch_state_modes(inputs, outputs, STEPS, step_views)


def _switch_state_modes(inputs, outputs, mode, reads_of):
    """The graph of ``outputs`` with each Scan's full-buffer states for which
    ``reads_of(op, r, buffer, clients, results)`` names the variables reading them switched
    to ``mode``, those variables replaced by the new node's output."""
    nodes = io_toposort(outputs, stop_at=inputs)
    if not any(isinstance(node.op, Scan) for node in nodes):
        return outputs
    clients = defaultdict(list)
    for node in nodes:
        for var in node.inputs:
            clients[var].append(node)
    results = set(outputs)
    replace = {}
    for node in nodes:
        op = node.op
        if not isinstance(op, Scan):
            continue
        switched = {}
        for r in range(op.n_states):
            if op.state_modes[r] == FULL:
                reads = reads_of(op, r, node.outputs[r], clients, results)
                if reads:
                    switched[r] = reads
        if not switched:
            continue
        modes = [mode if r in switched else m for r, m in enumerate(op.state_modes)]
        new = op.with_modes(modes).make_node(*node.inputs)
        for k, out in enumerate(node.outputs):
            for read in switched.get(k, [out]):
                replace[read] = new.outputs[k]
    return clone_replace(outputs, replace) if replace else outputs


def _last_row_reads(buf, lag, clients, results):
    """The variables that read ``buf``'s last row, if nothing else reads ``buf``."""
    if buf in results or not clients[buf]:
        return None
    reads = []
    for node in clients[buf]:
        if _is_index(node, ("index", -1)):
            reads.append(node.outputs[0])
        elif _is_index(node, ("slice", lag, None, None)):
            view = node.outputs[0]
            if view in results or not clients[view]:
                return None
            for user in clients[view]:
                if not _is_index(user, ("index", -1)):
                    return None
                reads.append(user.outputs[0])
        else:
            return None
    return reads


def _is_index(node, entry):
    return isinstance(node.op, Subtensor) and len(node.inputs) == 1 and \
        node.op.idx_list == (entry,)
