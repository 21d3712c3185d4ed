"""cgraph.printing: debugprint's exact text, pprint's expressions, pydotprint's files."""
import io
import os
import shutil
import sys

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph import In, printing
from cgraph.graph.basic import Apply

HAVE_DOT = shutil.which("dot") is not None
needs_graphviz = pytest.mark.skipif(not HAVE_DOT, reason="the Graphviz 'dot' program is not "
                                    "installed (apt-get install graphviz)")


def _affine():
    """y = dot(x, W) + b over plain inputs (no shared variable, no broadcasting)."""
    x, W, b = T.dmatrix("x"), T.dmatrix("W"), T.dmatrix("b")
    return x, W, b, T.dot(x, W) + b


def _model():
    """A function's graph: y = dot(x, W) * b with shared W, b and the update W <- dot(W, W).
    (A product, not a sum: dot(x, W) + b would become one Gemm node.)"""
    x = T.dmatrix("x")
    W = cgraph.shared(np.eye(3), name="W")
    b = cgraph.shared(np.array([1.0, 2.0, 3.0]), name="b")
    return x, W, b, T.dot(x, W) * b


# --- debugprint ----------------------------------------------------------------------------

def test_debugprint_variable():
    x, W, b, y = _affine()
    assert printing.debugprint(y, file="str") == (
        "Elemwise{add} [id A] ''\n"
        " |Dot [id B] ''\n"
        " | |x [id C]\n"
        " | |W [id D]\n"
        " |b [id E]\n")
    y.name = "y"
    assert printing.debugprint(y, file="str").splitlines()[0] == "Elemwise{add} [id A] 'y'"


def test_debugprint_last_child_subtree_and_unnamed_inputs():
    # the last input's own inputs are indented with spaces, not " |"
    x, W = T.dmatrix(), T.dmatrix("W")
    y = x + T.exp(W)
    assert printing.debugprint(y, file="str") == (
        "Elemwise{add} [id A] ''\n"
        " |<TensorType(float64, matrix)> [id B]\n"
        " |Elemwise{exp} [id C] ''\n"
        "   |W [id D]\n")


def test_debugprint_list_prints_a_repeated_subgraph_once():
    x, W, b, y = _affine()
    d = y.owner.inputs[0]                       # the Dot
    z = T.exp(d) * d
    assert printing.debugprint([y, z], file="str") == (
        "Elemwise{add} [id A] ''\n"
        " |Dot [id B] ''\n"
        " | |x [id C]\n"
        " | |W [id D]\n"
        " |b [id E]\n"
        "Elemwise{mul} [id F] ''\n"
        " |Elemwise{exp} [id G] ''\n"
        " | |Dot [id B] ''\n"             # already printed: its line only
        " |Dot [id B] ''\n")
    # an Apply prints its outputs; dprint is the same function
    assert printing.dprint(y.owner, file="str") == printing.debugprint(y, file="str")
    assert cgraph.dprint is cgraph.debugprint is printing.debugprint


def test_debugprint_compiled_function_with_update():
    x, W, b, y = _model()
    f = cgraph.function([x], y, updates=[(W, T.dot(W, W))], mode="py")
    assert printing.debugprint(f, file="str") == (
        "Elemwise{mul} [id A] ''   2\n"
        " |Dot [id B] ''   0\n"
        " | |x [id C]\n"
        " | |W [id D] (shared)\n"
        " |DimShuffle{x,0} [id E] ''   1\n"
        "   |b [id F] (shared)\n"
        "Dot [id G] ''   3 -> update of W\n"
        " |W [id D] (shared)\n"
        " |W [id D] (shared)\n")
    # the toposort indices are the function's execution order
    assert [str(n.op) for n in f.nodes] == ["Dot", "DimShuffle{x,0}", "Elemwise{mul}", "Dot"]


