"""Profiling compiled functions: where the time of a call goes.

``function(..., profile=True)`` (or ``CGRAPH_FLAGS=profile=True``) times every call, split
into checking the inputs, the C call and writing updates back, and builds an instrumented
module (its own cache entry) that times each node inside the C call: each fused loop, BLAS
call, reduction. ``summary()`` prints a table per profiled function, as Theano's
ProfileStats did; ``f.profile.summary()`` prints one.
"""
import sys

from .graph.labels import label_of

_ALL = []


class ProfileStats:
    """Call counts and times of one function, and of each node of its module."""

    def __init__(self, message=None):
        self.message = message
        self.calls = 0
        self.check_seconds = 0.0
        self.run_seconds = 0.0
        self.write_seconds = 0.0
        self.function = None
        _ALL.append(self)

    def record_call(self, check, run, write):
        self.calls += 1
        self.check_seconds += check
        self.run_seconds += run
        self.write_seconds += write

    def node_times(self):
        """[(seconds, calls, node)] for each node, from the instrumented module."""
        f = self.function
        runner = getattr(f, "_runner", None) if f is not None else None
        if runner is None or not hasattr(runner, "lib"):
            return []
        n = len(f.nodes)
        import ctypes
        ns = (ctypes.c_int64 * max(n, 1))()
        calls = (ctypes.c_int64 * max(n, 1))()
        if runner.lib.cg_profile_read(ns, calls, n) == 0:
            return []
        return [(ns[k] * 1e-9, calls[k], node) for k, node in enumerate(f.nodes)]

    def summary(self, file=sys.stderr, n_apply_to_print=20):
        total = self.check_seconds + self.run_seconds + self.write_seconds
        name = self.message or (self.function.name if self.function else None) or "anonymous"
        out = [f"Function profiling: {name}",
               f"  calls: {self.calls}   total: {total:.6f} s   "
               f"per call: {1e6 * total / max(self.calls, 1):.2f} us"]
        if total > 0:
            for label, sec in (("input checks", self.check_seconds), ("C call", self.run_seconds),
                               ("update write-back", self.write_seconds)):
                out.append(f"    {label:<18} {sec:.6f} s  {100 * sec / total:5.1f}%  "
                           f"{1e6 * sec / max(self.calls, 1):9.2f} us/call")
        nodes = self.node_times()
        if nodes:
            node_total = sum(t for t, _, _ in nodes) or 1e-300
            out.append("  Nodes (time inside the C call, by node, largest first):")
            out.append(f"    {'<% time>':>8} {'<cum %>':>7} {'<sec>':>10} {'<calls>':>8}  "
                       f"<node #> <op> -> <output>")
            cumulative = 0.0
            ranked = sorted(enumerate(nodes), key=lambda item: -item[1][0])
            for index, (sec, calls, node) in ranked[:n_apply_to_print]:
                cumulative += sec
                out.append(f"    {100 * sec / node_total:7.1f}% {100 * cumulative / node_total:6.1f}% "
                           f"{sec:10.6f} {calls:8d}  {index:>8} {node.op} -> "
                           f"{label_of(node.outputs[0])}")
            if len(nodes) > n_apply_to_print:
                out.append(f"    ... {len(nodes) - n_apply_to_print} more nodes")
        print("\n".join(out), file=file)


def summary(file=sys.stderr):
    """Print the profile of every function compiled with profiling on."""
    for stats in _ALL:
        stats.summary(file=file)
        print(file=file)


def reset():
    _ALL.clear()
