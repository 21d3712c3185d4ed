"""The scalar operations behind elementwise ops, one table entry each.

An entry gives the op's numpy reference, its C expression, and its dtype rule. The same
entry serves the C backend, the numpy reference mode and (later) the gradient.

C expressions are format strings: ``{0}``, ``{1}``... are the inputs (already converted to
the op's compute type), ``{f}`` is ``f`` when computing in float32 (``expf``) else empty,
``{ct}`` is the compute C type and ``{ot}`` the output C type.
"""
import numpy as np

from .type import C_TYPES, FLOAT_DTYPES, INT_DTYPES

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
    """One scalar function: name, arity, numpy reference, C expression, dtype rules."""

    def __init__(self, name, nin, numpy_fn, c_expr, out_rule="upcast", compute_rule=None,
                 int_c_expr=None, bool_c_expr=None, may_fail=False, commutative=False,
                 c_name=None):
        self.name = name
        self.nin = nin
        self.numpy_fn = numpy_fn
        self.c_expr = c_expr
        self.int_c_expr = int_c_expr or c_expr
        self.bool_c_expr = bool_c_expr or self.int_c_expr
        self.out_rule = out_rule
        self.compute_rule = compute_rule or out_rule
        self.may_fail = may_fail      # the C expression may set the error flag (int div by 0)
        self.commutative = commutative
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
        if ref in FLOAT_DTYPES:
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
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def _softplus(x):
    return np.logaddexp(np.zeros((), x.dtype), x)


def _round_half_even(x):
    return np.round(x) if x.dtype.kind == "f" else x


def _invert(x):
    return np.logical_not(x) if x.dtype == bool else np.invert(x)


def _sign(x):
    return np.sign(x)


# --- the table ---------------------------------------------------------------------------

def _op(*args, **kwargs):
    op = ScalarOp(*args, **kwargs)
    SCALAR_OPS[op.name] = op
    return op


SCALAR_OPS = {}

_op("add", 2, np.add, "({0} + {1})", commutative=True, bool_c_expr="({0} || {1})")
_op("sub", 2, np.subtract, "({0} - {1})")
_op("mul", 2, np.multiply, "({0} * {1})", commutative=True, bool_c_expr="({0} && {1})")
_op("true_div", 2, np.true_divide, "({0} / {1})", out_rule="float")
_op("floor_div", 2, _int_checked(np.floor_divide), "cg_floordiv{f}({0}, {1})",
    int_c_expr="(({ct})cg_floordiv_i64((int64_t){0}, (int64_t){1}, &cg_bad))", may_fail=True)
_op("mod", 2, _int_checked(np.mod), "cg_fmod{f}({0}, {1})",
    int_c_expr="(({ct})cg_mod_i64((int64_t){0}, (int64_t){1}, &cg_bad))", may_fail=True)
_op("pow", 2, _int_pow, "pow{f}({0}, {1})",
    int_c_expr="(({ct})cg_ipow((int64_t){0}, (int64_t){1}, &cg_bad))", may_fail=True)
_op("maximum", 2, np.maximum, "cg_max({0}, {1})", int_c_expr="({0} > {1} ? {0} : {1})",
    commutative=True)
_op("minimum", 2, np.minimum, "cg_min({0}, {1})", int_c_expr="({0} < {1} ? {0} : {1})",
    commutative=True)
