"""Speed rewrites (canonicalize.py, gemm.py, fusion.py): each one fires on the graphs it is
meant for, and the optimized graph computes what numpy computes, in C and in the reference
mode, over float32/float64/integers, broadcasting, strided views and NaN/inf.

Function inputs arrive contiguous, so strided operands are made inside the graph (reversed
and transposed views, every other column). Each test compiles few functions with many
outputs.
"""
import numpy as np
import pytest
import scipy.special

import cgraph
import cgraph.tensor as T
from cgraph.graph.basic import Constant, io_toposort
from cgraph.rewrite import optimize
from cgraph.tensor.blas import Dot, Gemm
from cgraph.tensor.blas_epilogue import GemmSquares
from cgraph.tensor.elemwise import Elemwise, SumToShape
from cgraph.tensor.reduction import Reduce
from cgraph.tensor.scalar_ops import Composite
from cgraph.tensor.shape_ops import Reshape
from util import assert_clean_build, assert_same

rng = np.random.default_rng(7)


def nodes_of(inputs, outputs):
    return io_toposort(optimize(inputs, outputs), stop_at=inputs)


def ops_of(inputs, output):
    """The op names of the optimized graph of one output (scalar op names for Elemwise)."""
    names = []
    for node in nodes_of(inputs, [output]):
        op = node.op
        names.append(op.scalar_op.name if isinstance(op, Elemwise) else type(op).__name__)
    return names


def run_both(inputs, outputs, value_sets, expected_sets, rtol=None):
    """Compile once per mode; for each value set: C equals the reference, and the reference
    equals numpy's ``expected``."""
    f_c = cgraph.function(inputs, outputs, mode="c")
    assert_clean_build(f_c)
    f_py = cgraph.function(inputs, outputs, mode="py")
    for values, expected in zip(value_sets, expected_sets):
        got, ref = f_c(*values), f_py(*values)
        for k, (g, r, e) in enumerate(zip(got, ref, expected)):
            assert_same(g, r, rtol=rtol, what=f"output {k} (C vs reference)")
            assert_same(r, np.asarray(e), rtol=rtol, what=f"output {k} (reference vs numpy)")
    return f_c


# --- elementwise fusion: nested groups ---------------------------------------------------------

def test_fusion_group_reading_another_group_is_built_once():
    # a = exp(x) + 1 is read twice, so it is one fused node; (a * 2) + 3 reads it. The fused
    # graph must not keep a second, unfused copy of a (as it once did, doubling the work).
    x = T.dvector("x")
    a = T.exp(x) + 1
    outs = [a * 2 + 3, T.max(a)]
    nodes = nodes_of([x], outs)
    assert not [n for n in nodes if isinstance(n.op, Elemwise)
                and not isinstance(n.op.scalar_op, Composite)]
    assert len(nodes) == 3
    v = rng.normal(size=6)
    run_both([x], outs, [[v]], [[(np.exp(v) + 1) * 2 + 3, (np.exp(v) + 1).max()]])


# --- canonicalization --------------------------------------------------------------------------

