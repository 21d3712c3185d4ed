"""The call layout of a Function: what its compiled call takes and returns, in which order.

One object answers every question about positions, so the Function, the runners, the C
call path (cgraph/compile/fastcall.py and templates/fastcall.c), printing and pickling agree
by construction:

    inputs  = arguments | shared | hidden constants
    outputs = user outputs | updates of shared variables | updates of In(update=...) state

- arguments: one per positional argument of the Function (its ``In``);
- shared: the shared variables the graph reads, after the arguments (their current values);
- hidden constants: constants too large to embed in the module (known once it is linked),
  passed after the shared values by the runner, never by the user;
- updates of shared variables: the new values of the explicit ``updates`` and of the
  default updates (the random streams' generator states are of this kind);
- updates of state: the new values of the arguments given as ``In(update=...)``, kept by the
  Function for its next call.

``graph_inputs`` (arguments then shared) and ``graph_outputs`` are the rewritten graph's
ends: lowering, the cache records and pickling work from them.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from ..graph.basic import Constant

_FIELDS = ("arguments", "shared", "graph_outputs", "n_outputs", "updated_shared",
           "output_keys", "unpack_single", "hidden", "inplace")


class CallLayout:
    """Immutable: ``linked`` and ``unlinked`` make new layouts. (A plain class: as a
    dataclass, defining it added ~2 ms to ``import cgraph``.)

    ``arguments``: the In of each positional argument; ``shared``: the SharedVariables read
    after them; ``graph_outputs``: every output variable, in the order above; ``n_outputs``:
    how many of them the user asked for (they come first); ``updated_shared``: the
    SharedVariables whose new values follow; ``output_keys``: the names of the user's
    outputs when given as a dict; ``unpack_single``: one output given alone, returned alone;
    ``hidden``: the Constants passed after the shared values (once linked); ``inplace``:
    output position -> input position of the updates the module may write into the input's
    own buffer (cgraph/compile/inplace.py decides; once linked).
    """

    __slots__ = _FIELDS + ("stateful",)

    def __init__(self, arguments: Sequence, shared: Sequence, graph_outputs: Sequence,
                 n_outputs: int, updated_shared: Sequence,
                 output_keys: Optional[Sequence[str]] = None, unpack_single: bool = False,
                 hidden: Sequence[Constant] = (), inplace: Optional[Mapping[int, int]] = None):
        values = (tuple(arguments), tuple(shared), tuple(graph_outputs), int(n_outputs),
                  tuple(updated_shared), None if output_keys is None else tuple(output_keys),
                  bool(unpack_single), tuple(hidden), dict(inplace or {}))
        for name, value in zip(_FIELDS, values):
            object.__setattr__(self, name, value)
        # positions of the arguments given as In(update=...): their new values come last
        object.__setattr__(self, "stateful", tuple(
            k for k, i in enumerate(self.arguments) if i.update is not None))
        self._check()

    def __setattr__(self, name, value):
        raise AttributeError(f"a CallLayout is immutable (cannot set {name})")

    def __reduce__(self):
        return (CallLayout, tuple(getattr(self, name) for name in _FIELDS))

    def __eq__(self, other):
        return type(other) is CallLayout and \
            all(getattr(self, n) == getattr(other, n) for n in _FIELDS)

    __hash__ = None

    def __repr__(self):
        return f"CallLayout({self.describe()})"

    def _check(self):
        n_updates = len(self.updated_shared) + len(self.stateful)
        if len(self.graph_outputs) != self.n_outputs + n_updates:
            raise ValueError(f"a call layout with {self.n_outputs} outputs and {n_updates} "
                             f"updates needs {self.n_outputs + n_updates} output variables, "
                             f"got {len(self.graph_outputs)}")
        if self.output_keys is not None and len(self.output_keys) != self.n_outputs:
            raise ValueError("output_keys must name every user output")
        if self.unpack_single and self.n_outputs != 1:
            raise ValueError("unpack_single needs exactly one user output")
        n_in = len(self.passed_inputs)
        for k, j in self.inplace.items():
            if not (self.n_outputs <= k < len(self.graph_outputs) and 0 <= j < n_in):
                raise ValueError(f"in-place pair {k}>{j} is not an update written into an "
                                 f"input")

    def linked(self, hidden: Sequence[Constant], inplace: Mapping[int, int]) -> "CallLayout":
        """The same layout for a module that takes ``hidden`` after the shared values and
        writes the updates ``inplace`` into their inputs' buffers."""
        return CallLayout(self.arguments, self.shared, self.graph_outputs, self.n_outputs,
                          self.updated_shared, self.output_keys, self.unpack_single, hidden,
                          inplace)

    def unlinked(self) -> "CallLayout":
        """The layout as it was before linking (what pickles and copies carry)."""
        return self.linked((), {})

    # --- inputs ----------------------------------------------------------------------------

    @property
    def argument_variables(self) -> list:
        return [i.variable for i in self.arguments]

    @property
    def graph_inputs(self) -> list:
        """The graph's inputs: the arguments' variables, then the shared variables."""
        return self.argument_variables + list(self.shared)

    @property
    def passed_inputs(self) -> list:
        """Every variable the compiled call receives: the graph's inputs, then the hidden
        constants."""
        return self.graph_inputs + list(self.hidden)

    @property
    def hidden_values(self) -> list:
        return [c.data for c in self.hidden]

    # --- outputs ---------------------------------------------------------------------------

    @property
    def user_outputs(self) -> list:
        return list(self.graph_outputs[:self.n_outputs])

    @property
    def update_targets(self) -> list:
        """The variable each output after the user's ones updates, in order: the shared
        variables, then the variables of the In(update=...) arguments."""
        return list(self.updated_shared) + [self.arguments[k].variable for k in self.stateful]

    def shared_update_positions(self) -> list:
        """(output position, input position) of every update of a shared variable the graph
        reads (the candidates for writing in place)."""
        position = {id(v): j for j, v in enumerate(self.graph_inputs)}
        return [(self.n_outputs + k, position[id(s)])
                for k, s in enumerate(self.updated_shared) if id(s) in position]

    def inplace_sources(self) -> tuple:
        """For each update of a shared variable: the input position it may be written into,
        or -1 (what the C call path takes)."""
        return tuple(self.inplace.get(self.n_outputs + k, -1)
                     for k in range(len(self.updated_shared)))

    def split_results(self, results: Sequence) -> tuple:
        """(user outputs, new shared values, new state values) of a call's results."""
        n, m = self.n_outputs, self.n_outputs + len(self.updated_shared)
        return list(results[:n]), list(results[n:m]), list(results[m:])

    def pack(self, outputs: Sequence) -> Any:
        """The user's outputs as the call returns them: a dict, the single value or a list."""
        if self.output_keys is not None:
            return dict(zip(self.output_keys, outputs))
        if self.unpack_single:
            return outputs[0]
        return list(outputs)

    def result_kind(self) -> int:
        """How the C call path packs the outputs: 0 a list, 1 the single value, 2 a dict."""
        return 2 if self.output_keys is not None else 1 if self.unpack_single else 0

    def signature(self) -> str:
        """What the module's cg_run takes and returns: dtype and broadcastable pattern (so
        the number of dimensions) of every value passed and returned, and the in-place
        updates. Recorded in the module's cache manifest, and checked before a module found
        by its key alone is called."""
        return layout_signature(self.passed_inputs, self.graph_outputs, self.inplace)

    def describe(self) -> str:
        """The parts on one line (the layout's repr)."""
        def names(variables):
            return ", ".join(map(repr, variables)) or "-"
        return (f"inputs: arguments ({names(self.argument_variables)}) | shared "
                f"({names(self.shared)}) | hidden constants ({len(self.hidden)}); outputs: "
                f"user ({self.n_outputs}) | updates ({names(self.update_targets)})")


def layout_signature(inputs: Sequence, outputs: Sequence,
                     inplace: Mapping[int, int]) -> str:
    """The signature (see CallLayout.signature) of a cg_run taking ``inputs`` and returning
    ``outputs`` (graph variables), with the in-place updates ``inplace``."""
    def describe(var):
        return f"{var.dtype}[{''.join('1' if b else '0' for b in var.broadcastable)}]"
    return (f"in {','.join(map(describe, inputs))}; out {','.join(map(describe, outputs))}; "
            f"inplace {','.join(f'{o}>{i}' for o, i in sorted(inplace.items()))}")
