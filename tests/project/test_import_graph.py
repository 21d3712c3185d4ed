"""The import graph of cgraph, computed with ``ast`` from every ``.py`` file under cgraph/
(a new module is covered as soon as it exists), has no cycle, and no module takes another's
private (underscore) names:

1. between modules, counting the imports that run when a module is imported (those at
   module level, inside ``if``/``try`` included), and the package ``__init__`` each of them
   runs first (importing cgraph.tensor.type runs cgraph/tensor/__init__.py);
2. between layers, counting every import, those inside functions included: a layer is a
   sub-package of cgraph (cgraph.graph, cgraph.tensor, cgraph.rewrite, cgraph.codegen,
   cgraph.compile, cgraph.cache...) or a top-level module (cgraph.gradient), grouped as
   ``SAME_LAYER`` says. Package ``__init__`` files are namespaces that re-export names from
   their package and from above (``T.grad``), so their own imports are not counted; the
   first check covers them.

So the layers stay one-directional (graph <- tensor <- rewrite <- codegen <- compile): a
lower layer never reaches up, not even from inside a function.

3. a module imports only public names from another cgraph module (``from .build import
   _helper`` is refused), and reads none off a cgraph module it imported (``build._helper``):
   a leading underscore says the name is its module's own business (``PRIVATE_USES``).
"""
import ast
import os
import subprocess
import sys

import pytest

import cgraph

ROOT = os.path.dirname(cgraph.__file__)

