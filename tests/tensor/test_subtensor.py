"""Indexing against numpy: basic views, integer-array indexing, set/inc_subtensor, take.

Each test compiles one module holding many index expressions and calls it with many values;
the numpy reference mode and a direct numpy computation are both compared.
"""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.tensor.subtensor import AdvancedSubtensor, Subtensor
from util import assert_clean_build, assert_same, check, check_error, strided_variants

rng = np.random.default_rng(0)


def compile_both(inputs, outputs, **kwargs):
    f_c = cgraph.function(inputs, outputs, mode="c", **kwargs)
    f_py = cgraph.function(inputs, outputs, mode="py", **kwargs)
    assert_clean_build(f_c)
    return f_c, f_py


def compare(fs, values, expected):
    """Call both compiled versions with ``values``; each output equals ``expected``."""
    for f in fs:
        got = f(*values)
        for k, (g, e) in enumerate(zip(got, expected)):
            assert_same(g, np.asarray(e), what=f"{'C' if f is fs[0] else 'py'} output {k} "
                                               f"for inputs {values!r}")


def both_raise(fs, values, exc_type, match):
    for f in fs:
        with pytest.raises(exc_type, match=match):
            f(*values)


# --- basic indexing -------------------------------------------------------------------

MATRIX_INDICES = [
    np.s_[1], np.s_[-1], np.s_[1:3], np.s_[::-1], np.s_[::2, ::-2], np.s_[-100:100],
    np.s_[5:1], np.s_[1:3, 2], np.s_[-1, ::-1], np.s_[..., 1], np.s_[None, 1],
    np.s_[:, None, 1:], np.s_[..., None], np.s_[1, ..., None], np.s_[3:0:-2, -4::3],
    np.s_[:], np.s_[...], np.s_[:, :0], np.s_[2, 3], np.s_[np.int32(1), np.int64(-2)],
    np.s_[None, None, 1, None], np.s_[1:-1, 1:-1],
]


def test_basic_indexing_with_constants_matches_numpy():
    x = T.dmatrix("x")
    fs = compile_both([x], [x[i] for i in MATRIX_INDICES])
    for value in strided_variants(rng.normal(size=(4, 5))):
        compare(fs, [value], [value[i] for i in MATRIX_INDICES])
    empty = np.zeros((0, 5))
    fs0 = compile_both([x], [x[i] for i in [np.s_[1:3], np.s_[::-1], np.s_[:, 2:]]])
    compare(fs0, [empty], [empty[1:3], empty[::-1], empty[:, 2:]])


def test_scalars_vectors_and_constants():
    s = T.dscalar("s")
    v = T.lvector("v")
    c = T.constant(np.arange(6.0).reshape(2, 3))
    outs = [s[()], s[None], s[...], s[None, ..., None], v[None, None], v[-1], v[::-1][::-1],
            v[v[0]], c[1, ::-1] + s, c[:, v] * s]
    vv = np.array([2, 0, 1])
    cv = np.arange(6.0).reshape(2, 3)
    check([s, v], outs, [np.float64(1.5), vv],
          expected=[1.5, np.array([1.5]), 1.5, np.array([[1.5]]), vv[None, None], vv[-1],
                    vv, vv[vv[0]], cv[1, ::-1] + 1.5, cv[:, vv] * 1.5])


def test_strided_views_are_indexed_through_their_strides():
    # the indexed values are views (transposed, reversed, sliced), not contiguous inputs
    x = T.dmatrix("x")
    views = [x.T, x[::-1], x[:, ::2]]
    outs = [v[1:, ::-1][1] for v in views] + [v[-1] for v in views] + [x.T[::2, 1:3].T]
    v = rng.normal(size=(5, 6))
    expected = [w[1:, ::-1][1] for w in (v.T, v[::-1], v[:, ::2])] + \
               [w[-1] for w in (v.T, v[::-1], v[:, ::2])] + [v.T[::2, 1:3].T]
    check([x], outs, [v], expected=expected)


