"""Reductions against numpy: every reduction, axis spec and keepdims, dtypes and their rules,
empty and length-1 axes, strided and reversed views, NaN and ties, errors.

Each test compiles few modules with many outputs; a compiled function is called with several
values where it can (cgraph passes function inputs contiguous, so strided inputs are made
inside the graph with a small view op defined here).
"""
import warnings

import jinja2
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.codegen import render
from cgraph.graph.basic import Apply, Op
from cgraph.tensor.reduction import ArgReduce, Reduce
from cgraph.tensor.type import TensorType
from cgraph.tensor.var import TensorVariable, as_tensor_variable
from util import assert_clean_build, assert_same

rng = np.random.default_rng(42)

DTYPES = ["float64", "float32", "int32", "int8", "bool", "uint8"]
NAMES = ["sum", "prod", "mean", "max", "min", "all", "any", "argmax", "argmin", "var", "std"]


# --- helpers -----------------------------------------------------------------------------

def compile_both(inputs, outputs):
    """The function in C (checked to build without warnings) and in the numpy reference."""
    f_c = cgraph.function(inputs, outputs, mode="c")
    assert_clean_build(f_c)
    return f_c, cgraph.function(inputs, outputs, mode="py")


def compare(fs, values, expected=None, labels=None, rtol=None):
    """C equals the reference; the reference equals ``expected`` (numpy computed directly)."""
    f_c, f_py = fs
    got, ref = f_c(*values), f_py(*values)
    for k, (g, r) in enumerate(zip(got, ref)):
        what = labels[k] if labels else f"output {k}"
        assert_same(g, r, rtol=rtol, what=f"C vs reference: {what}")
        if expected is not None:
            assert_same(r, np.asarray(expected[k]), rtol=rtol,
                        what=f"reference vs numpy: {what}")
    return got


def sample(dtype, shape, gen=None):
    """Values with zeros (so all/any differ), repeats (ties) and both signs where possible
    (from ``gen``, else the module's generator: values then depend on the tests run before)."""
    rng = gen or globals()["rng"]
    if dtype == "bool":
        return rng.random(shape) < 0.6
    if dtype == "uint8":
        return rng.integers(0, 5, shape).astype(dtype)
    if dtype.startswith("int"):
        return rng.integers(-3, 4, shape).astype(dtype)
    v = rng.normal(size=shape)
    v[np.abs(v) < 0.3] = 0
    return v.astype(dtype)


def expected_dtype(name, dtype):
    """Theano's output dtype rules (uint8 sums give int64: cgraph has no uint64)."""
    if name in ("sum", "prod"):
        return dtype if dtype.startswith("float") else "int64"
    if name in ("mean", "var", "std"):
        return dtype if dtype.startswith("float") else "float64"
    if name in ("all", "any"):
        return "bool"
    if name in ("argmax", "argmin"):
        return "int64"
    return dtype


def _axes(ndim, axis):
    if axis is None:
        return list(range(ndim))
    return sorted(a % ndim for a in (axis if isinstance(axis, tuple) else (axis,)))


def numpy_arg(fn, v, axis, keepdims):
    """numpy's argmax/argmin, extended to several axes as cgraph defines it (flattened in C
    order, the reduced axes moved last)."""
    if axis is None or isinstance(axis, int):
        return fn(v, axis=axis, keepdims=keepdims)
    axes = _axes(v.ndim, axis)
    kept = [d for d in range(v.ndim) if d not in axes]
    count = int(np.prod([v.shape[a] for a in axes]))
    flat = np.transpose(v, kept + axes).reshape([v.shape[d] for d in kept] + [count])
    r = fn(flat, axis=-1)
    if keepdims:
        r = r.reshape([1 if d in axes else v.shape[d] for d in range(v.ndim)])
    return r


def numpy_reduce(name, v, axis, keepdims):
    """The value numpy gives, in cgraph's output dtype."""
    out = expected_dtype(name, v.dtype.name)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # "Mean of empty slice" and such
        if name in ("argmax", "argmin"):
            r = numpy_arg(getattr(np, name), v, axis, keepdims)
        elif name in ("sum", "prod"):
            acc = None if v.dtype.kind == "f" else "int64"
            r = getattr(np, name)(v, axis=axis, keepdims=keepdims, dtype=acc)
        else:
            r = getattr(np, name)(v, axis=axis, keepdims=keepdims)
    return np.asarray(r).astype(out)


