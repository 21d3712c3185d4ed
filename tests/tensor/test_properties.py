"""Property-based tests (hypothesis): random graphs agree with the numpy reference, and no
wrong input crashes a compiled function or corrupts its shared variables.

1. ``test_random_graphs_match_the_reference``: each example builds several random
   expressions over the op set (elementwise ops from the scalar-op table, comparisons and
   switch, casts, reductions, dot, dimshuffle, reshape, concatenate, basic and advanced
   indexing, set/inc_subtensor) on random inputs (dtypes float64, float32, int64, int32, int8,
   bool; ranks 0-3; lengths 0-4), compiles them into ONE function and checks the C results
   against py mode: dtype, shape, values (float tolerance), NaN positions. An expression whose
   evaluation raises goes to a second function, which must raise the same class in both
   modes. The shapes needed to pick valid operands (reshape sizes, indices, dot partners)
   come from evaluating each new node with its ``perform`` as the graph grows.
2. ``test_wrong_inputs_raise_clear_errors``: random wrong values for the inputs of a few
   functions with updates: every call either succeeds in both modes with equal results, or
   raises in both modes the same expected class naming a variable; shared variables keep
   their value and dtype on failure.
3. ``test_extreme_inputs_do_not_crash_the_process``: the inputs most likely to crash native
   code (huge sizes, int64 extremes) run in a subprocess, which must exit normally.

Examples are derandomized (reproducible in CI) and each compiles a module, so the counts
stay small; ``CGRAPH_PROPERTY_EXAMPLES=500`` raises them for a longer local run, and
``CGRAPH_PROPERTY_VERBOSE=1`` (with ``-s``) prints the expressions each example builds. The
bugs these properties found are pinned by the plain tests at the end.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import cgraph
import cgraph.tensor as T
from cgraph.graph.basic import Constant, ancestors, io_toposort
from cgraph.tensor.math_ops import _ELEMWISE
from cgraph.tensor.scalar_ops import SCALAR_OPS
from util import assert_clean_build

pytestmark = pytest.mark.slow   # hypothesis draws a module per graph

EXAMPLES = int(os.environ.get("CGRAPH_PROPERTY_EXAMPLES", "0"))
SETTINGS = dict(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

DTYPES = ["float64", "float32", "int64", "int32", "int8", "bool"]
FLOATS = ("float64", "float32")
INTS = ("int64", "int32", "int8")
UNARY = sorted(n for n, op in SCALAR_OPS.items() if op.nin == 1 and n != "identity")
BINARY = sorted(n for n, op in SCALAR_OPS.items() if op.nin == 2)
REDUCTIONS = ["sum", "prod", "mean", "max", "min", "all", "any", "var", "std", "argmax",
              "argmin", "max_and_argmax"]
RUNTIME_ERRORS = (ValueError, IndexError, ZeroDivisionError)
TOLERANCE = {"float64": 1e-9, "float32": 2e-4}


class Skip(Exception):
    """This op does not apply to the operands drawn (e.g. no subtraction of bools)."""


# --- values ------------------------------------------------------------------------------

def _elements(dtype):
    if dtype == "bool":
        return st.booleans()
    if dtype in INTS:
        return st.integers(-4, 5)
    width = 64 if dtype == "float64" else 32
    # no subnormals: scipy and libm disagree on some (gammaln(5e-324) is inf in scipy)
    regular = st.floats(-4, 4, width=width, allow_subnormal=False)
    special = st.sampled_from([0.0, 1.0, -1.0, 0.5, np.nan, np.inf, -np.inf])
    return _weighted([(regular, 5), (special, 1)])


def _weighted(choices):
    """One of the (strategy, weight) choices, drawn in proportion to the weights (one_of
    would count a repeated strategy once)."""
    return st.sampled_from([s for s, weight in choices for _ in range(weight)]).flatmap(
        lambda strategy: strategy)


LENGTHS = st.sampled_from([1, 2, 3, 2, 3, 1, 4, 0, 2, 3])


class GraphBuilder:
    """Draws random expressions; knows the value of every variable it made (evaluated with
    the ops' ``perform``, node by node)."""

    def __init__(self, data):
        self.data = data
        self.inputs = []          # symbolic inputs, in order
        self.values = {}          # variable -> numpy value
        self.pool = []            # variables usable as operands (their evaluation succeeded)

    def draw(self, strategy):
        return self.data.draw(strategy)

    # inputs ----------------------------------------------------------------------------

    def new_input(self, dtype=None, shape=None, broadcastable=None):
        if dtype is None:
            dtype = self.draw(st.sampled_from(DTYPES))
        if shape is None:
            ndim = self.draw(st.integers(0, 3))
            shape = tuple(self.draw(LENGTHS) for _ in range(ndim))
        if broadcastable is None:
            broadcastable = tuple(n == 1 and self.draw(st.booleans()) for n in shape)
        var = T.tensor(dtype, broadcastable, name=f"in{len(self.inputs)}")
        value = self.draw(hnp.arrays(np.dtype(dtype), shape, elements=_elements(dtype)))
        self.inputs.append(var)
        self.values[var] = value
        self.pool.append(var)
        return var

    def new_int_scalar(self, value, dtype="int64"):
        var = T.tensor(dtype, (), name=f"in{len(self.inputs)}")
        self.inputs.append(var)
        self.values[var] = np.asarray(value, dtype=dtype)
        return var

    def maybe_symbolic(self, value):
        """``value`` as a Python int, or (sometimes) as a new symbolic integer input."""
        if value is None or not self.draw(st.integers(0, 3)) == 0:
            return value
        return self.new_int_scalar(value, self.draw(st.sampled_from(["int64", "int32"])))

    # evaluation ------------------------------------------------------------------------

    def value(self, var):
        """The value of ``var``, running ``perform`` for the nodes not evaluated yet."""
        if isinstance(var, Constant):
            return var.data
        for node in io_toposort([var], stop_at=list(self.values)):
            args = [v.data if isinstance(v, Constant) else self.values[v] for v in node.inputs]
            with np.errstate(all="ignore"):
                results = node.op.perform(node, args)
            for out, result in zip(node.outputs, results):
                self.values[out] = np.asarray(result)
        return self.values[var]

    def shape(self, var):
        return np.shape(self.value(var))

    # operands --------------------------------------------------------------------------

    def pick(self, accept=lambda v: True):
        candidates = [v for v in self.pool if accept(v)]
        if not candidates:
            raise Skip("no operand fits")
        return self.draw(st.sampled_from(candidates))

    def partner(self, shape, dtype=None):
        """An operand that broadcasts against ``shape``: from the pool, a new input, or a
        Python/numpy constant."""
        def fits(v):
            try:
                np.broadcast_shapes(shape, self.shape(v))
                return True
            except ValueError:
                return False
        kind = self.draw(st.sampled_from(["pool", "pool", "input", "scalar", "array"]))
        if kind == "pool" and any(fits(v) for v in self.pool):
            return self.pick(fits)
        if kind == "scalar":
            return self.draw(st.sampled_from([0, 1, 2, -3, 0.5, 2.0, -1.5, True, 100, 1000]))
        sub = shape[len(shape) - self.draw(st.integers(0, len(shape))):]
        sub = tuple(1 if self.draw(st.integers(0, 3)) == 0 else n for n in sub)
        if kind == "array":
            dtype = dtype or self.draw(st.sampled_from(DTYPES))
            arr = self.draw(hnp.arrays(np.dtype(dtype), sub, elements=_elements(dtype)))
            return T.constant(arr)
        return self.new_input(dtype=dtype, shape=sub)

    # ops -------------------------------------------------------------------------------

    def unary(self, x):
        name = self.draw(st.sampled_from(UNARY))
        try:
            return _ELEMWISE[name](x)
        except TypeError as exc:
            raise Skip(str(exc))

    def binary(self, x):
        name = self.draw(st.sampled_from(BINARY))
        other = self.partner(self.shape(x))
        args = (x, other) if self.draw(st.booleans()) else (other, x)
        try:
            return _ELEMWISE[name](*args)
        except TypeError as exc:
            raise Skip(str(exc))

    def switch(self, x):
        cond = self.partner(self.shape(x))
        if not isinstance(cond, (int, float)):
            if self.draw(st.booleans()):
                cond = T.lt(cond, self.draw(st.sampled_from([0, 1, 0.5])))
        other = self.partner(np.broadcast_shapes(self.shape(x), np.shape(self.value_of(cond))))
        return T.switch(cond, x, other) if self.draw(st.booleans()) else T.switch(cond, other, x)

    def value_of(self, operand):
        if isinstance(operand, (int, float, bool)):
            return np.asarray(operand)
        return self.value(operand)

    def cast(self, x):
        dtype = self.draw(st.sampled_from(DTYPES))
        if x.dtype in FLOATS and dtype in INTS:
            # a NaN or out-of-range float has no defined integer (C and numpy differ)
            x = T.clip(T.switch(T.isnan(x), 0, x), -100, 100)
        return T.cast(x, dtype)

    def reduction(self, x):
        mode = self.draw(st.sampled_from(REDUCTIONS))
        if x.ndim == 0 or self.draw(st.integers(0, 3)) == 0:
            axis = None
        else:
            axes = self.draw(st.lists(st.integers(0, x.ndim - 1), min_size=1,
                                      max_size=x.ndim, unique=True))
            axis = [a - x.ndim if self.draw(st.booleans()) else a for a in axes]
            if len(axis) == 1 and self.draw(st.booleans()):
                axis = axis[0]
        keepdims = self.draw(st.booleans())
        try:
            if mode == "max_and_argmax":
                return T.max_and_argmax(x, axis=axis, keepdims=keepdims)[
                    self.draw(st.integers(0, 1))]
            if mode in ("var", "std"):
                return getattr(T, mode)(x, axis=axis, ddof=self.draw(st.integers(0, 1)),
                                        keepdims=keepdims)
            if mode in ("sum", "prod", "mean") and self.draw(st.integers(0, 3)) == 0:
                return getattr(T, mode)(x, axis=axis, keepdims=keepdims,
                                        dtype=self.draw(st.sampled_from(DTYPES)))
            return getattr(T, mode)(x, axis=axis, keepdims=keepdims)
        except TypeError as exc:
            raise Skip(str(exc))

    def dot(self, x):
        if x.ndim == 0:
            raise Skip("dot of a 0-d operand is a product")
        inner = self.shape(x)[-1]
        fits = [v for v in self.pool if v.ndim in (1, 2) and self.shape(v)[0] == inner]
        if fits and self.draw(st.booleans()):
            other = self.draw(st.sampled_from(fits))
        else:
            ndim = self.draw(st.integers(1, 2))
            shape = (inner,) + tuple(self.draw(LENGTHS) for _ in range(ndim - 1))
            other = self.new_input(shape=shape)
        if not all(np.isfinite(self.value(v)).all() for v in (x, other)):
            # BLAS may skip the zeros of an operand, so where Inf * 0 gives NaN differs
            raise Skip("non-finite dot operand")
        if x.ndim <= 2 and other.ndim == 1 and self.draw(st.booleans()):
            return T.dot(other, x.T) if x.ndim == 2 else T.dot(other, x)
        return T.dot(x, other)

    def dimshuffle(self, x):
        kept = [a for a in range(x.ndim)
                if not (x.broadcastable[a] and self.draw(st.booleans()))]
        order = self.draw(st.permutations(kept))
        for _ in range(self.draw(st.integers(0, 2))):
            order.insert(self.draw(st.integers(0, len(order))), "x")
        if len(order) > 4:
            raise Skip("too many axes")
        return x.dimshuffle(*order)

    def reshape(self, x):
        size = int(np.prod(self.shape(x)))
        ndim = self.draw(st.integers(0 if size == 1 else 1, 3))
        shape, rest = [], size
        for _ in range(ndim - 1):
            if rest == 0:
                shape.append(self.draw(st.integers(0, 3)))
                continue
            divisors = [d for d in range(1, rest + 1) if rest % d == 0]
            shape.append(self.draw(st.sampled_from(divisors)))
            rest //= shape[-1]
        if ndim:
            shape.append(rest if rest or not shape or 0 in shape else 0)
        if ndim and self.draw(st.integers(0, 2)) == 0:
            shape[self.draw(st.integers(0, ndim - 1))] = -1
        if self.draw(st.integers(0, 4)) == 0 and ndim:
            k = self.draw(st.integers(0, ndim - 1))      # a wrong size: an error expression
            shape[k] = shape[k] + 1 if shape[k] >= 0 else 2
        shape = [self.maybe_symbolic(s) for s in shape]
        return T.reshape(x, shape, ndim=ndim)

    def concatenate(self, x):
        if x.ndim == 0:
            raise Skip("cannot join 0-d")
        axis = self.draw(st.integers(-x.ndim, x.ndim - 1))
        base = list(self.shape(x))
        parts = [x]
        for _ in range(self.draw(st.integers(1, 2))):
            kind = self.draw(st.sampled_from(["input", "self", "slice"]))
            if kind == "self":
                parts.append(x * 2 if x.dtype != "bool" else ~x)
            elif kind == "slice":
                parts.append(x[(slice(None),) * (axis % x.ndim) + (slice(None, None, -2),)])
            else:
                shape = list(base)
                shape[axis] = self.draw(st.integers(0, 3))
                dtype = self.draw(st.sampled_from(DTYPES))
                parts.append(self.new_input(dtype=dtype, shape=tuple(shape),
                                            broadcastable=(False,) * x.ndim))
        return T.concatenate(parts, axis=axis)

    def basic_index(self, x):
        shape = self.shape(x)
        entries = []
        n_used = self.draw(st.integers(1, max(x.ndim, 1))) if x.ndim else 0
        for axis in range(n_used):
            n = shape[axis]
            kind = self.draw(st.sampled_from(["int", "slice", "slice", "full"]))
            if kind == "int" and n > 0:
                entries.append(self.maybe_symbolic(self.draw(st.integers(-n, n - 1))))
            elif kind == "full":
                entries.append(slice(None))
            else:
                bound = st.one_of(st.none(), st.integers(-5, 5))
                step = self.draw(st.sampled_from([None, 1, 2, -1, -2, 3]))
                entries.append(slice(self.maybe_symbolic(self.draw(bound)),
                                     self.maybe_symbolic(self.draw(bound)),
                                     self.maybe_symbolic(step)))
        if self.draw(st.integers(0, 3)) == 0:
            entries.insert(self.draw(st.integers(0, len(entries))), None)
        if self.draw(st.integers(0, 5)) == 0 and x.ndim:
            entries.insert(self.draw(st.integers(0, len(entries))), Ellipsis)
        if self.draw(st.integers(0, 9)) == 0 and x.ndim:
            entries[0] = shape[0] + self.draw(st.integers(0, 2))   # out of range: IndexError
        return x[tuple(entries)]

    def advanced_index(self, x):
        if x.ndim == 0:
            raise Skip("no axis to index")
        shape = self.shape(x)
        axes = sorted(self.draw(st.lists(st.integers(0, x.ndim - 1), min_size=1,
                                         max_size=min(2, x.ndim), unique=True)))
        index_shape = tuple(self.draw(st.integers(0, 3)) for _ in range(self.draw(
            st.integers(0, 2))))
        entries = [slice(None)] * (max(axes) + 1)
        for a in axes:
            n = shape[a]
            if n == 0 and int(np.prod(index_shape)):
                raise Skip("no valid index into an empty axis")
            low, high = (-n, n - 1) if n else (0, 0)
            if self.draw(st.integers(0, 9)) == 0:
                high += 1                                     # out of range: IndexError
            values = self.draw(hnp.arrays(np.int64, index_shape,
                                          elements=st.integers(low, high)))
            kind = self.draw(st.sampled_from(["int64", "int32", "int8", "const"]))
            if not index_shape:
                entries[a] = int(values)                      # an integer among arrays
            elif kind == "const":
                entries[a] = values
            else:
                entries[a] = self.new_input(dtype=kind, shape=index_shape,
                                            broadcastable=(False,) * len(index_shape))
                self.values[entries[a]] = values.astype(kind)
        if all(isinstance(e, (int, slice)) for e in entries):
            entries[axes[0]] = [entries[axes[0]]]             # at least one array
        for a in range(len(entries)):
            if a not in axes and self.draw(st.integers(0, 2)) == 0:
                entries[a] = slice(self.draw(st.sampled_from([None, 1, -1])), None,
                                   self.draw(st.sampled_from([None, -1, 2])))
        return x[tuple(entries)]

    def write(self, x):
        region = self.advanced_index(x) if self.draw(st.booleans()) else self.basic_index(x)
        try:
            region_shape = self.shape(region)
        except RUNTIME_ERRORS:
            region_shape = None
        if region_shape is None:
            y = self.draw(st.sampled_from([0, 1]))
        else:
            k = self.draw(st.integers(0, len(region_shape)))
            shape = tuple(1 if self.draw(st.integers(0, 3)) == 0 else n
                          for n in region_shape[k:])
            # y is cast to x's dtype: no float into an integer x (a NaN has no integer)
            dtypes = DTYPES if x.dtype in FLOATS else list(INTS) + ["bool"]
            y = self.new_input(dtype=self.draw(st.sampled_from(dtypes)), shape=shape)
        op = T.set_subtensor if self.draw(st.booleans()) else T.inc_subtensor
        try:
            return op(region, y)
        except TypeError as exc:
            raise Skip(str(exc))

    OPS = ["unary", "unary", "binary", "binary", "binary", "switch", "cast", "reduction",
           "reduction", "dot", "dimshuffle", "reshape", "concatenate", "basic_index",
           "advanced_index", "write"]

    def expression(self):
        """A chain of 1-4 random ops from a pool variable; returns (result, error or None)."""
        x = self.pick()
        for _ in range(self.draw(st.integers(1, 4))):
            for _attempt in range(5):
                op = self.draw(st.sampled_from(self.OPS))
                try:
                    y = getattr(self, op)(x)
                except (Skip, NotImplementedError, TypeError, ValueError, IndexError,
                        ZeroDivisionError):
                    continue      # not a valid graph, or an operand's evaluation failed
                break
            else:
                return x, None
            try:
                self.value(y)
            except Exception as exc:      # noqa: BLE001  (compared with both modes later)
                return y, exc
            self.pool.append(y)
            x = y
        return x, None


# --- comparing the modes -------------------------------------------------------------------

def _run(f, values):
    try:
        return f(*values), None
    except Exception as exc:              # noqa: BLE001
        return None, exc


def _tolerance(var):
    """float32's tolerance when a float32 value is computed on the way (a float64 output
    cast from one carries its rounding), else the output dtype's."""
    if any(v.dtype == "float32" for v in ancestors([var])):
        return TOLERANCE["float32"]
    return TOLERANCE.get(var.dtype, 0.0)


def _assert_same_values(got, ref, tol, what):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.dtype == ref.dtype, f"{what}: dtype {got.dtype} != {ref.dtype}"
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    if got.dtype.kind == "f":
        finite = ref[np.isfinite(ref)]
        scale = 1.0 + (float(np.max(np.abs(finite))) if finite.size else 0.0)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=f"{what}: NaNs")
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * scale, equal_nan=True,
                                   err_msg=what)
    else:
        np.testing.assert_array_equal(got, ref, err_msg=what)