def test_debugprint_compiled_c_function_and_state_input():
    x, W, b, y = _model()
    s = T.dscalar("s")
    f = cgraph.function([x, In(s, value=0.0, update=s + 1.0)], y, updates=[(W, T.dot(W, W))])
    text = printing.debugprint(f, file="str")
    lines = text.splitlines()
    assert lines[6] == "Dot [id G] ''   3 -> update of W"
    assert lines[9] == "Elemwise{add} [id H] ''   4 -> update of s"
    assert lines[10:] == [" |s [id I]", " |TensorConstant{1.0} [id J]"]
    f(np.ones((2, 3)))                     # the function printed is a working one


def test_debugprint_print_type_shows_static_shapes():
    x = T.dmatrix("x")
    row = T.drow("r")
    y = (x + row) * T.constant(np.ones((2, 3)))
    assert printing.debugprint(y, file="str", print_type=True) == (
        "Elemwise{mul} [id A] <TensorType(float64, matrix)> ''\n"
        " |Elemwise{add} [id B] <TensorType(float64, matrix)> ''\n"
        " | |x [id C] <TensorType(float64, matrix)>\n"
        " | |r [id D] <TensorType(float64, (1, ?))>\n"
        " |TensorConstant{[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]} [id E] "
        "<TensorType(float64, (2, 3))>\n")


def test_debugprint_depth_and_stop_on_name():
    x, W, b, y = _affine()
    assert printing.debugprint(y, depth=1, file="str") == "Elemwise{add} [id A] ''\n"
    assert printing.debugprint(y, depth=2, file="str") == (
        "Elemwise{add} [id A] ''\n"
        " |Dot [id B] ''\n"
        " |b [id C]\n")
    assert printing.debugprint(y, depth=0, file="str") == ""
    y.owner.inputs[0].name = "xW"
    assert printing.debugprint(y, stop_on_name=True, file="str") == (
        "Elemwise{add} [id A] ''\n"
        " |Dot [id B] 'xW'\n"
        " |b [id C]\n")


def test_debugprint_ids_and_multiple_outputs():
    x = T.dmatrix("x")
    mx, arg = T.max_and_argmax(x, axis=1)
    assert printing.debugprint([mx, arg], file="str", ids="int") == (
        "MaxAndArgmax{axis=(1,)}.0 [id 0] ''\n"
        " |x [id 1]\n"
        "MaxAndArgmax{axis=(1,)}.1 [id 0] ''\n")
    assert printing.debugprint(mx, file="str", ids="") == (
        "MaxAndArgmax{axis=(1,)}.0 ''\n"
        " |x\n")
    python_ids = printing.debugprint(mx, file="str", ids="id")
    assert f"[id {id(mx.owner)}]" in python_ids and f"[id {id(x)}]" in python_ids
    with pytest.raises(ValueError, match="ids must be"):
        printing.debugprint(mx, ids="letters")


def test_debugprint_clients_and_storage():
    x, W, b, y = _model()
    f = cgraph.function([x], y, updates=[(W, W.T + y.sum(axis=0))], mode="py")
    eye = "[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]"
    # y (id A) is read by the Sum (id J, printed later) and is an output: both are listed
    assert printing.debugprint(f, file="str", print_clients=True, print_storage=True) == (
        "Elemwise{mul} [id A] ''   2 clients:[id J],output\n"
        " |Dot [id B] ''   0\n"
        " | |x [id C]\n"
        f" | |W [id D] (shared) storage={eye}\n"
        " |DimShuffle{x,0} [id E] ''   1\n"
        "   |b [id F] (shared) storage=[1.0, 2.0, 3.0]\n"
        "Elemwise{add} [id G] ''   6 -> update of W\n"
        " |DimShuffle{1,0} [id H] ''   3\n"
        f" | |W [id D] (shared) storage={eye}\n"
        " |DimShuffle{x,0} [id I] ''   5\n"
        "   |Sum{axis=(0,)} [id J] ''   4\n"
        "     |Elemwise{mul} [id A] ''   2 clients:[id J],output\n")
    big = cgraph.shared(np.arange(100.0), name="big")
    text = printing.debugprint(big * 2.0, file="str", print_storage=True)
    assert " |big [id B] (shared) storage=[ 0.,  1., ..., 98., 99.]\n" in text


