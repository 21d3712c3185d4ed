"""The scalar operations behind elementwise ops, one table entry each.

An entry gives the op's numpy reference, its C expression, and its dtype rule. The same
entry serves the C backend, the numpy reference mode and (later) the gradient.

C expressions are format strings: ``{0}``, ``{1}``... are the inputs (already converted to
the op's compute type), ``{f}`` is ``f`` when computing in float32 (``expf``) else empty,
``{ct}`` is the compute C type and ``{ot}`` the output C type. ``float32_c_expr``, when
given, replaces the float expression in float32 (our own vectorisable kernels: ``cg_expf``).
"""
import numpy as np

from .elemwise import Elemwise
from .type import C_TYPES, FLOAT_DTYPES, INT_DTYPES
from .var import constant

_REGISTRY = {}   # every scalar op by name, so graphs holding them can be pickled


def scalar_op_named(name):
    """The scalar op called ``name`` (casts are made on demand)."""
    if name not in _REGISTRY and name.startswith("cast_"):
        return cast_op(name[len("cast_"):])
    return _REGISTRY[name]


# --- dtype rules -------------------------------------------------------------------------


def upcast(*dtypes):
    return np.result_type(*[np.dtype(d) for d in dtypes]).name


def upcast_float(*dtypes):
    """Upcast, then to the smallest float that holds the result (int8 -> float32)."""
    dtype = upcast(*dtypes)
    if dtype in FLOAT_DTYPES:
        return dtype
    return "float32" if dtype in ("bool", "int8", "int16", "uint8") else "float64"


class ScalarOp:
    """One scalar function: name, arity, numpy reference, C expression, dtype rules, gradient
    rule and the domain the tests sample (see the table below)."""

    grad = None      # a Composite (built after gradients are taken) has none
    domain = None
    temporary_dtypes = ()   # the dtypes of the C temporaries its body declares (Composite)

    def __init__(self, name, nin, numpy_fn, c_expr, out_rule="upcast", compute_rule=None,
                 int_c_expr=None, bool_c_expr=None, may_fail=False, commutative=False,
                 c_name=None, grad=None, domain=None, float32_c_expr=None):
        self.name = name
        self.nin = nin
        self.numpy_fn = numpy_fn
        self.c_expr = c_expr
        self.float32_c_expr = float32_c_expr or c_expr
        self.int_c_expr = int_c_expr or c_expr
        self.bool_c_expr = bool_c_expr or self.int_c_expr
        self.out_rule = out_rule
        self.compute_rule = compute_rule or out_rule
        self.may_fail = may_fail      # the C expression may set the error flag (int div by 0)
        self.commutative = commutative
        self.grad = grad
        self.domain = domain
        _REGISTRY.setdefault(name, self)

    def __reduce__(self):
        # pickled by name: the table entry holds functions that do not pickle
        return (scalar_op_named, (self.name,))

    def out_dtype(self, in_dtypes):
        if callable(self.out_rule):
            return self.out_rule(in_dtypes)
        return _RULES[self.out_rule](in_dtypes)

    def compute_dtypes(self, in_dtypes):
        """The dtype each input is converted to before the op is applied."""
        if self.compute_rule == "switch":
            common = upcast(*in_dtypes[1:])
            return [in_dtypes[0], common, common]
        if self.compute_rule == "each":
            return list(in_dtypes)
        dtype = self.out_dtype(in_dtypes) if callable(self.compute_rule) \
            else _RULES[self.compute_rule](in_dtypes)
        return [dtype] * len(in_dtypes)

    def c_code(self, args, in_dtypes, out_dtype):
        """The C expression computing this op from the C expressions ``args``."""
        compute = self.compute_dtypes(in_dtypes)
        ref = compute[-1]
        if ref == "float32":
            template = self.float32_c_expr
        elif ref in FLOAT_DTYPES:
            template = self.c_expr
        elif ref == "bool":
            template = self.bool_c_expr
        else:
            template = self.int_c_expr
        if template is None:
            raise TypeError(f"{self.name} is not defined for dtype {ref}")
        return template.format(*args, f="f" if ref == "float32" else "",
                               ct=C_TYPES[ref], ot=C_TYPES[out_dtype])

    def perform(self, inputs, out_dtype):
        in_dtypes = [a.dtype.name for a in inputs]
        args = [a.astype(d, copy=False) for a, d in zip(inputs, self.compute_dtypes(in_dtypes))]
        with np.errstate(all="ignore"):
            result = self.numpy_fn(*args)
        return np.asarray(result).astype(out_dtype, copy=False)

    def __repr__(self):
        return self.name


