"""scan: loops compiled into the function's C module, against numpy loops and the numpy
reference mode; backpropagation through time against finite differences and numpy."""
import re
import time
from collections import OrderedDict

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from cgraph.scan_module import Scan, until
from util import assert_clean_build, assert_same, check, check_error, numpy_bptt, numpy_rnn

pytestmark = pytest.mark.slow   # scan modules and numeric gradients

RNG = np.random.default_rng(1234)



def both(inputs, outputs, values, **kwargs):
    """The C results, after checking they equal the reference mode's and built cleanly."""
    return check(inputs, outputs, values, **kwargs)


# --- forward loops -----------------------------------------------------------------------

def test_cumulative_sum_power_series_and_polynomial():
    x = T.dvector("x")
    xf = T.fmatrix("xf")
    A = T.dmatrix("A")
    k = T.lscalar("k")
    coefs = T.dvector("coefs")
    z = T.dscalar("z")
    csum, _ = cgraph.scan(lambda v, acc: acc + v, sequences=x,
                          outputs_info=T.constant(0.0, dtype="float64"))
    # rows of a float32 matrix, accumulated in a float32 state
    rows, _ = cgraph.scan(lambda r, acc: acc + r, sequences=xf,
                          outputs_info=T.zeros_like(xf[0]))
    # A ** k elementwise, every power kept
    powers, _ = cgraph.scan(lambda prior, A: prior * A, outputs_info=T.ones_like(A),
                            non_sequences=A, n_steps=k)
    # sum_i coefs[i] * z ** i: a map over two sequences, then a sum
    terms, _ = cgraph.scan(lambda c, i, z: c * z ** i,
                           sequences=[coefs, T.arange(1000)], non_sequences=z)
    xv = RNG.normal(size=7)
    xfv = RNG.normal(size=(5, 3)).astype("float32")
    Av = RNG.normal(size=(2, 3))
    cv = RNG.normal(size=4)
    expected_powers = np.array([Av ** (i + 1) for i in range(4)])
    both([x, xf, A, k, coefs, z], [csum, rows, powers, terms, terms.sum()],
         [xv, xfv, Av, 4, cv, 0.5],
         expected=[np.cumsum(xv), np.cumsum(xfv, axis=0), expected_powers,
                   cv * 0.5 ** np.arange(4), np.polyval(cv[::-1], 0.5)])


def test_fibonacci_with_two_taps_and_state_taps():
    f0 = T.lvector("f0")
    n = T.lscalar("n")
    fib, _ = cgraph.scan(lambda a, b: a + b, n_steps=n,
                         outputs_info=[{"initial": f0, "taps": [-2, -1]}])
    # taps listed out of order and a far one: y[t] = y[t-3] - y[t-1]; initial rows beyond
    # the farthest tap are ignored (as in Theano)
    y0 = T.dmatrix("y0")
    far, _ = cgraph.scan(lambda a, b: a - b, n_steps=n,
                         outputs_info=[{"initial": y0, "taps": [-1, -3]}])
    expected = [1, 2, 3, 5, 8, 13, 21, 34]
    y0v = RNG.normal(size=(4, 2))
    ys = list(y0v[:3])
    for _ in range(8):
        ys.append(ys[-1] - ys[-3])
    both([f0, y0, n], [fib, far], [np.array([0, 1]), y0v, 8],
         expected=[np.array(expected), np.array(ys[3:])])


def test_sequence_taps_go_backwards_and_shortest_sequence():
    x = T.dvector("x")
    y = T.dvector("y")
    m = T.dmatrix("m")

    def step(prev, now, nxt, other):
        return prev + 10 * now + 100 * nxt + 1000 * other

    seqs = [{"input": x, "taps": [-1, 0, 1]}, y]
    fwd, _ = cgraph.scan(step, sequences=seqs)
    back, _ = cgraph.scan(step, sequences=seqs, go_backwards=True)
    # taps all ahead, all behind; matrix rows
    ahead, _ = cgraph.scan(lambda a, b: a - b, sequences=[{"input": x, "taps": [2, 3]}])
    behind, _ = cgraph.scan(lambda a: a, sequences=[{"input": x, "taps": -2}])
    rows, _ = cgraph.scan(lambda r, acc: acc + r.sum(), sequences=m,
                          outputs_info=T.constant(0.0, dtype="float64"), go_backwards=True)
    xv = np.arange(8.0)
    yv = np.arange(5.0) * 0.5          # shorter than x: five steps
    mv = RNG.normal(size=(3, 2))
    n = 5
    expect_fwd = [xv[t] + 10 * xv[t + 1] + 100 * xv[t + 2] + 1000 * yv[t] for t in range(n)]
    expect_back = [xv[5 - t] + 10 * xv[6 - t] + 100 * xv[7 - t] + 1000 * yv[4 - t]
                   for t in range(n)]
    both([x, y, m], [fwd, back, ahead, behind, rows], [xv, yv, mv],
         expected=[np.array(expect_fwd), np.array(expect_back), xv[2:7] - xv[3:8], xv[:6],
                   np.cumsum(mv.sum(axis=1)[::-1])])