class StridedView(Op):
    """Test helper: the view ``x[::steps[0], ::steps[1], ...]``; steps may be negative, so
    the reductions see non-contiguous and negative-stride inputs."""

    __props__ = ("steps",)
    c_template = "test_ops/strided_view.c.j2"

    def __init__(self, *steps):
        self.steps = tuple(steps)

    def make_node(self, x):
        x = as_tensor_variable(x)
        assert x.ndim == len(self.steps)
        return Apply(self, [x], [TensorVariable(TensorType(x.dtype, (False,) * x.ndim))])

    def perform(self, node, inputs):
        return [inputs[0][tuple(slice(None, None, s) for s in self.steps)]]

    def c_params(self, node):
        return {"op_steps": self.steps}


STRIDED_VIEW_TEMPLATE = """\
{%- set x = ins[0] -%}
{%- set out = outs[0] -%}
{
    {{ x.ctype }} *cg_base = ({{ x.ctype }} *){{ x.name }}.data;
{% for s in op_steps %}
{% set d = loop.index0 %}
    {{ out.name }}.shape[{{ d }}] = ({{ x.name }}.shape[{{ d }}] + {{ s|abs - 1 }}) / {{ s|abs }};
    {{ out.name }}.strides[{{ d }}] = {{ x.name }}.strides[{{ d }}] * {{ s }};
{% if s < 0 %}
    if ({{ x.name }}.shape[{{ d }}] > 0)
        cg_base += ({{ x.name }}.shape[{{ d }}] - 1) * {{ x.name }}.strides[{{ d }}];
{% endif %}
{% endfor %}
    {{ out.name }}.data = cg_base;
}
"""


@pytest.fixture(scope="module", autouse=True)
def strided_view_template():
    """Make the test view op's template known to the renderer for this module's tests."""
    env = render.environment()
    saved = env.loader
    env.loader = jinja2.ChoiceLoader(
        [saved, jinja2.DictLoader({"test_ops/strided_view.c.j2": STRIDED_VIEW_TEMPLATE})])
    yield
    env.loader = saved


# --- every reduction x axis spec x keepdims x dtype --------------------------------------

AXIS_SPECS = {3: [None, 0, -1, (0, 2), (0, 1, 2), ()], 2: [None, 0, -1, (0, 1)],
              1: [None, 0, -1], 0: [None, ()]}
SHAPES = {3: (2, 3, 4), 2: (3, 4), 1: (5,), 0: ()}


def check_reductions(dtype, cases):
    """Compile ``name(x_ndim, axis=axis, keepdims=keepdims)`` for each case in one module;
    check the symbolic dtype and rank, and the values in both modes against numpy."""
    ranks = sorted({nd for nd, _, _, _ in cases}, reverse=True)
    inputs = {nd: T.tensor(dtype, (False,) * nd, name=f"x{nd}") for nd in ranks}
    values = {nd: sample(dtype, SHAPES[nd]) for nd in ranks}
    outs, expected, labels = [], [], []
    for nd, axis, keepdims, name in cases:
        out = getattr(T, name)(inputs[nd], axis=axis, keepdims=keepdims)
        assert out.dtype == expected_dtype(name, dtype), (name, dtype)
        assert out.ndim == (nd if keepdims else nd - len(_axes(nd, axis))), (name, axis)
        outs.append(out)
        expected.append(numpy_reduce(name, values[nd], axis, keepdims))
        labels.append(f"{name}(x{nd}, axis={axis}, keepdims={keepdims})")
    compare(compile_both([inputs[nd] for nd in ranks], outs), [values[nd] for nd in ranks],
            expected, labels)


# The whole product (reduction x axis spec x keepdims x rank) in float64, split into modules
# of a few dozen outputs (gcc's time grows faster than the function's length).
@pytest.mark.slow
@pytest.mark.parametrize("ndim,keepdims_set", [(3, (False,)), (3, (True,)), (2, (False,)),
                                               (2, (True,)), (1, (False, True)),
                                               (0, (False, True))])