def test_debugprint_shares_ids_across_calls():
    x, W, b, y = _affine()
    done, used = {}, {}
    first = printing.debugprint(y, file="str", done=done, used_ids=used)
    second = printing.debugprint(T.exp(y), file="str", done=done, used_ids=used)
    assert first.splitlines()[0] == "Elemwise{add} [id A] ''"
    assert second == "Elemwise{exp} [id F] ''\n |Elemwise{add} [id A] ''\n"
    assert used[y.owner] == "[id A]" and y.owner in done


def test_debugprint_destinations(capsys):
    x, W, b, y = _affine()
    expected = printing.debugprint(y, file="str")
    assert printing.debugprint(y) is None
    assert capsys.readouterr().out == expected
    buf = io.StringIO()
    assert printing.debugprint(y, file=buf) is buf
    assert buf.getvalue() == expected
    assert cgraph.printing.debugprint(T.constant(2.0), file="str") == "TensorConstant{2.0} [id A]\n"


def test_debugprint_refuses_other_objects():
    with pytest.raises(TypeError, match="debugprint cannot print an object of type int"):
        printing.debugprint(3)
    with pytest.raises(TypeError, match="of type str"):
        printing.debugprint([T.dvector("v"), "v"])


# --- pprint --------------------------------------------------------------------------------

def test_pprint_expressions():
    x, W, b = T.dmatrix("x"), T.dmatrix("W"), T.dvector("b")
    i, idx, v = T.lscalar("i"), T.lvector("idx"), T.dvector("v")
    pp = cgraph.pp
    cases = [
        (T.dot(x, W) + b, "((x \\dot W) + b)"),        # the broadcast of b is implicit
        (T.nnet.sigmoid(x), "sigmoid(x)"),
        (x[0:20], "x[0:20]"),
        (x[i, 1:], "x[i, 1:]"),
        (x[::2, :i + 1], "x[::2, :(i + 1)]"),
        (x.sum(axis=1), "sum(x, axis=(1,))"),
        (x.sum(), "sum(x)"),
        (x.mean(axis=0, keepdims=True), "mean(x, axis=(0,), keepdims=True)"),
        (x.argmax(axis=1), "argmax(x, axis=(1,))"),
        (-x.T * 2.0, "((-x.T) * 2.0)"),
        ((x < 1) & (x >= 0), "((x < 1) & (x >= 0))"),
        (x ** 2 / (1 + abs(x)), "((x ** 2) / (1 + abs(x)))"),
        (T.switch(x > 0, x, 0), "switch((x > 0), x, 0)"),
        (T.cast(x, "float32"), "cast(x, float32)"),
        (v.dimshuffle("x", 0), "v.dimshuffle('x', 0)"),
        (T.inc_subtensor(x[0:2], T.constant(1.0, dtype="float64")), "inc_subtensor(x[0:2], 1.0)"),
        (T.set_subtensor(v[idx], T.constant(0.0, dtype="float64")), "set_subtensor(v[idx], 0.0)"),
        (x[idx, :], "x[idx, :]"),
        (x.shape[1], "x.shape[1]"),
        (T.reshape(x, (2, -1)), "reshape(x, [2, -1])"),
        (T.zeros((i, 3)), "alloc(0.0, [i, 3])"),
        (T.concatenate([x, W], axis=1), "join(1, x, W)"),
        (T.nnet.softmax(x), "softmax(x)"),
        (T.maximum(x, W), "maximum(x, W)"),
        (T.constant(np.arange(30)), "Constant{int64, shape=(30,)}"),
    ]
    for expr, expected in cases:
        assert pp(expr) == expected, (pp(expr), expected)
    assert cgraph.printing.pprint is pp
    assert pp([x + 1, v]) == "(x + 1)\nv"


