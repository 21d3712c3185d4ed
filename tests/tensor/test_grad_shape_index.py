"""Gradients of indexing (Subtensor, advanced indexing, set/inc_subtensor) and of the shape
ops (reshape, flatten, join/stack, alloc, fill, MakeVector, arange).

Finite differences run in py mode (the numpy reference, fast to call thousands of times); a
few cases also run verify_grad on the compiled C functions, and test_c_matches_py compiles
many gradient graphs at once and compares C with py.
"""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.gradient import GradientError, grad, verify_grad
from util import check

rng = np.random.default_rng(11)
X = rng.normal(size=(4, 5))
X3 = rng.normal(size=(3, 4, 5))


def vg(fun, pt, mode="py", **kwargs):
    verify_grad(fun, pt, n_tests=1, mode=mode, rng=np.random.default_rng(3), **kwargs)


# --- basic indexing ----------------------------------------------------------------------

START = cgraph.shared(1, name="start")        # symbolic (int64) slice bounds and index
STOP = cgraph.shared(-1, name="stop")
STEP = cgraph.shared(-2, name="step")

BASIC = {
    "slice": lambda x: x[1:3],
    "slice_both_axes": lambda x: x[1:, :-2],
    "negative_step": lambda x: x[::-2, 3:0:-1],
    "int": lambda x: x[2],
    "int_and_slice": lambda x: x[-1, 1::2],
    "two_ints": lambda x: x[1, -2],
    "none": lambda x: x[None, 1:, None, 0],
    "ellipsis": lambda x: x[..., 1],
    "empty_slice": lambda x: x[3:1],
    "view_of_view": lambda x: x[1:][::-1, 2:],
    "symbolic_bounds": lambda x: x[START:STOP],
    "symbolic_negative_step": lambda x: x[STOP:START - 1:STEP, START],
    "symbolic_index": lambda x: x[:, START],
}


@pytest.mark.parametrize("name", sorted(BASIC))
def test_basic_indexing(name):
    vg(BASIC[name], [X])


def test_basic_indexing_3d():
    vg(lambda x: x[1, ::-1, None, 2:4], [X3])


def test_subtensor_gradient_is_zero_outside_the_region():
    x = T.dmatrix("x")
    g = grad(T.sum(x[1:3, ::2] * 3.0), x)
    expected = np.zeros_like(X)
    expected[1:3, ::2] = 3.0
    assert g.broadcastable == x.broadcastable
    np.testing.assert_array_equal(cgraph.function([x], g, mode="py")(X), expected)


# --- advanced indexing -------------------------------------------------------------------

IDX = cgraph.shared(np.array([3, 0, 3, 3, -1]), name="idx")   # symbolic, with repeats

ADVANCED = {
    "rows_repeated": lambda x: x[[0, 0, 3, 1, 0]],
    "columns_repeated": lambda x: x[:, [1, 1, 0, -1]],
    "pairs_repeated": lambda x: x[[0, 2, 0], [1, 4, 1]],
    "arange_pattern": lambda x: x[T.arange(4), [1, 1, 4, 0]],
    "matrix_index": lambda x: x[np.array([[0, 1], [1, 1]])],
    "int_and_array": lambda x: x[2, [4, 4, 0]],
    "slice_then_array": lambda x: x[1:, [0, 0, 2]],
    "negative_step_then_array": lambda x: x[::-1, [0, 0]],
    "none_and_array": lambda x: x[None, [1, 1], None],
    "symbolic_index": lambda x: x[IDX],
    "symbolic_index_columns": lambda x: x[1:3, IDX],
}


@pytest.mark.parametrize("name", sorted(ADVANCED))
def test_advanced_indexing(name):
    vg(ADVANCED[name], [X])


def test_advanced_indexing_3d_non_adjacent():
    vg(lambda x: x[[0, 2, 0], :, [1, 1, 4]], [X3])
    vg(lambda x: x[:, [[3, 3]], [0, 1]], [X3])


