"""Runners: compute a function's outputs from its input values, in C or with numpy.

Both take the list of input values (user inputs, then shared values) and return the list of
output values (user outputs, then new values of updated variables), each a fresh array, except
the new value of an update the C module wrote into the shared value's own buffer (see
cgraph/compile/inplace.py): that is the input array itself.
"""
import ctypes
import threading

import numpy as np

from ..graph.basic import Constant
from ..graph.labels import expand_label_tokens, label_of, nan_guard_message
from ..tensor.type import shape_str

_ERRORS = {1: ValueError, 2: IndexError, 3: ZeroDivisionError, 4: MemoryError,
           5: FloatingPointError,   # 5: CG_NONFINITE, found by nan_guard
           6: NotImplementedError, 7: KeyboardInterrupt,   # 7: SIGINT during a loop
           8: np.linalg.LinAlgError}   # 8: CG_LINALG_ERROR (a singular matrix, ...)
_ERR_LEN = 2048


def _entry_point(lib):
    run = lib.cg_run
    run.restype = ctypes.c_int
    run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                    ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    return run


def _free_function(runtime):
    free = runtime.cg_free
    free.restype = None
    free.argtypes = [ctypes.c_void_p]
    return free


def _allocation_count(runtime):
    count = runtime.cg_allocation_count
    count.restype = ctypes.c_int64
    return count()


class _Output:
    """A buffer cg_run handed over, seen by numpy through ``__array_interface__`` (the array
    keeps this object as its base) and freed with the runtime's cg_free with the last view."""

    __slots__ = ("__array_interface__", "_free")

    def __init__(self, address, dtype, shape, free):
        self.__array_interface__ = {"data": (address, False), "shape": shape,
                                    "typestr": dtype.str, "version": 3}
        self._free = free

    def __del__(self):
        self._free(self.__array_interface__["data"][0])


def node_context(node):
    """What an error message adds about the node that failed."""
    where = f"\nThe node was built at {node.trace}" if node.trace else ""
    return f"\nApply node that caused the error: {node.op}({', '.join(map(label_of, node.inputs))})" \
           f" -> {label_of(node.outputs[0])}{where}"


class CRunner:
    """Calls the module's ``cg_run`` once per call, through ctypes (the C call path,
    cgraph/compile/fastcall.py, takes the common calls without it).

    The argument arrays handed to C are allocated once per thread and reused, since a
    Function may be called from several threads at once (ctypes releases the GIL in the call).
    """

    def __init__(self, entry, layout, nodes, runtime):
        """``layout``: the function's linked CallLayout (what cg_run takes and returns);
        ``nodes``: the module's nodes in execution order (an error names one by index)."""
        self.lib = entry.lib
        self.runtime = runtime.lib
        self.nodes = nodes
        self.hidden = [np.array(c, order="C") for c in layout.hidden_values]
        inputs, outputs = layout.passed_inputs, layout.graph_outputs
        self.out_specs = [(np.dtype(v.dtype), v.ndim) for v in outputs]
        self.n_in = len(inputs)
        self.in_ndim_total = sum(v.ndim for v in inputs)
        self.out_ndim_total = sum(v.ndim for v in outputs)
        self.n_out = len(outputs)
        self.cg_run = _entry_point(self.lib)
        self.cg_free = _free_function(self.runtime)
        self._local = threading.local()
        # output position -> input position of the updates cg_run may write in place
        self.inplace = dict(layout.inplace)
        self._destroyed = set(self.inplace.values())
        # the extension's watch_sigint when the module's loops count Ctrl-C (set by
        # fastcall.link_call_path): called before each call, as signal.signal() since the
        # last one may have put another handler in place of the chain
        self.watch_sigint = None

    def address(self, name):
        """The address of a C function: ``cg_run`` of the module, ``cg_free`` of the runtime."""
        lib = self.runtime if name == "cg_free" else self.lib
        return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value

    def allocation_count(self):
        """Buffers the runtime library obtained from the system allocator since it was loaded
        (all threads and modules): while shapes repeat, a call adds only the outputs it
        returns."""
        return _allocation_count(self.runtime)

    def release_workspace(self):
        """Free the calling thread's spare buffers (kept for reuse by its next calls)."""
        self.runtime.cg_release_workspace()

    def _scratch(self):
        scratch = ((ctypes.c_void_p * max(self.n_in, 1))(),
                   (ctypes.c_int64 * max(self.in_ndim_total, 1))(),
                   (ctypes.c_void_p * max(self.n_out, 1))(),
                   (ctypes.c_int64 * max(self.out_ndim_total, 1))(),
                   ctypes.c_int(-1), ctypes.create_string_buffer(_ERR_LEN))
        self._local.scratch = scratch
        return scratch

    def __call__(self, values):
        try:
            in_data, in_shape, out_data, out_shape, fail_node, err = self._local.scratch
        except AttributeError:
            in_data, in_shape, out_data, out_shape, fail_node, err = self._scratch()
        passed = []      # the arrays handed to C (an in-place update returns one of them)
        pos = 0
        destroyed = self._destroyed
        for k, v in enumerate(values + self.hidden if self.hidden else values):
            if not v.flags.c_contiguous:
                v = np.ascontiguousarray(v)
            elif k in destroyed and not v.flags.writeable:
                v = v.copy()     # a read-only value is never written: its copy may be
            passed.append(v)     # keeps the buffer alive through the call
            in_data[k] = v.__array_interface__["data"][0]
            for length in v.shape:
                in_shape[pos] = length
                pos += 1
        fail_node.value = -1
        if self.watch_sigint is not None:
            self.watch_sigint()
        status = self.cg_run(in_data, in_shape, out_data, out_shape, ctypes.byref(fail_node),
                             err, _ERR_LEN)
        if status:
            self.raise_error(status, fail_node.value, err.value)
        results, pos = [], 0
        for k, (dtype, ndim) in enumerate(self.out_specs):
            shape = tuple(out_shape[pos:pos + ndim])
            pos += ndim
            j = self.inplace.get(k)
            if j is not None and out_data[k] == in_data[j]:
                # written into the input's own buffer: the new value is that very array
                results.append(passed[j])
                continue
            results.append(np.asarray(_Output(out_data[k], dtype, shape, self.cg_free)))
        return results

    def raise_error(self, status, fail_node, message):
        """Raise what a failed cg_run means: ``status`` picks the class; ``message`` (bytes,
        from the module) gets the context of the node ``fail_node``. The C call path calls
        it too (cgraph/compile/fastcall.py), so both raise the same errors."""
        message = expand_label_tokens(message.decode("utf-8", "replace"), self.nodes, fail_node)
        if 0 <= fail_node < len(self.nodes):
            message += node_context(self.nodes[fail_node])
        raise _ERRORS.get(status, RuntimeError)(message)


