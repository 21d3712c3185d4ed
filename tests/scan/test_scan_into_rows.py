"""A scan step writes its results straight into the rows of the scan's buffers
(cg_pool_dest, see templates/inner_function.c.j2): values against numpy and the reference
mode, with 0 and 1 steps, taps, several outputs, a result read again in the same step,
and results whose shape differs from the row's (copied path, or a clear error). The
"steps" mode (scan_rewrite.keep_steps_apart): the initial rows apart, the steps' buffer
handed over as the output."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from cgraph.scan_module import Scan, until
from cgraph.tensor.subtensor import Subtensor
from util import check, check_error, numpy_rnn

pytestmark = pytest.mark.slow   # scan modules

RNG = np.random.default_rng(77)


def _rnn(dtype):
    x = T.tensor3("x", dtype=dtype)
    h0 = T.matrix("h0", dtype=dtype)
    W = T.matrix("W", dtype=dtype)
    U = T.matrix("U", dtype=dtype)
    b = T.vector("b", dtype=dtype)
    hs, _ = cgraph.scan(lambda x_t, h: T.tanh(T.dot(x_t, W) + T.dot(h, U) + b),
                        sequences=x, outputs_info=h0)
    return [x, h0, W, U, b], hs


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("steps", [0, 1, 5])
def test_rnn_rows_written_in_place(dtype, steps):
    inputs, hs = _rnn(dtype)
    f = cgraph.function(inputs, hs)
    assert "pool.dest_of = &" in f.c_source     # the step asks for its row
    values = [RNG.standard_normal(s).astype(dtype)
              for s in [(steps, 3, 4), (3, 5), (4, 5), (5, 5), (5,)]]
    if steps == 0:   # refused in both modes, as in Theano
        check_error(inputs, hs, values, NotImplementedError, match="0 steps")
        return
    tol = 1e-5 if dtype == "float32" else 1e-12
    got = check(inputs, hs, values, rtol=tol)[0]
    assert got.shape == (steps, 3, 5)
    np.testing.assert_allclose(got, numpy_rnn(*values), rtol=tol, atol=tol)


def test_taps_several_outputs_and_a_result_read_again():
    """Two taps back; the state is also an input of a second (nit-sot) result and of a
    second state; a result returned twice; the last-row-only ("last") mode."""
    y0 = T.dmatrix("y0")
    z0 = T.dvector("z0")
    n = T.lscalar("n")
    M = T.dmatrix("M")

    def step(y2, y1, z):
        y = T.tanh(T.dot(y1, M) + y2)       # written into its row, then read again below
        return [y, z + y.sum(axis=0), y * 2.0, y]

    outs, _ = cgraph.scan(step, n_steps=n,
                          outputs_info=[{"initial": y0, "taps": [-2, -1]}, z0, None, None])
    y0v = RNG.standard_normal((2, 3))
    z0v = RNG.standard_normal(3)
    Mv = RNG.standard_normal((3, 3)) * 0.5
    for steps in (1, 4):
        got = check([y0, z0, n, M], outs + [outs[1][-1]], [y0v, z0v, steps, Mv])
        ys, z = [y0v[0], y0v[1]], z0v
        for _ in range(steps):
            y = np.tanh(ys[-1] @ Mv + ys[-2])
            ys.append(y)
            z = z + y.sum(axis=0)
        np.testing.assert_allclose(got[0], np.array(ys[2:]), rtol=1e-12)
        np.testing.assert_allclose(got[2], 2 * np.array(ys[2:]), rtol=1e-12)
        np.testing.assert_allclose(got[3], np.array(ys[2:]), rtol=1e-12)
        np.testing.assert_allclose(got[4], z, rtol=1e-12)


def test_a_result_of_another_shape_is_an_error_not_a_write():
    """A step result with the row's number of elements but another shape, or fewer
    elements, is never written into the row: the call fails naming the output."""
    h0 = T.dmatrix("h0")
    n = T.lscalar("n")
    eye = T.dmatrix("eye")
    transposed, _ = cgraph.scan(lambda h: T.dot(h.T, eye), outputs_info=h0, n_steps=n)
    check_error([h0, eye, n], transposed, [np.ones((2, 3)), np.eye(2), 2], ValueError,
                match=r"has shape \(3, 2\) but its initial value has shape \(2, 3\)")
    shrinks, _ = cgraph.scan(lambda h: T.tanh(h[1:]), outputs_info=h0, n_steps=n)
    check_error([h0, n], shrinks, [np.ones((2, 3)), 2], ValueError,
                match=r"has shape \(1, 3\) but its initial value has shape \(2, 3\)")


# --- "steps" mode: the initial rows kept apart, the steps a buffer of their own ----------

def _modes(f):
    return [node.op.state_modes for node in f.nodes if isinstance(node.op, Scan)]


def test_steps_mode_when_only_the_steps_are_read():
    """outputs = buf[lag:] (what scan returns) read alone: "steps" mode, values as numpy,
    with 1 and several steps and taps reaching 1 and 3 rows back, the state also read at
    its last step; the steps' buffer is the output itself (no Subtensor after the loop)."""
    y0 = T.dmatrix("y0")
    n = T.lscalar("n")

    def step(y3, y1):
        return T.tanh(y1 * 0.5 + y3)

    ys, _ = cgraph.scan(step, n_steps=n, outputs_info={"initial": y0, "taps": [-3, -1]})
    outs = [ys, ys[-1], ys.sum(axis=0)]
    f = cgraph.function([y0, n], outs)
    assert _modes(f) == [("steps",)]
    assert not any(isinstance(node.op, Subtensor) and
                   node.op.idx_list == (("slice", 3, None, None),) for node in f.nodes)
    y0v = RNG.standard_normal((3, 4))
    for steps in (1, 2, 7):
        got = check([y0, n], outs, [y0v, steps])
        rows = list(y0v)
        for _ in range(steps):
            rows.append(np.tanh(rows[-1] * 0.5 + rows[-3]))
        np.testing.assert_allclose(got[0], np.array(rows[3:]), rtol=1e-12)
        np.testing.assert_allclose(got[1], rows[-1], rtol=1e-12)