_RULES = {
    "upcast": lambda d: upcast(*d),
    "float": lambda d: upcast_float(*d),
    "bool": lambda d: "bool",
    "same": lambda d: d[0],
    "switch": lambda d: upcast(*d[1:]),
    "each": lambda d: upcast(*d),
    "int_upcast": lambda d: _int_only(upcast(*d)),
}


def _int_only(dtype):
    if dtype not in INT_DTYPES and dtype != "bool":
        raise TypeError(f"this operation needs integer or boolean inputs, got {dtype}")
    return dtype


# --- numpy references that need care -----------------------------------------------------

def _computes(a, b):
    """Whether ``fn(a, b)`` computes any element (an empty broadcast computes none, so it
    divides by no zero, as in the C loop)."""
    return np.broadcast(a, b).size > 0


def _int_checked(fn):
    """Integer division and modulo by zero raise, as the C code does."""
    def wrapped(a, b):
        if a.dtype.kind in "iub" and np.any(b == 0) and _computes(a, b):
            raise ZeroDivisionError("integer division or modulo by zero")
        return fn(a, b)
    return wrapped


def _int_pow(a, b):
    if a.dtype.kind in "iu" and np.any(b < 0) and _computes(a, b):
        raise ValueError("Integers to negative integer powers are not allowed.")
    return np.power(a, b)


def _special(name):
    """A scipy.special function, imported on first use (scipy.special takes ~0.2 s to import)."""
    def call(*args):
        import scipy.special
        return getattr(scipy.special, name)(*args)
    call.__name__ = name
    return call


def _sigmoid(x):
    # e = exp(-|x|) <= 1, so nothing overflows and x far below 0 keeps its subnormal result
    # (1 / (1 + exp(-x)) gives 0 there), as the C helpers cg_sigmoid/cg_sigmoidf compute it
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)


def _softplus(x):
    return np.logaddexp(np.zeros((), x.dtype), x)


def _round_half_even(x):
    return np.round(x) if x.dtype.kind == "f" else x


def _invert(x):
    return np.logical_not(x) if x.dtype == bool else np.invert(x)


def _sign(x):
    return np.sign(x)


# --- the table ---------------------------------------------------------------------------
# One row per op: name, arity, numpy reference, C expression (float; int_c_expr/bool_c_expr
# where integers or booleans differ), dtype rules, and
# - grad: (inputs..., output, output gradient) -> one gradient per input, as symbolic
#   expressions over the same ops; None in the list for an input with no differentiable
#   path (a switch's condition). Ops with integer or boolean results need none: gradients
#   do not flow through such values.
# - domain: (low, high) where the op is smooth, per input or one for all; the tests sample
#   values and check gradients there.
# Adding an op: one row here, a C function in templates/runtime.h if libm lacks it, and its
# name in the value tests' list (tests/tensor/test_scalar_ops.py); ``T.<name>`` follows
# from the row.

def _elemwise_of(name):
    """The symbolic elementwise function of table op ``name``, for gradient expressions."""
    def apply(*inputs):
        return Elemwise(SCALAR_OPS[name])(*inputs)
    return apply


_switch, _gt, _ge, _lt, _le = (_elemwise_of(n) for n in ("switch", "gt", "ge", "lt", "le"))
_log, _exp, _sqrt, _sgn = (_elemwise_of(n) for n in ("log", "exp", "sqrt", "sign"))
_floor_div, _sigmoid_of, _psi, _tri_gamma = (
    _elemwise_of(n) for n in ("floor_div", "sigmoid", "psi", "tri_gamma"))
_sin, _cos, _sinh, _cosh = (_elemwise_of(n) for n in ("sin", "cos", "sinh", "cosh"))


def _c(value, like):
    """A constant of ``like``'s float dtype, so gradients of float32 graphs stay float32."""
    return constant(value, dtype=like.dtype if like.dtype in FLOAT_DTYPES else None)


def _zero(x, gz):
    return gz * _c(0.0, gz)


def _second(model, value):
    return np.broadcast_to(value, np.broadcast_shapes(model.shape, value.shape))


def _op(*args, **kwargs):
    op = ScalarOp(*args, **kwargs)
    SCALAR_OPS[op.name] = op
    return op


SCALAR_OPS = {}
_SQRT_PI_2 = 2 / np.sqrt(np.pi)

_op("add", 2, np.add, "({0} + {1})", commutative=True, bool_c_expr="({0} || {1})",
    grad=lambda x, y, z, gz: [gz, gz])
