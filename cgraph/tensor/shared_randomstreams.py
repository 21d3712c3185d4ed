"""``RandomStreams``: random variables for cgraph graphs, as Theano's
``theano.tensor.shared_randomstreams.RandomStreams``, on a counter-based generator.

Every draw (``srng.uniform(...)``, ``srng.normal(...)``...) gets a stream of its own: a
shared int64 vector ``[key, counter]`` whose ``default_update`` is the state after the draw,
so each call of a function using the draw gives new numbers (unless the function is compiled
with ``no_default_updates=True``). The key of draw ``k`` is derived from the seed and ``k``,
so the same seed and the same sequence of calls give the same numbers, in C and in the numpy
reference mode alike; ``seed(n)`` resets every stream made so far.

``StreamsBase`` implements the distributions on two primitives, standard uniforms and
standard normals of a symbolic shape; ``sandbox.rng_mrg.MRG_RandomStreams`` reuses it with
Theano's MRG31k3p generator.
"""

import numpy as np

from ..compile.sharedvalue import SharedVariable, shared
from ..config import config
from ..graph.basic import Variable
from . import random as rnd
from .basic import cast, maximum
from .reduction import max as reduce_max, prod
from .scalar_ops import upcast
from .shape_ops import alloc, as_shape_vector, reshape, shape_entries, shape_i
from .shape_queries import is_python_int
from .type import FLOAT_DTYPES, resolve_dtype
from .var import as_tensor_variable, constant

_MASK64 = (1 << 64) - 1