def test_every_reduction_axis_spec_and_keepdims(ndim, keepdims_set):
    check_reductions("float64", [
        (ndim, axis, keepdims, name)
        for axis in AXIS_SPECS[ndim] for keepdims in keepdims_set for name in NAMES
        if not (name in ("argmax", "argmin") and axis == ())])


# Every reduction in each other dtype, over the loop shapes that differ: all axes
# (contiguous run), the last axis with keepdims, scattered axes (strided loops), the first
# axis of a matrix (row accumulators) and a 0-d input.
@pytest.mark.parametrize("dtype", [d for d in DTYPES if d != "float64"])
@pytest.mark.slow   # many compiles: 5 s on 2 busy cores
def test_every_reduction_over_dtypes(dtype):
    check_reductions(dtype, [
        case + (name,) for name in NAMES
        for case in [(3, None, False), (3, -1, True), (3, (0, 2), False), (2, 0, False),
                     (0, None, False)]])


# --- dtype rules -------------------------------------------------------------------------

def test_output_dtypes_follow_theano():
    for dtype in DTYPES + ["int16", "int64"]:
        x = T.tensor(dtype, (False, False), name="x")
        for name in NAMES:
            assert getattr(T, name)(x).dtype == expected_dtype(name, dtype), (name, dtype)
            assert getattr(T, name)(x, axis=0).dtype == expected_dtype(name, dtype)
        a, b = T.max_and_argmax(x, axis=1)
        assert (a.dtype, b.dtype) == (dtype, "int64")
    x8, xf, xd = T.bvector("x8"), T.fvector("xf"), T.dvector("xd")
    assert T.sum(x8, dtype="int8").dtype == "int8"
    assert T.sum(xd, dtype="float32").dtype == "float32"
    assert T.prod(x8, dtype="float64").dtype == "float64"
    assert T.mean(x8, dtype="float32").dtype == "float32"
    assert T.mean(xd, dtype="float32").dtype == "float32"
    assert T.mean(x8, dtype="int32").dtype == "float64"   # a mean is a float (Theano)
    assert T.sum(xf, acc_dtype="float32").dtype == "float32"
    assert T.mean(x8).dtype == "float64" and T.mean(xf).dtype == "float32"
    assert T.sum(T.tensor("bool", (False,))).dtype == "int64"
    # keepdims keeps the reduced axes as broadcastable length-1 axes
    m = T.dmatrix("m")
    assert T.sum(m, axis=0, keepdims=True).broadcastable == (True, False)
    assert T.argmax(m, keepdims=True).broadcastable == (True, True)
    assert T.max(T.row("r"), axis=1).broadcastable == (True,)


def test_dtype_and_acc_dtype_values():
    """dtype= casts the result, accumulation wraps like numpy's, float32 sums accumulate in
    float64, acc_dtype= is honoured."""
    x8, x32, x64 = T.bvector("x8"), T.ivector("x32"), T.lvector("x64")
    xf = T.fvector("xf")
    v8 = np.array([100, 100, 100, -7], dtype="int8")
    v32 = np.array([2**30 + 1, 2**30 - 3, 12345, -7], dtype="int32")
    v64 = np.array([2**62, 2**62, 2**62, 5], dtype="int64")
    vf = (rng.random(100000) + 1).astype("float32")
    outs = [T.sum(x8), T.sum(x8, dtype="int8"), T.sum(x8, dtype="float32"),
            T.prod(x32), T.prod(x32, dtype="int32"), T.sum(x64), T.prod(x64),
            T.sum(x32, acc_dtype="int32"), T.mean(x8), T.mean(x32, dtype="float32"),
            T.sum(xf), T.sum(xf, acc_dtype="float32"), T.mean(xf), T.prod(x8, dtype="bool"),
            T.sum(xf, dtype="int32")]
    with np.errstate(all="ignore"):
        expected = [v8.sum(dtype="int64"), v8.sum(dtype="int8"), np.float32(v8.sum()),
                    v32.prod(dtype="int64"), v32.prod(dtype="int32"), v64.sum(), v64.prod(),
                    np.int64(v32.sum(dtype="int32")), v8.mean(), np.float32(v32.mean()),
                    np.float32(vf.sum(dtype="float64")), vf.sum(), np.float32(vf.mean()),
                    np.prod(v8, dtype="bool"), np.int32(vf.sum(dtype="float64"))]
    got = compare(compile_both([x8, x32, x64, xf], outs), [v8, v32, v64, vf], expected,
                  rtol=1e-4)
    # accumulated in float64: within one float32 rounding of the exact sum (a float32
    # running sum of 1e5 terms drifts by many units in the last place)
    exact = vf.astype("float64").sum()
    assert abs(float(got[10]) - exact) <= np.spacing(np.float32(exact))


