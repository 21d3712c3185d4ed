"""Random ops: the two generators (Philox4x32-10 and MRG31k3p) and the deterministic ops
that turn their uniform draws into other distributions.

A generator op takes its state (a shared variable's value) and the sample shape, and returns
the new state and the sample; the streams objects (``shared_randomstreams.RandomStreams``,
``sandbox.rng_mrg.MRG_RandomStreams``) make the state's ``default_update`` that new state,
so every call of a compiled function draws fresh numbers. Generator ops are never constant
folded (``foldable = False``), and two draws never merge since their states differ.

Every op has a numpy ``perform`` that is bit for bit the C template's computation: the
generators produce the same 32-bit words, turned into floats by exact operations (integer
times a power of two), so uniforms and everything derived from them by comparisons are
identical in both modes; the normal's log, cos and sin are the C library's in both (through
Python's math module in the reference).

Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
bijection of a 128-bit counter under a 64-bit key. A stream's state is an int64 vector
``[key, counter]``; a draw of ``B`` blocks uses counters ``counter .. counter + B - 1`` (low
and high 32-bit words of the 64-bit value, the upper two words 0) and advances the counter by
``B``. Sample ``i`` of a draw depends only on ``(key, counter, i)``.

MRG31k3p (L'Ecuyer and Touzin 2000), laid out as Theano's ``rng_mrg``: an ``(nstreams, 6)``
int32 state matrix, sample ``i`` taken from stream ``i % nstreams``.
"""
import math

import numpy as np

from ..graph.basic import Apply, Op
from ..graph.labels import label_of
from .basic import cast
from .elemwise import pad_left
from .shape_ops import as_shape_vector, shape_entries
from .type import FLOAT_DTYPES, TensorType, is_int, resolve_dtype, shape_str
from .var import TensorVariable, as_tensor_variable

# --- Philox4x32-10 ---------------------------------------------------------------------

PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57      # round multipliers
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85      # key schedule (Weyl) increments
PHILOX_ROUNDS = 10
_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF

# samples produced by one 4x32-bit block, per (distribution, dtype)
SAMPLES_PER_BLOCK = {
    ("uniform", "float32"): 4,   # 24 bits of one word each
    ("uniform", "float64"): 2,   # 53 bits of two words each
    ("normal", "float32"): 4,    # two Box-Muller pairs of (32-bit, 32-bit) uniforms
    ("normal", "float64"): 2,    # one Box-Muller pair of (53-bit, 53-bit) uniforms
}


def philox4x32(counters, key, rounds=PHILOX_ROUNDS):
    """Philox4x32 of ``counters`` (uint64 array of shape (n, 4) holding 32-bit words) under
    ``key`` (two 32-bit ints): the (n, 4) array of output words, as uint64."""
    x0, x1, x2, x3 = (counters[:, k].astype(np.uint64) for k in range(4))
    k0, k1 = int(key[0]) & _MASK32, int(key[1]) & _MASK32
    for r in range(rounds):
        if r:
            k0 = (k0 + PHILOX_W0) & _MASK32
            k1 = (k1 + PHILOX_W1) & _MASK32
        p0 = x0 * np.uint64(PHILOX_M0)          # exact: both factors are below 2**32
        p1 = x2 * np.uint64(PHILOX_M1)
        x0, x1, x2, x3 = ((p1 >> np.uint64(32)) ^ x1 ^ np.uint64(k0), p1 & np.uint64(_MASK32),
                          (p0 >> np.uint64(32)) ^ x3 ^ np.uint64(k1), p0 & np.uint64(_MASK32))
    return np.stack([x0, x1, x2, x3], axis=1)


def philox_words(key, counter, nblocks):
    """The 4 * nblocks words of blocks ``counter, counter + 1, ...`` under the 64-bit
    ``key``, in order (block by block, word 0 first), as uint64."""
    c = (np.uint64(counter & _MASK64) + np.arange(nblocks, dtype=np.uint64))  # wraps mod 2**64
    ctr = np.zeros((nblocks, 4), dtype=np.uint64)
    ctr[:, 0] = c & np.uint64(_MASK32)
    ctr[:, 1] = c >> np.uint64(32)
    key = key & _MASK64
    return philox4x32(ctr, (key & _MASK32, key >> 32)).reshape(-1)


def philox_blocks(distribution, dtype, n):
    """How many blocks a draw of ``n`` samples uses."""
    per = SAMPLES_PER_BLOCK[(distribution, dtype)]
    return (n + per - 1) // per


