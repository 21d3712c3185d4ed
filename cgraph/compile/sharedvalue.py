"""Shared variables: graph inputs whose value lives outside any function call."""
import numbers

import numpy as np

from ..tensor.type import TensorType, resolve_dtype, shape_str
from ..tensor.var import TensorVariable


class Container:
    """The one storage cell of a shared variable; every function reads it at call time."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class SharedVariable(TensorVariable):
    """A tensor variable with a value of its own, used by any number of functions.

    Functions read the current value when called (no copy) and replace it with the new
    value of an update after the call.
    """

    def __init__(self, type, value, name=None, strict=False, allow_downcast=None):
        super().__init__(type, name=name)
        self.strict = strict
        self.allow_downcast = allow_downcast
        self.container = Container(value)
        self.default_update = None

    def get_value(self, borrow=False, return_internal_type=False):
        """The current value; a copy unless ``borrow``.

        As in Theano, an array obtained with ``borrow=True`` (or given to ``shared`` or
        ``set_value`` with ``borrow=True``) may be overwritten by later calls: a compiled
        function writes an update into the shared value's own buffer when it can (see
        cgraph/rewrite/inplace.py). ``get_value()`` returns a copy, never changed."""
        value = self.container.value
        return value if borrow else value.copy()

    def set_value(self, new_value, borrow=False):
        """Replace the value (converted by the variable's dtype rules; copied unless borrow)."""
        value = self.type.filter(new_value, strict=self.strict,
                                 allow_downcast=self.allow_downcast,
                                 name=f"shared variable {self!r}")
        if not borrow or not value.flags.c_contiguous:
            value = np.array(value, copy=True, order="C")
        self.container.value = value

    def zero(self, borrow=False):
        self.set_value(np.zeros_like(self.container.value), borrow=True)

    @property
    def value(self):
        raise AttributeError("sharedvar.value does not exist. Use sharedvar.get_value() or "
                             "sharedvar.set_value() instead.")

    def clone(self):
        other = SharedVariable(self.type, None, self.name, self.strict, self.allow_downcast)
        other.container = self.container
        other.default_update = self.default_update
        return other

    def __repr__(self):
        return self.name if self.name else f"<shared {self.type}>"


def shared(value, name=None, strict=False, allow_downcast=None, borrow=False,
           broadcastable=None):
    """A shared variable holding ``value``.

    The dtype is the value's own (Python floats are float64 and ints int64, as in Theano;
    floatX does not apply). No dimension is broadcastable unless ``broadcastable`` says so,
    since the value's shape may change later.
    """
    from ..graph.basic import Variable
    if isinstance(value, Variable):
        raise TypeError("Shared variable constructor needs numeric values and not symbolic "
                        "variables.")
    if isinstance(value, bool):
        arr = np.asarray(value, dtype=bool)
    elif isinstance(value, numbers.Integral) and not isinstance(value, np.integer):
        arr = np.asarray(value, dtype="int64")
    elif isinstance(value, float):
        arr = np.asarray(value, dtype="float64")
    else:
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"shared(): cannot make a tensor shared variable from a value of "
                            f"type {type(value).__name__} (dtype {arr.dtype}); give a numpy "
                            f"array or a number")
    dtype = resolve_dtype(arr.dtype)
    if broadcastable is None:
        broadcastable = (False,) * arr.ndim
    if len(broadcastable) != arr.ndim:
        raise ValueError(f"shared(): broadcastable has {len(broadcastable)} entries but the "
                         f"value has {arr.ndim} dimensions")
    for axis, b in enumerate(broadcastable):
        if b and arr.shape[axis] != 1:
            raise ValueError(f"shared(): axis {axis} is declared broadcastable but the value "
                             f"has shape {shape_str(arr.shape)}")
    stored = arr if (borrow and isinstance(value, np.ndarray) and arr.flags.c_contiguous) \
        else np.array(arr, dtype=dtype, copy=True, order="C")
    return SharedVariable(TensorType(dtype, broadcastable), stored, name=name, strict=strict,
                          allow_downcast=allow_downcast)