def test_acc_dtype_losing_precision_is_a_type_error():
    with pytest.raises(TypeError, match="acc_dtype"):
        T.sum(T.dvector("x"), acc_dtype="float32")
    with pytest.raises(TypeError, match="acc_dtype"):
        T.sum(T.ivector("x"), acc_dtype="int8")
    with pytest.raises(TypeError, match="float"):
        T.mean(T.ivector("x"), acc_dtype="int64")


# --- shapes: empty and length-1 axes, rank up to 8 ---------------------------------------

@pytest.mark.slow   # many compiles: 4 s on 2 busy cores
def test_empty_and_length_one_axes():
    """Identity reductions of empty axes give the identity (mean and var: nan, no
    exception), on contiguous and reversed inputs."""
    x = T.dmatrix("x")
    b = T.tensor("int8", (False, False), name="b")
    rev = StridedView(-1, -1)(x)
    reverse = {"x": lambda v: v, "b": lambda v: v, "rev": lambda v: v[::-1, ::-1]}
    plan = [("x", name, axis, False) for axis in (None, 0, 1)
            for name in ("sum", "prod", "mean", "all", "any", "var")]
    plan += [("x", name, axis, True) for axis in (None, 0, 1) for name in ("sum", "mean")]
    plan += [("b", name, axis, False) for axis in (None, 0, 1) for name in ("sum", "prod")]
    plan += [("rev", name, axis, False) for axis in (None, 0, 1) for name in ("sum", "any")]
    sources = {"x": x, "b": b, "rev": rev}
    outs = [getattr(T, n)(sources[k], axis=a, keepdims=kd) for k, n, a, kd in plan]
    fs = compile_both([x, b], outs)
    for shape in [(0, 3), (3, 0), (0, 0), (1, 4), (4, 1), (1, 1)]:
        values = {"x": sample("float64", shape), "b": sample("int8", shape)}
        values["rev"] = values["x"]
        expected = [numpy_reduce(n, reverse[k](values[k]), a, kd) for k, n, a, kd in plan]
        compare(fs, [values["x"], values["b"]], expected,
                [f"{p} shape={shape}" for p in plan])


def test_max_min_argmax_of_empty_axis_raise_in_both_modes():
    x = T.dmatrix("x")
    cases = [(T.max, "maximum"), (T.min, "minimum"), (T.argmax, "argmax"),
             (T.argmin, "argmin")]
    for fn, word in cases:
        fs = compile_both([x], [fn(x, axis=0)])
        # the reduced axis is empty: an error naming x and its shape
        for shape in [(0, 3), (0, 0)]:
            for f in fs:
                with pytest.raises(ValueError, match=rf"{word}.*: x has shape "
                                                     rf"\({shape[0]}, {shape[1]}\)"):
                    f(np.zeros(shape))
        # only the kept axis is empty: an empty result, no error
        compare(fs, [np.zeros((3, 0))], [np.zeros(0, dtype=fn(x, axis=0).dtype)])
    fs = compile_both([x], T.max_and_argmax(x))
    for f in fs:
        with pytest.raises(ValueError, match="argmax of an empty sequence: x has shape"):
            f(np.zeros((2, 0)))


@pytest.mark.slow   # many compiles: 4 s on 2 busy cores
def test_high_rank_and_scattered_axes():
    x = T.tensor("float64", (False,) * 6, name="x")
    v = rng.normal(size=(2, 1, 3, 2, 1, 3))
    specs = [(1, 3, 5), (0, 2, 4), (0, 5), (2,), None, (-1, -2)]
    outs, expected = [], []
    for axis in specs:
        for name in ("sum", "max", "argmin", "mean"):
            outs.append(getattr(T, name)(x, axis=axis, keepdims=axis == (0, 5)))
            expected.append(numpy_reduce(name, v, axis, axis == (0, 5)))
    y = T.tensor("int32", (False,) * 8, name="y")
    vy = rng.integers(-5, 5, size=(2, 1, 2, 1, 2, 1, 2, 2)).astype("int32")
    outs += [T.sum(y, axis=(0, 7)), T.argmax(y, axis=(1, 2, 6)), T.min(y)]
    expected += [vy.sum(axis=(0, 7)), numpy_arg(np.argmax, vy, (1, 2, 6), False), vy.min()]
    compare(compile_both([x, y], outs), [v, vy], expected)


