"""``MRG_RandomStreams``: Theano's MRG31k3p streams, reproducing Theano 1.0.5's numbers.

The generator state of a draw is an (nstreams, 6) int32 matrix: row 0 is the object's
current state ``rstate`` and row i + 1 is row i jumped ahead 2**72 steps; after each draw
``rstate`` itself jumps 2**134 steps, so every draw has its own, non-overlapping streams.
Sample i of a draw comes from stream i % nstreams, and ``nstreams`` is guessed from the size
as Theano does (``guess_n_streams``), so the same seed, sizes and calls give Theano's numbers
exactly. ``uniform``, ``normal`` (Box-Muller, built as Theano's graph), ``binomial`` with
n=1, ``multinomial`` and ``choice`` (without replacement, ``a=None``) follow Theano; the rest
of the interface (``random_integers``, ``permutation``, binomial with n > 1, choice from
``a``) is the one RandomStreams offers, on MRG uniforms.
"""
import warnings

import numpy as np

from ..compile.sharedvalue import shared
from ..config import config
from ..graph.basic import Variable
from ..tensor import basic as T
from ..tensor import random as rnd
from ..tensor.basic import cast
from ..tensor.reduction import prod
from ..tensor.scalar_ops import upcast
from ..tensor.shape_ops import MakeVector, as_shape_vector, join, reshape
from ..tensor.shape_queries import is_python_int
from ..tensor.shared_randomstreams import StreamsBase
from ..tensor.var import as_tensor_variable, constant

M1 = rnd.MRG_M1
M2 = rnd.MRG_M2

# the one-step transition matrices of the two components (L'Ecuyer and Touzin 2000)
_A1 = [[0, 4194304, 129], [1, 0, 0], [0, 1, 0]]
_A2 = [[32768, 0, 32769], [1, 0, 0], [0, 1, 0]]


