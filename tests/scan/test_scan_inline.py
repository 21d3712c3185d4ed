"""A scan of one constant step is replaced by its body (scan_module/scan_inline.py): the same
values as the loop (the same scan given n_steps as a symbolic scalar fed 1, never inlined,
and the py reference, which runs the loop), the same random draws and random states, the
same gradients; loops of other step counts stay loops."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from cgraph.scan_module import Scan, until
from cgraph.tensor.shared_randomstreams import RandomStreams
from util import assert_clean_build, assert_same, load_example

pytestmark = pytest.mark.slow   # scan modules

rng = np.random.default_rng(7)


def scans_in(f):
    return [n for n in f.nodes if isinstance(n.op, Scan)]


def compare(inputs, build, values):
    """``build(n_steps)`` -> outputs, or (outputs, updates), built with n_steps=1 (inlined, in
    C), with a symbolic n_steps fed 1 (a loop, in C) and n_steps=1 in py mode: every result
    equal, and the updated shared variables (random states...: each build makes its own,
    from the same seeds) equal after the call."""
    n = T.lscalar("n")
    results = []
    for n_steps, mode in ((1, "c"), (n, "c"), (1, "py")):
        built = build(n_steps)
        outs, updates = built if isinstance(built, tuple) else (built, {})
        ins = inputs + ([n] if n_steps is n else [])
        f = cgraph.function(ins, outs, updates=updates, mode=mode)
        if mode == "c":
            assert bool(scans_in(f)) == (n_steps is n)
            assert_clean_build(f)
        start = [s.get_value() for s in updates]
        got = f(*(values + ([1] if n_steps is n else [])))
        after = [s.get_value() for s in updates]
        assert all(not np.array_equal(a, b) for a, b in zip(start, after))  # states moved on
        results.append((got, after))
    (got, states), others = results[0], results[1:]
    for ref, ref_states in others:
        for k, (g, r) in enumerate(zip(got, ref)):
            assert_same(g, r, what=f"output {k}")
        assert len(states) == len(ref_states)
        for g, r in zip(states, ref_states):
            np.testing.assert_array_equal(g, r)
    return got


def test_sequences_states_non_sequences_and_outputs():
    x, y, h0, hh, w = T.matrix("x"), T.vector("y"), T.vector("h0"), T.matrix("hh"), T.vector("w")

    def step(x_m1, x_t, x_p2, y_t, h_m2, h_m1, g_m1, w):
        h = T.tanh(x_m1 + 2 * x_t - x_p2 + h_m2 * h_m1 * w)
        return [h, g_m1 + y_t * h.sum(), h * w]

    def build(n_steps):
        outs = []
        for backwards in (False, True):
            (h, g, nit), _ = cgraph.scan(
                step, sequences=[dict(input=x, taps=[-1, 0, 2]), y],
                outputs_info=[dict(initial=hh, taps=[-2, -1]), h0.sum(), None],
                non_sequences=[w], n_steps=n_steps, go_backwards=backwards)
            outs += [h, h[-1], h[0], g, g[-1], nit, nit[0], nit[-1][1:], h[-1:], g[::-1],
                     nit[-5:], h[:, 1]]
        return outs

    X, Y, H0 = rng.normal(size=(6, 3)), rng.normal(size=4), rng.normal(size=3)
    HH, W = rng.normal(size=(4, 3)), rng.normal(size=3)
    got = compare([x, y, h0, hh, w], build, [X, Y, H0, HH, W])
    # by hand: step 0 reads x[0], x[1], x[3], y[0], hh[0], hh[1] (forward:
    # the initial value's first rows are the steps before the first)
    h = np.tanh(X[0] + 2 * X[1] - X[3] + HH[0] * HH[1] * W)
    assert_same(got[0], h[None])
    assert_same(got[3], np.array([H0.sum() + Y[0] * h.sum()]))
    # backwards: the last rows of the sliced sequences
    hb = np.tanh(X[2] + 2 * X[3] - X[5] + HH[0] * HH[1] * W)
    assert_same(got[12], hb[None])


def test_random_streams_in_the_body():
    """Same samples and same next random states as the loop, given the same seeds."""
    x, w = T.matrix("x"), T.matrix("w")

    def step(v, w, srng):
        h = T.nnet.sigmoid(T.dot(v, w))
        hs = srng.binomial(size=h.shape, n=1, p=h, dtype=v.dtype)
        v2 = T.nnet.sigmoid(T.dot(hs, w.T))
        return [h, srng.normal(size=v2.shape) * v2, v2]

    def build(n_steps):
        srng = RandomStreams(1234)
        (h, noisy, v), updates = cgraph.scan(lambda v, w: step(v, w, srng),
                                             outputs_info=[None, None, x],
                                             non_sequences=[w], n_steps=n_steps)
        assert len(updates) == 2
        return [h[-1], noisy, v[-1], v], updates

    got = compare([x, w], build, [rng.random((3, 5)), rng.normal(size=(5, 4))])
    assert got[0].shape == (3, 4)


def test_until_and_gradient():
    """A one-step while loop runs its step whatever the condition; gradients through the
    inlined loop match finite differences and the loop's."""
    x0, w = T.vector("x0"), T.matrix("w")

    def build(n_steps):
        out, _ = cgraph.scan(lambda h, w: (T.tanh(T.dot(w, h)), until(h.sum() > 100)),
                             outputs_info=[x0], non_sequences=[w], n_steps=n_steps)
        cost = (out[-1] ** 2).sum()
        return [out, cost] + T.grad(cost, [x0, w])

    X0, W = rng.normal(size=3), rng.normal(size=(3, 3))
    got = compare([x0, w], build, [X0, W])
    assert_same(got[0], np.tanh(W @ X0)[None])

    def last_step(x0, w):
        out, _ = cgraph.scan(lambda h, w: T.tanh(T.dot(w, h)), outputs_info=[x0],
                             non_sequences=[w], n_steps=1)
        return out[-1]

    verify_grad(last_step, [X0, W])