def _compare_modes(inputs, outputs, values, describe):
    f_c = cgraph.function(inputs, outputs, mode="c", on_unused_input="ignore")
    f_py = cgraph.function(inputs, outputs, mode="py", on_unused_input="ignore")
    assert_clean_build(f_c)
    ref, ref_exc = _run(f_py, values)
    got, got_exc = _run(f_c, values)
    if ref_exc is not None or got_exc is not None:
        assert type(ref_exc) is type(got_exc), \
            f"py raised {ref_exc!r}, C raised {got_exc!r}\n{describe()}"
        assert isinstance(got_exc, RUNTIME_ERRORS + (MemoryError,)), describe()
        return
    for k, (g, r) in enumerate(zip(got, ref)):
        try:
            _assert_same_values(g, r, _tolerance(outputs[k]), f"output {k}: {outputs[k]}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{describe()}") from None


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@settings(max_examples=EXAMPLES or 40, **SETTINGS)
@given(st.data())
def test_random_graphs_match_the_reference(data):
    builder = GraphBuilder(data)
    for _ in range(data.draw(st.integers(1, 3))):
        builder.new_input()
    outputs, errors = [], []
    for _ in range(data.draw(st.integers(3, 6))):
        out, exc = builder.expression()
        if exc is None:
            if out not in outputs:
                outputs.append(out)
        elif not errors:
            errors.append(out)
    values = [builder.values[v] for v in builder.inputs]

    def describe():
        shapes = ", ".join(f"{v.name}: {v.type} {np.shape(builder.values[v])}"
                           for v in builder.inputs)
        return f"inputs {shapes}\nvalues {values}\n" \
            + cgraph.printing.debugprint(outputs + errors, file="str")

    if os.environ.get("CGRAPH_PROPERTY_VERBOSE"):
        print(f"\n{len(builder.inputs)} inputs, outputs:", *outputs, "errors:", *errors,
              sep="\n  ")
    if outputs:
        _compare_modes(builder.inputs, outputs, values, describe)
    if errors:
        _compare_modes(builder.inputs, errors, values, describe)