def _u53(hi, lo):
    """A float64 in [0, 1) from the top 27 bits of ``hi`` and top 26 bits of ``lo``."""
    return ((hi >> np.uint64(5)).astype(np.float64) * 67108864.0
            + (lo >> np.uint64(6)).astype(np.float64)) * 2.0 ** -53


def _libm(function, x):
    """``function`` from Python's math module (the C library's, which the C template calls)
    on each element of ``x``: numpy's own log/cos/sin may differ in the last bit."""
    return np.frompyfunc(function, 1, 1)(x).astype(np.float64)


def philox_sample(distribution, dtype, key, counter, n):
    """``n`` samples (flat) of the standard ``distribution`` and the number of blocks used.

    The float conversions are exact (integers times powers of two), so the C template
    computes the same values.
    """
    nblocks = philox_blocks(distribution, dtype, n)
    w = philox_words(key, counter, nblocks)
    if distribution == "uniform":
        if dtype == "float32":
            out = (w >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -24)
        else:
            out = _u53(w[0::2], w[1::2])
    else:
        if dtype == "float32":
            # pairs (w0, w1), (w2, w3): u1 in (0, 1], u2 in [0, 1), both exact in float64
            u1 = (w[0::2].astype(np.float64) + 1.0) * 2.0 ** -32
            u2 = w[1::2].astype(np.float64) * 2.0 ** -32
        else:
            u1 = _u53(w[0::4], w[1::4]) + 2.0 ** -53      # exact: shifts [0, 1) to (0, 1]
            u2 = _u53(w[2::4], w[3::4])
        radius = np.sqrt(-2.0 * _libm(math.log, u1))
        theta = 6.283185307179586 * u2
        out = np.empty(2 * radius.size, dtype=np.float64)
        out[0::2] = radius * _libm(math.cos, theta)
        out[1::2] = radius * _libm(math.sin, theta)
        out = out.astype(dtype)
    return out[:n], nblocks


# --- MRG31k3p --------------------------------------------------------------------------

MRG_M1 = 2147483647          # 2**31 - 1
MRG_M2 = 2147462579          # 2**31 - 21069
MRG_MASK12 = 511             # 2**9 - 1
MRG_MASK13 = 16777215        # 2**24 - 1
MRG_MASK2 = 65535            # 2**16 - 1
MRG_MULT2 = 21069
MRG_NORM64 = 4.656612873077392578125e-10     # 2**-31
MRG_NORM32 = np.float32(4.6566126e-10)       # Theano's float32 constant (just below 2**-31)


def _wrap(expr_int64):
    """int32 two's-complement wraparound of an int64 array (C's int32 arithmetic)."""
    return ((expr_int64 + 2 ** 31) & 0xFFFFFFFF) - 2 ** 31


def _reduce(y, m):
    """Theano's ``if (y < 0 || y >= m) y -= m`` on int32 values, wrapping."""
    return np.where((y < 0) | (y >= m), _wrap(y - m), y)


def mrg_step(state):
    """Advance each row of ``state`` ((k, 6) int64 array of int32 values) by one step, in
    place; returns the raw outputs (x11 - x21 mod M1), as int64 in [1, M1]."""
    x11, x12, x13, x21, x22, x23 = (state[:, k] for k in range(6))
    # first component
    y1 = _wrap(((x12 & MRG_MASK12) << 22) + (x12 >> 9) + ((x13 & MRG_MASK13) << 7) + (x13 >> 24))
    y1 = _reduce(y1, MRG_M1)
    y1 = _reduce(_wrap(y1 + x13), MRG_M1)
    # second component
    z1 = _reduce(_wrap(((x21 & MRG_MASK2) << 15) + MRG_MULT2 * (x21 >> 16)), MRG_M2)
    z2 = _reduce(_wrap(((x23 & MRG_MASK2) << 15) + MRG_MULT2 * (x23 >> 16)), MRG_M2)
    z2 = _reduce(_wrap(z2 + x23), MRG_M2)
    z2 = _reduce(_wrap(z2 + z1), MRG_M2)
    new = np.stack([y1, x11, x12, z2, x21, x22], axis=1)
    state[:, :] = new
    return np.where(y1 <= z2, y1 - z2 + MRG_M1, y1 - z2)