# --- strided and reversed inputs ---------------------------------------------------------

@pytest.mark.slow   # many compiles: 5 s on 2 busy cores
def test_strided_and_negative_stride_inputs():
    """Views with steps 2 and -1 and transposes reach the general strided loops (the
    contiguous fast paths are covered by the tests above)."""
    x = T.tensor3("x")
    i = T.tensor("int32", (False, False), name="i")
    views = {"rev": StridedView(-1, 1, -1)(x), "step": StridedView(2, -2, 1)(x),
             "xT": x.dimshuffle(2, 0, 1)}
    np_views = {"rev": lambda v: v[::-1, :, ::-1],
                "step": lambda v: v[::2, ::-2, :], "xT": lambda v: v.transpose(2, 0, 1)}
    # the loop code is the same for every mode: a few modes with different accumulators
    plan = [(key, name, axis) for key in ("rev", "xT")
            for axis in (None, 0, -1, (0, 2), (1, 2)) for name in ("sum", "max", "argmax")]
    plan += [("step", name, axis) for axis in (None, 0, (1, 2))
             for name in ("all", "argmin", "prod")]
    plan += [("rev", "mean", (0, 2)), ("xT", "var", None), ("step", "min", -1)]
    outs = [getattr(T, n)(views[k], axis=a) for k, n, a in plan]
    iv = StridedView(-1, 2)(i)
    outs += [T.sum(iv, axis=0), T.prod(iv, axis=1), T.min(iv), T.argmax(iv, axis=0),
             T.max_and_argmax(iv, axis=1)[0]]
    fs = compile_both([x, i], outs)
    for shape in [(4, 5, 6), (1, 3, 1), (3, 4, 2)]:
        v = sample("float64", shape)
        vi = rng.integers(-9, 9, size=(5, 7)).astype("int32")
        ivv = vi[::-1, ::2]
        expected = [numpy_reduce(n, np_views[k](v), a, False) for k, n, a in plan]
        expected += [ivv.sum(0), ivv.prod(1), ivv.min(), ivv.argmax(0), ivv.max(1)]
        compare(fs, [v, vi], expected, [str(p) for p in plan] + ["int"] * 5)


def test_fused_reductions_of_strided_and_broadcast_inputs_are_laid_out_by_the_runtime():
    """A fused reduction whose inputs are not contiguous of x's full shape (a reversed view,
    a broadcast row, a reduced axis in the middle) folds copies made by the runtime's
    cg_reduce_layout (called by its driver cg_reduce): kept axes first, reduced ones last,
    broadcast inputs expanded."""
    x, b = T.tensor3("x"), T.dvector("b")
    xv = StridedView(-1, 1, -1)(x)
    plan = [(None, "sum"), (0, "sum"), (1, "max"), (2, "sum"), ((0, 2), "prod"),
            ((1, 2), "min"), ((0, 1), "mean")]
    # one value per output (a value several reductions read is computed once, not fused)
    outs = [getattr(T, name)(T.sqr(xv - k) * b, axis=axis)
            for k, (axis, name) in enumerate(plan)]
    f_c, f_py = fs = compile_both([x, b], outs)
    folded = [n for n in f_c.nodes if isinstance(n.op, Reduce) and n.op.scalar_op is not None]
    assert len(folded) == len(plan)
    assert f_c.c_source.split("int cg_run(")[1].count("cg_reduce(") == len(plan)
    for shape in [(3, 4, 5), (1, 2, 1), (2, 3, 1)]:
        v, bv = sample("float64", shape), rng.normal(size=shape[-1])
        expected = [numpy_reduce(name, (v[::-1, :, ::-1] - k) ** 2 * bv, axis, False)
                    for k, (axis, name) in enumerate(plan)]
        compare(fs, [v, bv], expected, [str(p) for p in plan])
    # empty: nothing is copied (sum), and max of nothing is still refused
    with pytest.raises(ValueError, match="zero-size array to reduction operation maximum"):
        f_c(np.zeros((2, 0, 3)), np.ones(3))