# --- wrong inputs ------------------------------------------------------------------------------

EXPECTED_ERRORS = (TypeError, ValueError, IndexError, ZeroDivisionError)

# what a perturbed input may be called in the message: itself, or a variable it meets
PARTNERS = {
    "x_mat": ("x_mat", "v_vec", "W_shared", "idx_vec", "i_idx", "n_rows"),
    "v_vec": ("v_vec", "x_mat"),
    "i_idx": ("i_idx", "x_mat"),
    "idx_vec": ("idx_vec", "x_mat"),
    "n_rows": ("n_rows", "x_mat"),
    "k_int": ("k_int",),
    "f32_vec": ("f32_vec", "acc_shared", "b_mask"),
    "b_mask": ("b_mask", "f32_vec"),
}
VALID = {
    "x_mat": np.arange(6.0).reshape(2, 3), "v_vec": np.array([1.0, -2.0, 0.5]),
    "i_idx": np.int64(1), "idx_vec": np.array([0, 1, -1]), "n_rows": np.int64(3),
    "k_int": np.array([2, 3], dtype="int32"), "f32_vec": np.ones(3, dtype="float32"),
    "b_mask": np.array([True, False, True]),
}
_FUNCTIONS = []


def _wrong_input_functions():
    """Three functions (each in both modes, with updates of shared variables) whose every
    input meets a run-time check: broadcasting and dot; basic and advanced indexing and
    reshape; integer division and switch. Each is a dict: inputs' names, shared variables,
    the function per mode."""
    if not _FUNCTIONS:
        x = T.dmatrix("x_mat")
        v = T.dvector("v_vec")
        i = T.lscalar("i_idx")
        idx = T.lvector("idx_vec")
        n = T.lscalar("n_rows")
        k = T.ivector("k_int")
        f32 = T.fvector("f32_vec")
        b = T.tensor("bool", (False,), name="b_mask")
        W = cgraph.shared(np.ones((3, 3)), name="W_shared")
        count = cgraph.shared(np.int64(0), name="count_shared")
        acc = cgraph.shared(np.zeros(3, dtype="float32"), name="acc_shared")
        specs = [
            ([x, v], [x + v, T.dot(x, v), T.concatenate([x, v.dimshuffle("x", 0)])],
             [(W, W + T.dot(x.T, x))]),
            ([x, i, idx, n], [x[i], x[idx], x[1:, i:], x.reshape((n, -1)),
                              T.set_subtensor(x[idx, i], 0.0)], [(count, count + 1)]),
            ([k, f32, b], [k // (k - 1), T.switch(b, f32, 0)], [(acc, acc + f32 * 2)]),
        ]
        built = []
        for inputs, outputs, updates in specs:
            modes = {mode: cgraph.function(inputs, outputs, updates=updates, mode=mode)
                     for mode in ("c", "py")}
            assert_clean_build(modes["c"])
            built.append({"names": [var.name for var in inputs], "modes": modes,
                          "shared": {s.name: s for s, _ in updates}})
        _FUNCTIONS.extend(built)      # all or nothing, so a failed build fails every example
    return _FUNCTIONS


def _wrong_value(valid):
    """Values for an input whose valid value is ``valid``: mostly of its dtype and rank with
    a random shape and extreme entries (they reach the run-time checks), else another dtype,
    or anything at all (they stop at the argument checks)."""
    shapes = hnp.array_shapes(min_dims=valid.ndim, max_dims=valid.ndim, min_side=0,
                              max_side=4) if valid.ndim else st.just(())
    typed = hnp.arrays(valid.dtype, shapes, elements=_wild(valid.dtype.name))
    dtypes = st.sampled_from(["float64", "float32", "float16", "int64", "int32", "int16",
                              "int8", "uint8", "uint64", "bool", "complex128"])
    retyped = dtypes.flatmap(lambda d: hnp.arrays(np.dtype(d), shapes, elements=_wild(d)))
    any_rank = dtypes.flatmap(lambda d: hnp.arrays(
        np.dtype(d), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
        elements=_wild(d)))
    ragged = st.sampled_from([[1, [2, 3]], [[1.0, 2.0], [3.0]], [[[]], [1]], [None, 1],
                              ["a", 1.0]])
    odd = st.sampled_from([None, "abc", b"bytes", {"a": 1}, object(), 1j, [], (), 2**70,
                           -2**70, 2**63, -2**63 - 1, float("nan"), float("inf"), 1.5, 1.0,
                           True, np.uint64(2**64 - 1), np.float16(2.0), np.array(["a", "b"]),
                           np.array([1 + 2j]), np.int64(-2**63), np.int64(2**63 - 1)])
    python_numbers = st.one_of(st.integers(-5, 5), st.integers(-2**63, 2**63 - 1),
                               st.integers(-2**80, 2**80),
                               st.floats(allow_nan=True, allow_infinity=True))
    python_lists = st.lists(st.one_of(st.integers(-4, 4), st.floats(allow_nan=True)),
                            max_size=4)
    return _weighted([(typed, 8), (retyped, 1), (any_rank, 1), (ragged, 1), (odd, 1),
                      (python_numbers, 1), (python_lists, 1)])


def _wild(dtype):
    if dtype == "bool":
        return st.booleans()
    if dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        return st.one_of(st.integers(max(-3, int(info.min)), 3),
                         st.integers(int(info.min), int(info.max)))
    if dtype.startswith("complex"):
        return st.complex_numbers(max_magnitude=10, allow_nan=False)
    width = {"float16": 16, "float32": 32, "float64": 64}[dtype]
    return st.floats(width=width, allow_nan=True, allow_infinity=True)


def _shared_state(shared):
    return {name: s.get_value() for name, s in shared.items()}


def _assert_state(shared, state, what):
    for name, s in shared.items():
        value = s.get_value()
        assert value.dtype == state[name].dtype, f"{what}: {name} changed dtype"
        np.testing.assert_array_equal(value, state[name], err_msg=f"{what}: {name} changed")


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@settings(max_examples=EXAMPLES or 150, **SETTINGS)
@given(st.data())
def test_wrong_inputs_raise_clear_errors(data):
    fns = data.draw(st.sampled_from(_wrong_input_functions()))
    names, shared = fns["names"], fns["shared"]
    values = dict(VALID)
    perturbed = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=2,
                                   unique=True))
    for name in perturbed:
        values[name] = data.draw(_wrong_value(VALID[name]), label=name)
    args = [values[name] for name in names]
    before = _shared_state(shared)
    outcomes = {}
    for mode, f in fns["modes"].items():
        for s_name, s in shared.items():
            s.set_value(before[s_name])
        try:
            outcomes[mode] = ("ok", f(*args), _shared_state(shared))
        except Exception as exc:          # noqa: BLE001  (the class is checked below)
            outcomes[mode] = ("error", exc, None)
            _assert_state(shared, before, f"after {type(exc).__name__} in {mode} mode")
    (kind_c, got, state_c), (kind_py, ref, state_py) = outcomes["c"], outcomes["py"]
    for s_name, s in shared.items():
        s.set_value(before[s_name])
    if kind_c == kind_py == "ok":
        for k, (g, r) in enumerate(zip(got, ref)):
            _assert_same_values(g, r, TOLERANCE["float32"], f"output {k} for {perturbed}")
        for s_name in shared:
            _assert_same_values(state_c[s_name], state_py[s_name], TOLERANCE["float32"],
                                f"update of {s_name}")
        return
    assert kind_c == kind_py == "error", \
        f"one mode raised, the other did not: C {got!r}, py {ref!r} for {perturbed}"
    assert type(got) is type(ref), f"C raised {got!r}, py raised {ref!r}"
    assert isinstance(got, EXPECTED_ERRORS), f"unexpected exception class: {got!r}"
    wanted = {n for name in perturbed for n in PARTNERS[name]}
    for exc in (got, ref):
        message = str(exc)
        assert any(n in message for n in wanted), \
            f"{type(exc).__name__} does not name {sorted(wanted)}: {message}"


