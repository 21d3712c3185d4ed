"""Tensor variables: operator overloading and methods, as on Theano's tensor variables."""
import numbers

import numpy as np

from ..config import config
from ..graph.basic import Constant, Variable, eval_compiler
from .type import MAX_NDIM, TensorType, resolve_dtype


class _Operations:
    """The functions tensor variables' operators and methods call (``x + y`` calls ``add``,
    ``x[i]`` ``getitem``). The modules that define them import this one, so each registers
    its own when it is imported (register_operations), as numpy's and JAX's array types
    find their methods in tables filled by the modules above them."""

    def __getattr__(self, name):
        module = OPERATION_MODULES.get(name)
        if module is None:
            raise AttributeError(name)
        raise RuntimeError(f"tensor variables' {name!r} is registered by cgraph.tensor.{module}, "
                           f"which is not imported yet: import cgraph.tensor first")


_ops = _Operations()

# every name the operators and methods call, and the module that registers it
OPERATION_MODULES = {
    **dict.fromkeys([
        "add", "sub", "mul", "true_div", "floor_div", "mod", "pow", "neg", "abs_", "invert",
        "and_", "or_", "xor", "lt", "le", "gt", "ge", "sqr", "identity", "maximum", "minimum",
        "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "tanh", "sinh",
        "cosh", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "arcsinh",
        "arccosh", "arctanh", "floor", "ceil", "trunc", "sign", "isnan", "isinf", "cast",
        "clip", "transpose", "dimshuffle", "squeeze"], "math_ops"),
    **dict.fromkeys(["sum", "mean", "prod", "max", "min", "argmax", "argmin", "var", "std",
                     "all", "any"], "reduction"),
    "shape": "shape_queries",
    **dict.fromkeys(["reshape", "flatten", "stack", "get_vector_length"], "shape_ops"),
    "dot": "tensordot",
    "getitem": "subtensor",
    **dict.fromkeys(["sort", "argsort"], "sort"),
    **dict.fromkeys(["cumsum", "cumprod", "repeat"], "extra_ops"),
    **dict.fromkeys(["nonzero", "nonzero_values"], "nonzero_ops"),
}


def register_operations(module: str, namespace: dict) -> None:
    """Make the functions of ``namespace`` (the globals of ``module``, a module named in
    OPERATION_MODULES) the ones tensor variables' operators and methods call; each such
    module calls this at the end of its import."""
    short = module.rpartition(".")[2]
    names = [name for name, owner in OPERATION_MODULES.items() if owner == short]
    if not names:
        raise ValueError(f"{module} registers no operation of tensor variables")
    vars(_ops).update({name: namespace[name] for name in names})