def test_n_steps_symbolic_zero_steps_and_strided_inputs():
    n = T.lscalar("n")
    a = T.dvector("a")
    x = T.dmatrix("x")
    count, _ = cgraph.scan(lambda c: c + 1, outputs_info=T.constant(0, dtype="int64"),
                           n_steps=n)
    doubled, _ = cgraph.scan(lambda v: v * 2, outputs_info=a, n_steps=n)
    # n_steps with a sequence (a strided view): the first n rows
    mapped, _ = cgraph.scan(lambda r: r[::-1] * 3, sequences=x.T, n_steps=n)
    nit, _ = cgraph.scan(lambda: T.constant(np.ones(3)), n_steps=n)
    f_c = cgraph.function([n, a, x], [count, doubled, mapped, nit])
    f_py = cgraph.function([n, a, x], [count, doubled, mapped, nit], mode="py")
    assert_clean_build(f_c)
    av = RNG.normal(size=3)
    xv = RNG.normal(size=(6, 4))
    for steps in (1, 2):
        for xs in [xv, xv[::-1], xv[:, ::2]]:
            got, ref = f_c(steps, av, xs), f_py(steps, av, xs)
            for g, r in zip(got, ref):
                assert_same(g, r)
            assert_same(ref[0], np.arange(1, steps + 1))
            assert_same(ref[1], np.array([av * 2 ** (i + 1) for i in range(steps)]).reshape(
                steps, 3))
            if steps:
                assert_same(ref[2], xs.T[:steps, ::-1] * 3)
    assert got[3].shape == (2, 3)
    # zero steps: refused in both modes, as Theano's scan refuses them
    for f in (f_c, f_py):
        with pytest.raises(NotImplementedError, match="asked to run for 0 steps"):
            f(0, av, xv)


def test_nit_sot_several_outputs_and_return_list():
    x = T.dvector("x")
    h0 = T.dscalar("h0")

    def step(v, h):
        return [h + v, v * 2, T.cast(v > 0, "int8"), (h + v) * v]

    outs, updates = cgraph.scan(step, sequences=x, outputs_info=[h0, None, None, None])
    assert isinstance(outs, list) and len(outs) == 4 and updates == OrderedDict()
    # a single nit-sot output, as a list
    (single,), _ = cgraph.scan(lambda v: v - 1, sequences=x, return_list=True)
    xv = RNG.normal(size=6)
    h = 0.5 + np.cumsum(xv)
    both([x, h0], outs + [single], [xv, 0.5],
         expected=[h, xv * 2, (xv > 0).astype("int8"), h * xv, xv - 1])


def test_non_sequences_free_variables_and_shared_variables():
    x = T.dvector("x")
    a = T.dscalar("a")
    b = T.dscalar("b")            # used by fn without being passed
    w = cgraph.shared(np.array([1.0, 2.0, 3.0]), name="w")
    scale = b * 2                 # computed outside, read inside
    acc, upd = cgraph.scan(lambda v, s, a: s + v * a * w + scale, sequences=x,
                           outputs_info=T.zeros_like(w), non_sequences=a)
    assert len(upd) == 0
    xv = RNG.normal(size=4)
    expected = np.cumsum(xv[:, None] * 2.0 * np.array([1.0, 2, 3]) + 3.0, axis=0)
    both([x, a, b], acc, [xv, 2.0, 1.5], expected=expected)
    w.set_value(np.array([0.0, 0.0, 1.0]))
    f = cgraph.function([x, a, b], acc)
    expected = np.cumsum(xv[:, None] * 2.0 * np.array([0.0, 0, 1]) + 3.0, axis=0)
    assert_same(f(xv, 2.0, 1.5), expected)
    # strict=True: shared variables must be passed
    with pytest.raises(cgraph.MissingInputError, match="w.*non_sequences"):
        cgraph.scan(lambda v: v * w, sequences=x, strict=True)
    out, _ = cgraph.scan(lambda v, w: v * w, sequences=x, non_sequences=w, strict=True)
    assert_same(cgraph.function([x], out)(xv), xv[:, None] * np.array([0.0, 0, 1]))


