"""Shared variables: graph inputs whose value lives outside any function call."""
import itertools
import numbers
import os
import threading
import weakref

import numpy as np

from ..graph.basic import Variable
from ..tensor.type import TensorType, resolve_dtype, shape_str
from ..tensor.var import TensorVariable


_lock_order = itertools.count()   # the global order in which calls take containers' locks
_containers = weakref.WeakSet()   # every live Container, to free their locks after a fork


class Container:
    """The one storage cell of a shared variable; every function reads it at call time.

    ``lock`` makes calls atomic with respect to the variable: a call holds the locks of every
    container it reads or updates, from reading the values until the updates are written,
    taking them in the order of ``order`` (the same for every caller, so two functions
    sharing variables never deadlock). It is reentrant, and waiting on it releases the GIL.
    """

    __slots__ = ("value", "lock", "order", "__weakref__")

    def __init__(self, value):
        self.value = value
        self.lock = threading.RLock()
        self.order = next(_lock_order)
        _containers.add(self)

    def __reduce__(self):      # a lock does not pickle: a copy gets a lock of its own
        return (Container, (self.value,))


def _free_locks_after_fork():
    """In a child forked while another thread was inside a call, that thread does not exist:
    its locks would never be released. The child starts with every lock free (the same
    objects, which compiled functions hold)."""
    for container in list(_containers):
        container.lock._at_fork_reinit()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_free_locks_after_fork)


def call_locks(containers):
    """The locks a call on ``containers`` takes, without repeats, in the global order."""
    unique = {id(c): c for c in containers}
    return [c.lock for c in sorted(unique.values(), key=lambda c: c.order)]


def acquire_all(locks):
    """Take ``locks`` in order; on an interruption while waiting, give back those taken."""
    for k, lock in enumerate(locks):
        try:
            lock.acquire()
        except BaseException:
            release_all(locks[:k])
            raise


def release_all(locks):
    for lock in reversed(locks):
        lock.release()


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

    def get_value(self, borrow: bool = False, return_internal_type: bool = False) -> np.ndarray:
        """The current value; a copy unless ``borrow``.

        As in Theano, an array obtained with ``borrow=True`` (or given to ``shared`` or
        ``set_value`` with ``borrow=True``) may be overwritten by later calls: a compiled
        function writes an update into the shared value's own buffer when it can (see
        cgraph/compile/inplace.py). ``get_value()`` returns a copy, never changed."""
        with self.container.lock:      # never a copy of a half-written update
            value = self.container.value
            return value if borrow else value.copy()

    def set_value(self, new_value: "np.ndarray | numbers.Number", borrow: bool = False) -> None:
        """Replace the value (converted by the variable's dtype rules; copied unless borrow)."""
        value = self.type.filter(new_value, strict=self.strict,
                                 allow_downcast=self.allow_downcast,
                                 name=f"shared variable {self!r}")
        if not borrow or not value.flags.c_contiguous:
            value = np.array(value, copy=True, order="C")
        with self.container.lock:      # not in the middle of a call that updates it
            self.container.value = value

    def zero(self, borrow: bool = False) -> None:
        self.set_value(np.zeros_like(self.container.value), borrow=True)

    @property
    def value(self):
        raise AttributeError("sharedvar.value does not exist. Use sharedvar.get_value() or "
                             "sharedvar.set_value() instead.")

    def clone(self) -> "SharedVariable":
        other = SharedVariable(self.type, None, self.name, self.strict, self.allow_downcast)
        other.container = self.container
        other.default_update = self.default_update
        return other

    def __repr__(self):
        return self.name if self.name else f"<shared {self.type}>"


def shared(value: "np.ndarray | numbers.Number | bool", name: "str | None" = None,
           strict: bool = False, allow_downcast: "bool | None" = None, borrow: bool = False,
           broadcastable: "tuple[bool, ...] | None" = None) -> "SharedVariable":
    """A shared variable holding ``value``.

    The dtype is the value's own (Python floats are float64 and ints int64, as in Theano;
    floatX does not apply). No dimension is broadcastable unless ``broadcastable`` says so,
    since the value's shape may change later.
    """
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