def test_neutral_elements_and_powers_fire():
    x, v = T.dmatrix("x"), T.dvector("v")
    i, f = T.lmatrix("i"), T.fmatrix("f")
    ins = [x, v, i, f]
    for expr in (x * 1, 1 * x, x + 0, 0 + x, x - 0, x / 1, x ** 1, -(-x), x.T.T,
                 x.dimshuffle(0, 1)):
        assert optimize(ins, [expr])[0] is x, expr
    assert optimize(ins, [i // 1])[0] is i
    # a float constant converts x as the op did: a cast, not the op
    assert ops_of(ins, f * 1.0) == ["cast_float64"]
    assert ops_of(ins, x ** 2) == ["sqr"]
    assert ops_of(ins, x ** 0.5) == ["sqrt"]
    assert ops_of(ins, x ** -1) == ["true_div"]
    assert ops_of(ins, i - i) == ["second"] and ops_of(ins, i * 0) == ["second"]
    assert ops_of(ins, (-x) * (-v)) == ["DimShuffle", "mul"]
    # x / 4 -> x * 0.25 (exact); x / 3 stays a division (1/3 is not exact)
    div4 = nodes_of(ins, [x / 4])
    assert [n.op.scalar_op.name for n in div4] == ["mul"]
    assert [c.data.item() for c in div4[0].inputs if isinstance(c, Constant)] == [0.25]
    assert ops_of(ins, x / 3) == ["true_div"]
    # integer constants are collected; float ones are not (rounding)
    collected = nodes_of(ins, [3 * (i * 2)])
    assert len(collected) == 1 and \
        [c.data.item() for c in collected[0].inputs if isinstance(c, Constant)] == [6]
    (fused,) = nodes_of(ins, [3.0 * (x * 2.0)])
    assert [op.name for op, _, _ in fused.op.scalar_op.steps] == ["mul", "mul"]
    # x * ones((2, 3)) would change x's shape when x is (1, 3): not rewritten
    assert ops_of(ins, x * T.constant(np.ones((2, 3)))) == ["mul"]
    # the gradient of sum(3 x**2) sums over no axis: no SumToShape, no x**2 for its shape
    grad = nodes_of(ins, [T.grad(T.sum(3.0 * x ** 2), x)])
    assert not [n for n in grad if isinstance(n.op, SumToShape)]
    assert not [n for n in grad if isinstance(n.op, Reduce)]
    # shape ops
    merged = nodes_of(ins, [x.dimshuffle(1, 0).dimshuffle(1, "x", 0)])
    assert len(merged) == 1 and merged[0].op.new_order == (0, "x", 1)
    reshaped = nodes_of(ins, [T.reshape(T.reshape(x, (-1,)), (3, 4))])
    assert [type(n.op) for n in reshaped] == [Reshape] and reshaped[0].inputs[0] is x


def test_canonical_forms_equal_numpy():
    x, v = T.dmatrix("x"), T.dvector("v")
    f = T.fmatrix("f")
    i, j = T.lmatrix("i"), T.bmatrix("j")
    ins = [x, v, f, i, j]
    outs = [x * 1, x + 0, x - 0, x / 1, x ** 1, x ** 2, x ** 0.5, x ** -1, x / 4, x / 0.5,
            T.exp(T.log(x)), -(-x), (-x) * (-v), f * 1, f ** 2, f ** 0.5, f ** -1, f / 8,
            f * 1.0, i * 0, i - i, 3 * (i * 5), (i + 7) + 2, j * 1, j ** 2, i ** 1,
            x[::-1] ** 2, x.T[:, ::-1] / 4, v * T.constant(np.ones((1, 1))),
            x - x, x * 0,   # floats: not zeros (inf - inf and NaN * 0 are NaN)
            T.grad(T.sum(3.0 * v ** 2), v)]
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, -2.0, 0.25, 3.0, 1e-310, 1e300,
                        -1e-300, 7.5])
    xv = special.reshape(3, 4)
    vv = rng.normal(size=4)
    with np.errstate(over="ignore"):
        fv = special.astype("float32").reshape(3, 4)
    iv = rng.integers(-2 ** 62, 2 ** 62, size=(3, 4))
    jv = rng.integers(-128, 128, size=(3, 4)).astype("int8")

    def expected(xv, vv, fv, iv, jv):
        with np.errstate(all="ignore"):
            return [xv, xv, xv, xv, xv, xv ** 2, xv ** 0.5, xv ** -1.0, xv / 4, xv / 0.5,
                    np.where(xv >= 0, xv, np.nan), xv, xv * vv, fv, fv ** 2,
                    fv.astype("float64") ** 0.5, fv ** np.float32(-1), fv / np.float32(8),
                    fv.astype("float64"), iv * 0, iv - iv, 3 * (iv * 5), (iv + 7) + 2, jv,
                    jv ** 2, iv, xv[::-1] ** 2, xv.T[:, ::-1] / 4, vv[None] * 1.0,
                    xv - xv, xv * 0, 6.0 * vv]
    values = [xv, vv, fv, iv, jv]
    values2 = [rng.uniform(0.1, 5, size=(3, 4)), vv, rng.normal(size=(3, 4)).astype("float32"),
               iv // 3, jv // 2]
    run_both(ins, outs, [values, values2], [expected(*values), expected(*values2)])


# --- reduction fusion --------------------------------------------------------------------------

def test_reduction_absorbs_its_elementwise_producer():
    x, a = T.dmatrix("x"), T.dmatrix("a")
    b = T.dvector("b")
    for expr in (T.sum(T.exp(x)), T.sum(x ** 2), T.mean((a - b) ** 2, axis=1),
                 T.max(x * 2, axis=0), T.any(T.gt(x, 0), axis=1)):
        nodes = nodes_of([x, a, b], [expr])
        reduce_nodes = [n for n in nodes if isinstance(n.op, Reduce)]
        assert len(reduce_nodes) == 1 and reduce_nodes[0].op.scalar_op is not None, expr
        assert not [n for n in nodes if isinstance(n.op, Elemwise)], expr
    # a value read elsewhere stays materialised: the sum reads it, does not recompute it
    e = T.exp(x)
    nodes = nodes_of([x], [e * 2, T.sum(e)])
    assert [n.op.scalar_op for n in nodes if isinstance(n.op, Reduce)] == [None]
    # var/std read their input twice: never fused
    assert nodes_of([x], [T.var(T.exp(x))])[-1].op.scalar_op is None


@pytest.mark.slow   # many compiles: 5 s on 2 busy cores
def test_fused_reductions_equal_numpy():
    x = T.tensor3("x")
    a, m = T.dmatrix("a"), T.dmatrix("m")
    b = T.dvector("b")
    f = T.fmatrix("f")
    n = T.lmatrix("n")
    r = T.dmatrix("r")   # given a (1, 5) value: broadcast at run time, not declared so
    ins = [x, a, b, m, f, n, r]
    outs = [T.sum(T.exp(a)), T.sum(a ** 2, axis=0), T.mean((a - b) ** 2, axis=1),
            T.max(a * 2, axis=1), T.min(T.abs(m), axis=0, keepdims=True),
            T.prod(a + 1, axis=1), T.sum(T.exp(x), axis=(0, 2)), T.sum(x * 3, axis=(1, 2)),
            T.any(T.gt(a, 1), axis=0), T.all(T.lt(a, 3)), T.sum(T.exp(a[::-1, ::2])),
            T.max(a.T * 2, axis=1), T.sum(f * f, axis=1), T.mean(T.exp(f)),
            T.sum(n * 3), T.sum(n // 2, axis=0), T.max(m + b, axis=1), T.sum(a + b[0]),
            T.sum(a * r, axis=0), T.sum(r - m, axis=1)]

    def expected(xv, av, bv, mv, fv, nv, rv):
        with np.errstate(all="ignore"):
            return [np.exp(av).sum(), (av ** 2).sum(axis=0), ((av - bv) ** 2).mean(axis=1),
                    (av * 2).max(axis=1), np.abs(mv).min(axis=0, keepdims=True),
                    (av + 1).prod(axis=1), np.exp(xv).sum(axis=(0, 2)),
                    (xv * 3).sum(axis=(1, 2)), (av > 1).any(axis=0), (av < 3).all(),
                    np.exp(av[::-1, ::2]).sum(), (av.T * 2).max(axis=1),
                    (fv * fv).sum(axis=1, dtype="float64").astype("float32"),
                    np.float32(np.exp(fv.astype("float64")).mean()), (nv * 3).sum(),
                    (nv // 2).sum(axis=0), (mv + bv).max(axis=1), (av + bv[0]).sum(),
                    (av * rv).sum(axis=0), (rv - mv).sum(axis=1)]
    shape = (4, 5)
    sets = []
    for k in range(2):
        av = rng.normal(size=shape)
        mv = rng.normal(size=shape)
        if k == 1:   # NaN and inf travel through the fused loops as through numpy's
            av[1, 2], av[3, 0], mv[2, 1], mv[0, 4] = np.nan, np.inf, np.nan, -np.inf
        sets.append([rng.normal(size=(3, 4, 2)), av, rng.normal(size=5), mv,
                     rng.normal(size=shape).astype("float32"),
                     rng.integers(-1000, 1000, size=shape), rng.normal(size=(1, 5))])
    run_both(ins, outs, sets, [expected(*s) for s in sets])


def test_fused_reduction_errors():
    a, b = T.dmatrix("a"), T.dmatrix("b")
    i, j = T.lvector("i"), T.lvector("j")
    for mode in ("c", "py"):
        f = cgraph.function([a, b], T.sum(a * b, axis=0), mode=mode)
        with pytest.raises(ValueError, match="broadcast"):
            f(np.ones((2, 3)), np.ones((3, 3)))
        f = cgraph.function([a], T.max(T.exp(a), axis=1), mode=mode)
        with pytest.raises(ValueError, match=r"zero-size array.*exp\(a\) has shape \(2, 0\)"):
            f(np.ones((2, 0)))
        f = cgraph.function([i, j], T.sum(i // j), mode=mode)
        with pytest.raises(ZeroDivisionError):
            f(np.array([1, 2]), np.array([1, 0]))


# --- gemm fusion -------------------------------------------------------------------------------

def test_gemm_fires_for_linear_forms():
    x, W, z = T.dmatrix("x"), T.dmatrix("W"), T.dmatrix("z")
    b, v = T.dvector("b"), T.dvector("v")
    lr = T.dscalar("lr")
    ins = [x, W, z, b, v, lr]
    for expr in (T.dot(x, W) + b, z + T.dot(x, W), z - lr * T.dot(x, W),
                 2.0 * T.dot(x, W) + 3.0 * z, 0.5 * T.dot(x, W), T.dot(x, v) + b,
                 b - T.dot(v, W), z - lr * (2 * z + T.dot(x, W))):
        nodes = nodes_of(ins, [expr])
        assert [type(n.op) for n in nodes].count(Gemm) == 1, expr
        assert not [n for n in nodes if isinstance(n.op, Dot)], expr
    # z's two terms, z and lr * 2 * z, are one: z times beta = 1 - lr * 2, no loop of its own
    gemm = [n for n in nodes if isinstance(n.op, Gemm)][0]
    assert gemm.op.scalar_op is None and gemm.inputs[4] is z
    # the elementwise part of z is computed in the Gemm's own loop
    gemm = [n for n in nodes_of(ins, [z * z - lr * (2 * z + T.dot(x, W))])
            if isinstance(n.op, Gemm)][0]
    assert isinstance(gemm.op.scalar_op, Composite)
    # not linear in the product, or the product read elsewhere: left alone
    for outs in ([T.dot(x, W) * z], [T.dot(x, W) + z, T.dot(x, W) * 2], [T.dot(v, v) + 1]):
        assert not [n for n in nodes_of(ins, outs) if isinstance(n.op, Gemm)]
    # a float32 product in a float64 sum would compute differently: left alone
    xf, Wf = T.fmatrix("xf"), T.fmatrix("Wf")
    assert not [n for n in nodes_of([xf, Wf, z], [T.dot(xf, Wf) + z])
                if isinstance(n.op, Gemm)]


def test_gemm_equals_numpy():
    x, W, z = T.dmatrix("x"), T.dmatrix("W"), T.dmatrix("z")
    b, v, u = T.dvector("b"), T.dvector("v"), T.dvector("u")
    lr = T.dscalar("lr")
    xf, Wf, bf = T.fmatrix("xf"), T.fmatrix("Wf"), T.fvector("bf")
    ins = [x, W, z, b, v, u, lr, xf, Wf, bf]
    outs = [T.dot(x, W) + b, z - lr * T.dot(x, W), 2.0 * T.dot(x, W) + 3.0 * z,
            z - lr * (2 * z + T.dot(x, W)), 0.5 * T.dot(x, W), T.dot(x, u) + v[0],
            b - T.dot(u, W), T.dot(x[::-1], W.T.T) + z[:, ::-1],
            T.dot(x.T.T[:, ::-1], W[::-1]) - z, T.dot(x, W[:, ::2]) + b[::2],
            T.dot(xf, Wf) + bf, bf - T.cast(0.5, "float32") * T.dot(xf[0], Wf),
            lr * T.dot(x, W) + lr * z]

    def expected(xv, Wv, zv, bv, vv, uv, lrv, xfv, Wfv, bfv):
        with np.errstate(all="ignore"):
            return [xv @ Wv + bv, zv - lrv * (xv @ Wv), 2 * (xv @ Wv) + 3 * zv,
                    zv - lrv * (2 * zv + xv @ Wv), 0.5 * (xv @ Wv), xv @ uv + vv[0],
                    bv - uv @ Wv, xv[::-1] @ Wv + zv[:, ::-1], xv[:, ::-1] @ Wv[::-1] - zv,
                    xv @ Wv[:, ::2] + bv[::2], xfv @ Wfv + bfv,
                    bfv - np.float32(0.5) * (xfv[0] @ Wfv), lrv * (xv @ Wv) + lrv * zv]
    m, k, n = 4, 5, 6

    def values(special=False):
        xv = rng.normal(size=(m, k))
        zv = rng.normal(size=(m, n))
        if special:
            zv[0, 0], zv[1, 1], xv[2, 3] = np.nan, -np.inf, np.inf
        return [xv, rng.normal(size=(k, n)), zv, rng.normal(size=n), rng.normal(size=m),
                rng.normal(size=k), 0.3, rng.normal(size=(m, k)).astype("float32"),
                rng.normal(size=(k, n)).astype("float32"), rng.normal(size=n).astype("float32")]
    sets = [values(), values(special=True)]
    run_both(ins, outs, sets, [expected(*s) for s in sets], rtol=None)


def test_gemm_edge_cases_equal_numpy():
    # alpha == 0 (BLAS would skip the product: inf * 0 must still give NaN), an empty inner
    # dimension, a product of one column broadcast over a wider z, a 1-row x
    x, W, V, z = T.dmatrix("x"), T.dmatrix("W"), T.dmatrix("V"), T.dmatrix("z")
    lr = T.dscalar("lr")
    ins = [x, W, V, z, lr]
    outs = [z - lr * T.dot(x, W), z + T.dot(x, V)]   # two products (one would be shared)
    assert [type(n.op) for n in nodes_of(ins, outs)].count(Gemm) == 2
    xv = rng.normal(size=(3, 4))
    xv[0, 0] = np.inf
    zv = rng.normal(size=(3, 2))
    Wv = rng.normal(size=(4, 2))

    def expected(xv, Wv, Vv, zv, lrv):
        with np.errstate(all="ignore"):
            return [zv - lrv * (xv @ Wv), zv + xv @ Vv]
    column = rng.normal(size=(4, 1))
    sets = [[xv, Wv, Wv, zv, 0.0],                                        # alpha 0
            [np.ones((3, 0)), np.ones((0, 2)), np.ones((0, 2)), zv, np.inf],   # k == 0
            [rng.normal(size=(3, 4)), column, column, zv, 0.5],           # spread columns
            [rng.normal(size=(1, 4)), Wv, Wv, zv, 0.5]]                   # spread rows
    run_both(ins, outs, sets, [expected(*s) for s in sets])


def test_constants_made_by_gemm_and_fusion_are_merged():
    # each Gemm gets an alpha and a beta of 1.0 of its own; merging after gemm and fusion
    # leaves one constant per type and value, so the module declares 1.0 once
    x, W, V, z = T.dmatrix("x"), T.dmatrix("W"), T.dmatrix("V"), T.dmatrix("z")
    f = cgraph.function([x, W, V, z], [z + T.dot(x, W), z + T.dot(x, V)])
    assert [type(n.op) for n in f.nodes].count(Gemm) == 2
    constants = {}
    for node in f.nodes:
        for var in node.inputs:
            if isinstance(var, Constant):
                constants.setdefault((var.type, var.signature()), set()).add(id(var))
    assert constants and all(len(ids) == 1 for ids in constants.values())
    assert f.c_source.count("_data[1] = { 1.0 };") == 1


def test_gemm_errors_name_the_operands():
    x, W, z = T.dmatrix("x"), T.dmatrix("W"), T.dmatrix("z")
    for mode in ("c", "py"):
        f = cgraph.function([x, W, z], z + T.dot(x, W), mode=mode)
        with pytest.raises(ValueError, match=r"x has shape \(2, 3\) but W has shape \(4, 2\)"):
            f(np.ones((2, 3)), np.ones((4, 2)), np.ones((2, 2)))
        with pytest.raises(ValueError, match="broadcast"):
            f(np.ones((2, 3)), np.ones((3, 2)), np.ones((3, 2)))


# --- a training step ---------------------------------------------------------------------------

@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_logistic_regression_step_fuses_and_matches_numpy():
    rows, features, classes, lr = 8, 6, 3, 0.13
    data_x = rng.random((rows * 2, features))
    data_y = rng.integers(0, classes, size=rows * 2)
    W = cgraph.shared(np.zeros((features, classes)), name="W")
    b = cgraph.shared(np.zeros(classes), name="b")
    sx, sy = cgraph.shared(data_x, name="sx"), cgraph.shared(data_y, name="sy")
    index = T.lscalar("index")
    x, y = T.dmatrix("x"), T.lvector("y")
    p_y = T.nnet.softmax(T.dot(x, W) + b)
    cost = -T.mean(T.log(p_y)[T.arange(y.shape[0]), y]) + 1e-3 * T.sum(W ** 2)
    g_W, g_b = T.grad(cost, [W, b])
    f = cgraph.function([index], cost, updates=[(W, W - lr * g_W), (b, b - lr * g_b)],
                        givens={x: sx[index * rows:(index + 1) * rows],
                                y: sy[index * rows:(index + 1) * rows]})
    assert_clean_build(f)
    kinds = [n.op for n in f.nodes]
    # dot(x, W) + b (the gradient reads its shape from x and W, so the product is free to
    # fuse) and W - lr * (x^T delta + ...), the decay in its beta; sum(W**2) read in the
    # update's pass over W (GemmSquares)
    assert [type(op) for op in kinds].count(Gemm) == 1
    assert [type(op) for op in kinds].count(GemmSquares) == 1
    assert not any(isinstance(op, Reduce) and op.scalar_op is not None for op in kinds)
    assert not [op for op in kinds if isinstance(op, Elemwise) and op.scalar_op.name == "pow"]

    Wn, bn = np.zeros((features, classes)), np.zeros(classes)
    for i in (0, 1, 0):
        xv, yv = data_x[i * rows:(i + 1) * rows], data_y[i * rows:(i + 1) * rows]
        logits = xv @ Wn + bn
        p = scipy.special.softmax(logits, axis=1)
        expected = -np.log(p[np.arange(rows), yv]).mean() + 1e-3 * (Wn ** 2).sum()
        delta = p.copy()
        delta[np.arange(rows), yv] -= 1
        delta /= rows
        Wn, bn = Wn - lr * (xv.T @ delta + 2e-3 * Wn), bn - lr * delta.sum(axis=0)
        assert_same(f(i), np.asarray(expected))
        assert_same(W.get_value(), Wn)
        assert_same(b.get_value(), bn)