def mrg_sample(rstate, n, dtype):
    """``n`` uniforms in (0, 1) from the stream matrix ``rstate`` ((nstreams, 6) int32),
    sample i from stream i % nstreams; returns (new rstate, samples)."""
    state = rstate.astype(np.int64)
    nstreams = state.shape[0]
    raw = np.empty(n, dtype=np.int64)
    for start in range(0, n, nstreams):
        count = min(nstreams, n - start)
        part = state[:count]
        raw[start:start + count] = mrg_step(part)
        state[:count] = part
    if dtype == "float32":
        out = raw.astype(np.float32) * MRG_NORM32
    else:
        out = raw.astype(np.float64) * MRG_NORM64
    return state.astype(np.int32), out


# --- shared helpers ----------------------------------------------------------------------

def _no_grads(inputs):
    return [None for _ in inputs]


def static_broadcastable(size_vector, ndim):
    """Per axis, whether the size vector's entry is a constant 1 (a broadcastable axis)."""
    entries = shape_entries(size_vector)
    if entries is None or len(entries) != ndim:
        return (False,) * ndim
    return tuple(e == 1 for e in entries)


def _as_size_vector(size, ndim, what):
    size = as_shape_vector(size, what)
    entries = shape_entries(size)
    if entries is not None and len(entries) != ndim:
        raise TypeError(f"{what} has {len(entries)} entries but the op draws {ndim}-dimensional "
                        f"samples")
    return size


def read_size(size, ndim, node, what="size"):
    """The sample shape from a size vector's value, checked as the C templates check it."""
    if size.shape != (ndim,):
        raise ValueError(f"{what} {label_of(node.inputs[1])} must have length {ndim} "
                         f"(not {size.shape[0]})")
    shape = tuple(int(s) for s in size)
    if any(s < 0 for s in shape):
        raise ValueError(f"the requested {what} ({label_of(node.inputs[1])}) is "
                         f"{shape_str(shape)}: negative dimensions are not allowed")
    return shape


def broadcast_param(value, shape, var):
    """``value`` (same rank as ``shape``) broadcast to ``shape``: each axis of length 1 or
    equal to the sample's (size decides the shape; parameters never enlarge it)."""
    for have, want in zip(value.shape, shape):
        if have != want and have != 1:
            raise ValueError(f"cannot broadcast {label_of(var)} of shape {shape_str(value.shape)} "
                             f"to the sample shape {shape_str(shape)}")
    return np.broadcast_to(value, shape)


def _pad_param(x, ndim, what):
    """``x`` as a tensor of rank ``ndim`` (broadcastable axes added on the left)."""
    x = as_tensor_variable(x)
    if x.ndim > ndim:
        raise ValueError(f"{what} ({x!r}) has {x.ndim} dimensions, more than the {ndim} of the "
                         f"sample")
    return pad_left(x, ndim)


def _cast(x, dtype):
    return cast(x, dtype)


# --- generator ops -----------------------------------------------------------------------

def _philox_state_variable(state):
    """``state`` as a variable, checked to be what Philox ops take: an int64 vector."""
    state = as_tensor_variable(state)
    if state.ndim != 1 or state.dtype != "int64":
        raise TypeError(f"the state of a Philox stream must be an int64 vector, got "
                        f"{state!r} of type {state.type}")
    return state


def _check_philox_state(state, node):
    if state.shape != (2,):
        raise ValueError(f"the Philox state {label_of(node.inputs[0])} must have 2 entries "
                         f"[key, counter], got shape {shape_str(state.shape)}")


def _advanced_state(state, counter, nblocks):
    """[key, counter + nblocks] (the counter wraps mod 2**64, stored as int64)."""
    new_state = np.array([state[0], 0], dtype=np.int64)
    new_state[1:] = np.array([(counter + nblocks) & _MASK64], dtype=np.uint64).view(np.int64)
    return new_state