_op("sub", 2, np.subtract, "({0} - {1})", grad=lambda x, y, z, gz: [gz, -gz])
_op("mul", 2, np.multiply, "({0} * {1})", commutative=True, bool_c_expr="({0} && {1})",
    grad=lambda x, y, z, gz: [gz * y, gz * x])
_op("true_div", 2, np.true_divide, "({0} / {1})", out_rule="float",
    grad=lambda x, y, z, gz: [gz / y, -gz * z / y], domain=((-3, 3), (0.5, 3)))
_op("floor_div", 2, _int_checked(np.floor_divide), "cg_floordiv{f}({0}, {1})",
    int_c_expr="(({ct})cg_floordiv_i64((int64_t){0}, (int64_t){1}, &cg_bad))", may_fail=True,
    grad=lambda x, y, z, gz: [_zero(x, gz), _zero(y, gz)], domain=((0.1, 0.9), (1.1, 1.9)))
_op("mod", 2, _int_checked(np.mod), "cg_fmod{f}({0}, {1})",
    int_c_expr="(({ct})cg_mod_i64((int64_t){0}, (int64_t){1}, &cg_bad))", may_fail=True,
    grad=lambda x, y, z, gz: [gz, -gz * _floor_div(x, y)], domain=((2.1, 2.9), (1.1, 1.3)))
_op("pow", 2, _int_pow, "pow{f}({0}, {1})",
    int_c_expr="(({ct})cg_ipow((int64_t){0}, (int64_t){1}, &cg_bad))", may_fail=True,
    grad=lambda x, y, z, gz: [gz * y * x ** (y - _c(1, y)),
                              gz * z * _log(_switch(_gt(x, _c(0, x)), x, _c(1, x)))],
    domain=((0.5, 2), (-2, 2)))
_op("maximum", 2, np.maximum, "cg_max({0}, {1})", int_c_expr="({0} > {1} ? {0} : {1})",
    commutative=True, grad=lambda x, y, z, gz: [gz * _ge(x, y), gz * _lt(x, y)])
_op("minimum", 2, np.minimum, "cg_min({0}, {1})", int_c_expr="({0} < {1} ? {0} : {1})",
    commutative=True, grad=lambda x, y, z, gz: [gz * _le(x, y), gz * _gt(x, y)])
_op("neg", 1, np.negative, "(-{0})", bool_c_expr=None, grad=lambda x, z, gz: [-gz])
_op("abs", 1, np.abs, "fabs{f}({0})", int_c_expr="({0} < 0 ? -{0} : {0})", bool_c_expr="{0}",
    grad=lambda x, z, gz: [gz * _sgn(x)])
_op("sign", 1, _sign, "cg_sign{f}({0})", int_c_expr="(({0} > 0) - ({0} < 0))",
    grad=lambda x, z, gz: [_zero(x, gz)])
_op("sqr", 1, np.square, "({0} * {0})", bool_c_expr="{0}",
    grad=lambda x, z, gz: [gz * _c(2, x) * x])
_op("exp", 1, np.exp, "exp{f}({0})", float32_c_expr="cg_expf({0})", out_rule="float",
    grad=lambda x, z, gz: [gz * z])
