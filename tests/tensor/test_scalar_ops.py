"""Every row of the scalar-op table (cgraph/tensor/scalar_ops.py), tested from the table
itself, so a new row is covered without touching this file:

- its C code matches the numpy reference (py mode) in float32 and float64 (integer dtypes
  for the bitwise ops), on values inside the row's domain, in one module per dtype;
- its gradient rule matches finite differences (``verify_grad``), one test per op;
- the runtime functions libm lacks (``RUNTIME_FUNCTIONS``) match scipy across their whole
  range, special values included.
"""
import numpy as np
import pytest
import scipy.special

import cgraph
import cgraph.tensor as T
from cgraph.gradient import verify_grad
from cgraph.tensor.scalar_ops import SCALAR_OPS
from util import check

DEFAULT_DOMAIN = (-3.0, 3.0)
FLOAT_OPS = sorted(n for n, op in SCALAR_OPS.items() if op.c_expr is not None)
INT_ONLY_OPS = sorted(n for n, op in SCALAR_OPS.items() if op.c_expr is None)
DIFFERENTIABLE = sorted(n for n, op in SCALAR_OPS.items() if op.grad is not None)
# float-valued ops without a gradient rule, each with its reason
WITHOUT_GRADIENT = {"tri_gamma": "polygamma(2, x) is not implemented (nor in Theano)"}
COMPARISONS = {"lt", "gt", "le", "ge", "eq", "neq", "isnan", "isinf"}


def _domains(op):
    domain = op.domain or DEFAULT_DOMAIN
    return list(domain) if isinstance(domain[0], tuple) else [domain] * op.nin


def _sample(op, dtype, size, rng):
    """Inputs inside the op's domain (a switch's condition is a bool array)."""
    values = [rng.uniform(lo, hi, size=size).astype(dtype) for lo, hi in _domains(op)]
    if op.name == "switch":
        values[0] = rng.random(size) < 0.5
    return values


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_float_op_matches_the_numpy_reference(dtype):
    rng = np.random.default_rng(1)
    inputs, outputs, values = [], [], []
    for name in FLOAT_OPS:
        op = SCALAR_OPS[name]
        args = [T.vector(f"{name}_{k}", dtype="bool" if v.dtype == bool else dtype)
                for k, v in enumerate(_sample(op, dtype, 1, rng))]
        inputs += args
        outputs.append(cgraph.tensor.elemwise.Elemwise(op)(*args))
        values += _sample(op, dtype, 11, rng)
    got = check(inputs, outputs, values, rtol=1e-5 if dtype == "float32" else 1e-12)
    for name, out in zip(FLOAT_OPS, got):
        expected = "bool" if name in COMPARISONS else dtype
        assert out.dtype == expected, f"{name}: dtype {out.dtype}, expected {expected}"


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8"])
def test_every_integer_only_op_matches_the_numpy_reference(dtype):
    rng = np.random.default_rng(2)
    inputs, outputs, values = [], [], []
    for name in INT_ONLY_OPS:
        op = SCALAR_OPS[name]
        args = [T.vector(f"{name}_{k}", dtype=dtype) for k in range(op.nin)]
        inputs += args
        outputs.append(cgraph.tensor.elemwise.Elemwise(op)(*args))
        values += [rng.integers(-50, 50, size=9).astype(dtype) for _ in range(op.nin)]
    check(inputs, outputs, values)


def test_every_float_valued_op_has_a_gradient_rule_or_a_stated_reason():
    float_valued = {n for n, op in SCALAR_OPS.items()
                    if op.c_expr is not None and n not in COMPARISONS}
    missing = float_valued - set(DIFFERENTIABLE)
    assert missing == set(WITHOUT_GRADIENT), f"ops without a gradient rule: {sorted(missing)}"
    for name in WITHOUT_GRADIENT:   # asking for one says so, naming the op
        x = T.dvector("x")
        with pytest.raises(NotImplementedError, match=f"the gradient of {name} is not"):
            T.grad(cgraph.tensor.elemwise.Elemwise(SCALAR_OPS[name])(x).sum(), x)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gradient_rule_matches_finite_differences(name, dtype):
    """The rule against the numeric gradient of the numpy reference (py mode: the rule is
    a graph of table ops, whose C the value tests above check)."""
    op = SCALAR_OPS[name]
    rng = np.random.default_rng(3)
    point = _sample(op, dtype, 5, rng)
    if name == "switch":
        condition, point = T.constant(point[0]), point[1:]

        def fun(a, b):   # the condition is not differentiable: a constant
            return cgraph.tensor.elemwise.Elemwise(op)(condition, a, b)
    else:
        fun = cgraph.tensor.elemwise.Elemwise(op)
    verify_grad(fun, point, mode="py", rng=np.random.default_rng(4))


