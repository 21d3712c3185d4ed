"""The Scan op: a loop over steps whose body is a graph, run in C inside the function's module.

The op is built by ``scan()`` (scan.py); its layout:

- outer inputs: ``n_steps`` (int64 scalar), the sequences (one per sequence tap, already
  sliced and reversed as needed: step ``t`` reads row ``t``), the initial values of the
  recurrent states (each with a leading time axis holding at least ``L`` rows, ``L`` being
  the farthest tap back), then the non-sequences (values every step reads unchanged).
- inner inputs (the body's): one slice per sequence, one value per state tap (state by
  state, taps in the order given), one per non-sequence.
- inner outputs: the new value of each state, the value of each nit-sot output (an output
  that is not fed back), then the stop condition of a while loop.
- outer outputs: per state, either the whole buffer (``L`` initial rows then one row per
  step, mode "full"), or only the steps' rows (mode "steps": the initial rows are kept
  apart, so the output is a buffer of its own, handed to the caller without a copy), or
  only its final value (mode "last", kept in a ring of ``L + 1`` rows); per nit-sot output
  all the steps; for a while loop the number of steps run.
"""
import functools

import numpy as np

from ..compile.runners import PyRunner
from ..graph.basic import Apply, Constant, Op, io_toposort
from ..graph.labels import c_string, c_text
from ..tensor.basic import cast
from ..tensor.blas import Gemm
from ..tensor.blas_epilogue import GemmEpilogue
from ..tensor.type import TensorType, is_int, shape_str
from ..tensor.var import TensorVariable, as_tensor_variable

FULL, STEPS, LAST = "full", "steps", "last"

# Placeholders for printf conversions in messages shared with C (see c_format).
_LLD, _STR = "\x01", "\x02"


def c_format(message, width=80, printf=True):
    """``message`` as a C printf format (escaped, placeholders turned into conversions), or
    with ``printf`` false as text printed with %s (its % signs as written), cut at spaces
    into pieces of about ``width`` characters, for adjacent C string literals."""
    text = c_string(message) if printf else c_text(message)
    words = text.replace(_LLD, "%lld").replace(_STR, "%s").split(" ")
    pieces, current = [], words[0]
    for word in words[1:]:
        if len(current) + 1 + len(word) > width:
            pieces.append(current + " ")
            current = word
        else:
            current += " " + word
    return pieces + [current]


def c_literal(message, indent, printf=True):
    """c_format's pieces as adjacent C string literals, one a line, the lines after the
    first indented by ``indent`` spaces (where the template puts the first)."""
    return "\n".join((" " * indent if k else "") + f'"{piece}"'
                      for k, piece in enumerate(c_format(message, printf=printf)))


# How the comments of a scan block name its parts (cg_scan_part's kinds, runtime.h).
_KIND_WORDS = {"CG_SCAN_SEQUENCE": "sequence", "CG_SCAN_FULL": "state, all rows",
               "CG_SCAN_STEPS": "state, the steps' rows", "CG_SCAN_LAST": "state, last value",
               "CG_SCAN_NIT_SOT": "output not fed back"}


