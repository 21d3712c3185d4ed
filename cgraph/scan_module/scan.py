"""``scan``: Theano's loop construct, built into one Scan node (scan_op.py).

``scan`` calls ``fn`` once, on symbolic per-step variables, to get the body of the loop; it
then works out what the body reads from outside (explicit non-sequences, free variables,
shared variables) and which shared variables it updates (the updates ``fn`` returns, and the
default updates of shared variables it uses, such as random streams' states), which become
recurrent states of the loop.
"""
import numbers
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from ..codegen.lower import label_of
from ..compile.function import MissingInputError
from ..compile.sharedvalue import SharedVariable
from ..graph.basic import Constant, Variable, clone_replace, graph_inputs, io_toposort
from ..tensor.basic import cast, minimum
from ..tensor.shape_ops import shape_padleft
from ..tensor.type import TensorType, is_int
from ..tensor.var import as_tensor_variable, constant
from .scan_op import Scan

# Constants larger than this (elements) are passed to the body instead of embedded in it.
EMBED_LIMIT = 256


class until:
    """The stop condition of a while loop: ``fn`` returns ``..., until(cond)`` and the loop
    stops after the first step whose ``cond`` is true (that step's outputs are kept)."""

    def __init__(self, condition):
        self.condition = as_tensor_variable(condition)
        if self.condition.ndim != 0:
            raise TypeError(f"until: the condition must be a scalar, got {self.condition!r} "
                            f"with {self.condition.ndim} dimensions")


def scan(fn: Callable[..., object], sequences: object = None, outputs_info: object = None,
         non_sequences: object = None, n_steps: "int | Variable | None" = None,
         truncate_gradient: int = -1, go_backwards: bool = False, mode: object = None,
         name: "str | None" = None, profile: bool = False, allow_gc: "bool | None" = None,
         strict: bool = False, return_list: bool = False
         ) -> "tuple[Variable | list[Variable] | None, OrderedDict]":
    """Repeat ``fn`` over steps: ``(outputs, updates) = scan(fn, ...)``, as in Theano.

    ``fn`` receives, in order: the slices of each sequence (one per tap), the past values
    of each recurrent output (one per tap), then the non-sequences. It returns its outputs
    (one per ``outputs_info`` entry), and optionally a dict or list of shared-variable
    updates and an ``until(condition)`` (outputs first, then updates, then the condition;
    updates before outputs are accepted too).

    Each returned output holds every step along axis 0 (not the initial values); when no
    step runs, an output that is not fed back has shape ``(0, 0, ...)`` (its step shape is
    not known). ``updates`` maps each shared variable the loop updates to its value after
    the last step; pass it to ``function(..., updates=updates)``. ``mode``, ``profile`` and
    ``allow_gc`` are accepted for compatibility and ignored: the body is compiled into the
    same module as the function that uses the loop.
    """
    label = f"scan {name!r}" if name else "scan"
    truncate_gradient = _truncate_gradient(truncate_gradient, label)
    n_given = _n_steps(n_steps, label)
    non_seqs = [v if isinstance(v, Variable) else as_tensor_variable(v)
                for v in _as_list(non_sequences)]

    seq_parts = _sequences(_as_list(sequences), go_backwards, label)
    if n_given is None:
        if not seq_parts:
            raise ValueError("No information about the number of steps provided. Either "
                             "provide a value for n_steps argument of scan or provide an "
                             "input sequence")
        n = seq_parts[0]["outer"].shape[0]
        for part in seq_parts[1:]:
            n = minimum(n, part["outer"].shape[0])
    else:
        n = n_given

    infos = _as_list(outputs_info)
    states = [_state(info, i, label) for i, info in enumerate(infos)]
    args = [p["inner"] for p in seq_parts]
    for st in states:
        if st is not None:
            args += st["inner"]
    args += non_seqs

    condition, outputs, updates = _parse_return(fn(*args), label)
    if infos and len(outputs) != len(infos):
        raise ValueError(
            f"{label}: fn returned {len(outputs)} output(s) but outputs_info has {len(infos)} "
            f"entries. Please provide None as outputs_info for any output that does not feed "
            f"back into scan (i.e. it behaves like a map)")
    if not infos:
        states = [None] * len(outputs)
    for i, (st, out) in enumerate(zip(states, outputs)):
        if st is not None:
            _check_state_output(st, out, i, label)

    update_pairs = _updates(updates, outputs, condition, label)
    shared_states = []
    for var, value in update_pairs:
        copy = var.type(name=f"{var.name}[t-1]" if var.name else None)
        shared_states.append({"outer": _pad_time_axis(var), "inner": [copy], "taps": [-1],
                              "label": f"the shared variable {label_of(var)} (updated in fn)",
                              "shared": var, "value": value})

    user_states = [st for st in states if st is not None]
    all_states = user_states + shared_states
    state_outs = [out for st, out in zip(states, outputs) if st is not None]
    state_outs += [st["value"] for st in shared_states]
    nit_outs = [out for st, out in zip(states, outputs) if st is None]
    body_outs = state_outs + nit_outs + ([condition] if condition is not None else [])
    body_outs = clone_replace(body_outs, {st["shared"]: st["inner"][0] for st in shared_states})

    inner_known = [p["inner"] for p in seq_parts] + [v for st in all_states for v in st["inner"]]
    outer_reads = _outer_reads(body_outs, inner_known)
    if strict:
        _check_strict(outer_reads, non_seqs, label)
    copies = [v.type(name=v.name) for v in outer_reads]
    body_outs = clone_replace(body_outs, dict(zip(outer_reads, copies)))

    nit_labels = [f"output {i} of fn" for i, st in enumerate(states) if st is None]
    op = Scan(inner_known + copies, body_outs, n_seqs=len(seq_parts),
              state_taps=[st["taps"] for st in all_states], n_nit_sot=len(nit_outs),
              as_while=condition is not None, truncate_gradient=truncate_gradient, name=name,
              seq_labels=[p["label"] for p in seq_parts],
              state_labels=[st["label"] for st in all_states], nit_labels=nit_labels)
    node = op.make_node(n, *[p["outer"] for p in seq_parts],
                        *[st["outer"] for st in all_states], *outer_reads)
    loop_states, loop_nits, _ = op.split_outputs(node.outputs)

    results, r, j = [], 0, 0
    for st in states:
        if st is None:
            results.append(loop_nits[j])
            j += 1
        else:
            results.append(loop_states[r][op.lags[r]:])
            r += 1
    new_values = OrderedDict()
    for st, out in zip(shared_states, loop_states[len(user_states):]):
        new_values[st["shared"]] = out[-1]
    if not results:
        return None, new_values
    if len(results) == 1 and not return_list:
        return results[0], new_values
    return results, new_values


