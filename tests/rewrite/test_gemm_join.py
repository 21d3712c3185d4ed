"""Products summed over a minibatch joined into one (rewrite/gemm.py): ``c*dot(u1.T, b1) -
c*dot(u2.T, b2)`` becomes one Gemm of ``join(0, u1, u2).T`` and ``join(0, b1, -b2)``. It fires
only where it is meant to, and the optimized graph computes what numpy computes, in C and in
the reference mode: both dtypes, signs, three products, empty and 1-length axes, strided
operands, an RBM-like weight update built by T.grad (checked against numeric gradients)."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from cgraph.graph.basic import io_toposort
from cgraph.rewrite import optimize
from cgraph.tensor.blas import Dot, Gemm
from cgraph.tensor.shape_ops import BroadcastJoin, Join
from util import assert_clean_build, assert_same

rng = np.random.default_rng(11)


def kinds(inputs, outputs):
    return [type(n.op) for n in io_toposort(optimize(inputs, outputs), stop_at=inputs)]


def run_both(inputs, outputs, values, expected, rtol=None):
    f_c = cgraph.function(inputs, outputs, mode="c")
    assert_clean_build(f_c)
    f_py = cgraph.function(inputs, outputs, mode="py")
    for k, (g, r, e) in enumerate(zip(f_c(*values), f_py(*values), expected)):
        assert_same(g, r, rtol=rtol, what=f"output {k} (C vs reference)")
        assert_same(r, np.asarray(e), rtol=rtol, what=f"output {k} (reference vs numpy)")


def test_join_fires_on_minibatch_sums_only():
    u1, u2, b1, b2, z = (T.dmatrix(n) for n in ("u1", "u2", "b1", "b2", "z"))
    x, W1, W2 = T.dmatrix("x"), T.dmatrix("W1"), T.dmatrix("W2")
    lr, lr2 = T.dscalar("lr"), T.dscalar("lr2")
    ins = [u1, u2, b1, b2, z, x, W1, W2, lr, lr2]
    for expr in (z - lr * (T.dot(u1.T, b1) - T.dot(u2.T, b2)),
                 z - lr * T.dot(u1.T, b1) - lr * T.dot(u2.T, b2),
                 T.dot(u1.T, b1) + T.dot(u2.T, b2),
                 0.5 * T.dot(u1.T, b1) - 0.5 * T.dot(u2.T, b2) + z):
        found = kinds(ins, [expr])
        assert found.count(Gemm) == 1 and Dot not in found and BroadcastJoin in found, expr
    # other factors, products not of a transposed view (their weights would be copied), a
    # product read elsewhere: left as they were (one Gemm and one Dot)
    for outs in ([z - lr * T.dot(u1.T, b1) - lr2 * T.dot(u2.T, b2)],
                 [T.dot(x, W1) + T.dot(u1, W2)],
                 [T.dot(u1.T, b1) + T.dot(u2.T, b2), T.dot(u2.T, b2) * 2]):
        found = kinds(ins, outs)
        assert BroadcastJoin not in found and Join not in found and Dot in found, outs


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_joined_products_equal_numpy(dtype):
    u1, u2, u3 = (T.matrix(n, dtype=dtype) for n in ("u1", "u2", "u3"))
    b1, b2, b3 = (T.matrix(n, dtype=dtype) for n in ("b1", "b2", "b3"))
    z = T.matrix("z", dtype=dtype)
    lr = T.scalar("lr", dtype=dtype)
    ins = [u1, u2, u3, b1, b2, b3, z, lr]
    outs = [z - lr * (T.dot(u1.T, b1) - T.dot(u2.T, b2)),           # signs differ
            T.dot(u1.T, 2 * b1) + T.dot(u2.T, -b2) + T.dot(u3.T, b3),  # three, no z
            # strided and reversed operands (views made in the graph)
            z[::-1] - lr * T.dot(u1[:, ::-1].T, b1) - lr * T.dot(u2[::-1].T, b2[:, ::-1])]

    def expected(u1v, u2v, u3v, b1v, b2v, b3v, zv, lrv):
        return [zv - lrv * (u1v.T @ b1v - u2v.T @ b2v),
                u1v.T @ (2 * b1v) + u2v.T @ -b2v + u3v.T @ b3v,
                zv[::-1] - lrv * (u1v[:, ::-1].T @ b1v) - lrv * (u2v[::-1].T @ b2v[:, ::-1])]
    assert kinds(ins, outs).count(BroadcastJoin) == 6      # (products shared by outputs stay apart)
    # (m, n, k1, k2, k3): a minibatch's, k = 0 for one product and for all, m = 1, n = 1
    for m, n, k1, k2, k3 in ((7, 9, 5, 3, 4), (6, 5, 0, 4, 2), (3, 4, 0, 0, 0),
                             (1, 6, 3, 2, 1), (5, 1, 2, 3, 4)):
        values = [rng.standard_normal((k, m)).astype(dtype) for k in (k1, k2, k3)] + \
                 [rng.standard_normal((k, n)).astype(dtype) for k in (k1, k2, k3)] + \
                 [rng.standard_normal((m, n)).astype(dtype), np.asarray(0.3, dtype)]
        run_both(ins, outs, values, expected(*values))


def test_mismatched_products_raise_a_clear_error():
    u1, u2, b1, b2 = (T.dmatrix(n) for n in ("u1", "u2", "b1", "b2"))
    out = T.dot(u1.T, b1) + T.dot(u2.T, b2)
    f = cgraph.function([u1, u2, b1, b2], out)
    good = [np.ones((2, 3)), np.ones((4, 3)), np.ones((2, 5)), np.ones((4, 5))]
    assert_same(f(*good), np.full((3, 5), 6.0))
    for k, bad in ((1, np.ones((4, 2))), (3, np.ones((4, 6)))):   # m, then n, differ
        values = list(good)
        values[k] = bad
        with pytest.raises(ValueError, match="join"):
            f(*values)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_product_of_one_row_or_column_broadcasts_as_the_sum_does(dtype):
    """dot(u1.T, b1) of one row (or column) at run time against dot(u2.T, b2) of many: the
    sum broadcasts it, and so does the joined product (its operands joined with
    broadcasting), in C and in the reference, against numpy."""
    u1, u2, b1, b2, z = (T.matrix(n, dtype=dtype) for n in ("u1", "u2", "b1", "b2", "z"))
    lr = T.scalar("lr", dtype=dtype)
    ins = [u1, u2, b1, b2, z, lr]
    outs = [z - lr * (T.dot(u1.T, b1) - T.dot(u2.T, b2)), T.dot(u1.T, 2 * b1) + T.dot(u2.T, -b2)]
    assert kinds(ins, outs).count(BroadcastJoin) == 3      # (both join u1 and u2: one node)
    rtol = 1e-5 if dtype == "float32" else None
    # (m1, n1, m2, n2): one row, one column, both, on either side; empty minibatches
    for (m1, n1, m2, n2), (k1, k2) in (((1, 4, 3, 4), (2, 3)), ((3, 1, 3, 4), (2, 3)),
                                       ((3, 4, 1, 1), (2, 3)), ((1, 4, 3, 1), (1, 2)),
                                       ((1, 1, 3, 4), (0, 2)), ((3, 4, 1, 4), (2, 0))):
        m, n = max(m1, m2), max(n1, n2)
        u1v, b1v = rng.standard_normal((k1, m1)).astype(dtype), rng.standard_normal((k1, n1)).astype(dtype)
        u2v, b2v = rng.standard_normal((k2, m2)).astype(dtype), rng.standard_normal((k2, n2)).astype(dtype)
        zv, lrv = rng.standard_normal((m, n)).astype(dtype), np.asarray(0.3, dtype)
        p1, p2 = u1v.T @ b1v, u2v.T @ b2v
        run_both(ins, outs, [u1v, u2v, b1v, b2v, zv, lrv],
                 [zv - lrv * (p1 - p2), 2 * p1 - p2], rtol=rtol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_broadcast_join_equals_numpy_and_numeric_gradients(dtype):
    a, b = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype)
    out = BroadcastJoin(0)(a, b)
    for av, bv in ((np.ones((2, 1)), np.arange(12.0).reshape(3, 4)),
                   (np.arange(8.0).reshape(2, 4), np.ones((0, 1))),
                   (np.arange(8.0).reshape(2, 4), np.arange(4.0).reshape(1, 4)[:, ::-1])):
        av, bv = av.astype(dtype), bv.astype(dtype)
        width = max(av.shape[1], bv.shape[1])
        expected = np.concatenate([np.broadcast_to(av, (av.shape[0], width)),
                                   np.broadcast_to(bv, (bv.shape[0], width))])
        run_both([a, b], [out], [av, bv], [expected])
    f = cgraph.function([a, b], out)
    with pytest.raises(ValueError, match="same length or 1"):
        f(np.ones((2, 3), dtype), np.ones((2, 4), dtype))
    if dtype == "float64":
        verify_grad(lambda a_, b_: BroadcastJoin(0)(a_, b_) * 1.5,
                    [rng.standard_normal((2, 1)), rng.standard_normal((3, 4))], rng=rng)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rbm_like_update_equals_numpy_and_numeric_gradients(dtype):
    """W - lr * grad(mean F(x) - mean F(v)), F(v) = -sum(softplus(v W + h)): the gradient is
    x.T s(x) - v.T s(v) over the batch, two products the rewrite joins."""
    x, v, W = T.matrix("x", dtype=dtype), T.matrix("v", dtype=dtype), T.matrix("W", dtype=dtype)
    h = T.vector("h", dtype=dtype)
    lr = np.asarray(0.1, dtype)

    def free_energy(u):
        return -T.sum(T.nnet.softplus(T.dot(u, W) + h), axis=1)
    cost = T.mean(free_energy(x)) - T.mean(free_energy(v))
    g_W = T.grad(cost, W)
    new_W = W - lr * g_W
    assert BroadcastJoin in kinds([x, v, W, h], [new_W])
    xv, vv = rng.random((6, 5)).astype(dtype), rng.random((6, 5)).astype(dtype)
    Wv, hv = rng.standard_normal((5, 4)).astype(dtype), rng.standard_normal(4).astype(dtype)

    def sigmoid(a):
        return 1 / (1 + np.exp(-a))
    grad = (vv.T @ sigmoid(vv @ Wv + hv) - xv.T @ sigmoid(xv @ Wv + hv)) / 6
    run_both([x, v, W, h], [new_W], [xv, vv, Wv, hv], [Wv - lr * grad],
             rtol=1e-4 if dtype == "float32" else None)
    if dtype == "float64":
        verify_grad(lambda W_: T.mean(-T.sum(T.nnet.softplus(T.dot(T.constant(xv), W_) + hv),
                                             axis=1))
                    - T.mean(-T.sum(T.nnet.softplus(T.dot(T.constant(vv), W_) + hv), axis=1)),
                    [Wv], rng=rng)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_update_in_place_skips_copying_z_onto_itself(dtype):
    """W <- W - lr * (u1.T b1 - u2.T b2) written into W's buffer: out = z is not copied (W is
    there already); V <- V[:1] + ... (z a view of V, broadcast over rows: not in place) still
    is. Values over repeated calls against numpy."""
    W0 = rng.standard_normal((5, 4)).astype(dtype)
    W = cgraph.shared(W0.copy(), name="W")
    V = cgraph.shared(W0.copy(), name="V")
    u1, u2, b1, b2 = (T.matrix(n, dtype=dtype) for n in ("u1", "u2", "b1", "b2"))
    lr = np.asarray(0.5, dtype)
    f = cgraph.function([u1, u2, b1, b2], [],
                        updates=[(W, W - lr * (T.dot(u1.T, b1) - T.dot(u2.T, b2)))])
    g = cgraph.function([u1, b1], [], updates=[(V, V[:1] + T.dot(u1.T, b1 * 2))])
    for h in (f, g):
        assert_clean_build(h)
        assert "cg_loop_nothing" in h.c_source
    Wn, Vn = W0.copy(), W0.copy()
    tol = 1e-5 if dtype == "float32" else None
    for _ in range(3):
        uv1, uv2 = rng.standard_normal((3, 5)).astype(dtype), rng.standard_normal((2, 5)).astype(dtype)
        bv1, bv2 = rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal((2, 4)).astype(dtype)
        f(uv1, uv2, bv1, bv2)
        g(uv1, bv1)
        Wn = Wn - lr * (uv1.T @ bv1 - uv2.T @ bv2)
        Vn = Vn[:1] + uv1.T @ (bv1 * 2)
        assert_same(W.get_value(), Wn.astype(dtype), rtol=tol)
        assert_same(V.get_value(), Vn.astype(dtype), rtol=tol)