class Scan(Op):
    """A loop: see the module docstring for the layout of inputs and outputs."""

    c_template = "ops/scan.c.j2"
    takes_dying_inputs = True   # a state may be written over its seed sequence (_seed_of)
    foldable = False          # never run a loop at compile time
    # What defines the loop. Equality stays identity (below); listing the inner graph here
    # tells tools that describe ops by their properties (the cache's pre-key) that a Scan
    # cannot be written down by them.
    __props__ = ("inner_inputs", "inner_outputs", "n_seqs", "state_taps", "n_nit_sot",
                 "as_while", "truncate_gradient", "name", "state_modes")

    def __init__(self, inner_inputs, inner_outputs, n_seqs, state_taps, n_nit_sot,
                 as_while=False, truncate_gradient=-1, name=None, state_modes=None,
                 seq_labels=None, state_labels=None, nit_labels=None):
        self.inner_inputs = list(inner_inputs)
        self.inner_outputs = list(inner_outputs)
        self.n_seqs = n_seqs
        self.state_taps = tuple(tuple(int(k) for k in taps) for taps in state_taps)
        self.n_states = len(self.state_taps)
        self.n_nit_sot = n_nit_sot
        self.as_while = bool(as_while)
        self.truncate_gradient = int(truncate_gradient)
        self.name = name
        self.state_modes = tuple(state_modes or [FULL] * self.n_states)
        self.lags = tuple(max(-k for k in taps) for taps in self.state_taps)
        n_taps = sum(len(t) for t in self.state_taps)
        self.n_non_seqs = len(self.inner_inputs) - n_seqs - n_taps
        self.seq_labels = list(seq_labels or [f"sequence {j}" for j in range(n_seqs)])
        self.state_labels = list(state_labels or [f"state {r}" for r in range(self.n_states)])
        self.nit_labels = list(nit_labels or [f"output {j} of fn" for j in range(n_nit_sot)])
        expected_outs = self.n_states + n_nit_sot + (1 if self.as_while else 0)
        if len(self.inner_outputs) != expected_outs or self.n_non_seqs < 0:
            raise ValueError("Scan: the inner graph does not match the loop's layout")
        for r, taps in enumerate(self.state_taps):
            if not taps or any(k >= 0 for k in taps) or len(set(taps)) != len(taps):
                raise ValueError(f"Scan: the taps of {self.state_labels[r]} must be distinct "
                                 f"negative integers, got {list(taps)}")

    # ops holding an inner graph are equal only to themselves
    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def __str__(self):
        return f"Scan{{{self.name}}}" if self.name else "Scan"

    @property
    def label(self):
        return f"scan {self.name!r}" if self.name else "scan"

    # --- the parts of the input and output lists -------------------------------------

    def split_inner_inputs(self, inputs=None):
        """(sequence slices, [tap values per state], non-sequences)."""
        inputs = self.inner_inputs if inputs is None else inputs
        seqs = inputs[:self.n_seqs]
        pos, taps = self.n_seqs, []
        for t in self.state_taps:
            taps.append(inputs[pos:pos + len(t)])
            pos += len(t)
        return seqs, taps, inputs[pos:]

    def split_outer_inputs(self, inputs):
        """(n_steps, sequences, initial values, non-sequences)."""
        s, r = self.n_seqs, self.n_states
        return inputs[0], inputs[1:1 + s], inputs[1 + s:1 + s + r], inputs[1 + s + r:]

    def split_outputs(self, outputs):
        """(states, nit-sot outputs, steps run or None)."""
        r, m = self.n_states, self.n_nit_sot
        return outputs[:r], outputs[r:r + m], (outputs[r + m] if self.as_while else None)

    def with_body(self, inner_inputs, inner_outputs):
        """The same loop over another body (as many sequences, states and outputs; more
        non-sequences may come last)."""
        return Scan(inner_inputs, inner_outputs, self.n_seqs, self.state_taps, self.n_nit_sot,
                    self.as_while, self.truncate_gradient, self.name, self.state_modes,
                    self.seq_labels, self.state_labels, self.nit_labels)

    def with_modes(self, modes):
        """The same loop keeping other parts of the state buffers."""
        other = Scan(self.inner_inputs, self.inner_outputs, self.n_seqs, self.state_taps,
                     self.n_nit_sot, self.as_while, self.truncate_gradient, self.name, modes,
                     self.seq_labels, self.state_labels, self.nit_labels)
        if "optimized" in self.__dict__:          # the same body: optimized once
            other.__dict__["optimized"] = self.__dict__["optimized"]
        return other

    # --- graph building ------------------------------------------------------------

    def make_node(self, n_steps, *rest):
        n_steps = as_tensor_variable(n_steps)
        if n_steps.ndim != 0 or not is_int(n_steps.dtype):
            raise TypeError(f"{self.label}: n_steps must be an integer scalar, got {n_steps!r} "
                            f"of type {n_steps.type}")
        n_steps = cast(n_steps, "int64")
        rest = [as_tensor_variable(v) for v in rest]
        expected = self.n_seqs + self.n_states + self.n_non_seqs
        if len(rest) != expected:
            raise TypeError(f"{self.label} takes {expected + 1} inputs, got {len(rest) + 1}")
        seqs, inits, non_seqs = self.split_outer_inputs([n_steps] + rest)[1:]
        in_seqs, in_taps, in_non_seqs = self.split_inner_inputs()
        for j, (outer, inner) in enumerate(zip(seqs, in_seqs)):
            _check_outer(outer, inner, 1, f"{self.label}: {self.seq_labels[j]}")
        for r, (outer, taps) in enumerate(zip(inits, in_taps)):
            _check_outer(outer, taps[0], 1,
                         f"{self.label}: the initial value of {self.state_labels[r]}")
        for outer, inner in zip(non_seqs, in_non_seqs):
            _check_outer(outer, inner, 0, f"{self.label}: the non-sequence {outer!r}")

        outputs = []
        inner_states = self.inner_outputs[:self.n_states]
        for r, (init, new) in enumerate(zip(inits, inner_states)):
            if new.dtype != init.dtype or new.ndim != init.ndim - 1:
                raise TypeError(
                    f"{self.label}: the output of fn for {self.state_labels[r]} has dtype "
                    f"{new.dtype} and {new.ndim} dimension(s) but its initial value has dtype "
                    f"{init.dtype} and {init.ndim - 1}")
            step = tuple(a or b for a, b in zip(init.broadcastable[1:], new.broadcastable))
            bcast = step if self.state_modes[r] == LAST else (False,) + step   # (steps too)
            outputs.append(TensorVariable(TensorType(init.dtype, bcast)))
        for out in self.inner_outputs[self.n_states:self.n_states + self.n_nit_sot]:
            outputs.append(TensorVariable(TensorType(out.dtype, (False,) + out.broadcastable)))
        if self.as_while:
            cond = self.inner_outputs[-1]
            if cond.ndim != 0:
                raise TypeError(f"{self.label}: the condition of until() must be a scalar, got "
                                f"{cond!r} with {cond.ndim} dimensions")
            outputs.append(TensorVariable(TensorType("int64", ())))
        return Apply(self, [n_steps] + rest, outputs)

    # --- the inner graph, optimized once for running --------------------------------

    @functools.cached_property
    def optimized(self):
        """(outputs, nodes) of the inner graph after the rewrites."""
        from ..rewrite import optimize
        outputs = optimize(self.inner_inputs, self.inner_outputs)
        return outputs, io_toposort(outputs, stop_at=self.inner_inputs)

    # --- the numpy reference -------------------------------------------------------

    def perform(self, node, inputs):
        n_steps, seqs, inits, non_seqs = self.split_outer_inputs(inputs)
        n = int(n_steps)
        self._check_run(n, seqs, inits)
        outs, nodes = self.optimized
        runner = PyRunner(self.inner_inputs, outs, nodes)
        buffers = []
        for r, (init, lag) in enumerate(zip(inits, self.lags)):
            rows = lag + (1 if self.state_modes[r] == LAST else n)
            buf = np.empty((rows,) + init.shape[1:], dtype=init.dtype)
            buf[:lag] = init[:lag]
            buffers.append(buf)
        nits = [None] * self.n_nit_sot
        done = 0
        for t in range(n):
            values = [np.asarray(s[t, ...]) for s in seqs]
            for r, taps in enumerate(self.state_taps):
                for k in taps:
                    values.append(buffers[r][self._row(r, t + k)])
            values += list(non_seqs)
            try:
                results = runner(values)
            except (ValueError, IndexError, ZeroDivisionError, TypeError) as exc:
                raise type(exc)(f"{exc} (at step {t} of {self.label})") from None
            for r, buf in enumerate(buffers):
                if results[r].shape != buf.shape[1:]:
                    message = self.state_shape_message(r, results[r].shape, buf.shape[1:])
                    raise ValueError(f"{message} (at step {t} of {self.label})")
                buf[self._row(r, t)] = results[r]
            for j in range(self.n_nit_sot):
                value = results[self.n_states + j]
                if t == 0:
                    nits[j] = np.empty((n,) + value.shape, dtype=value.dtype)
                elif value.shape != nits[j].shape[1:]:
                    raise ValueError(self.nit_shape_message(j, value.shape, nits[j].shape[1:])
                                     + f" (at step {t} of {self.label})")
                nits[j][t] = value
            done = t + 1
            if self.as_while and results[-1]:
                break
        results = []
        for r, buf in enumerate(buffers):
            lag = self.lags[r]
            if self.state_modes[r] == FULL:
                results.append(buf[:lag + done])
            elif self.state_modes[r] == STEPS:
                results.append(buf[lag:lag + done])
            else:
                results.append(buf[(lag + done - 1) % (lag + 1)])
        for j, out in enumerate(node.outputs[self.n_states:self.n_states + self.n_nit_sot]):
            results.append(nits[j][:done] if nits[j] is not None
                           else np.zeros((0,) * out.ndim, dtype=out.dtype))
        if self.as_while:
            results.append(np.asarray(done, dtype="int64"))
        return results

    def _row(self, r, step):
        """The buffer row of state ``r`` holding its value at ``step`` (negative: initial)."""
        lag = self.lags[r]
        return (lag + step) % (lag + 1) if self.state_modes[r] == LAST else lag + step

    def _check_run(self, n, seqs, inits):
        if n < 0:
            raise IndexError(f"{self.label} was asked to run for a negative number of steps: "
                             f"n_steps = {n}")
        if n == 0:
            raise NotImplementedError(self.zero_steps_message())
        for j, s in enumerate(seqs):
            if s.shape[0] < n:
                raise ValueError(self.seq_length_message(j, s.shape[0], n))
        for r, init in enumerate(inits):
            if init.shape[0] < self.lags[r]:
                raise ValueError(self.init_length_message(r, init.shape[0]))

    # --- error messages, shared by the numpy reference and the C template ----------

    def zero_steps_message(self):
        # Theano's scan refuses zero steps (NotImplementedError, in Python and in C); so
        # does cgraph, so that o[-1] never depends on whether o itself is an output
        return (f"{self.label} was asked to run for 0 steps (n_steps = 0): as in Theano, a "
                f"scan runs at least one step (there is no last value to return)")

    def seq_length_message(self, j, length, n, for_c=False):
        length, n = (_LLD, _LLD) if for_c else (length, n)
        return (f"{self.label}: {self.seq_labels[j]} has {length} steps along axis 0 but the "
                f"loop needs {n} (n_steps): a sequence must hold at least n_steps steps "
                f"beyond its taps")

    def init_length_message(self, r, rows, for_c=False):
        rows = _LLD if for_c else rows
        taps = list(self.state_taps[r])
        return (f"{self.label}: the initial value of {self.state_labels[r]} has {rows} rows "
                f"along axis 0, but its taps {taps} reach {self.lags[r]} steps back: it must "
                f"hold the {self.lags[r]} values before the first step (initial[0] is the "
                f"value at tap -{self.lags[r]})")

    def state_shape_message(self, r, got, expected, for_c=False):
        got, expected = (_STR, _STR) if for_c else (shape_str(got), shape_str(expected))
        return (f"{self.label}: the output of fn for {self.state_labels[r]} has shape {got} "
                f"but its initial value has shape {expected} (per step): a recurrent output "
                f"must keep the shape of its initial value")

    def nit_shape_message(self, j, got, expected, for_c=False):
        got, expected = (_STR, _STR) if for_c else (shape_str(got), shape_str(expected))
        return (f"{self.label}: {self.nit_labels[j]} has shape {got} but it had shape "
                f"{expected} at step 0: every step must return the same shape")

    # --- C ------------------------------------------------------------------------

    def c_params(self, node):
        """The values templates/ops/scan.c.j2 fills in: the loop's parts (cg_scan_part, in
        the order sequences, states, nit-sot outputs: kind, rank, C type, a state's lag and
        its taps as an offset into ``taps``, how many steps back each reads), the counts,
        the condition's CG_DT_* (-1: a for loop) and the messages as C string literals."""
        s = self.n_seqs
        parts, taps = [], []
        for j in range(s):
            x = node.inputs[1 + j]
            parts.append(self._c_part("CG_SCAN_SEQUENCE", x, self.seq_labels[j],
                                      c_literal(self.seq_length_message(j, 0, 0, True), 10)))
        for r, state_taps in enumerate(self.state_taps):
            x = node.inputs[1 + s + r]
            part = self._c_part(f"CG_SCAN_{self.state_modes[r].upper()}", x,
                                self.state_labels[r],
                                c_literal(self.init_length_message(r, 0, True), 10))
            part.update(lag=self.lags[r], n_taps=len(state_taps), back=f"cg_back + {len(taps)}")
            seed = self._seed_of(r)
            if seed is not None:   # (scan.c.j2 keeps it if the buffer dies at this node)
                part.update(seed=seed + 1, seed_input=1 + seed)
            taps += [-tap for tap in state_taps]
            parts.append(part)
        for j in range(self.n_nit_sot):
            parts.append(self._c_part("CG_SCAN_NIT_SOT", node.outputs[self.n_states + j],
                                      self.nit_labels[j], "NULL"))
        cond_dtype = f"CG_DT_{self.optimized[0][-1].dtype.upper()}" if self.as_while else -1
        return {"parts": parts, "taps": taps, "n_seqs": s, "n_states": self.n_states,
                "n_non_seqs": self.n_non_seqs, "n_nits": self.n_nit_sot,
                "cond_dtype": cond_dtype, "n_inner_in": max(len(self.inner_inputs), 1),
                "n_inner_out": max(len(self.inner_outputs), 1),
                "step_suffix": c_literal(f" (at step {_LLD} of {self.label})", 8),
                "zero_message": c_literal(self.zero_steps_message(), 12, printf=False),
                "negative_message": c_literal(
                    f"{self.label} was asked to run for a negative number of steps: "
                    f"n_steps = {_LLD}", 12)}

    def _seed_of(self, r):
        """The sequence whose rows state ``r`` may be written over (its buffer taken as the
        state's), or None. A steps-mode state whose step is a Gemm adding the product to that
        sequence's row as is (``x_t W + b`` pushed out of the loop, then ``h U`` added to
        it): the Gemm's z loop copies the row onto itself, nothing else in the body reads
        the row, and BLAS adds the product in place. The driver takes the buffer only when
        the lowering says nothing reads it after the loop (scan.c.j2) and its layout fits
        (cg_scan_seed)."""
        if self.state_modes[r] != STEPS:
            return None
        outs, nodes = self.optimized
        gemm = outs[r].owner
        if gemm is None or type(gemm.op) not in (Gemm, GemmEpilogue) or \
                sum(v is outs[r] for v in outs) != 1:
            return None
        n_gemm = gemm.op.n_gemm if isinstance(gemm.op, GemmEpilogue) else len(gemm.inputs)
        beta, zs = gemm.inputs[3], gemm.inputs[4:n_gemm]
        if gemm.op.scalar_op is not None or len(zs) != 1 or not _is_one(beta):
            return None
        seqs = self.inner_inputs[:self.n_seqs]
        if zs[0] not in seqs or zs[0] in outs or \
                sum(v is zs[0] for node in nodes for v in node.inputs) != 1:
            return None
        return seqs.index(zs[0])

    @staticmethod
    def _c_part(kind, var, label, message):
        """A cg_scan_part of the loop (a state's lag and taps are added by c_params)."""
        return {"kind": kind, "ndim": var.ndim, "ctype": var.type.ctype, "lag": 0,
                "n_taps": 0, "back": "NULL", "message": message, "seed": 0, "seed_input": None,
                "what": c_text(f"{_KIND_WORDS[kind]}: {label}").replace("*/", "* /")}

    def c_support_code(self, node, module):
        """Lower the body into a static step function of the module."""
        name = module.symbols.make(f"scan_step_{self.name}" if self.name else "scan_step",
                                   "scan_step")
        messages = [self.state_shape_message(r, 0, 0, True) for r in range(self.n_states)]
        messages += [self.nit_shape_message(j, 0, 0, True) for j in range(self.n_nit_sot)]
        if self.as_while:
            messages.append(f"{self.label}: the condition of until() has shape {_STR}, "
                            f"not {_STR} (a scalar)")
        outs, nodes = self.optimized
        module.lower_inner_function(name, self.inner_inputs, outs, nodes,
                             comment=f"one step of {self.label}",
                             shape_messages=[c_format(m) for m in messages])
        return {"step_fn": name}

    # --- gradient -----------------------------------------------------------------

    def L_op(self, inputs, outputs, output_grads):
        from .scan_grad import scan_L_op
        return scan_L_op(self, inputs, outputs, output_grads)


def _is_one(var):
    return isinstance(var, Constant) and bool(np.all(var.data == 1))


def _check_outer(outer, inner, extra_dims, what):
    if outer.dtype != inner.dtype or outer.ndim != inner.ndim + extra_dims:
        raise TypeError(f"{what} has type {outer.type}, but the loop was built for dtype "
                        f"{inner.dtype} with {inner.ndim + extra_dims} dimension(s)")
