"""An opt-in ``theano`` alias: run a Theano program unchanged on cgraph.

    python -m cgraph.theano_compat script.py args...     # run a script through the alias
    python -m cgraph.theano_compat -m pytest args...     # or a module (as python -m does)
    python -m pytest -p cgraph.theano_compat ...         # or load it as a pytest plugin

or ``import cgraph.theano_compat`` before the program's first ``import theano``. From then
on ``theano`` is ``cgraph`` and ``theano.X.Y`` is ``cgraph.X.Y``: the same module objects
under both names (so ``theano.tensor.matrix is cgraph.tensor.matrix``), found by one finder
placed first on ``sys.meta_path``. A plain ``import cgraph`` never installs it, and it refuses
to install while a real Theano is imported (two libraries under one name would mix graphs
of both). Modules Theano has and cgraph does not support raise ``UnsupportedModuleError``
(an ImportError) that says so; any other missing name is an ordinary ModuleNotFoundError.
"""
import importlib
import importlib.abc
import importlib.util
import os
import runpy
import sys
import types

from .unsupported import UnsupportedModuleError, unsupported_module_error

ALIAS = "theano"
TARGET = "cgraph"


class TheanoAliasError(ImportError):
    """The alias cannot be installed: a real Theano is already imported."""


def _target_name(fullname: str) -> str:
    return TARGET + fullname[len(ALIAS):]


def _is_alias_name(fullname: str) -> bool:
    return fullname == ALIAS or fullname.startswith(ALIAS + ".")


class _ExistingModuleLoader(importlib.abc.Loader):
    """Hands the import system a module that is already loaded under cgraph's name."""

    def __init__(self, module):
        self.module = module
        self.own_spec = module.__spec__

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        # the import system has just set __spec__ to the alias's spec: give the module
        # back its own, so that reloading or pickling it still finds cgraph's file
        module.__spec__ = self.own_spec


def _submodule_attributes(module) -> list[str]:
    """Names of the attributes of ``module`` that are cgraph modules defined elsewhere
    (``cgraph.tensor.nnet.abstract_conv`` is the module ``cgraph.tensor.abstract_conv``)."""
    return [name for name, value in vars(module).items()
            if isinstance(value, types.ModuleType) and value.__name__.startswith(TARGET + ".")
            and value.__name__ != f"{module.__name__}.{name}"]


def _cgraph_module(target_name: str, alias: str) -> types.ModuleType:
    """cgraph's module ``target_name``: imported, or an attribute of its parent module that
    is a cgraph module (Theano's sub-module paths that cgraph keeps in another file)."""
    try:
        return importlib.import_module(target_name)
    except (ModuleNotFoundError, UnsupportedModuleError) as error:
        if error.name != target_name and not (error.name and target_name.startswith(error.name + ".")):
            raise   # a module that cgraph's module itself imports is missing: a real error
    parent_name, _, leaf = target_name.rpartition(".")
    parent = sys.modules.get(parent_name)
    if parent is not None and leaf in _submodule_attributes(parent):
        return vars(parent)[leaf]
    raise unsupported_module_error(target_name, alias=alias) from None


class TheanoAliasFinder(importlib.abc.MetaPathFinder):
    """Resolves ``theano`` and ``theano.*`` to cgraph's module of the same path."""

    def find_spec(self, fullname, path=None, target=None):
        if not _is_alias_name(fullname):
            return None
        target_name = _target_name(fullname)
        module = _cgraph_module(target_name, fullname)
        is_package = hasattr(module, "__path__")
        if not is_package and (_submodule_attributes(module) or any(
                name.startswith(target_name + ".") for name in list(sys.modules))):
            # a module whose Theano sub-modules live elsewhere (an attribute, or an entry of
            # sys.modules: T.nnet.abstract_conv): the import system looks for the alias's
            # sub-modules (theano.tensor.nnet.abstract_conv) only below a package, so this
            # module gets an empty search path, which makes it one
            module.__path__ = []
            is_package = True
        return importlib.util.spec_from_loader(
            fullname, _ExistingModuleLoader(module), is_package=is_package)


def _installed_finder():
    for finder in sys.meta_path:
        if type(finder).__name__ == TheanoAliasFinder.__name__ and \
                type(finder).__module__ in (__name__, "cgraph.theano_compat", "__main__"):
            return finder
    return None


def install() -> None:
    """Make ``import theano`` (and every ``theano.*``) resolve to cgraph. Idempotent.

    Raises TheanoAliasError when a real Theano is already in ``sys.modules``.
    """
    present = sys.modules.get(ALIAS)
    if present is not None and getattr(present, "__name__", None) != TARGET:
        where = getattr(present, "__file__", None) or "an unknown place"
        raise TheanoAliasError(
            f"cgraph.theano_compat: a real Theano is already imported (from {where}); the alias "
            f"would mix two libraries under one name. Import cgraph.theano_compat before "
            f"anything imports theano, or run the program with "
            f"'python -m cgraph.theano_compat script.py'.")
    if _installed_finder() is None:
        sys.meta_path.insert(0, TheanoAliasFinder())


def uninstall() -> None:
    """Remove the alias and the ``theano`` names it put in ``sys.modules``."""
    finder = _installed_finder()
    while finder is not None:
        sys.meta_path.remove(finder)
        finder = _installed_finder()
    for name in [n for n in sys.modules if _is_alias_name(n)]:
        if getattr(sys.modules[name], "__name__", "").startswith(TARGET):
            del sys.modules[name]


def main(argv: list[str]) -> None:
    """``python -m cgraph.theano_compat [-m module | script.py] args...``"""
    usage = "usage: python -m cgraph.theano_compat (script.py | -m module) [args...]"
    if not argv or argv[0] in ("-h", "--help"):
        print(usage)
        raise SystemExit(0 if argv else 2)
    install()
    if argv[0] == "-m":
        if len(argv) < 2:
            raise SystemExit(usage)
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(argv)
        sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))   # as 'python script.py' does
        runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
else:
    install()
