"""``cgraph.scalar``: the names Theano programs take from ``theano.scalar``.

Theano has scalar variables of their own; cgraph's scalars are 0-d tensors, so the scalar
types here (``float32``, ``int64``, ...) are 0-d ``TensorType``s: ``float32('x')`` makes a
0-d float32 variable, and ``.dtype`` is what programs read from them.
"""
import numpy as np

from .config import config
from .tensor.type import DTYPES, FLOAT_DTYPES, INT_DTYPES, TensorType


def upcast(dtype: str, *dtypes: str) -> str:
    """The dtype of an operation on values of these dtypes, as Theano's ``scalar.upcast``:
    numpy's promotion, except that a float64 result becomes float32 when floatX is float32
    and none of the dtypes is float64 itself (int32 with float32 stays float32)."""
    names = [np.dtype(d).name for d in (dtype, *dtypes)]
    result = np.result_type(*names).name
    if result == "float64" and config.floatX == "float32" and "float64" not in names:
        return "float32"
    return result


_SCALAR_TYPES = {name: TensorType(name, ()) for name in DTYPES}
bool = _SCALAR_TYPES["bool"]  # noqa: A001  (Theano's name)
int8, int16, int32, int64 = (_SCALAR_TYPES[d] for d in ("int8", "int16", "int32", "int64"))
uint8 = _SCALAR_TYPES["uint8"]
float32, float64 = _SCALAR_TYPES["float32"], _SCALAR_TYPES["float64"]
int_types = tuple(_SCALAR_TYPES[d] for d in INT_DTYPES if d.startswith("int"))
uint_types = (uint8,)
float_types = continuous_types = tuple(_SCALAR_TYPES[d] for d in FLOAT_DTYPES)
discrete_types = (bool,) + int_types + uint_types
all_types = discrete_types + continuous_types


def get_scalar_type(dtype: str) -> TensorType:
    """The scalar (0-d) type of ``dtype``."""
    return _SCALAR_TYPES[np.dtype(dtype).name if dtype != "floatX" else config.floatX]