class _TensorOperators:
    """Operators and methods shared by tensor variables, constants and shared variables."""

    dtype = property(lambda self: self.type.dtype)
    ndim = property(lambda self: self.type.ndim)
    broadcastable = property(lambda self: self.type.broadcastable)

    # arithmetic (numpy broadcasting and type promotion)
    def __add__(self, other): return _ops.add(self, other)
    def __radd__(self, other): return _ops.add(other, self)
    def __sub__(self, other): return _ops.sub(self, other)
    def __rsub__(self, other): return _ops.sub(other, self)
    def __mul__(self, other): return _ops.mul(self, other)
    def __rmul__(self, other): return _ops.mul(other, self)
    def __truediv__(self, other): return _ops.true_div(self, other)
    def __rtruediv__(self, other): return _ops.true_div(other, self)
    def __floordiv__(self, other): return _ops.floor_div(self, other)
    def __rfloordiv__(self, other): return _ops.floor_div(other, self)
    def __mod__(self, other): return _ops.mod(self, other)
    def __rmod__(self, other): return _ops.mod(other, self)
    def __pow__(self, other): return _ops.pow(self, other)
    def __rpow__(self, other): return _ops.pow(other, self)
    def __matmul__(self, other): return _ops.dot(self, other)
    def __rmatmul__(self, other): return _ops.dot(other, self)
    def __neg__(self): return _ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _ops.abs_(self)
    def __invert__(self): return _ops.invert(self)
    def __and__(self, other): return _ops.and_(self, other)
    def __rand__(self, other): return _ops.and_(other, self)
    def __or__(self, other): return _ops.or_(self, other)
    def __ror__(self, other): return _ops.or_(other, self)
    def __xor__(self, other): return _ops.xor(self, other)
    def __rxor__(self, other): return _ops.xor(other, self)
    def __lt__(self, other): return _comparison(_ops.lt(self, other))
    def __le__(self, other): return _comparison(_ops.le(self, other))
    def __gt__(self, other): return _comparison(_ops.gt(self, other))
    def __ge__(self, other): return _comparison(_ops.ge(self, other))
    __hash__ = Variable.__hash__

    __array_priority__ = 1000

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """numpy hands its ufuncs on variables to the graph: ``ndarray + W`` and
        ``np.exp(W)`` are TensorVariables (not object arrays), as with Theano's variables.
        Ufuncs without a graph counterpart, reductions (``np.add.reduce``) and ``out=``
        are refused by numpy with a TypeError; ``ndarray == W`` compares W with each element
        by identity (all False), as numpy did with Theano's variables (use T.eq)."""
        if method == "__call__" and not kwargs and ufunc.__name__ in ("equal", "not_equal"):
            # numpy's answer for a Python object: compared with == (identity) elementwise
            return ufunc(*[_as_object_array(x) for x in inputs])
        name = _NUMPY_UFUNCS.get(ufunc.__name__, ufunc.__name__)
        if method != "__call__" or kwargs or name not in _UFUNC_NAMES:
            return NotImplemented
        result = getattr(_ops, name)(*inputs)
        return _comparison(result) if name in ("lt", "le", "gt", "ge") else result

    # As in Theano, ``if W:`` is true for any variable; only a comparison result refuses to
    # be a bool, so that ``a < b < c`` (Python's ``(a < b) and (b < c)``) fails loudly.
    _is_nonzero = True

    def __bool__(self):
        if self._is_nonzero:
            return True
        raise TypeError("Variables do not support boolean operations.")

    def __iter__(self):
        """Iterate over a vector whose length is known when the graph is built, such as
        ``x.shape`` (so ``n, m = x.shape`` works); anything else is not iterable."""
        try:
            length = _ops.get_vector_length(self)
        except (TypeError, ValueError):
            raise TypeError("TensorVariable is not iterable: its length is not known when the "
                            "graph is built. Index it with x[i] instead.") from None
        return iter([self[i] for i in range(length)])

    def __len__(self):
        raise TypeError("len() of a symbolic tensor is not known when the graph is built; "
                        "use x.shape[0].")

    # attributes
    T = property(lambda self: _ops.transpose(self))
    shape = property(lambda self: _ops.shape(self))
    size = property(lambda self: _ops.prod(self.shape))

    def transpose(self, *axes):
        return _ops.transpose(self, axes[0] if len(axes) == 1 and not isinstance(axes[0], int)
                              else (axes or None))

    def dimshuffle(self, *pattern):
        if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
            pattern = pattern[0]
        return _ops.dimshuffle(self, pattern)

    def reshape(self, shape, ndim=None):
        return _ops.reshape(self, shape, ndim=ndim)

    def flatten(self, ndim=1, outdim=None):
        return _ops.flatten(self, outdim if outdim is not None else ndim)

    def astype(self, dtype):
        return _ops.cast(self, dtype)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    def dot(self, other): return _ops.dot(self, other)
    def sum(self, axis=None, dtype=None, keepdims=False): return _ops.sum(self, axis, dtype, keepdims)
    def mean(self, axis=None, dtype=None, keepdims=False): return _ops.mean(self, axis, dtype, keepdims)
    def prod(self, axis=None, dtype=None, keepdims=False): return _ops.prod(self, axis, dtype, keepdims)
    def max(self, axis=None, keepdims=False): return _ops.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return _ops.min(self, axis, keepdims)
    def argmax(self, axis=None, keepdims=False): return _ops.argmax(self, axis, keepdims)
    def argmin(self, axis=None, keepdims=False): return _ops.argmin(self, axis, keepdims)
    def var(self, axis=None, ddof=0, keepdims=False): return _ops.var(self, axis, ddof, keepdims)
    def std(self, axis=None, ddof=0, keepdims=False): return _ops.std(self, axis, ddof, keepdims)
    def all(self, axis=None, keepdims=False): return _ops.all(self, axis, keepdims)
    def any(self, axis=None, keepdims=False): return _ops.any(self, axis, keepdims)
    def clip(self, a_min, a_max): return _ops.clip(self, a_min, a_max)
    def exp(self): return _ops.exp(self)
    def log(self): return _ops.log(self)
    def sqrt(self): return _ops.sqrt(self)

    # extra_ops and sorting, as methods (Theano's names)
    def sort(self, axis=-1, kind="quicksort", order=None): return _ops.sort(self, axis, kind, order)
    def argsort(self, axis=-1, kind="quicksort", order=None): return _ops.argsort(self, axis, kind, order)
    def cumsum(self, axis=None): return _ops.cumsum(self, axis)
    def cumprod(self, axis=None): return _ops.cumprod(self, axis)
    def repeat(self, repeats, axis=None): return _ops.repeat(self, repeats, axis)
    def squeeze(self): return _ops.squeeze(self)
    def nonzero(self, return_matrix=False): return _ops.nonzero(self, return_matrix)
    def nonzero_values(self): return _ops.nonzero_values(self)

    def eval(self, inputs_to_values=None):
        """Compile (once per set of inputs) and evaluate this variable."""
        function = eval_compiler()
        inputs_to_values = inputs_to_values or {}
        inputs = sorted(inputs_to_values, key=lambda v: v.id)
        cache = self.__dict__.setdefault("_eval_cache", {})
        key = tuple(inputs)
        if key not in cache:
            cache[key] = function(inputs, self)
        return cache[key](*[inputs_to_values[v] for v in inputs])


