"""Idioms Theano users type from memory behave as in Theano 1.0.5 (theano/tensor/var.py,
basic.py, gradient.py, nnet/bn.py, compile/mode.py); each test states the Theano behaviour."""
import operator
import warnings

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from util import check


# --- variables in Python expressions ---------------------------------------------------------

def test_variables_are_truthy_but_comparisons_refuse_bool():
    # Theano: every variable is true (``if not W:`` checks for None), except the result of
    # <, <=, >, >= which raises, so that ``a < b < c`` cannot silently mean ``b < c``
    W = cgraph.shared(np.zeros(3), name="W")
    x = T.dmatrix("x")
    for var in (W, x, x + 1, T.constant(0.0), x.sum(), T.eq(x, 0)):
        assert bool(var) is True
        assert not (not var)
    for comparison in (x < 0, x <= 0, x > 0, x >= 0, 0 < x, np.float64(0) > x):
        with pytest.raises(TypeError, match="^Variables do not support boolean operations.$"):
            bool(comparison)
    with pytest.raises(TypeError, match="boolean operations"):
        0 < x < 1


ARITHMETIC = [operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv,
              operator.mod, operator.pow, operator.lt, operator.le, operator.gt, operator.ge]


@pytest.mark.parametrize("op", ARITHMETIC, ids=lambda op: op.__name__)
def test_ndarray_on_the_left_gives_a_tensor_variable(op):
    # Theano: ``ndarray + shared`` is a TensorVariable (numpy defers to the variable), with
    # the value numpy would give
    a = np.array([[1.5, -2.0, 3.0]])
    w_value = np.array([[0.5, 4.0, -1.25]])
    W = cgraph.shared(w_value, name="W")
    result = op(a, W)
    assert isinstance(result, cgraph.tensor.TensorVariable), type(result)
    assert result.ndim == 2
    np.testing.assert_allclose(result.eval(), op(a, w_value))
    assert isinstance(op(np.float32(2), T.fvector()), cgraph.tensor.TensorVariable)


def test_ndarray_on_the_left_of_bitwise_and_matmul():
    a = np.array([1, 0, 3], dtype="int32")
    v = T.ivector("v")
    for op in (operator.and_, operator.or_, operator.xor):
        result = op(a, v)
        assert isinstance(result, cgraph.tensor.TensorVariable)
        np.testing.assert_array_equal(result.eval({v: np.array([3, 5, 1], "int32")}),
                                      op(a, np.array([3, 5, 1], "int32")))
    m = np.arange(6.0).reshape(2, 3)
    x = T.dvector("x")
    product = m @ x
    assert isinstance(product, cgraph.tensor.TensorVariable)
    np.testing.assert_allclose(product.eval({x: np.ones(3)}), m @ np.ones(3))
    # == compares by identity, as numpy did with Theano's variables (T.eq is the
    # elementwise comparison): an ndarray gives all False, elementwise
    np.testing.assert_array_equal(m == x, np.zeros((2, 3), bool))
    np.testing.assert_array_equal(m != x, np.ones((2, 3), bool))
    assert (x == x) is True and (x != T.dvector()) is True


@pytest.mark.slow   # many compiles: 5 s on 2 busy cores
def test_numpy_ufuncs_on_variables_build_graphs():
    # numpy hands np.exp(W), np.maximum(W, 2), ... to the graph, as it did with Theano's
    # variables (through their methods); what has no graph counterpart is a TypeError
    value = np.array([0.5, 2.0, 3.0])
    W = cgraph.shared(value, name="W")
    for fn, expected in [(np.exp, np.exp(value)), (np.sqrt, np.sqrt(value)),
                         (np.log1p, np.log1p(value)), (np.negative, -value),
                         (np.square, value ** 2), (np.abs, value),
                         (lambda v: np.maximum(v, 2.0), np.maximum(value, 2.0)),
                         (lambda v: np.arctan2(v, 1.0), np.arctan2(value, 1.0))]:
        result = fn(W)
        assert isinstance(result, cgraph.tensor.TensorVariable)
        np.testing.assert_allclose(result.eval(), expected)
    with pytest.raises(TypeError, match="boolean operations"):
        bool(np.less(np.ones(3), W))
    for refused in (lambda: np.cbrt(W), lambda: np.add.reduce(W),
                    lambda: np.add(np.ones(3), W, out=np.ones(3))):
        with pytest.raises(TypeError):
            refused()


# --- constructors and types ------------------------------------------------------------------

def test_plural_constructors_split_a_single_string():
    # Theano's _multi: one string is a sequence of one-letter names; one letter, one variable
    p, t = T.matrices("pt")
    assert (p.name, t.name) == ("p", "t") and p.type == T.matrix().type
    single = T.dvectors("x")
    assert isinstance(single, cgraph.tensor.TensorVariable) and single.name == "x"
    a, b = T.fmatrices("ab")
    assert (a.dtype, a.name, b.name) == ("float32", "a", "b")
    xy, z = T.scalars("xy", "z")
    assert (xy.name, z.name) == ("xy", "z")
    assert len(T.tensor3s(2)) == 2 and len(T.lvectors(1)) == 1
    assert [v.ndim for v in T.tensor4s("uv")] == [4, 4]
    # every rank has its plural, plain and with each dtype prefix, as in Theano
    r, c = T.frows("rc")
    assert (r.dtype, r.broadcastable, r.name) == ("float32", (True, False), "r")
    assert T.cols("c").broadcastable == (False, True)
    assert [v.type for v in T.ltensor3s(2)] == [T.TensorType("int64", (False,) * 3)] * 2
    assert [v.ndim for v in T.tensor5s("ab") + T.tensor6s(1) + T.tensor7s(1)] == [5, 5, 6, 7]
    assert T.itensor4s("q").dtype == "int32" and T.dcols(1)[0].dtype == "float64"


