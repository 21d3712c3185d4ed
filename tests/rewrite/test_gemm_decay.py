"""Weight decay folded into a Gemm's beta (gemm.py's _collect_like_terms, canonicalize.py's
second_through_scalar_mul): ``W - lr * (x.T d + l2 * W)`` and the shapes Theano users and
Theano's gradient give it become one Gemm of z = W with beta = 1 - lr * l2, no loop over W
of its own, and the update in place computes what numpy and the reference mode compute.
"""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.graph.basic import Constant, io_toposort
from cgraph.rewrite import optimize
from cgraph.tensor.blas import Gemm
from cgraph.tensor.blas_epilogue import GemmEpilogue
from util import assert_clean_build, assert_same

rng = np.random.default_rng(11)
LR, L2 = 0.01, 1e-4


def decay_forms(W, x, d):
    """{name: the update of W}, the weight gradient g = x.T d (constants of W's dtype)."""
    g = T.dot(x.T, d)
    lr, l2 = (np.asarray(c, dtype=W.dtype) for c in (LR, L2))
    return {"W - lr*(g + l2*W)": W - lr * (g + l2 * W),
            "W*(1-a) - lr*g": W * np.asarray(1 - LR * L2, dtype=W.dtype) - lr * g,
            "W - lr*g - lr*l2*W": W - lr * g - lr * l2 * W,
            "W - (lr*l2)*W - lr*g": W - (lr * l2) * W - lr * g}


def grad_form(W, x, d, dtype, lr=LR, l2=L2):
    """Theano's tutorial: the cost's L2 term l2 * sum(W ** 2), differentiated."""
    cost = T.sum(T.dot(x, W) * d) + T.cast(l2, dtype) * T.sum(W ** 2)
    return W - T.cast(lr, dtype) * T.grad(cost, W)