class PhiloxRandom(Op):
    """Standard ``distribution`` ('uniform' in [0, 1) or 'normal') samples of shape
    ``size`` from a Philox4x32-10 stream: ``(state, size) -> (new_state, sample)``.

    ``state`` is an int64 vector ``[key, counter]``. Uniforms take 24 (float32) or 53
    (float64) random bits; normals use Box-Muller on uniforms in (0, 1] and [0, 1).
    """

    __props__ = ("distribution", "dtype", "ndim")
    c_template = "ops/random_philox.c.j2"
    foldable = False

    def __init__(self, distribution, dtype, ndim):
        if distribution not in ("uniform", "normal"):
            raise ValueError(f"PhiloxRandom draws 'uniform' or 'normal', not {distribution!r}")
        dtype = resolve_dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"PhiloxRandom draws floats, not {dtype}")
        self.distribution, self.dtype, self.ndim = distribution, dtype, int(ndim)

    def make_node(self, state, size):
        state = _philox_state_variable(state)
        size = _as_size_vector(size, self.ndim, "size")
        bcast = static_broadcastable(size, self.ndim)
        return Apply(self, [state, size],
                     [state.type(), TensorVariable(TensorType(self.dtype, bcast))])

    def perform(self, node, inputs):
        state, size = inputs
        _check_philox_state(state, node)
        shape = read_size(size, self.ndim, node)
        key, counter = (int(v) & _MASK64 for v in state)
        sample, nblocks = philox_sample(self.distribution, self.dtype, key, counter,
                                        int(np.prod(shape, dtype=np.int64)))
        new_state = _advanced_state(state, counter, nblocks)
        return [new_state, sample.reshape(shape)]

    def c_params(self, node):
        return {"distribution": self.distribution,
                "per_block": SAMPLES_PER_BLOCK[(self.distribution, self.dtype)]}

    def L_op(self, inputs, outputs, output_grads):
        return _no_grads(inputs)


class PhiloxAdvance(Op):
    """The state after a ``PhiloxRandom(distribution, dtype, ndim)`` draw of shape ``size``,
    without the draw: ``(state, size) -> new_state``. A draw whose samples no one reads (a
    one-step scan's last sample, kept for its state update) becomes this (rewrite/
    random_draws.py): the same new state, the same checks (a size whose bytes overflow
    int64 fails as the draw's allocation would), no samples."""

    __props__ = ("distribution", "dtype", "ndim")
    c_template = "ops/random_philox_advance.c.j2"
    foldable = False

    def __init__(self, distribution, dtype, ndim):
        PhiloxRandom(distribution, dtype, ndim)    # the same checks of the arguments
        self.distribution, self.dtype, self.ndim = distribution, resolve_dtype(dtype), int(ndim)

    def make_node(self, state, size):
        state = _philox_state_variable(state)
        size = _as_size_vector(size, self.ndim, "size")
        return Apply(self, [state, size], [state.type()])

    def perform(self, node, inputs):
        state, size = inputs
        _check_philox_state(state, node)
        shape = read_size(size, self.ndim, node)
        nbytes = np.dtype(self.dtype).itemsize    # checked as CG_ALLOC checks (runtime.h)
        for length in shape:
            nbytes = nbytes * length if length else nbytes
            if nbytes > np.iinfo(np.int64).max:
                raise ValueError(f"array is too big: shape {shape_str(shape)} has more bytes "
                                 f"than the largest possible size")
        n = math.prod(shape)
        counter = int(state[1]) & _MASK64
        nblocks = philox_blocks(self.distribution, self.dtype, n)
        new_state = _advanced_state(state, counter, nblocks)
        return [new_state]

    def c_params(self, node):
        return {"per_block": SAMPLES_PER_BLOCK[(self.distribution, self.dtype)],
                "ndim": self.ndim, "itemsize": np.dtype(self.dtype).itemsize}

    def L_op(self, inputs, outputs, output_grads):
        return _no_grads(inputs)


