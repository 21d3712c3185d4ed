"""Pre-keys: hashes of a graph that find its compiled module without doing the work again.

Two levels, both kept as small records in the cache's ``prekeys/`` folder:

* the graph pre-key (``graph_prekey``), over the USER's graph before any rewrite. Its record
  holds the rewritten graph (pickled, the function's inputs stood in by their positions) and
  the key of the module built from it, so a warm ``function()`` neither rewrites, nor
  renders, nor hashes C: it unpickles ~60 nodes and loads the module.
* the lowering pre-key (``prekey``), over the rewritten graph: it names the module without
  rendering when the graph pre-key is not available (a copied or unpickled function).

The generated source is a function of the graph's structure (ops and their properties, types,
names, constants) and of cgraph's own code and templates, so a hash of those identifies it;
the graph pre-key adds what else changes what ``function()`` produces: every constant's full
value (rewrites fold them), where each node was built (error messages name that line), the
config flags and the compiler description. Graphs holding
an op whose state cannot be written down exactly (an inner graph, an arbitrary object) get
no pre-key and take the full path.
"""
import functools
import hashlib
import os

import numpy as np

from .. import cache
from ..cache import compiler     # (its limit read at each call: tests change it)
from ..cache_files import BadFile, read_sealed, write_sealed
from ..config import FLAG_TYPES, config
from ..graph.basic import Constant, io_toposort
from ..template_files import templates_dir
from ..tensor.type import TensorType


class _Unsafe(Exception):
    pass


