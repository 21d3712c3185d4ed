"""What starting up and compiling cost beyond the work itself: ``import cgraph`` loads no
module a cached-graph program does not need, a template is not looked up on disk again
(the rewrites trying a node only against the rules of its op are checked in
tests/rewrite/test_rewrite_rules.py; what a warm ``function()`` loads in
tests/compile/test_compile_time.py)."""
import html
import os
import subprocess
import sys

from hypothesis import given, strategies as st

import cgraph

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(cgraph.__file__)))

# Modules a program that only runs cached graphs never needs: the compiler's side (Jinja2,
# cffi, the rewrites and the lowering), scipy, and standard modules used on rare paths
# (logging for two debug lines, difflib to name a misspelt flag, html to escape five
# characters in Jupyter, shutil to remove a folder).
NOT_AT_IMPORT = ("jinja2", "cffi", "scipy", "hypothesis", "cgraph.rewrite",
                 "cgraph.codegen.lower", "cgraph.codegen.render", "cgraph.scan_module",
                 "cgraph.printing", "logging", "difflib", "html",
                 # (~10 ms together: importlib.abc brought importlib.resources, pathlib,
                 # urllib and tempfile; shutil bz2, lzma and zlib; socket a cold build's host)
                 "importlib.resources", "pathlib", "tempfile", "shutil", "socket")


def _modules_after(code):
    """The names in sys.modules of a new interpreter after it ran ``code``: started without
    ``site`` (a .pth file there may import certifi, and with it importlib.resources, pathlib,
    tempfile and shutil), the site-packages folders on its path instead."""
    import site
    program = code + "\nimport sys\nprint(' '.join(sys.modules))"
    path = os.pathsep.join([ROOT] + site.getsitepackages() + [site.getusersitepackages()])
    out = subprocess.run([sys.executable, "-S", "-c", program], capture_output=True,
                         text=True, check=True, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=path)).stdout
    return set(out.split())


def test_import_cgraph_leaves_the_compiler_side_and_rare_helpers_unloaded():
    loaded = _modules_after("import cgraph, cgraph.tensor")
    assert "cgraph.compile.function" in loaded       # the check sees what it should
    assert sorted(loaded & set(NOT_AT_IMPORT)) == []


@given(st.text())
def test_notebook_escapes_as_html_escape_does(text):
    from cgraph.notebook import _escape
    assert _escape(text) == html.escape(text)


def test_a_misspelt_flag_is_still_named():
    env = dict(os.environ, PYTHONPATH=ROOT, CGRAPH_FLAGS="floatx=float32")
    run = subprocess.run([sys.executable, "-c", "import cgraph"], capture_output=True,
                         text=True, cwd=ROOT, env=env)
    assert run.returncode != 0 and "did you mean 'floatX'?" in run.stderr


def test_a_template_rendered_again_is_not_looked_up_on_disk(monkeypatch):
    from cgraph.codegen import render
    first = render.render("runtime.h")
    looked = []
    real_stat, real_getmtime = os.stat, os.path.getmtime
    monkeypatch.setattr(os, "stat", lambda *a, **k: looked.append(a) or real_stat(*a, **k))
    monkeypatch.setattr(os.path, "getmtime",
                        lambda *a, **k: looked.append(a) or real_getmtime(*a, **k))
    assert render.render("runtime.h") == first
    assert looked == []