class TensorVariable(_TensorOperators, Variable):
    """A symbolic tensor."""


TensorType.variable_type = TensorVariable   # what TensorType('x') makes (type.py is below)


class TensorConstant(_TensorOperators, Constant):
    """A tensor whose value is fixed in the graph."""

    def __repr__(self):
        if self.name:
            return self.name
        if self.data.size <= 4:
            text = np.array2string(self.data, separator=",").replace("\n", "")
            return f"{text}" if self.data.ndim == 0 else f"Constant{{{text}}}"
        return f"Constant{{{self.data.dtype}, shape={self.data.shape}}}"


# numpy's ufunc names where the T namespace says it otherwise
_NUMPY_UFUNCS = {"subtract": "sub", "multiply": "mul", "true_divide": "true_div",
                 "divide": "true_div", "floor_divide": "floor_div", "remainder": "mod",
                 "power": "pow", "negative": "neg", "absolute": "abs_", "matmul": "dot",
                 "less": "lt", "less_equal": "le", "greater": "gt", "greater_equal": "ge",
                 "bitwise_and": "and_", "bitwise_or": "or_", "bitwise_xor": "xor",
                 "square": "sqr", "positive": "identity"}
_UFUNC_NAMES = frozenset([
    "add", "sub", "mul", "true_div", "floor_div", "mod", "pow", "neg", "abs_", "dot", "lt",
    "le", "gt", "ge", "and_", "or_", "xor", "invert", "sqr", "identity", "maximum", "minimum",
    "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "tanh", "sinh", "cosh",
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "arcsinh", "arccosh",
    "arctanh", "floor", "ceil", "trunc", "sign", "isnan", "isinf"])


def _as_object_array(x):
    if isinstance(x, Variable):
        holder = np.empty((), dtype=object)
        holder[()] = x
        return holder
    return np.asarray(x, dtype=object)


def _comparison(result):
    result._is_nonzero = False
    return result


def constant(value, name=None, ndim=None, dtype=None):
    """A TensorConstant holding ``value``.

    Python floats take dtype floatX and Python ints the smallest integer dtype that holds them
    (as in Theano), so ``fvector * 2`` stays float32.
    """
    if dtype is not None:
        data = np.asarray(value, dtype=resolve_dtype(dtype))
    else:
        data = _autocast(value)
    if ndim is not None:
        if data.ndim > ndim:
            raise ValueError(f"constant {value!r} has more than {ndim} dimensions")
        data = data.reshape((1,) * (ndim - data.ndim) + data.shape)
    resolve_dtype(data.dtype)  # refuses unsupported dtypes
    data = np.array(data, order="C", copy=True)
    data.setflags(write=False)
    ttype = TensorType(data.dtype, tuple(s == 1 for s in data.shape))
    return TensorConstant(ttype, data, name=name)


def _autocast(value):
    if isinstance(value, bool) or isinstance(value, np.bool_):
        return np.asarray(value, dtype=bool)
    if isinstance(value, numbers.Integral) and not isinstance(value, np.integer):
        for dtype in ("int8", "int16", "int32", "int64"):
            if np.iinfo(dtype).min <= value <= np.iinfo(dtype).max:
                return np.asarray(value, dtype=dtype)
        raise OverflowError(f"integer constant {value} does not fit in int64")
    if isinstance(value, float):
        return np.asarray(value, dtype=config.floatX)
    arr = np.asarray(value)
    if arr.dtype == object:
        raise TypeError(f"cannot make a tensor constant of {value!r}")
    if arr.dtype.kind == "f" and not isinstance(value, np.ndarray) and not isinstance(value, np.generic):
        arr = arr.astype(config.floatX)   # nested lists of Python floats
    elif arr.dtype.kind in "iu" and not isinstance(value, (np.ndarray, np.generic)):
        arr = arr.astype("int64")
    return arr


def as_tensor_variable(x, name=None, ndim=None, dtype=None):
    """``x`` if it is already a tensor variable, else a constant of its value."""
    if isinstance(x, Variable):
        if not isinstance(x.type, TensorType):
            raise TypeError(f"{x!r} is not a tensor variable (type {x.type})")
        if ndim is not None and x.ndim != ndim:
            raise TypeError(f"{x!r} has {x.ndim} dimensions, expected {ndim}")
        return x
    if isinstance(x, (list, tuple)) and any(isinstance(e, Variable) for e in x):
        return _ops.stack([as_tensor_variable(e) for e in x])
    return constant(x, name=name, ndim=ndim, dtype=dtype)


def tensor_constant_value(var):
    """The numpy value of ``var`` if it is a constant, else None."""
    return var.data if isinstance(var, Constant) else None
