"""The bias a loop adds to a pushed-out product, folded into that product (one Gemm of
matrices, the bias its z), and a steps-mode state written over the buffer of that seed
sequence (scan_pushout._loop_invariant_terms, Scan._seed_of, cg_scan_seed): values against
numpy and the reference mode, and where the seed must not be taken."""
import re

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.scan_module import Scan, until
from cgraph.tensor.blas import Dot, Gemm
from cgraph.tensor.shape_ops import Reshape
from util import check, numpy_rnn, rnn_scan

pytestmark = pytest.mark.slow   # scan modules

RNG = np.random.default_rng(31)


def _values(n, batch, n_in, hidden, dtype="float64"):
    return [v.astype(dtype) for v in (
        RNG.normal(size=(n, batch, n_in)), RNG.normal(size=(batch, hidden)),
        RNG.normal(size=(n_in, hidden)) / np.sqrt(n_in),
        RNG.normal(size=(hidden, hidden)) / np.sqrt(hidden), RNG.normal(size=hidden))]


def _rnn_inputs(dtype="float64"):
    return [T.tensor3("x", dtype=dtype), T.matrix("h0", dtype=dtype),
            T.matrix("W", dtype=dtype), T.matrix("U", dtype=dtype), T.vector("b", dtype=dtype)]


def _seeded(f):
    """Whether a scan part of ``f``'s module has a seed (its last field, after the
    message)."""
    return re.search(r"\{ CG_SCAN_\w+, [^}]*\(initial\[0\] is the value at tap -\d+\)\", \d+ \}",
                     f.c_source) is not None


def _scan(f):
    (node,) = [node for node in f.nodes if isinstance(node.op, Scan)]
    return node


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(6, 3, 4, 5), (1, 2, 3, 4), (4, 1, 3, 4), (3, 5, 1, 1)])
def test_rnn_with_the_bias_folded_and_the_state_seeded(dtype, shape):
    """h_t = tanh(x_t W + h U + b): the body adds no bias, the loop reads x W + b computed
    by one Gemm before it, and its steps are written over that buffer; T = 1 and batch 1
    included."""
    x, h0, W, U, b = _rnn_inputs(dtype)
    values = _values(*shape, dtype=dtype)
    hs = rnn_scan(x, h0, W, U, b)
    f = cgraph.function([x, h0, W, U, b], hs)
    node = _scan(f)
    seq = node.inputs[1]
    assert isinstance(seq.owner.op, Reshape) and isinstance(seq.owner.inputs[0].owner.op, Gemm)
    outs, nodes = node.op.optimized
    assert not any(isinstance(n.op, Dot) for n in nodes)
    assert _seeded(f)
    check([x, h0, W, U, b], hs, values, expected=numpy_rnn(*values))