def test_pprint_fallback_and_custom_printers():
    x = T.dmatrix("x")
    mx, arg = T.max_and_argmax(x, axis=0)
    assert cgraph.pp(mx) == "max(x, axis=(0,))" and cgraph.pp(arg) == "argmax(x, axis=(0,))"
    from cgraph.tensor.elemwise import SumToShape
    g = SumToShape()(x, T.row("r"))
    assert cgraph.pp(g) == "SumToShape(x, r)"          # ops without a printer: Op(inputs)
    # a printer of one's own, for an op class or one op
    printer = printing.PPrinter()
    printer.assign(SumToShape, lambda var, pp: "reduce_to(" + pp.process(var.owner.inputs[0]) + ")")
    printer.assign(lambda var: var.owner is None, lambda var, pp: var.name.upper())
    assert printer(g) == "reduce_to(X)"
    printer.assign(T.exp(x).owner.op, lambda var, pp: "e^" + pp.process(var.owner.inputs[0]))
    assert printer(T.exp(x)) == "e^X"                   # an op: nodes of an equal op
    assert printer(T.log(x)) == "Elemwise{log}(X)"      # nothing assigned: Op(inputs)
    with pytest.raises(TypeError, match="pprint cannot print"):
        cgraph.pp(1.5)


# --- pydotprint ----------------------------------------------------------------------------

@needs_graphviz
def test_pydotprint_writes_svg_and_png(tmp_path, capsys):
    x, W, b, y = _model()
    f = cgraph.function([x], y, updates=[(W, T.dot(W, W))], mode="py")
    svg = tmp_path / "graph.svg"
    assert printing.pydotprint(f, outfile=str(svg)) is None
    assert capsys.readouterr().out.strip() == f"The output file is available at {svg}"
    text = svg.read_text()
    assert text.lstrip().startswith(("<?xml", "<svg")) and "</svg>" in text
    for label in ("Dot", "Elemwise{mul}", "DimShuffle{x,0}", "update of W"):
        assert label in text.replace("&#123;", "{").replace("&#125;", "}"), label
    assert 'fill="green"' in text           # the input x
    assert 'fill="gold"' in text            # the shared W and b
    assert 'fill="blue"' in text            # the outputs

    png = tmp_path / "graph.png"
    printing.pydotprint(y, outfile=png, print_output_file=False, with_ids=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # no extension: the format is appended
    printing.pydotprint([y, T.exp(y)], outfile=str(tmp_path / "plain"), format="svg",
                        print_output_file=False, compact=False)
    assert (tmp_path / "plain.svg").read_text().count("<svg") == 1
    assert capsys.readouterr().out == ""


@needs_graphviz
def test_pydotprint_return_image_and_labels():
    x, W, b, y = _affine()
    image = printing.pydotprint(y, return_image=True, format="svg")
    text = image.decode()
    assert "<svg" in text
    # two inputs: the edges carry the input positions
    assert "0 TensorType(float64, matrix)" in text and "1 TensorType(float64, matrix)" in text
    assert not os.path.exists("cgraph.pydotprint.svg")
    with pytest.raises(ValueError, match="unknown output format"):
        printing.pydotprint(y, return_image=True, format="nope")


def test_pydotprint_without_graphviz_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)      # import graphviz -> ImportError
    with pytest.raises(ImportError) as info:
        printing.pydotprint(T.dvector("v"), return_image=True)
    assert "pip install graphviz" in str(info.value)
    assert "apt-get install graphviz" in str(info.value)


def test_pydotprint_without_dot_program(monkeypatch, tmp_path):
    pytest.importorskip("graphviz")
    monkeypatch.setenv("PATH", str(tmp_path))               # an empty directory
    with pytest.raises(RuntimeError) as info:
        printing.pydotprint(T.dvector("v"), outfile=str(tmp_path / "g.png"))
    message = str(info.value)
    assert "'dot'" in message and "apt-get install graphviz" in message
    assert "brew install graphviz" in message
    assert not (tmp_path / "g.png").exists()


def test_printers_refuse_other_objects():
    with pytest.raises(TypeError, match="pydotprint cannot print"):
        printing.pydotprint(Apply)