_op("neg", 1, np.negative, "(-{0})", bool_c_expr=None)
_op("abs", 1, np.abs, "fabs{f}({0})", int_c_expr="({0} < 0 ? -{0} : {0})", bool_c_expr="{0}")
_op("sign", 1, _sign, "cg_sign{f}({0})", int_c_expr="(({0} > 0) - ({0} < 0))")
_op("sqr", 1, np.square, "({0} * {0})", bool_c_expr="{0}")
_op("exp", 1, np.exp, "exp{f}({0})", out_rule="float")
_op("exp2", 1, np.exp2, "exp2{f}({0})", out_rule="float")
_op("expm1", 1, np.expm1, "expm1{f}({0})", out_rule="float")
_op("log", 1, np.log, "log{f}({0})", out_rule="float")
_op("log2", 1, np.log2, "log2{f}({0})", out_rule="float")
_op("log10", 1, np.log10, "log10{f}({0})", out_rule="float")
_op("log1p", 1, np.log1p, "log1p{f}({0})", out_rule="float")
_op("sqrt", 1, np.sqrt, "sqrt{f}({0})", out_rule="float")
_op("tanh", 1, np.tanh, "tanh{f}({0})", out_rule="float")
_op("sinh", 1, np.sinh, "sinh{f}({0})", out_rule="float")
_op("cosh", 1, np.cosh, "cosh{f}({0})", out_rule="float")
_op("sin", 1, np.sin, "sin{f}({0})", out_rule="float")
_op("cos", 1, np.cos, "cos{f}({0})", out_rule="float")
_op("tan", 1, np.tan, "tan{f}({0})", out_rule="float")
_op("arcsin", 1, np.arcsin, "asin{f}({0})", out_rule="float")
_op("arccos", 1, np.arccos, "acos{f}({0})", out_rule="float")
_op("arctan", 1, np.arctan, "atan{f}({0})", out_rule="float")
_op("arctan2", 2, np.arctan2, "atan2{f}({0}, {1})", out_rule="float")
_op("arcsinh", 1, np.arcsinh, "asinh{f}({0})", out_rule="float")
_op("arccosh", 1, np.arccosh, "acosh{f}({0})", out_rule="float")
_op("arctanh", 1, np.arctanh, "atanh{f}({0})", out_rule="float")
_op("gamma", 1, _special("gamma"), "tgamma{f}({0})", out_rule="float")
_op("gammaln", 1, _special("gammaln"), "lgamma{f}({0})", out_rule="float")
_op("erf", 1, _special("erf"), "erf{f}({0})", out_rule="float")
_op("erfc", 1, _special("erfc"), "erfc{f}({0})", out_rule="float")
_op("floor", 1, np.floor, "floor{f}({0})", out_rule="float")
_op("ceil", 1, np.ceil, "ceil{f}({0})", out_rule="float")
_op("trunc", 1, np.trunc, "trunc{f}({0})", out_rule="float")
_op("round_half_to_even", 1, _round_half_even, "nearbyint{f}({0})", out_rule="float")
_op("sigmoid", 1, _sigmoid, "cg_sigmoid{f}({0})", out_rule="float")
_op("softplus", 1, _softplus, "cg_softplus{f}({0})", out_rule="float")
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
_op("switch", 3, np.where, "({0} ? {1} : {2})", out_rule="switch", compute_rule="switch")
_op("identity", 1, lambda x: x, "{0}", out_rule="same")


_CASTS = {}


def cast_op(dtype):
    """The scalar op converting to ``dtype`` (C conversion; bool means "nonzero")."""
    if dtype not in _CASTS:
        _CASTS[dtype] = ScalarOp(f"cast_{dtype}", 1, lambda x: x, "(({ot}){0})",
                                 out_rule=lambda d, dtype=dtype: dtype, compute_rule="each")
    return _CASTS[dtype]


# --- gradients -----------------------------------------------------------------------------
# Each entry maps (inputs, output, output gradient) to one gradient per input, as symbolic
# expressions over the same ops; None means the input does not influence the output through a
# differentiable path (comparisons, integer results).

def _T():
    from . import basic
    return basic


def _c(value, like):
    """A constant of ``like``'s float dtype, so gradients of float32 graphs stay float32."""
    from .var import constant
    return constant(value, dtype=like.dtype if like.dtype in FLOAT_DTYPES else None)


def _zero(x, gz):
    return gz * _c(0.0, gz)