class MRGUniform(Op):
    """Uniforms in (0, 1) of shape ``size`` from MRG31k3p streams, as Theano's
    ``mrg_uniform``: ``(rstate, size) -> (new_rstate, sample)``; ``rstate`` is an
    (nstreams, 6) int32 matrix and sample i comes from stream i % nstreams."""

    __props__ = ("dtype", "ndim")
    c_template = "ops/random_mrg.c.j2"
    foldable = False

    def __init__(self, dtype, ndim):
        dtype = resolve_dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"mrg_uniform draws floats, not {dtype}")
        self.dtype, self.ndim = dtype, int(ndim)

    def __str__(self):
        return f"mrg_uniform{{{self.dtype}, {self.ndim}d}}"

    def make_node(self, rstate, size):
        rstate = as_tensor_variable(rstate)
        if rstate.ndim != 2 or rstate.dtype != "int32":
            raise TypeError(f"rstate must be an int32 matrix, got {rstate!r} of type "
                            f"{rstate.type}")
        size = _as_size_vector(size, self.ndim, "size")
        bcast = static_broadcastable(size, self.ndim)
        return Apply(self, [rstate, size],
                     [rstate.type(), TensorVariable(TensorType(self.dtype, bcast))])

    def perform(self, node, inputs):
        rstate, size = inputs
        if rstate.shape[1] != 6:
            raise ValueError(f"rstate {label_of(node.inputs[0])} must have 6 columns, got shape "
                             f"{shape_str(rstate.shape)}")
        if rstate.shape[0] == 0:
            raise ValueError(f"rstate {label_of(node.inputs[0])} has no stream (shape "
                             f"{shape_str(rstate.shape)})")
        shape = read_size(size, self.ndim, node)
        n = int(np.prod(shape, dtype=np.int64))
        if n > MRG_M1:
            raise ValueError("rng_mrg cpu-implementation does not support more than (2**31 -1) "
                             "samples")
        new_rstate, sample = mrg_sample(rstate, n, self.dtype)
        return [new_rstate, sample.reshape(shape)]

    def L_op(self, inputs, outputs, output_grads):
        return _no_grads(inputs)


# --- from uniforms to other distributions ------------------------------------------------

class BinomialFromUniform(Op):
    """Binomial counts from uniforms: ``count[i] = #{j < n[i] : u[i, j] < p[i]}``.

    ``u`` (float64, or float32: then ``p`` is compared in float32) has the sample's shape
    plus a last axis at least ``max(n)`` long; ``n`` and ``p`` have the sample's rank and
    broadcast to its shape. ``n < 0`` or ``p`` outside
    [0, 1] raise ValueError with numpy's messages.
    """

    __props__ = ("dtype", "ndim")
    c_template = "ops/random_binomial.c.j2"

    def __init__(self, dtype, ndim):
        self.dtype, self.ndim = resolve_dtype(dtype), int(ndim)

    def make_node(self, u, n, p):
        u = as_tensor_variable(u)
        if u.ndim != self.ndim + 1 or u.dtype not in ("float32", "float64"):
            raise TypeError(f"BinomialFromUniform needs float64 or float32 uniforms of rank "
                            f"{self.ndim + 1}, got {u!r} of type {u.type}")
        n = _cast(_pad_param(n, self.ndim, "n"), "int64")
        p = _cast(_pad_param(p, self.ndim, "p"), u.dtype)
        return Apply(self, [u, n, p],
                     [TensorVariable(TensorType(self.dtype, u.broadcastable[:-1]))])

    def perform(self, node, inputs):
        u, n, p = inputs
        shape = u.shape[:-1]
        n = broadcast_param(n, shape, node.inputs[1])
        p = broadcast_param(p, shape, node.inputs[2])
        if (n < 0).any():
            raise ValueError(f"n < 0 (in {label_of(node.inputs[1])})")
        if not ((p >= 0) & (p <= 1)).all():
            raise ValueError(f"p < 0, p > 1 or p is NaN (in {label_of(node.inputs[2])})")
        if n.size and n.max() > u.shape[-1]:
            raise ValueError(f"binomial: n = {n.max()} needs more than the {u.shape[-1]} "
                             f"uniforms drawn per sample")
        trials = np.arange(u.shape[-1]) < n[..., None]
        counts = ((u < p[..., None]) & trials).sum(axis=-1)
        return [counts.astype(self.dtype)]

    def L_op(self, inputs, outputs, output_grads):
        return _no_grads(inputs)


class IntegersFromUniform(Op):
    """Integers uniform in [low, high] (both included) from float64 uniforms in [0, 1):
    ``low + floor(u * (high - low + 1))``; ``low > high`` raises ValueError."""

    __props__ = ("dtype", "ndim")
    c_template = "ops/random_integers.c.j2"

    def __init__(self, dtype, ndim):
        self.dtype, self.ndim = resolve_dtype(dtype), int(ndim)

    def make_node(self, u, low, high):
        u = as_tensor_variable(u)
        if u.ndim != self.ndim or u.dtype != "float64":
            raise TypeError(f"IntegersFromUniform needs float64 uniforms of rank {self.ndim}, "
                            f"got {u!r} of type {u.type}")
        low = _cast(_pad_param(low, self.ndim, "low"), "int64")
        high = _cast(_pad_param(high, self.ndim, "high"), "int64")
        return Apply(self, [u, low, high],
                     [TensorVariable(TensorType(self.dtype, u.broadcastable))])

    def perform(self, node, inputs):
        u, low, high = inputs
        low = broadcast_param(low, u.shape, node.inputs[1])
        high = broadcast_param(high, u.shape, node.inputs[2])
        if (low > high).any():
            raise ValueError(f"low > high: random_integers needs {label_of(node.inputs[1])} <= "
                             f"{label_of(node.inputs[2])}")
        span = (high - low + 1).astype(np.float64)
        return [(low + np.floor(u * span).astype(np.int64)).astype(self.dtype)]

    def L_op(self, inputs, outputs, output_grads):
        return _no_grads(inputs)