@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_symbolic_bounds_and_steps_behave_as_python_slices():
    x = T.dvector("x")
    i, j = T.lscalar("i"), T.iscalar("j")
    k = T.bscalar("k")
    exprs = [lambda a, b, c: np.s_[a:b], lambda a, b, c: np.s_[a:b:c], lambda a, b, c: np.s_[::c],
             lambda a, b, c: np.s_[a::c], lambda a, b, c: np.s_[:b:c], lambda a, b, c: np.s_[a:],
             lambda a, b, c: np.s_[b], lambda a, b, c: np.s_[-b - 1:a * 2 + 1]]
    fs = compile_both([x, i, j, k], [x[e(i, j, k)] for e in exprs])
    value = np.arange(7.0)
    for a in (-9, -7, -3, 0, 2, 6, 7, 12):
        for b in (-7, -1, 0, 3, 6):
            for c in (-3, -1, 1, 2, 5):
                compare(fs, [value, a, b, c], [value[e(a, b, c)] for e in exprs])


def test_extreme_slice_bounds_clamp():
    x = T.dvector("x")
    i = T.lscalar("i")
    big = 2**62
    outs = [x[i:], x[:i], x[::i], x[10**30:], x[:-10**30], x[::-(10**30)], x[-(2**63):2**63]]
    fs = compile_both([x, i], outs)
    v = np.arange(5.0)
    for a in (big, -big, -2**63 + 1, 2**63 - 1):
        compare(fs, [v, a], [v[a:], v[:a], v[::a], v[5:], v[:0], v[::-(10**30)], v[:]])


def test_tensor3_ellipsis_newaxis_and_symbolic_integers():
    x = T.dtensor3("x")
    i = T.iscalar("i")
    indices = [lambda n: np.s_[n], lambda n: np.s_[..., n], lambda n: np.s_[:, n, ...],
               lambda n: np.s_[None, n, None, ::-1], lambda n: np.s_[n, ..., None, 1:],
               lambda n: np.s_[-1, n, n], lambda n: np.s_[..., n:, None]]
    fs = compile_both([x, i], [x[f(i)] for f in indices])
    value = rng.normal(size=(3, 4, 3))
    for n in (0, 2, -1, -3):
        compare(fs, [value, n], [value[f(n)] for f in indices])


def test_integer_out_of_range_raises_index_error_naming_the_variable():
    x = T.dmatrix("x")
    i = T.lscalar("i")
    fs = compile_both([x, i], [x[i], x[1:, i]])
    value = np.zeros((5, 3))
    both_raise(fs, [value, 7], IndexError, "index 7 is out of bounds for axis 0 of x with size 5")
    both_raise(fs, [value, -6], IndexError, "index -6 is out of bounds for axis 0 of x with size 5")
    fs3 = compile_both([x, i], [x[:, i]])
    both_raise(fs3, [value, 3], IndexError, "index 3 is out of bounds for axis 1 of x with size 3")
    check_error([x], x[5], [value], IndexError, "index 5 is out of bounds for axis 0 of x")
    check_error([x], x[0, -4], [value], IndexError, "index -4 is out of bounds for axis 1 of x")


def test_symbolic_zero_step_raises_value_error():
    x = T.dvector("x")
    s = T.lscalar("s")
    check_error([x, s], x[::s], [np.zeros(3), 0], ValueError, "slice step cannot be zero.*x")
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        x[::0]


def test_index_errors_at_build_time():
    x = T.dmatrix("x")
    with pytest.raises(IndexError, match="too many indices for array"):
        x[1, 2, 3]
    with pytest.raises(IndexError, match="too many indices for array"):
        x[:, None, 1, 1:, ...]
    with pytest.raises(IndexError, match=r"an index can only have a single Ellipsis \(`...`\)"):
        x[..., 1, ...]
    with pytest.raises(TypeError, match="integer"):
        x[1.0]
    with pytest.raises(TypeError, match="integer"):
        x[T.dscalar("f")]
    with pytest.raises(TypeError, match="integer"):
        x[0.5:2]
    with pytest.raises(TypeError, match="integer"):
        x[:, :T.dscalar("g")]
    with pytest.raises(TypeError, match="scalar"):
        x[:T.lvector("v")]
    with pytest.raises(TypeError, match="TensorType does not support Python bools for indexing"):
        x[[True, False]]
    with pytest.raises(TypeError, match="TensorType does not support Python bools"):
        x[True]
    with pytest.raises(NotImplementedError, match="boolean mask"):
        x[np.array([True, False])]
    with pytest.raises(NotImplementedError, match="boolean mask"):
        x[T.bvector("m") > 0]
    with pytest.raises(TypeError, match="integers"):
        x[[0.5, 1.0]]
    with pytest.raises(TypeError, match="integers"):
        x[T.dvector("fv")]