def the_gemm(inputs, update):
    """The optimized graph's one Gemm node (asserting there is one and no epilogue)."""
    nodes = io_toposort(optimize(inputs, [update]), stop_at=inputs)
    gemms = [n for n in nodes if isinstance(n.op, Gemm)]
    assert len(gemms) == 1, [str(n.op) for n in nodes]
    assert not [n for n in nodes if isinstance(n.op, GemmEpilogue)]
    return gemms[0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_each_form_is_one_gemm_of_w_with_beta(dtype):
    W, x, d = (T.matrix(n, dtype=dtype) for n in ("W", "x", "d"))
    forms = decay_forms(W, x, d)
    forms["grad of l2 * sum(W ** 2)"] = grad_form(W, x, d, dtype)
    for name, update in forms.items():
        gemm = the_gemm([W, x, d], update)
        assert gemm.op.scalar_op is None, name            # z is W itself: no loop over W
        assert gemm.inputs[4] is W, name
        beta = gemm.inputs[3]
        assert isinstance(beta, Constant), name
        assert beta.data.dtype == dtype
        # 1 - lr * l2 (times 2 for the gradient of the square), rounded once in dtype
        factor = 2 if name.startswith("grad") else 1
        np.testing.assert_allclose(beta.data, 1 - factor * LR * L2, rtol=1e-6, err_msg=name)


def test_a_symbolic_decay_is_summed_into_beta():
    W, x, d = T.dmatrix("W"), T.dmatrix("x"), T.dmatrix("d")
    lr, l2 = T.dscalar("lr"), T.dscalar("l2")
    for update in (W - lr * (T.dot(x.T, d) + l2 * W), W - lr * T.dot(x.T, d) - lr * l2 * W):
        gemm = the_gemm([W, x, d, lr, l2], update)
        assert gemm.op.scalar_op is None and gemm.inputs[4] is W
        assert not isinstance(gemm.inputs[3], Constant)


def test_other_terms_still_make_a_loop():
    # W + b - lr * g: two other terms, so z is their sum (beta 1); a term of W twice and b
    W, x, d = T.dmatrix("W"), T.dmatrix("x"), T.dmatrix("d")
    b = T.dvector("b")
    gemm = the_gemm([W, x, d, b], W - LR * T.dot(x.T, d) - LR * L2 * W + b)
    beta = gemm.inputs[3]
    assert isinstance(beta, Constant) and beta.data == 1
    assert gemm.op.scalar_op is not None


def _update_functions(dtype, shapes, make_update, n_calls=2):
    """W updated in place (C) and in the reference mode from one start; returns (C's W,
    reference's W, numpy's W, the C function) after ``n_calls`` calls."""
    (k, m), (_, n) = shapes
    w0 = rng.standard_normal((m, n)).astype(dtype)
    xs = [rng.standard_normal((k, m)).astype(dtype) for _ in range(n_calls)]
    ds = [rng.standard_normal((k, n)).astype(dtype) for _ in range(n_calls)]
    results, fn = [], None
    for mode in ("c", "py"):
        W = cgraph.shared(w0.copy(), name="W")
        x, d = T.matrix("x", dtype=dtype), T.matrix("d", dtype=dtype)
        f = cgraph.function([x, d], [], updates=[(W, make_update(W, x, d))], mode=mode)
        if mode == "c":
            assert_clean_build(f)
            assert f._runner.inplace, "the update is written into W's buffer"
            fn = f
        for xv, dv in zip(xs, ds):
            f(xv, dv)
        results.append(W.get_value())
    w = w0.astype(np.float64)
    for xv, dv in zip(xs, ds):
        w = w - LR * (xv.T.astype(np.float64) @ dv + L2 * w)
    return results[0], results[1], w, fn


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_updates_in_place_match_reference_and_numpy(dtype):
    # W3's layer, a small one, and 1-length axes (one input, one unit, a batch of one)
    tol = 2e-5 if dtype == "float32" else 1e-12
    lr, l2 = (np.asarray(c, dtype=dtype) for c in (LR, L2))
    for k, m, n in [(20, 784, 500), (7, 13, 5), (1, 1, 1), (1, 9, 1), (3, 1, 6), (20, 50, 1)]:
        for name, make in [("W - lr*(g + l2*W)", lambda W, x, d: W - lr * (T.dot(x.T, d) + l2 * W)),
                           ("W - lr*g - lr*l2*W", lambda W, x, d: W - lr * T.dot(x.T, d) - lr * l2 * W)]:
            got, ref, expected, _ = _update_functions(dtype, ((k, m), (k, n)), make)
            what = f"{name} at {(k, m, n)}"
            assert_same(got, ref, rtol=tol, what=f"{what}: C vs reference")
            assert_same(ref, expected.astype(dtype), rtol=tol, what=f"{what}: reference vs numpy")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradient_form_values_are_unchanged(dtype):
    """W3's form (the gradient of the cost's L2 term): the update and the cost against the
    reference mode, and the gradient itself against numpy."""
    tol = 2e-5 if dtype == "float32" else 1e-12
    k, m, n = 20, 30, 7
    w0 = rng.standard_normal((m, n)).astype(dtype)
    xv, dv = rng.standard_normal((k, m)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    got = []
    for mode in ("c", "py"):
        W = cgraph.shared(w0.copy(), name="W")
        x, d = T.matrix("x", dtype=dtype), T.matrix("d", dtype=dtype)
        cost = T.sum(T.dot(x, W) * d) + T.cast(L2, dtype) * T.sum(W ** 2)
        g = T.grad(cost, W)
        f = cgraph.function([x, d], [cost, g], updates=[(W, W - T.cast(LR, dtype) * g)],
                            mode=mode)
        got.append([np.asarray(v) for v in f(xv, dv)] + [W.get_value()])
    w = w0.astype(np.float64)
    grad = xv.T.astype(np.float64) @ dv + 2 * L2 * w
    cost = np.sum((xv.astype(np.float64) @ w) * dv) + L2 * np.sum(w ** 2)
    for what, c, r, e in zip(("cost", "gradient", "W"), got[0], got[1],
                             (cost, grad, w - LR * grad)):
        assert_same(c, r, rtol=tol, what=f"{what}: C vs reference")
        assert_same(r, np.asarray(e, dtype=dtype), rtol=tol, what=f"{what}: reference vs numpy")


# --- the cost's sum(W ** 2) read in the update's pass over W (GemmSquares) -----------------

def _l2_step(W, x, d, dtype, extra=None):
    """A layer's cost with Theano's L2 term and its SGD update (the W3 shape)."""
    cost = T.sum(T.dot(x, W) * d) + T.cast(L2, dtype) * T.sum(W ** 2)
    if extra is not None:
        cost = cost + extra[0](W)
    return cost, W - T.cast(LR, dtype) * T.grad(cost, W)


def test_sum_of_squares_joins_the_update():
    W, x, d = T.dmatrix("W"), T.dmatrix("x"), T.dmatrix("d")
    cost, update = _l2_step(W, x, d, "float64")
    nodes = io_toposort(optimize([W, x, d], [cost, update]), stop_at=[W, x, d])
    names = [type(n.op).__name__ for n in nodes]
    assert names.count("GemmSquares") == 1 and "Gemm" not in names
    assert not [n for n in nodes if type(n.op).__name__ == "Reduce" and W in n.inputs]
    # not an input's squares, or a Gemm that is not a graph output: left alone
    h = T.tanh(W)
    nodes = io_toposort(optimize([W, x, d], [T.sum(h ** 2), h - LR * T.dot(x.T, d)]),
                        stop_at=[W, x, d])
    assert "GemmSquares" not in [type(n.op).__name__ for n in nodes]
    # a product that needs the sum (here through its alpha) cannot compute it
    s = T.sum(W ** 2)
    nodes = io_toposort(optimize([W, x, d], [s, W - s * T.dot(x.T, d)]), stop_at=[W, x, d])
    assert "GemmSquares" not in [type(n.op).__name__ for n in nodes]


def _run_steps(dtype, shapes, extra=None, cost_only_sum=False, n_calls=3, **kwargs):
    """C and reference: (costs per call, final W) of the L2 step on one start."""
    (k, m), (_, n) = shapes
    w0 = rng.standard_normal((m, n)).astype(dtype)
    xs = [rng.standard_normal((k, m)).astype(dtype) for _ in range(n_calls)]
    ds = [rng.standard_normal((k, n)).astype(dtype) for _ in range(n_calls)]
    runs = []
    for mode in ("c", "py"):
        W = cgraph.shared(w0.copy(), name="W")
        x, d = T.matrix("x", dtype=dtype), T.matrix("d", dtype=dtype)
        cost, update = _l2_step(W, x, d, dtype, extra)
        out = T.sum(W ** 2) if cost_only_sum else cost
        f = cgraph.function([x, d], out, updates=[(W, update)], mode=mode, **kwargs)
        if mode == "c":
            assert_clean_build(f)
            c_fn = f
        costs = [np.asarray(f(xv, dv)) for xv, dv in zip(xs, ds)]
        runs.append((costs, W.get_value()))
    w, expected = w0.astype(np.float64), []
    for xv, dv in zip(xs, ds):
        x64 = xv.astype(np.float64)
        total = np.sum(x64 @ w * dv) + L2 * np.sum(w ** 2)
        grad = x64.T @ dv + 2 * L2 * w
        if extra is not None:
            total += extra[1](w)
            grad += _numeric_grad(extra[1], w)
        expected.append(np.sum(w ** 2) if cost_only_sum else total)
        w = w - LR * grad
    return runs, (expected, w), c_fn


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sum_of_squares_and_update_values(dtype):
    """The cost (read after the update wrote W in place) and W, against the reference mode
    and numpy, over calls: W3's layer, tails of the squares' loop, 1-length axes; the sum
    as the output itself; a cost that also reads W's sum (computed before the update)."""
    tol = 1e-4 if dtype == "float32" else 1e-11
    cases = [((20, 784), (20, 500), {}), ((3, 7), (3, 5), {}), ((1, 1), (1, 1), {}),
             ((2, 1), (2, 9), {}), ((4, 33), (4, 1), {}),
             ((5, 13), (5, 11), {"cost_only_sum": True}),
             ((5, 13), (5, 11), {"extra": (T.sum, np.sum)})]
    for xs, ds, options in cases:
        runs, (expected, w), f = _run_steps(dtype, (xs, ds), **options)
        what = f"{xs}, {ds}, {sorted(options)}"
        assert f._runner.inplace, what
        # (sum(W)'s gradient adds ones to the update: z is no longer W alone)
        fused = "GemmSquares" in [type(n.op).__name__ for n in f.nodes]
        assert fused == ("extra" not in options), what
        for k, (c, r, e) in enumerate(zip(runs[0][0], runs[1][0], expected)):
            assert_same(c, r, rtol=tol, what=f"cost {k}, {what}: C vs reference")
            assert_same(r, np.asarray(e, dtype=dtype), rtol=tol,
                        what=f"cost {k}, {what}: reference vs numpy")
        assert_same(runs[0][1], runs[1][1], rtol=tol, what=f"W, {what}: C vs reference")
        assert_same(runs[1][1], w.astype(dtype), rtol=tol, what=f"W, {what}: reference vs numpy")


def test_sum_of_squares_without_in_place_and_profiled():
    # nan_guard plans nothing in place (the squares are read, W is not written); a profiled
    # module times the fused node like any other
    for kwargs in ({"nan_guard": True}, {"profile": True}):
        runs, (expected, w), f = _run_steps("float64", ((6, 40), (6, 30)), **kwargs)
        assert not f._runner.inplace if "nan_guard" in kwargs else f._runner.inplace
        for c, r in zip(runs[0][0], runs[1][0]):
            assert_same(c, r, rtol=1e-11)
        assert_same(runs[0][1], runs[1][1], rtol=1e-11)


def _numeric_grad(fn, w):
    """The gradient of a linear ``fn`` of w (a sum of entries): its value at each unit."""
    grad = np.zeros_like(w)
    for index in np.ndindex(*w.shape):
        unit = np.zeros_like(w)
        unit[index] = 1
        grad[index] = fn(unit)
    return grad


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_view_of_w_read_with_the_sum_keeps_w_out_of_place(dtype):
    """sum(W ** 2) + W[1, 2]: the addition runs after the GemmSquares, and W[1, 2] is a view
    of W's buffer, which an update in place would have overwritten: W gets a new buffer."""
    w0 = rng.standard_normal((7, 5)).astype(dtype)
    xv, dv = rng.standard_normal((3, 7)).astype(dtype), rng.standard_normal((3, 5)).astype(dtype)
    lr, l2 = (np.asarray(c, dtype=dtype) for c in (LR, L2))
    got = []
    for mode in ("c", "py"):
        W = cgraph.shared(w0.copy(), name="W")
        x, d = T.matrix("x", dtype=dtype), T.matrix("d", dtype=dtype)
        f = cgraph.function([x, d], T.sum(W ** 2) + W[1, 2],
                            updates=[(W, W - lr * (T.dot(x.T, d) + l2 * W))], mode=mode)
        if mode == "c":
            assert "GemmSquares" in [type(n.op).__name__ for n in f.nodes]
            assert not f._runner.inplace
        got.append((np.asarray(f(xv, dv)), W.get_value()))
    w = w0.astype(np.float64)
    expected = (np.sum(w ** 2) + w[1, 2], w - LR * (xv.T.astype(np.float64) @ dv + L2 * w))
    tol = 1e-5 if dtype == "float32" else 1e-12
    for k in range(2):
        assert_same(got[0][k], got[1][k], rtol=tol)
        assert_same(got[1][k], np.asarray(expected[k], dtype=dtype), rtol=tol)