def test_gradients_of_every_rule_compile_to_c_and_match_the_reference():
    """All gradient rules in one C module, against py mode."""
    rng = np.random.default_rng(5)
    inputs, outputs, values = [], [], []
    for name in DIFFERENTIABLE:
        op = SCALAR_OPS[name]
        sample = _sample(op, "float64", 6, rng)
        args = [T.vector(f"{name}_{k}", dtype=v.dtype.name) for k, v in enumerate(sample)]
        cost = cgraph.tensor.elemwise.Elemwise(op)(*args).sum()
        wrt = [a for a in args if a.dtype == "float64"]
        inputs += args
        outputs += T.grad(cost, wrt)
        values += sample
    check(inputs, outputs, values, rtol=1e-10)


def test_gammaln_gradient_is_psi():
    x = T.dvector("x")
    f = cgraph.function([x], T.grad(T.gammaln(x).sum(), x))
    v = np.array([0.25, 1.0, 1.4616321449683622, 7.5, 150.0])
    np.testing.assert_allclose(f(v), scipy.special.psi(v), rtol=1e-12, atol=1e-14)


# The ops computed by a function of templates/runtime.h (libm lacks them): values across
# the whole range (poles, huge arguments, infinities, NaN) against scipy.
RUNTIME_FUNCTIONS = {
    "erfcx": (scipy.special.erfcx,
              [-np.inf, -30.0, -26.5, -5.0, -0.5, -0.0, 0.0, 1e-300, 0.3, 2.0, 11.99, 12.0,
               12.01, 30.0, 1e5, 1e150, 1e300, np.inf, np.nan]),
    "erfinv": (scipy.special.erfinv,
               [-np.inf, -1.5, -1.0, -1.0 + 1e-15, -0.999, -0.5, -1e-300, -0.0, 0.0, 1e-300,
                1e-8, 0.3, 0.4999999, 0.5, 0.5000001, 0.9, 0.999999, 1.0 - 1e-15, 1.0, 2.0,
                np.inf, np.nan]),
    "psi": (scipy.special.psi,
            [-1e6 - 0.5, -7.25, -2.5, -1.0, -0.0, 0.0, 1e-300, 1e-8, 0.1, 1.4616321449683622,
             2.0, 5.99, 6.0, 30.5, 1e6, 1e300, np.inf, -np.inf, np.nan]),
    "tri_gamma": (lambda x: scipy.special.polygamma(1, x),
                  [-7.25, -2.5, -1.0, 0.0, 1e-300, 1e-8, 0.1, 1.5, 5.99, 6.0, 30.5, 1e6,
                   1e150, np.inf, np.nan]),
}


@pytest.mark.parametrize("name", sorted(RUNTIME_FUNCTIONS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_runtime_function_matches_scipy_across_its_range(name, dtype):
    reference, points = RUNTIME_FUNCTIONS[name]
    x = T.vector("x", dtype=dtype)
    with np.errstate(over="ignore"):   # 1e300 is inf in float32: a point too
        values = np.array(points, dtype=dtype)
    with np.errstate(all="ignore"):
        expected = reference(values.astype("float64")).astype(dtype)
    got = check([x], [getattr(T, name)(x)], [values],
                rtol=1e-5 if dtype == "float32" else 1e-9)[0]
    float32 = dtype == "float32"   # atol: psi's root, where the value is a rounding error
    np.testing.assert_allclose(got, expected, rtol=1e-5 if float32 else 1e-9,
                               atol=1e-6 if float32 else 1e-14, equal_nan=True, err_msg=name)