def test_repeated_indices_accumulate():
    """The gradient of a gather adds up over repeated indices (np.add.at), in C too."""
    emb = T.dmatrix("emb")
    words = np.array([[1, 3, 1], [0, 1, 1]])
    seed = rng.normal(size=(2, 3, 5))
    g = grad(T.sum(emb[words] * seed), emb)
    expected = np.zeros_like(X)
    np.add.at(expected, words, seed)
    check([emb], [g], [X], expected=[expected])


def test_negative_log_likelihood_pattern():
    """-log(p)[arange(n), y]: each row gets -1/p at its label, zero elsewhere."""
    p = T.dmatrix("p")
    y = cgraph.shared(np.array([2, 0, 2, 4]), name="y")
    p_val = rng.uniform(0.1, 1.0, size=(4, 5))
    vg(lambda p: -T.log(p)[T.arange(y.shape[0]), y], [p_val])
    g = grad(T.sum(-T.log(p)[T.arange(y.shape[0]), y]), p)
    expected = np.zeros_like(p_val)
    expected[np.arange(4), [2, 0, 2, 4]] = -1 / p_val[np.arange(4), [2, 0, 2, 4]]
    np.testing.assert_allclose(cgraph.function([p], g, mode="py")(p_val), expected)


def test_indices_get_no_gradient():
    x = T.dmatrix("x")
    i = T.lvector("i")
    gx, gi = grad(T.sum(x[i]), [x, i])
    gi_val = cgraph.function([x, i], gi, mode="py", on_unused_input="ignore")(
        X, np.array([1, 1, 3]))
    np.testing.assert_array_equal(gi_val, np.zeros(3))


# --- set_subtensor / inc_subtensor -------------------------------------------------------

Y_ROW = rng.normal(size=(5,))
Y_REGION = rng.normal(size=(2, 5))
Y_COL = rng.normal(size=(2, 1))
Y_ONE = rng.normal(size=(1,))
Y_ADV = rng.normal(size=(3, 4))

WRITES = {
    "set_rows_row": (lambda x, y: T.set_subtensor(x[1:3], y), Y_ROW),
    "inc_rows_row": (lambda x, y: T.inc_subtensor(x[1:3], y), Y_ROW),
    "set_rows_region": (lambda x, y: T.set_subtensor(x[::-2], y), Y_REGION),
    "inc_col_broadcast": (lambda x, y: T.inc_subtensor(x[2:0:-1], y), Y_COL),
    "set_one_broadcast": (lambda x, y: T.set_subtensor(x[1, 1:], y), Y_ONE),
    "inc_symbolic_bounds": (lambda x, y: T.inc_subtensor(x[START:STOP + 2, START], y), Y_ONE),
    "set_none_axis": (lambda x, y: T.set_subtensor(x[1:3, None], y), Y_COL[:, :, None]),
    "inc_advanced_repeated": (lambda x, y: T.inc_subtensor(x[[0, 0, 2], 1:], y), Y_ADV),
    "set_advanced_unique": (lambda x, y: T.set_subtensor(x[[3, 0, 2], 1:], y), Y_ADV),
    # repeated positions: only the last write reaches the output
    "set_advanced_repeated": (lambda x, y: T.set_subtensor(x[[0, 2, 0], 1:], y), Y_ADV),
    "set_advanced_negative_alias": (lambda x, y: T.set_subtensor(x[[3, 1, -1], :4], y), Y_ADV),
    "set_advanced_symbolic": (lambda x, y: T.set_subtensor(x[IDX[:3], :4], y), Y_ADV),
    "set_advanced_broadcast": (lambda x, y: T.set_subtensor(x[[1, 1, 0]], y), Y_ONE),
    "inc_pairs_scalar": (lambda x, y: T.inc_subtensor(x[[0, 0], [1, 1]], y[0]), Y_ONE),
}


@pytest.mark.parametrize("name", sorted(WRITES))
def test_set_and_inc_subtensor(name):
    fun, y = WRITES[name]
    vg(fun, [X, y])