def test_static_types_of_basic_results():
    x = T.tensor("float32", (True, False, False), name="x")
    i = T.lscalar("i")
    assert x[0].broadcastable == (False, False)
    assert x[:, 1].broadcastable == (True, False)
    assert x[:].broadcastable == (True, False, False)
    assert x[::-1].broadcastable == (True, False, False)
    assert x[1:].broadcastable == (False, False, False)
    assert x[:i].broadcastable == (False, False, False)
    assert x[None, :, 2].broadcastable == (True, True, False)
    assert x[0].dtype == "float32"
    # equal indexing builds equal ops (so merging can share them); trailing ':' change nothing
    assert x[1:3].owner.op == x[1:3, :, :].owner.op
    assert x[i].owner.op == x[T.lscalar("j")].owner.op
    assert isinstance(x[1:3].owner.op, Subtensor)
    assert str(x[1:3, ::-1, i].owner.op) == "Subtensor{1:3, ::-1, int64}"


def test_minibatch_pattern_with_shared_data_and_givens():
    batch = 4
    values = np.arange(30.0).reshape(10, 3)
    data = cgraph.shared(values, name="data")
    index = T.lscalar("index")
    x = T.dmatrix("x")
    out = [x * 2 + 1, x[:, 0]]
    given = {x: data[index * batch:(index + 1) * batch]}
    fs = [cgraph.function([index], out, givens=given, mode=m) for m in ("c", "py")]
    for k in range(4):   # the last batches are partial, then empty: slices clamp
        part = values[k * batch:(k + 1) * batch]
        compare(fs, [k], [part * 2 + 1, part[:, 0]])
    np.testing.assert_array_equal(data.get_value(), values)


# --- advanced indexing ----------------------------------------------------------------


def test_integer_array_indexing_patterns():
    x = T.dmatrix("x")
    iv = T.lvector("iv")
    jv = T.ivector("jv")
    im = T.bmatrix("im")
    exprs = {
        "rows": lambda a, b, m: np.s_[a],
        "nll": lambda a, b, m: np.s_[a, b],
        "columns": lambda a, b, m: np.s_[:, b],
        "embedding": lambda a, b, m: np.s_[m],
        "matrix columns": lambda a, b, m: np.s_[::-1, m],
        "broadcast pair": lambda a, b, m: np.s_[m, a[:2]],
        "slice then rows": lambda a, b, m: np.s_[a, 1:],
        "newaxis": lambda a, b, m: np.s_[None, a, None],
        "int and array": lambda a, b, m: np.s_[a, -1],
        "column and int": lambda a, b, m: np.s_[2, b],
    }
    fs = compile_both([x, iv, jv, im], [x[e(iv, jv, im)] for e in exprs.values()])
    for value in strided_variants(rng.normal(size=(4, 5))):
        for a, b, m in [([0, 3, -1, 3], [4, 0, -5, 2], [[1, 2], [-4, 0], [3, 3]]),
                        ([2, 2, 2, 2], [0, 0, 0, 0], [[0], [1], [2]])]:
            a, b = np.array(a, "int64"), np.array(b, "int32")
            m = np.array(m, "int8")
            compare(fs, [value, a, b, m], [value[e(a, b, m)] for e in exprs.values()])


def test_negative_log_likelihood_pattern_with_given_rows():
    p = T.dmatrix("p")
    r = T.lvector("r")
    y = T.bvector("y")
    vp = rng.uniform(0.1, 1.0, size=(5, 3))
    vy = np.array([0, 2, 1, 1, 0], dtype="int8")
    check([p, r, y], [-T.log(p[r, y])], [vp, np.arange(5), vy],
          expected=[-np.log(vp[np.arange(5), vy])])


def test_negative_log_likelihood_pattern_with_arange():
    p = T.dmatrix("p")
    y = T.bvector("y")
    try:
        rows = T.arange(y.shape[0])
    except NotImplementedError:
        pytest.skip("T.arange / x.shape are not available yet")
    vp = rng.uniform(0.1, 1.0, size=(5, 3))
    vy = np.array([0, 2, 1, 1, 0], dtype="int8")
    check([p, y], [-T.log(p[rows, y])], [vp, vy], expected=[-np.log(vp[np.arange(5), vy])])