def _matmul_mod(a, b, m):
    """(a @ b) mod m for 3x3 int64 arrays with entries below 2**31 (products fit int64)."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    return (((a[:, :, None] * b[None, :, :]) % m).sum(axis=1)) % m


def _jump_matrix(a, log2_steps, m):
    """a ** (2 ** log2_steps) mod m, by repeated squaring."""
    result = np.asarray(a, dtype=np.int64)
    for _ in range(log2_steps):
        result = _matmul_mod(result, result, m)
    return result


A1p72, A2p72 = _jump_matrix(_A1, 72, M1), _jump_matrix(_A2, 72, M2)
A1p134, A2p134 = _jump_matrix(_A1, 134, M1), _jump_matrix(_A2, 134, M2)


def _apply(matrix, states, m):
    """``matrix @ state mod m`` for each row of ``states`` ((k, 3) int64)."""
    return (((states[:, None, :] * matrix[None, :, :]) % m).sum(axis=2)) % m


def jump(rstate, first, second):
    """The 6-vector ``rstate`` with each component advanced by its jump matrix."""
    rstate = np.asarray(rstate, dtype=np.int64).reshape(1, 6)
    out = np.concatenate([_apply(first, rstate[:, :3], M1), _apply(second, rstate[:, 3:], M2)],
                         axis=1)
    return out[0].astype(np.int32)


def substream_states(rstate, nstreams):
    """The (nstreams, 6) int32 matrix whose row i is ``rstate`` jumped i * 2**72 steps.

    Rows are filled by doubling: rows [k, 2k) are rows [0, k) jumped k * 2**72 steps.
    """
    out = np.zeros((nstreams, 6), dtype=np.int64)
    out[0] = rstate
    first, second = A1p72, A2p72          # jump by filled * 2**72 steps
    filled = 1
    while filled < nstreams:
        take = min(filled, nstreams - filled)
        out[filled:filled + take, :3] = _apply(first, out[:take, :3], M1)
        out[filled:filled + take, 3:] = _apply(second, out[:take, 3:], M2)
        filled += take
        first, second = _matmul_mod(first, first, M1), _matmul_mod(second, second, M2)
    return out.astype(np.int32)


def guess_n_streams(size, warn=False):
    """Theano's guess: the number of samples // 6 (when over 6), at most 60 * 256, if
    ``size`` is a tuple or list of Python ints; else 60 * 256."""
    if isinstance(size, (tuple, list)) and all(isinstance(i, int) for i in size):
        r = 1
        for s in size:
            r *= s
        if r > 6:
            r = r // 6
        return min(r, 60 * 256)
    if warn:
        warnings.warn(f"MRG_RandomStreams Can't determine #streams from size ({size}), "
                      f"guessing 60*256", stacklevel=3)
    return 60 * 256




def _check_size(size):
    """Theano's ``_check_size``: a size (int, tuple/list of ints and scalars, or int vector)
    as a 1-d int64 variable."""
    if isinstance(size, Variable):
        size = as_tensor_variable(size)
        if size.ndim == 1:
            return as_shape_vector(size, "size")
        if size.ndim == 0:
            return MakeVector("int64")(size)
        raise ValueError("cgraph variable must have 1 dimension to be a valid size.", size)
    if is_python_int(size):
        return as_shape_vector([int(size)], "size")
    if not isinstance(size, (tuple, list)):
        raise ValueError("Size must be a int, tuple, list or cgraph variable.", size)
    for i in size:
        if isinstance(i, Variable):
            if i.ndim != 0:
                raise ValueError("Non-scalar cgraph variable in size", size, i)
        elif is_python_int(i):
            if i <= 0:
                raise ValueError("Non-positive dimensions not allowed in size.", size, i)
        else:
            raise ValueError("Only cgraph variables and integers are allowed in a size-tuple.",
                             size, i)
    return as_shape_vector(list(size), "size")


class MRG_RandomStreams(StreamsBase):
    """Random variables on MRG31k3p streams, as Theano's ``MRG_RandomStreams``.

    ``seed``: an int (0 < seed < M2, replicated 6 times) or 6 ints (the first three below
    M1 and not all 0, the last three below M2 and not all 0).
    """

    def __init__(self, seed=12345):
        super().__init__()
        self.default_instance_seed = seed
        self.set_rstate(seed)

    def set_rstate(self, seed):
        if is_python_int(seed):
            if seed == 0:
                raise ValueError("seed should not be 0", seed)
            if seed >= M2:
                raise ValueError(f"seed should be less than {M2}", seed)
            self.rstate = np.asarray([seed] * 6, dtype="int32")
        elif len(seed) == 6:
            if seed[0] == 0 and seed[1] == 0 and seed[2] == 0:
                raise ValueError("The first 3 values of seed should not be all 0", seed)
            if seed[3] == 0 and seed[4] == 0 and seed[5] == 0:
                raise ValueError("The last 3 values of seed should not be all 0", seed)
            if seed[0] >= M1 or seed[1] >= M1 or seed[2] >= M1:
                raise ValueError(f"The first 3 values of seed should be less than {M1}", seed)
            if seed[3] >= M2 or seed[4] >= M2 or seed[5] >= M2:
                raise ValueError(f"The last 3 values of seed should be less than {M2}", seed)
            self.rstate = np.asarray(seed, dtype="int32")
        else:
            raise TypeError("seed should be 1 integer or 6 integers")

    def seed(self, seed=None):
        """Re-initialise every stream made so far from ``seed`` (None: the constructor's)."""
        self.set_rstate(self.default_instance_seed if seed is None else seed)
        for state, _, size, nstreams in self.state_updates:
            if nstreams is None:
                nstreams = self.n_streams(size)
            state.set_value(self.get_substream_rstates(nstreams, "float64"), borrow=True)

    def inc_rstate(self):
        """Jump ``rstate`` 2**134 steps ahead, to the start of the next draw's streams."""
        self.rstate = jump(self.rstate, A1p134, A2p134)

    def get_substream_rstates(self, n_streams, dtype=None, inc_rstate=True):
        """(n_streams, 6) int32 states spaced 2**72 steps apart, from ``rstate``."""
        if not 0 < n_streams < 2 ** 72:
            raise ValueError(f"n_streams must be positive, got {n_streams}")
        states = substream_states(self.rstate, int(n_streams))
        if inc_rstate:
            self.inc_rstate()
        return states

    def n_streams(self, size):
        return guess_n_streams(size)

    def _standard(self, distribution, vector, ndim, dtype, size_hint=None, nstreams=None):
        if distribution != "uniform":
            raise AssertionError("MRG streams draw uniforms only")
        orig_nstreams = nstreams
        if nstreams is None:
            nstreams = self.n_streams(size_hint)
        state = shared(self.get_substream_rstates(nstreams, dtype))
        new_state, sample = rnd.MRGUniform(dtype, ndim)(state, vector)
        return self._register(state, new_state, sample, (size_hint, orig_nstreams))

    # --- Theano's MRG distributions --------------------------------------------------

    def uniform(self, size, low=0.0, high=1.0, ndim=None, dtype=None, nstreams=None):
        """Uniforms in (low, high); ``size`` (required) is a tuple of ints and scalars or an
        int vector, with no constant entry <= 0."""
        defaults = _is_default(low, 0.0) and _is_default(high, 1.0)
        low, high = as_tensor_variable(low), as_tensor_variable(high)
        if dtype is None:
            dtype = upcast(config.floatX, low.dtype, high.dtype)
        if isinstance(size, tuple):
            if not all(is_python_int(i) or isinstance(i, Variable) for i in size):
                raise TypeError("size must be a tuple of int or a cgraph variable")
            if any(is_python_int(i) and i <= 0 for i in size):
                raise ValueError("The specified size contains a dimension with value <= 0",
                                 size)
        elif not (isinstance(size, Variable) and size.ndim == 1):
            raise TypeError(f"size must be a tuple of int or a cgraph Variable with 1 "
                            f"dimension, got {size} of type {type(size)}")
        vector, ndim = self._size(size, ndim)
        u = self._standard("uniform", vector, ndim, dtype, size, nstreams=nstreams)
        if defaults:
            return u                        # u * 1 + 0: the same values
        low, high = cast(low, dtype), cast(high, dtype)
        r = u * (high - low) + low
        if u.broadcastable != r.broadcastable:
            raise NotImplementedError("Increase the size to match the broadcasting pattern of "
                                      "`low` and `high` arguments")
        return r

    def normal(self, size, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None,
               truncate=False):
        """Normal samples by Box-Muller on one uniform draw of an even count, as Theano."""
        if truncate:
            raise NotImplementedError("MRG_RandomStreams.normal(truncate=True) is not "
                                      "supported")
        size = _check_size(size)
        avg, std = as_tensor_variable(avg), as_tensor_variable(std)
        if dtype is None:
            dtype = upcast(config.floatX, avg.dtype, std.dtype)
        avg, std = T.cast(avg, dtype), T.cast(std, dtype)
        n_odd = prod(size, dtype="int64")
        n_even = n_odd + n_odd % 2
        u = self.uniform((n_even,), ndim=1, dtype=dtype, nstreams=nstreams)
        half = n_even // 2
        u1, u2 = u[:half], u[half:]
        radius = T.sqrt(constant(-2.0, dtype=dtype) * T.log(u1))
        theta = constant(2.0 * np.pi, dtype=dtype) * u2
        samples = join(0, radius * T.cos(theta), radius * T.sin(theta))[:n_odd]
        samples = reshape(samples, size, ndim=ndim)
        return samples * std + avg

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64", nstreams=None):
        """n = 1: ``cast(uniform(size) < p, dtype)`` as Theano; n > 1 as RandomStreams."""
        if is_python_int(n) and n == 1:
            x = self.uniform(size=size, nstreams=nstreams)
            return cast(x < as_tensor_variable(p), dtype)
        return super().binomial(size, n, p, ndim, dtype, nstreams=nstreams)

    def multinomial(self, size=None, n=1, pvals=None, ndim=None, dtype="int64", nstreams=None):
        """Counts of ``n`` draws per row of the matrix ``pvals`` (one-hot for n = 1)."""
        if pvals is None:
            raise TypeError("You have to specify pvals")
        pvals = as_tensor_variable(pvals)
        if size is not None:
            if any(is_python_int(i) and i <= 0 for i in size):
                raise ValueError("The specified size contains a dimension with value <= 0",
                                 size)
            raise ValueError("Provided a size argument to MRG_RandomStreams.multinomial, "
                             "which does not use the size argument.")
        if ndim is not None:
            raise ValueError("Provided an ndim argument to MRG_RandomStreams.multinomial, "
                             "which does not use the ndim argument.")
        if pvals.ndim != 2:
            raise NotImplementedError("MRG_RandomStreams.multinomial only implemented for "
                                      "pvals.ndim = 2")
        unis = self.uniform(size=pvals[:, 0].shape * n, ndim=1, nstreams=nstreams)
        return rnd.MultinomialFromUniform(dtype)(pvals, unis, n)

    def choice(self, size=1, a=2, replace=True, p=None, ndim=None, dtype="int64",
               nstreams=None):
        """With ``a=None``: Theano's MRG choice, ``size`` outcome indices per row of the
        matrix ``p`` (``replace=False`` as Theano; True is also accepted). Otherwise numpy's
        choice from ``range(a)`` or the vector ``a``, as RandomStreams."""
        if a is not None:
            return super().choice(size, a, replace, p, ndim, dtype, nstreams=nstreams)
        if p is None:
            raise TypeError("For now, p has to be specified in MRG_RandomStreams.choice.")
        p = as_tensor_variable(p)
        if ndim is not None:
            raise ValueError("ndim argument to MRG_RandomStreams.choice is not used.")
        if p.ndim != 2:
            raise NotImplementedError("MRG_RandomStreams.choice is only implemented for "
                                      "p.ndim = 2")
        unis = self.uniform(size=p[:, 0].shape * size, ndim=1, nstreams=nstreams)
        return rnd.ChoiceFromUniform(dtype, replace)(p, unis, size)



def _is_default(value, default):
    return isinstance(value, float) and value == default
