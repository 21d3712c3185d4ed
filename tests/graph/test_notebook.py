"""Jupyter shows compiled functions and variables as HTML summaries (_repr_html_)."""
import shutil
from html.parser import HTMLParser

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T


class _Checker(HTMLParser):
    """Collects the text and checks that every tag opened is closed."""

    def __init__(self):
        super().__init__()
        self.stack, self.text = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in ("br",):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def text_of(page):
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == [], checker.stack
    return "".join(checker.text)


def test_function_summary_names_inputs_outputs_updates_and_origin():
    x = T.dvector("x<1>")                       # markup in a name is shown, not interpreted
    W = cgraph.shared(np.ones(3), name="W")
    cost = (T.exp(x) * W).sum()
    f = cgraph.function([x], cost, updates=[(W, W * 0.5)], name="notebook_demo")
    page = f._repr_html_()
    assert "<1>" not in page and "x&lt;1&gt;" in page
    text = text_of(page)
    for expected in ("notebook_demo", "x<1>: TensorType(float64, vector)",
                     "TensorType(float64, scalar)", "updates", "W", "generated C",
                     "graph after rewrites", "cg_run"):
        assert expected in text, expected
    assert ("compiled by this call" in text) == f.compiled
    assert ("loaded from the on-disk cache" in text) == (f.module_origin == "disk")
    g = cgraph.function([x], cost, updates=[(W, W * 0.5)], name="notebook_demo")
    assert "already loaded by this process" in text_of(g._repr_html_())


def test_py_mode_function_has_no_c_section():
    x = T.dmatrix("x")
    text = text_of(cgraph.function([x], x.T, mode="py")._repr_html_())
    assert "not compiled (numpy reference mode)" in text and "generated C" not in text


def test_variable_summaries():
    x = T.dmatrix("x")
    y = T.tanh(x).sum(axis=1)
    text = text_of(y._repr_html_())
    assert "TensorType(float64, vector)" in text and "made by" in text and "tanh" in text
    assert "graph input" in text_of(x._repr_html_())
    shared = cgraph.shared(np.zeros((2, 5)), name="weights")
    assert "shared variable, value of shape (2, 5)" in text_of(shared._repr_html_())
    assert "constant" in text_of(T.constant(2.5)._repr_html_())


def test_graph_drawing_where_graphviz_is():
    pytest.importorskip("graphviz")
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is missing")
    from cgraph.notebook import graph_svg
    x = T.dvector("x")
    f = cgraph.function([x], T.exp(x).sum(), mode="py")
    svg = graph_svg(f)
    assert svg.startswith("<svg") and "</svg>" in svg
    assert "graph drawing" in text_of(f._repr_html_())
