"""Pages generated from the code, so that they cannot drift from it.

- ``.. cgraph-api::`` documents every public name of each module of API_MODULES that
  imports (``.. cgraph-api:: MODULE``: of MODULE): functions and classes
  through autodoc (their docstrings), type constructors such as ``T.dmatrix`` and other
  objects as data with their type. Public: ``__all__`` when the module has one, else every
  name not starting with ``_`` that is not a module (implementation modules stay out).
- ``.. cgraph-unsupported::`` lists every Theano name that ``cgraph/unsupported.py`` knows
  cgraph does not support, by module, with the alternative it suggests.
- ``.. cgraph-modules::`` lists the Theano modules programs import and the cgraph module
  that replaces each, checked by importing it while the docs build.
- ``.. cgraph-flags::`` lists the flags of ``cgraph.config`` with their defaults.

Docstrings are written for ``help()`` first; one that is not valid reStructuredText (a stray
``*``, an underlined word that looks like a section title) is shown as a literal block instead
of breaking a build that runs with warnings as errors.
"""
import importlib
import inspect
import io

from docutils import nodes
from docutils.core import publish_doctree
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.util.nodes import nested_parse_with_titles

# Theano's modules that programs import, and where cgraph has each (None: not provided).
THEANO_MODULES = [
    ("theano", "cgraph"),
    ("theano.tensor", "cgraph.tensor"),
    ("theano.tensor.nnet", "cgraph.tensor.nnet"),
    ("theano.tensor.signal.pool", "cgraph.tensor.signal.pool"),
    ("theano.tensor.shared_randomstreams", "cgraph.tensor.shared_randomstreams"),
    ("theano.sandbox.rng_mrg", "cgraph.sandbox.rng_mrg"),
    ("theano.gradient", "cgraph.gradient"),
    ("theano.printing", "cgraph.printing"),
    ("theano.compile.io", "cgraph.compile.io"),
    ("theano.compile.sharedvalue", "cgraph.compile.sharedvalue"),
    ("theano.scan_module", "cgraph.scan_module"),
    ("theano.ifelse", "cgraph.ifelse"),
    ("theano.tensor.slinalg", "cgraph.tensor.slinalg"),
    ("theano.tensor.nlinalg", "cgraph.tensor.nlinalg"),
    ("theano.tensor.extra_ops", "cgraph.tensor.extra_ops"),
    ("theano.tensor.sort", "cgraph.tensor.sort"),
    ("theano.sparse", None),
    ("theano.gpuarray", None),
    ("theano.d3viz", None),
]


def _importable(name):
    try:
        importlib.import_module(name)
        return True
    except Exception:      # missing, or broken in a way the API pages cannot show
        return False


def public_names(module):
    """The names MODULE offers its users, sorted: its ``__all__``, else the names not
    starting with ``_`` that it defines (a package: that its own modules define), modules
    left out. (A plain module's imports, such as ``Variable`` in ``cgraph.gradient``, are
    documented where they are defined.)"""
    names = getattr(module, "__all__", None)
    if names is None:
        root = module.__name__ if hasattr(module, "__path__") else None
        names = [n for n in dir(module) if not n.startswith("_")
                 and _defined_in(getattr(module, n, None), module.__name__, root)]
    return sorted(n for n in names if hasattr(module, n)
                  and not inspect.ismodule(getattr(module, n)))


def _defined_in(obj, module_name, package_root):
    home = getattr(obj, "__module__", None) if (inspect.isclass(obj) or inspect.isroutine(obj)) \
        else None
    if home is None:   # an instance: a package's (T.dmatrix, cgraph.config); a plain
        return package_root is not None      # module's are mostly imports (config)
    if package_root is not None:
        return home.startswith("cgraph")
    return home == module_name


def _rst_ok(text, env):
    """True when ``text`` parses as reStructuredText without a warning (Sphinx's roles
    need its build environment, hence ``env``)."""
    stream = io.StringIO()
    try:
        publish_doctree(text, settings_overrides={"warning_stream": stream, "report_level": 2,
                                                  "halt_level": 5, "env": env})
    except Exception:        # a role or directive that needs more than a bare parse
        return False
    return not stream.getvalue()


def literal_if_invalid(app, what, name, obj, options, lines):
    """autodoc-process-docstring: keep valid docstrings, show the others verbatim."""
    text = "\n".join(lines)
    if not text.strip() or _rst_ok(text, app.env):
        return
    lines[:] = ["::", ""] + ["    " + line for line in text.splitlines()] + [""]


def _data_lines(name, obj, env):
    kind = type(obj).__name__
    doc = "A tensor type: call it with a name to make a variable, " \
          f"``{name}(\"x\")``." if kind == "TensorType" else \
          (inspect.getdoc(obj) if type(obj).__doc__ is not inspect.getdoc(obj) else None) \
          or f"An object of type ``{kind}``."
    first = [f".. py:data:: {name}", f"   :type: {kind}", ""]     # in its py:module
    body = doc if _rst_ok(doc, env) else "::\n\n" + "\n".join("    " + l for l in doc.splitlines())
    return first + ["   " + line for line in body.splitlines()] + [""]


def _documented(env):
    """Classes described so far in this build: canonical name -> the name used."""
    if not hasattr(env, "cgraph_documented"):
        env.cgraph_documented = {}
    return env.cgraph_documented