def _splitmix64(x):
    """SplitMix64's output function: a well-mixed 64-bit value from any 64-bit value."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def stream_key(seed, index):
    """The Philox key of the ``index``-th draw of a RandomStreams seeded with ``seed``."""
    return _splitmix64(_splitmix64(int(seed) & _MASK64) ^ int(index))


def initial_state(seed, index):
    """A stream's state vector ``[key, counter = 0]`` (the key's bits as an int64)."""
    key = np.array([stream_key(seed, index)], dtype=np.uint64).view(np.int64)[0]
    return np.array([key, 0], dtype=np.int64)




class StreamsBase:
    """The distributions, written on ``self._standard(distribution, size_vector, ndim,
    dtype, size_hint)``, which returns standard uniforms in [0, 1) (or (0, 1)) or standard
    normals of the given symbolic shape and registers their stream's update."""

    def __init__(self):
        self.state_updates = []

    def updates(self) -> "list[tuple[SharedVariable, Variable]]":
        """The (state, new state) pairs of every draw made so far."""
        return [u[:2] for u in self.state_updates]

    def __getitem__(self, item):
        """The state value of a draw's stream (``srng[sample.rng]``)."""
        return item.get_value(borrow=True)

    def __setitem__(self, item, value):
        item.set_value(value, borrow=True)

    def _register(self, state, new_state, sample, extra=()):
        state.default_update = new_state
        sample.rng = state
        sample.update = (state, new_state)
        self.state_updates.append((state, new_state) + tuple(extra))
        return sample

    # --- sizes ---------------------------------------------------------------------

    def _size(self, size, ndim, params=(), what="size"):
        """``(size vector, ndim)`` from the user's size (None: the parameters' broadcast
        shape), as Theano's ``_infer_ndim_bcast``."""
        params = [as_tensor_variable(p) for p in params]
        params_ndim = max((p.ndim for p in params), default=0)
        if size is None:
            if ndim is not None and ndim != params_ndim:
                raise ValueError(f"ndim={ndim} but the parameters have {params_ndim} "
                                 f"dimensions and no size was given")
            return _broadcast_shape(params, params_ndim), params_ndim
        if isinstance(size, (list, tuple)):
            for s in size:
                if is_python_int(s) and s < 0:
                    raise ValueError(f"{what} {tuple(size)!r} contains a negative dimension")
                if not is_python_int(s) and not isinstance(s, Variable):
                    raise TypeError(f"{what} entries must be ints or symbolic integer scalars, "
                                    f"got {s!r} in {size!r}")
        elif is_python_int(size) and size < 0:
            raise ValueError(f"{what} {size!r} is negative")
        vector = as_shape_vector(size, what)
        entries = shape_entries(vector)
        if entries is None:
            if ndim is None:
                raise TypeError(f"the length of {what} {vector!r} is not known when the graph "
                                f"is built: pass ndim=")
        elif ndim is None:
            ndim = len(entries)
        elif ndim != len(entries):
            raise ValueError(f"ndim should be equal to len(shape), but ndim = {ndim}, "
                             f"len(shape) = {len(entries)}, shape = {size!r}")
        if params_ndim > ndim:
            raise ValueError(f"ndim should be at least as big as required by args value "
                             f"({ndim} < {params_ndim})")
        return vector, ndim

    def _float_dtype(self, dtype, *params):
        if dtype is None:
            dtype = upcast(config.floatX, *[as_tensor_variable(p).dtype for p in params])
        dtype = resolve_dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"this distribution gives floats: dtype must be float32 or float64, "
                            f"got {dtype}")
        return dtype

    # --- distributions ---------------------------------------------------------------

    def uniform(self, size: object = None, low=0.0, high=1.0, ndim: "int | None" = None,
                dtype: "str | None" = None, **kwargs) -> Variable:
        """Uniform samples in [low, high) of shape ``size`` (default: the broadcast shape of
        low and high); dtype default: upcast of floatX, low and high."""
        dtype = self._float_dtype(dtype, low, high)
        vector, ndim = self._size(size, ndim, (low, high))
        u = self._standard("uniform", vector, ndim, dtype, size, **kwargs)
        return _affine(u, low, high, "uniform", dtype)

    def normal(self, size: object = None, avg=0.0, std=1.0, ndim: "int | None" = None,
               dtype: "str | None" = None, **kwargs) -> Variable:
        """Normal samples of mean ``avg`` and standard deviation ``std``."""
        dtype = self._float_dtype(dtype, avg, std)
        vector, ndim = self._size(size, ndim, (avg, std))
        z = self._standard("normal", vector, ndim, dtype, size, **kwargs)
        return _affine(z, avg, std, "normal", dtype)

    def binomial(self, size: object = None, n=1, p=0.5, ndim: "int | None" = None,
                 dtype: str = "int64", prob=None, **kwargs) -> Variable:
        """Binomial counts of ``n`` trials of probability ``p`` (n and p broadcast to the
        sample's shape). ``n < 0`` or ``p`` outside [0, 1] raise ValueError when called."""
        if prob is not None:
            p = prob
        vector, ndim = self._size(size, ndim, (n, p))
        if is_python_int(n):
            trials = max(int(n), 0)
        else:
            n = as_tensor_variable(n)
            trials = maximum(reduce_max(cast(n, "int64")), np.int64(0))
        # a float32 p (floatX=float32: an RBM's sigmoid) is compared with float32 uniforms, as
        # Theano's MRG binomial draws floatX ones: half the bits to generate and no casts
        p = as_tensor_variable(p)
        u_dtype = "float32" if p.dtype == "float32" else "float64"
        u = self._standard("uniform", _append(vector, ndim, trials), ndim + 1, u_dtype,
                           None, **kwargs)
        return rnd.BinomialFromUniform(dtype, ndim)(u, n, p)

    def random_integers(self, size: object = None, low=0, high=1, ndim: "int | None" = None,
                        dtype: str = "int64", **kwargs) -> Variable:
        """Integers uniform in [low, high], both included."""
        vector, ndim = self._size(size, ndim, (low, high))
        u = self._standard("uniform", vector, ndim, "float64", size, **kwargs)
        return rnd.IntegersFromUniform(dtype, ndim)(u, low, high)

    def permutation(self, size: object = None, n=1, ndim: "int | None" = None,
                    dtype: str = "int64", **kwargs) -> Variable:
        """Permutations of ``range(n)``: shape ``size + (n,)`` (one permutation, shape
        ``(n,)``, when size is None or ())."""
        if size is None or (isinstance(size, (list, tuple)) and len(size) == 0):
            if ndim not in (None, 1):
                raise TypeError("You asked for just one permutation but asked for more then 1 "
                                "dimensions.")
            vector, ndim = self._size((), None)
        else:
            vector, ndim = self._size(size, ndim)
        n = _int_scalar(n, "permutation: n")
        u = self._standard("uniform", _append(vector, ndim, n), ndim + 1, "float64", None,
                           **kwargs)
        return rnd.PermutationFromUniform(dtype, ndim + 1)(u, n)

    def choice(self, size: object = 1, a=2, replace=True, p=None, ndim: "int | None" = None,
               dtype: str = "int64", **kwargs) -> Variable:
        """Samples of shape ``size`` from ``range(a)`` (``a`` an int or a scalar) or from the
        entries of the vector ``a``, with probabilities ``p`` (a vector; uniform if None),
        with or without replacement (numpy's ``choice``)."""
        vector, ndim = self._size(size, ndim)
        pool = None if is_python_int(a) else as_tensor_variable(a)
        if pool is not None and pool.ndim > 1:
            raise ValueError(f"a.ndim ({pool.ndim}) must be 0 or 1")
        population = _int_scalar(a, "choice: a") if pool is None or pool.ndim == 0 \
            else shape_i(pool, 0)
        count = prod(vector, dtype="int64")
        if p is None:
            if replace:
                u = self._standard("uniform", vector, ndim, "float64", size, **kwargs)
                idx = rnd.IntegersFromUniform("int64", ndim)(u, 0, population - 1)
            else:
                u = self._standard("uniform", _append(_empty(), 0, count), 1, "float64", None,
                                   **kwargs)
                idx = reshape(rnd.PermutationFromUniform("int64", 1)(u, population), vector,
                              ndim=ndim)
        else:
            p = as_tensor_variable(p)
            if p.ndim != 1:
                raise ValueError(f"p.ndim ({p.ndim}) must be 1")
            u = self._standard("uniform", _append(_empty(), 0, count), 1, "float64", None,
                               **kwargs)
            rows = rnd.ChoiceFromUniform("int64", replace)(p.dimshuffle("x", 0), u, count)
            idx = reshape(rows, vector, ndim=ndim)
        if pool is not None and pool.ndim == 1:
            return cast(pool[idx], dtype)
        return cast(idx, dtype)

    def multinomial(self, size: object = None, n=1, pvals=None, ndim: "int | None" = None,
                    dtype: str = "int64", **kwargs) -> Variable:
        """Counts of ``n`` draws (an int or a scalar) from the categorical distributions along
        the last axis of ``pvals``: shape ``size + (k,)``, size defaulting to
        ``pvals.shape[:-1]``."""
        pvals = as_tensor_variable([0.5, 0.5] if pvals is None else pvals)
        if pvals.ndim < 1:
            raise ValueError("pvals must have at least 1 dimension (the outcomes)")
        if size is None:
            if ndim not in (None, pvals.ndim - 1):
                raise ValueError(f"ndim={ndim} but pvals has {pvals.ndim} dimensions")
            ndim = pvals.ndim - 1
            entries = [1 if pvals.broadcastable[d] else shape_i(pvals, d) for d in range(ndim)]
            vector = as_shape_vector(entries, "size") if ndim else _empty()
        else:
            vector, ndim = self._size(size, ndim)
            if pvals.ndim - 1 > ndim:
                raise ValueError(f"pvals.ndim-1 ({pvals.ndim - 1}) should not be larger than "
                                 f"len(size) ({ndim})")
        if not is_python_int(n):
            n = as_tensor_variable(n)
            if n.ndim != 0:
                raise NotImplementedError("multinomial: n must be a scalar (the same number of "
                                          "draws for every distribution)")
        elif n < 0:
            raise ValueError(f"multinomial: n < 0 ({n})")
        outcomes = shape_i(pvals, -1)
        known = shape_entries(vector)
        lead = [known[d] if known and known[d] is not None else vector[d] for d in range(ndim)]
        rows = prod(vector, dtype="int64")
        table = reshape(alloc(pvals, *(lead + [outcomes])), [rows, outcomes])
        u = self._standard("uniform", _append(_empty(), 0, rows * n), 1, "float64", None,
                           **kwargs)
        counts = rnd.MultinomialFromUniform(dtype)(table, u, n)
        return reshape(counts, lead + [outcomes])