def test_shared_updates_returned_by_fn():
    counter = cgraph.shared(np.array(0, dtype="int64"), name="counter")
    total = cgraph.shared(np.array(0.0), name="total")
    x = T.dvector("x")

    def step(v):
        return v * counter, OrderedDict([(counter, counter + 1), (total, total + v)])

    out, updates = cgraph.scan(step, sequences=x)
    assert list(updates) == [counter, total]
    xv = np.array([1.0, 2.0, 3.0])
    for mode in ("c", "py"):
        counter.set_value(np.array(0, dtype="int64"))
        total.set_value(np.array(0.0))
        f = cgraph.function([x], out, updates=updates, mode=mode)
        assert_same(f(xv), xv * np.arange(3.0))
        assert counter.get_value() == 3 and total.get_value() == 6.0
        assert_same(f(xv), xv * np.arange(3.0, 6.0))
        assert counter.get_value() == 6
    # updates only (returned first, as a list of pairs), no outputs
    nothing, updates = cgraph.scan(lambda: [(counter, counter * 2)], n_steps=3)
    assert nothing is None
    counter.set_value(np.array(1, dtype="int64"))
    cgraph.function([], [], updates=updates)()
    assert counter.get_value() == 8


def test_until_takes_a_condition_of_any_dtype():
    """A condition that is not bool stops the loop at its first nonzero value (-0.0 is
    zero), as the reference mode's truth test."""
    x = T.dvector("x")
    heads = [cgraph.scan(lambda v, dtype=dtype: (v * 10, until(T.cast(v, dtype))),
                         sequences=x)[0] for dtype in ("int8", "int32", "float32", "float64")]
    xv = np.array([-0.0, 0.0, 2.0, 5.0])
    for got in both([x], heads, [xv]):
        assert_same(got, np.array([-0.0, 0.0, 20.0]))


def test_until_while_loop():
    limit = T.dscalar("limit")
    x = T.dvector("x")

    def doubling(v, limit):
        new = v * 2
        return new, until(new > limit)

    powers, _ = cgraph.scan(doubling, outputs_info=T.constant(1.0, dtype="float64"),
                            non_sequences=limit, n_steps=50)

    # with a sequence, a nit-sot output and updates: stops at the first negative value
    seen = cgraph.shared(np.array(0, dtype="int64"), name="seen")

    def until_negative(v):
        return [v * 10], {seen: seen + 1}, until(v < 0)

    head, updates = cgraph.scan(until_negative, sequences=x)
    xv = np.array([3.0, 1.0, -2.0, 5.0, -1.0])
    for mode in ("c", "py"):
        seen.set_value(np.array(0, dtype="int64"))
        f = cgraph.function([limit, x], [powers, head], updates=updates, mode=mode)
        if mode == "c":
            assert_clean_build(f)
        got = f(100.0, xv)
        assert_same(got[0], 2.0 ** np.arange(1, 8))
        assert_same(got[1], np.array([30.0, 10.0, -20.0]))
        assert seen.get_value() == 3
        got = f(0.5, xv[:2])             # never stops early: n_steps (or the sequence) ends it
        assert_same(got[0], np.array([2.0]))
        assert_same(got[1], np.array([30.0, 10.0]))




def _rnn(x, h0, W, U, b, **kwargs):
    h, _ = cgraph.scan(lambda xt, hp, W, U, b: T.tanh(T.dot(xt, W) + T.dot(hp, U) + b),
                       sequences=x, outputs_info=h0, non_sequences=[W, U, b], **kwargs)
    return h


def _rnn_values(n, batch, n_in, hidden, dtype="float64", rng=RNG):
    return [rng.normal(size=(n, batch, n_in)).astype(dtype),
            rng.normal(size=(batch, hidden)).astype(dtype),
            (rng.normal(size=(n_in, hidden)) / np.sqrt(n_in)).astype(dtype),
            (rng.normal(size=(hidden, hidden)) / np.sqrt(hidden)).astype(dtype),
            rng.normal(size=hidden).astype(dtype) * 0.1]