# Modules that form one layer with another, and why.
SAME_LAYER = {
    # the command line (python -m cgraph cache ...) sits above all it drives: it prebuilds
    # units and lists kernel choices
    "cgraph.cache.cli": "cgraph.command_line",
    # the build cache's sealed record files and the BLAS pointers a loaded module is given
    "cgraph.cache_files": "cgraph.cache",
    "cgraph.blas_pointers": "cgraph.cache",
    # where the templates are, and the runtime header a module compiles with
    "cgraph.template_files": "cgraph.cache",
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
        out = edges.setdefault(name, {})
        for node in ast.walk(tree):
            if id(node) in in_functions:
                continue
            for target in _imported_modules(node, name, package, modules):
                out.setdefault(target, node.lineno)
    return edges


def _imported_modules(node, name, package, modules, with_packages=True):
    """The cgraph modules the import statement ``node`` of module ``name`` imports (with
    ``with_packages``, the package ``__init__`` files it runs first too)."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = _import_base(node, name, package)
        # "from package import submodule" imports the submodule
        targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                   for a in node.names]
    else:
        return []
    resolved = [_resolve(target, modules) for target in targets]
    if with_packages:
        resolved = [p for r in resolved if r for p in _packages_run(r, name, package, modules)]
    return [r for r in dict.fromkeys(resolved) if r and r != name]


def _import_base(node, name, package):
    """The absolute module name that ``from ... import`` statement ``node`` of module ``name``
    imports from (its relative dots resolved)."""
    base = node.module or ""
    if node.level:
        package_name = name if package else name.rpartition(".")[0]
        for _ in range(node.level - 1):
            package_name = package_name.rpartition(".")[0]
        base = package_name + ("." + base if base else "")
    return base


def _packages_run(target, name, package, modules):
    """``target`` and the package ``__init__`` files importing it runs: importing a.b.c runs
    a/b/__init__.py first, unless a.b is ``name``'s own package or one above it (Python
    imported those before ``name``). The root package cgraph is left out: every import of a
    cgraph module enters it first, so it never starts in the middle of another module."""
    own = name if package else name.rpartition(".")[0]
    parts = target.split(".")
    parents = [".".join(parts[:k]) for k in range(2, len(parts))]
    run = [p for p in parents if modules.get(p, (None, False))[1]
           and not (own == p or own.startswith(p + "."))]
    return run + [target]


def imports_inside_functions(modules):
    """{(module, imported cgraph module): [line, ...]} for every import inside a function."""
    found = {}
    for name, (path, package) in modules.items():
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
        lines = set()
        for func in ast.walk(tree):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                lines.update((n.lineno, id(n)) for n in ast.walk(func)
                             if isinstance(n, (ast.Import, ast.ImportFrom)))
        nodes = {id(n): n for n in ast.walk(tree)}
        for line, node_id in sorted(lines):
            for target in _imported_modules(nodes[node_id], name, package, modules,
                                            with_packages=False):
                found.setdefault((name, target), []).append(line)
    return found


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


# --- imports inside functions --------------------------------------------------------------
# An import of a cgraph module inside a function hides an edge from the module-level graph.
# Each one left is listed here with its kind, which the tests check:
# - "cycle": at module level it would close an import cycle (the module imported imports
#   this one, directly or not);
# - "light": it keeps `import cgraph` from loading a module only some programs need (the
#   module is not loaded by `import cgraph`).
# A new import inside a function fails test_imports_inside_functions_are_listed: import at
# module level, or list it here with its kind and reason.
DEFERRED = {
    ("cgraph.tensor.elemwise", "cgraph.tensor.math_ops"): (
        "cycle", "Elemwise's and SumToShape's gradients broadcast with second/zeros_like, "
        "elementwise ops themselves (math_ops builds them on Elemwise)"),
    ("cgraph.tensor.elemwise", "cgraph.tensor.reduction"): (
        "cycle", "DimShuffle's gradient sums over the axes it added, and the reductions "
        "are built on DimShuffle"),
    ("cgraph.scan_module.scan_op", "cgraph.scan_module.scan_grad"): (
        "cycle", "a scan's gradient is a scan: scan_grad builds Scan nodes"),
    ("cgraph.__main__", "cgraph.cache.cli"): ("light", "python -m cgraph runs the CLI only"),
    ("cgraph.cache.cli", "cgraph.gemm_tuning"): ("light", "one subcommand's"),
    ("cgraph.cache.cli", "cgraph.prebuilt"): ("light", "one subcommand's"),
    ("cgraph.cache.load", "cgraph.blas_pointers"): ("light", "found when a module is loaded"),
    ("cgraph.compile.function", "cgraph.rewrite"): ("light", "on a cache miss"),
    ("cgraph.compile.function", "cgraph.codegen.lower"): ("light", "on a cache miss"),
    ("cgraph.compile.function", "cgraph.graph.fgraph"): ("light", "on a cache miss"),
    ("cgraph.compile.function", "cgraph.profiling"): ("light", "profile=True only"),
    ("cgraph.compile.runners", "cgraph.ifelse"): ("light", "graphs with ifelse only"),
    ("cgraph.compile.inplace", "cgraph.ifelse"): ("light", "GemmSquares' readers only"),
    ("cgraph.gemm_tuning", "cgraph.blas_pointers"): ("light", "when kernels are tuned"),
    ("cgraph.gradient", "cgraph.scan_module.scan"): ("light", "jacobian/hessian only"),
    ("cgraph.gradient", "cgraph.rewrite.engine"): ("light", "the rewrites load with a compile"),
    ("cgraph.gradient", "cgraph.rewrite.stabilize"): ("light", "the rewrites load with a "
                                                      "compile"),
    ("cgraph.notebook", "cgraph.printing"): ("light", "in Jupyter only"),
    ("cgraph.prebuilt", "cgraph.codegen.render"): ("light", "Jinja2, when prebuilding"),
    ("cgraph.prebuilt", "cgraph.blas_pointers"): ("light", "the tiles' timing child only"),
    ("cgraph.prebuilt", "cgraph.gemm_tuning"): ("light", "the tiles' timing child only"),
    ("cgraph.rewrite.shape_only", "cgraph.rewrite.engine"): ("light", "on a cache miss"),
    ("cgraph.runtime_library", "cgraph.blas_pointers"): ("light", "when the library loads"),
    ("cgraph.runtime_library", "cgraph.codegen.render"): ("light", "Jinja2, on a cache miss"),
    ("cgraph.runtime_library", "cgraph.gemm_tuning"): ("light", "when kernels are tuned"),
    ("cgraph.scan_module.scan_inline", "cgraph.rewrite"): ("light", "when a scan compiles"),
    ("cgraph.scan_module.scan_inline", "cgraph.rewrite.engine"): ("light", "when a scan "
                                                                  "compiles"),
    ("cgraph.scan_module.scan_op", "cgraph.rewrite"): ("light", "when a scan compiles"),
}


def _reaches(edges, start, goal):
    seen, stack = set(), [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return False


def test_imports_inside_functions_are_listed():
    found = imports_inside_functions(_modules())
    new = {pair: lines for pair, lines in found.items() if pair not in DEFERRED}
    assert not new, (
        f"{len(new)} new import(s) of cgraph modules inside functions (module -> imported: "
        "lines); import at module level, or list them in DEFERRED with the reason: "
        + "; ".join(f"{m} -> {t}: {lines}" for (m, t), lines in sorted(new.items())))
    stale = [pair for pair in DEFERRED if pair not in found]
    assert not stale, f"DEFERRED lists pairs no longer imported inside a function: {stale}"


def test_each_deferred_import_is_of_its_kind():
    """A "cycle" one would close a cycle at module level; a "light" one imports a module
    that `import cgraph` does not load; there is no other kind."""
    modules = _modules()
    edges = import_edges(modules, module_level_only=True)
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, cgraph; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True,
        cwd=os.path.dirname(ROOT)).stdout.split()
    wrong = []
    for (module, target), (kind, _) in DEFERRED.items():
        cycle = _reaches(edges, target, module)
        if kind == "cycle" and not cycle:
            wrong.append(f"{module} -> {target} closes no cycle: import it at module level")
        if kind == "light" and target in loaded:
            wrong.append(f"{module} -> {target}: `import cgraph` loads it anyway")
        if kind not in ("cycle", "light"):
            wrong.append(f"{module} -> {target}: kind {kind!r} is neither 'cycle' nor 'light'")
    assert not wrong, "; ".join(wrong)


def test_importing_a_module_counts_its_package_init():
    modules = {"cgraph": ("", True), "cgraph.gradient": ("", False), "cgraph.tensor": ("", True),
               "cgraph.tensor.type": ("", False), "cgraph.tensor.var": ("", False)}
    node = ast.parse("from .tensor.type import TensorType").body[0]
    assert _imported_modules(node, "cgraph.gradient", False, modules) == [
        "cgraph.tensor", "cgraph.tensor.type"]
    node = ast.parse("from .type import TensorType").body[0]   # its own package: already run
    assert _imported_modules(node, "cgraph.tensor.var", False, modules) == ["cgraph.tensor.type"]


# --- private names across modules -----------------------------------------------------------
# A name with a leading underscore belongs to its module: its meaning, its arguments, even its
# existence may change with that module alone. Another module that needs it makes it public
# there (a name without the underscore, a docstring saying what it promises), moves it to
# itself, or calls a public function instead. A case to defend is listed here as
# (module, module it takes the name from, name): reason. None is.
PRIVATE_USES = {}


def private_uses(modules):
    """{(module, other cgraph module, private name): first line} for every underscore name
    (dunders aside) that a module of ``modules`` imports from another one, or reads as an
    attribute of another one it imported (``from . import build`` ... ``build._helper``)."""
    found = {}
    for name, (path, package) in modules.items():
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
        bound = {}          # a local name -> the cgraph module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = _import_base(node, name, package)
                for alias in node.names:
                    if f"{base}.{alias.name}" in modules:
                        bound[alias.asname or alias.name] = f"{base}.{alias.name}"
                    elif base in modules and base != name and _is_private(alias.name):
                        found.setdefault((name, base, alias.name), node.lineno)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name in modules:
                        bound[alias.asname] = alias.name
                    elif not alias.asname and alias.name.split(".")[0] in modules:
                        bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _is_private(node.attr):
                owner = _dotted(node.value, bound)
                if owner in modules and owner != name:
                    found.setdefault((name, owner, node.attr), node.lineno)
    return found


def _is_private(name):
    return name.startswith("_") and not name.startswith("__")


def _dotted(node, bound):
    """The module that the expression ``node`` (``a`` or ``a.b.c``) names, through the local
    names ``bound`` to modules; None if it is something else."""
    if isinstance(node, ast.Name):
        return bound.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _dotted(node.value, bound)
        return f"{owner}.{node.attr}" if owner else None
    return None


def test_modules_take_no_private_name_from_another():
    found = private_uses(_modules())
    new = {use: line for use, line in found.items() if use not in PRIVATE_USES}
    assert not new, (
        f"{len(new)} private name(s) taken from another cgraph module (module:line takes "
        "module.name); make the name public there, move it, or call a public function: "
        + "; ".join(f"{m}:{line} takes {o}.{n}" for (m, o, n), line in sorted(new.items())))
    stale = [use for use in PRIVATE_USES if use not in found]
    assert not stale, f"PRIVATE_USES lists uses that are gone: {stale}"


def test_the_private_name_check_finds_imports_and_attributes(tmp_path):
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "_own = 1\ndef public(): return _own\n",
        "pkg/b.py": ("from .a import _own, public\nfrom .a import public as _alias\n"
                     "from . import a\nimport pkg.a\nimport pkg.a as other\n"
                     "x = a._own + pkg.a._own + other._own + a.public() + a.__name__\n"),
        "pkg/c.py": "from .b import x\n",
    }
    modules = {}
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_text(text)
        parts = rel[:-3].split("/")
        package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if package else parts)] = (str(tmp_path / rel), package)
    assert private_uses(modules) == {("pkg.b", "pkg.a", "_own"): 1}
    files["pkg/b.py"] = "from . import a\nimport pkg.a as other\ny = a._own, other._hidden\n"
    (tmp_path / "pkg/b.py").write_text(files["pkg/b.py"])
    assert private_uses(modules) == {("pkg.b", "pkg.a", "_own"): 3,
                                     ("pkg.b", "pkg.a", "_hidden"): 3}
