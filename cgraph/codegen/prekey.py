"""The pre-key: a hash of a graph (after rewrites) that names its C module without rendering.

Rendering the templates and hashing the source is most of a warm ``function()`` call. The
generated source is a function of the graph's structure (ops and their properties, types,
names, constants) and of cgraph's own code and templates, so a hash of those identifies it;
the cache keeps a small record from this pre-key to the entry's key. Graphs holding an op
whose properties cannot be written down exactly (an inner graph, an arbitrary object) get no
pre-key and take the full path.
"""
import functools
import hashlib
import os

import numpy as np

from ..graph.basic import Constant


class _Unsafe(Exception):
    pass


@functools.lru_cache(maxsize=1)
def code_digest():
    """sha256 of cgraph's Python sources and templates: any change of code changes pre-keys."""
    from .render import templates_dir
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    h = hashlib.sha256()
    for base in (package, templates_dir()):
        for folder, dirs, files in sorted(os.walk(base)):
            dirs.sort()
            for name in sorted(files):
                if name.endswith((".py", ".j2", ".h")):
                    path = os.path.join(folder, name)
                    h.update(os.path.relpath(path, base).encode())
                    with open(path, "rb") as f:
                        h.update(f.read())
    return h.hexdigest()


def _canon(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return tuple(_canon(v) for v in value)
    if isinstance(value, np.dtype):
        return str(value)
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, hashlib.sha256(value.tobytes()).hexdigest())
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    key = getattr(value, "_key", None)       # Composite scalar ops
    if callable(key):
        return ("composite", _canon(key()))
    if type(value).__name__ == "ScalarOp" or hasattr(value, "c_code"):
        return ("scalar", value.name)
    raise _Unsafe(type(value).__name__)


def _op_signature(op):
    cls = type(op)
    if not op.__props__ and vars(op):
        # state that is not declared as properties: the properties do not describe the op
        raise _Unsafe(cls.__name__)
    return (f"{cls.__module__}.{cls.__qualname__}", _canon(op._props()))


def prekey(inputs, outputs, nodes, function_name, build_options, embed_limit):
    """The pre-key of a graph, or None when an op cannot be described exactly.

    ``build_options`` is anything else that changes the source (profiling, NaN guards).
    """
    ids = {}
    parts = [("cgraph", code_digest(), function_name, _canon(build_options))]

    def ref(var):
        if var not in ids:
            if not isinstance(var, Constant):
                raise _Unsafe("an input that is not declared")
            data = var.data
            content = hashlib.sha256(data.tobytes()).hexdigest() if data.size <= embed_limit \
                else "passed in"
            parts.append(("const", var.name, var.dtype, var.broadcastable, data.shape, content))
            ids[var] = len(ids)
        return ids[var]

    try:
        for var in inputs:
            ids[var] = len(ids)
            parts.append(("in", var.name, var.dtype, var.broadcastable))
        for node in nodes:
            args = [ref(v) for v in node.inputs]
            outs = []
            for var in node.outputs:
                ids[var] = len(ids)
                outs.append((var.name, var.dtype, var.broadcastable))
            parts.append((_op_signature(node.op), args, outs))
        parts.append(("out", [ref(v) for v in outputs]))
    except _Unsafe:
        return None
    return hashlib.sha256(repr(parts).encode()).hexdigest()