# --- extreme inputs, in a subprocess --------------------------------------------------------

EXTREME_SCRIPT = textwrap.dedent("""
    import numpy as np
    import cgraph
    import cgraph.tensor as T

    x = T.dmatrix("x")
    i, j, s = T.lscalars("i", "j", "s")
    idx = T.lvector("idx")
    cases = [
        ([x, i], x[i]), ([x, i], x[:, i]), ([x, i, j, s], x[i:j:s]),
        ([x, i, j, s], x[1:, i:j:s]), ([x, idx], x[idx]), ([x, idx], x[:, idx]),
        ([x, i], T.set_subtensor(x[i], 1.0)), ([x, idx], T.inc_subtensor(x[:, idx], 1.0)),
        ([x, i, j], x.reshape((i, j))), ([x, i], x.reshape((i, -1))),
        ([i, j], T.zeros((i, j))), ([i, j], T.alloc(np.float32(1), i, j, 2)),
        ([i, j, s], T.arange(i, j, s)), ([i, j], i // j), ([i, j], i % j), ([i, j], i ** j),
    ]
    # int64 extremes and sizes whose bytes overflow int64 or no machine has; none of them
    # a large-but-possible allocation, which the OS might grant and then fail to back
    EXTREMES = [-2**63, 2**63 - 1, -2**62, 2**62, 2**40, -2**31 - 1, 0, -1, 1, 3]
    X = np.arange(12.0).reshape(3, 4)

    def possible(case, vals):
        # arange/alloc of a size between 2**20 elements and the impossible: skip
        if case in (10, 11):
            n = abs(vals[0] * vals[1])
            return n < 2**20 or n > 2**42 or 0 in vals
        if case == 12:
            start, stop, step = vals
            if step == 0:
                return True
            n = max(0, (stop - start) // step)
            return n < 2**20 or n > 2**42
        return True

    import itertools
    count = 0
    for c, (inputs, out) in enumerate(cases):
        fs = [cgraph.function(inputs, out, mode=m) for m in ("c", "py")]
        scalars = [v for v in inputs if v.ndim == 0]
        for vals in itertools.product(EXTREMES, repeat=len(scalars)):
            if not possible(c, vals):
                continue
            args = [X] if inputs[0] is x else []
            args += [np.array(vals, dtype="int64")] if idx in inputs else list(vals)
            outcomes = []
            for f in fs:
                try:
                    outcomes.append(f(*args))
                except (ValueError, IndexError, ZeroDivisionError, MemoryError) as exc:
                    outcomes.append(type(exc).__name__)
            got, ref = outcomes
            if isinstance(got, str) or isinstance(ref, str):
                assert got == ref, (c, vals, got, ref)
            else:
                assert got.dtype == ref.dtype and got.shape == ref.shape, (c, vals)
                np.testing.assert_array_equal(got, ref)
            count += 1
    print("checked", count)
""")