def test_rnn_forward_against_numpy():
    x, h0, W, U, b = T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("W"), T.dmatrix("U"), \
        T.dvector("b")
    values = _rnn_values(100, 16, 32, 64)
    h = _rnn(x, h0, W, U, b)
    both([x, h0, W, U, b], [h, h[-1]], values,
         expected=[numpy_rnn(*values), numpy_rnn(*values)[-1]])
    # float32 too
    xf, h0f, Wf, Uf = T.ftensor3("x"), T.fmatrix("h0"), T.fmatrix("W"), T.fmatrix("U")
    bf = T.fvector("b")
    values32 = [v.astype("float32") for v in values]
    hf = _rnn(xf, h0f, Wf, Uf, bf)
    (got,) = both([xf, h0f, Wf, Uf, bf], [hf], values32, rtol=1e-4)
    np.testing.assert_allclose(got, numpy_rnn(*values), rtol=1e-4, atol=1e-4)


def test_the_loop_runs_in_c():
    """The generated C holds the loop and the step function; the time per step does not
    include a Python call (1000 steps cost far less than 1000 calls)."""
    n = T.lscalar("n")
    h0 = T.dvector("h0")
    out, _ = cgraph.scan(lambda h: T.tanh(h) * 0.5 + 0.1, outputs_info=h0, n_steps=n,
                         name="loop")
    f = cgraph.function([n, h0], out[-1])
    src = f.c_source
    step = re.search(r"static int (scan_step_loop\w*)\(const cg_array \*cg_in", src)
    assert step is not None
    # the runtime's loop (cg_scan) calls the module's step function
    assert re.search(rf"cg_scan\(&cg_loop, cg_ins, cg_outs, cg_dests, {step.group(1)},", src)
    hv = np.ones(10)
    ref = hv
    for _ in range(1000):
        ref = np.tanh(ref) * 0.5 + 0.1
    assert_same(f(1000, hv), ref)

    def best(steps, repeat=30):
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            f(steps, hv)
            times.append(time.perf_counter() - t0)
        return min(times)

    one, thousand = best(1), best(1000)
    # a Python-level step would cost at least ~1000 function calls (> 1 ms)
    assert thousand - one < 1e-3, (one, thousand)


def test_random_streams_inside_the_loop():
    from cgraph.tensor.shared_randomstreams import RandomStreams
    for mode in ("c", "py"):
        srng = RandomStreams(seed=7)
        out, updates = cgraph.scan(lambda acc: acc + srng.uniform((3,)),
                                   outputs_info=T.zeros((3,)), n_steps=4)
        assert len(updates) == 1
        f = cgraph.function([], out, updates=updates, mode=mode)
        first, second = f(), f()
        # the same stream drawn outside the loop, 8 times
        outside = RandomStreams(seed=7)
        draw = cgraph.function([], outside.uniform((3,)), mode=mode)
        draws = np.array([draw() for _ in range(8)])
        assert_same(first, np.cumsum(draws[:4], axis=0), rtol=1e-12)
        assert_same(second, np.cumsum(draws[4:], axis=0), rtol=1e-12)


def test_gradient_through_random_draws_in_the_body():
    """Dropout inside the loop: the backward loop sees the same masks as the forward one
    (it reads the stream's state of each step)."""
    from cgraph.tensor.shared_randomstreams import RandomStreams
    srng = RandomStreams(seed=5)
    x, W = T.dmatrix("x"), T.dmatrix("W")

    def step(xt, h, W):
        return T.tanh(T.dot(xt, W) + h) * (srng.uniform((3,)) < 0.5)

    h, updates = cgraph.scan(step, sequences=x, outputs_info=T.zeros((3,)), non_sequences=W)
    g = cgraph.grad(None, W, known_grads={h: T.ones_like(h)})
    xv, Wv = RNG.normal(size=(4, 2)), RNG.normal(size=(2, 3))
    (state,) = updates
    start = state.get_value()
    f = cgraph.function([x, W], [h, g], updates=updates)
    hv, gv = f(xv, Wv)
    assert (hv == 0).any() and (hv != 0).any()
    forward = cgraph.function([x, W], h.sum(), updates=updates)
    numeric = np.zeros_like(Wv)
    for i in np.ndindex(Wv.shape):
        d = np.zeros_like(Wv)
        d[i] = 1e-6
        state.set_value(start)
        plus = forward(xv, Wv + d)
        state.set_value(start)
        numeric[i] = (plus - forward(xv, Wv - d)) / 2e-6
    np.testing.assert_allclose(gv, numeric, atol=1e-7)


