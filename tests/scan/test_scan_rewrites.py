"""The speed rewrites of loops and gradients, against numpy and the reference mode:
shapes read from cheap sources (SumToBroadcastShape), products of a sequence pushed out of
the body, outputs no one reads dropped, and the backward loop reading the cost's gradient
of the steps directly."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from cgraph.graph.basic import io_toposort
from cgraph.rewrite.shape_only import SumToBroadcastShape
from cgraph.scan_module import Scan, until
from cgraph.tensor.blas import Dot
from cgraph.tensor.elemwise import Elemwise, SumToShape
from cgraph.tensor.subtensor import IncSubtensor
from util import check, check_error, numpy_bptt, numpy_rnn, rnn_scan as _rnn

pytestmark = pytest.mark.slow   # scan modules and numeric gradients

RNG = np.random.default_rng(77)


def _rnn_values(n, batch, n_in, hidden):
    return [RNG.normal(size=(n, batch, n_in)), RNG.normal(size=(batch, hidden)),
            RNG.normal(size=(n_in, hidden)) / np.sqrt(n_in),
            RNG.normal(size=(hidden, hidden)) / np.sqrt(hidden), RNG.normal(size=hidden) * 0.1]


def _scans(f):
    return [node for node in f.nodes if isinstance(node.op, Scan)]


def _inner_ops(node):
    outs, nodes = node.op.optimized
    return [n.op for n in nodes]


# --- shapes read from cheap sources -------------------------------------------------------

def test_gradients_read_shapes_from_the_operands():
    """Gradients of broadcast operands, through elementwise ops, dot and axis views, where
    operands broadcast at run time without being declared broadcastable."""
    a, b, c = T.dmatrix("a"), T.dmatrix("b"), T.dmatrix("c")
    v = T.dvector("v")
    s = T.dscalar("s")
    # a (1, 4) at run time, b (3, 4): a's gradient is summed over rows
    cost1 = ((a + b) * T.tanh(b)).sum()
    # dot(a, c) is (1, 5), added to a (3, 5) value: its gradient is summed over rows
    d = T.dmatrix("d")
    cost2 = (T.exp(T.dot(a, c) + d) * d).sum()
    # a view with a new axis, a scalar and a vector operand
    cost3 = (T.sqr(v.dimshuffle("x", 0) * s + b) * b).sum()
    grads = cgraph.grad(cost1 + cost2 + cost3, [a, b, c, d, v, s])
    av, bv = RNG.normal(size=(1, 4)), RNG.normal(size=(3, 4))
    cv, dv = RNG.normal(size=(4, 5)), RNG.normal(size=(3, 5)) * 0.3
    vv, sv = RNG.normal(size=4), np.array(0.7)
    e = np.exp(av @ cv + dv)
    inner = vv * sv + bv
    expected = [
        np.tanh(bv).sum(axis=0, keepdims=True) + (e * dv).sum(axis=0, keepdims=True) @ cv.T,
        np.tanh(bv) + (av + bv) * (1 - np.tanh(bv) ** 2) + 2 * inner * bv + inner ** 2,
        av.T @ (e * dv).sum(axis=0, keepdims=True),
        e * dv + e,
        (2 * inner * bv * sv).sum(axis=0),
        (2 * inner * bv * vv).sum()]
    f = cgraph.function([a, b, c, d, v, s], grads)
    ops = [node.op for node in f.nodes]
    # no SumToShape keeps an intermediate value alive for its shape
    assert any(isinstance(op, SumToBroadcastShape) for op in ops)
    for node in f.nodes:
        if isinstance(node.op, SumToShape):
            x_owner = node.inputs[1].owner
            assert x_owner is None or not isinstance(x_owner.op, (Elemwise, Dot)), node
    check([a, b, c, d, v, s], grads, [av, bv, cv, dv, vv, sv], expected=expected)
    # the same graph with a of full height: nothing is summed
    av3 = RNG.normal(size=(3, 4))
    e3 = np.exp(av3 @ cv + dv)
    check([a, b, c, d, v, s], grads[:1], [av3, bv, cv, dv, vv, sv],
          expected=[np.tanh(bv) + (e3 * dv) @ cv.T])


def test_shapes_that_do_not_broadcast_still_fail():
    """The gradient's target shape comes from the operands; when they cannot have produced
    the forward value, the forward op fails first, in both modes."""
    a, b = T.dmatrix("a"), T.dmatrix("b")
    g = cgraph.grad(((a + b) ** 2).sum(), a)
    check_error([a, b], [g], [np.ones((2, 3)), np.ones((4, 3))], ValueError)


# --- the backward loop ---------------------------------------------------------------------

def test_backward_loop_computes_only_what_the_gradient_needs():
    x, h0, W, U, b = T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("W"), T.dmatrix("U"), \
        T.dvector("b")
    h = _rnn(x, h0, W, U, b)
    cost = (h ** 2).sum()
    grads = cgraph.grad(cost, [W, U, b])
    values = _rnn_values(6, 3, 4, 5)
    hs = numpy_rnn(*values)
    expected = numpy_bptt(*values, 2 * hs)[2:]
    f = cgraph.function([x, h0, W, U, b], grads)
    forward, backward = sorted(_scans(f), key=lambda node: node.op.name or "")
    # forward: dot(x_t, W) is one product before the loop, the body reads its rows
    assert not any(isinstance(op, Dot) for op in _inner_ops(forward))
    # backward: no recomputation of dot(x_t, W) or dot(h, U) for their shapes, and no
    # gradient of x (nobody asked for it): one product per step, ga . U^T
    assert sum(isinstance(op, Dot) for op in _inner_ops(backward)) == 1
    assert backward.op.n_nit_sot == 0
    # the cost's gradient of the steps is read as it is: no zeros of the buffer's size
    assert not any(isinstance(node.op, IncSubtensor) for node in f.nodes)
    check([x, h0, W, U, b], grads, values, expected=expected)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_rnn_gradients_against_numpy(dtype):
    x, h0 = T.tensor3("x", dtype=dtype), T.matrix("h0", dtype=dtype)
    W, U, b = T.matrix("W", dtype=dtype), T.matrix("U", dtype=dtype), T.vector("b", dtype=dtype)
    G = T.tensor3("G", dtype=dtype)
    h = _rnn(x, h0, W, U, b)
    values = [v.astype(dtype) for v in _rnn_values(7, 3, 4, 5)]
    Gv = RNG.normal(size=(7, 3, 5)).astype(dtype)
    hs = numpy_rnn(*values)
    # every step (the cost's gradient read directly), the last step only, and both
    costs = [(h * G).sum(), (h[-1] * G[-1]).sum(), (h * G).sum() + (h[-1] * G[-1]).sum()]
    last = np.zeros_like(Gv)
    last[-1] = Gv[-1]
    seeds = [Gv, last, Gv + last]
    if dtype == "float32":          # the same graphs: one cost is enough
        costs, seeds = costs[:1], seeds[:1]
    outputs, expected = [], []
    for cost, seed in zip(costs, seeds):
        outputs += cgraph.grad(cost, [x, h0, W, U, b])
        expected += numpy_bptt(*values, seed)
    outputs.append(h[-1])
    expected.append(hs[-1])
    rtol = 1e-4 if dtype == "float32" else None
    check([x, h0, W, U, b, G], outputs, values + [Gv], expected=expected, rtol=rtol)


def test_gradients_by_finite_differences():
    """Taps, go_backwards, truncate_gradient, n_steps and until through the rewritten
    loops, against numeric gradients."""
    values = _rnn_values(5, 2, 3, 4)

    def rnn_loss(x, h0, W, U, b):
        h = _rnn(x, h0, W, U, b)
        back = _rnn(x, h0, W, U, b, go_backwards=True)
        return (h ** 2).sum() + h[-1].sum() + (back * h[::-1]).sum()

    verify_grad(rnn_loss, values, rng=np.random.default_rng(0), n_tests=1)

    def taps_loss(x, y0, W):
        # a sequence read at t-1 and t+1 through dot, a two-tap state
        def step(xm, xp, ym2, ym1, W):
            return T.tanh(T.dot(xm, W) - T.dot(xp, W) * 0.5 + ym2 * 0.3 + ym1 * 0.2)
        y, _ = cgraph.scan(step, sequences={"input": x, "taps": [-1, 1]},
                           outputs_info={"initial": y0, "taps": [-2, -1]}, non_sequences=W,
                           n_steps=4)
        return (y ** 2).sum()

    verify_grad(taps_loss, [RNG.normal(size=(7, 2, 3)), RNG.normal(size=(2, 2, 4)),
                            RNG.normal(size=(3, 4))], rng=np.random.default_rng(2), n_tests=1)

    def while_loss(x, W):
        def step(xt, h, W):
            new = T.tanh(T.dot(xt, W) + h)
            return new, until(new.sum() > 1.5)
        h, _ = cgraph.scan(step, sequences=x, outputs_info=T.zeros_like(T.dot(x[0], W)),
                           non_sequences=W)
        return (h ** 2).sum()

    verify_grad(while_loss, [np.abs(RNG.normal(size=(6, 3))) * 0.3,
                             np.abs(RNG.normal(size=(3, 2)))],
                rng=np.random.default_rng(3), n_tests=1)


def test_truncated_gradient_against_numpy():
    x, h0, W, U, b = T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("W"), T.dmatrix("U"), \
        T.dvector("b")
    h = _rnn(x, h0, W, U, b, truncate_gradient=3)
    gW, gU = cgraph.grad((h ** 2).sum(), [W, U])
    values = _rnn_values(6, 2, 3, 4)
    xv, h0v, Wv, Uv, bv = values
    hs = [h0v] + list(numpy_rnn(*values))
    eW, eU, carry = np.zeros_like(Wv), np.zeros_like(Uv), np.zeros_like(h0v)
    for t in reversed(range(3, 6)):
        gpre = (2 * hs[t + 1] + carry) * (1 - hs[t + 1] ** 2)
        eW += xv[t].T @ gpre
        eU += hs[t].T @ gpre
        carry = gpre @ Uv.T
    check([x, h0, W, U, b], [gW, gU], values, expected=[eW, eU])


# --- the forward loop ----------------------------------------------------------------------

def test_pushed_out_products_keep_results_and_errors():
    x, h0, W, U, b = T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("W"), T.dmatrix("U"), \
        T.dvector("b")
    n = T.lscalar("n")
    values = _rnn_values(5, 2, 3, 4)
    xv = values[0]
    forward = _rnn(x, h0, W, U, b)
    backwards = _rnn(x, h0, W, U, b, go_backwards=True)
    short = _rnn(x, h0, W, U, b, n_steps=n)
    outputs = [forward, backwards, short, short[-1]]
    expected_short = numpy_rnn(xv[:3], *values[1:])
    expected = [numpy_rnn(*values), numpy_rnn(xv[::-1], *values[1:]), expected_short,
                expected_short[-1]]
    f = cgraph.function([x, h0, W, U, b, n], outputs)
    for node in _scans(f):
        seq_dots = [nd for nd in io_toposort(node.op.optimized[0],
                                             stop_at=node.op.inner_inputs)
                    if isinstance(nd.op, Dot) and nd.inputs[0] in
                    node.op.inner_inputs[:node.op.n_seqs]]
        assert not seq_dots
    check([x, h0, W, U, b, n], outputs, values + [3], expected=expected)
    # zero steps: refused as Theano refuses them, whether or not the full output is kept
    for outs in ([short], [short[-1]], [short, short[-1]]):
        check_error([x, h0, W, U, b, n], outs, values + [0], NotImplementedError,
                    match="asked to run for 0 steps", on_unused_input="ignore")
    # a sequence shorter than n_steps fails as before, naming the sequence
    check_error([x, h0, W, U, b, n], [short], values + [9], ValueError,
                match="sequences\\[0\\] .*has 5 steps")
    # W of the wrong height fails in both modes
    bad = list(values)
    bad[2] = RNG.normal(size=(2, 4))
    check_error([x, h0, W, U, b, n], [forward], bad + [3], ValueError,
                on_unused_input="ignore")


def test_unused_outputs_are_dropped():
    x = T.dmatrix("x")
    W = T.dmatrix("W")

    def step(xt, acc, W):
        y = T.dot(xt, W)
        return acc + y, T.exp(y), y * 2

    (acc, ex, twice), _ = cgraph.scan(step, sequences=x,
                                      outputs_info=[T.zeros_like(W[0]), None, None],
                                      non_sequences=W)
    xv, Wv = RNG.normal(size=(4, 3)), RNG.normal(size=(3, 2))
    ys = xv @ Wv
    f = cgraph.function([x, W], twice)
    (node,) = _scans(f)
    assert node.op.n_states == 0 and node.op.n_nit_sot == 1
    check([x, W], [twice, acc[-1]], [xv, Wv], expected=[ys * 2, ys.sum(axis=0)])
