"""``function``: turn a graph into a callable that runs it as one compiled C module.

The work happens in three steps: ``_FunctionSpec`` checks and normalises what the user gave
(inputs, outputs, updates, givens) into one graph; the rewrites simplify it; a runner (C
module from the cache, or the numpy reference) computes it. ``Function`` is the thin object
that checks arguments, calls the runner once and writes the updates back.
"""
import os
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Union

import numpy as np

from .. import cache, parallel
from ..cache_files import read_regular
from ..codegen.prekey import (drop_graph_record, graph_prekey, load_graph_record, prekey,
                              save_graph_record)
from ..config import config
from ..graph.basic import Constant, Variable, ancestors, clone_replace, graph_inputs, io_toposort
from ..graph.basic import set_eval_compiler
from ..runtime_library import prepare as prepare_runtime, runtime, runtime_for_linking
from ..tensor.type import C_DTYPES
from ..tensor.var import as_tensor_variable
from .fastcall import FALLBACK as _FALLBACK, link_call_path, prepare as prepare_call_path
from .fastcall import extension as call_path_extension
from .inplace import inplace_updates, schedule_inplace
from .io import In, Out
from .layout import CallLayout
from .mode import Mode, cgraph_mode_of, get_mode
from .runners import CRunner, PyRunner
from .sharedvalue import Container, SharedVariable, acquire_all, call_locks, release_all, shared

# what function() accepts as its outputs, its updates and its givens
Outputs = Union[Variable, Out, Sequence[Union[Variable, Out]], Mapping[str, Variable], None]
Updates = Union[Iterable[tuple[SharedVariable, Variable]], Mapping[SharedVariable, Variable],
                None]
Givens = Union[Mapping[Variable, Variable], Iterable[tuple[Variable, Variable]], None]


class UnusedInputError(Exception):
    """An input the outputs do not depend on (see ``on_unused_input``)."""


class MissingInputError(Exception):
    """The outputs depend on a variable that is neither an input nor shared."""


def function(inputs: Sequence[Union[Variable, In]], outputs: Outputs = None,
             mode: Union[str, Mode, None] = None, updates: Updates = None, givens: Givens = None,
             no_default_updates: "bool | Sequence[SharedVariable]" = False,
             accept_inplace: bool = False, name: "str | None" = None,
             rebuild_strict: bool = True, allow_input_downcast: "bool | None" = None,
             profile: "bool | None" = None, on_unused_input: "str | None" = None,
             nan_guard: "bool | None" = None) -> "Function":
    """Compile a graph into a callable.

    ``inputs``: list of variables or ``In``; ``outputs``: a variable (the call returns one
    value), a list (returns a list) or a dict with string keys (returns a dict);
    ``updates``: (shared variable, new expression) pairs as a list, tuple or ordered dict,
    applied after every call from values computed before any is written; ``givens``:
    {variable: replacement} substituted into the graph before compiling.

    ``nan_guard`` (default ``config.nan_guard``, False unless ``CGRAPH_FLAGS=nan_guard=True``):
    as Theano's NanGuardMode, check every float input and the float output of every node
    (in both modes; the C module is a separate one, with its own cache key) and raise
    ``FloatingPointError`` at the first NaN or Inf, naming the variable, the node and its op,
    the element's index and the line of user code that built the node. Without it NaN and
    Inf propagate silently, as in numpy.
    """
    spec = _FunctionSpec(inputs, outputs, updates, givens, no_default_updates,
                         allow_input_downcast, on_unused_input, name)
    requested_mode = None if mode is None else get_mode(mode)   # for f.maker.mode
    mode = cgraph_mode_of(config.mode if mode is None else mode)
    nan_guard = bool(config.nan_guard if nan_guard is None else nan_guard)
    if profile is None:
        profile = config.profile
    if profile:
        from ..profiling import ProfileStats
        profile = profile if isinstance(profile, ProfileStats) else \
            ProfileStats(profile if isinstance(profile, str) else name)
    f = Function(spec, mode, profile or None, nan_guard)
    if requested_mode is not None:
        f._requested_mode = requested_mode
    return f


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