def test_embedding_lookup_shape():
    emb = T.dmatrix("emb")
    words = T.lmatrix("words")
    table = rng.normal(size=(6, 3))
    ids = np.array([[0, 5, 2, 2], [1, 1, 4, 0]])
    small = T.matrix("small", dtype="uint8")
    out = check([emb, words, small], [emb[words], emb[small]],
                [table, ids, ids.astype("uint8")], expected=[table[ids], table[ids]])[0]
    assert out.shape == (2, 4, 3)
    assert emb[words].broadcastable == (False, False, False)


def test_numpy_places_separated_advanced_dimensions_first():
    x = T.dtensor3("x")
    a, b = T.lvector("a"), T.lvector("b")
    i = T.lscalar("i")
    index_fns = [lambda p, q, n: np.s_[p, :, q], lambda p, q, n: np.s_[:, p, q],
                 lambda p, q, n: np.s_[p, q], lambda p, q, n: np.s_[n, :, q],
                 lambda p, q, n: np.s_[:, n, q], lambda p, q, n: np.s_[p, None, q],
                 lambda p, q, n: np.s_[None, p, :, q], lambda p, q, n: np.s_[:, None, p, q],
                 lambda p, q, n: np.s_[p, 1:, None, n], lambda p, q, n: np.s_[None, p, ::-1],
                 lambda p, q, n: np.s_[..., p], lambda p, q, n: np.s_[p[:, None], :, q]]
    fs = compile_both([x, a, b, i], [x[f(a, b, i)] for f in index_fns])
    value = rng.normal(size=(3, 4, 5))
    va, vb = np.array([0, 2, -1]), np.array([3, 1, 0])
    compare(fs, [value, va, vb, 1], [value[f(va, vb, 1)] for f in index_fns])


def test_python_lists_numpy_arrays_and_empty_indices():
    x = T.dmatrix("x")
    outs = [x[[0, 2, -1]], x[[[0], [1]], [1, 2]], x[np.array([3, 0], dtype="uint8")],
            x[:, np.array([1, 1], dtype="int16")], x[[]], x[:, []], x[(1, 0),]]
    value = rng.normal(size=(4, 3))
    expected = [value[[0, 2, -1]], value[[[0], [1]], [1, 2]], value[np.array([3, 0])],
                value[:, [1, 1]], value[np.array([], "int64")], value[:, np.array([], "int64")],
                value[[1, 0]]]
    check([x], outs, [value], expected=expected)
    assert isinstance(x[[0, 1]].owner.op, AdvancedSubtensor)


def test_advanced_index_out_of_range_and_mismatch():
    x = T.dmatrix("x")
    iv, jv = T.lvector("iv"), T.lvector("jv")
    fs = compile_both([x, iv, jv], [x[iv], x[iv, jv], x[:, jv]])
    value = np.zeros((4, 3))
    ok = np.array([0, 1])
    both_raise(fs, [value, np.array([0, 4]), ok], IndexError,
               "index 4 is out of bounds for axis 0 of x with size 4")
    both_raise(fs, [value, np.array([-5, 0]), ok], IndexError,
               "index -5 is out of bounds for axis 0 of x with size 4")
    both_raise(fs, [value, ok, np.array([0, -4])], IndexError,
               "index -4 is out of bounds for axis 1 of x with size 3")
    both_raise(fs, [value, ok, np.array([0, 1, 2])], IndexError,
               r"shape mismatch: indexing arrays for x could not be broadcast together with "
               r"shapes \(2,\) \(3,\)")
    # the slices of the same index apply first; the message still names x
    fs2 = compile_both([x, iv], [x[iv, 1:], x[::-1, iv]])
    both_raise(fs2, [value, np.array([0, 7])], IndexError,
               "index 7 is out of bounds for axis 0 of x with size 4")
    both_raise(fs2, [value, np.array([0, 3])], IndexError,
               "index 3 is out of bounds for axis 1 of x with size 3")
    # no index values, nothing to check; an empty axis with an index is out of range
    compare(fs, [value, ok[:0], ok[:0]], [value[:0], np.zeros(0), np.zeros((4, 0))])
    both_raise(fs, [np.zeros((0, 3)), ok, ok], IndexError, "axis 0 of x with size 0")


# --- set_subtensor / inc_subtensor ----------------------------------------------------


