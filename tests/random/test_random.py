"""Random streams: Philox RandomStreams and Theano's MRG_RandomStreams.

C and the numpy reference must give bit-identical draws; MRG draws must be Theano 1.0.5's
(fixtures recorded from real Theano by fixtures/record_mrg.py); the distributions must be
right on large samples; the state must advance through default updates.
"""
import json
import os
import sys

import numpy as np
import pytest
import scipy.stats

import cgraph
import cgraph.tensor as T
from cgraph.sandbox.rng_mrg import (A1p72, A2p72, MRG_RandomStreams, guess_n_streams, jump,
                                    substream_states)
from cgraph.tensor import random as rnd
from cgraph.tensor.shared_randomstreams import RandomStreams
from util import assert_clean_build, assert_same, binomial_loop, check, check_error

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "fixtures"))
import record_mrg  # noqa: E402  (the fixture cases, shared with the recording script)


def both_modes(build, calls=2, values=()):
    """Build a fresh graph per mode (same seed inside ``build``), call each ``calls`` times;
    returns {mode: [results of call 1, call 2, ...]} and the C function."""
    results, f_c = {}, None
    for mode in ("c", "py"):
        inputs, outputs = build()
        f = cgraph.function(inputs, outputs, mode=mode)
        if mode == "c":
            assert_clean_build(f)
            f_c = f
        results[mode] = [f(*values) for _ in range(calls)]
    return results, f_c


def assert_bitwise(results):
    for call_c, call_py in zip(results["c"], results["py"]):
        for k, (a, b) in enumerate(zip(call_c, call_py)):
            assert a.dtype == b.dtype and a.shape == b.shape, k
            np.testing.assert_array_equal(a, b, err_msg=f"output {k}")


# --- Philox itself ---------------------------------------------------------------------