class _FunctionSpec:
    """The checked, normalised description of a function."""

    def __init__(self, inputs, outputs, updates, givens, no_default_updates,
                 allow_input_downcast, on_unused_input, name):
        self.name = name
        self._read_inputs(inputs, allow_input_downcast)
        self._read_outputs(outputs)
        update_pairs = _normalise_updates(updates)
        given_pairs = _normalise_givens(givens, self.input_variables)
        # Replace givens everywhere (outputs and update expressions) in one pass.
        exprs = self.output_variables + [u for _, u in update_pairs] + \
            [i.update for i in self.ins if i.update is not None]
        if given_pairs:
            exprs = clone_replace(exprs, dict(given_pairs))
        n_out = len(self.output_variables)
        self.output_variables = exprs[:n_out]
        update_pairs = [(s, u) for (s, _), u in zip(update_pairs, exprs[n_out:])]
        self.state_updates = exprs[n_out + len(update_pairs):]
        update_pairs = self._add_default_updates(update_pairs, no_default_updates,
                                                 dict(given_pairs))
        self.update_pairs = update_pairs
        self._check_inputs_reachable(on_unused_input)

    def _read_inputs(self, inputs, allow_input_downcast):
        if not isinstance(inputs, (list, tuple)):
            raise TypeError("Input variables of a cgraph function should be contained in a "
                            "list, even when there is a single input.")
        self.ins = []
        for k, item in enumerate(inputs):
            i = item if isinstance(item, In) else In(item) if isinstance(item, Variable) else None
            if i is None:
                raise TypeError(f"function input at index {k} is {item!r}, not a Variable or "
                                f"In")
            if isinstance(i.variable, SharedVariable):
                raise TypeError(f"Cannot use a shared variable ({i.variable!r}) as explicit "
                                f"input. Consider substituting a non-shared variable via the "
                                f"`givens` parameter")
            if isinstance(i.variable, Constant):
                raise TypeError(f"Constants not allowed in param list: {i.variable!r}")
            if i.allow_downcast is None:
                i.allow_downcast = allow_input_downcast
            self.ins.append(i)
        seen = {}
        for k, i in enumerate(self.ins):
            if i.variable in seen:
                raise UnusedInputError(
                    f"Variable {i.variable!r} is used twice in inputs to cgraph.function, at "
                    f"indices {seen[i.variable]} and {k}. This would result in values provided "
                    f"for it being ignored. Please do not duplicate variables in the inputs "
                    f"list.")
            seen[i.variable] = k
        self.input_variables = [i.variable for i in self.ins]
        for i in self.ins:
            if i.update is not None:
                i.update = as_tensor_variable(i.update)
                if i.update.type != i.variable.type:
                    raise TypeError(
                        f"Variable '{i.variable!r}' has type {i.variable.type} but an update "
                        f"of type {i.update.type}. The type of the update should be the same "
                        f"as the type of the variable")
                if i.value is None:
                    raise ValueError(f"In({i.variable!r}, update=...) needs an initial value")

    def _read_outputs(self, outputs):
        self.output_keys = None
        self.unpack_single = False
        if outputs is None:
            outs = []
        elif isinstance(outputs, dict):
            for key in outputs:
                if not isinstance(key, str):
                    raise TypeError(f"the keys of an outputs dict must be strings, got {key!r}")
            self.output_keys = sorted(outputs)
            outs = [outputs[k] for k in self.output_keys]
        elif isinstance(outputs, (list, tuple)):
            outs = list(outputs)
        else:
            outs = [outputs]
            self.unpack_single = True
        variables = []
        for o in outs:
            v = o.variable if isinstance(o, Out) else o
            if not isinstance(v, Variable):
                raise TypeError(f"Outputs must be cgraph Variable or Out instances. Received "
                                f"{o!r} of type {type(o)}")
            variables.append(v)
        self.output_variables = variables

    def _add_default_updates(self, pairs, no_default_updates, givens):
        if not isinstance(no_default_updates, (bool, list, tuple)):
            raise TypeError("no_default_updates should be either a boolean or a list")
        if no_default_updates is True:
            return pairs
        excluded = set(no_default_updates) if no_default_updates else set()
        updated = {s for s, _ in pairs}
        # default updates reached through other updates are collected too
        k = 0
        frontier = self.output_variables + [u for _, u in pairs] + self.state_updates
        while k < len(frontier):
            batch = frontier[k:]
            k = len(frontier)
            for var in graph_inputs(batch):
                if isinstance(var, SharedVariable) and var.default_update is not None \
                        and var not in updated and var not in excluded:
                    upd = _check_update(var, var.default_update)
                    if givens:   # a default update (random state) may read a replaced variable
                        upd = clone_replace([upd], givens)[0]
                    pairs.append((var, upd))
                    updated.add(var)
                    frontier.append(upd)
        return pairs

    def _check_inputs_reachable(self, on_unused_input):
        on_unused_input = on_unused_input or config.on_unused_input
        if on_unused_input not in ("raise", "warn", "ignore"):
            raise ValueError(f"Invalid value for keyword on_unused_input of cgraph.function: "
                             f"{on_unused_input!r}.\nValid values are 'raise', 'warn', and "
                             f"'ignore'.")
        roots = self.output_variables + [u for _, u in self.update_pairs] + self.state_updates
        needed = ancestors(roots, stop_at=self.input_variables)
        for k, var in enumerate(self.input_variables):
            if var not in needed and on_unused_input != "ignore":
                msg = (f"cgraph.function was asked to create a function computing outputs given "
                       f"certain inputs, but the provided input variable at index {k} is not "
                       f"part of the computational graph needed to compute the outputs: "
                       f"{var!r}.\nTo make this error into a warning, you can pass the "
                       f"parameter on_unused_input='warn' to cgraph.function. To disable it "
                       f"completely, use on_unused_input='ignore'.")
                if on_unused_input == "raise":
                    raise UnusedInputError(msg)
                warnings.warn(msg, stacklevel=4)
        for var in graph_inputs(roots, stop_at=self.input_variables):
            if var in self.input_variables or isinstance(var, (SharedVariable, Constant)):
                continue
            where = f" (created at {var.trace})" if var.trace else ""
            raise MissingInputError(
                f"Input {var!r}{where} is needed to compute the outputs but was not provided "
                f"as an input of the function, nor replaced through givens.")