# --- NaN and ties ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.slow   # many compiles: 6 s on 2 busy cores
def test_nan_propagation_and_first_index_ties(dtype):
    x = T.matrix("x", dtype=dtype)
    xt = x.T
    outs, plan = [], []
    for src, name_src in ((x, "x"), (xt, "xT")):
        for axis in (None, 0, 1):
            for name in ("max", "min", "argmax", "argmin", "sum", "mean", "any"):
                outs.append(getattr(T, name)(src, axis=axis))
                plan.append((name_src, name, axis))
            outs += list(T.max_and_argmax(src, axis=axis))
            plan += [(name_src, "max", axis), (name_src, "argmax", axis)]
    fs = compile_both([x], outs)
    nan = np.nan
    values = [
        np.array([[1, nan, 3, nan], [2, 2, 1, 1], [nan, 5, 5, -1]]),        # NaNs
        np.array([[1, 3, 3, 0], [3, 1, 3, 3], [0, 0, 0, 0]]),                 # ties
        np.array([[-np.inf, -np.inf, 2, 2], [np.inf, 1, np.inf, nan], [0, -0.0, 0, 0]]),
    ]
    for v in values:
        v = v.astype(dtype)
        expected = [numpy_reduce(n, v if s == "x" else v.T, a, False) for s, n, a in plan]
        compare(fs, [v], expected, [str(p) for p in plan])
    # the rule spelled out: first NaN wins, first of equal maxima wins
    got = fs[0](values[0].astype(dtype))
    assert got[plan.index(("x", "argmax", 1))].tolist() == [1, 0, 0]
    assert got[plan.index(("x", "argmin", 1))].tolist() == [1, 2, 0]
    assert np.isnan(got[plan.index(("x", "max", None))])


# --- variance ----------------------------------------------------------------------------

def test_var_std_ddof():
    x = T.dmatrix("x")
    f32 = T.fmatrix("f")
    ints = T.imatrix("i")
    outs = [T.var(x, ddof=1), T.std(x, axis=0, ddof=1), T.var(x, axis=1, ddof=3),
            T.std(x, axis=1, ddof=5, keepdims=True), T.var(f32, axis=0), T.std(f32),
            T.var(ints, axis=1), T.std(ints, ddof=1),
            # transposed: the strided two-pass loops
            T.var(x.T, axis=1, ddof=1), T.std(x.T, ddof=2), T.var(f32.T, axis=0, ddof=1)]
    fs = compile_both([x, f32, ints], outs)
    v = rng.normal(size=(4, 3)) * 10 + 1000
    vf = (rng.normal(size=(4, 3)) + 3).astype("float32")
    vi = rng.integers(-50, 50, size=(4, 3)).astype("int32")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # "Degrees of freedom <= 0"
        expected = [v.var(ddof=1), v.std(axis=0, ddof=1), v.var(axis=1, ddof=3),   # N = ddof
                    v.std(axis=1, ddof=5, keepdims=True),   # ddof > N: divides by 0 too
                    vf.var(axis=0), vf.std(), vi.var(axis=1), vi.std(ddof=1),
                    v.T.var(axis=1, ddof=1), v.T.std(ddof=2), vf.T.var(axis=0, ddof=1)]
    assert np.isinf(expected[2]).all() and np.isinf(expected[3]).all()
    compare(fs, [v, vf, vi], expected, rtol=1e-5)
    assert [o.dtype for o in outs[4:8]] == ["float32", "float32", "float64", "float64"]
    with pytest.raises(TypeError, match="ddof"):
        T.var(x, ddof=0.5)


# --- methods and Theano's call forms -----------------------------------------------------