def test_tensor_type_takes_a_name():
    # Theano: TensorType(dtype, broadcastable, name=None); the name is what str/repr show,
    # equality looks only at dtype and broadcastable
    image = T.TensorType("float32", (False, True, False), name="image")
    assert repr(image) == "image" and str(image) == "image"
    assert image == T.TensorType("float32", (False, True, False))
    v = image("v")
    assert v.type == image and v.broadcastable == (False, True, False)
    assert repr(T.TensorType("float64", (False,))) == "TensorType(float64, vector)"


@pytest.mark.slow   # many compiles: 5 s on 2 busy cores
def test_inv_is_the_reciprocal():
    x = T.dmatrix("x")
    value = np.array([[0.5, -4.0], [3.0, 1e-3]])
    check([x], T.inv(x), [value], expected=1 / value)
    assert T.inv(T.fvector()).dtype == "float32"
    cgraph.gradient.verify_grad(T.inv, [value], rng=np.random.RandomState(0))


# --- indexing ---------------------------------------------------------------------------------

def test_iterating_a_slice_of_a_shape():
    # Theano's get_vector_length knows the length of a constant slice of x.shape
    x = T.tensor4("x")
    value = np.zeros((2, 3, 4, 5))
    for part, expected in [(x.shape[2:], (4, 5)), (x.shape[-3:-1], (3, 4)),
                           (x.shape[::2], (2, 4)), (x.shape[1:1], ()), (x.shape[3:10], (5,))]:
        sizes = [s for s in part]
        assert len(sizes) == len(expected)
        if sizes:
            f = cgraph.function([x], sizes)
            assert [int(v) for v in f(value)] == list(expected)
    h, w = x.shape[2:]
    assert int(cgraph.function([x], h * w)(value)) == 20
    with pytest.raises(TypeError, match="not iterable"):
        iter(x.shape[T.lscalar("k"):])


def test_indexing_with_a_list_of_slices_is_a_tuple():
    # Theano (and numpy before 1.23): x[[slice(0, 2), 1]] is x[0:2, 1]
    x = T.dmatrix("x")
    value = np.arange(12.0).reshape(3, 4)
    check([x], [x[[slice(0, 2), 1]], x[[slice(1, None), slice(None, None, 2)]], x[[1, 2]]],
          [value], expected=[value[0:2, 1], value[1:, ::2], value[[1, 2]]])


# --- gradient views (theano.gradient) ---------------------------------------------------------

def test_grad_clip_clips_only_the_gradient():
    # Theano's grad_clip docstring: grad(grad_clip(x, -1, 1) ** 2, x) at 2.0 is 1.0 (not 4.0)
    from cgraph.gradient import grad_clip
    x = T.dscalar("x")
    z = T.grad(grad_clip(x, -1, 1) ** 2, x)
    z2 = T.grad(x ** 2, x)
    f = cgraph.function([x], [z, z2, grad_clip(x, -1, 1) ** 2])
    assert [float(v) for v in f(2.0)] == [1.0, 4.0, 4.0]
    assert "GradClip" not in cgraph.function([x], grad_clip(x, -1, 1) ** 2).c_source
    v = T.fvector("v")
    g = T.grad((grad_clip(v, -0.5, 0.25) * np.float32(3)).sum(), v)
    assert g.dtype == "float32"
    check([v], g, [np.array([1, -2, 0], "float32")], expected=np.full(3, 0.25, "float32"))
    with pytest.raises(ValueError, match="upper bound"):
        grad_clip(x, 1, -1)


def test_zero_grad_is_connected_disconnected_grad_is_not():
    # Theano: zero_grad(x) gives a zero gradient; disconnected_grad(x) cuts the graph, so a
    # gradient asked only through it raises DisconnectedInputError
    from cgraph.gradient import DisconnectedInputError, disconnected_grad, zero_grad
    x, y = T.dscalars("x", "y")
    f = cgraph.function([x, y], T.grad(zero_grad(x) * y, [x, y]))
    assert [float(v) for v in f(2.0, 3.0)] == [0.0, 2.0]
    cost = disconnected_grad(x) * y + x
    f = cgraph.function([x, y], T.grad(cost, [x, y]) + [cost])
    assert [float(v) for v in f(2.0, 3.0)] == [1.0, 2.0, 8.0]
    with pytest.raises(DisconnectedInputError):
        T.grad(disconnected_grad(x) * y, x)
    g = T.grad(disconnected_grad(x) * y, x, disconnected_inputs="ignore")
    assert float(g.eval({x: 2.0})) == 0.0
    with pytest.warns(DeprecationWarning, match="consider_constant"):
        c = T.consider_constant(x)
    assert float(T.grad(c * y, x).eval({x: 2.0, y: 3.0})) == 0.0