def test_the_seeded_output_is_the_callers_own():
    """The output takes the seed's buffer: a second call leaves the first result alone, and
    the same values come out of every call."""
    x, h0, W, U, b = _rnn_inputs()
    values = _values(5, 3, 4, 6)
    f = cgraph.function([x, h0, W, U, b], rnn_scan(x, h0, W, U, b))
    assert _seeded(f)
    first = f(*values)
    kept = first.copy()
    other = [v * 0.5 for v in values]
    second = f(*other)
    np.testing.assert_array_equal(first, kept)
    np.testing.assert_allclose(second, numpy_rnn(*other), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(f(*values), kept)


def test_no_seed_where_the_body_reads_the_row_again():
    """A body reading x_t W again after its Gemm (here: added to the state) keeps the
    sequence: its rows are needed after the state's row is written."""
    x, h0, W, U, b = _rnn_inputs()

    def step(xt, hp, W, U, b):
        xw = T.dot(xt, W)
        return T.tanh(xw + T.dot(hp, U) + b) + xw * 0.1
    hs, _ = cgraph.scan(step, sequences=x, outputs_info=h0, non_sequences=[W, U, b])
    values = _values(4, 2, 3, 5)
    xv, h0v, Wv, Uv, bv = values
    expected, h = [], h0v
    for t in range(len(xv)):
        h = np.tanh(xv[t] @ Wv + h @ Uv + bv) + 0.1 * (xv[t] @ Wv)
        expected.append(h)
    f = cgraph.function([x, h0, W, U, b], hs)
    assert not _seeded(f)
    check([x, h0, W, U, b], hs, values, expected=np.array(expected))


def test_full_and_ring_states_and_several_outputs():
    """The gradient needs the whole state (full mode: no seed); a state with taps -1 and -2
    and a nit-sot output beside a seeded one; the last value only (a ring)."""
    x, h0, W, U, b = _rnn_inputs()
    h00 = T.tensor3("h00")

    def step(xt, h2, h1, W, U, b):
        h = T.tanh(T.dot(xt, W) + T.dot(h1, U) + b) - 0.5 * h2
        return h, h.sum(axis=1)
    (hs, sums), _ = cgraph.scan(step, sequences=x, non_sequences=[W, U, b],
                                outputs_info=[dict(initial=h00, taps=[-2, -1]), None])
    xv, h0v, Wv, Uv, bv = _values(5, 3, 4, 6)
    h00v = np.stack([h0v * 0.3, h0v])
    rows = list(h00v)
    for t in range(len(xv)):
        rows.append(np.tanh(xv[t] @ Wv + rows[-1] @ Uv + bv) - 0.5 * rows[-2])
    expected = np.array(rows[2:])
    check([x, h00, W, U, b], [hs, sums, hs[-1]], [xv, h00v, Wv, Uv, bv],
          expected=[expected, expected.sum(axis=2), expected[-1]])
    last = cgraph.function([x, h00, W, U, b], hs[-1])
    assert not _seeded(last)
    cost = rnn_scan(x, h0, W, U, b).sum() ** 2
    grads = cgraph.grad(cost, [W, U, b])
    values = _values(4, 2, 3, 5)
    f = cgraph.function([x, h0, W, U, b], grads)
    assert not _seeded(f)
    check([x, h0, W, U, b], grads, values)


def test_a_while_loop_writes_a_prefix_of_the_seed():
    """until() stops early: the output is the rows written, the seed's first rows."""
    x, h0, W, U, b = _rnn_inputs()

    def step(xt, hp, W, U, b):
        h = T.tanh(T.dot(xt, W) + T.dot(hp, U) + b)
        return h, until(h[0, 0] > 0.5)
    hs, _ = cgraph.scan(step, sequences=x, outputs_info=h0, non_sequences=[W, U, b])
    values = _values(8, 2, 3, 4)
    values[4] = np.full(4, 0.1)
    full = numpy_rnn(*values)
    stop = next(t for t in range(8) if full[t, 0, 0] > 0.5)
    assert stop < 7
    f = cgraph.function([x, h0, W, U, b], hs)
    assert _seeded(f)
    check([x, h0, W, U, b], hs, values, expected=full[:stop + 1])


def test_two_products_and_a_matrix_term():
    """x_t W1 + y_t W2 + b: the bias is folded into one of the products only; a term that
    is a whole (batch, hidden) matrix is added as before (no matrix form for it)."""
    x, y = T.tensor3("x"), T.tensor3("y")
    W1, W2, U, C = T.dmatrix("W1"), T.dmatrix("W2"), T.dmatrix("U"), T.dmatrix("C")
    h0, b = T.dmatrix("h0"), T.dvector("b")

    def step(xt, yt, hp, W1, W2, U, b, C):
        return T.tanh(T.dot(xt, W1) + T.dot(yt, W2) + T.dot(hp, U) + b + C)
    hs, _ = cgraph.scan(step, sequences=[x, y], outputs_info=h0,
                        non_sequences=[W1, W2, U, b, C])
    n, batch, hidden = 4, 3, 5
    xv, yv = RNG.normal(size=(n, batch, 2)), RNG.normal(size=(n, batch, 3))
    W1v, W2v = RNG.normal(size=(2, hidden)), RNG.normal(size=(3, hidden))
    Uv, Cv = RNG.normal(size=(hidden, hidden)) * 0.3, RNG.normal(size=(batch, hidden))
    h0v, bv = RNG.normal(size=(batch, hidden)), RNG.normal(size=hidden)
    rows, h = [], h0v
    for t in range(n):
        h = np.tanh(xv[t] @ W1v + yv[t] @ W2v + h @ Uv + bv + Cv)
        rows.append(h)
    check([x, y, h0, W1, W2, U, b, C], hs, [xv, yv, h0v, W1v, W2v, Uv, bv, Cv],
          expected=np.array(rows))


def test_a_random_term_is_drawn_at_every_step():
    """A term drawn from a random stream is not the same at every step: it stays in the
    body (C and the reference mode draw the same numbers)."""
    from cgraph.tensor.shared_randomstreams import RandomStreams
    x, W = T.dmatrix("x"), T.dmatrix("W")
    xv, Wv = RNG.normal(size=(4, 2)), RNG.normal(size=(2, 3))
    results = []
    for mode in ("c", "py"):
        srng = RandomStreams(seed=3)
        hs, updates = cgraph.scan(
            lambda xt, h, W: T.tanh(T.dot(xt, W) + h * 0.5 + srng.uniform((3,))),
            sequences=x, outputs_info=T.zeros((3,)), non_sequences=W)
        results.append(cgraph.function([x, W], hs, updates=updates, mode=mode)(xv, Wv))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)
    noise = np.arctanh(results[1]) - xv @ Wv - 0.5 * np.vstack([np.zeros(3), results[1][:-1]])
    assert not np.allclose(noise[0], noise[1])