@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_variable_methods_and_max_and_argmax():
    x = T.dmatrix("x")
    b = T.imatrix("b")
    mx, amx = T.max_and_argmax(x, axis=1)
    outs = [x.sum(axis=1), x.mean(), x.max(), x.argmax(axis=0), x.var(), x.std(),
            x.prod(axis=0), x.min(axis=-1), x.argmin(), x.all(axis=0), x.any(),
            b.sum(axis=[0, 1]), b.mean(axis=0, keepdims=True), x.sum(0, "float32"),
            mx, amx, T.sum(x, axis=T.constant(1)), T.max(x, axis=np.int64(0))]
    v = rng.normal(size=(3, 4))
    vb = rng.integers(-3, 3, size=(3, 4)).astype("int32")
    expected = [v.sum(1), v.mean(), v.max(), v.argmax(0), v.var(), v.std(), v.prod(0),
                v.min(-1), v.argmin(), v.all(0), v.any(), vb.sum(dtype="int64"),
                vb.mean(0, keepdims=True), v.sum(0).astype("float32"), v.max(1),
                v.argmax(1), v.sum(1), v.max(0)]
    compare(compile_both([x, b], outs), [v, vb], expected)


def test_equal_reductions_are_one_node():
    x = T.dmatrix("x")
    assert T.sum(x, axis=-1).owner.op == T.sum(x, axis=1).owner.op
    assert T.sum(x, axis=(1, 0)).owner.op == T.sum(x).owner.op
    assert T.sum(x, axis=0).owner.op != T.sum(x, axis=0, keepdims=True).owner.op
    assert T.sum(x, axis=0).owner.op != T.prod(x, axis=0).owner.op
    assert isinstance(T.argmax(x).owner.op, ArgReduce)
    assert isinstance(T.mean(x).owner.op, Reduce)


# --- user errors at graph-build time -----------------------------------------------------

@pytest.mark.parametrize("fn", [T.sum, T.prod, T.mean, T.max, T.min, T.all, T.any,
                                T.argmax, T.argmin, T.var, T.std, T.max_and_argmax])