class PyRunner:
    """The numpy reference: every node's ``perform``, one after the other.

    With ``nan_guard``, float inputs and node outputs are checked for NaN/Inf as the C
    module checks them (same order, same message).
    """

    def __init__(self, inputs, outputs, nodes, nan_guard=False):
        self.inputs = inputs
        self.outputs = outputs
        self.nodes = nodes
        self.nan_guard = nan_guard
        self._layout = None    # (order, branch guards, node ids), made at the first call

    def __call__(self, values):
        from ..ifelse import branch_layout, guard_holds
        env = dict(zip(self.inputs, values))
        if self.nan_guard:
            for var, value in zip(self.inputs, values):
                _nan_guard_check(var, value)
        if self._layout is None:
            self._layout = branch_layout(self.nodes, self.outputs) + (
                {node: k for k, node in enumerate(self.nodes)},)
        order, guards, node_ids = self._layout

        def value_of(var):
            return var.data if isinstance(var, Constant) else env[var]
        for node in order:
            # lazy ifelse: a node that only the untaken branch needs does not run
            if guards and not all(guard_holds(g, value_of) for g in guards.get(node, ())):
                continue
            node_id = node_ids[node]
            args = []
            for v in node.inputs:
                # (an IfElse's untaken branch has no value: None stands for it)
                args.append(v.data if isinstance(v, Constant) else
                            env[v] if v in env or not guards else None)
            try:
                results = node.op.perform(node, args)
            except (ValueError, IndexError, ZeroDivisionError, TypeError) as exc:
                shapes = ", ".join(f"{shape_str(np.shape(a))}" for a in args)
                raise type(exc)(f"{node.op}: {exc} (input shapes {shapes})"
                                + node_context(node)) from None
            for var, value in zip(node.outputs, results):
                value = np.asarray(value)
                if value.dtype.name != var.dtype or value.ndim != var.ndim:
                    raise AssertionError(
                        f"{node.op}.perform returned dtype {value.dtype} and {value.ndim} "
                        f"dimensions for a variable of type {var.type}")
                env[var] = value
                if self.nan_guard:
                    _nan_guard_check(var, value, node_id, node)
        results = []
        for var in self.outputs:
            value = var.data if isinstance(var, Constant) else env[var]
            results.append(np.array(value, copy=True, order="C"))
        return results


def _nan_guard_check(var, value, node_id=None, node=None):
    """Raise FloatingPointError if the float array ``value`` (of ``var``) has a NaN or Inf."""
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        return
    bad = ~np.isfinite(value)
    if not bad.any():
        return
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    v = value[index]
    kind = "NaN" if np.isnan(v) else "Inf" if v > 0 else "-Inf"
    message = nan_guard_message(var, node_id, node).replace("{kind}", kind) \
        .replace("{index}", shape_str(index))
    raise FloatingPointError(message + (node_context(node) if node is not None else ""))