@functools.lru_cache(maxsize=1)
def code_digest():
    """A digest of cgraph's Python sources and templates: any change of code changes pre-keys.

    It hashes each file's path, size and modification time rather than its bytes (a stat
    costs far less than reading ~700 KB on every warm start); an edit changes the time, and
    a copy of cgraph elsewhere only gets records of its own.
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    lines = []
    for base in (package, os.path.normpath(templates_dir())):
        _describe_sources(base, "", lines)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


_SOURCE_SUFFIXES = (".py", ".j2", ".h", ".c")


def _describe_sources(folder, relative, lines):
    """Append "path, size, mtime" of every source file under ``folder`` (sorted, recursive;
    symbolic links to folders and __pycache__ are not entered). One scandir per folder: its
    entries know which are folders, so only the sources are stat'ed (~0.4 ms less than
    os.walk on a warm start)."""
    with os.scandir(folder) as found:
        entries = sorted(found, key=lambda e: e.name)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            if entry.name != "__pycache__":
                _describe_sources(entry.path, f"{relative}{entry.name}/", lines)
        elif entry.name.endswith(_SOURCE_SUFFIXES):
            st = entry.stat()
            lines.append(f"{relative}{entry.name}\0{st.st_size}\0{st.st_mtime_ns}\0")


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
    parts = [("cgraph", code_digest(), function_name, _canon(build_options), _environment())]

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


# --- the graph pre-key: the user's graph, before rewriting ---------------------------------

def _strict_op_signature(op):
    """Like _op_signature, plus every other attribute the op holds (DimShuffle's ``dropped``,
    say): the rewrites may read any of them, so all are in the key, or the op is refused."""
    cls = type(op)
    extra = tuple(sorted((k, v) for k, v in vars(op).items() if k not in op.__props__))
    return (f"{cls.__module__}.{cls.__qualname__}", _canon(op._props()), _canon(extra))


def _type_signature(var):
    t = var.type
    return (type(var).__name__, type(t).__name__, str(t), getattr(t, "dtype", None),
            getattr(t, "broadcastable", None))


def _constant_content(data):
    if isinstance(data, np.ndarray):
        return ("array", data.dtype.str, data.shape,
                hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest())
    return _canon(data)


def _environment():
    """What besides the graph changes the function: config flags, the compiler."""
    # The whole-graph passes are not listed: their code is in the code digest, and which of
    # them are registered depends on what the process imported (scan's register when scan is
    # imported) while they act only on Scan nodes, and a graph holding a Scan takes no key.
    flags = tuple((n, getattr(config, n)) for n in FLAG_TYPES
                  if n not in ("cache_dir", "compile_verbose", "mode"))
    tc = cache.toolchain()
    limit = compiler.FULL_OPTIMIZATION_BELOW
    commands = tuple(tuple(compiler.module_command(tc, "module.c", "module", size))
                     for size in (0, limit))
    return (flags, tuple(sorted((k, repr(v)) for k, v in tc.items())), limit, commands)


def graph_prekey(inputs, outputs, function_name, build_options):
    """The pre-key of the user's graph (``inputs`` -> ``outputs``, before rewriting), or None
    when an op cannot be described exactly."""
    ids = {}
    parts = [("cgraph-graph", code_digest(), function_name, _canon(build_options))]
    # ops and types are shared by many nodes: describe each once (by identity: all of them
    # stay alive during the call)
    op_signatures, type_signatures = {}, {}

    def op_signature(op):
        found = op_signatures.get(id(op))
        if found is None:
            found = op_signatures[id(op)] = _strict_op_signature(op)
        return found

    def type_signature(var):
        t = var.type
        # a TensorType's signature is a function of these (its repr is its name or made of
        # its dtype and pattern): equal tensor types, mostly distinct objects, share one entry
        key = (type(var), t.dtype, t.broadcastable, t.name) if type(t) is TensorType \
            else (type(var), id(t))
        found = type_signatures.get(key)
        if found is None:
            found = type_signatures[key] = _type_signature(var)
        return found

    def ref(var):
        if var not in ids:
            if not isinstance(var, Constant):
                raise _Unsafe("an input that is not declared")
            parts.append(("const", var.name, type_signature(var), _constant_content(var.data)))
            ids[var] = len(ids)
        return ids[var]

    try:
        parts.append(_environment())
        for var in inputs:
            ids[var] = len(ids)
            parts.append(("in", var.name, type_signature(var)))
        for node in io_toposort(outputs, stop_at=inputs):
            args = [ref(v) for v in node.inputs]
            outs = []
            for var in node.outputs:
                ids[var] = len(ids)
                outs.append((var.name, type_signature(var)))
            parts.append((op_signature(node.op), args, outs, node.trace))
        parts.append(("out", [ref(v) for v in outputs]))
    except _Unsafe:
        return None
    return hashlib.sha256(repr(parts).encode()).hexdigest()


_RECORD_FORMAT = 3      # 3: sealed (a checksum before the pickle, see cache_files)
_RECORD_MAX_BYTES = 8 << 20    # a graph holding large constants is not worth keeping


def _record_path(root, key):
    return os.path.join(root, "prekeys", key[:2], f"{key}.graph")


class _Pickler:
    """Pickles a rewritten graph with the function's inputs replaced by their positions (they
    are the caller's variables, shared values included, and are supplied again on loading)."""

    @staticmethod
    def dumps(obj, inputs):
        import io
        import pickle
        positions = {id(v): k for k, v in enumerate(inputs)}

        class P(pickle.Pickler):
            def persistent_id(self, o):
                k = positions.get(id(o))
                return None if k is None else ("input", k)

        buf = io.BytesIO()
        P(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
        return buf.getvalue()

    @staticmethod
    def loads(data, inputs):
        import io
        import pickle

        class U(pickle.Unpickler):
            def persistent_load(self, pid):
                kind, k = pid
                if kind != "input" or not 0 <= k < len(inputs):
                    raise pickle.UnpicklingError(f"bad reference {pid!r}")
                return inputs[k]

        return U(io.BytesIO(data)).load()


def save_graph_record(graph_key, module_key, inputs, rewritten_outputs, hidden_constants):
    """Remember that the user graph ``graph_key`` rewrites to ``rewritten_outputs`` and
    compiles to the module ``module_key``, which takes ``hidden_constants`` (constants of
    that graph) after the inputs (best effort: a graph that does not pickle, or a cache that
    cannot be written, simply keeps taking the full path)."""
    root = cache.cache_root()
    if cache.open_root(root) != "writable":
        return False
    try:
        data = _Pickler.dumps({"format": _RECORD_FORMAT, "graph_key": graph_key,
                               "module_key": module_key, "n_inputs": len(inputs),
                               "outputs": list(rewritten_outputs),
                               "hidden": list(hidden_constants)}, inputs)
    except Exception:      # an op that does not pickle, a graph too deep for pickle...
        return False
    if len(data) > _RECORD_MAX_BYTES:
        return False
    return write_sealed(_record_path(root, graph_key), data)


def drop_graph_record(graph_key, why):
    """Set aside the record of ``graph_key`` (found wrong after it was read), with a warning."""
    root = cache.cache_root()
    cache.quarantine_file(root, _record_path(root, graph_key), why)


def load_graph_record(graph_key, inputs, outputs):
    """(module key, rewritten outputs, hidden constants) recorded for ``graph_key``, or None.

    A record is code (pickle), so it is read only from folders and files that pass the same
    ownership and permission checks as the modules, and only after its checksum matches.
    The rewritten outputs must have the types of the user's ``outputs``. A record that fails
    any check is set aside with a warning (as a broken module is) and the graph takes the
    full path, which writes it again.
    """
    root = cache.cache_root()
    if isinstance(cache.open_root(root), tuple):
        return None
    path = _record_path(root, graph_key)
    try:
        if cache.untrusted_folders(root, path):
            return None
        data = read_sealed(path, _RECORD_MAX_BYTES)
    except BadFile as exc:
        cache.quarantine_file(root, path, exc.why)
        return None
    except OSError:
        return None
    if data is None:
        return None
    try:
        record = _Pickler.loads(data, inputs)
        if record["format"] != _RECORD_FORMAT or record["graph_key"] != graph_key:
            raise ValueError("it belongs to another graph")
        rewritten, hidden = record["outputs"], record["hidden"]
        if record["n_inputs"] != len(inputs) or len(rewritten) != len(outputs) or \
                any(r.type != o.type for r, o in zip(rewritten, outputs)) or \
                not all(isinstance(c, Constant) for c in hidden) or \
                not isinstance(record["module_key"], str):
            raise ValueError("its graph does not have the function's inputs and outputs")
        return record["module_key"], rewritten, hidden
    except Exception as exc:   # noqa: BLE001 - whatever is wrong with it, it is not used
        cache.quarantine_file(root, path, f"does not describe its graph ({exc})")
        return None
