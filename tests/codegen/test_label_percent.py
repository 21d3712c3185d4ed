"""A variable's label prints as written in the messages of every kind of runtime entry.

A label reaches the C two ways: written into a message the template formats (then its ``%``
signs are doubled, graph/labels.c_string) or passed to a runtime function that prints it
with ``%s`` (then they are not, c_text). Each case raises its message from one kind of entry
(the dot, GEMM, reduction, arg-reduction, elementwise, advanced-indexing and sampling entries
of the runtime, a template's own message), with a variable named ``a%b``; conv, pool and
reshape are in tests/tensor/test_conv_pool_runtime.py."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.tensor.shared_randomstreams import RandomStreams

LABEL = "a%b"


def _dot():
    a, y = T.matrix(LABEL), T.matrix("y")
    return [a, y], T.dot(a, y), [np.zeros((2, 3)), np.zeros((4, 2))], ValueError


def _gemm():
    a, y, z = T.matrix(LABEL), T.matrix("y"), T.matrix("z")
    return [a, y, z], z + T.dot(a, y), [np.zeros((2, 3)), np.zeros((3, 2)),
                                        np.zeros((3, 3))], ValueError


def _gemm_accumulator():
    a, y, z = T.matrix(LABEL), T.matrix("y"), T.matrix("z")
    return [a, y, z], a + T.dot(z, y), [np.zeros((3, 3)), np.zeros((3, 2)),
                                        np.zeros((2, 3))], ValueError


def _max_of_empty():
    v = T.vector(LABEL)
    return [v], T.max(v), [np.zeros(0)], ValueError


def _argmax_of_empty():
    v = T.vector(LABEL)
    return [v], T.argmax(v), [np.zeros(0)], ValueError


def _elemwise():
    a, y = T.matrix(LABEL), T.matrix("y")
    return [a, y], T.exp(a) * y, [np.zeros((2, 3)), np.zeros((4, 2))], ValueError


def _advanced_index():
    v, i = T.vector(LABEL), T.lvector("i")
    return [v, i], v[i], [np.zeros(3), np.array([5])], IndexError


def _basic_index():      # the template's own message (a format string)
    v = T.vector(LABEL)
    return [v], v[4], [np.zeros(3)], IndexError


def _binomial():
    n = T.lscalar(LABEL)
    return [n], RandomStreams(1).binomial((3,), n=n, p=0.5), [np.int64(-1)], ValueError


CASES = [_dot, _gemm, _gemm_accumulator, _max_of_empty, _argmax_of_empty, _elemwise,
         _advanced_index, _basic_index, _binomial]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.strip("_") for c in CASES])
def test_a_label_with_a_percent_sign_prints_as_written(case):
    inputs, output, values, error = case()
    messages = {}
    for mode in ("c", "py"):
        f = cgraph.function(inputs, output, mode=mode)
        with pytest.raises(error) as caught:
            f(*values)
        messages[mode] = str(caught.value).splitlines()[0]
    c_message = messages["c"]
    assert LABEL in c_message and "%%" not in c_message, c_message   # ("a%%b" holds no "a%b")
    assert "%%" not in messages["py"], messages["py"]     # (the reference's own wording)


@pytest.mark.parametrize("kind", ["elementwise", "reduction", "gemm"])
def test_an_output_label_with_a_percent_sign_prints_as_written(kind):
    """The op's label (``<op> computing <output>``) goes to the runtime as an argument too."""
    a, y = T.matrix("a"), T.matrix("y")
    out, values = {
        "elementwise": (a + y, [np.zeros((2, 3)), np.zeros((4, 2))]),
        "reduction": (T.max(a, axis=0), [np.zeros((0, 3)), np.zeros((4, 2))]),
        "gemm": (a + T.dot(y, y), [np.zeros((2, 3)), np.zeros((4, 4))]),
    }[kind]
    out.name = "c%d"
    f = cgraph.function([a, y], out, on_unused_input="ignore")
    with pytest.raises(ValueError, match="computing c%d: "):
        f(*values)