def _check_update(target, value):
    value = as_tensor_variable(value)
    t, u = target.type, value.type
    compatible = (t.dtype == u.dtype and t.ndim == u.ndim and
                  all(ub or not tb for tb, ub in zip(t.broadcastable, u.broadcastable)))
    if not compatible:
        hint = ""
        if t.dtype != u.dtype:
            hint = (f" The update has dtype {u.dtype} but {target!r} holds {t.dtype}: cast it, "
                    f"e.g. T.cast(expr, '{t.dtype}'), or build it from values of dtype "
                    f"{t.dtype} (a Python float constant takes config.floatX).")
        elif t.ndim != u.ndim:
            hint = f" The update has {u.ndim} dimensions but {target!r} has {t.ndim}."
        else:
            hint = (" The update is less broadcastable than the variable: a dimension the "
                    "variable declares broadcastable (length 1) may change length.")
        raise TypeError(f"An update must have the same type as the original shared variable "
                        f"(shared_var={target!r}, shared_var.type={t}, update_val={value!r}, "
                        f"update_val.type={u}).{hint}")
    return value


def _normalise_updates(updates):
    if updates is None:
        return []
    if isinstance(updates, dict):
        if type(updates) is dict and len(updates) > 1:
            warnings.warn(
                "The parameter 'updates' of cgraph.function() expects an OrderedDict or a list "
                "of (shared, update) pairs, got a plain dict. Its order is the insertion order, "
                "which is what the updates will follow.", UserWarning, stacklevel=4)
        items = list(updates.items())
    elif isinstance(updates, (list, tuple)):
        items = list(updates)
        if len(items) == 2 and isinstance(items[0], Variable) and not isinstance(items[1], (list, tuple)):
            raise ValueError("The updates parameter must be an OrderedDict/dict or a list of "
                             "lists/tuples with 2 elements (got a single pair: wrap it in a "
                             "list, updates=[(shared_var, new_value)])")
    else:
        raise TypeError(f"The updates parameter must be an ordered mapping or a list of pairs, "
                        f"got {type(updates).__name__}")
    pairs, seen = [], set()
    for item in items:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise ValueError("The updates parameter must be an OrderedDict/dict or a list of "
                             f"lists/tuples with 2 elements; got the entry {item!r}")
        target, value = item
        if not isinstance(target, SharedVariable):
            raise TypeError(f"update target must be a SharedVariable, got {target!r}"
                            + (" (a constant)" if isinstance(target, Constant) else ""))
        if target in seen:
            raise ValueError(f"this shared variable already has an update expression: "
                             f"{target!r}")
        seen.add(target)
        pairs.append((target, _check_update(target, value)))
    return pairs