def test_set_and_inc_with_basic_indices():
    x = T.dmatrix("x")
    y = T.dvector("y")
    s = T.dscalar("s")
    i = T.lscalar("i")
    # (index as a function of the integer, value, set?)
    cases = [
        (lambda n: np.s_[1:3], "y", True), (lambda n: np.s_[1:3], "y", False),
        (lambda n: np.s_[::-1, 1], "s", False), (lambda n: np.s_[n], "y", True),
        (lambda n: np.s_[-1, n], "s", False), (lambda n: np.s_[:, ::-2], "s", True),
        (lambda n: np.s_[None, 1:, n], "s", False), (lambda n: np.s_[..., n:], "s", False),
        (lambda n: np.s_[10:], "y", False), (lambda n: np.s_[n, 1:2], "s", True),
    ]
    symbols = {"y": y, "s": s}
    outs = [T.set_subtensor(x[f(i)], symbols[k]) if is_set else
            T.inc_subtensor(x[f(i)], symbols[k]) for f, k, is_set in cases]
    outs += [T.inc_subtensor(x[1:3], y, set_instead_of_inc=True),
             # indexing twice: the result is the whole of the inner region (as in Theano)
             T.inc_subtensor(x[:, 1:][::-1][1:], y[1:])]
    fs = compile_both([x, y, s, i], outs)
    for vx in strided_variants(rng.normal(size=(4, 3))):
        kept = vx.copy()
        vals = {"y": rng.normal(size=3), "s": 2.5}
        for n in (0, 2, -1):
            expected = []
            for f, k, is_set in cases:
                e = vx.copy()
                if is_set:
                    e[f(n)] = vals[k]
                else:
                    e[f(n)] += vals[k]
                expected.append(e)
            e = vx.copy()
            e[1:3] = vals["y"]
            expected.append(e)
            e = vx[:, 1:][::-1].copy()
            e[1:] += vals["y"][1:]
            expected.append(e)
            compare(fs, [vx, vals["y"], vals["s"], n], expected)
            np.testing.assert_array_equal(vx, kept)   # the input buffer is never written


def test_set_and_inc_with_integer_arrays():
    x = T.dmatrix("x")
    iv = T.lvector("iv")
    jv = T.ivector("jv")
    y = T.dvector("y")
    cases = [
        (lambda a, b: np.s_[a], "inc"), (lambda a, b: np.s_[a], "set"),
        (lambda a, b: np.s_[a, b], "inc"), (lambda a, b: np.s_[a, b], "set"),
        (lambda a, b: np.s_[:, b], "inc"), (lambda a, b: np.s_[1:, b], "inc"),
        (lambda a, b: np.s_[a, ::-1], "set"), (lambda a, b: np.s_[None, a, -1], "inc"),
        (lambda a, b: np.s_[a, None, b], "inc"), (lambda a, b: np.s_[a[:, None], b], "inc"),
    ]
    outs = [(T.inc_subtensor if kind == "inc" else T.set_subtensor)(x[f(iv, jv)], 1.5)
            for f, kind in cases]
    outs += [T.inc_subtensor(x[iv], y[:3]), T.set_subtensor(x[iv, jv], y)]
    fs = compile_both([x, iv, jv, y], outs)
    vx = rng.normal(size=(4, 3))
    kept = vx.copy()
    # duplicates: inc accumulates like np.add.at, set keeps the last write
    va, vb = np.array([1, 3, 1, -3]), np.array([0, 2, 0, 1], "int32")
    vy = np.array([10.0, 20.0, 30.0, 40.0])
    expected = []
    for f, kind in cases:
        e = vx.copy()
        if kind == "inc":
            np.add.at(e, f(va, vb), 1.5)
        else:
            e[f(va, vb)] = 1.5
        expected.append(e)
    e = vx.copy()
    np.add.at(e, va, vy[:3])
    expected.append(e)
    e = vx.copy()
    e[va, vb] = vy
    expected.append(e)
    assert e[1, 0] == 30.0   # the last of the duplicate writes
    compare(fs, [vx, va, vb, vy], expected)
    np.testing.assert_array_equal(vx, kept)