class PermutationFromUniform(Op):
    """The first ``k`` entries of random permutations of ``range(n)``, one per row of ``u``
    (float64, last axis of length ``k``), by a forward Fisher-Yates shuffle: step ``i`` swaps
    entry ``i`` with entry ``i + floor(u[..., i] * (n - i))``. ``k = n`` gives whole
    permutations; ``k > n`` raises ValueError as numpy's choice without replacement."""

    __props__ = ("dtype", "ndim")
    c_template = "ops/random_permutation.c.j2"

    def __init__(self, dtype, ndim):
        self.dtype, self.ndim = resolve_dtype(dtype), int(ndim)
        if not is_int(self.dtype):
            raise TypeError(f"permutations are integers, not {self.dtype}")

    def make_node(self, u, n):
        u = as_tensor_variable(u)
        if u.ndim != self.ndim or u.ndim < 1 or u.dtype != "float64":
            raise TypeError(f"PermutationFromUniform needs float64 uniforms of rank "
                            f"{self.ndim} >= 1, got {u!r} of type {u.type}")
        n = _cast(as_tensor_variable(n), "int64")
        if n.ndim != 0:
            raise TypeError(f"the population size n must be a scalar, got {n!r}")
        return Apply(self, [u, n], [TensorVariable(TensorType(self.dtype, u.broadcastable))])

    def perform(self, node, inputs):
        u, n = inputs
        n = int(n)
        k = u.shape[-1]
        if n < 0:
            raise ValueError(f"the population size {label_of(node.inputs[1])} is negative ({n})")
        if k > n:
            raise ValueError(f"Cannot take a larger sample ({k}) than population ({n}) when "
                             f"'replace=False'")
        rows = u.reshape(int(np.prod(u.shape[:-1], dtype=np.int64)), k)
        perm = np.tile(np.arange(n, dtype=np.int64), (rows.shape[0], 1))
        r = np.arange(rows.shape[0])
        for i in range(k):
            j = i + np.floor(rows[:, i] * float(n - i)).astype(np.int64)
            held = perm[r, i].copy()
            perm[r, i] = perm[r, j]
            perm[r, j] = held
        return [perm[:, :k].reshape(u.shape).astype(self.dtype)]

    def L_op(self, inputs, outputs, output_grads):
        return _no_grads(inputs)


def _first_above(cumsum, u):
    """Per row, the first index where ``cumsum > u`` and whether there is one."""
    above = cumsum > u[:, None]
    return above.argmax(axis=1), above.any(axis=1)


class MultinomialFromUniform(Op):
    """Theano's ``MultinomialFromUniform``: per row of ``pvals`` (2-d), counts of ``n``
    categorical draws, draw ``c`` of row ``r`` taking ``unis[c * rows + r]`` and the first
    outcome whose running sum of probabilities (in float64) exceeds it."""

    __props__ = ("odtype",)
    c_template = "ops/random_multinomial.c.j2"

    def __init__(self, odtype):
        self.odtype = resolve_dtype(odtype)

    def __str__(self):
        return f"MultinomialFromUniform{{{self.odtype}}}"

    def make_node(self, pvals, unis, n=1):
        pvals, unis = as_tensor_variable(pvals), as_tensor_variable(unis)
        if pvals.ndim != 2:
            raise NotImplementedError(f"pvals ndim should be 2, got {pvals!r} with "
                                      f"{pvals.ndim} dimensions")
        if unis.ndim != 1:
            raise NotImplementedError(f"unis ndim should be 1, got {unis!r} with {unis.ndim} "
                                      f"dimensions")
        n = _cast(as_tensor_variable(n), "int64")
        if n.ndim != 0:
            raise TypeError(f"the number of draws n must be a scalar, got {n!r}")
        return Apply(self, [pvals, unis, n],
                     [TensorVariable(TensorType(self.odtype, pvals.broadcastable))])

    def perform(self, node, inputs):
        pvals, unis, n = inputs
        n = int(n)
        rows = pvals.shape[0]
        if unis.shape[0] != rows * n:
            raise ValueError(f"unis.shape[0] != pvals.shape[0] * n ({unis.shape[0]} != "
                             f"{rows} * {n})")
        counts = np.zeros(pvals.shape, dtype=np.int64)
        cumsum = np.cumsum(pvals, axis=1, dtype=np.float64)
        r = np.arange(rows)
        for c in range(n):
            idx, found = _first_above(cumsum, unis[c * rows:(c + 1) * rows].astype(np.float64))
            np.add.at(counts, (r[found], idx[found]), 1)
        return [counts.astype(self.odtype)]

    def L_op(self, inputs, outputs, output_grads):
        return _no_grads(inputs)


