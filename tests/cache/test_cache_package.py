"""The cache package's shape: its modules import one way (each only those before it in the
order its face lists), callers outside it use only public names, and the state functions
tests rely on do what they say."""
import ast
import os
import re

from cgraph import cache
from cache_helpers import REPO, fresh_cache, tiny_source  # noqa: F401

PACKAGE = os.path.join(REPO, "cgraph", "cache")


def _module_order():
    """The modules in the order the package's docstring lists them."""
    return re.findall(r"^    (\w+)\.py ", cache.__doc__, re.MULTILINE)


def _package_imports(path):
    """The sibling modules that the file at ``path`` imports (``from .x import ...``)."""
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(a.name for a in node.names)
    return found


def test_every_module_is_listed_once_in_the_package_docstring():
    order = _module_order()
    files = sorted(f[:-3] for f in os.listdir(PACKAGE)
                   if f.endswith(".py") and f != "__init__.py")
    assert sorted(order) == files and len(set(order)) == len(order), order


def test_each_module_imports_only_the_modules_listed_before_it():
    order = _module_order()
    for position, name in enumerate(order):
        imported = _package_imports(os.path.join(PACKAGE, name + ".py"))
        later = imported - set(order[:position])
        assert not later, f"cgraph/cache/{name}.py imports {sorted(later)}, listed after it"


def _private_uses(path):
    """``cache._name`` attributes and ``from cgraph.cache... import _name`` in a file."""
    tree = ast.parse(open(path).read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and \
                not node.attr.startswith("__") and isinstance(node.value, ast.Name) and \
                node.value.id in ("cache", "cgcache"):
            found.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
        if isinstance(node, ast.ImportFrom) and node.module and \
                re.fullmatch(r"(cgraph\.|\.+)?cache(\.\w+)?", node.module):
            found += [f"from {node.module} import {a.name} (line {node.lineno})"
                      for a in node.names if a.name.startswith("_")]
    return found


def test_callers_outside_the_package_use_only_public_names():
    offenders = {}
    for top in ("cgraph", "tests", "benchmarks", "scripts"):
        for folder, dirs, files in os.walk(os.path.join(REPO, top)):
            if os.path.abspath(folder).startswith(PACKAGE):
                continue
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    uses = _private_uses(path)
                    if uses:
                        offenders[os.path.relpath(path, REPO)] = uses
    assert offenders == {}


def test_the_private_use_check_finds_one(tmp_path):
    path = tmp_path / "caller.py"
    path.write_text("from cgraph import cache\nfrom cgraph.cache.build import _build\n"
                    "cache._loaded.clear()\ncache.get_module\n")
    assert _private_uses(str(path)) == ["from cgraph.cache.build import _build (line 2)",
                                        "cache._loaded (line 3)"]


def test_fresh_state_starts_empty_and_restores_what_was_there(fresh_cache):
    before = cache.get_module(tiny_source(3101), "outside")
    stats_before = dict(cache.stats)
    with cache.fresh_state():
        assert cache.loaded_keys() == [] and cache.stats["builds"] == 0
        again = cache.get_module(tiny_source(3101), "outside")   # from disk, as a new process
        assert (cache.stats["builds"], cache.stats["disk_hits"]) == (0, 1)
        inner = cache.get_module(tiny_source(3102), "inside")
        assert cache.loaded_keys() == sorted([again.key, inner.key])
    assert cache.loaded_keys() == [before.key] and cache.stats == stats_before


def test_forget_loaded_sends_the_next_lookup_to_disk(fresh_cache):
    entry = cache.get_module(tiny_source(3103), "forgotten")
    assert cache.get_module(tiny_source(3103), "forgotten") is entry
    assert cache.last_origin() == "memory"
    cache.forget_loaded()
    assert cache.loaded_keys() == []
    again = cache.get_module(tiny_source(3103), "forgotten")
    assert cache.last_origin() == "disk" and again is not entry and again.key == entry.key
