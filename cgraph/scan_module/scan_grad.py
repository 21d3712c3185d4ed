"""Backpropagation through time: the gradient of a Scan is another Scan, run backwards.

For the forward loop ``y_r[t] = f_r(x[t], y[t + k] for taps k, params)`` the backward loop
visits the steps from the last to the first (only the last ``truncate_gradient`` ones when
truncated). At step ``t`` it knows the total gradient of ``y_r[t]``: the cost's own gradient
of that output row plus what later steps sent back. The vector-Jacobian product of the body
then gives contributions to the past values ``y_r[t + k]``, to the sequence slices and to
the non-sequences:

- each float state ``r`` with farthest tap ``L`` carries ``L`` accumulators ``acc_r[m]``
  (m = 1..L), the gradient gathered so far for ``y_r[t - m]``; a step shifts them by one
  and adds the new contributions, and after the first step they are the gradients of the
  initial values;
- each float non-sequence carries one accumulator, summed over the steps;
- each float sequence gets its per-step gradient as an output of the backward loop.

The backward body reads the forward values it needs as sequences: the sequence slices, the
stored state rows for every tap, and the stored new values, which replace their
recomputation in the gradient graph.
"""
from .. import tensor as T
from ..gradient import grad
from ..graph.basic import Constant, clone_replace
from ..tensor.elemwise import DimShuffle, Elemwise, SumToShape
from ..tensor.shape_ops import shape_padleft
from ..tensor.subtensor import IncSubtensor, Subtensor, set_subtensor
from ..tensor.type import TensorType, is_float
from .scan_op import FULL, LAST, STEPS, Scan