# --- arguments ---------------------------------------------------------------------------

def _as_list(x):
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _truncate_gradient(value, label):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or \
            (value < 1 and value != -1):
        raise ValueError(f"{label}: truncate_gradient must be -1 (full backpropagation "
                         f"through time) or a positive number of steps, got {value!r}")
    return int(value)


def _n_steps(n_steps, label):
    """``n_steps`` as an int64 scalar variable (None when not given)."""
    if n_steps is None:
        return None
    if isinstance(n_steps, (numbers.Number, np.ndarray)) and not isinstance(n_steps, Variable):
        value = np.asarray(n_steps)
        if value.ndim != 0 or value.dtype.kind not in "iuf" or value != int(value):
            raise ValueError(f"{label}: n_steps must be an int. Got {n_steps!r}")
        if int(value) < 0:
            raise ValueError(f"{label}: n_steps is {int(value)}; it must be zero or more")
        return constant(int(value), dtype="int64")
    var = as_tensor_variable(n_steps)
    if not is_int(var.dtype):
        raise ValueError(f" n_steps must be an int. dtype provided is {var.dtype}")
    if var.ndim != 0:
        raise TypeError(f"{label}: n_steps must be a scalar, got {var!r} with {var.ndim} "
                        f"dimensions")
    return cast(var, "int64")


def _taps(taps, what):
    taps = list(taps) if isinstance(taps, (list, tuple)) else [taps]
    for k in taps:
        if not isinstance(k, (numbers.Integral, np.integer)) or isinstance(k, bool):
            raise TypeError(f"{what}: taps must be integers, got {k!r}")
    if not taps:
        raise ValueError(f"{what}: the list of taps is empty")
    return [int(k) for k in taps]


