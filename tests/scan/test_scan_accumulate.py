"""Sums of products over the steps computed after the loop (scan_accumulate.py): the
backward loop's gradients of W and U, and accumulators written by hand, against numpy."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from cgraph.scan_module import Scan
from cgraph.scan_module.scan_op import LAST
from cgraph.tensor.blas import Dot, Gemm
from util import check, check_error, numpy_bptt, numpy_rnn

pytestmark = pytest.mark.slow   # scan modules and numeric gradients

RNG = np.random.default_rng(71)


def _rnn(x, h0, W, U, b, **kwargs):
    h, _ = cgraph.scan(lambda xt, hp, W, U, b: T.tanh(T.dot(xt, W) + T.dot(hp, U) + b),
                       sequences=x, outputs_info=h0, non_sequences=[W, U, b], **kwargs)
    return h


def _values(n, batch, n_in, hidden, dtype="float64"):
    values = [RNG.normal(size=(n, batch, n_in)), RNG.normal(size=(batch, hidden)),
              RNG.normal(size=(n_in, hidden)) / np.sqrt(n_in),
              RNG.normal(size=(hidden, hidden)) / np.sqrt(hidden), RNG.normal(size=hidden) * 0.1]
    return [v.astype(dtype) for v in values]


def _scans(f):
    return [node for node in f.nodes if isinstance(node.op, Scan)]


def _products_per_step(node):
    _, nodes = node.op.optimized
    return sum(isinstance(n.op, (Dot, Gemm)) for n in nodes)


def _inputs(dtype):
    return [T.tensor3("x", dtype=dtype), T.matrix("h0", dtype=dtype),
            T.matrix("W", dtype=dtype), T.matrix("U", dtype=dtype), T.vector("b", dtype=dtype)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n, batch", [(7, 3), (1, 3), (5, 1)])
def test_rnn_weight_gradients_are_one_product_after_the_loop(dtype, n, batch):
    """gW = sum_t x_t^T d_t and gU = sum_t h_{t-1}^T d_t: no state of the backward loop
    and no product per step for them (d_t U^T and x's gradient d_t W^T stay in the loop);
    one step and a batch of one row too."""
    x, h0, W, U, b = _inputs(dtype)
    G = T.tensor3("G", dtype=dtype)
    h = _rnn(x, h0, W, U, b)
    grads = cgraph.grad((h * G).sum(), [x, h0, W, U, b])
    values = _values(n, batch, 4, 5, dtype)
    Gv = RNG.normal(size=(n, batch, 5)).astype(dtype)
    f = cgraph.function([x, h0, W, U, b, G], grads)
    backward = [node for node in _scans(f) if "grad" in (node.op.name or "")]
    assert len(backward) == 1
    op = backward[0].op
    # left: the carry and b's accumulator (a sum of rows, not a product)
    assert op.n_states == 2
    assert _products_per_step(backward[0]) == 2
    expected = numpy_bptt(*values, Gv)
    rtol = 1e-4 if dtype == "float32" else None
    got = check([x, h0, W, U, b, G], grads, values + [Gv], expected=expected, rtol=rtol)
    assert [g.dtype for g in got] == [dtype] * 5


def test_truncated_gradient():
    x, h0, W, U, b = _inputs("float64")
    h = _rnn(x, h0, W, U, b, truncate_gradient=3)
    gW, gU = cgraph.grad((h ** 2).sum(), [W, U])
    values = _values(6, 2, 3, 4)
    xv, h0v, Wv, Uv, bv = values
    hs = [h0v] + list(numpy_rnn(*values))
    eW, eU, carry = np.zeros_like(Wv), np.zeros_like(Uv), np.zeros_like(h0v)
    for t in reversed(range(3, 6)):
        gpre = (2 * hs[t + 1] + carry) * (1 - hs[t + 1] ** 2)
        eW += xv[t].T @ gpre
        eU += hs[t].T @ gpre
        carry = gpre @ Uv.T
    f = cgraph.function([x, h0, W, U, b], [gW, gU])
    assert all(node.op.n_states <= 2 for node in _scans(f))
    check([x, h0, W, U, b], [gW, gU], values, expected=[eW, eU])


def test_rnn_gradients_by_finite_differences():
    def loss(x, h0, W, U, b):
        h = _rnn(x, h0, W, U, b)
        return (h ** 2).sum() + h[-1].sum()
    verify_grad(loss, _values(4, 2, 3, 4), rng=np.random.default_rng(5), n_tests=1)


def _accumulate(step, x, init, y0, **kwargs):
    """A loop with a two-tap state y and an accumulator acc (initial value ``init``, one
    step's value) that
    ``step(x_t, y_tm2, y_tm1, acc)`` updates; returns (y, acc) as scan gives them."""
    (y, acc), _ = cgraph.scan(step, sequences=x,
                              outputs_info=[{"initial": y0, "taps": [-2, -1]},
                                            {"initial": init, "taps": [-1]}], **kwargs)
    return y, acc


def _numpy_accumulate(xv, initv, y0v, a_of):
    ys, acc = list(y0v), initv.copy()
    for t in range(len(xv)):
        y = np.tanh(xv[t] * 0.5 + ys[-2] * 0.3 + ys[-1] * 0.2)
        acc = acc + a_of(xv[t]).T @ y
        ys.append(y)
    return np.array(ys[2:]), acc


@pytest.mark.parametrize("a_of", ["sequence", "body"])
def test_accumulator_written_by_hand(a_of):
    """acc + dot(a_t.T, y_t) with a_t a sequence slice or a value of the body, beside a
    two-tap state, read only at its last step: summed after the loop."""
    f_np = (lambda v: v) if a_of == "sequence" else np.cos
    f_t = (lambda v: v) if a_of == "sequence" else T.cos
    x, init, y0 = T.dtensor3("x"), T.dmatrix("init"), T.dtensor3("y0")

    def step(xt, ym2, ym1, acc):
        y = T.tanh(xt * 0.5 + ym2 * 0.3 + ym1 * 0.2)
        return y, acc + T.dot(f_t(xt).T, y)

    y, acc = _accumulate(step, x, init, y0)
    outputs = [y, acc[-1]]
    f = cgraph.function([x, init, y0], outputs)
    (node,) = _scans(f)
    assert node.op.n_states == 1 and _products_per_step(node) == 0
    for n in (5, 1):
        xv = RNG.normal(size=(n, 3, 4))
        initv, y0v = RNG.normal(size=(4, 4)), RNG.normal(size=(2, 3, 4))
        ys, accv = _numpy_accumulate(xv, initv, y0v, f_np)
        check([x, init, y0], outputs, [xv, initv, y0v], expected=[ys, accv])


def test_accumulators_that_stay_in_the_loop():
    """An accumulator whose every step is read, one whose product reads a state's past
    value (not a row of a stack), and one the loop reads: each stays a state."""
    x, init, y0 = T.dtensor3("x"), T.dmatrix("init"), T.dtensor3("y0")

    def step(xt, ym2, ym1, acc):
        y = T.tanh(xt * 0.5 + ym2 * 0.3 + ym1 * 0.2)
        return y, acc + T.dot(xt.T, y)

    y, acc = _accumulate(step, x, init, y0)
    xv = RNG.normal(size=(4, 3, 4))
    initv, y0v = RNG.normal(size=(4, 4)), RNG.normal(size=(2, 3, 4))
    ys, last = _numpy_accumulate(xv, initv, y0v, lambda v: v)
    f = cgraph.function([x, init, y0], acc)
    assert _scans(f)[0].op.n_states == 2
    got = check([x, init, y0], [acc], [xv, initv, y0v])[0]
    np.testing.assert_allclose(got[-1], last, rtol=1e-12)

    def past(xt, ym2, ym1, acc):
        y = T.tanh(xt * 0.5 + ym2 * 0.3 + ym1 * 0.2)
        return y, acc + T.dot(xt.T, ym1)

    def read(xt, ym2, ym1, acc):
        y = T.tanh(xt * 0.5 + ym2 * 0.3 + ym1 * 0.2 + acc.sum() * 1e-3)
        return y, acc + T.dot(xt.T, y)

    for step in (past, read):
        y, acc = _accumulate(step, x, init, y0)
        f = cgraph.function([x, init, y0], [y, acc[-1]])
        assert _scans(f)[0].op.n_states == 2
        ys, accs, prev = [], initv.copy(), list(y0v)
        for t in range(4):
            extra = accs.sum() * 1e-3 if step is read else 0.0
            yt = np.tanh(xv[t] * 0.5 + prev[-2] * 0.3 + prev[-1] * 0.2 + extra)
            accs = accs + xv[t].T @ (prev[-1] if step is past else yt)
            prev.append(yt)
            ys.append(yt)
        check([x, init, y0], [y, acc[-1]], [xv, initv, y0v], expected=[np.array(ys), accs])


def test_zero_steps_still_refused():
    x, init, y0 = T.dtensor3("x"), T.dmatrix("init"), T.dtensor3("y0")

    def step(xt, ym2, ym1, acc):
        y = T.tanh(xt * 0.5 + ym2 * 0.3 + ym1 * 0.2)
        return y, acc + T.dot(xt.T, y)

    y, acc = _accumulate(step, x, init, y0, n_steps=x.shape[0])
    check_error([x, init, y0], [acc[-1]], [np.zeros((0, 3, 4)), np.zeros((4, 4)),
                                          np.zeros((2, 3, 4))], NotImplementedError)


def test_initial_value_with_more_rows_than_the_tap():
    """A Scan built directly may hold more initial rows than its tap reads: the sum starts
    from the first row (the value at tap -1), as the loop did."""
    xt, acc = T.dmatrix("x_t"), T.dmatrix("acc")
    body = acc + T.dot(T.cos(xt).T, T.tanh(xt))
    op = Scan([xt, acc], [body], n_seqs=1, state_taps=[[-1]], n_nit_sot=0,
              state_modes=[LAST])
    x, init = T.dtensor3("x"), T.dtensor3("init")
    out = op(x.shape[0], x, init)
    f = cgraph.function([x, init], out)
    assert _scans(f)[0].op.n_states == 0
    xv, initv = RNG.normal(size=(4, 3, 2)), RNG.normal(size=(3, 2, 2))
    expected = initv[0] + sum(np.cos(v).T @ np.tanh(v) for v in xv)
    check([x, init], [out], [xv, initv], expected=[expected])