def scan_L_op(op, inputs, outputs, output_grads):
    if any(mode != FULL for mode in op.state_modes):
        return _through_full_buffers(op, inputs, output_grads)
    n_steps, seqs, inits, non_seqs = op.split_outer_inputs(inputs)
    bufs, nit_outs, n_done = op.split_outputs(outputs)
    g_bufs, g_nits, _ = op.split_outputs(output_grads)
    f_seqs, f_taps, f_non_seqs = op.split_inner_inputs()
    f_states = op.inner_outputs[:op.n_states]
    f_nits = op.inner_outputs[op.n_states:op.n_states + op.n_nit_sot]

    n = n_done if op.as_while else n_steps
    steps = n if op.truncate_gradient == -1 else T.minimum(n, op.truncate_gradient)
    start = n - steps

    def backwards(var, first):
        """Rows ``first + start .. first + n - 1`` of ``var``, last one first."""
        return var[first + start:first + n][::-1]

    b_seqs, b_seq_outer = [], []          # sequences of the backward loop (inner, outer)

    def add_sequence(inner, outer):
        b_seqs.append(inner)
        b_seq_outer.append(outer)

    for x_in, x in zip(f_seqs, seqs):
        add_sequence(x_in, backwards(x, 0))
    for r, taps in enumerate(op.state_taps):
        for k, tap_in in zip(taps, f_taps[r]):
            add_sequence(tap_in, backwards(bufs[r], op.lags[r] + k))

    # the stored results of each step stand for their recomputation
    stored = {}
    for r, out in enumerate(f_states):
        if out.owner is not None:
            stored[out] = _step_var(out, "stored")
            add_sequence(stored[out], backwards(bufs[r], op.lags[r]))
    for j, out in enumerate(f_nits):
        if out.owner is not None and out not in stored:
            stored[out] = _step_var(out, "stored")
            add_sequence(stored[out], backwards(nit_outs[j], 0))

    known = {}

    def send(out, g):
        known[out] = known[out] + g if out in known else g

    float_states = [r for r in range(op.n_states) if is_float(inits[r].dtype)]
    acc_in, acc_init = {}, {}
    # the usual cost reads only the steps (outputs[lag:]): its gradient of the buffer is
    # zeros with those rows written in; the backward loop reads the rows themselves, so the
    # zeros (a buffer-sized fill and copy) are never made
    g_steps = {r: _steps_gradient(g_bufs[r], bufs[r], op.lags[r]) for r in float_states}
    for r in float_states:
        step = f_taps[r][0]
        acc_in[r] = [_step_var(step, f"grad_{r}_tm{m}") for m in range(1, op.lags[r] + 1)]
        zero = T.zeros_like(inits[r][0])
        acc_init[r] = [_time_axis(zero)] * op.lags[r]
        total = acc_in[r][0]
        if g_steps[r] is not None:
            g_now = _step_var(step, f"grad_out_{r}")
            add_sequence(g_now, backwards(g_steps[r], 0))
            total = total + g_now
        elif g_bufs[r] is not None:
            g_now = _step_var(step, f"grad_out_{r}")
            add_sequence(g_now, backwards(g_bufs[r], op.lags[r]))
            total = total + g_now
        send(f_states[r], total)
    for j, g in enumerate(g_nits):
        if g is not None and is_float(f_nits[j].dtype):
            g_now = _step_var(f_nits[j], f"grad_nit_{j}")
            add_sequence(g_now, backwards(g, 0))
            send(f_nits[j], g_now)

    float_params = [q for q, p in enumerate(non_seqs) if is_float(p.dtype)]
    float_seqs = [j for j, x in enumerate(seqs) if is_float(x.dtype)]
    wrt = [f_seqs[j] for j in float_seqs]
    wrt += [v for r in float_states for v in f_taps[r]]
    wrt += [f_non_seqs[q] for q in float_params]
    if not known:
        return [None] * len(inputs)
    grads = grad(None, wrt, known_grads=known, disconnected_inputs="ignore")
    grads = clone_replace(grads, stored) if stored else grads
    g_seq = grads[:len(float_seqs)]
    pos = len(float_seqs)
    g_tap = {}
    for r in float_states:
        g_tap[r] = dict(zip(op.state_taps[r], grads[pos:pos + len(op.state_taps[r])]))
        pos += len(op.state_taps[r])
    g_param = grads[pos:]

    # the backward loop's states: the accumulators, of which only the final value is kept
    b_states, b_state_outer, b_state_outs, labels = [], [], [], []
    for r in float_states:
        lag = op.lags[r]
        for m in range(1, lag + 1):
            shifted = acc_in[r][m] if m < lag else None
            contribution = g_tap[r].get(-m)
            new = shifted if contribution is None else \
                (contribution if shifted is None else shifted + contribution)
            b_states.append(acc_in[r][m - 1])
            b_state_outer.append(acc_init[r][m - 1])
            b_state_outs.append(new)
            labels.append(f"the gradient of {op.state_labels[r]} at tap -{m}")
    param_acc = []
    for q, g in zip(float_params, g_param):
        acc = f_non_seqs[q].type(name=f"grad_{f_non_seqs[q].name or q}")
        param_acc.append(acc)
        b_states.append(acc)
        b_state_outer.append(_time_axis(T.zeros_like(non_seqs[q])))
        b_state_outs.append(acc + g)
        labels.append(f"the gradient of the non-sequence {non_seqs[q]!r}")

    backward = Scan(b_seqs + b_states + list(f_non_seqs), b_state_outs + g_seq,
                    n_seqs=len(b_seqs), state_taps=[[-1]] * len(b_states),
                    n_nit_sot=len(g_seq), truncate_gradient=-1,
                    name=f"grad_of_{op.name}" if op.name else "grad_of_scan",
                    state_modes=[LAST] * len(b_states), state_labels=labels,
                    nit_labels=[f"the gradient of {op.seq_labels[j]}" for j in float_seqs])
    results = backward.make_node(steps, *b_seq_outer, *b_state_outer, *non_seqs).outputs
    finals, seq_grads = results[:len(b_states)], results[len(b_states):]

    input_grads = [None]          # n_steps
    for j, x in enumerate(seqs):
        if j in float_seqs:
            g = seq_grads[float_seqs.index(j)]
            input_grads.append(set_subtensor(T.zeros_like(x)[start:n], g[::-1]))
        else:
            input_grads.append(None)
    pos = 0
    for r, init in enumerate(inits):
        if r not in float_states:
            input_grads.append(None)
            continue
        lag = op.lags[r]
        rows = finals[pos:pos + lag][::-1]        # acc[lag] is the gradient of initial[0]
        pos += lag
        g = T.stack(rows) if lag > 1 else _time_axis(rows[0])
        if op.truncate_gradient != -1:
            # truncated: no gradient reaches the initial values unless every step was visited
            g = g * T.cast(T.eq(steps, n), g.dtype)
        if g_bufs[r] is not None and g_steps[r] is None:
            g = g + g_bufs[r][:lag]
        input_grads.append(set_subtensor(T.zeros_like(init)[:lag], g))
    for q, p in enumerate(non_seqs):
        input_grads.append(finals[pos + float_params.index(q)] if q in float_params else None)
    return input_grads