def test_bad_axis_is_a_value_error_naming_the_variable(fn):
    x = T.dmatrix("my_x")
    with pytest.raises(ValueError, match=r"Invalid axis: 2 .*my_x.*2"):
        fn(x, axis=2)
    with pytest.raises(ValueError, match=r"Invalid axis: -3 .*my_x"):
        fn(x, axis=-3)
    with pytest.raises(ValueError, match=r"repeated axis 0.*my_x"):
        fn(x, axis=(0, -2))
    with pytest.raises(ValueError, match=r"Invalid axis: 0 .*scalar_s.*0"):
        fn(T.dscalar("scalar_s"), axis=0)
    with pytest.raises(TypeError, match="axis"):
        fn(x, axis=1.0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_plain_float_folds_run_in_the_runtime_library(dtype):
    """Sum, mean, prod, max and min of a float input (no fused op, the default dtypes) are one
    call of the runtime's cg_reduce_node: each of its paths (contiguous runs, leading rows,
    the laid-out copy of strided or middle axes) against numpy, runs longer than the Ctrl-C
    polling stride (65536 elements; sums fold a run's quarters side by side, then its tail),
    NaN, keepdims (the empty and length-1 axes:
    test_empty_and_length_one_axes), and the sum of squares (an L2 penalty's fused
    Composite{sqr(i0)}); another fused fold, an int input and an acc_dtype override keep
    the module's own loop."""
    x = T.matrix("x", dtype=dtype)
    y = T.tensor3("y", dtype=dtype)
    rev = StridedView(-1, 1, -1)(y)
    plan = [("x", n, a, k) for n in ("sum", "mean", "prod", "max", "min")
            for a, k in ((None, False), (0, False), (1, True))]
    plan += [("y", n, a, False) for n in ("sum", "max") for a in ((0, 2), 1, (1, 2))]
    plan += [("rev", n, a, True) for n in ("mean", "min") for a in (0, (0, 1), None)]
    graph = {"x": x, "y": y, "rev": rev}
    outs = [getattr(T, n)(graph[v], axis=a, keepdims=k) for v, n, a, k in plan]
    other = "float32" if dtype == "float64" else "float64"
    # each square read by one sum only (a shared x ** 2 is an Elemwise of its own)
    plan_squares = [("x", 0, True), ("y", (1, 2), False), ("rev", 1, False)]
    squares = [T.sum(graph[v] ** 2, axis=a, keepdims=k) for v, a, k in plan_squares]
    others = [T.sum(T.exp(x), axis=1), T.sum(T.cast(x, "int32"), axis=0),
              T.sum(x, axis=0, dtype=other)]
    fs = compile_both([x, y], outs + squares + others)
    source = fs[0].c_source
    assert source.count("cg_reduce_node(") == len(plan) + len(squares)
    assert source.count("CG_REDUCE_SUM_SQUARES") == len(squares)
    # values of a generator of its own: float32 sums of 70001 values of both signs cancel
    # to a few units, where rtol 1e-4 is a matter of luck, so which values (under xdist, those
    # left by the tests before) must not vary from run to run
    gen = np.random.default_rng(510)
    for xv, yv in [(sample(dtype, (70_001, 3), gen), sample(dtype, (2, 3, 4), gen)),
                   (sample(dtype, (3, 70_001), gen) / 4, sample(dtype, (1, 5, 1), gen)),
                   (np.array([[1.0, np.nan, -2.0], [np.nan, 3.0, 0.5]], dtype=dtype),
                    sample(dtype, (3, 1, 2), gen))]:
        np_graph = {"x": xv, "y": yv, "rev": yv[::-1, :, ::-1]}
        expected = [numpy_reduce(n, np_graph[v], a, k) for v, n, a, k in plan]
        with np.errstate(all="ignore"):
            expected += [np.sum(np_graph[v] ** 2, axis=a, keepdims=k, dtype="float64")
                         .astype(dtype) for v, a, k in plan_squares]
            expected += [np.exp(xv.astype("float64")).sum(1).astype(dtype),
                         xv.astype("int32").sum(0).astype("int64"),
                         xv.astype("float64").sum(0).astype(other)]
        compare(fs, [xv, yv], expected,
                [str(p) for p in plan] + ["squares"] * len(squares) + ["fused", "int", "acc"],
                rtol=1e-4 if dtype == "float32" else None)


# --- one text per message, from every fold path ------------------------------------------

def test_empty_fold_messages_are_the_references_and_name_the_variable():
    """max/min/argmax of nothing: the C (the runtime's driver, whichever fold: the runtime's
    own float folds, a module's integer or fused fold, argmax) raises the reference's text,
    naming the value folded and its shape."""
    w, k = T.dtensor3("weights"), T.itensor3("counts")
    cases = [(w, T.max(w, axis=1), "weights"),                         # runtime fold
             (k, T.min(k, axis=(1, 2), keepdims=True), "counts"),      # module fold
             (w, T.max(T.sin(w), axis=1), "sin(weights)"),             # fused
             (w, T.argmax(w, axis=(1, 2)), "weights")]
    for x, out, label in cases:
        f_c, f_py = compile_both([x], [out])
        value = np.zeros((2, 0, 3), dtype=x.dtype)
        with pytest.raises(ValueError) as ref:
            f_py(value)
        with pytest.raises(ValueError) as got:
            f_c(value)
        # (the reference adds the input shapes)
        text = str(ref.value).splitlines()[0].split(" (input shapes")[0]
        assert text.startswith(f"{out.owner.op}".split("}")[0])   # the node (fused: its op)
        assert f": {label} has shape (2, 0, 3) and axes" in text
        assert str(got.value).splitlines()[0] == text


@pytest.mark.parametrize("axis", [1, 0, None])   # runs, rows, everything
def test_a_fused_integer_division_by_zero_fails_as_the_reference(axis):
    """A reduction fused with integer division: the fold's error flag reaches the driver,
    whose message names the node; no silent wrong answer."""
    a, b = T.imatrix("a"), T.imatrix("b")
    f_c, f_py = fs = compile_both([a, b], [(a // b).sum(axis=axis)])
    assert any(isinstance(n.op, Reduce) and n.op.scalar_op is not None for n in f_c.nodes)
    va = rng.integers(-9, 9, (3, 4)).astype("int32")
    vb = rng.integers(1, 5, (3, 4)).astype("int32")
    compare(fs, [va, vb], [(va // vb).sum(axis=axis, dtype="int64")])
    vb[2, 1] = 0
    for f in fs:
        with pytest.raises(ZeroDivisionError, match="integer division or modulo by zero"):
            f(va, vb)