class ChoiceFromUniform(Op):
    """Theano's ``ChoiceFromUniform``: ``n`` outcome indices per row of ``pvals`` (2-d),
    draw ``c`` of row ``r`` from ``unis[c * rows + r]`` as in MultinomialFromUniform. Without
    replacement the chosen outcome's probability is set to 0 and the row renormalised (in
    pvals' dtype, summing as Theano's C code does); a row with no outcome above its uniform
    keeps -1."""

    __props__ = ("odtype", "replace")
    c_template = "ops/random_choice.c.j2"

    def __init__(self, odtype, replace=False):
        self.odtype, self.replace = resolve_dtype(odtype), bool(replace)

    def __str__(self):
        return f"ChoiceFromUniform{{{self.odtype}, replace={self.replace}}}"

    def make_node(self, pvals, unis, n=1):
        pvals, unis = as_tensor_variable(pvals), as_tensor_variable(unis)
        if pvals.ndim != 2:
            raise NotImplementedError(f"pvals ndim should be 2, got {pvals!r} with "
                                      f"{pvals.ndim} dimensions")
        if pvals.dtype not in FLOAT_DTYPES:
            pvals = _cast(pvals, "float64")
        if unis.ndim != 1:
            raise NotImplementedError(f"unis ndim should be 1, got {unis!r} with {unis.ndim} "
                                      f"dimensions")
        n = _cast(as_tensor_variable(n), "int64")
        if n.ndim != 0:
            raise TypeError(f"the number of draws n must be a scalar, got {n!r}")
        out = TensorType(self.odtype, (pvals.broadcastable[0], False))
        return Apply(self, [pvals, unis, n], [TensorVariable(out)])

    def perform(self, node, inputs):
        pvals, unis, n = inputs
        n = int(n)
        rows, outcomes = pvals.shape
        if not self.replace and n > outcomes:
            raise ValueError(f"Cannot sample without replacement n samples bigger than the size "
                             f"of the distribution ({n} > {outcomes}).")
        if n < 0:
            raise ValueError(f"the number of draws n is negative ({n})")
        if unis.shape[0] != rows * n:
            raise ValueError(f"unis.shape[0] != pvals.shape[0] * n ({unis.shape[0]} != "
                             f"{rows} * {n})")
        pv = np.array(pvals, copy=True)
        out = np.full((rows, n), -1, dtype=np.int64)
        r = np.arange(rows)
        for c in range(n):
            cumsum = np.cumsum(pv, axis=1, dtype=np.float64)
            idx, found = _first_above(cumsum, unis[c * rows:(c + 1) * rows].astype(np.float64))
            out[found, c] = idx[found]
            if self.replace or c == n - 1 or not found.any():
                continue
            # Theano's C renormalisation: the sum before the chosen outcome (in float64, cast
            # to pvals' dtype), plus the outcomes after it one by one in pvals' dtype
            rf, mf = r[found], idx[found]
            total = (cumsum[rf, mf] - pv[rf, mf].astype(np.float64)).astype(pv.dtype)
            pv[rf, mf] = 0
            for k in range(outcomes):
                later = k > mf
                total = np.where(later, total + pv[rf, k], total).astype(pv.dtype)
            pv[rf] = pv[rf] / total[:, None]
        return [out.astype(self.odtype)]

    def c_params(self, node):
        return {"replace": self.replace}

    def L_op(self, inputs, outputs, output_grads):
        return _no_grads(inputs)