# --- errors ----------------------------------------------------------------------------

def test_build_errors():
    h32 = T.fvector("h32")
    with pytest.raises(ValueError, match=r"outputs_info\[0\] \(h32\) has dtype float64 but "
                                         r"its initial value has dtype float32.*T.cast"):
        cgraph.scan(lambda h: h * np.float64(2), outputs_info=h32, n_steps=3)
    h = T.dvector("h")
    with pytest.raises(ValueError, match=r"outputs_info\[0\] \(h\) has 0 dimension"):
        cgraph.scan(lambda v: v.sum(), outputs_info=h, n_steps=3)
    with pytest.raises(ValueError, match="No information about the number of steps"):
        cgraph.scan(lambda v: v * 2, outputs_info=h)
    with pytest.raises(ValueError, match="must be smaller than 0"):
        cgraph.scan(lambda a: a, outputs_info={"initial": h, "taps": [0]}, n_steps=2)
    with pytest.raises(ValueError, match="taps must be different"):
        cgraph.scan(lambda a, b: a, outputs_info={"initial": T.dmatrix(), "taps": [-1, -1]},
                    n_steps=2)
    with pytest.raises(ValueError, match="need to provide a initial state"):
        cgraph.scan(lambda a: a, outputs_info={"taps": [-1]}, n_steps=2)
    with pytest.raises(ValueError, match=r"fn returned 2 output\(s\) but outputs_info has 1"):
        cgraph.scan(lambda a: [a, a], outputs_info=[h], n_steps=2)
    with pytest.raises(ValueError, match="n_steps must be an int"):
        cgraph.scan(lambda a: a, outputs_info=h, n_steps=T.dscalar("n"))
    with pytest.raises(ValueError, match="n_steps is -2"):
        cgraph.scan(lambda a: a, outputs_info=h, n_steps=-2)
    with pytest.raises(ValueError, match="may only be made of lists, tuples, or dictionaries"):
        cgraph.scan(lambda a: [a, 1.0], sequences=h)
    with pytest.raises(TypeError, match="not a shared variable"):
        cgraph.scan(lambda a: (a, {h: a}), sequences=h)
    with pytest.raises(ValueError, match="rows along axis 0, but its taps"):
        cgraph.scan(lambda a, b: a + b, n_steps=2,
                    outputs_info={"initial": T.constant(np.zeros((1, 2))), "taps": [-2, -1]})


def test_runtime_errors():
    x = T.dvector("x")
    n = T.lscalar("n")
    y0 = T.dvector("y0")
    h0 = T.dvector("h0")
    doubled, _ = cgraph.scan(lambda v: v * 2, sequences=x, n_steps=n)
    check_error([x, n], doubled, [np.arange(3.0), 5], ValueError,
                match=r"sequences\[0\] \(x\) has 3 steps along axis 0 but the loop needs 5")
    check_error([x, n], doubled, [np.arange(3.0), -1], IndexError,
                match="negative number of steps: n_steps = -1")
    fib, _ = cgraph.scan(lambda a, b: a + b, n_steps=n,
                         outputs_info={"initial": y0, "taps": [-3, -1]})
    check_error([y0, n], fib, [np.arange(2.0), 4], ValueError,
                match=r"initial value of outputs_info\[0\] \(y0\) has 2 rows.*taps \[-3, -1\]")
    grows, _ = cgraph.scan(lambda h: T.concatenate([h, h]), outputs_info=h0, n_steps=n)
    check_error([h0, n], grows, [np.ones(2), 3], ValueError,
                match=r"outputs_info\[0\] \(h0\) has shape \(4,\) but its initial value has "
                      r"shape \(2,\).*at step 0")
    lengths = T.lvector("lengths")
    ragged, _ = cgraph.scan(lambda v: T.arange(v), sequences=lengths)
    check_error([lengths], ragged, [np.array([2, 2, 3])], ValueError,
                match=r"output 0 of fn has shape \(3,\) but it had shape \(2,\) at step 0.*"
                      r"at step 2")
    # an error inside the body names the body's op and the step
    m = T.dmatrix("m")
    rows = T.dmatrix("rows")
    bad, _ = cgraph.scan(lambda r, m: T.dot(m, r), sequences=rows, non_sequences=m)
    check_error([rows, m], bad, [np.ones((4, 3)), np.ones((2, 2))], ValueError,
                match=r"(?s)dot.*at step 0 of scan")


