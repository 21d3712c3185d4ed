"""Variable constructors: ``scalar``, ``matrix``, typed names such as ``dmatrix``, plurals."""
from collections.abc import Sequence

from ..config import config
from .type import TensorType
from .var import TensorVariable

__all__ = ["scalar", "vector", "matrix", "row", "col", "tensor3", "tensor4", "tensor5",
           "tensor6", "tensor7", "tensor", "scalars", "vectors", "matrices", "tensor3s",
           "tensor4s"]

_RANKS = {"scalar": (), "vector": (False,), "matrix": (False, False), "row": (True, False),
          "col": (False, True), "tensor3": (False,) * 3, "tensor4": (False,) * 4,
          "tensor5": (False,) * 5, "tensor6": (False,) * 6, "tensor7": (False,) * 7}
# Theano's prefixes: b int8, w int16, i int32, l int64, f float32, d float64; plus ub uint8
# and "bool" spelled out as a prefix-free name would clash, so bool tensors use tensor().
_PREFIXES = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32",
             "d": "float64", "ub": "uint8"}


def _maker(bcast):
    def make(name: "str | None" = None, dtype: "str | None" = None) -> "TensorVariable":
        return TensorType(dtype or config.floatX, bcast)(name)
    return make


def _plural(single):
    """Theano's plural constructors: ``matrices(3)`` makes three unnamed variables,
    ``matrices('x', 'y')`` two named ones; a single string is split into one-letter names
    (``p, t = matrices('pt')``), and a single one-letter string gives one variable."""
    def make(*names: "str | int", dtype: "str | None" = None
             ) -> "TensorVariable | list[TensorVariable]":
        if len(names) == 1 and isinstance(names[0], int):
            return [single(dtype=dtype) for _ in range(names[0])]
        if len(names) == 1 and isinstance(names[0], str):
            names = names[0]
            if len(names) == 1:
                return single(names, dtype=dtype)
        return [single(n, dtype=dtype) for n in names]
    return make


for _kind, _bcast in _RANKS.items():
    globals()[_kind] = _maker(_bcast)
    for _prefix, _dtype in _PREFIXES.items():
        globals()[_prefix + _kind] = TensorType(_dtype, _bcast)
        __all__.append(_prefix + _kind)

# Theano's plurals: one per rank, plain (floatX) and with each dtype prefix (fmatrices, ...)
_PLURALS = {"scalar": "scalars", "vector": "vectors", "matrix": "matrices", "row": "rows",
            "col": "cols", "tensor3": "tensor3s", "tensor4": "tensor4s", "tensor5": "tensor5s",
            "tensor6": "tensor6s", "tensor7": "tensor7s"}
for _single, _kind in _PLURALS.items():
    globals()[_kind] = _plural(globals()[_single])
    if _kind not in __all__:
        __all__.append(_kind)
    for _prefix, _dtype in _PREFIXES.items():
        _type = globals()[_prefix + _single]
        globals()[_prefix + _kind] = _plural(lambda name=None, dtype=None, t=_type: t(name))
        __all__.append(_prefix + _kind)


def tensor(dtype: "str | None" = None, broadcastable: "Sequence[bool] | None" = None,
           name: "str | None" = None, shape: "Sequence[int | None] | None" = None
           ) -> "TensorVariable":
    """A variable of any rank: ``tensor('float32', (False, True))`` or ``tensor(shape=(None, 1))``."""
    if broadcastable is None:
        if shape is None:
            raise TypeError("tensor() needs broadcastable=... or shape=...")
        broadcastable = tuple(s == 1 for s in shape)
    return TensorType(dtype or config.floatX, broadcastable)(name)