def test_set_subtensor_repeated_gradient_values():
    """x[[0, 2, 0]] = y: row 0 of y is overwritten by row 2 of y, so gets no gradient."""
    x, y = T.dmatrix("x"), T.dmatrix("y")
    out = T.set_subtensor(x[[0, 2, 0]], y)
    gx, gy = grad(T.sum(out * np.arange(20.0).reshape(4, 5)), [x, y])
    rows = np.arange(20.0).reshape(4, 5)
    gx_val, gy_val = cgraph.function([x, y], [gx, gy], mode="py")(X, rng.normal(size=(3, 5)))
    np.testing.assert_array_equal(gx_val, np.where([[0], [1], [0], [1]], rows, 0))
    np.testing.assert_array_equal(gy_val, [np.zeros(5), rows[2], rows[0]])


# --- shape ops ---------------------------------------------------------------------------

SHAPES = {
    "reshape": (lambda x: x.reshape((2, 10)), [X]),
    "reshape_inferred": (lambda x: T.reshape(x, (-1, 2, 5)), [X]),
    "reshape_symbolic": (lambda x: x.reshape((x.shape[1], x.shape[0])), [X]),
    "reshape_strided": (lambda x: x[::-1, ::2].reshape((-1,)), [X]),
    "flatten": (lambda x: T.flatten(x), [X3]),
    "flatten_2": (lambda x: x.flatten(2), [X3]),
    "concatenate_0": (lambda a, b, c: T.concatenate([a, b, c]), [X, X[:1], X[:2] + 1]),
    "concatenate_1": (lambda a, b: T.concatenate([a, b], axis=1), [X, X[:, :2]]),
    "concatenate_last": (lambda a, b: T.concatenate([a, b], axis=-1), [X3, X3[..., :1]]),
    "concatenate_broadcastable": (lambda a, b: T.concatenate([a, b.dimshuffle("x", 0)]),
                                  [X, X[0]]),
    "stack_0": (lambda a, b: T.stack([a, b]), [X[0], X[1]]),
    "stack_1": (lambda a, b, c: T.stack([a, b, c], axis=1), [X, X + 1, X * 2]),
    "stack_scalars": (lambda a, b: T.stack([a, b * 2, a * b]), [np.array(0.5), np.array(-2.0)]),
    "horizontal_stack": (lambda a, b: T.horizontal_stack(a, b), [X, X[:, :3]]),
    "alloc": (lambda v: T.alloc(v, 3, 4, 5), [X[0]]),
    "alloc_length_one": (lambda v: T.alloc(v, 2, 4, 5), [X[:, :1]]),
    "alloc_scalar_symbolic_shape": (lambda v, m: T.alloc(v, m.shape[0], 2), [np.array(1.5), X]),
    "fill": (lambda m, v: T.fill(m, v), [X, X[:1]]),
    "second": (lambda m, v: T.second(m, v) * m, [X, X[0]]),
    "zeros_ones_like": (lambda x: x * T.ones_like(x) + T.zeros_like(x), [X]),
    "arange": (lambda a, b, c: T.arange(a, b, c) ** 2,
               [np.array(0.25), np.array(3.1), np.array(0.5)]),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shape_ops(name):
    fun, pt = SHAPES[name]
    vg(fun, pt)


def test_fill_and_shape_give_no_gradient_to_the_model():
    x, v = T.dmatrix("x"), T.dvector("v")
    gx, gv = grad(T.sum(T.fill(x, v)) + T.cast(x.shape[0], "float64"), [x, v])
    gx_val, gv_val = cgraph.function([x, v], [gx, gv], mode="py")(X, X[0])
    np.testing.assert_array_equal(gx_val, np.zeros_like(X))
    np.testing.assert_array_equal(gv_val, np.full(5, 4.0))


def test_gradients_keep_broadcastable_patterns():
    row, col = T.drow("row"), T.dcol("col")
    m = T.dmatrix("m")
    cost = (T.sum(T.concatenate([m, row])) + T.sum(T.stack([row[0], m[0]]))
            + T.sum(T.concatenate([m, col], axis=1)) + T.sum(T.alloc(row, 3, 2, 5))
            + T.sum(T.reshape(col, (col.shape[0],))))
    for var, g in zip([row, col, m], grad(cost, [row, col, m])):
        assert g.broadcastable == var.broadcastable, (var, g.type)


def test_rop_and_second_order():
    """Rop takes the gradient of gradients: IncSubtensor's gradient feeds Subtensor's."""
    from cgraph.gradient import Rop
    x, v = T.dmatrix("x"), T.dmatrix("v")
    r_basic = Rop(x[1:3, ::-1], x, v)
    r_adv = Rop(T.concatenate([x[[0, 0, 2]], x.reshape((2, 10)).reshape((4, 5))]), x, v)
    hess_v = grad(T.sum(grad(T.sum(x[[1, 1], 2:] ** 3), x) * v), x)
    V = rng.normal(size=(4, 5))
    got = cgraph.function([x, v], [r_basic, r_adv, hess_v], mode="py")(X, V)
    np.testing.assert_allclose(got[0], V[1:3, ::-1])
    np.testing.assert_allclose(got[1], np.concatenate([V[[0, 0, 2]], V]))
    expected = np.zeros_like(X)
    expected[1, 2:] = 2 * 6 * X[1, 2:] * V[1, 2:]    # d/dx of 2 * 3x**2, times v
    np.testing.assert_allclose(got[2], expected)


def test_verify_grad_catches_a_wrong_gradient():
    """A Subtensor gradient that forgot the region would be caught (the test can fail)."""
    from cgraph.tensor.subtensor import Subtensor
    original = Subtensor.L_op

    def wrong(self, inputs, outputs, output_grads):
        return [T.zeros_like(inputs[0])] + [None] * (len(inputs) - 1)
    Subtensor.L_op = wrong
    try:
        with pytest.raises(GradientError):
            vg(lambda x: x[1:3], [X])
    finally:
        Subtensor.L_op = original


# --- compiled C ---------------------------------------------------------------------------

@pytest.mark.slow   # many compiles: 6 s on 2 busy cores
def test_verify_grad_in_c():
    vg(lambda x: x[::-1, 2:][[0, 0, 2], None], [X], mode="c")
    vg(lambda x, y: T.concatenate([T.set_subtensor(x[1:3, [0, 0]], y), x.T.reshape((4, 5))]),
       [X, rng.normal(size=(2, 2))], mode="c")


@pytest.mark.slow   # many compiles: 6 s on 2 busy cores
def test_verify_grad_float32_in_c():
    x32 = X.astype("float32")
    vg(lambda x, y: T.stack([T.inc_subtensor(x[[1, 1, 3], ::2], y)[:, ::2], T.alloc(y, 4, 3)]),
       [x32, x32[0, :3]], mode="c")


@pytest.mark.slow   # many compiles: 10 s on 2 busy cores
def test_c_matches_py():
    """Many gradient graphs in one function: C results equal the numpy reference."""
    x, y = T.dmatrix("x"), T.dvector("y")
    i = T.lvector("i")
    t = T.dtensor3("t")
    w = T.dmatrix("w")
    start = T.lscalar("start")
    cost = (T.sum(x[start:, ::-2] * w[1:, :3])
            + T.sum(x[i, 1:] ** 2) + T.sum(T.set_subtensor(x[i, :3], w[:, :1]) * w)
            + T.sum(T.inc_subtensor(x[1:start + 2], y) ** 2)
            + T.sum(T.concatenate([x, w, y.dimshuffle("x", 0)]) ** 3)
            + T.sum(T.stack([x, w], axis=2) * t.dimshuffle(1, 2, 0)[:, :, :2])
            + T.sum(T.alloc(y, 2, 4, 5) * t[:2]) + T.sum(t.flatten(2) ** 2)
            + T.sum(T.reshape(t, (5, -1))[::2] * t.sum()))
    grads = grad(cost, [x, y, t, w])
    tv = rng.normal(size=(4, 4, 5))
    check([x, y, i, t, w, start], grads,
          [X, X[0], np.array([3, 0, 3, -1]), tv, rng.normal(size=(4, 5)), 1])