def _normalise_givens(givens, input_variables):
    if givens is None:
        return []
    if isinstance(givens, dict):
        items = list(givens.items())
    elif isinstance(givens, (list, tuple)):
        items = list(givens)
    else:
        raise TypeError(f"givens must be a dict or a list of (variable, replacement) pairs, "
                        f"got {type(givens).__name__}")
    pairs = []
    for item in items:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise TypeError(f"givens entries must be (variable, replacement) pairs, got {item!r}")
        old, new = item
        if not isinstance(old, Variable):
            raise TypeError(f"given keys must be Variable, got {old!r}")
        if old in input_variables:
            raise RuntimeError(
                f"You are trying to replace variable '{old!r}' through the `givens` parameter, "
                f"but this variable is an input to your function. Replacing inputs is "
                f"forbidden because it has no effect. To replace it in a graph, use "
                f"cgraph.clone_replace.")
        if not isinstance(new, Variable):
            new = shared(np.asarray(new, dtype=old.dtype) if hasattr(old, "dtype") else new)
        ot, nt = old.type, new.type
        if ot.dtype != nt.dtype or ot.ndim != nt.ndim:
            raise TypeError(
                f"givens: the replacement for {old!r} has type {nt} but {old!r} has type {ot}; "
                f"they must have the same dtype and number of dimensions"
                + (f" (cast it with T.cast(replacement, '{ot.dtype}'))" if ot.dtype != nt.dtype
                   else ""))
        if any(ob and not nb for ob, nb in zip(ot.broadcastable, nt.broadcastable)):
            raise TypeError(
                f"givens: {old!r} has broadcastable pattern {ot.broadcastable} but its "
                f"replacement has {nt.broadcastable}; the replacement must be broadcastable "
                f"wherever the variable is")
        pairs.append((old, new))
    olds = {o for o, _ in pairs}
    for _, new in pairs:
        if ancestors([new]) & olds:
            raise ValueError("When using 'givens' with several (old, new) replacement pairs, "
                             "a new value may not depend on another pair's old variable, as "
                             "in givens = {a: b, b: a + 1}.")
    return pairs


