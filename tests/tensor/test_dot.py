"""dot against numpy: every rank combination, dtypes, transposed and strided operands,
empty and length-1 dimensions, BLAS on large products, and the user errors."""
import re

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from util import assert_clean_build, assert_same, check, check_error, strided_variants

rng = np.random.default_rng(0)

DTYPES = ["float64", "float32", "int64", "int32", "int8", "uint8", "bool"]
# (m, k, n): a is (m, k), b is (k, n); empty and length-1 dimensions everywhere
SHAPES = [(3, 4, 5), (1, 4, 5), (3, 1, 5), (3, 4, 1), (1, 1, 1), (0, 4, 5), (3, 0, 5),
          (3, 4, 0), (0, 0, 0), (7, 9, 2)]


def random(shape, dtype):
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if dtype in ("float32", "float64"):
        return rng.normal(size=shape).astype(dtype)
    info = np.iinfo(dtype)   # int8/uint8 use their whole range, so sums wrap as numpy's do
    low, high = max(info.min, -1000), min(info.max, 1000)
    return rng.integers(low, high, shape, endpoint=True).astype(dtype)


def compile_both(inputs, outputs):
    f_c = cgraph.function(inputs, outputs, mode="c")
    f_py = cgraph.function(inputs, outputs, mode="py")
    assert_clean_build(f_c)
    return f_c, f_py


def compare(f_c, f_py, values, expected, names, rtol=None):
    """C equals the reference, and the reference equals numpy, output by output."""
    for name, got, ref, exp in zip(names, f_c(*values), f_py(*values), expected):
        assert_same(got, ref, rtol=rtol, what=f"{name}: C vs reference")
        assert_same(ref, np.asarray(exp), rtol=rtol, what=f"{name}: reference vs numpy")


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_rank_combination_and_layout_against_numpy(dtype):
    # at, bt hold a and b transposed, so at.T and bt.T are views with swapped strides;
    # tt.dimshuffle(1, 0, 2) is a 3-d view whose leading axes cannot be merged.
    a, at, b, bt = (T.matrix(name, dtype=dtype) for name in ("a", "at", "b", "bt"))
    u, w = T.vector("u", dtype=dtype), T.vector("w", dtype=dtype)
    t, tt = T.tensor3("t", dtype=dtype), T.tensor3("tt", dtype=dtype)
    cases = {
        "a.b": (T.dot(a, b), lambda A, B, U, W, T3: A.dot(B)),
        "at.T.b": (T.dot(at.T, b), lambda A, B, U, W, T3: A.dot(B)),
        "a.bt.T": (T.dot(a, bt.T), lambda A, B, U, W, T3: A.dot(B)),
        "at.T.bt.T": (T.dot(at.T, bt.T), lambda A, B, U, W, T3: A.dot(B)),
        "a@b": (a @ b, lambda A, B, U, W, T3: A @ B),
        "a.dot(b)": (a.dot(b), lambda A, B, U, W, T3: A.dot(B)),
        "a.u": (T.dot(a, u), lambda A, B, U, W, T3: A.dot(U)),
        "at.T.u": (T.dot(at.T, u), lambda A, B, U, W, T3: A.dot(U)),
        "w.a": (T.dot(w, a), lambda A, B, U, W, T3: W.dot(A)),
        "w.at.T": (T.dot(w, at.T), lambda A, B, U, W, T3: W.dot(A)),
        "u.b": (T.dot(u, b), lambda A, B, U, W, T3: U.dot(B)),
        "u.bt.T": (T.dot(u, bt.T), lambda A, B, U, W, T3: U.dot(B)),
        "u.u": (T.dot(u, u), lambda A, B, U, W, T3: np.asarray(U.dot(U))),
        "t.b": (T.dot(t, b), lambda A, B, U, W, T3: T3.dot(B)),
        "tt'.b": (T.dot(tt.dimshuffle(1, 0, 2), b), lambda A, B, U, W, T3: T3.dot(B)),
        "t.u": (T.dot(t, u), lambda A, B, U, W, T3: T3.dot(U)),
        "tt'.u": (T.dot(tt.dimshuffle(1, 0, 2), u), lambda A, B, U, W, T3: T3.dot(U)),
        "outer(u, w)": (T.outer(u, w), lambda A, B, U, W, T3: np.outer(U, W)),
    }
    names = list(cases)
    f_c, f_py = compile_both([a, at, b, bt, u, w, t, tt], [cases[k][0] for k in names])
    assert all(cases[name][0].dtype == dtype for name in names)
    for m, k, n in SHAPES:
        A, B, U, W, T3 = (random((m, k), dtype), random((k, n), dtype), random(k, dtype),
                          random(m, dtype), random((2, m, k), dtype))
        values = [A, A.T.copy(), B, B.T.copy(), U, W, T3, T3.transpose(1, 0, 2).copy()]
        with np.errstate(all="ignore"):
            expected = [cases[name][1](A, B, U, W, T3) for name in names]
        compare(f_c, f_py, values, expected, [f"{name} {(m, k, n)}" for name in names])


