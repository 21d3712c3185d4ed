"""Imports inside functions in cgraph/tensor are only those a module-level import cannot
replace: each remaining (module, imported module) pair is listed below with its reason.
A new one fails here: import at module level (tests/project/test_import_graph.py says whether that
makes a cycle), or add the pair with the reason it must stay inside a function."""
import ast
import os

import cgraph

TENSOR = os.path.join(os.path.dirname(cgraph.__file__), "tensor")

_OPERATORS = "TensorVariable's operators and methods (x + y, x[i], x.sum()) build ops of " \
             "modules that import var"
_GRADIENTS = "gradients and helpers built from ops of modules that import this one"
_NAMESPACE = "a Theano namespace's __getattr__: at module level, `lookup` would be one of " \
             "the namespace's names"

KEPT = {
    ("cgraph.tensor.var", "cgraph.tensor.basic"): _OPERATORS,
    ("cgraph.tensor.var", "cgraph.tensor.extra_ops"): _OPERATORS,
    ("cgraph.tensor.var", "cgraph.tensor.nonzero_ops"): _OPERATORS,
    ("cgraph.tensor.var", "cgraph.tensor.shape_ops"): _OPERATORS,
    ("cgraph.tensor.var", "cgraph.tensor.subtensor"): _OPERATORS,
    ("cgraph.tensor.type", "cgraph.tensor.var"): "TensorType('x') makes a TensorVariable; "
                                                 "var imports type",
    ("cgraph.tensor.elemwise", "cgraph.tensor.basic"): _GRADIENTS,
    ("cgraph.tensor.elemwise", "cgraph.tensor.reduction"): _GRADIENTS,
    ("cgraph.tensor.elemwise", "cgraph.tensor.shape_ops"): _GRADIENTS,
    ("cgraph.tensor.reduction", "cgraph.tensor.basic"): _GRADIENTS,
    ("cgraph.tensor.reduction", "cgraph.tensor.shape_ops"): _GRADIENTS,
    ("cgraph.tensor.shape_ops", "cgraph.tensor.basic"): _GRADIENTS,
    ("cgraph.tensor.shape_ops", "cgraph.tensor.subtensor"): "shape_entries looks through "
                                                            "x.shape[i]; subtensor imports "
                                                            "shape_ops",
    ("cgraph.tensor.blas", "cgraph.tensor.basic"): _GRADIENTS,
    ("cgraph.tensor.blas", "cgraph.tensor.tensordot"): "tensordot is built on blas's Dot",
    ("cgraph.tensor.nnet", "cgraph.unsupported"): _NAMESPACE,
    ("cgraph.tensor", "cgraph.unsupported"): _NAMESPACE,
}


def _module_name(path):
    parts = os.path.relpath(path, os.path.dirname(os.path.dirname(TENSOR)))[:-3].split(os.sep)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts), parts[-1] == "__init__"


def _imports_inside_functions():
    """{(module, imported module): [line, ...]} for every import of a cgraph module inside a
    function under cgraph/tensor."""
    found = {}
    for folder, _, files in os.walk(TENSOR):
        for file in files:
            if not file.endswith(".py"):
                continue
            path = os.path.join(folder, file)
            module, package = _module_name(path)
            tree = ast.parse(open(path).read())
            for func in ast.walk(tree):
                if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(func):
                    if isinstance(node, ast.ImportFrom) and node.level:
                        parts = module.split(".")[:None if package else -1]
                        base = ".".join(parts[:len(parts) - node.level + 1])
                        target = f"{base}.{node.module}" if node.module else base
                        if not node.module:     # from . import basic
                            target = f"{base}.{node.names[0].name}"
                        found.setdefault((module, target), []).append(node.lineno)
                    elif isinstance(node, ast.ImportFrom) and \
                            (node.module or "").startswith("cgraph"):
                        found.setdefault((module, node.module), []).append(node.lineno)
    return found


def test_imports_inside_tensor_functions_are_the_listed_ones():
    found = _imports_inside_functions()
    new = {pair: lines for pair, lines in found.items() if pair not in KEPT}
    assert not new, (
        "imports inside functions that a module-level import may replace (module, imported "
        "module: lines): " + "; ".join(f"{m} -> {t}: {lines}" for (m, t), lines in new.items()))


def test_the_list_has_no_stale_entry():
    found = _imports_inside_functions()
    assert not [pair for pair in KEPT if pair not in found], \
        "KEPT lists pairs that no longer import inside a function: remove them"
