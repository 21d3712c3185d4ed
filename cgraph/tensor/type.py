"""TensorType: a dtype and a broadcastable pattern; converting user values to it."""
import numpy as np

from ..config import config

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8")
FLOAT_DTYPES = ("float16", "float32", "float64")
# float16 is a storage dtype, as Theano's on the CPU: variables, shared values and the numpy
# reference (mode="py") take it; the C backend refuses a graph holding it (no C type for it
# in the generated code), with a message saying to cast to float32 (see compile/function.py).
C_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64")
C_TYPES = {
    "bool": "bool", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t",
    "int64": "int64_t", "uint8": "uint8_t", "float32": "float", "float64": "double",
}
MAX_NDIM = 8


def resolve_dtype(dtype):
    """A dtype name from a name, 'floatX', a numpy dtype or a Python type."""
    if dtype is None or dtype == "floatX":
        return config.floatX
    name = np.dtype(dtype).name
    if name not in DTYPES:
        raise TypeError(f"cgraph does not support dtype {name!r}; supported: {', '.join(DTYPES)}")
    return name


def is_float(dtype):
    return dtype in FLOAT_DTYPES


def is_int(dtype):
    return dtype in INT_DTYPES


def shape_str(shape):
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


class TensorType:
    """The type of a tensor variable: ``dtype`` and one broadcastable flag per dimension.

    A broadcastable dimension always has length 1, so it broadcasts against any length.
    """

    def __init__(self, dtype, broadcastable, name=None):
        self.name = name   # shown by repr, as Theano's; not part of the type's identity
        self.dtype = resolve_dtype(dtype)
        self.np_dtype = np.dtype(self.dtype)
        self.broadcastable = tuple(bool(b) for b in broadcastable)
        if len(self.broadcastable) > MAX_NDIM:
            raise ValueError(f"cgraph supports at most {MAX_NDIM} dimensions, "
                             f"got {len(self.broadcastable)}")

    # the class of the variables __call__ makes: TensorVariable, set by cgraph.tensor.var
    # (which imports this module)
    variable_type = None

    ndim = property(lambda self: len(self.broadcastable))
    ctype = property(lambda self: C_TYPES[self.dtype])

    def __eq__(self, other):
        return (type(self) is type(other) and self.dtype == other.dtype
                and self.broadcastable == other.broadcastable)

    def __hash__(self):
        return hash((self.dtype, self.broadcastable))

    def __repr__(self):
        if self.name:
            return self.name
        kinds = {0: "scalar", 1: "vector", 2: "matrix"}
        shape = kinds.get(self.ndim, f"{self.ndim}d")
        if any(self.broadcastable):
            shape = shape_str(tuple(1 if b else "?" for b in self.broadcastable))
        return f"TensorType({self.dtype}, {shape})"

    def __call__(self, name=None):
        """Make a new input variable of this type: ``T.dmatrix('x')``."""
        return self.variable_type(self, name=name)

    def with_broadcastable(self, broadcastable):
        return TensorType(self.dtype, broadcastable)

    def filter(self, value, strict=False, allow_downcast=None, name="value"):
        """Convert ``value`` to an ndarray of this type, or raise TypeError naming ``name``.

        Rules (as Theano's): an ndarray of the right dtype passes unchanged; with ``strict``
        nothing else does; otherwise a value is cast if that loses no information, or if
        ``allow_downcast`` is True, or (``allow_downcast`` None) if it is a Python float and
        this type's dtype is floatX.
        """
        if type(value) is np.ndarray and value.dtype == self.np_dtype:
            arr = value
        elif strict:
            raise TypeError(f"{name}: expected a numpy.ndarray of dtype {self.dtype} "
                            f"(strict=True), got {_describe(value)}")
        else:
            arr = self._convert(value, allow_downcast, name)
        if arr.ndim != self.ndim:
            raise TypeError(f"{name}: wrong number of dimensions: expected {self.ndim}, "
                            f"got {arr.ndim} with shape {shape_str(arr.shape)}")
        for axis, bcast in enumerate(self.broadcastable):
            if bcast and arr.shape[axis] != 1:
                raise ValueError(f"{name}: dimension {axis} is broadcastable (length 1) "
                                 f"but the value has shape {shape_str(arr.shape)}")
        return arr

    def _convert(self, value, allow_downcast, name):
        if isinstance(value, np.ndarray) or np.isscalar(value) and isinstance(value, np.generic):
            arr = np.asarray(value)
            src = arr.dtype
        else:
            try:
                arr = np.asarray(value)
            except Exception as exc:  # ragged lists and the like
                raise TypeError(f"{name}: cannot convert {_describe(value)} to an array: {exc}")
            src = None  # a Python scalar or list: judged by its values
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name}: expected a numeric value for {self}, got {_describe(value)}")
        if allow_downcast:
            return _cast(arr, self.dtype, name)
        if src is not None:
            if np.can_cast(src, self.dtype, casting="safe"):
                return _cast(arr, self.dtype, name)
            raise TypeError(
                f"{name}: {self} cannot store a value of dtype {src.name} without risking loss "
                f"of precision. If you do not mind this loss, you can: 1) explicitly cast your "
                f"data to {self.dtype}, or 2) set \"allow_input_downcast=True\" when calling "
                f"\"function\".")
        # Python scalars and lists: accept when every value survives the conversion.
        converted = _cast(arr, self.dtype, name)
        python_float = isinstance(value, float) or arr.dtype.kind == "f"
        if allow_downcast is None and python_float and self.dtype == config.floatX \
                and is_float(self.dtype):
            return converted
        with np.errstate(all="ignore"):
            same = np.array_equal(converted.astype(arr.dtype), arr, equal_nan=arr.dtype.kind == "f")
        if arr.dtype.kind == "f" and is_int(self.dtype):
            same = False
        if not same:
            raise TypeError(
                f"{name}: {self} cannot store accurately the value {value!r}. If you do not "
                f"mind this precision loss, you can: 1) explicitly convert your data to a "
                f"numpy array of dtype {self.dtype}, or 2) set \"allow_input_downcast=True\" "
                f"when calling \"function\".")
        return converted


def _cast(arr, dtype, name):
    with np.errstate(all="ignore"):
        return np.asarray(arr, dtype=dtype)


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {shape_str(value.shape)}"
    return f"{type(value).__name__} {value!r}"[:120]