@pytest.mark.slow   # many compiles: 10 s on 2 busy cores
def test_gradient_views_in_a_matrix_gradient_match_numeric_ones():
    from cgraph.gradient import disconnected_grad, grad_clip, grad_scale, zero_grad
    rng = np.random.RandomState(1)
    b_value = rng.randn(3, 4)

    def model(a):
        b = cgraph.shared(b_value)
        # the views change nothing where the gradient stays inside the clip bounds
        return (T.tanh(grad_clip(a, -1e3, 1e3)) * grad_scale(b, 1.0)).sum(axis=1) \
            + zero_grad(a).sum() * 0 + disconnected_grad(b).mean()

    cgraph.gradient.verify_grad(model, [rng.randn(3, 4)], rng=rng)
    x = T.dmatrix("x")
    g = T.grad((grad_scale(x, -2.0) ** 2).sum(), x)
    value = rng.randn(2, 3)
    check([x], g, [value], expected=-4 * value)


# --- tensordot, batched_dot, batched_tensordot, dot of N-d tensors ----------------------------

TENSORDOT_CASES = [
    # (a shape, b shape, axes): numpy.tensordot is the reference
    ((3, 4), (4, 5), 1),
    ((2, 3, 4), (3, 4, 5), 2),
    ((2, 3, 4), (4, 3, 5), [[1, 2], [1, 0]]),
    ((2, 3), (3, 2), [[0, 1], [1, 0]]),          # every axis summed: a scalar
    ((4, 2), (3,), 0),                           # no axis summed: the outer product
    ((2, 0, 3), (3, 4), [[2], [0]]),             # an empty free axis
    ((2, 0), (0, 3), 1),                         # an empty summed axis: zeros
    ((5, 1, 3), (3, 2, 1), [[-1], [0]]),         # length-1 axes, a negative axis
]


@pytest.mark.parametrize("a_shape, b_shape, axes", TENSORDOT_CASES)
def test_tensordot_matches_numpy(a_shape, b_shape, axes):
    rng = np.random.RandomState(0)
    a = T.tensor("float64", (False,) * len(a_shape), name="a")
    b = T.tensor("float64", (False,) * len(b_shape), name="b")
    av, bv = rng.randn(*a_shape), rng.randn(*b_shape)
    check([a, b], T.tensordot(a, b, axes), [av, bv], expected=np.tensordot(av, bv, axes))


@pytest.mark.slow   # many compiles: 17 s on 2 busy cores
def test_tensordot_dtypes_broadcastable_and_gradient():
    rng = np.random.RandomState(1)
    a, b = T.ftensor3("a"), T.fmatrix("b")
    out = T.tensordot(a, b, [[2], [1]])
    assert out.dtype == "float32" and out.ndim == 3
    av, bv = rng.randn(2, 3, 4).astype("float32"), rng.randn(5, 4).astype("float32")
    check([a, b], out, [av, bv], expected=np.tensordot(av, bv, [[2], [1]]), rtol=1e-4)
    i, j = T.imatrix("i"), T.lmatrix("j")
    iv, jv = rng.randint(-5, 5, (3, 4)).astype("int32"), rng.randint(-5, 5, (4, 2))
    check([i, j], T.tensordot(i, j, 1), [iv, jv], expected=np.tensordot(iv, jv, 1))
    r = T.tensordot(T.row("r"), T.col("c"), [[0], [1]])      # (1, n) x (m, 1) -> (n, m)
    assert r.broadcastable == (False, False)
    assert T.tensordot(T.row(), T.matrix(), 1).broadcastable == (True, False)
    for axes, b_shape in [(1, (4, 3)), ([[1, 2], [0, 1]], (3, 4, 2)), ([[0], [1]], (3, 2))]:
        cgraph.gradient.verify_grad(lambda x, y: T.tensordot(x, y, axes),
                                    [rng.randn(2, 3, 4), rng.randn(*b_shape)], rng=rng)
    with pytest.raises(ValueError, match="cannot sum over 3 axes"):
        T.tensordot(T.matrix(), T.tensor3(), 3)
    with pytest.raises(ValueError, match="name 2 axes of a and 1 of b"):
        T.tensordot(T.matrix(), T.tensor3(), [[0, 1], [0]])
    with pytest.raises(ValueError, match="not distinct axes of b"):
        T.tensordot(T.matrix(), T.tensor3(), [[0, 1], [2, 3]])


@pytest.mark.slow   # many compiles: 13 s on 2 busy cores
def test_dot_with_a_tensor_of_more_than_two_dimensions():
    # Theano's dot (as numpy's): a's last axis against b's second-to-last
    rng = np.random.RandomState(2)
    for a_shape, b_shape in [((3, 4), (2, 5, 4, 6)), ((4,), (2, 4, 3)), ((2, 3, 4), (5, 4, 2)),
                             ((3, 0), (2, 0, 4))]:
        a = T.tensor("float64", (False,) * len(a_shape), name="a")
        b = T.tensor("float64", (False,) * len(b_shape), name="b")
        av, bv = rng.randn(*a_shape), rng.randn(*b_shape)
        check([a, b], T.dot(a, b), [av, bv], expected=np.dot(av, bv))
    cgraph.gradient.verify_grad(T.dot, [rng.randn(3, 4), rng.randn(2, 4, 3)], rng=rng)
    m, t = T.dmatrix("m"), T.dtensor3("t")
    with pytest.raises(ValueError, match="cannot reshape|inner|shape"):
        cgraph.function([m, t], T.dot(m, t))(np.ones((2, 3)), np.ones((2, 4, 5)))


