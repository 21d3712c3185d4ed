"""Products of a transposed non-sequence in a loop's body (``dot(a_t, W.T)``, the backward
loop's ``d_t U^T``) read a contiguous copy of ``W.T`` made once before the loop
(scan_pushout.copy_transposed_non_sequences), against numpy and the reference mode."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from cgraph.scan_module import Scan, until
from cgraph.tensor.blas import Dot
from cgraph.tensor.elemwise import DimShuffle, Elemwise
from util import check, check_error, numpy_bptt, rnn_scan as _rnn

pytestmark = pytest.mark.slow   # scan modules and numeric gradients

RNG = np.random.default_rng(73)


def _values(n, batch, n_in, hidden, dtype="float64"):
    values = [RNG.normal(size=(n, batch, n_in)), RNG.normal(size=(batch, hidden)),
              RNG.normal(size=(n_in, hidden)) / np.sqrt(n_in),
              RNG.normal(size=(hidden, hidden)) / np.sqrt(hidden), RNG.normal(size=hidden) * 0.1]
    return [v.astype(dtype) for v in values]


def _scans(f):
    return [node for node in f.nodes if isinstance(node.op, Scan)]


def _transposed_non_sequence_products(node):
    """The body's products with an operand that is a transposed non-sequence."""
    outs, nodes = node.op.optimized
    non_seqs = set(node.op.split_inner_inputs()[2])
    found = 0
    for inner in nodes:
        if isinstance(inner.op, Dot) or type(inner.op).__name__.startswith("Gemm"):
            for v in inner.inputs:
                owner = v.owner
                found += owner is not None and isinstance(owner.op, DimShuffle) and \
                    owner.op.new_order == (1, 0) and owner.inputs[0] in non_seqs
    return found


def _copies_before(node):
    """The loop's distinct inputs made by an elementwise identity (the copies)."""
    return {v for v in node.inputs if v.owner is not None and isinstance(v.owner.op, Elemwise)
            and v.owner.op.scalar_op.name == "identity"}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n, batch", [(6, 3), (1, 2), (4, 1)])
def test_rnn_gradients_read_u_transposed_once(dtype, n, batch):
    x, h0 = T.tensor3("x", dtype=dtype), T.matrix("h0", dtype=dtype)
    W, U, b = T.matrix("W", dtype=dtype), T.matrix("U", dtype=dtype), T.vector("b", dtype=dtype)
    G = T.tensor3("G", dtype=dtype)
    h = _rnn(x, h0, W, U, b)
    grads = cgraph.grad((h * G).sum(), [x, h0, W, U, b])
    f = cgraph.function([x, h0, W, U, b, G], grads)
    (backward,) = [node for node in _scans(f) if "grad" in (node.op.name or "")]
    # d_t U^T and x's gradient d_t W^T: both read copies made before the loop
    assert _transposed_non_sequence_products(backward) == 0
    assert len(_copies_before(backward)) == 2
    values = _values(n, batch, 4, 5, dtype)
    Gv = RNG.normal(size=(n, batch, 5)).astype(dtype)
    rtol = 1e-4 if dtype == "float32" else None
    got = check([x, h0, W, U, b, G], grads, values + [Gv],
                expected=numpy_bptt(*values, Gv), rtol=rtol)
    assert [g.dtype for g in got] == [dtype] * 5


def test_truncated_gradient_and_finite_differences():
    x, h0, W, U, b = (T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("W"), T.dmatrix("U"),
                      T.dvector("b"))
    h = _rnn(x, h0, W, U, b, truncate_gradient=2)
    G = T.dtensor3("G")
    grads = cgraph.grad((h * G).sum(), [h0, W, U, b])
    values = _values(5, 2, 3, 4)
    Gv = RNG.normal(size=(5, 2, 4))
    check([x, h0, W, U, b, G], grads, values + [Gv],
          expected=numpy_bptt(*values, Gv, truncate=2)[1:])

    def loss(x, h0, W, U, b):
        return (_rnn(x, h0, W, U, b) ** 2).sum()
    verify_grad(loss, _values(4, 2, 3, 4), rng=np.random.default_rng(7), n_tests=1)


def test_hand_written_loop_with_taps_and_several_outputs():
    """dot(y_tm1, W.T) and dot(x_t, W) of one non-sequence, W not square, twice each;
    a two-tap state, an output not fed back; W.T is copied once, W still passed."""
    x, y0, W = T.dtensor3("x"), T.dtensor3("y0"), T.dmatrix("W")

    def step(xt, ym2, ym1, W):
        back = T.dot(ym1, W.T)                     # (batch, n_in)
        y = T.tanh(T.dot(xt + back * 0.5, W) + ym2 * 0.3)
        return y, T.dot(y, W.T).sum(axis=1) + T.dot(ym2, W.T).sum(axis=1)

    (y, s), _ = cgraph.scan(step, sequences=x, non_sequences=W,
                            outputs_info=[{"initial": y0, "taps": [-2, -1]}, None])
    f = cgraph.function([x, y0, W], [y, s])
    (node,) = _scans(f)
    assert _transposed_non_sequence_products(node) == 0
    assert len(_copies_before(node)) == 1
    xv, y0v, Wv = RNG.normal(size=(5, 2, 3)), RNG.normal(size=(2, 2, 4)), RNG.normal(size=(3, 4))
    ys, ss, prev = [], [], list(y0v)
    for t in range(5):
        back = prev[-1] @ Wv.T
        yt = np.tanh((xv[t] + back * 0.5) @ Wv + prev[-2] * 0.3)
        ss.append((yt @ Wv.T).sum(axis=1) + (prev[-2] @ Wv.T).sum(axis=1))
        ys.append(yt)
        prev.append(yt)
    check([x, y0, W], [y, s], [xv, y0v, Wv], expected=[np.array(ys), np.array(ss)])


def test_while_loop_and_zero_steps():
    x, W = T.dmatrix("x"), T.dmatrix("W")

    def step(xt, h, W):
        new = T.tanh(T.dot(h, W.T) + xt)
        return new, until(new.sum() > 1.0)

    h, _ = cgraph.scan(step, sequences=x, outputs_info=T.zeros_like(x[0]), non_sequences=W)
    f = cgraph.function([x, W], h)
    assert len(_copies_before(_scans(f)[0])) == 1
    xv, Wv = np.abs(RNG.normal(size=(6, 3))) * 0.4, RNG.normal(size=(3, 3)) * 0.5
    hs, hv = [], np.zeros(3)
    for t in range(6):
        hv = np.tanh(hv @ Wv.T + xv[t])
        hs.append(hv)
        if hv.sum() > 1.0:
            break
    check([x, W], [h], [xv, Wv], expected=[np.array(hs)])

    n = T.lscalar("n")
    h2, _ = cgraph.scan(lambda hp, W: T.tanh(T.dot(hp, W.T)), outputs_info=x[0],
                        non_sequences=W, n_steps=n)
    check_error([x, W, n], [h2], [xv, Wv, 0], NotImplementedError)
