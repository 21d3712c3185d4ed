"""The import graph of cgraph, computed with ``ast`` from every ``.py`` file under cgraph/
(a new module is covered as soon as it exists), has no cycle:

1. between modules, counting the imports that run when a module is imported (those at
   module level, inside ``if``/``try`` included);
2. between layers, counting every import, those inside functions included: a layer is a
   sub-package of cgraph (cgraph.graph, cgraph.tensor, cgraph.rewrite, cgraph.codegen,
   cgraph.compile, cgraph.cache...) or a top-level module (cgraph.gradient), grouped as
   ``SAME_LAYER`` says. Package ``__init__`` files are namespaces that re-export names from
   their package and from above (``T.grad``), so their own imports are not counted; the
   first check covers them.

So the layers stay one-directional (graph <- tensor <- rewrite <- codegen <- compile): a
lower layer never reaches up, not even from inside a function.
"""
import ast
import os

import pytest

import cgraph

ROOT = os.path.dirname(cgraph.__file__)

# Modules that form one layer with another, and why.
SAME_LAYER = {
    # the command line (python -m cgraph cache ...) sits above all it drives: it prebuilds
    # units and lists kernel choices
    "cgraph.cache.cli": "cgraph.command_line",
    # the build cache and what it drives: the compiler probe quarantines bad cache files,
    # the cache builds with the probed compiler
    "cgraph.toolchain": "cgraph.cache",
    "cgraph.cache_files": "cgraph.cache",
    # units shipped with the package and modules compiled beside their runtime library are
    # found and built by the cache (lookup, build) and drive it (adopt, link)
    "cgraph.shipped": "cgraph.cache",
    "cgraph.deferred_link": "cgraph.cache",
    "cgraph.build_units": "cgraph.cache",
    "cgraph.blas_pointers": "cgraph.cache",
    # a scan's gradient is a scan of grad() of its step; jacobian() is a scan of grad()
    "cgraph.scan_module": "cgraph.gradient",
    # RandomStreams makes shared variables, so it sits above cgraph.compile (its module
    # path is Theano's, under tensor/)
    "cgraph.tensor.shared_randomstreams": "cgraph.random_streams",
}


def _modules():
    """{module name: (path, is a package __init__)} for every module of cgraph."""
    found = {}
    for folder, _, files in os.walk(ROOT):
        for file in files:
            if not file.endswith(".py"):
                continue
            path = os.path.join(folder, file)
            parts = os.path.relpath(path, os.path.dirname(ROOT))[:-3].split(os.sep)
            package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if package else parts)
            found[name] = (path, package)
    return found


def _resolve(name, modules):
    """The module an imported name lives in: the longest prefix that is a module."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_edges(modules, module_level_only):
    """{module: {imported cgraph module: line}}."""
    edges = {}
    for name, (path, package) in modules.items():
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
        in_functions = set()
        if module_level_only:
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    in_functions.update(id(n) for n in ast.walk(node) if n is not node)
        here = name if package else name.rpartition(".")[0]
        out = edges.setdefault(name, {})
        for node in ast.walk(tree):
            if id(node) in in_functions:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package_name = here
                    for _ in range(node.level - 1):
                        package_name = package_name.rpartition(".")[0]
                    base = package_name + ("." + base if base else "")
                # "from package import submodule" imports the submodule
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            else:
                continue
            for target in targets:
                resolved = _resolve(target, modules)
                if resolved and resolved != name:
                    out.setdefault(resolved, node.lineno)
    return edges


def find_cycle(graph):
    """One cycle of ``graph`` ({node: iterable of nodes}) as [a, b, ..., a], or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for successor in sorted(graph.get(node, ())):
            if state.get(successor) == "open":
                return stack[stack.index(successor):] + [successor]
            if successor not in state:
                cycle = visit(successor)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def layer_of(module):
    for prefix, layer in SAME_LAYER.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return ".".join(module.split(".")[:2])


def test_the_cycle_finder_names_a_cycle():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b", "c"], "b": ["c"], "c": []}) is None


def test_the_edges_include_imports_inside_functions():
    edges = import_edges(_modules(), module_level_only=False)
    module_level = import_edges(_modules(), module_level_only=True)
    assert "cgraph.tensor.sort" in edges["cgraph.tensor.extra_ops"]   # Unique's support code
    assert "cgraph.tensor.sort" in module_level["cgraph.tensor.extra_ops"]   # argsort, sort
    inside_only = [(m, t) for m in edges for t in edges[m] if t not in module_level[m]]
    assert inside_only, "no import inside a function was seen"


def test_module_level_imports_have_no_cycle():
    edges = import_edges(_modules(), module_level_only=True)
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle at module level: " + " -> ".join(
        f"{a} (line {edges[a][b]})" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"


def test_layers_import_one_way_even_inside_functions():
    modules = _modules()
    edges = import_edges(modules, module_level_only=False)
    layers, where = {}, {}
    for module, targets in edges.items():
        if modules[module][1]:   # a package __init__: a namespace (see the module docstring)
            continue
        for target, line in targets.items():
            a, b = layer_of(module), layer_of(target)
            if a != b:
                layers.setdefault(a, set()).add(b)
                where.setdefault((a, b), f"{module}:{line} imports {target}")
    cycle = find_cycle(layers)
    if cycle:
        pytest.fail("the layers import in a cycle: " + "; ".join(
            f"{a} -> {b} ({where[a, b]})" for a, b in zip(cycle, cycle[1:])))