def test_steps_mode_with_a_while_loop_and_the_whole_buffer_elsewhere():
    """until() stops early (the output is a prefix of the steps' buffer: copied); a state
    whose whole buffer is read too stays "full"."""
    h0 = T.dvector("h0")
    g0 = T.dvector("g0")
    n = T.lscalar("n")

    def step(h, g):
        h2 = h * 2.0
        return [h2, g + 1.0], until(T.max(h2) > 50)

    (hs, gs), _ = cgraph.scan(step, outputs_info=[h0, g0], n_steps=n)
    g_buf = gs.owner.inputs[0]     # the whole buffer, initial row first
    f = cgraph.function([h0, g0, n], [hs, g_buf])
    assert _modes(f) == [("steps", "full")]
    got = check([h0, g0, n], [hs, g_buf], [np.array([1.0, 3.0]), np.zeros(2), 20])
    assert got[0].shape == (5, 2) and got[1].shape == (6, 2)
    np.testing.assert_allclose(got[0][:, 1], 3.0 * 2.0 ** np.arange(1, 6))


def test_gradient_through_a_loop_whose_steps_are_kept_apart():
    x = T.dmatrix("x")
    h0 = T.dvector("h0")
    W = T.dmatrix("W")
    hs, _ = cgraph.scan(lambda x_t, h: T.tanh(T.dot(h, W) + x_t), sequences=x,
                        outputs_info=h0)
    f = cgraph.function([x, h0, W], hs)
    assert _modes(f) == [("steps",)]
    rng = np.random.default_rng(8)
    verify_grad(lambda x, h0, W: cgraph.scan(
        lambda x_t, h: T.tanh(T.dot(h, W) + x_t), sequences=x, outputs_info=h0)[0].sum(),
        [rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal((3, 3)) / 2],
        rng=rng)