def test_two_steps_stay_a_loop():
    x0 = T.vector("x0")
    out, _ = cgraph.scan(lambda h: h * 2, outputs_info=[x0], n_steps=2)
    f = cgraph.function([x0], out[-1])
    assert scans_in(f)
    assert_same(f(np.ones(3)), np.full(3, 4.0))


def test_rbm_cd1_step_has_no_loop_and_four_matrix_products():
    """The RBM CD-1 step (examples/rbm.py): no Scan, four matrix-matrix products (the
    hidden sample of the last Gibbs step, which nothing reads, is not drawn, and the
    weight update's x.T h0 - v1.T h1 is one product of joined operands:
    rewrite/gemm.py), and the same cost, parameters and random states as the loop (py mode
    runs the loop)."""
    rbm_module = load_example("rbm")
    data = rng.random((6, 12))
    x = T.matrix("x")
    srng = RandomStreams(99)
    rbm = rbm_module.RBM(x, 12, 7, np.random.RandomState(3), srng)
    cost, updates = rbm.get_cost_updates(lr=0.1, k=1)
    f = cgraph.function([x], cost, updates=updates)
    f_py = cgraph.function([x], cost, updates=updates, mode="py")
    assert not scans_in(f)
    products = [n for n in f.nodes if type(n.op).__name__ in ("Dot", "Gemm", "GemmEpilogue")
                and n.outputs[0].ndim == 2]
    assert len(products) == 4, [str(n.op) for n in f.nodes]
    # both sigmoid(v W + hbias) are the Gemm's epilogue (the gradient's second(v W + hbias,
    # g) no longer reads the product), and the last hidden sample, which nothing reads, is
    # not drawn: its stream's state only advances (rewrite/random_draws.py)
    assert sum(type(n.op).__name__ == "GemmEpilogue" for n in f.nodes) == 2
    draws = [type(n.op).__name__ for n in f.nodes if "Philox" in type(n.op).__name__]
    assert sorted(draws) == ["PhiloxAdvance", "PhiloxRandom", "PhiloxRandom"], draws
    assert sum(type(n.op).__name__ == "BroadcastJoin" for n in f.nodes) == 2
    shared = rbm.params + [s for s, _ in srng.updates()]
    start = [s.get_value() for s in shared]
    results = []
    for fn in (f, f_py):
        for s, v in zip(shared, start):
            s.set_value(v.copy())
        got = fn(data)
        results.append([got] + [s.get_value() for s in shared])
    for k, (a, b) in enumerate(zip(*results)):
        assert_same(a, b, what=f"value {k}")
