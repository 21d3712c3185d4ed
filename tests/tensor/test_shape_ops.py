"""Shape ops against numpy: Shape, MakeVector, Reshape/flatten, Join/stack, Alloc and the
filled constructors, ARange/eye. Each op is checked in C and in the numpy reference mode, with
symbolic shapes taken from function inputs, 0-length axes and non-contiguous views, and each
user error is checked in both modes."""
import warnings

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.config import config
from util import assert_clean_build, assert_same, check, strided_variants

rng = np.random.default_rng(0)


def compile_both(inputs, outputs):
    """The C function (checked for a warning-free build) and the numpy reference."""
    f_c = cgraph.function(inputs, outputs, mode="c")
    assert_clean_build(f_c)
    return f_c, cgraph.function(inputs, outputs, mode="py")


def run_both(fs, values, expected):
    """Both functions give ``expected`` (a list) for ``values``."""
    for f in fs:
        for k, (got, want) in enumerate(zip(f(*values), expected)):
            assert_same(got, np.asarray(want), what=f"{f.mode} output {k}")


def raise_both(fs, values, exc_type, match):
    for f in fs:
        with pytest.raises(exc_type, match=match):
            f(*values)


# --- Shape, Shape_i, MakeVector -----------------------------------------------------------

def test_shape_and_shape_i_over_ranks_and_views():
    x = T.dtensor3("x")
    s = T.bscalar("s")
    outs = [x.shape, T.shape(x.dimshuffle(2, "x", 0, 1)), T.shape_i(x, 0), T.shape_i(x, -1),
            T.shape(s), T.shape_of(x.T, 0)]
    assert x.shape.dtype == "int64" and x.shape.ndim == 1 and T.shape_i(x, 1).ndim == 0
    fs = compile_both([x, s], outs)
    for shape in [(2, 3, 4), (0, 5, 1), (1, 0, 0)]:
        value = rng.normal(size=shape)
        a, b, c = shape
        run_both(fs, [value, 3], [np.array(shape), [c, 1, a, b], a, c, np.zeros(0, "int64"), c])


def test_shape_i_rejects_bad_axes():
    x = T.dmatrix("x")
    with pytest.raises(IndexError, match="axis 2"):
        T.shape_i(x, 2)
    with pytest.raises(TypeError, match="Python int"):
        T.shape_i(x, 0.0)


def test_shape_indexing_and_size():
    x = T.dmatrix("x")
    check([x], [x.shape[0], x.shape[-1], x.size], [np.ones((3, 0))],
          expected=[np.int64(3), np.int64(0), np.int64(0)])
    check([x], [x.shape[1], x.size], [np.ones((2, 5))], expected=[np.int64(5), np.int64(10)])


def test_make_vector_and_stack_of_scalars():
    n, i = T.lscalar("n"), T.iscalar("i")
    f32, d = T.fscalar("f32"), T.dscalar("d")
    b = T.bscalar("b")
    outs = [T.MakeVector("int64")(n, i, 7), T.stack([i, b]), T.stack([f32, 2]),
            T.stack([n, d, 1.5]), T.MakeVector("float32")(), T.MakeVector("int8")(b, 100)]
    assert [o.dtype for o in outs] == ["int64", "int32", "float32", "float64", "float32", "int8"]
    assert outs[5].broadcastable == (False,) and T.MakeVector()(n).broadcastable == (True,)
    assert T.as_tensor_variable([n, 2]).owner.op == T.MakeVector("int64")
    values = [[-4, 5, 7], [5, -2], [0.25, 2.0], [-4.0, -1.5, 1.5], [], [-2, 100]]
    check([n, i, f32, d, b], outs, [-4, 5, 0.25, -1.5, -2],
          expected=[np.array(e, dtype=o.dtype) for e, o in zip(values, outs)])