def _sequences(seqs, go_backwards, label):
    """Per sequence tap: the outer sequence sliced so that step t reads row t, and the
    variable fn receives."""
    parts = []
    for i, seq in enumerate(seqs):
        if isinstance(seq, dict):
            if "input" not in seq:
                raise ValueError(f"{label}: sequences[{i}] is a dict without an 'input' entry")
            var, taps = seq["input"], seq.get("taps")
            taps = [0] if taps is None else taps
        else:
            var, taps = seq, [0]
        var = as_tensor_variable(var)
        what = f"sequences[{i}] ({label_of(var)})"
        taps = _taps(taps, f"{label}: {what}")
        if var.ndim == 0:
            raise TypeError(f"{label}: {what} is a scalar; scan iterates over axis 0 of each "
                            f"sequence, so a sequence needs at least one dimension")
        lowest, highest = min(min(taps), 0), max(max(taps), 0)
        for k in taps:
            start, stop = k - lowest, k - highest
            outer = var[start:stop] if stop else (var[start:] if start else var)
            if go_backwards:
                outer = outer[::-1]
            inner_name = None
            if var.name:
                inner_name = f"{var.name}[t]" if k == 0 else f"{var.name}[t{k:+d}]"
            inner = TensorType(var.dtype, var.broadcastable[1:])(name=inner_name)
            parts.append({"outer": outer, "inner": inner,
                          "label": what if taps == [0] else f"{what} at tap {k}"})
    return parts


def _state(info, i, label):
    """The recurrent state described by ``outputs_info[i]``, or None for an output that is
    not fed back."""
    if info is None:
        return None
    if isinstance(info, dict):
        if info.get("return_steps") is not None:
            raise ValueError("Using `return_steps` has been deprecated. Simply select the "
                             "entries you need using a subtensor. Scan will optimize memory "
                             "consumption, so do not worry about that.")
        initial, taps = info.get("initial"), info.get("taps")
        if initial is None:
            if taps is not None:
                raise ValueError(f"{label}: outputs_info[{i}] has taps {taps} but no "
                                 f"'initial' value. If you are using slices of an output you "
                                 f"need to provide a initial state for it")
            return None
        taps = [-1] if taps is None else taps
    else:
        initial, taps = info, [-1]
    initial = as_tensor_variable(initial)
    what = f"outputs_info[{i}] ({label_of(initial)})"
    taps = _taps(taps, f"{label}: {what}")
    if len(set(taps)) != len(taps):
        raise ValueError(f"{label}: {what}: All the taps must be different in `outputs_info`; "
                         f"got {taps}")
    if any(k >= 0 for k in taps):
        raise ValueError(f"{label}: {what}: All the tap values must be smaller than 0 (a "
                         f"recurrent output can only read past steps); got {taps}")
    lag = -min(taps)

    def tap_name(k):
        return f"{initial.name}[t{k}]" if initial.name else None

    if taps == [-1]:
        # one previous value: the initial value is one step, without a time axis
        return {"outer": _pad_time_axis(initial), "taps": taps, "label": what,
                "inner": [initial.type(name=tap_name(-1))], "step_ndim": initial.ndim,
                "initial": initial}
    if initial.ndim == 0:
        raise ValueError(f"{label}: {what} has taps {taps}, so its initial value needs a "
                         f"leading axis holding the {lag} values before the first step; it "
                         f"is a scalar")
    if isinstance(initial, Constant) and initial.data.shape[0] < lag:
        raise ValueError(f"{label}: the initial value of {what} has {initial.data.shape[0]} "
                         f"rows along axis 0, but its taps {taps} reach {lag} steps back: it "
                         f"must hold the {lag} values before the first step")
    step_type = TensorType(initial.dtype, initial.broadcastable[1:])
    return {"outer": initial, "taps": taps, "label": what, "step_ndim": initial.ndim - 1,
            "inner": [step_type(name=tap_name(k)) for k in taps], "initial": initial}


def _pad_time_axis(var):
    return shape_padleft(var)


# --- what fn returned --------------------------------------------------------------------

_RETURN_MESSAGE = (
    "The return value of your scan lambda expression may only be made of lists, tuples, or "
    "dictionaries containing cgraph variables (or `cgraph.scan_module.until` objects for "
    "conditions). In particular if you need to use constant values, you can use "
    "`tensor.constant` to turn them into cgraph variables.")


def _is_outputs(x):
    return isinstance(x, Variable) or \
        (isinstance(x, (list, tuple)) and all(isinstance(v, Variable) for v in x))


def _is_updates(x):
    return isinstance(x, dict) or (isinstance(x, (list, tuple)) and len(x) > 0 and all(
        isinstance(p, (list, tuple)) and len(p) == 2 for p in x))


def _only_allowed(x):
    if isinstance(x, (list, tuple)):
        return all(_only_allowed(v) for v in x)
    if isinstance(x, dict):
        return all(_only_allowed(k) and _only_allowed(v) for k, v in x.items())
    return isinstance(x, (Variable, until))