class RandomStreams(StreamsBase):
    """Random variables on Philox4x32-10 streams, one per draw, seeded from ``seed``
    (None: from the operating system's entropy)."""

    def __init__(self, seed: "int | None" = None):
        super().__init__()
        self.default_instance_seed = seed
        self._seed = self._pick_seed(seed)

    @staticmethod
    def _pick_seed(seed):
        if seed is None:
            return int(np.random.SeedSequence().entropy) & _MASK64
        if not is_python_int(seed):
            raise TypeError(f"seed must be an int or None, got {seed!r}")
        return int(seed)

    def seed(self, seed: "int | None" = None) -> None:
        """Re-initialise every stream made so far from ``seed`` (None: the constructor's
        seed), as a new RandomStreams(seed) making the same draws would."""
        self._seed = self._pick_seed(self.default_instance_seed if seed is None else seed)
        for index, (state, _) in enumerate(self.state_updates):
            state.set_value(initial_state(self._seed, index), borrow=True)

    def _standard(self, distribution, vector, ndim, dtype, size_hint=None):
        index = len(self.state_updates)
        state = shared(initial_state(self._seed, index), name=f"philox_state_{index}")
        new_state, sample = rnd.PhiloxRandom(distribution, dtype, ndim)(state, vector)
        return self._register(state, new_state, sample)


