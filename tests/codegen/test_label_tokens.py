"""Labels in a module's C (codegen/lower.py, graph/labels.py): a node result's label (an
expression of up to 80 characters) is written as its token @{<C name>}, the failing node's
op as @{op}, and the Python side spells them out when an error is raised: the messages are
those of the numpy reference, word for word."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.graph.labels import expand_label_tokens, op_label_of


def _messages(inputs, outputs, values, exc_type):
    """The messages of the C function and of the numpy reference for these values (the
    reference adds the node's input shapes), and the C source."""
    got = {}
    for mode in ("c", "py"):
        f = cgraph.function(inputs, outputs, mode=mode)
        with pytest.raises(exc_type) as info:
            f(*values)
        got[mode] = str(info.value).split("\nApply node")[0]
        if mode == "c":
            source = f.c_source
    return got["c"], got["py"].split(" (input shapes")[0], source


def test_an_index_error_names_the_intermediate_as_the_reference_does():
    v = T.dvector("v")
    w = T.exp(v) * 2                       # unnamed: labelled by its expression
    for picked in (w[5], w[T.arange(3)]):  # basic and advanced indexing
        c, py, source = _messages([v], picked, [np.ones(2)], IndexError)
        assert c == py
        fused = "Composite{mul(exp(i0), i1)}(v, 2)"        # w's label after fusion
        assert fused in c and str(picked.owner.op) in c     # spelled out ...
        assert fused not in source and "@{" not in c        # ... from tokens in the C


def test_an_empty_reduction_of_a_fused_value_and_a_named_result():
    x = T.dmatrix("x")
    m = (T.exp(x) + x[::-1]).max(axis=0)
    m.name = "peak"                        # the C op's label says "computing peak"
    c, py, source = _messages([x], m, [np.ones((0, 3))], ValueError)
    assert " computing peak: " in c and "@{" not in c
    assert c.replace(" computing peak", "") == py


def test_a_shape_error_of_an_intermediate_operand():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    a = T.exp(x) + 1
    c, _, source = _messages([x, y], T.dot(a, y), [np.ones((2, 3)), np.ones((4, 2))],
                             ValueError)
    fused = "Composite{add(exp(i0), i1)}(x, 1)"            # a's label after fusion
    assert c.startswith(f"dot: {fused} has shape (2, 3) but y has shape (4, 2)")
    assert fused not in source


class _Op:
    def __init__(self, short):
        self._short = short

    def short_name(self):
        return self._short

    def __str__(self):
        return f"Op<{self._short}>"


class _Var:
    def __init__(self, name=None):
        self.name, self.owner = name, None


class _Node:
    def __init__(self, short, out_name=None):
        self.op, self.outputs, self.inputs = _Op(short), [_Var(out_name)], []


def test_tokens_are_spelled_out_by_stem_and_position(monkeypatch):
    # a stem that ends in digits (cast_float64 at position 2: cast_float642)
    nodes = [_Node("exp"), _Node("mul"), _Node("cast_float64", "y")]
    monkeypatch.setattr("cgraph.graph.labels.label_of", lambda v: f"<{v.name or 'anon'}>")
    text = "a @{cast_float642} b @{exp0} c @{mul7} d @{exp1} e @{op}"
    assert expand_label_tokens(text, nodes, 2) == \
        f"a <y> b <anon> c @{{mul7}} d @{{exp1}} e {op_label_of(nodes[2])}"
    # no failing node known: the op token stays
    assert expand_label_tokens("@{op}", nodes) == "@{op}"
    assert op_label_of(nodes[2]) == "Op<cast_float64> computing y"
