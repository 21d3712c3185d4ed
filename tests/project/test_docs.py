"""docs/ builds with Sphinx with warnings as errors, its generated pages list what the code
says (every public name, every unsupported Theano name), and the tutorial's code runs."""
import html
import importlib
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The docs built as HTML, as the README's command builds them: {page: its HTML}."""
    pytest.importorskip("sphinx")
    out = tmp_path_factory.mktemp("docs")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-E",
                          "-b", "html", str(DOCS), str(out)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return {p.stem: p.read_text() for p in out.glob("*.html")}


@pytest.mark.slow   # a Sphinx build: 31 s on 2 busy cores
@pytest.mark.xdist_group("sphinx")   # one worker builds the docs for all three
def test_docs_build_without_warnings(built):
    assert {"index", "tutorial", "api", "porting", "examples"} <= set(built)


@pytest.mark.slow   # the Sphinx build: 37 s on 2 busy cores
@pytest.mark.xdist_group("sphinx")   # one worker builds the docs for all three
def test_porting_page_lists_every_unsupported_name(built):
    from cgraph.unsupported import THEANO_NAMES
    page = built["porting"]
    text = " ".join(html.unescape(page).split())
    for module, names in THEANO_NAMES.items():
        for name, hint in names.items():
            assert f'<span class="pre">{name}</span>' in page, f"{module}.{name}"
            if hint:
                assert " ".join(hint.split()) in text, hint
    assert '<span class="pre">cgraph.tensor.nnet</span>' in page and "Differences" in page
    from cgraph.config import FLAG_TYPES
    for flag in FLAG_TYPES:
        assert f'<span class="pre">{flag}</span>' in page, flag


@pytest.mark.slow   # the Sphinx build
@pytest.mark.xdist_group("sphinx")   # one worker builds the docs for all three
def test_api_page_documents_every_public_name(built):
    sys.path.insert(0, str(DOCS / "_ext"))
    public_names = importlib.import_module("cgraph_docs").public_names
    page = built["api"]
    for module_name in ("cgraph", "cgraph.tensor", "cgraph.tensor.nnet", "cgraph.gradient",
                        "cgraph.sandbox.rng_mrg", "cgraph.tensor.shared_randomstreams"):
        module = importlib.import_module(module_name)
        names = public_names(module)
        assert len(names) > 3, module_name
        for name in names:
            assert f'id="{module_name}.{name}"' in page, f"{module_name}.{name}"
    # autodoc read the signature and the docstring
    assert 'id="cgraph.function"' in page and "Compile a graph into a callable" in page


def tutorial_blocks():
    """The tutorial's ``.. code-block:: python`` blocks, in order."""
    lines = (DOCS / "tutorial.rst").read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == ".. code-block:: python":
            i += 1
            body = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith("    ")):
                body.append(lines[i])
                i += 1
            blocks.append(textwrap.dedent("\n".join(body)))
        else:
            i += 1
    return blocks


@pytest.mark.slow   # every tutorial block compiled: 18 s on 2 busy cores
def test_tutorial_code_runs(capsys):
    blocks = tutorial_blocks()
    assert len(blocks) >= 12
    namespace = {}
    for k, block in enumerate(blocks):
        exec(compile(block, f"docs/tutorial.rst block {k}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "[ 1.  3.  6. 10.]" in out and "[6.0, 22.0, 38.0]" in out
    assert namespace["again"].module_origin == "memory"