_op("exp2", 1, np.exp2, "exp2{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz * z * _c(np.log(2.0), z)])
_op("expm1", 1, np.expm1, "expm1{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz * (z + _c(1, z))])
_op("log", 1, np.log, "log{f}({0})", out_rule="float", grad=lambda x, z, gz: [gz / x],
    domain=(0.1, 5))
_op("log2", 1, np.log2, "log2{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz / (x * _c(np.log(2.0), x))], domain=(0.1, 5))
_op("log10", 1, np.log10, "log10{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz / (x * _c(np.log(10.0), x))], domain=(0.1, 5))
_op("log1p", 1, np.log1p, "log1p{f}({0})", float32_c_expr="cg_log1pf({0})", out_rule="float",
    grad=lambda x, z, gz: [gz / (x + _c(1, x))], domain=(-0.9, 5))
_op("sqrt", 1, np.sqrt, "sqrt{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz * _c(0.5, z) / z], domain=(0.1, 5))
_op("tanh", 1, np.tanh, "cg_tanh({0})", float32_c_expr="tanhf({0})", out_rule="float",
    grad=lambda x, z, gz: [gz * (_c(1, z) - z * z)])
_op("sinh", 1, np.sinh, "sinh{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz * _cosh(x)])
_op("cosh", 1, np.cosh, "cosh{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz * _sinh(x)])
_op("sin", 1, np.sin, "sin{f}({0})", out_rule="float", grad=lambda x, z, gz: [gz * _cos(x)])
_op("cos", 1, np.cos, "cos{f}({0})", out_rule="float", grad=lambda x, z, gz: [-gz * _sin(x)])
_op("tan", 1, np.tan, "tan{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz * (_c(1, z) + z * z)], domain=(-1.2, 1.2))
_op("arcsin", 1, np.arcsin, "asin{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz / _sqrt(_c(1, x) - x * x)], domain=(-0.9, 0.9))
_op("arccos", 1, np.arccos, "acos{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [-gz / _sqrt(_c(1, x) - x * x)], domain=(-0.9, 0.9))
_op("arctan", 1, np.arctan, "atan{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz / (_c(1, x) + x * x)])
_op("arctan2", 2, np.arctan2, "atan2{f}({0}, {1})", out_rule="float",
    grad=lambda y, x, z, gz: [gz * x / (x * x + y * y), -gz * y / (x * x + y * y)],
    domain=((-3, 3), (0.5, 3)))
_op("arcsinh", 1, np.arcsinh, "asinh{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz / _sqrt(x * x + _c(1, x))])
_op("arccosh", 1, np.arccosh, "acosh{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz / _sqrt(x * x - _c(1, x))], domain=(1.1, 5))
_op("arctanh", 1, np.arctanh, "atanh{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz / (_c(1, x) - x * x)], domain=(-0.9, 0.9))
_op("gamma", 1, _special("gamma"), "tgamma{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz * z * _psi(x)], domain=(0.2, 4))
_op("gammaln", 1, _special("gammaln"), "lgamma{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz * _psi(x)], domain=(0.2, 6))
# digamma and trigamma: libm has neither, the runtime computes them in double
_op("psi", 1, _special("psi"), "(({ct})cg_psi({0}))", out_rule="float",
    grad=lambda x, z, gz: [gz * _tri_gamma(x)], domain=(0.2, 6))
_op("tri_gamma", 1, lambda x: _special("polygamma")(1, x), "(({ct})cg_trigamma({0}))",
    out_rule="float", domain=(0.2, 6))   # no gradient (Theano has none either)
_op("erf", 1, _special("erf"), "erf{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz * _c(_SQRT_PI_2, z) * _exp(-x * x)])
_op("erfc", 1, _special("erfc"), "erfc{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [-gz * _c(_SQRT_PI_2, z) * _exp(-x * x)])
_op("erfcx", 1, _special("erfcx"), "(({ct})cg_erfcx({0}))", out_rule="float",
    grad=lambda x, z, gz: [gz * (_c(2, z) * x * z - _c(_SQRT_PI_2, z))],
    domain=(-1, 3))   # below, it grows as 2 exp(x^2): float32 finite differences lose it
# erfinv: libm lacks it, the runtime computes it in double
_op("erfinv", 1, _special("erfinv"), "(({ct})cg_erfinv({0}))", out_rule="float",
    grad=lambda x, z, gz: [gz * _c(np.sqrt(np.pi) / 2, z) * _exp(z * z)], domain=(-0.9, 0.9))
_op("floor", 1, np.floor, "floor{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [_zero(x, gz)], domain=(0.1, 0.9))
_op("ceil", 1, np.ceil, "ceil{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [_zero(x, gz)], domain=(0.1, 0.9))
_op("trunc", 1, np.trunc, "trunc{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [_zero(x, gz)], domain=(0.1, 0.9))
_op("round_half_to_even", 1, _round_half_even, "nearbyint{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [_zero(x, gz)], domain=(0.1, 0.4))
_op("sigmoid", 1, _sigmoid, "cg_sigmoid{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz * z * (_c(1, z) - z)])
_op("softplus", 1, _softplus, "cg_softplus{f}({0})", out_rule="float",
    grad=lambda x, z, gz: [gz * _sigmoid_of(x)])
_op("lt", 2, np.less, "({0} < {1})", out_rule="bool", compute_rule="upcast")
_op("gt", 2, np.greater, "({0} > {1})", out_rule="bool", compute_rule="upcast")
_op("le", 2, np.less_equal, "({0} <= {1})", out_rule="bool", compute_rule="upcast")
_op("ge", 2, np.greater_equal, "({0} >= {1})", out_rule="bool", compute_rule="upcast")
_op("eq", 2, np.equal, "({0} == {1})", out_rule="bool", compute_rule="upcast", commutative=True)
_op("neq", 2, np.not_equal, "({0} != {1})", out_rule="bool", compute_rule="upcast",
    commutative=True)
_op("isnan", 1, np.isnan, "isnan({0})", int_c_expr="((void){0}, 0)", out_rule="bool",
    compute_rule="same")
_op("isinf", 1, np.isinf, "isinf({0})", int_c_expr="((void){0}, 0)", out_rule="bool",
    compute_rule="same")
_op("and_", 2, np.bitwise_and, None, int_c_expr="({0} & {1})", out_rule="int_upcast",
    commutative=True)
_op("or_", 2, np.bitwise_or, None, int_c_expr="({0} | {1})", out_rule="int_upcast",
    commutative=True)
_op("xor", 2, np.bitwise_xor, None, int_c_expr="({0} ^ {1})", out_rule="int_upcast",
    commutative=True)
_op("invert", 1, _invert, None, int_c_expr="(~{0})", bool_c_expr="(!{0})",
    out_rule="int_upcast")
_op("switch", 3, np.where, "({0} ? {1} : {2})", out_rule="switch", compute_rule="switch",
    grad=lambda c, a, b, z, gz: [None, _switch(c, gz, _zero(a, gz)), _switch(c, _zero(b, gz), gz)])
_op("identity", 1, lambda x: x, "{0}", out_rule="same", grad=lambda x, z, gz: [gz])
# The value's elements broadcast against the model's shape; "(void)" reads the model's
# element so the C compiler sees it used. T.second / T.fill (shape_ops) apply it.
_op("second", 2, _second, "((void){0}, {1})", out_rule=lambda dtypes: dtypes[1],
    compute_rule="each", grad=lambda model, value, z, gz: [None, gz])


_CASTS = {}


def cast_op(dtype):
    """The scalar op converting to ``dtype`` (C conversion; bool means "nonzero")."""
    if dtype not in _CASTS:
        _CASTS[dtype] = ScalarOp(f"cast_{dtype}", 1, lambda x: x, "(({ot}){0})",
                                 out_rule=lambda d, dtype=dtype: dtype, compute_rule="each",
                                 grad=lambda x, z, gz: [gz])
    return _CASTS[dtype]


# --- composites: several scalar ops fused into one loop body ----------------------------------

class Composite(ScalarOp):
    """A small DAG of scalar ops evaluated as one, so a chain of elementwise ops becomes one
    loop. ``steps`` lists (scalar op, argument references, output dtype); a reference k <
    ``nin`` is input k, otherwise the result of step k - nin. The last step is the result.
    Built for fixed input dtypes (``in_dtypes``) by the fusion rewrite.
    """

    def __init__(self, steps, in_dtypes):
        self.steps = tuple(steps)
        self.in_dtypes = tuple(in_dtypes)
        self.nin = len(in_dtypes)
        self.out_rule = lambda d: self.steps[-1][2]
        self.compute_rule = "each"
        self.may_fail = any(op.may_fail for op, _, _ in self.steps)
        self.commutative = False
        self.name = "Composite{" + self._describe(len(self.steps) - 1 + self.nin) + "}"

    def _describe(self, ref):
        if ref < self.nin:
            return f"i{ref}"
        op, args, _ = self.steps[ref - self.nin]
        return f"{op.name}({', '.join(self._describe(a) for a in args)})"

    def __reduce__(self):
        return (Composite, (self.steps, self.in_dtypes))

    def _key(self):
        return (self.in_dtypes, tuple((op.name, args, dtype) for op, args, dtype in self.steps))

    def __eq__(self, other):
        return isinstance(other, Composite) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def _dtype_of(self, ref):
        return self.in_dtypes[ref] if ref < self.nin else self.steps[ref - self.nin][2]

    @property
    def temporary_dtypes(self):
        """The dtype of each temporary ``c_body`` declares (every step but the result)."""
        return tuple(dtype for _, _, dtype in self.steps[:-1])

    def c_body(self, args):
        """(statements, result expression) computing the composite from C expressions."""
        names = list(args)
        lines = []
        for j, (op, refs, dtype) in enumerate(self.steps):
            in_dtypes = [self._dtype_of(r) for r in refs]
            compute = op.compute_dtypes(in_dtypes)
            converted = [names[r] if c == d else f"(({C_TYPES[c]}){names[r]})"
                         for r, c, d in zip(refs, compute, in_dtypes)]
            expr = op.c_code(converted, in_dtypes, dtype)
            if j == len(self.steps) - 1:
                return lines, expr
            name = f"t{j}"
            lines.append(f"const {C_TYPES[dtype]} {name} = {expr};")
            names.append(name)
        raise AssertionError("a composite has at least one step")

    def perform(self, inputs, out_dtype):
        values = list(inputs)
        for op, refs, dtype in self.steps:
            values.append(op.perform([values[r] for r in refs], dtype))
        return values[-1].astype(out_dtype, copy=False)
