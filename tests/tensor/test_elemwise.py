"""Elementwise ops against the numpy reference: values, dtypes, broadcasting, edge shapes."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from util import check, check_error, strided_variants

rng = np.random.default_rng(0)

UNARY_FLOAT = ["exp", "expm1", "log", "log1p", "sqrt", "tanh", "sin", "cos", "abs", "sign",
               "floor", "ceil", "sqr", "neg", "sigmoid", "softplus", "round", "log2", "log10",
               "exp2", "erf"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_unary_float_ops_in_one_module(dtype):
    x = T.vector("x", dtype=dtype)
    outs = [getattr(T, name)(x) for name in UNARY_FLOAT]
    values = np.array([-2.5, -1.0, -0.5, 0.0, 0.5, 1.5, 2.5, 3.0, 40.0, -40.0, np.nan, np.inf],
                      dtype=dtype)
    with np.errstate(all="ignore"):
        expected = [np.exp(values), np.expm1(values), np.log(values), np.log1p(values),
                    np.sqrt(values), np.tanh(values), np.sin(values), np.cos(values),
                    np.abs(values), np.sign(values), np.floor(values), np.ceil(values),
                    np.square(values), -values, 1 / (1 + np.exp(-values.astype("float64"))),
                    np.logaddexp(0, values), np.round(values), np.log2(values),
                    np.log10(values), np.exp2(values), None]
    got = check([x], outs, [values], rtol=1e-5 if dtype == "float32" else 1e-12)
    for name, g, e in zip(UNARY_FLOAT, got, expected):
        if e is not None:
            np.testing.assert_allclose(g, np.asarray(e, dtype=dtype), rtol=2e-5,
                                       equal_nan=True, err_msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("op", ["add", "sub", "mul", "true_div", "floor_div", "mod", "pow",
                                "maximum", "minimum", "lt", "gt", "le", "ge", "eq", "neq"])
def test_binary_ops_over_dtypes(op):
    dtypes = ["float64", "float32", "int64", "int32", "int8", "uint8"]
    inputs, outs, values = [], [], []
    for i, da in enumerate(dtypes):
        for db in dtypes[i:]:
            a = T.vector(f"a_{da}", dtype=da)
            b = T.vector(f"b_{db}", dtype=db)
            inputs += [a, b]
            outs.append(getattr(T, op)(a, b))
            va = rng.integers(-5, 6, size=7).astype(da)
            vb = rng.integers(1, 4, size=7).astype(db)  # nonzero: int division is defined
            values += [va, vb]
    check(inputs, outs, values)


def test_numpy_type_promotion():
    assert (T.fvector() * 2).dtype == "float32"
    assert (T.ivector() + T.fvector()).dtype == "float64"
    assert (T.bvector() + T.bvector()).dtype == "int8"
    assert T.exp(T.bvector()).dtype == "float32"
    assert T.exp(T.ivector()).dtype == "float64"
    assert (T.ivector() / T.ivector()).dtype == "float64"
    assert T.lt(T.dvector(), 1).dtype == "bool"
    assert (T.ivector() // 2).dtype == "int32"


@pytest.mark.parametrize("shapes", [((3, 1), (1, 4)), ((0, 4), (1, 4)), ((1,), (5, 1, 1)),
                                    ((), (2, 3)), ((2, 1, 3), (4, 1)), ((1, 1), (1, 1))])
def test_broadcasting(shapes):
    sa, sb = shapes
    a = T.tensor("float64", (False,) * len(sa), name="a")
    b = T.tensor("float64", (False,) * len(sb), name="b")
    va, vb = rng.normal(size=sa), rng.normal(size=sb)
    check([a, b], [a * b + T.exp(a) - b], [va, vb], expected=[va * vb + np.exp(va) - vb])


def test_noncontiguous_and_negative_stride_inputs():
    x = T.dmatrix("x")
    y = T.dvector("y")
    base = rng.normal(size=(3, 4))
    for vx in strided_variants(base):
        for vy in strided_variants(rng.normal(size=4)):
            check([x, y], [x * y + 1, T.exp(x.T)], [vx, vy],
                  expected=[base * vy + 1, np.exp(base.T)])


def test_broadcast_mismatch_names_the_operands():
    x, y = T.dvector("x"), T.dvector("y")
    check_error([x, y], x + y, [np.ones(3), np.ones(4)], ValueError, match="x.*y")


def test_integer_division_by_zero_raises():
    i, j = T.lvector("i"), T.lvector("j")
    check_error([i, j], i // j, [np.array([1, 2]), np.array([1, 0])], ZeroDivisionError)
    check_error([i, j], i % j, [np.array([1, 2]), np.array([1, 0])], ZeroDivisionError)


def test_switch_cast_clip():
    x = T.dvector("x")
    c = T.bvector("c")
    v = np.array([-3.0, -0.5, 0.0, 0.7, 5.0])
    cv = np.array([1, 0, 1, 0, 1], dtype="int8")
    check([x, c], [T.switch(T.gt(x, 0), x, 0 * x), T.switch(c, x, -x), T.cast(x, "int32"),
                   T.clip(x, -1, 1), T.cast(x, "bool"), x.astype("float32")], [v, cv],
          expected=[np.where(v > 0, v, 0), np.where(cv, v, -v), v.astype("int32"),
                    np.clip(v, -1, 1), v.astype(bool), v.astype("float32")])


def test_bool_and_bitwise_ops():
    a, b = T.tensor("bool", (False,), name="a"), T.tensor("bool", (False,), name="b")
    i = T.ivector("i")
    va, vb = np.array([True, False, True]), np.array([True, True, False])
    vi = np.array([5, -3, 12], dtype="int32")
    check([a, b, i], [a & b, a | b, a ^ b, ~a, i & 6, ~i, i | 1], [va, vb, vi])


def test_invalid_dtype_combination_is_a_type_error():
    a = T.tensor("bool", (False,), name="a")
    with pytest.raises(TypeError, match="sub"):
        a - a
    with pytest.raises(TypeError):
        T.and_(T.dvector(), T.dvector())


def test_zero_length_and_scalar_inputs():
    x = T.dvector("x")
    s = T.dscalar("s")
    check([x, s], [x * s, T.exp(s)], [np.zeros(0), 2.0], expected=[np.zeros(0), np.exp(2.0)])


def test_large_constant_is_passed_not_embedded():
    x = T.dvector("x")
    big = np.arange(1000.0)
    f = cgraph.function([x], x + big)
    assert "999.0" not in f.c_source
    np.testing.assert_array_equal(f(np.ones(1000)), big + 1)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int32", "int16", "int8",
                                   "uint8", "bool"])
def test_sum_to_shape_sums_broadcast_axes_in_every_dtype(dtype):
    """SumToShape and SumToBroadcastShape are one runtime call (cg_sum_to_shape): the sums,
    the view when nothing is summed, strided gradients and the error naming the variable."""
    from cgraph.rewrite.shape_only import SumToBroadcastShape
    from cgraph.tensor.elemwise import SumToShape
    g = T.tensor(dtype, (False,) * 3, name="g")
    x = T.tensor(dtype, (False,) * 3, name="x")
    src = T.tensor(dtype, (False, False), name="src")
    outs = [SumToShape()(g, x), SumToShape()(g.dimshuffle(2, 1, 0), x.dimshuffle(2, 1, 0)),
            SumToBroadcastShape(((), ((0, 0),), ((0, 1),)), (True, False, False), "W")(g, src)]
    rng = np.random.default_rng(3)

    def value(shape):
        v = rng.integers(0, 3, size=shape) if dtype != "bool" else rng.random(shape) < 0.5
        return np.asarray(v, dtype=dtype)
    for xs in [(1, 4, 1), (3, 1, 5), (3, 4, 5), (1, 1, 1), (1, 4, 5)]:
        gv, xv, sv = value((3, 4, 5)), value(xs), value(xs[1:])
        check([g, x, src], outs, [gv, xv, sv])
    check([g, x, src], outs, [value((0, 4, 5)), value((1, 4, 1)), value((4, 1))])
    check_error([g, x, src], outs[0], [value((3, 4, 5)), value((2, 4, 5)), value((4, 5))],
                ValueError, on_unused_input="ignore", match="SumToShape: the gradient of x has length 3 on axis 0 but")
    check_error([g, x, src], outs[2], [value((3, 4, 5)), value((1, 4, 5)), value((4, 2))],
                ValueError, on_unused_input="ignore", match="SumToBroadcastShape: the gradient of W has length 5 "
                                  "on axis 2 but")


def test_elemwise_node_errors_come_from_the_runtime_and_name_the_node():
    """An Elemwise block is one runtime call (cg_elemwise_node): its messages name the op
    and the operands, and the module's fail_node names the node."""
    a, b = T.lvector("a"), T.lvector("b")
    f = cgraph.function([a, b], [a // b, a ** b])
    assert f.c_source.split("int cg_run(")[1].count("cg_elemwise_node(") == 2
    with pytest.raises(ZeroDivisionError, match=r"(?s)^Elemwise\{floor_div\}: integer division "
                       r"or modulo by zero\nApply node that caused the error: Elemwise\{floor"):
        f(np.array([1, 2]), np.array([1, 0]))
    with pytest.raises(ValueError, match=r"(?s)^Elemwise\{pow\}: integers to negative integer "
                       r"powers are not allowed\nApply node that caused the error: Elemwise\{pow"):
        f(np.array([2, 2]), np.array([1, -1]))
    x, y = T.dmatrix("x"), T.dvector("y")
    g = cgraph.function([x, y], x + y)
    with pytest.raises(ValueError, match=r"(?s)^Elemwise\{add\}: shapes cannot be broadcast "
                       r"together: x has shape \(2, 3\), y has shape \(1, 4\)\nApply node"):
        g(np.ones((2, 3)), np.ones(4))


def test_a_0d_elemwise_node_fails_with_the_runtime_message_of_larger_arrays():
    """A 0-d Elemwise block computes in the module (no loop to run) but its integer errors'
    messages are the runtime's (cg_loop_failure), the same as for arrays, and the
    reference's type; the op's label prints as written."""
    a, b = T.lscalar("a"), T.lscalar("b")
    quotient, power = a // b, a ** b
    power.name = "p%d"
    f = cgraph.function([a, b], [quotient, power])
    assert "cg_elemwise_node(" not in f.c_source.split("int cg_run(")[1]
    assert "cg_loop_failure(" in f.c_source.split("int cg_run(")[1]
    check([a, b], [quotient, power], [np.int64(7), np.int64(2)])
    check_error([a, b], [quotient, power], [np.int64(1), np.int64(0)], ZeroDivisionError,
                match="integer division or modulo by zero")
    with pytest.raises(ZeroDivisionError, match=r"(?s)^Elemwise\{floor_div\}: integer division "
                       r"or modulo by zero\nApply node that caused the error: Elemwise\{floor"):
        f(np.int64(1), np.int64(0))
    with pytest.raises(ValueError, match=r"(?s)^Elemwise\{pow\} computing p%d: integers to "
                       r"negative integer powers are not allowed\nApply node"):
        f(np.int64(2), np.int64(-1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_column_inputs_against_rows_match_numpy(dtype):
    """An input of shape (..., 1) against rows (softmax's gradient g - exp(lsm) * rowsum)
    runs through the flat vector loop on rows it is spread over, in blocks of whole rows:
    short and long rows, block edges, 3-d, two columns, a column beside a strided input
    (the row-by-row path), and integer columns, all as numpy; integer division by zero in
    a column still raises."""
    col = T.TensorType(dtype, (False, True))("col")
    col2 = T.TensorType(dtype, (False, True))("col2")
    a, g = T.matrix("a", dtype=dtype), T.matrix("g", dtype=dtype)
    outs = [g - T.exp(a) * col, T.log1p(T.exp(a - col)) * col2, T.exp(col) + a.T.T]
    rng = np.random.default_rng(5)
    for rows, n in [(600, 10), (103, 7), (1, 5), (3, 1), (0, 4), (4, 0), (2, 1024), (2, 1500),
                    (1030, 2)]:
        A, G = (rng.standard_normal((rows, n)).astype(dtype) for _ in range(2))
        C, C2 = (rng.standard_normal((rows, 1)).astype(dtype) for _ in range(2))
        with np.errstate(all="ignore"):
            expected = [G - np.exp(A) * C, np.log1p(np.exp(A - C)) * C2, np.exp(C) + A]
        check([a, g, col, col2], outs, [A, G, C, C2], rtol=1e-5 if dtype == "float32" else 1e-12,
              expected=expected, on_unused_input="ignore")
    # a column beside a transposed (strided) matrix, and a 3-d column
    A = rng.standard_normal((10, 600)).astype(dtype)
    C = rng.standard_normal((600, 1)).astype(dtype)
    check([a, col], T.exp(a.T) * col, [A, C], rtol=1e-5 if dtype == "float32" else 1e-12,
          expected=np.exp(A.T) * C)
    t = T.tensor3("t", dtype=dtype)
    c3 = T.TensorType(dtype, (False, False, True))("c3")
    X = rng.standard_normal((3, 50, 9)).astype(dtype)
    C3 = rng.standard_normal((3, 50, 1)).astype(dtype)
    check([t, c3], T.tanh(t - c3), [X, C3], rtol=1e-5 if dtype == "float32" else 1e-12,
          expected=np.tanh(X - C3))


def test_integer_column_inputs():
    i = T.lmatrix("i")
    c8 = T.TensorType("int8", (False, True))("c8")
    c64 = T.TensorType("int64", (False, True))("c64")
    I = np.arange(-60, 60).reshape(40, 3)
    C8 = np.arange(1, 41, dtype="int8").reshape(40, 1)
    check([i, c8], i * c8 + i // c8, [I, C8], expected=I * C8 + I // C8)
    check_error([i, c64], i // c64, [I, np.arange(40).reshape(40, 1)], ZeroDivisionError)


@pytest.mark.parametrize("shape", [(1003,), (7, 13)])
def test_a_loop_writing_in_place_gives_the_bits_of_a_fresh_output(shape):
    """A shared variable updated in place (the kernel without restrict, its output one of its
    inputs, at every 8-byte misalignment) holds exactly what the same expression computes
    into a fresh 64-byte-aligned buffer: the vector code's split into vector and scalar
    elements, which gives libmvec's or libm's last bit, must not depend on the buffer."""
    rng = np.random.default_rng(3)
    value = rng.uniform(-3, 3, shape)
    bias = rng.uniform(-1, 1, shape[-1:])    # (7, 13): broadcast, so the loop runs by rows
    b = T.dvector("b")

    def step(a):
        return T.exp(a) * T.sigmoid(a + b) + T.softplus(a) - T.tanh(a)

    x = T.TensorType("float64", (False,) * len(shape))("x")
    expected = cgraph.function([x, b], step(x), name="fresh_step")(value, bias)
    for offset in range(8):
        buffer = np.empty(value.size + 8)
        view = buffer[offset:offset + value.size].reshape(shape)
        view[...] = value
        w = cgraph.shared(view, name="w", borrow=True)
        cgraph.function([b], [], updates=[(w, step(w))], name="inplace_step")(bias)
        got = w.get_value(borrow=True)
        assert np.shares_memory(got, buffer), "the update was not written in place"
        np.testing.assert_array_equal(got, expected, err_msg=f"misaligned by {offset * 8} bytes")