class Function:
    """A compiled function. Call it with values for its inputs (positional or by name).

    It pickles (with its shared variables and their values; the module is found in the cache
    by its key, or rebuilt) and copies (``f.copy(swap=..., delete_updates=...)``).

    ``trust_input = True`` skips converting the arguments that already are arrays of the
    input's exact dtype, ndim and broadcastable pattern; any other value is still checked
    and converted, so a wrong array never reaches the C module. (The C call path, which
    takes most calls, checks in either case: its checks cost nanoseconds.)
    """

    # _fast_call (the Caller, or None) is a slot: the C Function.__call__ reads it at its
    # offset instead of through getattr (see _install_call_method).
    __slots__ = ("_fast_call", "__dict__", "__weakref__")

    _module_key = None    # the module recorded for the user's graph (see __init__)
    _requested_mode = None  # the Mode instance given to function(), for f.maker.mode
    _graph_key = None     # the pre-key of the user's graph, if it has one
    _module_hidden = ()   # and the constants it takes after the inputs

    #: How making this function found its C module: "built" (the C compiler ran), "disk"
    #: (loaded from the on-disk cache), "memory" (already loaded by this process), or None
    #: in py mode. ``compiled`` is True for "built" only.
    module_origin = None

    @property
    def compiled(self) -> bool:
        """True when making this function ran the C compiler; False when its module came
        from the cache (on disk or already loaded) or the function runs in py mode."""
        return self.module_origin == "built"

    def __init__(self, spec, mode, profile=None, nan_guard=False):
        roots = spec.output_variables + [u for _, u in spec.update_pairs] + spec.state_updates
        shared_inputs = [v for v in graph_inputs(roots, stop_at=spec.input_variables)
                         if isinstance(v, SharedVariable)]
        graph_in = spec.input_variables + shared_inputs
        if mode == "c":
            _refuse_dtypes_without_c(graph_in, roots)
        # Warm path: a record under the pre-key of the user's graph holds the rewritten graph
        # and its module's key, so neither the rewrites nor the lowering run again.
        graph_key = found = None
        if mode == "c":
            graph_key = graph_prekey(graph_in, roots, spec.name, (profile is not None, nan_guard))
            found = load_graph_record(graph_key, graph_in, roots) if graph_key else None
        self._graph_key = graph_key
        if found is not None:
            self._module_key, graph_out, self._module_hidden = found
        else:
            from ..rewrite import optimize
            graph_out = optimize(graph_in, roots)
        layout = CallLayout(
            spec.ins, shared_inputs, graph_out, len(spec.output_variables),
            [s for s, _ in spec.update_pairs], spec.output_keys, spec.unpack_single)
        self._setup(
            name=spec.name, mode=mode, layout=layout,
            state={k: i.variable.type.filter(i.value, name=f"In({i.variable!r}).value")
                   for k, i in enumerate(spec.ins) if i.value is not None},
            profile=profile, nan_guard=nan_guard)
        if graph_key is not None and self.cache_key != self._module_key:
            save_graph_record(graph_key, self.cache_key, graph_in, graph_out,
                              self.layout.hidden)

    def _setup(self, name, mode, layout, state, trust_input=False, profile=None,
               nan_guard=False):
        """Everything but the user-facing checks: shared by __init__, copy() and unpickling.

        ``layout`` (a CallLayout, not yet linked) says what the call takes and returns;
        ``state`` maps argument positions to stored values (defaults of In(value=...) and the
        current state of In(update=...)).
        """
        self.name = name
        self.nan_guard = nan_guard
        self.mode = mode
        self.layout = layout
        self._state = state
        # Held by a call from reading the shared values (and In(update=...) state) until
        # their updates are written: calls are atomic with respect to what they touch.
        own_state = [Container(None)] if layout.stateful else []
        self._locks = call_locks([s.container for s in layout.shared + layout.updated_shared]
                                 + own_state)
        self.trust_input = trust_input
        self.profile = profile
        if profile is not None:
            profile.function = self
        self.graph_inputs, self.graph_outputs = layout.graph_inputs, list(layout.graph_outputs)
        self.nodes = io_toposort(self.graph_outputs, stop_at=self.graph_inputs)
        self._names = {}
        for k, i in enumerate(layout.arguments):
            if i.name is not None:
                self._names.setdefault(i.name, []).append(k)
        self._link()

    # --- what other modules read (the layout owns the positions) ----------------------------

    @property
    def output_keys(self) -> "list[str] | None":
        """The names of the outputs when they were given as a dict (sorted), else None."""
        return None if self.layout.output_keys is None else list(self.layout.output_keys)

    @property
    def argument_defaults(self) -> dict:
        """{argument position: the value used when the call omits it} (In(value=...) and
        In(update=...) state); a copy."""
        return dict(self._state)

    @property
    def call_locks(self) -> tuple:
        """The locks a call holds while it reads the shared values and writes their
        updates (see sharedvalue.call_locks)."""
        return tuple(self._locks)

    def _link(self):
        """Make the runner: the C module from the cache, or the numpy reference."""
        graph_in, graph_out, nodes = self.graph_inputs, self.graph_outputs, self.nodes
        self._fast_call = None   # the C call path, when the module and the call allow it
        if self.mode == "py":
            self._runner = PyRunner(graph_in, graph_out, nodes,
                                    nan_guard=self.nan_guard)
            self._c_source = None
            self.module_path = None
            self.cache_key = None
            self.module_origin = None
        else:
            self._link_c()

    def _link_c(self):
        """Find the module: by the record of the user's graph or by the pre-key of the
        rewritten one (no rendering either way), else lower and look up."""
        graph_in, graph_out = self.graph_inputs, self.graph_outputs
        profile = self.profile is not None
        nan_guard = self.nan_guard
        # updates that may be written into the shared value's own buffer; their nodes last
        inplace = inplace_updates(graph_in, graph_out, self.nodes,
                                  self.layout.shared_update_positions(), nan_guard)
        self.nodes = nodes = schedule_inplace(self.nodes, graph_out, inplace)
        started = time.perf_counter()
        entry = library = None
        if self._module_key is not None:     # recorded with the user's graph (see __init__)
            library = runtime()              # a module is loaded after its runtime library
            linked = self.layout.linked(self._module_hidden, inplace)
            try:
                entry = cache.load_by_key(self._module_key, linked.signature())
            except cache.LayoutMismatch as exc:
                drop_graph_record(self._graph_key, f"does not fit its graph: {exc}")
        if entry is not None:
            self._c_source = None
        else:
            prepare_call_path()
            prepare_runtime()
            entry, linked, library = self._lower_and_load(nodes, profile, nan_guard, inplace,
                                                          started)
        self.layout = linked
        self.module_origin = cache.last_origin()    # before link_call_path looks up more
        self._runner = CRunner(entry, linked, nodes, library)
        self.module_path = entry.module_path
        self.cache_key = entry.key
        self._fast_call = link_call_path(self, self._runner)
        if self._fast_call is not None:
            _install_call_method()

    def _lower_and_load(self, nodes, profile, nan_guard, inplace, started):
        """The module by the pre-key of the rewritten graph, else lowered, built or loaded:
        (cache entry, the linked call layout, the runtime library's entry). The runtime
        library is waited for only when needed: on a miss, its build runs while lowering."""
        from ..codegen.lower import EMBED_CONSTANT_LIMIT, lower, passed_constants  # a miss only
        graph_in, graph_out = self.graph_inputs, self.graph_outputs
        pre = prekey(graph_in, graph_out, nodes, self.name,
                     (profile, nan_guard, sorted(inplace.items()), parallel.build_options()),
                     EMBED_CONSTANT_LIMIT)
        entry = library = None
        key = cache.read_prekey(pre) if pre is not None else None
        if key is not None:
            library = runtime()
            linked = self.layout.linked(passed_constants(nodes, graph_out), inplace)
            try:
                entry = cache.load_by_key(key, linked.signature())
            except cache.LayoutMismatch as exc:
                cache.drop_prekey(pre, f"does not fit its graph: {exc}")
        if entry is not None:
            self._c_source = None
        else:
            compiler_before = cache.stats.get("compile_seconds", 0.0)
            lowered = lower(graph_in, graph_out, nodes, self.name, profile=profile,
                            nan_guard=nan_guard, inplace=inplace)
            linked = self.layout.linked(lowered.hidden, lowered.inplace)
            library = library or runtime_for_linking()   # a module may compile beside it
            entry = cache.get_module(lowered.source, self.name or "anonymous",
                                     linked.signature(), runtime=library)
            if pre is not None:
                cache.write_prekey(pre, entry.key)
            self._c_source = lowered.source
            elapsed = time.perf_counter() - started
            compiler = cache.stats.get("compile_seconds", 0.0) - compiler_before
            if elapsed > SLOW_COMPILE_SECONDS or (config.compile_verbose and compiler > 0):
                _announce(f"compiled function {self.name or 'anonymous'!r}: {len(nodes)} "
                          f"kernels, {elapsed:.2f} s ({compiler:.2f} s in the C compiler), "
                          f"cache key {entry.key[:16]}")
            library = runtime()      # loaded by now (a module loads after its runtime library)
        return entry, linked, library

    @property
    def c_source(self) -> "str | None":
        """The C source of the function's module (read from the cache entry when the module
        was found by its pre-key); None in py mode."""
        if self.mode == "py":
            return None
        if self._c_source is None:
            self._c_source = read_regular(
                os.path.join(os.path.dirname(self.module_path), "module.c")).decode()
        return self._c_source

    # --- pickling and copying ----------------------------------------------------------

    def _parts(self):
        # the layout travels unlinked: hidden constants and in-place writes are decided
        # again with the module
        return dict(name=self.name, mode=self.mode, layout=self.layout.unlinked(),
                    state=dict(self._state), trust_input=self.trust_input,
                    nan_guard=self.nan_guard)

    def __reduce__(self):
        # The graph after rewrites travels with the shared variables it reads (their values
        # included); unpickling lowers it again, which gives the same source and so finds
        # the same module in the cache.
        return (_rebuild_function, (self._parts(),))

    def copy(self, share_memory: bool = False,
             swap: "Mapping[SharedVariable, SharedVariable] | None" = None,
             delete_updates: bool = False, name: "str | None" = None,
             profile: "bool | None" = None) -> "Function":
        """A new function computing the same graph (no rewriting again).

        ``swap`` ({shared variable: another of the same type}) makes the copy use other shared
        variables; ``delete_updates`` drops the updates. Shared variables not swapped are the
        same as the original's. ``share_memory`` is accepted for Theano's signature (calls
        never share intermediate buffers).
        """
        parts = self._parts()
        parts["name"] = name if name is not None else \
            (f"{self.name} copy" if self.name else None)
        layout = parts["layout"]
        graph_out = list(layout.graph_outputs)
        shared, updated = list(layout.shared), list(layout.updated_shared)
        if delete_updates:
            keep = layout.n_outputs
            graph_out = graph_out[:keep] + graph_out[keep + len(updated):]
            updated = []
        if swap:
            replace = {}
            for old, new in swap.items():
                if old not in shared:
                    raise ValueError(f"SharedVariable: {old!r} not found")
                if not isinstance(new, SharedVariable) or new.type != old.type:
                    raise TypeError(f"swap: {new!r} must be a shared variable of type "
                                    f"{old.type} to replace {old!r}")
                replace[old] = new
            graph_out = clone_replace(graph_out, replace)
            shared = [replace.get(v, v) for v in shared]
            updated = [replace.get(v, v) for v in updated]
        parts["layout"] = CallLayout(layout.arguments, shared, graph_out, layout.n_outputs,
                                     updated, layout.output_keys, layout.unpack_single)
        return _rebuild_function(parts)

    def __copy__(self):
        return self.copy()

    # --- calling ----------------------------------------------------------------------

    def __call__(self, *args: object, **kwargs: object) -> object:
        # The C call path takes the common call (positional arrays of the exact type) and
        # declines any other before doing anything; then the checks below run as usual.
        # Once the extension is loaded, the class's __call__ is its CallMethod, which does
        # this in C (no Python frame: see _install_call_method).
        fast = self._fast_call
        if fast is not None and not kwargs:
            result = fast(*args)
            if result is not _FALLBACK:
                return result
        return self._call_python(*args, **kwargs)

    def _call_python(self, *args: object, **kwargs: object) -> object:
        """A call through the Python path: checks, conversions, profiling."""
        locks = self._locks
        acquire_all(locks)
        try:
            if self.profile is not None:
                return self._profiled_call(args, kwargs)
            return self._finish(self._runner(self._check_inputs(args, kwargs)))
        finally:
            release_all(locks)

    def _check_inputs(self, args, kwargs):
        """The argument values, checked and converted, followed by the shared values."""
        ins = self.layout.arguments
        if len(args) > len(ins):
            raise TypeError(f"Too many parameter passed to cgraph function"
                            f"{self._name_suffix()}: it takes {len(ins)}, got {len(args)}")
        values = list(args) + [_MISSING] * (len(ins) - len(args))
        for key, value in kwargs.items():
            positions = self._names.get(key)
            if positions is None:
                raise TypeError(self._unknown_input_message(key))
            if len(positions) > 1:
                raise TypeError(f"Ambiguous name: {key} - please check the names of the inputs "
                                f"of your function for duplicates.")
            k = positions[0]
            if values[k] is not _MISSING:
                raise TypeError(f"Multiple values for input: {key}")
            values[k] = value
        checked = []
        for k, (i, value) in enumerate(zip(ins, values)):
            if value is _MISSING:
                if k not in self._state:
                    raise TypeError(f"Missing required input: {i.name or repr(i.variable)}"
                                    f"{self._name_suffix()}")
                checked.append(self._state[k])
                continue
            if self.trust_input and _fits_exactly(i.variable.type, value):
                checked.append(value)   # trusted, yet never a wrong array for the C module
                continue
            try:
                checked.append(i.variable.type.filter(value, strict=i.strict,
                                                      allow_downcast=i.allow_downcast,
                                                      name=f"input {i.name or repr(i.variable)}"))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"Bad input argument to cgraph function{self._name_suffix()} "
                                f"at index {k} (0-based): {exc}") from None
        checked += [s.container.value for s in self.layout.shared]
        return checked

    def _finish(self, results):
        """Write the new values of updated variables back; return the user's outputs."""
        layout = self.layout
        outputs, shared_values, state_values = layout.split_results(results)
        for s, value in zip(layout.updated_shared, shared_values):
            s.container.value = value
        for k, value in zip(layout.stateful, state_values):
            self._state[k] = value
        return layout.pack(outputs)

    def _profiled_call(self, args, kwargs):
        clock = time.perf_counter
        t0 = clock()
        checked = self._check_inputs(args, kwargs)
        t1 = clock()
        results = self._runner(checked)
        t2 = clock()
        outputs = self._finish(results)
        self.profile.record_call(t1 - t0, t2 - t1, clock() - t2)
        return outputs

    def _name_suffix(self):
        return f' with name "{self.name}"' if self.name else ""

    def _unknown_input_message(self, key):
        named = [i.name for i in self.layout.arguments if i.name is not None]
        unnamed = len(self.layout.arguments) - len(named)
        msg = (f"Unknown input or state: {key}. The function has {len(named)} named "
               f"input{'s' if len(named) != 1 else ''} ({', '.join(named)})")
        if unnamed:
            msg += (f", and {unnamed} unnamed input{'s' if unnamed != 1 else ''} which thus "
                    f"cannot be accessed through keyword argument (use 'name=...' in a "
                    f"variable's constructor to give it a name)")
        return msg + "."

    def get_shared(self) -> "list[SharedVariable]":
        return list(self.layout.shared)

    @property
    def maker(self) -> "FunctionMaker":
        """Theano's ``f.maker``: ``fgraph`` (the rewritten graph, see graph/fgraph.py),
        ``inputs`` (the In of each input), ``outputs`` and ``mode``."""
        return FunctionMaker(self)

    def __repr__(self):
        return f"<cgraph.Function {self.name or 'anonymous'} ({self.mode})>"