def test_set_and_inc_dtypes_are_cast_to_the_target():
    xf = T.fmatrix("xf")
    xi = T.imatrix("xi")
    xb = T.bvector("xb")
    xq = T.vector("xq", dtype="bool")
    iv = T.lvector("iv")
    outs = [T.set_subtensor(xf[0], T.dvector("dv")), T.inc_subtensor(xi[:, 0], 2.7),
            T.inc_subtensor(xi[iv], 1), T.set_subtensor(xb[iv], 300),
            T.inc_subtensor(xb[1:], np.int8(127)),
            T.inc_subtensor(xq[iv], True), T.inc_subtensor(xq[1:], xq[:-1])]
    for o in outs:
        assert o.dtype == o.owner.inputs[0].dtype
    inputs = [xf, xi, xb, xq, iv] + [outs[0].owner.inputs[1].owner.inputs[0]]
    vf = rng.normal(size=(2, 3)).astype("float32")
    vi = np.arange(6, dtype="int32").reshape(2, 3)
    vb = np.array([1, 2, 3], dtype="int8")
    va = np.array([0, 1, 0])
    vd = np.array([1.1, 2.2, 3.3])
    e0 = vf.copy(); e0[0] = vd.astype("float32")
    e1 = vi.copy(); e1[:, 0] += 2
    e2 = vi.copy(); np.add.at(e2, va, 1)
    e3 = vb.copy(); e3[va] = np.int8(44)   # 300 wraps to 44 in int8, as numpy's cast does
    e4 = vb.copy(); e4[1:] += np.int8(127)
    vq = np.array([True, False, False, False])
    e5 = vq.copy(); e5[va] = True   # bool increments are logical or
    e6 = np.array([True, True, False, False])
    with np.errstate(over="ignore"):
        check(inputs, outs, [vf, vi, vb, vq, va, vd], expected=[e0, e1, e2, e3, e4, e5, e6])


def test_set_and_inc_errors():
    x = T.dmatrix("x")
    y = T.dmatrix("y")
    iv = T.lvector("iv")
    with pytest.raises(TypeError, match="x must be the result of a subtensor operation"):
        T.set_subtensor(x, y)
    with pytest.raises(TypeError, match="x must be the result of a subtensor operation"):
        T.inc_subtensor(x + 1, y)
    with pytest.raises(TypeError, match="Trying to increment a 1-dimensional subtensor with a "
                                        "2-dimensional value."):
        T.inc_subtensor(x[0], y)
    with pytest.raises(TypeError, match="Trying to increment a 2-dimensional subtensor with a "
                                        "3-dimensional value."):
        T.set_subtensor(x[iv], T.dtensor3("z"))
    vx, vi = np.zeros((4, 3)), np.array([0, 1])
    check_error([x, y], T.set_subtensor(x[1:3], y), [vx, np.ones((3, 3))],
                ValueError, r"cannot write y of shape \(3, 3\) into the region of x of shape "
                            r"\(2, 3\)")
    check_error([x, y, iv], T.inc_subtensor(x[iv], y), [vx, np.ones((2, 2)), vi],
                ValueError, r"cannot write y of shape \(2, 2\) into the region of x of shape "
                            r"\(2, 3\)")
    check_error([x, y, iv], T.inc_subtensor(x[iv], y), [vx, np.ones((2, 3)), np.array([9, 0])],
                IndexError, "index 9 is out of bounds for axis 0 of x with size 4")
    # a None axis of the region has length 1: a value longer there does not fit
    z = T.dtensor3("z")
    check_error([x, z], T.set_subtensor(x[None, 1:3], z), [vx, np.ones((2, 2, 3))],
                ValueError, "length 1")
    expected = vx.copy()
    expected[None, 1:3] = 1.0
    check([x, z], T.set_subtensor(x[None, 1:3], z), [vx, np.ones((1, 2, 3))], expected=expected)


def test_set_and_inc_broadcast_length_one_axes_and_empty_regions():
    x = T.dtensor3("x")
    y = T.dmatrix("y")
    z = T.dvector("z")
    iv = T.lvector("iv")
    outs = [T.inc_subtensor(x[:, 1], y), T.set_subtensor(x[iv, 1], y),
            T.inc_subtensor(x[:, 0, iv], y), T.inc_subtensor(x[5:, 0], y[:1]),
            T.inc_subtensor(x[iv[:0]], y[:1]),
            T.inc_subtensor(x[:, ::-1, iv[0]].T, z)]   # a transposed region
    fs = compile_both([x, y, z, iv], outs)
    vx = rng.normal(size=(3, 2, 3))
    va = np.array([2, 0, 2])
    vz = rng.normal(size=3)
    for vy in (np.ones((1, 3)), np.full((1, 1), 2.0), rng.normal(size=(3, 3)),
               rng.normal(size=(3, 1))):
        e0 = vx.copy(); e0[:, 1] += vy
        e1 = vx.copy(); e1[va, 1] = vy
        e2 = vx.copy(); np.add.at(e2, (slice(None), 0, va), vy)
        e5 = vx.copy(); e5[:, ::-1, 2].T[...] += vz
        compare(fs, [vx, vy, vz, va], [e0, e1, e2, vx, vx, e5])


