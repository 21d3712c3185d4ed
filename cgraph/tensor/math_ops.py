"""The elementwise T functions: one per row of the scalar-op table (add, exp, eq...),
plus cast, clip, round and the axis permutations (dimshuffle, transpose, swapaxes, squeeze).

They sit below the other op families (reduction, shape_ops, blas, subtensor), which build
their graphs and gradients with them; cgraph.tensor.basic re-exports them with those
families as one namespace.
"""
from .elemwise import DimShuffle, Elemwise
from .scalar_ops import SCALAR_OPS, cast_op
from .type import resolve_dtype
from .var import as_tensor_variable, constant, register_operations as _register_operations

_ELEMWISE = {name: Elemwise(op) for name, op in SCALAR_OPS.items()}


def _elemwise(name):
    op = _ELEMWISE[name]

    def apply(*inputs):
        return op(*inputs)
    apply.__name__ = name
    apply.__doc__ = f"Elementwise {name}, with numpy broadcasting."
    return apply


add = _elemwise("add")
sub = _elemwise("sub")
mul = _elemwise("mul")
true_div = _elemwise("true_div")
floor_div = int_div = _elemwise("floor_div")
mod = _elemwise("mod")
pow = _elemwise("pow")
maximum = _elemwise("maximum")
minimum = _elemwise("minimum")
neg = _elemwise("neg")
abs_ = abs = _elemwise("abs")
sgn = sign = _elemwise("sign")
sqr = _elemwise("sqr")
exp = _elemwise("exp")
exp2 = _elemwise("exp2")
expm1 = _elemwise("expm1")
log = _elemwise("log")
log2 = _elemwise("log2")
log10 = _elemwise("log10")
log1p = _elemwise("log1p")
sqrt = _elemwise("sqrt")
tanh = _elemwise("tanh")
sinh = _elemwise("sinh")
cosh = _elemwise("cosh")
sin = _elemwise("sin")
cos = _elemwise("cos")
tan = _elemwise("tan")
arcsin = _elemwise("arcsin")
arccos = _elemwise("arccos")
arctan = _elemwise("arctan")
arctan2 = _elemwise("arctan2")
arcsinh = _elemwise("arcsinh")
arccosh = _elemwise("arccosh")
arctanh = _elemwise("arctanh")
gamma = _elemwise("gamma")
gammaln = _elemwise("gammaln")
erf = _elemwise("erf")
erfc = _elemwise("erfc")
floor = _elemwise("floor")
ceil = _elemwise("ceil")
trunc = _elemwise("trunc")
sigmoid = _elemwise("sigmoid")
softplus = _elemwise("softplus")
lt = less = _elemwise("lt")
gt = greater = _elemwise("gt")
le = less_equal = _elemwise("le")
ge = greater_equal = _elemwise("ge")
eq = equal = _elemwise("eq")
neq = not_equal = _elemwise("neq")
isnan = _elemwise("isnan")
isinf = _elemwise("isinf")
and_ = bitwise_and = _elemwise("and_")
or_ = bitwise_or = _elemwise("or_")
xor = bitwise_xor = _elemwise("xor")
invert = bitwise_not = _elemwise("invert")
switch = where = _elemwise("switch")
identity = _elemwise("identity")
# every other row of the scalar-op table is the T function of its name (psi, tri_gamma...)
globals().update({name: _elemwise(name) for name in SCALAR_OPS
                  if name not in globals() and name not in ("round_half_to_even", "second")})


def round(x, mode="half_to_even"):
    """Round to the nearest integer, halves to even (numpy's rule)."""
    if mode not in ("half_to_even", None):
        raise NotImplementedError(f"round mode {mode!r} is not supported; use 'half_to_even'")
    return _ELEMWISE["round_half_to_even"](x)


round_half_to_even = round


def cast(x, dtype):
    """``x`` converted to ``dtype`` ('floatX' means config.floatX)."""
    x = as_tensor_variable(x)
    dtype = resolve_dtype(dtype)
    if x.dtype == dtype:
        return x
    return Elemwise(cast_op(dtype))(x)


def inv(x):
    """1 / x elementwise (Theano's ``T.inv``; integers give floats, as ``1 / x`` does)."""
    return true_div(1, x)


def clip(x, a_min, a_max):
    """``x`` limited to [a_min, a_max] elementwise."""
    return minimum(maximum(x, a_min), a_max)


def iround(x, mode="half_to_even"):
    """Round to the nearest integer and return int64."""
    return cast(round(x, mode), "int64")


def largest(*args):
    """The elementwise maximum of any number of tensors."""
    result = args[0]
    for a in args[1:]:
        result = maximum(result, a)
    return result


def smallest(*args):
    """The elementwise minimum of any number of tensors."""
    result = args[0]
    for a in args[1:]:
        result = minimum(result, a)
    return result


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """numpy's isclose: |a - b| <= atol + rtol * |b| (infinities equal only to themselves)."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    close = le(abs_(a - b), atol + rtol * abs_(b))
    close = or_(close, and_(eq(a, b), and_(isinf(a), isinf(b))))
    if equal_nan:
        close = or_(close, and_(isnan(a), isnan(b)))
    return close


def deg2rad(x):
    return x * (3.141592653589793 / 180.0)


def rad2deg(x):
    return x * (180.0 / 3.141592653589793)


def swapaxes(y, axis1, axis2):
    """``y`` with two axes exchanged (a view)."""
    y = as_tensor_variable(y)
    order = list(range(y.ndim))
    order[axis1], order[axis2] = order[axis2], order[axis1]
    return dimshuffle(y, order)


def squeeze(x, axis=None):
    """``x`` without its broadcastable (length-1) axes, or only ``axis`` among them."""
    x = as_tensor_variable(x)
    axes = [d for d, b in enumerate(x.broadcastable) if b] if axis is None else \
        [a % x.ndim for a in (axis if isinstance(axis, (list, tuple)) else [axis])]
    for a in axes:
        if not x.broadcastable[a]:
            raise ValueError(f"squeeze: axis {a} of {x!r} is not broadcastable (length 1)")
    return dimshuffle(x, [d for d in range(x.ndim) if d not in axes])


as_tensor = as_tensor_variable


def dimshuffle(x, pattern):
    x = as_tensor_variable(x)
    return DimShuffle(x.broadcastable, pattern)(x)


def transpose(x, axes=None):
    """Reverse the axes (or permute them as ``axes`` says); a view."""
    x = as_tensor_variable(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    return dimshuffle(x, tuple(axes))


def second(model, value):
    """An array shaped like ``model`` (broadcast with ``value``) holding ``value``; value's
    dtype."""
    return Elemwise(SCALAR_OPS["second"])(model, value)


fill = second


def zeros_like(model, dtype=None, opt=False):
    """Zeros with ``model``'s shape; dtype of ``model`` unless given."""
    model = as_tensor_variable(model)
    return fill(model, constant(0, dtype=dtype or model.dtype))


def ones_like(model, dtype=None, opt=False):
    """Ones with ``model``'s shape; dtype of ``model`` unless given."""
    model = as_tensor_variable(model)
    return fill(model, constant(1, dtype=dtype or model.dtype))


_register_operations(__name__, globals())   # x + y, x.T, x.astype()... (var.py)