def _refuse_dtypes_without_c(graph_in, roots):
    """A TypeError naming the first variable whose dtype the C backend does not compute
    (float16: stored, and computed by the numpy reference only), before any lowering."""
    for var in sorted(ancestors(roots, stop_at=graph_in), key=lambda v: v.id):
        dtype = getattr(var.type, "dtype", None)
        if dtype is not None and dtype not in C_DTYPES:
            where = f" (created at {var.trace})" if var.trace else ""
            raise TypeError(f"{var!r}{where} has dtype {dtype}, which cgraph stores and "
                            f"computes in the numpy reference (mode='py') but not in C: keep "
                            f"the values in float32 (value.astype('float32')) to compile")


def _install_call_method() -> None:
    """Make Function.__call__ the extension's CallMethod (once, when a first Caller exists):
    f(x) then goes to f's Caller in C, the Python path only for what it declines."""
    global _call_method_installed
    if _call_method_installed:
        return
    module = call_path_extension()
    make = getattr(module, "CallMethod", None) if module is not None else None
    if make is not None:
        Function.__call__ = make(Function._call_python, "_fast_call", Function)
        # and f(x) calls it without CPython's generic slot (its lookup of __call__ and copy
        # of the arguments: ~30 ns a call)
        install = getattr(module, "install_call", None)
        if install is not None:
            install(Function)
    _call_method_installed = True