BATCHED_CASES = [
    ((3, 2, 4), (3, 4, 5)),     # a batch of matrix products
    ((3, 4), (3, 4, 5)),        # vector . matrix per batch
    ((3, 2, 4), (3, 4)),        # matrix . vector per batch
    ((3, 4), (3, 4)),           # inner products per batch
    ((3,), (3, 2, 2)),          # a vector scales each batch
    ((2, 3, 2, 4), (2, 4, 5)),  # a 3-d operand per batch
    ((0, 2, 4), (0, 4, 5)),     # an empty batch
]


def _numpy_batched_dot(a, b):
    if a.ndim == 1:
        return a.reshape((-1,) + (1,) * (b.ndim - 1)) * b
    # a loop over the batch, with the result shape of an empty batch too
    out_shape = a.shape[:1] + np.dot(np.zeros(a.shape[1:]), np.zeros(b.shape[1:])).shape
    out = np.zeros(out_shape)
    for k in range(len(a)):
        out[k] = np.dot(a[k], b[k])
    return out


@pytest.mark.parametrize("a_shape, b_shape", BATCHED_CASES)
@pytest.mark.slow   # many compiles: 11 s on 2 busy cores
def test_batched_dot_matches_a_loop_of_dots(a_shape, b_shape):
    rng = np.random.RandomState(3)
    a = T.tensor("float64", (False,) * len(a_shape), name="a")
    b = T.tensor("float64", (False,) * len(b_shape), name="b")
    av, bv = rng.randn(*a_shape), rng.randn(*b_shape)
    check([a, b], T.batched_dot(a, b), [av, bv], expected=_numpy_batched_dot(av, bv))
    if av.size:
        cgraph.gradient.verify_grad(T.batched_dot, [av, bv], rng=rng)


def test_batched_dot_refuses_mismatched_operands():
    a, b = T.dtensor3("a"), T.dtensor3("b")
    message = (r"batched_dot: a has shape \(2, 3, 4\) but b has shape \({}\): the batch sizes "
               r"and the inner dimensions must be equal")
    for mode in ("c", "py"):
        f = cgraph.function([a, b], T.batched_dot(a, b), mode=mode)
        with pytest.raises(ValueError, match=message.format("2, 5, 6")):
            f(np.ones((2, 3, 4)), np.ones((2, 5, 6)))     # inner lengths 4 and 5
        with pytest.raises(ValueError, match=message.format("3, 4, 6")):
            f(np.ones((2, 3, 4)), np.ones((3, 4, 6)))     # batches of 2 and 3
    i, j = T.itensor3("i"), T.itensor3("j")               # integers: a multiply-and-sum
    g = cgraph.function([i, j], T.batched_dot(i, j))
    with pytest.raises(ValueError, match="cannot reshape j"):
        g(np.ones((2, 3, 4), "int32"), np.ones((2, 5, 6), "int32"))
    with pytest.raises(TypeError, match="batch"):
        T.batched_dot(T.dscalar(), b)


@pytest.mark.slow   # many compiles: 13 s on 2 busy cores
def test_batched_tensordot_matches_numpy():
    # Theano: an int n sums the last n axes of x against y's n axes after the batch axis
    rng = np.random.RandomState(4)
    x, y = T.dtensor4("x"), T.dtensor3("y")
    xv, yv = rng.randn(2, 3, 4, 5), rng.randn(2, 5, 3)
    expected = np.stack([np.tensordot(p, q, [[2], [0]]) for p, q in zip(xv, yv)])
    check([x, y], T.batched_tensordot(x, y, 1), [xv, yv], expected=expected)
    expected = np.stack([np.tensordot(p, q, [[0, 2], [1, 0]]) for p, q in zip(xv, yv)])
    check([x, y], T.batched_tensordot(x, y, [[1, 3], [2, 1]]), [xv, yv], expected=expected)
    cgraph.gradient.verify_grad(lambda p, q: T.batched_tensordot(p, q, [[1, 3], [2, 1]]),
                                [xv, yv], rng=rng)
    with pytest.raises(ValueError, match="batch axis"):
        T.batched_tensordot(x, y, [[0], [1]])


# --- config and theano.scalar -----------------------------------------------------------------

def test_config_warn_section_and_device():
    # Theano's config has a warn section whose flags programs switch off; device is "cpu"
    config = cgraph.config
    saved = config.warn.subtensor_merge_bug
    try:
        config.warn.subtensor_merge_bug = False
        config.warn.sum_div_dimshuffle_bug = False
        config.warn.round = "false"
        assert config.warn.subtensor_merge_bug is False and config.warn.round is False
        config.warn.subtensor_merge_bug = True
        assert config.warn.subtensor_merge_bug is True
    finally:
        config.warn.subtensor_merge_bug = saved
    assert config.warn.ignore_bug_before == "0.9" and config.warn.inc_subtensor1_opt is True
    with pytest.raises(AttributeError, match="no flag named 'not_a_flag'"):
        config.warn.not_a_flag = False
    with pytest.raises(ValueError, match="ignore_bug_before"):
        config.warn.ignore_bug_before = "2.0"
    assert config.device == "cpu" and config.device.startswith("cpu")
    config.device = "cpu"
    with pytest.raises(ValueError, match="CPU only"):
        config.device = "cuda0"
    assert "warn.subtensor_merge_bug" in repr(config)