def test_make_vector_refuses_lossy_and_non_scalar_inputs():
    with pytest.raises(TypeError, match="d.*float64.*int64"):
        T.MakeVector("int64")(T.lscalar(), T.dscalar("d"))
    with pytest.raises(TypeError, match="int8"):
        T.MakeVector("int8")(1000)
    with pytest.raises(TypeError, match="v.*1 dimensions"):
        T.MakeVector("float64")(T.dvector("v"))


# --- Reshape -------------------------------------------------------------------------------

def test_reshape_with_constant_symbolic_and_inferred_shapes():
    x = T.dmatrix("x")
    n = T.lscalar("n")
    y = T.dtensor3("y")
    outs = [x.reshape((n, -1)),               # symbolic entry and an inferred one
            T.reshape(x, (-1,)),
            x.reshape([3, 2, 1]),             # a list; last axis statically broadcastable
            x.T.reshape((2, 3)),              # a transposed view: copied before reshaping
            T.reshape(x, y.shape),            # another variable's shape vector
            x.reshape((1, -1, n), ndim=3),
            x.dimshuffle("x", 1, 0).reshape((n, 6 // 3, -1))]
    assert outs[2].broadcastable == (False, False, True)
    assert outs[5].broadcastable == (True, False, False)
    xv = np.arange(6.0).reshape(2, 3)
    for xs in strided_variants(xv):
        check([x, n, y], outs, [xs, 3, np.zeros((1, 2, 3))],
              expected=[xv.reshape(3, -1), xv.ravel(), xv.reshape(3, 2, 1),
                        xv.T.reshape(2, 3), xv.reshape(1, 2, 3), xv.reshape(1, -1, 3),
                        xv.T.reshape(3, 2, -1)])


def test_reshape_copies_views_whose_trailing_axes_are_contiguous():
    """The copy before a reshape takes the trailing contiguous axes as one block
    (cg_copy_contiguous): a reversed stack of matrices, rows sliced from a stack, a
    length-1 axis between, a transposed stack (no block), other dtypes, no elements."""
    x = T.dtensor3("x")
    outs = [x[::-1].reshape((-1, x.shape[2])), x[:, 1:3].reshape((-1,)),
            x[::2, :, 1:].reshape((-1, x.shape[2] - 1)), x.dimshuffle(0, "x", 1, 2)[::-1]
            .reshape((-1,)), x.dimshuffle(0, 2, 1).reshape((-1,))]
    for xv in (np.arange(60.0).reshape(5, 4, 3), np.zeros((0, 4, 3)), np.ones((1, 4, 3))):
        check([x], outs, [xv], expected=[xv[::-1].reshape(-1, 3), xv[:, 1:3].reshape(-1),
                                         xv[::2, :, 1:].reshape(-1, 2), xv[::-1].reshape(-1),
                                         xv.transpose(0, 2, 1).reshape(-1)])
    b = T.tensor("int8", (False, False, False), name="b")
    bv = np.arange(24, dtype="int8").reshape(2, 3, 4)
    check([b], [b[::-1, ::-1].reshape((-1,))], [bv], expected=[bv[::-1, ::-1].reshape(-1)])


def test_reshape_dtypes_scalars_and_empty_arrays():
    b = T.tensor("bool", (False,), name="b")
    i8 = T.bmatrix("i8")
    f = T.fvector("f")
    n = T.lscalar("n")
    outs = [b.reshape((2, n)), i8.reshape((3, n)), i8.reshape((-1,)), f.reshape(()),
            f.reshape((-1, 1)), T.reshape(f, (1, 1, 1))]
    assert [o.dtype for o in outs] == ["bool", "int8", "int8", "float32", "float32", "float32"]
    assert outs[3].ndim == 0 and outs[4].broadcastable == (False, True)
    bv = np.array([True, False, False, True])
    iv = np.zeros((0, 3), dtype="int8")
    fv = np.array([2.5], "float32")
    check([b, i8, f, n], outs[:1] + outs[3:], [bv, iv, fv, 2],
          expected=[bv.reshape(2, 2), fv.reshape(()), fv.reshape(1, 1), fv.reshape(1, 1, 1)],
          on_unused_input="ignore")
    check([b, i8, f, n], outs[1:3], [bv, iv, fv, 0],
          expected=[iv.reshape(3, 0), iv.reshape(0)], on_unused_input="ignore")


def test_reshape_runtime_errors_in_both_modes():
    x = T.dmatrix("x")
    n, m = T.lscalars("n", "m")
    v = T.lvector("v")
    fs = compile_both([x, n, m], [x.reshape((n, m))])
    raise_both(fs, [np.ones((2, 3)), 4, 2], ValueError,
               r"cannot reshape x of shape \(2, 3\) into shape \(4, 2\)")
    raise_both(fs, [np.ones((2, 3)), -1, -1], ValueError, r"only one dimension can be -1")
    raise_both(fs, [np.ones((2, 3)), -2, -3], ValueError, r"negative dimension -2")
    raise_both(fs, [np.ones((0, 3)), -1, 0], ValueError,
               r"cannot reshape x of shape \(0, 3\) into shape \(-1, 0\)")
    raise_both(fs, [np.ones((2, 3)), -1, 4], ValueError, r"into shape \(-1, 4\)")
    run_both(fs, [np.arange(6.0).reshape(2, 3), -1, 2], [np.arange(6.0).reshape(3, 2)])
    fs = compile_both([x, v], [x.reshape(v, ndim=2)])
    raise_both(fs, [np.ones((2, 3)), np.array([6])], ValueError, "has 1 entries, but 2")
    run_both(fs, [np.ones((2, 3)), np.array([3, 2])], [np.ones((3, 2))])


def test_reshape_build_errors():
    x = T.dmatrix("x")
    with pytest.raises(TypeError, match="pass ndim"):
        x.reshape(T.lvector("v"))
    with pytest.raises(ValueError, match="more than one -1"):
        x.reshape((-1, -1))
    with pytest.raises(ValueError, match="negative dimension -3"):
        x.reshape((2, -3))
    with pytest.raises(TypeError, match="entry 1 must be an integer.*float"):
        x.reshape((2, 3.0))
    with pytest.raises(TypeError, match="entry 0 must be an integer.*d.*float64"):
        x.reshape((T.dscalar("d"), 3))
    with pytest.raises(TypeError, match="integer vector.*float64"):
        x.reshape(T.dvector("fv"), ndim=2)
    with pytest.raises(ValueError, match="2 entries but ndim=3"):
        x.reshape((3, 2), ndim=3)


def test_flatten_keeps_leading_axes():
    x = T.dtensor4("x")
    r = T.row("r", dtype="float64")
    outs = [x.flatten(), T.flatten(x, 2), T.flatten(x, outdim=3), x.flatten(4),
            x.dimshuffle(3, 1, 0, 2).flatten(2), T.flatten(r, 2), r.flatten()]
    assert [o.ndim for o in outs] == [1, 2, 3, 4, 2, 2, 1]
    assert outs[5].broadcastable == (True, False)
    rv = rng.normal(size=(1, 4))
    for shape in [(2, 3, 4, 5), (0, 3, 2, 2), (2, 0, 1, 3)]:
        a, b, c, d = shape
        xv = rng.normal(size=shape)
        check([x, r], outs, [xv, rv],
              expected=[xv.ravel(), xv.reshape(a, b * c * d), xv.reshape(a, b, c * d), xv,
                        xv.transpose(3, 1, 0, 2).reshape(d, a * b * c), rv, rv.ravel()])
    with pytest.raises(ValueError, match="out of bound"):
        T.flatten(x, 5)
    with pytest.raises(ValueError, match="out of bound"):
        x.flatten(0)


# --- Join, concatenate, stack --------------------------------------------------------------

def test_concatenate_axes_dtypes_and_views():
    x, y, z = T.dmatrix("x"), T.dmatrix("y"), T.dmatrix("z")
    i8, f32, i32 = T.bmatrix("i8"), T.fmatrix("f32"), T.imatrix("i32")
    outs = [T.concatenate([x, y]), T.concatenate([x, z.T, x], axis=1),
            T.concatenate((x.T, z), axis=-1), T.join(0, x, x.T.T, y),
            T.concatenate([i8, f32], axis=1), T.concatenate([i32, f32], axis=1),
            T.concatenate([i8, i8.T.T]), T.concatenate([x.dimshuffle("x", 0, 1)] * 2),
            T.concatenate([i32.T, f32.T])]
    assert [o.dtype for o in outs[4:7]] == ["float32", "float64", "int8"]
    for rows in (3, 0):
        xv, yv, zv = rng.normal(size=(rows, 2)), rng.normal(size=(rows, 2)), \
            rng.normal(size=(2, rows))
        iv = rng.integers(-9, 9, size=(rows, 2)).astype("int8")
        fv = rng.normal(size=(rows, 3)).astype("float32")
        jv = rng.integers(-9, 9, size=(rows, 3)).astype("int32")
        check([x, y, z, i8, f32, i32], outs, [xv, yv, zv, iv, fv, jv],
              expected=[np.concatenate([xv, yv]), np.concatenate([xv, zv.T, xv], axis=1),
                        np.concatenate([xv.T, zv], axis=-1), np.concatenate([xv, xv, yv]),
                        np.concatenate([iv, fv], axis=1), np.concatenate([jv, fv], axis=1),
                        np.concatenate([iv, iv]), np.stack([xv, xv]),
                        np.concatenate([jv.T, fv.T]).astype("float64")])


def test_stack_forms_and_stacking_helpers():
    x, y = T.dvector("x"), T.dvector("y")
    m = T.dmatrix("m")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = T.stack(x, y)
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    outs = [T.stack([x, y]), T.stack([x, y], axis=1), T.stack([x, y], -1), old,
            T.stack(tensors=[x, y, x], axis=0), T.stack([m, m], axis=2),
            T.horizontal_stack(m, m.T), T.vertical_stack(m, m, m.T)]
    assert outs[0].broadcastable == (False, False)
    xv, yv, mv = rng.normal(size=3), rng.normal(size=3), rng.normal(size=(3, 3))
    check([x, y, m], outs, [xv, yv, mv],
          expected=[np.stack([xv, yv]), np.stack([xv, yv], 1), np.stack([xv, yv], -1),
                    np.stack([xv, yv]), np.stack([xv, yv, xv]), np.stack([mv, mv], 2),
                    np.hstack([mv, mv.T]), np.vstack([mv, mv, mv.T])])


def test_join_shape_mismatch_names_the_inputs_in_both_modes():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    u, v = T.dvector("u"), T.dvector("v")
    fs = compile_both([x, y, u, v], [T.concatenate([x, y], axis=1), T.stack([u, v])])
    raise_both(fs, [np.ones((2, 3)), np.ones((3, 3)), np.ones(2), np.ones(2)], ValueError,
               r"cannot join x of shape \(2, 3\) and y of shape \(3, 3\) along axis 1")
    raise_both(fs, [np.ones((2, 3)), np.ones((2, 1)), np.ones(2), np.ones(4)], ValueError,
               r"cannot join u of shape \(1, 2\) and v of shape \(1, 4\) along axis 0")


def test_join_build_errors():
    x, v = T.dmatrix("x"), T.dvector("v")
    with pytest.raises(TypeError, match="same number of dimensions"):
        T.concatenate([x, v])
    with pytest.raises(IndexError, match="out of bounds"):
        T.concatenate([x, x], axis=2)
    with pytest.raises(IndexError, match="out of bounds"):
        T.concatenate([x, x], axis=-3)
    with pytest.raises(TypeError, match="tuple or a list"):
        T.concatenate(x, x)
    with pytest.raises(TypeError, match="constant integer"):
        T.join(T.lscalar("a"), x, x)
    with pytest.raises(TypeError, match="only stacks matrices.*v"):
        T.horizontal_stack(x, v)
    with pytest.raises(ValueError, match="empty"):
        T.stack([])
    assert T.concatenate([x]) is x


# --- Alloc, zeros, ones, fill --------------------------------------------------------------

@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_alloc_broadcasts_values_into_symbolic_shapes():
    n, m = T.lscalar("n"), T.iscalar("m")
    v = T.dvector("v")
    c = T.dcol("c")
    s = T.fscalar("s")
    x = T.dmatrix("x")
    outs = [T.alloc(s, n, m), T.alloc(v, n, 3), T.alloc(c, n, 2, m), T.alloc(x.T, n, 2, 2),
            T.alloc(1.5, (2, n)), T.alloc(v, x.shape), T.alloc(s), T.alloc(x, [1, 2, 2]),
            T.alloc(np.int8(7), m)]
    assert [o.dtype for o in outs] == ["float32"] + ["float64"] * 5 + ["float32", "float64",
                                                                       "int8"]
    assert outs[6].ndim == 0 and outs[7].broadcastable == (True, False, False)
    xv, cv = rng.normal(size=(2, 2)), rng.normal(size=(2, 1))
    check([n, m, v, c, s, x], outs[:5] + outs[6:], [2, 3, np.arange(3.0), cv, 1.25, xv],
          expected=[np.full((2, 3), 1.25, "float32"), np.broadcast_to(np.arange(3.0), (2, 3)),
                    np.broadcast_to(cv, (2, 2, 3)), np.broadcast_to(xv.T, (2, 2, 2)),
                    np.full((2, 2), 1.5), np.float32(1.25), xv[None], np.full(3, 7, "int8")])
    check([n, m, v, c, s, x], outs[:5] + outs[6:], [0, 3, np.arange(3.0), cv, 1.25, xv],
          expected=[np.zeros((0, 3), "float32"), np.zeros((0, 3)), np.zeros((0, 2, 3)),
                    np.zeros((0, 2, 2)), np.zeros((2, 0)), np.float32(1.25), xv[None],
                    np.full(3, 7, "int8")])
    check([v, x], [outs[5]], [np.arange(2.0), xv], expected=[np.broadcast_to(np.arange(2.0),
                                                                              (2, 2))])


def test_alloc_runtime_errors_in_both_modes():
    n, m = T.lscalar("n"), T.lscalar("m")
    v = T.dvector("v")
    fs = compile_both([v, n, m], [T.alloc(v, n, m)])
    raise_both(fs, [np.ones(3), 2, 4], ValueError,
               r"cannot broadcast v of shape \(3,\) to shape \(2, 4\)")
    raise_both(fs, [np.ones(1), 2, -1], ValueError,
               r"cannot allocate an array of shape \(2, -1\) filled with v: negative")
    raise_both(fs, [np.ones(0), 2, 1], ValueError, r"cannot broadcast v of shape \(0,\)")
    run_both(fs, [np.ones(1), 2, 0], [np.ones((2, 0))])


def test_alloc_build_errors():
    m = T.dmatrix("m")
    with pytest.raises(TypeError, match="more dimensions"):
        T.alloc(m, 3)
    with pytest.raises(TypeError, match="entry 0 must be an integer.*float"):
        T.alloc(0.0, 2.5, 2)
    with pytest.raises(TypeError, match="entry 1 must be an integer.*d.*float64"):
        T.zeros((2, T.dscalar("d")))
    with pytest.raises(ValueError, match="negative dimension -2"):
        T.zeros((3, -2))
    with pytest.raises(TypeError, match="not known"):
        T.alloc(0.0, T.lvector("shp"))


def test_zeros_ones_and_static_broadcastable_patterns():
    n = T.lscalar("n")
    x = T.dmatrix("x")
    r = T.row("r", dtype="float64")
    outs = [T.zeros((1, n)), T.ones(n, dtype="int32"), T.zeros([n, 2], dtype="bool"),
            T.ones(x.shape), T.zeros(r.shape, dtype="int8"), T.ones((2, 3)), T.zeros(()),
            T.zeros(n + 1)]
    assert outs[0].broadcastable == (True, False)
    assert outs[4].broadcastable == (True, False)
    assert outs[3].broadcastable == (False, False)
    assert [o.dtype for o in outs] == [config.floatX, "int32", "bool", config.floatX, "int8",
                                       config.floatX, config.floatX, config.floatX]
    fx = config.floatX
    check([n, x, r], outs, [3, np.ones((2, 0)), np.ones((1, 4))],
          expected=[np.zeros((1, 3), fx), np.ones(3, "int32"), np.zeros((3, 2), bool),
                    np.ones((2, 0), fx), np.zeros((1, 4), "int8"), np.ones((2, 3), fx),
                    np.zeros((), fx), np.zeros(4, fx)])


def test_fill_second_and_like_constructors():
    x = T.dmatrix("x")
    i = T.ivector("i")
    s = T.fscalar("s")
    r = T.row("r", dtype="float32")
    outs = [T.fill(x, s), T.second(i, 2.5), T.zeros_like(x), T.ones_like(i),
            T.zeros_like(x.T, dtype="int8"), T.ones_like(r, dtype="float64"), T.fill(r, i),
            T.zeros_like(s)]
    assert [o.dtype for o in outs] == ["float32", config.floatX, "float64", "int32", "int8",
                                       "float64", "int32", "float32"]
    assert outs[5].broadcastable == (True, False)
    xv = rng.normal(size=(2, 3))
    iv = np.array([4, -5, 6], "int32")
    rv = np.zeros((1, 3), "float32")
    check([x, i, s, r], outs, [xv, iv, 0.5, rv],
          expected=[np.full((2, 3), 0.5, "float32"), np.full(3, 2.5, config.floatX),
                    np.zeros((2, 3)), np.ones(3, "int32"), np.zeros((3, 2), "int8"),
                    np.ones((1, 3)), iv[None], np.float32(0)])


# --- ARange and eye ------------------------------------------------------------------------

@pytest.mark.slow   # many compiles: 2 s on 2 busy cores
def test_arange_values_lengths_and_dtypes():
    a, b, k = T.lscalar("a"), T.lscalar("b"), T.lscalar("k")
    i = T.iscalar("i")
    f = T.fscalar("f")
    d = T.dscalar("d")
    outs = [T.arange(b), T.arange(a, b), T.arange(a, b, k), T.arange(i), T.arange(f),
            T.arange(0.5, d, 0.75), T.arange(d, a, -0.5), T.arange(a, b, k, dtype="float32"),
            T.arange(f, dtype="int32")]
    assert T.arange(5).dtype == "int64"
    assert [o.dtype for o in outs] == ["int64"] * 4 + ["float32", config.floatX, "float64",
                                                       "float32", "int32"]
    fs = compile_both([a, b, k, i, f, d], outs)
    for av, bv, kv, iv, fv, dv in [(2, 11, 3, 4, 2.5, 3.0), (5, -3, -2, 0, -1.0, 0.4),
                                   (0, 0, 1, -3, 0.0, 0.5), (7, 3, 1, 1, 0.75, 7.25)]:
        run_both(fs, [av, bv, kv, iv, fv, dv],
                 [np.arange(bv), np.arange(av, bv), np.arange(av, bv, kv),
                  np.arange(iv, dtype="int64"), np.arange(fv).astype("float32"),
                  np.arange(0.5, dv, 0.75, dtype=config.floatX), np.arange(dv, av, -0.5),
                  np.arange(av, bv, kv).astype("float32"),
                  np.arange(np.float32(fv), dtype="float64").astype("int32")])


def test_arange_runtime_errors_in_both_modes():
    a, k = T.lscalar("a"), T.lscalar("k")
    d = T.dscalar("d")
    fs = compile_both([a, k, d], [T.arange(0, a, k), T.arange(0.0, d)])
    raise_both(fs, [3, 0, 1.0], ValueError, "step must not be zero")
    raise_both(fs, [3, 1, np.inf], ValueError, "cannot compute the length")
    with pytest.raises(TypeError, match="stop must be a scalar"):
        T.arange(T.lvector("v"))


def test_eye_and_identity_like():
    n, m, k = T.lscalar("n"), T.lscalar("m"), T.lscalar("k")
    x = T.imatrix("x")
    outs = [T.eye(n), T.eye(n, m, k), T.eye(3, 2, -1, dtype="int8"), T.eye(n, 4, dtype="bool"),
            T.identity_like(x)]
    assert [o.dtype for o in outs] == [config.floatX] * 2 + ["int8", "bool", "int32"]
    for nv, mv, kv in [(3, 4, 1), (2, 5, -1), (0, 2, 0)]:
        check([n, m, k, x], outs, [nv, mv, kv, np.ones((2, 3), "int32")],
              expected=[np.eye(nv, dtype=config.floatX), np.eye(nv, mv, kv, config.floatX),
                        np.eye(3, 2, -1, "int8"), np.eye(nv, 4, dtype=bool),
                        np.eye(2, 3, dtype="int32")])


def test_negative_stride_views_are_read_correctly():
    """Reversed views (from indexing) feed Reshape (copy path), Join and Alloc."""
    x = T.dmatrix("x")
    n = T.lscalar("n")
    rev = x[::-1, ::-1]
    outs = [rev.reshape((n, -1)), T.concatenate([rev, x[:, ::-2]], axis=1),
            T.alloc(x[0, ::-1], n, x.shape[1]), T.flatten(x[:, ::-1])]
    xv = rng.normal(size=(2, 4))
    check([x, n], outs, [xv, 4],
          expected=[xv[::-1, ::-1].reshape(4, -1), np.concatenate([xv[::-1, ::-1], xv[:, ::-2]],
                                                                  axis=1),
                    np.broadcast_to(xv[0, ::-1], (4, 4)), xv[:, ::-1].ravel()])


# --- helpers for other modules ------------------------------------------------------------

def test_vector_length_and_static_entries():
    x = T.dtensor3("x")
    n = T.lscalar("n")
    assert T.get_vector_length(x.shape) == 3
    assert T.get_vector_length(T.stack([n, 2])) == 2
    assert T.get_vector_length(np.array([1, 2, 3, 4])) == 4
    with pytest.raises(ValueError, match="not known"):
        T.get_vector_length(T.lvector("v"))
    from cgraph.tensor.shape_ops import as_shape_vector, shape_entries
    assert shape_entries(as_shape_vector((n, 1, 3))) == [None, 1, 3]
    assert shape_entries(as_shape_vector(T.row().shape)) == [1, None]
    assert T.shape_padaxis(x, -1).broadcastable == (False, False, False, True)
    assert T.shape_padleft(x, 2).ndim == 5 and T.shape_padright(n).broadcastable == (True,)


def test_gradients_through_shape_ops():
    """Reshape, Join, Alloc and MakeVector pass gradients back to their value inputs."""
    from cgraph.gradient import grad
    x, y = T.dmatrix("x"), T.dmatrix("y")
    v = T.dvector("v")
    a, b = T.dscalars("a", "b")
    outs = [T.reshape(x, (-1,)), T.concatenate([x, y], axis=1), T.alloc(v, 2, 3),
            T.stack([a, b])]
    seeds = [T.dvector("g0"), T.dmatrix("g1"), T.dmatrix("g2"), T.dvector("g3")]
    grads = grad(None, [x, y, v, a, b], known_grads=dict(zip(outs, seeds)))
    g0, g1, g2, g3 = np.arange(6.0), np.arange(10.0).reshape(2, 5), \
        np.arange(6.0).reshape(2, 3), np.array([2.0, 3.0])
    check([x, y, v, a, b] + seeds, grads,
          [np.ones((2, 3)), np.ones((2, 2)), np.ones(3), 1.0, 1.0, g0, g1, g2, g3],
          expected=[g0.reshape(2, 3) + g1[:, :3], g1[:, 3:], g2.sum(axis=0), 2.0, 3.0],
          on_unused_input="ignore")