# --- take -----------------------------------------------------------------------------


def test_take_along_an_axis():
    x = T.dtensor3("x")
    iv = T.lvector("iv")
    im = T.lmatrix("im")
    i = T.lscalar("i")
    outs = [T.take(x, iv, axis=0), T.take(x, im, axis=1), T.take(x, iv, axis=-1),
            T.take(x, i, axis=2), T.take(x[0, 0], iv), T.take(x, [1, 0], 1)]
    value = rng.normal(size=(3, 4, 2))
    va, vm = np.array([1, -1, 0]), np.array([[0, 3], [2, 2]])
    expected = [np.take(value, va, 0), np.take(value, vm, 1), np.take(value, va, -1),
                np.take(value, 1, 2), np.take(value[0, 0], va), np.take(value, [1, 0], 1)]
    check([x, iv, im, i], outs, [value, va, vm, 1], expected=expected)
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        T.take(x, iv, axis=3)
    with pytest.raises(IndexError, match="index 9 is out of bounds for axis 0 of x"):
        cgraph.function([x, iv], T.take(x, iv, axis=0), mode="py")(value, np.array([9]))
    with pytest.raises(NotImplementedError, match="mode"):
        T.take(x, iv, axis=0, mode="wrap")


def test_take_of_the_flattened_tensor():
    x = T.dmatrix("x")
    iv = T.lvector("iv")
    try:
        out = T.take(x, iv)
    except NotImplementedError as exc:
        assert "give an axis" in str(exc)
        pytest.skip("flatten is not available yet")
    value = rng.normal(size=(3, 4))
    va = np.array([11, 0, -1, 5])
    check([x, iv], [out, T.take(x[:, 0], iv[1:3])], [value, va],
          expected=[np.take(value, va), np.take(value[:, 0], va[1:3])])


def test_an_op_with_a_constant_zero_step_is_refused_when_built():
    # the C templates take a constant step as valid; the op itself refuses 0 (indexing with
    # x[::0] says so earlier, and a symbolic step of 0 fails at run time in both modes)
    from cgraph.tensor.subtensor import IncSubtensor
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        Subtensor([("slice", None, None, 0)])
    with pytest.raises(ValueError, match=r"slice step cannot be zero \(axis 1\)"):
        IncSubtensor([("slice", None, None, None), ("slice", 1, 4, 0)])
    assert Subtensor([("slice", None, None, -1)]).idx_list == (("slice", None, None, -1),)


def test_index_arrays_that_do_not_broadcast_name_the_indexed_variable():
    """The index arrays' broadcast shape comes from the runtime (cg_index_broadcast): a
    mismatch is an IndexError in both modes; the C message names the op, the indexed
    variable and every index array's shape, as numpy's does."""
    x, i, j = T.dmatrix("x"), T.lvector("i"), T.lvector("j")
    value = np.arange(12.0).reshape(3, 4)
    outs = [x[i, j], T.inc_subtensor(x[i, j], 1.0)]
    for out, op in zip(outs, ["AdvancedSubtensor", "AdvancedIncSubtensor"]):
        for mode in ("c", "py"):
            f = cgraph.function([x, i, j], out, mode=mode)
            expected = value[[0, 2], [1]] if op == "AdvancedSubtensor" else _inc(value)
            np.testing.assert_array_equal(f(value, np.array([0, 2]), np.array([1])), expected)
            match = (rf"{op}{{idx0, idx1}}: shape mismatch: indexing arrays for x could not be "
                     r"broadcast together with shapes \(2,\) \(3,\)" if mode == "c"
                     else "shape mismatch")
            with pytest.raises(IndexError, match=match):
                f(value, np.array([0, 2]), np.array([1, 2, 3]))


def _inc(value):
    """value with 1 added at (0, 1) and (2, 1): the index arrays [0, 2] and [1] broadcast."""
    out = value.copy()
    np.add.at(out, ([0, 2], [1, 1]), 1.0)
    return out