def _parse_return(result, label):
    """(condition or None, list of outputs, list of update pairs) from fn's return value."""
    if not _only_allowed(result):
        raise ValueError(f"{label}: {_RETURN_MESSAGE} fn returned {result!r}")
    if isinstance(result, until):
        return result.condition, [], []
    if _is_outputs(result):
        return None, list(result) if isinstance(result, (list, tuple)) else [result], []
    if _is_updates(result):
        return None, [], _pairs(result)
    parts = list(result) if isinstance(result, (list, tuple)) else [result]
    condition = None
    if parts and isinstance(parts[-1], until):
        condition = parts.pop().condition
    outputs, updates = None, None
    for part in parts:
        if outputs is None and _is_outputs(part):
            outputs = list(part) if isinstance(part, (list, tuple)) else [part]
        elif updates is None and _is_updates(part):
            updates = _pairs(part)
        else:
            raise ValueError(f"{label}: Scan cannot parse the return value of your lambda "
                             f"expression, which is: {result!r}. Return the outputs, then "
                             f"the updates (a dict or list of pairs), then until(condition).")
    return condition, outputs or [], updates or []


def _pairs(updates):
    return list(updates.items()) if isinstance(updates, dict) else [tuple(p) for p in updates]


def _check_state_output(st, out, i, label):
    init = st["initial"]
    if out.dtype != init.dtype:
        raise ValueError(
            f"{label}: the output of fn for {st['label']} has dtype {out.dtype} but its "
            f"initial value has dtype {init.dtype}: every step must return the initial "
            f"value's dtype. Cast one of them, e.g. return T.cast(output, '{init.dtype}') "
            f"from fn, or give an initial value of dtype {out.dtype}.")
    if out.ndim != st["step_ndim"]:
        extra = "" if st["taps"] == [-1] else \
            " (with taps other than [-1] the initial value has one more axis, the past steps)"
        raise ValueError(
            f"{label}: the output of fn for {st['label']} has {out.ndim} dimension(s) but "
            f"one step of its initial value has {st['step_ndim']}{extra}")


def _updates(pairs, outputs, condition, label):
    """The (shared variable, new value) pairs of the body: the ones fn returned, then the
    default updates of the shared variables it reads (random streams' states)."""
    result, seen = [], set()
    for target, value in pairs:
        if not isinstance(target, SharedVariable):
            raise TypeError(f"{label}: fn returned an update for {target!r}, which is not a "
                            f"shared variable")
        if target in seen:
            raise ValueError(f"{label}: fn returned two updates for the shared variable "
                             f"{target!r}")
        result.append((target, _check_update(target, value, label)))
        seen.add(target)
    frontier = list(outputs) + [v for _, v in result] + \
        ([condition] if condition is not None else [])
    k = 0
    while k < len(frontier):
        batch, k = frontier[k:], len(frontier)
        for var in graph_inputs(batch):
            if isinstance(var, SharedVariable) and var.default_update is not None \
                    and var not in seen:
                value = _check_update(var, var.default_update, label)
                result.append((var, value))
                seen.add(var)
                frontier.append(value)
    return result


def _check_update(target, value, label):
    value = as_tensor_variable(value)
    if value.dtype != target.dtype or value.ndim != target.ndim:
        raise TypeError(
            f"{label}: the update of the shared variable {target!r} has type {value.type} but "
            f"the variable has type {target.type}; they must have the same dtype and number "
            f"of dimensions" + (f" (cast it: T.cast(update, '{target.dtype}'))"
                                if value.dtype != target.dtype else ""))
    return value


# --- what the body reads from outside ---------------------------------------------------

def _outer_reads(outputs, inner_inputs):
    """The variables computed outside the loop that the body reads: the largest
    subexpressions that do not depend on the per-step inputs (so they are computed once,
    before the loop), except small constants, which stay in the body."""
    nodes = io_toposort(outputs, stop_at=inner_inputs)
    varying = set(inner_inputs)
    for node in nodes:
        if any(v in varying for v in node.inputs):
            varying.update(node.outputs)
    reads, seen = [], set()

    def read(var):
        if var in varying or var in seen:
            return
        if isinstance(var, Constant) and var.data.size <= EMBED_LIMIT:
            return
        seen.add(var)
        reads.append(var)

    for node in nodes:
        if node.outputs[0] in varying:
            for var in node.inputs:
                read(var)
    for var in outputs:
        read(var)
    return reads


def _check_strict(reads, non_seqs, label):
    allowed = set(non_seqs)
    for var in graph_inputs(reads, stop_at=allowed):
        if isinstance(var, SharedVariable) and var not in allowed:
            raise MissingInputError(
                f"{label} (strict=True): fn uses the shared variable {var!r}, which is not "
                f"among the non_sequences. Please pass this variable to the scan's inner "
                f"function. Do not forget to also pass it to the `non_sequences` attribute of "
                f"scan.")