def test_extreme_inputs_do_not_crash_the_process():
    proc = subprocess.run([sys.executable, "-c", EXTREME_SCRIPT], capture_output=True,
                          text=True, timeout=600, cwd=os.path.dirname(os.path.dirname(
                              os.path.dirname(os.path.abspath(__file__)))))
    assert proc.returncode == 0, f"exit status {proc.returncode}\n{proc.stderr[-3000:]}"
    assert proc.stdout.startswith("checked "), proc.stdout


# --- what the properties found, pinned ------------------------------------------------------

def _both_modes(inputs, outputs, values):
    """Outputs (or the exception class) of both modes; the C build must be warning-free."""
    results = {}
    for mode in ("c", "py"):
        f = cgraph.function(inputs, outputs, mode=mode)
        if mode == "c":
            assert_clean_build(f)
        try:
            results[mode] = f(*values)
        except EXPECTED_ERRORS as exc:
            results[mode] = type(exc)
    return results["c"], results["py"]


def test_float_floor_division_is_numpys():
    # numpy divides a - fmod(a, b), not a / b: 1 // 0.1 is 9 (1 / 0.1 rounds to 10)
    for dtype in FLOATS:
        a, b = T.vector("a", dtype=dtype), T.vector("b", dtype=dtype)
        va = np.array([1.0, -np.inf, np.inf, 5.0, 0.0, 7.5, -7.5, 0.3, -1.0], dtype=dtype)
        vb = np.array([0.1, -3.0, 3.0, 0.0, 0.0, -2.0, 2.0, 0.1, 0.1], dtype=dtype)
        with np.errstate(all="ignore"):
            expected = [np.floor_divide(va, vb), np.mod(va, vb)]
        for got in _both_modes([a, b], [a // b, a % b], [va, vb]):
            for g, e in zip(got, expected):
                _assert_same_values(g, e, 0.0, f"{dtype} floor division")


def test_integer_division_checks():
    k = T.ivector("k")
    e = T.bmatrix("e")
    z = T.bscalar("z")
    # the fused k // (k - 1) divides by zero on the ones that probe its dtypes: still builds
    got, ref = _both_modes([k, e, z], [k // (k - 1), e // z, e % z, e ** z],
                           [np.array([2, 3], dtype="int32"), np.zeros((0, 2), "int8"),
                            np.int8(0)])
    for g, r in zip(got, ref):
        _assert_same_values(g, r, 0.0, "integer division")     # nothing divided by the 0
    assert _both_modes([k], [k // (k - 1)], [np.array([1], dtype="int32")]) == \
        (ZeroDivisionError, ZeroDivisionError)
    # isnan/isinf of integers (constant False) leave no unused variable in the C
    _both_modes([k], [T.isnan(k), T.isinf(k * 2)], [np.array([1], dtype="int32")])


def test_arange_lengths_near_the_int64_limits():
    i, j, s = T.lscalars("i", "j", "s")
    for start, stop, step in [(-2**63, 2**63 - 1, 2**63 - 1), (2**63 - 1, -2**63, 1 - 2**63),
                              (-2**63, 2**63 - 1, 2**62), (0, 2**63 - 1, 2**61)]:
        got, ref = _both_modes([i, j, s], T.arange(i, j, s), [start, stop, step])
        assert got.tolist() == ref.tolist() == list(range(start, stop, step))
    assert _both_modes([i, j], T.zeros((i, j)), [2**62, 4]) == (ValueError, ValueError)


def test_advanced_indexing_with_an_empty_broadcast():
    x = T.dmatrix("x")
    rows, cols = T.lvectors("rows", "cols")
    i = T.lscalar("i")
    empty, far = np.zeros(0, dtype="int64"), np.array([7])
    # numpy reads nothing, so checks no array index; an integer index is checked anyway
    got, ref = _both_modes([x, rows, cols], [x[rows, cols], T.inc_subtensor(x[rows, cols], 1.0)],
                           [np.ones((2, 3)), empty, far])
    for g, r in zip(got, ref):
        _assert_same_values(g, r, 0.0, "empty advanced index")
    assert _both_modes([x, rows, i], x[rows, i], [np.ones((2, 3)), empty, 7]) == \
        (IndexError, IndexError)


def test_inc_subtensor_accumulates_a_broadcast_value_over_a_2d_index():
    v = T.dvector("v")
    idx = T.lmatrix("idx")
    y = T.dvector("y")
    got, ref = _both_modes([v, idx, y], T.inc_subtensor(v[idx], y),
                           [np.zeros(2), np.array([[-1, -1], [1, -1]]), np.array([4.0, 1.0])])
    np.testing.assert_array_equal(got, [0.0, 10.0])
    np.testing.assert_array_equal(ref, [0.0, 10.0])


def test_merged_dimshuffles_keep_a_dropped_axis_checked_at_run_time():
    x = T.dvector("x")
    y = T.dmatrix("y")
    out = T.set_subtensor(x[None, 1:], y.T.T)       # y's axis 0 is dropped: it must be 1 long
    got, ref = _both_modes([x, y], out, [np.zeros(3), np.full((1, 2), 7.0)])
    np.testing.assert_array_equal(got, [0.0, 7.0, 7.0])
    np.testing.assert_array_equal(ref, [0.0, 7.0, 7.0])
    assert _both_modes([x, y], out, [np.zeros(3), np.ones((2, 2))]) == (ValueError, ValueError)


def test_reduction_fused_with_one_element_inputs_builds_clean():
    x = T.tensor("float64", (True, True), name="x")
    for axis in (1, 0, None):      # one function each: a reduction folds exp(x) if alone
        got, ref = _both_modes([x], T.exp(x).sum(axis=axis), [np.full((1, 1), 0.5)])
        _assert_same_values(got, ref, TOLERANCE["float64"], f"sum(exp(x), axis={axis})")