# --- graph helpers ------------------------------------------------------------------------

def _empty():
    return constant(np.zeros(0, dtype=np.int64))


def _append(vector, ndim, entry):
    """The size vector ``vector`` (length ``ndim``) with ``entry`` appended."""
    known = shape_entries(vector)
    lead = [known[d] if known and known[d] is not None else vector[d] for d in range(ndim)]
    return as_shape_vector(lead + [entry], "size")


def _int_scalar(value, what):
    if is_python_int(value):
        return constant(int(value), dtype="int64")
    value = as_tensor_variable(value)
    if value.ndim != 0 or value.dtype not in ("int8", "int16", "int32", "int64", "uint8"):
        raise TypeError(f"{what} must be an integer scalar, got {value!r} of type {value.type}")
    return value


def _broadcast_shape(params, ndim):
    """The int64 size vector of the broadcast of ``params`` (padded to ``ndim``)."""
    if ndim == 0:
        return _empty()
    entries = []
    for d in range(ndim):
        entry = None
        for p in params:
            k = d - (ndim - p.ndim)
            if k < 0 or p.broadcastable[k]:
                continue
            length = shape_i(p, k)
            entry = length if entry is None else maximum(entry, length)
        entries.append(1 if entry is None else entry)
    return as_shape_vector(entries, "size")


def _is_default(value, default):
    return isinstance(value, float) and value == default and not isinstance(value, bool)


def _affine(sample, first, second, kind, dtype):
    """uniform: ``sample * (high - low) + low``; normal: ``sample * std + avg``; cast to
    ``dtype``. The defaults (0, 1) leave the sample as it is (bitwise the same values)."""
    if _is_default(first, 0.0) and _is_default(second, 1.0):
        return sample
    first = cast(as_tensor_variable(first), dtype)
    second = cast(as_tensor_variable(second), dtype)
    scale = second - first if kind == "uniform" else second
    result = sample * scale + first
    if result.broadcastable != sample.broadcastable:
        raise NotImplementedError("Increase the size to match the broadcasting pattern of "
                                  "`low` and `high` arguments")
    return cast(result, dtype)