# --- gradients -------------------------------------------------------------------------



def test_rnn_gradient_against_numpy_bptt_and_truncation():
    x, h0, W, U, b = T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("W"), T.dmatrix("U"), \
        T.dvector("b")
    G = T.dtensor3("G")
    values = _rnn_values(9, 3, 4, 5)
    Gv = RNG.normal(size=(9, 3, 5))
    outputs = []
    for truncate in (-1, 4):
        h = _rnn(x, h0, W, U, b, truncate_gradient=truncate)
        outputs += cgraph.grad(None, [x, h0, W, U, b], known_grads={h: G})
    expected = numpy_bptt(*values, Gv) + numpy_bptt(*values, Gv, truncate=4)
    both([x, h0, W, U, b, G], outputs, values + [Gv], expected=expected)


def test_rnn_gradient_by_finite_differences():
    values = _rnn_values(5, 2, 3, 4)

    def loss(x, h0, W, U, b):
        h = _rnn(x, h0, W, U, b)
        return (h * h).sum() + h[-1].sum()

    verify_grad(loss, values, rng=np.random.default_rng(0))
    verify_grad(loss, values, rng=np.random.default_rng(0), mode="py", n_tests=1)


def test_gradient_taps_go_backwards_nit_sot_and_while():
    """Gradients through a two-tap state, a three-tap sequence read backwards, a nit-sot
    output and a shared parameter, by finite differences."""
    coef = cgraph.shared(np.array([0.5, -0.3]), name="coef")
    values = [RNG.normal(size=(7, 2)), RNG.normal(size=(3, 2)), RNG.normal(size=2)]

    def fn(x, y0, c):
        def step(xm, x0, xp, ym2, ym1, c):
            y = coef[0] * ym2 + coef[1] * T.tanh(ym1) + xm * x0 - xp * c
            return y, (y * ym1).sum()

        (y, side), _ = cgraph.scan(
            step, sequences={"input": x, "taps": [-1, 0, 1]},
            outputs_info=[{"initial": y0, "taps": [-2, -1]}, None],
            non_sequences=c, go_backwards=True)
        return y.sum() * 0.3 + (side ** 2).sum()

    verify_grad(fn, values, rng=np.random.default_rng(1), n_tests=1)

    def while_loop(a, v0):
        out, _ = cgraph.scan(lambda v, a: (v * a + 1, until(v.sum() > 10)),
                             outputs_info=v0, non_sequences=a, n_steps=20)
        return out

    verify_grad(while_loop, [np.array(1.3), np.array([0.5, 0.2])],
                rng=np.random.default_rng(2), n_tests=1)


def test_only_the_last_step_is_kept_when_only_it_is_read():
    n = T.lscalar("n")
    h0 = T.dvector("h0")
    total = cgraph.shared(np.array(0.0), name="total")
    h, _ = cgraph.scan(lambda v: v * 0.5 + 1, outputs_info=h0, n_steps=n)
    _, updates = cgraph.scan(lambda: {total: total + 2}, n_steps=n)

    def modes(f):
        return [node.op.state_modes for node in f.nodes if isinstance(node.op, Scan)]

    hv = np.array([1.0, 3.0])
    expected = hv
    for _ in range(6):
        expected = expected * 0.5 + 1
    for mode in ("c", "py"):
        total.set_value(np.array(0.0))
        f = cgraph.function([n, h0], h[-1], updates=updates, mode=mode)
        assert modes(f) == [("last",), ("last",)]
        assert_same(f(6, hv), expected)
        assert total.get_value() == 12.0
        if mode == "c":
            assert_clean_build(f)
            # a ring of lag + 1 = two rows instead of n + 1 (kind, rank, size, lag)
            assert "{ CG_SCAN_LAST, 2, sizeof(double), 1," in f.c_source
    # when every step is read too, every step is kept (without the initial rows, which only
    # the loop reads: see test_scan_into_rows.py)
    f = cgraph.function([n, h0], [h, h[-1]])
    assert modes(f) == [("steps",)]


def test_loops_differing_only_in_their_body_get_their_own_modules():
    x = T.fvector("x")
    xv = np.array([0.5, -1.0], dtype="float32")
    for fn, reference in [(T.tanh, np.tanh), (T.nnet.sigmoid, lambda v: 1 / (1 + np.exp(-v)))]:
        out, _ = cgraph.scan(fn, sequences=x)
        assert_same(cgraph.function([x], out)(xv), reference(xv).astype("float32"))