def test_noncontiguous_input_arrays():
    x, y, v = T.dmatrix("x"), T.dmatrix("y"), T.dvector("v")
    f_c, f_py = compile_both([x, y, v], [T.dot(x, y), T.dot(x.T, v), T.dot(y.T, x.T)])
    base_x, base_y, base_v = rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=4)
    expected = [base_x @ base_y, base_x.T @ base_v, base_y.T @ base_x.T]
    for X in strided_variants(base_x):
        for Y in strided_variants(base_y):
            for V in strided_variants(base_v):
                compare(f_c, f_py, [X, Y, V], expected, ["x.y", "x.T.v", "y.T.x.T"])


def test_broadcastable_operands_and_zero_strides():
    # rows and columns have length-1 axes whose strides are 0 after a dimshuffle
    r, c, u = T.drow("r"), T.dcol("c"), T.dvector("u")
    m = T.dmatrix("m")
    outs = [T.dot(c, r), T.dot(r, c), T.dot(u.dimshuffle("x", 0), m),
            T.dot(m, u.dimshuffle(0, "x")), T.dot(r.T, r), T.dot(c.T, m), T.outer(u, u)]
    R, C, U, M = rng.normal(size=(1, 4)), rng.normal(size=(4, 1)), rng.normal(size=4), \
        rng.normal(size=(4, 4))
    got = check([r, c, u, m], outs, [R, C, U, M],
                expected=[C @ R, R @ C, U[None] @ M, M @ U[:, None], R.T @ R, C.T @ M,
                          np.outer(U, U)])
    assert got[1].shape == (1, 1)
    assert outs[0].broadcastable == (False, False) and outs[1].broadcastable == (True, True)


def test_result_dtype_is_the_numpy_upcast():
    pairs = [("float32", "float64"), ("int32", "float32"), ("int8", "uint8"), ("bool", "int8"),
             ("int16", "int64"), ("bool", "float32")]
    inputs, outs, values, expected = [], [], [], []
    for da, db in pairs:
        a, b = T.matrix(f"a_{da}", dtype=da), T.vector(f"b_{db}", dtype=db)
        out = T.dot(a, b)
        assert out.dtype == np.result_type(da, db).name, (da, db, out.dtype)
        A, B = random((3, 4), da), random(4, db)
        inputs += [a, b]
        outs.append(out)
        values += [A, B]
        expected.append(np.dot(A, B))
    check(inputs, outs, values, expected=expected)


def test_zero_dimensional_operand_multiplies_elementwise():
    s, x, i = T.dscalar("s"), T.fmatrix("x"), T.iscalar("i")
    X = random((2, 3), "float32")
    outs = [T.dot(s, x), T.dot(x, s), x.dot(i), T.dot(s, s)]
    assert [o.dtype for o in outs] == ["float64", "float64", "float64", "float64"]
    check([s, x, i], outs, [2.5, X, 3],
          expected=[2.5 * X.astype("float64"), 2.5 * X.astype("float64"),
                    3 * X.astype("float64"), np.float64(6.25)])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_large_products_go_through_blas(dtype):
    x, y, v = T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype), T.vector("v", dtype=dtype)
    outs = [T.dot(x, y), T.dot(x.T, x), T.dot(y, T.dot(y.T, v)), T.dot(v, x.T), T.dot(v, v)]
    X, Y, V = random((300, 200), dtype), random((200, 100), dtype), random(200, dtype)
    rtol = 1e-4 if dtype == "float32" else 1e-10
    f = cgraph.function([x, y, v], outs)
    prefix = "s" if dtype == "float32" else "d"
    # one runtime call per node (ops/blas_nodes.c.j2); its product picks gemm, gemv or dot
    run = f.c_source.split("int cg_run(")[1]
    assert f"cg_{prefix}dot_node(" in run and "gemm_product(" not in run
    check([x, y, v], outs, [X, Y, V], rtol=rtol,
          expected=[X @ Y, X.T @ X, Y @ (Y.T @ V), V @ X.T, V @ V])


def test_dot_uses_the_vector_routine_and_integers_use_a_loop():
    u, i = T.fvector("u"), T.imatrix("i")
    f = cgraph.function([u, i], [T.dot(u, u), T.dot(i, i)])
    run = f.c_source.split("int cg_run(")[1]
    assert run.count("cg_sdot_node(") == 1      # the runtime picks sdot for two vectors
    assert "cg_ddot_node(" not in run
    U, I = random(1000, "float32"), random((3, 3), "int32")
    got = f(U, I)
    np.testing.assert_allclose(got[0], U.astype("float64") @ U.astype("float64"), rtol=1e-5)
    np.testing.assert_array_equal(got[1], I @ I)