def test_config_warn_flags_from_the_environment():
    import subprocess
    import sys
    import os
    env = dict(os.environ, CGRAPH_FLAGS="warn.round=True,warn.ignore_bug_before=all")
    out = subprocess.run([sys.executable, "-c", "import cgraph; c = cgraph.config; "
                          "print(c.warn.round, c.warn.ignore_bug_before)"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "all"]


def test_scalar_upcast_keeps_floatx():
    # theano.scalar.upcast: numpy's promotion, but float32 is kept when floatX is float32
    # unless float64 is asked for explicitly
    from cgraph import scalar
    config = cgraph.config
    saved = config.floatX
    try:
        config.floatX = "float64"
        assert scalar.upcast("int32", "float32") == "float64"
        assert scalar.upcast("float32") == "float32"
        config.floatX = "float32"
        assert scalar.upcast("int32", "float32") == "float32"
        assert scalar.upcast("int64", "float32", "int8") == "float32"
        assert scalar.upcast("float32", "float64") == "float64"
        assert scalar.upcast("int8", "uint8") == "int16"
        assert scalar.upcast("int32", "int64") == "int64"
        assert scalar.upcast("bool", "int8") == "int8"
    finally:
        config.floatX = saved
    x = scalar.float32("x")
    assert x.ndim == 0 and x.dtype == "float32" and x.name == "x"
    assert scalar.float64.dtype == "float64" and scalar.int64 in scalar.int_types
    assert scalar.get_scalar_type("int16") is scalar.int16
    assert cgraph.scalar is scalar


# --- softmax of a vector ----------------------------------------------------------------------

@pytest.mark.slow   # many compiles: 7 s on 2 busy cores
def test_softmax_of_a_vector_is_a_row_with_theanos_warning():
    # Theano 1.0.5's SoftmaxOp pads a vector to a 1 x n row, warning that this is deprecated
    v = T.dvector("v")
    with pytest.warns(UserWarning, match="DEPRECATION: If x is a vector, Softmax will not "
                                         "automatically pad x anymore"):
        s = T.nnet.softmax(v)
    with pytest.warns(UserWarning, match="LogSoftmax will not automatically pad"):
        ls = T.nnet.log_softmax(v)
    assert s.broadcastable == (True, False) and ls.broadcastable == (True, False)
    value = np.array([1.0, 2.0, -1.0])
    e = np.exp(value - value.max())
    expected = (e / e.sum())[None]
    check([v], [s, s[:, 0], ls], [value], expected=[expected, expected[:, 0], np.log(expected)])
    with pytest.warns(UserWarning, match="dimension of shape 1"):
        T.nnet.softmax(T.col("c"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        T.nnet.softmax(T.dmatrix("m"))     # a matrix: no warning
    g = T.grad(s[0, 1], v)
    assert g.ndim == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cgraph.gradient.verify_grad(lambda x: T.nnet.softmax(x) * np.arange(3.0), [value],
                                    rng=np.random.RandomState(5))


# --- batch normalization (theano.tensor.nnet.bn) ----------------------------------------------

def _numpy_bn_train(x, gamma, beta, axes, eps, factor, running_mean, running_var):
    """The formulas of Theano's batch_normalization_train docstring, in numpy."""
    mean = x.mean(axes, keepdims=True)
    var = x.var(axes, keepdims=True)
    invstd = 1 / np.sqrt(var + eps)
    out = (x - mean) * gamma * invstd + beta
    m = x.size / mean.size
    new_mean = running_mean * (1 - factor) + mean * factor
    new_var = running_var * (1 - factor) + (m / (m - 1)) * var * factor
    return out, mean, invstd, new_mean, new_var


@pytest.mark.parametrize("axes, shape", [("per-activation", (5, 3)), ("spatial", (4, 3, 2, 5)),
                                         ((0, 2), (3, 4, 2)), ((1,), (3, 4))])
@pytest.mark.slow   # many compiles: 5 s on 2 busy cores
def test_batch_normalization_train_matches_theanos_formulas(axes, shape):
    rng = np.random.RandomState(6)
    ndim = len(shape)
    named = {"per-activation": (0,), "spatial": (0,) + tuple(range(2, ndim))}
    ax = named.get(axes, axes)
    kept = [d for d in range(ndim) if d not in ax]
    param_shape = tuple(shape[d] for d in kept)
    full_shape = tuple(1 if d in ax else shape[d] for d in range(ndim))
    xv = rng.randn(*shape) * 3 + 1
    gv, bv, rm, rv = (rng.rand(*param_shape) + 0.5 for _ in range(4))
    x = T.tensor("float64", (False,) * ndim, name="x")
    g, b, m, v = (T.tensor("float64", (False,) * len(param_shape), name=n) for n in "gbmv")
    outs = T.nnet.bn.batch_normalization_train(x, g, b, axes, epsilon=1e-3,
                                               running_average_factor=0.2, running_mean=m,
                                               running_var=v)
    assert len(outs) == 5 and [o.ndim for o in outs] == [ndim] + [len(param_shape)] * 4
    expected = _numpy_bn_train(xv, gv.reshape(full_shape), bv.reshape(full_shape), ax, 1e-3,
                               0.2, rm.reshape(full_shape), rv.reshape(full_shape))
    expected = [expected[0]] + [e.reshape(param_shape) for e in expected[1:]]
    check([x, g, b, m, v], list(outs), [xv, gv, bv, rm, rv], expected=expected)
    # parameters given with the input's rank (length 1 on the normalized axes)
    bcast = tuple(d in ax for d in range(ndim))
    g4, b4 = T.TensorType("float64", bcast)("g4"), T.TensorType("float64", bcast)("b4")
    out, mean, invstd = T.nnet.bn.batch_normalization_train(x, g4, b4, axes)
    assert mean.broadcastable == bcast
    expected = _numpy_bn_train(xv, gv.reshape(full_shape), bv.reshape(full_shape), ax, 1e-4,
                               0.1, 0, 0)
    check([x, g4, b4], [out, mean, invstd],
          [xv, gv.reshape(full_shape), bv.reshape(full_shape)], expected=list(expected[:3]))


@pytest.mark.slow   # many compiles: 21 s on 2 busy cores
def test_batch_normalization_gradients_and_dtypes():
    rng = np.random.RandomState(7)
    xv, gv, bv = rng.randn(6, 3, 2), rng.rand(3) + 0.5, rng.randn(3)

    def train_out(x, g, b):
        return T.nnet.bn.batch_normalization_train(x, g, b, (0, 2))[0] * np.arange(36.0).reshape(6, 3, 2)

    cgraph.gradient.verify_grad(train_out, [xv, gv, bv], rng=rng)
    mv, vv = rng.randn(3), rng.rand(3) + 0.5

    def test_out(x, g, b, m, v):
        return T.nnet.bn.batch_normalization_test(x, g, b, m, v, (0, 2), epsilon=1e-3)

    cgraph.gradient.verify_grad(test_out, [xv, gv, bv, mv, vv], rng=rng)
    f32 = T.ftensor3("f")
    outs = T.nnet.bn.batch_normalization_train(f32, T.fvector(), T.fvector(), (0, 2),
                                               running_mean=T.fvector(), running_var=T.fvector())
    assert all(o.dtype == "float32" for o in outs)
    assert T.nnet.bn.batch_normalization_test(f32, T.fvector(), T.fvector(), T.fvector(),
                                              T.fvector(), (0, 2)).dtype == "float32"


def test_bn_imports_by_theanos_module_path():
    from cgraph.tensor.nnet.bn import batch_normalization_test, batch_normalization_train
    import cgraph.tensor.nnet.bn as bn
    assert T.nnet.bn is bn and bn.batch_normalization_train is batch_normalization_train
    assert bn.batch_normalization_test is batch_normalization_test
    assert T.nnet.batch_normalization is bn.batch_normalization


def test_batch_normalization_test_and_the_elementwise_form():
    rng = np.random.RandomState(8)
    x = T.dmatrix("x")
    g, b, m, v = T.dvectors("gbmv")
    xv = rng.randn(4, 3)
    gv, bv, mv, vv = rng.randn(3), rng.randn(3), rng.randn(3), rng.rand(3) + 0.5
    expected = (xv - mv) * gv / np.sqrt(vv + 1e-4) + bv
    check([x, g, b, m, v], T.nnet.bn.batch_normalization_test(x, g, b, m, v),
          [xv, gv, bv, mv, vv], expected=expected)
    std = T.sqrt(v)
    for mode in ("low_mem", "high_mem"):
        check([x, g, b, m, v], T.nnet.batch_normalization(x, g, b, m, std, mode=mode),
              [xv, gv, bv, mv, vv], expected=(xv - mv) * (gv / np.sqrt(vv)) + bv)
    with pytest.raises(ValueError, match='mode must be either "low_mem", "high_mem"'):
        T.nnet.batch_normalization(x, g, b, m, std, mode="fast")
    with pytest.raises(ValueError, match="epsilon must be at least 1e-5"):
        T.nnet.bn.batch_normalization_train(x, g, b, epsilon=1e-6)
    with pytest.raises(ValueError, match="both be given or both be None"):
        T.nnet.bn.batch_normalization_train(x, g, b, running_mean=m)
    with pytest.raises(ValueError, match="gamma and beta dimensionality"):
        T.nnet.bn.batch_normalization_train(x, T.dscalar(), b)
    with pytest.raises(ValueError, match="axes should be less than ndim"):
        T.nnet.bn.batch_normalization_train(x, g, b, axes=(2,))
    with pytest.raises(ValueError, match="invalid axes"):
        T.nnet.bn.batch_normalization_test(x, g, b, m, v, axes="channels")
    # a zero-length batch: the mean of nothing is nan, as numpy's
    empty = cgraph.function([x], T.nnet.bn.batch_normalization_train(x, g, b)[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(empty(np.zeros((0, 3)))).all()


# --- Mode and f.maker.fgraph (theano.compile.mode, FunctionGraph) -----------------------------

def test_modes_map_onto_cgraph_modes():
    from cgraph.compile.mode import FAST_COMPILE, FAST_RUN, Mode, get_default_mode, get_mode
    x = T.dvector("x")
    value = np.array([1.0, -2.0])
    for mode, expected in [(Mode(linker="cvm", optimizer="fast_run"), "c"),
                           (Mode(linker="py", optimizer="fast_compile"), "py"),
                           (Mode(linker="c|py", optimizer=None), "c"), (Mode(), "c"),
                           ("FAST_RUN", "c"), ("FAST_COMPILE", "py"), ("Mode", "c"),
                           ("fast_run", "c"), ("c", "c"), ("py", "py"), (FAST_RUN, "c"),
                           (get_default_mode().excluding("inplace").including("fast_run"), "c")]:
        f = cgraph.function([x], T.exp(x) * 2, mode=mode)
        assert f.mode == expected, mode
        np.testing.assert_allclose(f(value), np.exp(value) * 2)
        assert f.maker.mode == get_mode(mode)
    assert get_mode("FAST_COMPILE") is FAST_COMPILE and FAST_COMPILE.linker == "py"
    assert cgraph.Mode is Mode and repr(FAST_RUN) == "Mode(linker=cvm, optimizer=fast_run)"
    assert get_default_mode().excluding("inplace").excluded == ("inplace",)
    with pytest.raises(ValueError, match="no predefined mode exists"):
        cgraph.function([x], x, mode="FAST")
    with pytest.raises(ValueError, match="unknown linker"):
        Mode(linker="cuda")
    with pytest.raises(ValueError, match="unknown optimizer"):
        Mode(optimizer="fastest")


def test_maker_fgraph_exposes_the_rewritten_graph():
    # Theano: f.maker.fgraph.inputs are the inputs then the shared variables, outputs the
    # outputs then the updates' new values; toposort() orders the Apply nodes
    x = T.dvector("x")
    W = cgraph.shared(np.ones(3), name="W")
    out = T.tanh(x * W).sum()
    f = cgraph.function([x], out, updates=[(W, W - 0.1 * x)])
    fgraph = f.maker.fgraph
    assert fgraph.inputs == [x, W] and len(fgraph.outputs) == 2
    order = fgraph.toposort()
    assert set(order) == fgraph.apply_nodes and len(order) == len(fgraph.apply_nodes)
    seen = set(fgraph.inputs)
    for node in order:       # each node after the nodes computing its inputs
        assert all(i in seen or i.owner is None for i in node.inputs)
        seen.update(node.outputs)
    assert set(fgraph.inputs) | set(fgraph.outputs) <= fgraph.variables
    assert all(o in fgraph.variables for node in order for o in node.outputs)
    assert [i.variable for i in f.maker.inputs] == [x]
    assert len(f.maker.outputs) == 1
    assert f.maker.mode.linker == "cvm" and f.maker.linker == "cvm"
    assert any(node.op is not None for node, _ in fgraph.clients(x))
    # rewrites show: x * 1 is gone from the compiled graph
    g = cgraph.function([x], x * 1 + 0)
    assert g.maker.fgraph.toposort() == [] and g.maker.fgraph.outputs == [x]


# --- T.xlogx ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_xlogx_and_xlogy0_are_zero_where_x_is_zero(dtype):
    # Theano's XlogX: 0 if x == 0 else x * log(x); XlogY0: 0 if x == 0 else x * log(y)
    x, y = T.vector("x", dtype=dtype), T.matrix("y", dtype=dtype)
    xv = np.array([0.0, 1.0, 2.5, 0.25, -1.0, np.inf], dtype=dtype)
    yv = np.array([[0.0, 3.0, 0.5, np.inf, 2.0, 1.0], [1.0, 0.0, -2.0, 4.0, np.nan, 0.0]],
                  dtype=dtype)
    with np.errstate(all="ignore"):
        e_xlogx = np.where(xv == 0, 0, xv * np.log(xv)).astype(dtype)
        e_xlogy0 = np.where(xv == 0, 0, xv * np.log(yv)).astype(dtype)
    got = check([x, y], [T.xlogx.xlogx(x), T.xlogx.xlogy0(x, y), T.xlogx.xlogy0(y, x)],
                [xv, yv])
    np.testing.assert_allclose(got[0], e_xlogx, rtol=1e-6)
    np.testing.assert_allclose(got[1], e_xlogy0, rtol=1e-6)
    assert got[0][0] == 0 and (got[1][:, 0] == 0).all() and got[0].dtype == dtype
    empty = check([x], T.xlogx.xlogx(x), [np.zeros(0, dtype)])
    assert empty[0].shape == (0,)


@pytest.mark.slow   # many compiles: 12 s on 2 busy cores
def test_xlogx_of_integers_and_gradients():
    i = T.ivector("i")
    iv = np.array([0, 1, 3], dtype="int32")
    check([i], T.xlogx.xlogx(i), [iv], expected=np.array([0, 0, 3 * np.log(3)]))
    rng = np.random.RandomState(9)
    cgraph.gradient.verify_grad(T.xlogx.xlogx, [rng.rand(3, 2) + 0.1], rng=rng)
    cgraph.gradient.verify_grad(T.xlogx.xlogy0, [rng.rand(3, 2) + 0.1, rng.rand(2) + 0.1],
                                rng=rng)
    x = T.dvector("x")
    g = T.grad(T.xlogx.xlogx(x).sum(), x)
    check([x], g, [np.array([1.0, np.e])], expected=np.array([1.0, 2.0]))


# --- float16 ----------------------------------------------------------------------------------

def test_float16_is_stored_and_computed_by_the_reference_only():
    # Theano stores float16 shared variables and keeps float16 through graphs (Lasagne's
    # dropout test checks the output dtype); cgraph does the same when building graphs and
    # in mode="py", and its C backend refuses float16 with a message saying what to do
    from cgraph.tensor.shared_randomstreams import RandomStreams
    value = np.linspace(-1, 1, 12).astype("float16").reshape(3, 4)
    W = cgraph.shared(value, name="W")
    assert W.dtype == "float16" and W.get_value().dtype == np.float16
    retain = T.constant(1, dtype="int8") - np.float16(0.5)
    assert retain.dtype == "float16"
    mask = RandomStreams(3).binomial((3, 4), p=retain, dtype="float16")
    dropped = W / retain * mask
    assert dropped.dtype == "float16" and T.exp(W).dtype == "float16"
    x = T.vector("x", dtype="float16")
    assert (x * np.float32(2)).dtype == "float32" and T.grad(T.exp(x).sum(), x).dtype == "float16"
    f = cgraph.function([x], [T.exp(x) * 2, x.sum()], mode="py")
    xv = np.array([0.5, -1.0, 2.0], dtype="float16")
    out = f(xv)
    assert out[0].dtype == np.float16 and out[1].dtype == np.float16
    np.testing.assert_allclose(out[0], np.exp(xv) * 2, rtol=1e-3)
    result = cgraph.function([], dropped, mode="py")()
    assert result.dtype == np.float16 and set(np.unique(result / (value * 2))) <= {0, 1}
    with pytest.raises(TypeError, match="cannot store a value of dtype float64"):
        W.set_value(np.ones((3, 4)))      # the same conversion rules as other dtypes
    with pytest.raises(TypeError, match=r"W \(created at .*\) has dtype float16, which cgraph "
                                        r"stores and computes in the numpy reference"):
        cgraph.function([], T.cast(W, "float32").sum())
    with pytest.raises(TypeError, match="has dtype float16"):
        cgraph.function([x], x * 2)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("m, k, n", [(2, 3, 4), (8, 24, 32), (40, 50, 70), (1, 70, 90),
                                     (70, 80, 1)])
def test_batched_dot_of_strided_operands_at_every_size(dtype, m, k, n):
    # the C op takes three paths by size (a loop, the inline kernel, BLAS) and copies an
    # operand BLAS cannot read in place; numpy.matmul is the reference
    rng = np.random.RandomState(10)
    a, b = T.tensor3("a", dtype=dtype), T.tensor3("b", dtype=dtype)
    av, bv = rng.randn(3, m, k).astype(dtype), rng.randn(3, k, n).astype(dtype)
    rtol = 1e-4 if dtype == "float32" else None
    f = cgraph.function([a, b], T.batched_dot(a, b))
    wide = np.zeros((3, m, 2 * k), dtype)
    wide[:, :, ::2] = av
    variants = [(av, bv), (np.ascontiguousarray(av.transpose(0, 2, 1)).transpose(0, 2, 1), bv),
                (wide[:, :, ::2], np.ascontiguousarray(bv[::-1])[::-1]),
                (av, np.ascontiguousarray(bv.transpose(0, 2, 1)).transpose(0, 2, 1))]
    for x, y in variants:
        np.testing.assert_allclose(f(x, y), np.matmul(x, y), rtol=rtol or 1e-10,
                                   atol=rtol or 1e-10)
    check([a, b], T.batched_dot(a, b), [av, bv], rtol=rtol)


def test_batched_dot_of_integers_and_mixed_dtypes():
    rng = np.random.RandomState(11)
    i, j = T.itensor3("i"), T.btensor3("j")
    iv, jv = rng.randint(-9, 9, (2, 3, 4)).astype("int32"), rng.randint(-9, 9, (2, 4, 5)).astype("int8")
    check([i, j], T.batched_dot(i, j), [iv, jv], expected=np.matmul(iv, jv.astype("int32")))
    f, d = T.ftensor3("f"), T.dtensor3("d")
    out = T.batched_dot(f, d)
    assert out.dtype == "float64"
    fv, dv = rng.randn(2, 3, 4).astype("float32"), rng.randn(2, 4, 5)
    check([f, d], out, [fv, dv], expected=np.matmul(fv.astype("float64"), dv))


def test_tensordot_property_against_numpy():
    # any ranks, lengths (0 and 1 included) and summed axes, in the numpy reference mode
    # (the C build of the same lowering is compared with it in the tests above)
    from hypothesis import given, settings, strategies as st

    @st.composite
    def operands(draw):
        n_sum = draw(st.integers(0, 2))
        summed = draw(st.lists(st.integers(0, 3), min_size=n_sum, max_size=n_sum))
        a_free = draw(st.lists(st.integers(0, 3), max_size=2))
        b_free = draw(st.lists(st.integers(0, 3), max_size=2))
        a_order = draw(st.permutations(range(len(a_free) + n_sum)))
        b_order = draw(st.permutations(range(len(b_free) + n_sum)))
        a_shape = [(a_free + summed)[i] for i in a_order]
        b_shape = [(summed + b_free)[i] for i in b_order]
        a_axes = [a_order.index(len(a_free) + j) for j in range(n_sum)]
        b_axes = [b_order.index(j) for j in range(n_sum)]
        return a_shape, b_shape, [a_axes, b_axes]

    @settings(max_examples=60, deadline=None)
    @given(operands())
    def run(case):
        a_shape, b_shape, axes = case
        rng = np.random.RandomState(len(a_shape) * 7 + len(b_shape))
        av, bv = rng.randn(*a_shape), rng.randn(*b_shape)
        a = T.tensor("float64", (False,) * len(a_shape), name="a")
        b = T.tensor("float64", (False,) * len(b_shape), name="b")
        got = cgraph.function([a, b], T.tensordot(a, b, axes), mode="py")(av, bv)
        np.testing.assert_allclose(got, np.tensordot(av, bv, axes), rtol=1e-12, atol=1e-12)

    run()