_call_method_installed = False


class FunctionMaker:
    """What made a Function, as Theano programs read it from ``f.maker``."""

    def __init__(self, function):
        from ..graph.fgraph import FunctionGraph
        self.fgraph = FunctionGraph(function.graph_inputs, function.graph_outputs,
                                    function.nodes)
        self.inputs = list(function.layout.arguments)
        self.outputs = function.layout.user_outputs
        self.mode = function._requested_mode or \
            Mode("py" if function.mode == "py" else "cvm", "fast_run")
        self.linker = self.mode.linker
        self.function = function


_MISSING = object()


def _fits_exactly(type_, value):
    """``value`` is an array the runners take as it is for ``type_`` (a copy at most)."""
    return isinstance(value, np.ndarray) and value.dtype == type_.dtype and \
        value.ndim == type_.ndim and \
        all(length == 1 for length, b in zip(value.shape, type_.broadcastable) if b)


SLOW_COMPILE_SECONDS = 1.0


def _announce(message):
    """One line on stderr (through the 'cgraph' logger, which the user may configure)."""
    import logging     # here, not at import: most processes never announce anything
    _log = logging.getLogger("cgraph")
    if not _log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("cgraph: %(message)s"))
        _log.addHandler(handler)
        _log.setLevel(logging.INFO)
        _log.propagate = False
    _log.info(message)


def _rebuild_function(parts):
    if "layout" not in parts:        # pickled before the call layout had its own class
        parts = dict(parts)
        parts["layout"] = CallLayout(
            parts.pop("ins"), parts.pop("shared"), parts.pop("graph_out"),
            parts.pop("n_outputs"), parts.pop("updated_shared"), parts.pop("output_keys"),
            parts.pop("unpack_single"))
        parts.pop("graph_in")
    function = Function.__new__(Function)
    function._setup(**parts)
    return function


set_eval_compiler(function)   # Variable.eval compiles with function()