def test_inner_dimension_mismatch_names_both_operands():
    x, W, v = T.dmatrix("x"), T.dmatrix("W"), T.dvector("v")
    check_error([x, W], T.dot(x, W), [np.ones((2, 3)), np.ones((4, 5))], ValueError,
                match=re.escape("dot: x has shape (2, 3) but W has shape (4, 5): "
                                "inner dimensions 3 and 4 differ"))
    check_error([v, W], T.dot(v, W), [np.ones(3), np.ones((4, 5))], ValueError,
                match=re.escape("dot: v has shape (3,) but W has shape (4, 5)"))
    check_error([x, v], T.dot(x, v), [np.ones((2, 3)), np.ones(4)], ValueError,
                match=re.escape("inner dimensions 3 and 4 differ"))
    i, j = T.ivector("i"), T.ivector("j")
    check_error([i, j], T.dot(i, j), [np.ones(0, "int32"), np.ones(1, "int32")], ValueError,
                match=re.escape("dot: i has shape (0,) but j has shape (1,)"))


def test_runtime_node_errors_name_the_operands_and_the_node():
    # Dot and Gemm nodes are one runtime call each (ops/blas_nodes.c.j2): the message comes
    # from the runtime, the node from the module's fail_node
    x, W, z, t = T.dmatrix("x"), T.dmatrix("W"), T.dmatrix("z"), T.dtensor3("t")
    lr = T.dscalar("lr")
    f = cgraph.function([x, W, z, lr], z - lr * T.dot(x, W))
    assert "cg_dgemm_node(" in f.c_source.split("int cg_run(")[1]
    with pytest.raises(ValueError, match=r"(?s)dot: x has shape \(2, 3\) but W has shape "
                       r"\(4, 2\).*Apply node that caused the error: Gemm"):
        f(np.ones((2, 3)), np.ones((4, 2)), np.ones((2, 2)), 0.1)
    with pytest.raises(ValueError, match=re.escape(
            "Gemm: shapes cannot be broadcast together: z has shape (3, 2), the product "
            "dot(x, W) has shape (2, 2)")):
        f(np.ones((2, 3)), np.ones((3, 2)), np.ones((3, 2)), 0.1)
    g = cgraph.function([t, W], T.dot(t, W))
    with pytest.raises(ValueError, match=r"(?s)dot: t has shape \(2, 1, 3\) but W has shape "
                       r"\(4, 2\).*Apply node that caused the error: Dot"):
        g(np.ones((2, 1, 3)), np.ones((4, 2)))
    # a 3-d operand whose leading axes do not collapse into one (copied by the runtime)
    T3 = random((4, 3, 5), "float64")[:, ::-1][::2]
    Wv = random((5, 2), "float64")
    np.testing.assert_allclose(g(T3, Wv), T3 @ Wv, rtol=1e-12)


def test_unsupported_ranks_are_refused_when_the_graph_is_built():
    # dot() lowers a 3-d second operand to tensordot (tests/compat/test_theano_idioms.py); the
    # Dot op itself takes a vector or a matrix there
    with pytest.raises(NotImplementedError, match="tensordot"):
        T.blas.Dot()(T.dmatrix("a"), T.dtensor3("b"))
    with pytest.raises(TypeError, match="0-d"):
        T.blas.Dot()(T.dscalar("s"), T.dvector("v"))


def _sliced(x, index):
    """x[index], or None while indexing is not implemented."""
    try:
        return x[index]
    except NotImplementedError:
        return None


def test_sliced_views_with_odd_and_negative_strides():
    x, y, v = T.dmatrix("x"), T.dmatrix("y"), T.dvector("v")
    views = {
        "x[::2].y": (lambda: T.dot(x[::2], y), lambda X, Y, V: X[::2] @ Y),
        "x[:, ::-1].y": (lambda: T.dot(x[:, ::-1], y), lambda X, Y, V: X[:, ::-1] @ Y),
        "x[:, ::2].y[::2]": (lambda: T.dot(x[:, ::2], y[::2]), lambda X, Y, V: X[:, ::2] @ Y[::2]),
        "x[::-1, ::-1].T.v": (lambda: T.dot(x[::-1, ::-1].T, v[:4]),
                              lambda X, Y, V: X[::-1, ::-1].T @ V[:4]),
        "v[::-1].y": (lambda: T.dot(v[::-1], y), lambda X, Y, V: V[::-1] @ Y),
        "v[::2].v[1::2]": (lambda: T.dot(v[::2], v[1::2]), lambda X, Y, V: V[::2] @ V[1::2]),
        "x[:, 1:1].y[1:1]": (lambda: T.dot(x[:, 1:1], y[1:1]), lambda X, Y, V: X[:, 1:1] @ Y[1:1]),
    }
    if _sliced(x, slice(None, None, 2)) is None:
        pytest.skip("indexing is not implemented yet")
    names = list(views)
    f_c, f_py = compile_both([x, y, v], [views[k][0]() for k in names])
    X, Y, V = rng.normal(size=(4, 6)), rng.normal(size=(6, 5)), rng.normal(size=6)
    compare(f_c, f_py, [X, Y, V], [views[k][1](X, Y, V) for k in names], names)