GRADS = {
    "add": lambda x, y, z, gz: [gz, gz],
    "sub": lambda x, y, z, gz: [gz, -gz],
    "mul": lambda x, y, z, gz: [gz * y, gz * x],
    "true_div": lambda x, y, z, gz: [gz / y, -gz * z / y],
    "floor_div": lambda x, y, z, gz: [_zero(x, gz), _zero(y, gz)],
    "mod": lambda x, y, z, gz: [gz, -gz * _T().floor_div(x, y)],
    "pow": lambda x, y, z, gz: [gz * y * x ** (y - _c(1, y)),
                                gz * z * _T().log(_T().switch(_T().gt(x, _c(0, x)), x, _c(1, x)))],
    "maximum": lambda x, y, z, gz: [gz * _T().ge(x, y), gz * _T().lt(x, y)],
    "minimum": lambda x, y, z, gz: [gz * _T().le(x, y), gz * _T().gt(x, y)],
    "neg": lambda x, z, gz: [-gz],
    "abs": lambda x, z, gz: [gz * _T().sign(x)],
    "sign": lambda x, z, gz: [_zero(x, gz)],
    "floor": lambda x, z, gz: [_zero(x, gz)],
    "ceil": lambda x, z, gz: [_zero(x, gz)],
    "trunc": lambda x, z, gz: [_zero(x, gz)],
    "round_half_to_even": lambda x, z, gz: [_zero(x, gz)],
    "sqr": lambda x, z, gz: [gz * _c(2, x) * x],
    "exp": lambda x, z, gz: [gz * z],
    "exp2": lambda x, z, gz: [gz * z * _c(np.log(2.0), z)],
    "expm1": lambda x, z, gz: [gz * (z + _c(1, z))],
    "log": lambda x, z, gz: [gz / x],
    "log2": lambda x, z, gz: [gz / (x * _c(np.log(2.0), x))],
    "log10": lambda x, z, gz: [gz / (x * _c(np.log(10.0), x))],
    "log1p": lambda x, z, gz: [gz / (x + _c(1, x))],
    "sqrt": lambda x, z, gz: [gz * _c(0.5, z) / z],
    "tanh": lambda x, z, gz: [gz * (_c(1, z) - z * z)],
    "sinh": lambda x, z, gz: [gz * _T().cosh(x)],
    "cosh": lambda x, z, gz: [gz * _T().sinh(x)],
    "sin": lambda x, z, gz: [gz * _T().cos(x)],
    "cos": lambda x, z, gz: [-gz * _T().sin(x)],
    "tan": lambda x, z, gz: [gz * (_c(1, z) + z * z)],
    "arcsin": lambda x, z, gz: [gz / _T().sqrt(_c(1, x) - x * x)],
    "arccos": lambda x, z, gz: [-gz / _T().sqrt(_c(1, x) - x * x)],
    "arctan": lambda x, z, gz: [gz / (_c(1, x) + x * x)],
    "arctan2": lambda y, x, z, gz: [gz * x / (x * x + y * y), -gz * y / (x * x + y * y)],
    "arcsinh": lambda x, z, gz: [gz / _T().sqrt(x * x + _c(1, x))],
    "arccosh": lambda x, z, gz: [gz / _T().sqrt(x * x - _c(1, x))],
    "arctanh": lambda x, z, gz: [gz / (_c(1, x) - x * x)],
    "erf": lambda x, z, gz: [gz * _c(2 / np.sqrt(np.pi), z) * _T().exp(-x * x)],
    "erfc": lambda x, z, gz: [-gz * _c(2 / np.sqrt(np.pi), z) * _T().exp(-x * x)],
    "sigmoid": lambda x, z, gz: [gz * z * (_c(1, z) - z)],
    "softplus": lambda x, z, gz: [gz * _T().sigmoid(x)],
    "switch": lambda c, a, b, z, gz: [None, _T().switch(c, gz, _zero(a, gz)),
                                      _T().switch(c, _zero(b, gz), gz)],
    "identity": lambda x, z, gz: [gz],
    "second": lambda model, value, z, gz: [None, gz],
}


def scalar_grad(scalar_op, inputs, output, gz):
    """Gradients of ``scalar_op`` applied elementwise (None for non-differentiable inputs).

    Ops with integer or boolean results (comparisons, logic) never get here: gradients do
    not flow through such values. A float op without a rule raises rather than pretending
    its gradient is zero.
    """
    if scalar_op.name.startswith("cast_"):
        return [gz]
    rule = GRADS.get(scalar_op.name)
    if rule is None:
        raise NotImplementedError(f"the gradient of {scalar_op.name} is not implemented")
    return rule(*inputs, output, gz)


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