def test_philox_known_answers():
    """Random123's known-answer vectors for philox4x32-10 (counter, key -> output)."""
    vectors = [
        ([0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
        ([0xffffffff] * 4, [0xffffffff] * 2, [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
        ([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0],
         [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]),
    ]
    for ctr, key, expected in vectors:
        out = rnd.philox4x32(np.array([ctr], dtype=np.uint64), key)
        assert [int(v) for v in out[0]] == expected


# --- RandomStreams: C == numpy reference, bit for bit -----------------------------------

def _many_draws(seed, x, nvec):
    srng = RandomStreams(seed)
    return [
        srng.uniform((0,)), srng.uniform((1,)), srng.uniform((4, 3), dtype="float32"),
        srng.uniform((7,), dtype="float32"), srng.uniform((2, 1, 5)),
        srng.normal((5,)), srng.normal((3, 3), dtype="float32"), srng.normal((1000,)),
        srng.binomial(size=x.shape, p=x), srng.binomial(size=(6,), n=7, p=0.25),
        srng.binomial(n=nvec, p=0.5, dtype="float32"),
        srng.binomial(size=(2, 3), n=3, p=x[0, :3], dtype="int8"),
        srng.random_integers((9,), low=-3, high=4), srng.random_integers(low=nvec, high=nvec + 5),
        srng.permutation(n=8), srng.permutation((2, 3), n=5, dtype="int32"),
        srng.choice((2, 2), a=3), srng.choice((5,), a=9, replace=False),
        srng.choice((7,), a=[10.0, 20.0, 30.0], p=[0.5, 0.2, 0.3], dtype="float64"),
        srng.choice((3,), a=4, replace=False, p=[0.1, 0.2, 0.3, 0.4]),
        srng.multinomial(pvals=x / x.sum(axis=1, keepdims=True), n=4),
        srng.multinomial(size=(2, 2), n=3, pvals=[0.2, 0.5, 0.3], dtype="int32"),
        srng.uniform(), srng.binomial(p=0.3, n=2), srng.random_integers(low=1, high=3),
    ]


@pytest.mark.slow   # many compiles: 8 s on 2 busy cores
def test_c_and_reference_draw_the_same_numbers():
    x = T.dmatrix("x")
    nvec = T.lvector("nvec")
    values = [np.random.RandomState(1).rand(3, 4), np.array([0, 1, 3, 9], dtype=np.int64)]
    results, _ = both_modes(lambda: ([x, nvec], _many_draws(5, x, nvec)), values=values)
    assert_bitwise(results)
    first, second = results["c"]
    for a, b in zip(first, second):
        if a.size > 3:
            assert not np.array_equal(a, b), "a second call must draw new numbers"
    u32 = first[2]
    assert u32.dtype == np.float32 and u32.shape == (4, 3) and 0 <= u32.min() and u32.max() < 1
    assert first[0].shape == (0,) and first[8].shape == (3, 4)
    assert first[10].dtype == np.float32 and np.all(first[10] <= [0, 1, 3, 9])
    assert first[10][0] == 0
    assert sorted(first[14]) == list(range(8))
    assert all(sorted(row) == list(range(5)) for row in first[15].reshape(-1, 5))
    assert first[15].dtype == np.int32 and first[15].shape == (2, 3, 5)
    assert len(set(first[17])) == 5 and set(first[18]) <= {10.0, 20.0, 30.0}
    assert len(set(first[19])) == 3
    np.testing.assert_array_equal(first[20].sum(axis=1), 4)
    assert first[21].shape == (2, 2, 3) and first[21].dtype == np.int32
    np.testing.assert_array_equal(first[21].sum(axis=-1), 3)
    assert [v.shape for v in first[22:]] == [(), (), ()]


def test_scaled_draws_match_reference():
    """low/high and avg/std go through (fused) elementwise ops: equal up to rounding."""
    lo = T.dvector("lo")

    def build():
        srng = RandomStreams(9)
        return [lo], [srng.uniform(low=lo, high=lo + 2.0), srng.normal((4,), avg=lo, std=3.0),
                      srng.uniform((2, 3), low=-1.0, high=1.0, dtype="float32")]
    results, _ = both_modes(build, values=[np.array([0.0, 10.0, -5.0, 1.0])])
    for a, b in zip(results["c"][0], results["py"][0]):
        assert_same(a, b, rtol=1e-6 if a.dtype == np.float32 else 1e-14)
    u, z, v = results["c"][0]
    assert u.shape == (4,) and np.all(u >= [0, 10, -5, 1]) and np.all(u < [2, 12, -3, 3])
    assert v.dtype == np.float32 and np.all(np.abs(v) <= 1)


@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_counter_layout():
    """Sample i depends only on (key, counter, i): two draws of 10 continue one another and
    equal one draw of 20 from the same key; the counter advances by the blocks used."""
    for mode in ("c", "py"):
        whole = cgraph.function([], RandomStreams(3).uniform((20,)), mode=mode)()
        b = RandomStreams(3).uniform((10,))
        f = cgraph.function([], b, mode=mode)
        np.testing.assert_array_equal(np.concatenate([f(), f()]), whole)
        assert b.rng.get_value()[1] == 10          # 2 float64 samples per block
    srng32 = RandomStreams(3)
    c = srng32.normal((9,), dtype="float32")
    cgraph.function([], c)()
    assert c.rng.get_value()[1] == 3               # 4 float32 normals per block


# --- distributions ------------------------------------------------------------------

@pytest.mark.slow   # many compiles: 6 s on 2 busy cores
def test_distributions_on_large_samples():
    n = 200_000
    srng = RandomStreams(2024)
    p = T.dvector("p")
    draws = [srng.uniform((n,)), srng.uniform((n,), dtype="float32"), srng.normal((n,)),
             srng.normal((n,), avg=2.0, std=3.0, dtype="float32"),
             srng.binomial((n,), n=10, p=0.3), srng.binomial((n,), p=0.2),
             srng.random_integers((n,), low=3, high=7), srng.permutation((20_000,), n=4),
             srng.choice((n,), a=3, p=p), srng.multinomial((n // 10,), n=10, pvals=p)]
    f = cgraph.function([p], draws)
    probs = np.array([0.2, 0.5, 0.3])
    u64, u32, z, z2, b10, b1, ints, perms, ch, mult = f(probs)

    def ks(sample, cdf):
        return scipy.stats.kstest(sample, cdf).pvalue

    assert ks(u64, "uniform") > 1e-3 and ks(u32, "uniform") > 1e-3
    assert 0 <= u64.min() and u64.max() < 1 and abs(u64.mean() - 0.5) < 0.005
    assert abs(u64.var() - 1 / 12) < 0.002
    assert ks(z, "norm") > 1e-3 and abs(z.std() - 1) < 0.01
    assert ks((z2.astype(np.float64) - 2) / 3, "norm") > 1e-3

    def chi2(observed, expected):
        return scipy.stats.chisquare(observed, expected).pvalue

    counts = np.bincount(b10, minlength=11)
    assert chi2(counts, n * scipy.stats.binom.pmf(np.arange(11), 10, 0.3)) > 1e-3
    assert abs(b1.mean() - 0.2) < 0.005 and set(np.unique(b1)) == {0, 1}
    assert chi2(np.bincount(ints)[3:], np.full(5, n / 5)) > 1e-3 and ints.min() == 3
    # each value equally likely at each position of a permutation of 4
    for position in range(4):
        assert chi2(np.bincount(perms[:, position], minlength=4), np.full(4, 5000)) > 1e-3
    assert chi2(np.bincount(ch, minlength=3), n * probs) > 1e-3
    assert mult.shape == (n // 10, 3) and np.all(mult.sum(axis=1) == 10)
    assert chi2(mult.sum(axis=0), n * probs) > 1e-3


def test_draws_are_independent_streams():
    srng = RandomStreams(1)
    a, b = srng.uniform((50_000,)), srng.uniform((50_000,))
    u = srng.uniform((3,))
    f = cgraph.function([], [a, b, u - u, u + u - 2 * u])
    va, vb, zero, zero2 = f()
    assert abs(np.corrcoef(va, vb)[0, 1]) < 0.02
    assert not np.array_equal(va, vb)
    # a random variable is drawn once per call, however often the graph uses it
    np.testing.assert_array_equal(zero, 0)
    np.testing.assert_array_equal(zero2, 0)
    # the two draws are not merged although their ops and sizes are equal
    assert sum(isinstance(nd.op, rnd.PhiloxRandom) for nd in f.nodes) == 3


# --- state, seeding, updates ---------------------------------------------------------

@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_reproducible_and_reseedable():
    def draws(seed):
        srng = RandomStreams(seed)
        return srng, [srng.uniform((4,)), srng.normal((3,)), srng.random_integers((5,), 0, 9)]

    srng1, d1 = draws(77)
    f1 = cgraph.function([], d1)
    first, second = f1(), f1()
    _, d2 = draws(77)
    f2 = cgraph.function([], d2, mode="py")
    for a, b in zip(first, f2()):
        np.testing.assert_array_equal(a, b)
    _, d3 = draws(78)
    assert not np.array_equal(cgraph.function([], d3[0])(), first[0])
    srng1.seed(77)                       # back to the start
    for a, b in zip(first, f1()):
        np.testing.assert_array_equal(a, b)
    srng1.seed(5)
    _, d5 = draws(5)
    for a, b in zip(f1(), cgraph.function([], d5)()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], second[0])
    seeded = RandomStreams(None)
    assert seeded.uniform((2,)).rng.get_value().shape == (2,)


@pytest.mark.slow   # many compiles: 5 s on 2 busy cores
def test_default_updates_and_no_default_updates():
    srng = RandomStreams(11)
    u = srng.uniform((6,))
    state = u.rng
    assert state.default_update is u.update[1]
    assert srng.updates() == [(state, u.update[1])]
    frozen = cgraph.function([], u, no_default_updates=True)
    np.testing.assert_array_equal(frozen(), frozen())
    np.testing.assert_array_equal(state.get_value()[1], 0)
    f = cgraph.function([], u)
    a, b = f(), f()
    assert not np.array_equal(a, b)
    assert state.get_value()[1] == 6                # 3 blocks per call
    # srng[...] reads and writes the state
    saved = srng[state].copy()
    c = f()
    srng[state] = saved
    np.testing.assert_array_equal(f(), c)
    # an explicit update of the state wins over the default one
    g = cgraph.function([], u, updates=[(state, state)])
    np.testing.assert_array_equal(g(), g())


def test_random_ops_are_never_folded():
    srng = RandomStreams(4)
    u = srng.uniform((3,))
    assert rnd.PhiloxRandom.foldable is False and rnd.MRGUniform.foldable is False
    f = cgraph.function([], u + 1.0)
    assert any(isinstance(nd.op, rnd.PhiloxRandom) for nd in f.nodes)
    assert not np.array_equal(f(), f())


def test_import_cgraph_brings_shared_randomstreams():
    """As ``import theano`` does: ``T.shared_randomstreams.RandomStreams`` works at once."""
    import subprocess
    code = "import cgraph.tensor as T; print(T.shared_randomstreams.RandomStreams.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(HERE)))
    assert out.stdout.strip() == "RandomStreams", out.stderr


# --- sizes and dtypes ------------------------------------------------------------------

@pytest.mark.slow   # many compiles: 2 s on 2 busy cores
def test_symbolic_sizes_and_broadcastable():
    n = T.lscalar("n")
    x = T.dmatrix("x")
    vec = T.lvector("v")
    srng = RandomStreams(8)
    outs = [srng.uniform((n, 3)), srng.normal(x.shape), srng.uniform(vec, ndim=2),
            srng.binomial(size=(n, 1), p=0.5), srng.uniform((1, 4))]
    assert outs[3].broadcastable == (False, True) and outs[4].broadcastable == (True, False)
    assert outs[2].ndim == 2
    got = check([n, x, vec], outs, [np.int64(2), np.zeros((4, 5)), np.array([3, 2])],
                no_default_updates=True)
    assert [g.shape for g in got] == [(2, 3), (4, 5), (3, 2), (2, 1), (1, 4)]
    with pytest.raises(TypeError, match="ndim"):
        srng.uniform(vec)
    with pytest.raises(ValueError, match="ndim should be equal"):
        srng.uniform((2, 3), ndim=3)


def test_dtype_rules():
    srng = RandomStreams(0)
    f32 = T.fscalar("f")
    assert srng.uniform((2,)).dtype == "float64"
    assert srng.uniform((2,), low=f32).dtype == "float64"       # upcast with floatX
    assert srng.normal((2,), dtype="float32").dtype == "float32"
    assert srng.binomial((2,)).dtype == "int64"
    assert srng.binomial((2,), dtype="float32").dtype == "float32"
    assert srng.random_integers((2,), dtype="int16").dtype == "int16"
    old = cgraph.config.floatX
    try:
        cgraph.config.floatX = "float32"
        assert srng.uniform((2,)).dtype == "float32"
        assert srng.normal((2,)).dtype == "float32"
        assert MRG_RandomStreams(1).uniform((2,)).dtype == "float32"
    finally:
        cgraph.config.floatX = old
    with pytest.raises(TypeError, match="float"):
        srng.uniform((2,), dtype="int32")


# --- errors ----------------------------------------------------------------------------

def test_build_time_errors():
    srng = RandomStreams(0)
    with pytest.raises(ValueError, match="negative"):
        srng.uniform((2, -1))
    with pytest.raises(TypeError):
        srng.uniform((2.5, 3))
    with pytest.raises(ValueError, match="at least as big"):
        srng.uniform((3,), low=T.dmatrix())
    with pytest.raises(ValueError, match="a.ndim"):
        srng.choice((2,), a=np.ones((2, 2)))
    with pytest.raises(TypeError, match="just one permutation"):
        srng.permutation(n=3, ndim=2)
    mrg = MRG_RandomStreams()
    with pytest.raises(TypeError, match="size must be a tuple of int"):
        mrg.uniform(None)
    with pytest.raises(ValueError, match="<= 0"):
        mrg.uniform((3, 0))
    with pytest.raises(ValueError, match="should not be 0"):
        MRG_RandomStreams(0)
    with pytest.raises(ValueError, match="less than"):
        MRG_RandomStreams(2147462579)
    with pytest.raises(ValueError, match="first 3 values"):
        MRG_RandomStreams([0, 0, 0, 1, 2, 3])
    with pytest.raises(TypeError, match="1 integer or 6 integers"):
        MRG_RandomStreams([1, 2])
    with pytest.raises(TypeError, match="pvals"):
        mrg.multinomial()
    with pytest.raises(ValueError, match="does not use the size"):
        mrg.multinomial(size=(2,), pvals=np.ones((2, 2)) / 2)
    with pytest.raises(NotImplementedError, match="pvals.ndim = 2"):
        mrg.multinomial(pvals=[0.5, 0.5])


@pytest.mark.slow   # many compiles: 14 s on 2 busy cores
def test_run_time_errors_in_both_modes():
    p = T.dvector("p")
    nv = T.lvector("nv")
    size = T.lvector("size")
    lo = T.lscalar("lo")
    srng = RandomStreams(0)
    check_error([p], srng.binomial(p=p), [np.array([0.5, 1.5])], ValueError, match="p > 1")
    check_error([p], srng.binomial(p=p), [np.array([np.nan])], ValueError, match="NaN")
    check_error([nv], srng.binomial(n=nv, p=0.5), [np.array([2, -1])], ValueError,
                match="n < 0")
    check_error([size], srng.uniform(size, ndim=2), [np.array([2, -3])], ValueError,
                match="negative dimensions")
    check_error([size], srng.uniform(size, ndim=2), [np.array([2, 3, 4])], ValueError,
                match="must have length 2")
    check_error([lo], srng.random_integers((3,), low=lo, high=2), [np.int64(5)], ValueError,
                match="low > high")
    check_error([lo], srng.choice((4,), a=lo, replace=False), [np.int64(3)], ValueError,
                match="larger sample")
    check_error([p], srng.binomial(size=(3,), p=p), [np.array([0.1, 0.2])], ValueError,
                match="cannot broadcast p")
    mrg = MRG_RandomStreams(3)
    x = T.dmatrix("x")
    check_error([x], mrg.choice(size=3, a=None, replace=False, p=x), [np.ones((2, 2)) / 2],
                ValueError, match="without replacement")


# --- the deterministic ops against direct loops, with strided and empty inputs ---------

def _fisher_yates_loop(u, n):
    rows = u.reshape(-1, u.shape[-1])
    out = []
    for row in rows:
        perm = list(range(n))
        for i, v in enumerate(row):
            j = i + int(np.floor(v * (n - i)))
            perm[i], perm[j] = perm[j], perm[i]
        out.append(perm[:len(row)])
    return np.array(out, dtype=np.int64).reshape(u.shape)


def _theano_choice_loop(pvals, unis, n, replace):
    pv = pvals.astype(np.float64).copy()
    out = -np.ones((pv.shape[0], n), dtype=np.int64)
    for c in range(n):
        for r in range(pv.shape[0]):
            cum = 0.0
            for m in range(pv.shape[1]):
                cum += pv[r, m]
                if cum > unis[c * pv.shape[0] + r]:
                    out[r, c] = m
                    if not replace:
                        pv[r, m] = 0.0
                        pv[r] /= pv[r].sum()
                    break
    return out


def test_from_uniform_ops_against_loops():
    rs = np.random.RandomState(7)
    u3 = T.dtensor3("u3")
    nmat = T.lmatrix("nmat")
    pvec = T.dvector("pvec")
    u2 = T.dmatrix("u2")
    pm = T.dmatrix("pm")
    uv = T.dvector("uv")
    lo, hi = T.lvector("lo"), T.lvector("hi")
    u3v = rs.rand(4, 3, 5)
    nv = rs.randint(0, 6, size=(3, 4))          # given transposed below: a strided input
    pv = rs.rand(3)
    u2v = rs.rand(2, 6)
    pmv = rs.rand(6, 4)                         # given as pm.T: strided rows
    pmv /= pmv.sum(axis=0, keepdims=True)
    uvv = rs.rand(12)
    lov, hiv = np.array([0, -5, 7]), np.array([0, 5, 100])
    outs = [rnd.BinomialFromUniform("int64", 2)(u3, nmat.T, pvec),
            rnd.PermutationFromUniform("int64", 2)(u2[:, ::2], 8),
            rnd.PermutationFromUniform("int64", 2)(u2[:, :0], 3),
            rnd.MultinomialFromUniform("int64")(pm.T, uv[::-1], 3),
            rnd.ChoiceFromUniform("int64", False)(pm.T, uv[:8], 2),
            rnd.ChoiceFromUniform("int64", True)(pm.T, uv, 3),
            rnd.IntegersFromUniform("int64", 2)(u2[:, :3].T, lo.dimshuffle(0, "x"),
                                                 hi.dimshuffle(0, "x"))]
    expected = [binomial_loop(u3v, nv.T, pv), _fisher_yates_loop(u2v[:, ::2], 8),
                np.zeros((2, 0), dtype=np.int64),
                None, _theano_choice_loop(pmv.T, uvv[:8], 2, False),
                _theano_choice_loop(pmv.T, uvv, 3, True),
                lov[:, None] + np.floor(u2v[:, :3].T * (hiv - lov + 1)[:, None]).astype(int)]
    counts = np.zeros((4, 6), dtype=np.int64)
    for c in range(3):
        for r in range(4):
            idx, = np.nonzero(np.cumsum(pmv.T[r]) > uvv[::-1][c * 4 + r])
            counts[r, idx[0]] += 1
    expected[3] = counts
    check([u3, nmat, pvec, u2, pm, uv, lo, hi], outs, [u3v, nv, pv, u2v, pmv, uvv, lov, hiv],
          expected=expected)


# --- MRG_RandomStreams: Theano's numbers -----------------------------------------------

def test_mrg_stream_layout():
    assert guess_n_streams((5, 7)) == 5 and guess_n_streams((3,)) == 3
    assert guess_n_streams((1000, 1000)) == 60 * 256
    assert guess_n_streams((T.lscalar(),)) == 60 * 256
    rstate = np.array([12345] * 6, dtype=np.int32)
    states = substream_states(rstate, 9)
    np.testing.assert_array_equal(states[0], rstate)
    for i in range(8):
        np.testing.assert_array_equal(states[i + 1], jump(states[i], A1p72, A2p72))
    srng = MRG_RandomStreams(12345)
    u = srng.uniform((1000,))
    assert u.rng.get_value().shape == (166, 6) and u.rng.dtype == "int32"
    np.testing.assert_array_equal(u.rng.get_value()[0], rstate)
    assert srng.state_updates[0][2] == (1000,)


def test_mrg_state_advances_and_reseeds():
    srng = MRG_RandomStreams(42)
    u = srng.uniform((10,))
    f = cgraph.function([], u)
    a, b = f(), f()
    assert not np.array_equal(a, b)
    frozen = cgraph.function([], u, no_default_updates=True)
    np.testing.assert_array_equal(frozen(), frozen())
    srng.seed(42)
    np.testing.assert_array_equal(f(), a)


def _fixture_outputs():
    with open(os.path.join(HERE, "fixtures", "mrg_theano.json")) as fh:
        return json.load(fh)


FIXTURES = _fixture_outputs()


@pytest.mark.parametrize("name", sorted(record_mrg.CASES))
def test_mrg_matches_theano(name):
    """Theano 1.0.5's recorded outputs, in C and in the reference: every uniform-based draw
    bit for bit; normals (log/cos/sin of the C library or numpy) to the last bits."""
    assert FIXTURES["theano_version"] == "1.0.5"
    for mode in ("c", "py"):
        calls = record_mrg.run_case(record_mrg.CASES[name], MRG_RandomStreams, T,
                                    cgraph.function, mode=mode)
        recorded = FIXTURES["cases"][name]
        assert len(calls) == len(recorded)
        for call, ref_call in zip(calls, recorded):
            for value, ref in zip(call, ref_call):
                value = np.asarray(value)
                assert value.dtype.name == ref["dtype"] and list(value.shape) == ref["shape"]
                got = value.reshape(-1)[::ref["step"]]
                want = np.array(ref["values"], dtype=value.dtype)
                if name.startswith("normal"):
                    rtol = 1e-6 if value.dtype == np.float32 else 1e-13
                    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
                else:
                    np.testing.assert_array_equal(got, want, err_msg=f"{name} ({mode})")


@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_mrg_full_interface_c_equals_reference():
    x = T.dmatrix("x")

    def build():
        srng = MRG_RandomStreams(321)
        return [x], [srng.uniform((5, 3), dtype="float32"), srng.binomial(size=x.shape, p=x),
                     srng.binomial((4,), n=3, p=0.5), srng.random_integers((6,), 1, 6),
                     srng.permutation(n=7), srng.choice((4,), a=5, replace=False),
                     srng.multinomial(pvals=x / x.sum(axis=1, keepdims=True), n=2),
                     srng.choice(size=2, a=None, replace=True, p=x / x.sum(axis=1,
                                                                          keepdims=True))]
    results, _ = both_modes(build, values=[np.random.RandomState(2).rand(3, 4)])
    assert_bitwise(results)
    first = results["c"][0]
    assert sorted(first[4]) == list(range(7)) and len(set(first[5])) == 4
    assert first[7].shape == (3, 2)


def test_mrg_distributions():
    srng = MRG_RandomStreams(99)
    f = cgraph.function([], [srng.uniform((100_000,)), srng.normal((100_001,), std=2.0),
                             srng.binomial((50_000,), p=0.7)])
    u, z, b = f()
    assert 0 < u.min() and u.max() < 1
    assert scipy.stats.kstest(u, "uniform").pvalue > 1e-3
    assert z.shape == (100_001,) and scipy.stats.kstest(z / 2, "norm").pvalue > 1e-3
    assert abs(b.mean() - 0.7) < 0.01


def test_binomial_counts_come_from_the_runtime_and_errors_name_the_inputs():
    """BinomialFromUniform is one runtime call (cg_binomial_counts): the flat path (one n,
    p laid out as the sample), the general one (n per sample, p broadcast, a transposed p),
    every output dtype, and messages naming n and p."""
    from cgraph.tensor import random as rnd
    u, p, pm = T.dtensor3("u"), T.dvector("p"), T.dmatrix("pm")
    n1, nv = T.lscalar("n1"), T.lmatrix("nv")
    outs = [rnd.BinomialFromUniform(dtype, 2)(u, T.shape_padleft(T.shape_padleft(n1)), pm)
            for dtype in ("int64", "int32", "int8", "uint8", "float32", "float64", "bool")]
    outs += [rnd.BinomialFromUniform("int16", 2)(u, nv, T.shape_padleft(p)),
             rnd.BinomialFromUniform("int64", 2)(u, nv, pm.T.T[::-1][::-1])]
    f_c = cgraph.function([u, p, pm, n1, nv], outs, on_unused_input="ignore")
    f_py = cgraph.function([u, p, pm, n1, nv], outs, on_unused_input="ignore", mode="py")
    assert "cg_binomial_counts(" in f_c.c_source.split("int cg_run(")[1]
    rng = np.random.default_rng(5)
    for shape, m, n_one in [((3, 4), 1, 1), ((3, 4), 3, 2), ((0, 4), 2, 1)]:
        args = [rng.random(shape + (m,)), rng.random(shape[1]), rng.random(shape), n_one,
                rng.integers(0, m + 1, size=shape)]
        for got, want in zip(f_c(*args), f_py(*args)):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
    good = [rng.random((2, 3, 2)), rng.random(3), rng.random((2, 3)), 1, np.ones((2, 3), "int64")]
    g = cgraph.function([u, p, pm, n1, nv], outs[-2], on_unused_input="ignore")
    with pytest.raises(ValueError, match=r"n < 0 \(in nv\)"):
        g(*good[:4], -np.ones((2, 3), "int64"))
    with pytest.raises(ValueError, match="n = 3 needs more than the 2 uniforms"):
        g(*good[:4], 3 * np.ones((2, 3), "int64"))
    with pytest.raises(ValueError, match=r"p < 0, p > 1 or p is NaN \(in .*p"):
        g(good[0], np.array([0.5, 2.0, 0.5]), *good[2:])
    with pytest.raises(ValueError, match=r"cannot broadcast nv of shape \(2, 2\) to the sample "
                                         r"shape \(2, 3\)"):
        g(*good[:4], np.ones((2, 2), "int64"))


# --- float32 probabilities: float32 uniforms ------------------------------------------

def _graph_ops(f):
    return [node.op for node in f.maker.fgraph.toposort()]


def test_binomial_of_a_float32_p_draws_float32_uniforms():
    """binomial(p=<float32>) compares float32 uniforms with p (as Theano's MRG binomial draws
    floatX ones): no float64 uniforms and no cast of p in the graph; C equals the reference
    bit for bit, through the flat n = 1 path, the n > 1 path and a strided p; the draws
    have the right distribution; a bad p is still named."""
    x = T.matrix("x", dtype="float32")
    nv = T.lvector("nv")

    def build():
        srng = RandomStreams(11)
        return [x, nv], [srng.binomial(size=x.shape, p=x, dtype="float32"),
                         srng.binomial(size=x.shape, n=3, p=x),
                         srng.binomial(size=(x.shape[1], x.shape[0]), p=x.T, dtype="int8"),
                         srng.binomial(n=nv, p=x[0, :4])]
    X = np.random.RandomState(3).rand(5, 4).astype("float32")
    X[0, 0], X[1, 1] = 0.0, 1.0
    results, f_c = both_modes(build, values=[X, np.array([0, 1, 2, 5])])
    assert_bitwise(results)
    assert results["c"][0][0].dtype == np.float32 and results["c"][0][2].dtype == np.int8
    assert results["c"][0][0][0, 0] == 0 and results["c"][0][0][1, 1] == 1
    philox = [op for op in _graph_ops(f_c) if isinstance(op, rnd.PhiloxRandom)]
    assert philox and all(op.dtype == "float32" for op in philox)
    assert not any("cast_float64" in str(op) for op in _graph_ops(f_c))
    # a float64 p keeps float64 uniforms
    srng = RandomStreams(11)
    d = T.dvector("d")
    f64 = cgraph.function([d], srng.binomial(size=d.shape, p=d))
    assert all(op.dtype == "float64" for op in _graph_ops(f64) if isinstance(op, rnd.PhiloxRandom))

    n = 200_000
    srng = RandomStreams(5)
    p = T.vector("p", dtype="float32")
    f = cgraph.function([p], [srng.binomial(size=p.shape, p=p), srng.binomial(size=p.shape, n=4, p=p)])
    ones, fours = f(np.full(n, 0.3, dtype="float32"))
    assert abs(ones.mean() - 0.3) < 0.005 and set(np.unique(ones)) == {0, 1}
    counts = np.bincount(fours, minlength=5)
    assert scipy.stats.chisquare(counts, n * scipy.stats.binom.pmf(np.arange(5), 4, 0.3)).pvalue > 1e-3
    check_error([p], RandomStreams(1).binomial(size=p.shape, p=p),
                [np.array([0.5, 1.5], dtype="float32")], ValueError, match=r"p > 1.*\(in p\)")


def test_binomial_from_float32_uniforms_against_a_loop():
    u3 = T.tensor3("u3", dtype="float32")
    nmat = T.lmatrix("nmat")
    pvec = T.vector("pvec", dtype="float32")
    rs = np.random.RandomState(9)
    u3v = rs.rand(4, 3, 5).astype("float32")
    nv = rs.randint(0, 6, size=(3, 4))
    pv = rs.rand(3).astype("float32")
    out = rnd.BinomialFromUniform("int64", 2)(u3, nmat.T, pvec)
    assert out.owner.inputs[2].dtype == "float32"
    check([u3, nmat, pvec], out, [u3v, nv, pv], expected=binomial_loop(u3v, nv.T, pv))
    check([u3, nmat, pvec], out, [u3v[:0], nv[:, :0], pv], expected=np.zeros((0, 3), dtype=np.int64))
    with pytest.raises(TypeError, match="float64 or float32 uniforms"):
        rnd.BinomialFromUniform("int64", 2)(T.ltensor3("k"), nmat, pvec)


# --- a draw no one reads ----------------------------------------------------------------

@pytest.mark.parametrize("distribution, dtype, per_block", [
    ("uniform", "float64", 2), ("uniform", "float32", 4), ("normal", "float64", 2),
    ("normal", "float32", 4)])
def test_a_draw_no_one_reads_only_advances_its_state(distribution, dtype, per_block):
    """A Philox draw kept only for its new state (a one-step scan's last sample) becomes a
    PhiloxAdvance (rewrite/random_draws.py): the same states as the reference, which draws,
    and the same errors for a bad size."""
    size = T.lvector("size")
    results = {}
    for mode in ("c", "py"):
        state = cgraph.shared(np.array([12345, 7], dtype=np.int64), name="state")
        new_state, sample = rnd.PhiloxRandom(distribution, dtype, 2)(state, size)
        f = cgraph.function([size], size.sum(), updates=[(state, new_state)], mode=mode)
        if mode == "c":
            assert_clean_build(f)
            kinds = [type(n.op) for n in f.nodes]
            assert rnd.PhiloxAdvance in kinds and rnd.PhiloxRandom not in kinds
        states = []
        for shape in ((3, 5), (0, 4), (1, 1), (7, 1)):
            f(np.array(shape, dtype=np.int64))
            states.append(state.get_value().copy())
        results[mode] = states
        for bad, match in (([2, -3], "negative dimensions"), ([2, 3, 4], "must have length 2"),
                           ([2 ** 40, 2 ** 40], "too big")):
            with pytest.raises(ValueError, match=match):
                f(np.array(bad, dtype=np.int64))
        state.set_value(np.array([1, 2, 3], dtype=np.int64))
        with pytest.raises(ValueError, match="must have 2 entries"):
            f(np.array([2, 2], dtype=np.int64))
    np.testing.assert_array_equal(results["c"], results["py"])
    counters = [7]
    for n in (15, 0, 1, 7):
        counters.append(counters[-1] + -(-n // per_block))
    assert [s[1] for s in results["c"]] == counters[1:]
    assert all(s[0] == 12345 for s in results["c"])