def _through_full_buffers(op, inputs, output_grads):
    """The gradient of a loop that keeps only some final values: the same loop keeping
    every step (run again for the gradient), whose last rows are those values."""
    full = op.with_modes([FULL] * op.n_states).make_node(*inputs)
    grads = list(output_grads)
    for r, mode in enumerate(op.state_modes):
        if mode == LAST and grads[r] is not None:
            buf = full.outputs[r]
            grads[r] = set_subtensor(T.zeros_like(buf)[-1], grads[r])
        elif mode == STEPS and grads[r] is not None:
            buf = full.outputs[r]
            grads[r] = set_subtensor(T.zeros_like(buf)[op.lags[r]:], grads[r])
    return scan_L_op(full.op, full.inputs, full.outputs, grads)


def _steps_gradient(g_buf, buf, lag):
    """``y`` when ``g_buf`` is zeros shaped like ``buf`` with ``y`` written into
    ``buf[lag:]`` (the gradient of a cost of ``buf[lag:]``) and ``y`` provably has the shape
    of ``buf[lag:]`` (an elementwise result of it); else None."""
    steps_index = (("slice", lag, None, None),)
    owner = None if g_buf is None else g_buf.owner
    if owner is None or not isinstance(owner.op, IncSubtensor) or \
            owner.op.idx_list != steps_index or len(owner.inputs) != 2:
        return None
    base, y = owner.inputs
    zeros = base.owner
    if zeros is None or not isinstance(zeros.op, Elemwise) or \
            getattr(zeros.op.scalar_op, "name", None) != "second" or zeros.inputs[0] is not buf:
        return None
    fill = zeros.inputs[1]
    while fill.owner is not None and isinstance(fill.owner.op, DimShuffle):
        fill = fill.owner.inputs[0]
    if not isinstance(fill, Constant) or fill.data.any():
        return None
    if y.type != buf.type:
        return None

    def is_steps(var):
        return var.owner is not None and isinstance(var.owner.op, Subtensor) and \
            var.owner.op.idx_list == steps_index and var.owner.inputs == [buf]
    return y if _shaped_like(y, is_steps, depth=8) else None


def _shaped_like(var, is_model, depth):
    """Whether ``var`` provably has the shape of a variable ``is_model`` accepts: it is one,
    an elementwise result of such values (and of one-element ones), a sum to such a
    value's shape, or such a value with a region incremented or set."""
    if is_model(var):
        return True
    owner = var.owner
    if depth == 0 or owner is None:
        return False
    if isinstance(owner.op, Elemwise):
        shaped = [v for v in owner.inputs if not all(v.broadcastable)]
        return bool(shaped) and all(_shaped_like(v, is_model, depth - 1) for v in shaped)
    if isinstance(owner.op, SumToShape):
        return _shaped_like(owner.inputs[1], is_model, depth - 1)
    if isinstance(owner.op, IncSubtensor):
        return _shaped_like(owner.inputs[0], is_model, depth - 1)
    return False


def _step_var(like, name):
    return TensorType(like.dtype, like.broadcastable)(name=name)


def _time_axis(var):
    return shape_padleft(var)