# The modules of the API reference, in its order; those not importable are left out (other
# modules, such as a Theano compatibility layer or linear algebra, may come and go). Not
# cgraph.tensor.sort: its functions are documented as cgraph.tensor's (T.sort, T.argsort),
# whose attribute ``sort`` is the function, as in Theano.
API_MODULES = [
    "cgraph", "cgraph.tensor", "cgraph.tensor.nnet", "cgraph.tensor.signal.pool",
    "cgraph.tensor.shared_randomstreams", "cgraph.sandbox.rng_mrg", "cgraph.gradient",
    "cgraph.scan_module", "cgraph.ifelse", "cgraph.tensor.slinalg", "cgraph.tensor.nlinalg",
    "cgraph.tensor.extra_ops", "cgraph.printing", "cgraph.profiling",
    "cgraph.compile.io", "cgraph.cache", "cgraph.notebook", "cgraph.unsupported",
    "cgraph.theano_compat",
]


class ApiDirective(Directive):
    """``.. cgraph-api::`` alone: a section for each importable module of API_MODULES;
    ``.. cgraph-api:: MODULE``: that module's names (without a title)."""
    optional_arguments = 1
    has_content = False

    def run(self):
        if self.arguments:
            lines = self.module_lines(self.arguments[0])
        else:
            lines = []
            for module_name in API_MODULES:
                if _importable(module_name):
                    lines += [module_name, "-" * len(module_name), ""]
                    lines += self.module_lines(module_name)
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source="cgraph-api"), container)
        return container.children

    def module_lines(self, module_name):
        module = importlib.import_module(module_name)
        doc = inspect.getdoc(module) or ""
        first = doc.split("\n\n")[0].replace("\n", " ") if doc else ""
        lines = [f".. py:module:: {module_name}", ""]
        if first and _rst_ok(first, self.state.document.settings.env):
            lines += [first, ""]
        for name in public_names(module):
            obj = getattr(module, name)
            qualified = f"{module_name}.{name}"
            if inspect.isclass(obj):
                documented = _documented(self.state.document.settings.env)
                canonical = f"{obj.__module__}.{obj.__qualname__}"
                if canonical in documented:      # one description per class: others link
                    lines += [f".. py:data:: {name}", "",
                              f"   The class :class:`{documented[canonical]}`.", ""]
                    continue
                documented[canonical] = qualified
                lines += [f".. autoclass:: {qualified}", "   :members:", ""]
            elif inspect.isroutine(obj):
                lines += [f".. autofunction:: {qualified}", ""]
            else:
                lines += _data_lines(name, obj, self.state.document.settings.env)
        return lines


def _table(header, rows, widths):
    lines = [".. list-table::", "   :header-rows: 1", f"   :widths: {widths}", ""]
    for row in [header] + rows:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    return lines + [""]


class UnsupportedDirective(Directive):
    has_content = False

    def run(self):
        from cgraph.unsupported import THEANO_NAMES
        lines = []
        for module in sorted(THEANO_NAMES):
            names = THEANO_NAMES[module]
            if not names:
                continue
            theano_module = "theano" + module[len("cgraph"):]
            lines += [f"``{theano_module}`` ({len(names)} names)",
                      "~" * (len(theano_module) + 20), ""]
            rows = [[f"``{name}``", names[name] or "not available yet"]
                    for name in sorted(names)]
            lines += _table(["name", "what to use instead"], rows, "30 70")
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source="cgraph.unsupported"),
                                 container)
        return container.children


class ModulesDirective(Directive):
    has_content = False

    def run(self):
        rows = []
        for theano_name, cgraph_name in THEANO_MODULES:
            if cgraph_name is not None and _importable(cgraph_name):
                rows.append([f"``{theano_name}``", f"``{cgraph_name}``", "yes"])
            else:
                rows.append([f"``{theano_name}``", "", "no"])
        if _importable("cgraph.theano_compat"):
            rows.append(["``import theano`` unchanged", "``cgraph.theano_compat``", "yes"])
        lines = _table(["Theano module", "cgraph module", "provided"], rows, "40 40 20")
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source="THEANO_MODULES"),
                                 container)
        return container.children


class FlagsDirective(Directive):
    """The flags ``CGRAPH_FLAGS`` and ``cgraph.config`` take, from cgraph/config.py."""
    has_content = False

    def run(self):
        from cgraph.config import FLAG_TYPES
        rows = []
        for name, (kind, default, choices) in FLAG_TYPES.items():
            allowed = ", ".join(f"``{c}``" for c in choices) if choices else kind.__name__
            rows.append([f"``{name}``", f"``{default!r}``", allowed])
        lines = _table(["flag", "default", "values"], rows, "35 25 40")
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source="cgraph.config"),
                                 container)
        return container.children


def setup(app):
    app.add_directive("cgraph-api", ApiDirective)
    app.add_directive("cgraph-unsupported", UnsupportedDirective)
    app.add_directive("cgraph-modules", ModulesDirective)
    app.add_directive("cgraph-flags", FlagsDirective)
    app.connect("autodoc-process-docstring", literal_if_invalid)
    return {"version": "1", "parallel_read_safe": False}
