"""Reductions: sum, prod, mean, max, min, all, any, argmax, argmin, max_and_argmax, var, std.

Two ops do all the work:

- ``Reduce`` (Theano's CAReduce family): folds the reduced axes of its input with one of
  sum, prod, max, min, all, any, or ``mean``, ``var``, ``std``, which divide by the number
  of reduced elements (minus ``ddof`` for var/std) counted at run time, so they work on
  symbolic shapes. var/std are numpy's two-pass algorithm, in one node.
- ``ArgReduce``: the index of the first maximum (minimum) over the reduced axes, flattened in
  C order, optionally with the value itself (``max_and_argmax``).
"""
import builtins
import math
import numbers
from dataclasses import dataclass

import numpy as np

from ..graph.basic import Apply, Constant, Op
from ..graph.labels import c_string, label_of
from .elemwise import DimShuffle, broadcast_like, pad_left
from .math_ops import cast, eq, isclose, maximum, ones_like, switch
from .scalar_ops import upcast
from .shape_queries import shape_i
from .type import C_TYPES, TensorType, is_float, resolve_dtype, shape_str
from .var import TensorVariable, as_tensor_variable, constant, register_operations

# --- axis and dtype rules ----------------------------------------------------------------


def normalize_axis(x, axis):
    """``axis`` (None, an int, a list/tuple of ints, or a constant) as a sorted tuple of
    non-negative axes of ``x``; ValueError naming ``x`` for out-of-range or repeated axes."""
    if axis is None:
        return tuple(range(x.ndim))
    if isinstance(axis, Constant):
        axis = axis.data.tolist()
    elif isinstance(axis, np.ndarray):
        axis = axis.tolist()
    items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    result = []
    for a in items:
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, numbers.Integral):
            raise TypeError(f"axis must be None, an int or a list of ints, got {axis!r} "
                            f"(reducing {x!r})")
        a = int(a)
        if not -x.ndim <= a < x.ndim:
            raise ValueError(f"Invalid axis: {a} (the number of dimensions of the input "
                             f"{x!r} is: {x.ndim})")
        a = a % x.ndim
        if a in result:
            raise ValueError(f"repeated axis {a} in axis={axis!r} (reducing {x!r})")
        result.append(a)
    return tuple(sorted(result))


def reduce_dtypes(mode, in_dtype, dtype=None, acc_dtype=None):
    """(output dtype, accumulator dtype) of a reduction, by Theano's rules.

    Integer and bool sums and products return int64 (uint8 too: cgraph has no uint64); float
    sums keep their dtype but accumulate in float64; means of integers are float64.
    """
    if mode in ("max", "min"):
        return in_dtype, in_dtype
    if mode in ("all", "any"):
        return "bool", "bool"
    if mode in ("mean", "var", "std"):
        if dtype is not None:
            out = dtype if is_float(dtype) else "float64"   # an integer mean is a float
        else:
            out = in_dtype if is_float(in_dtype) else "float64"
        acc = acc_dtype or "float64"
        if not is_float(acc):
            raise TypeError(f"{mode} accumulates in a float dtype; got acc_dtype={acc}")
    else:   # sum, prod
        out = dtype if dtype is not None else (in_dtype if is_float(in_dtype) else "int64")
        if acc_dtype is None:
            wanted = upcast(in_dtype, out) if dtype is not None else in_dtype
            return out, ("float64" if is_float(wanted) else "int64")
        acc = acc_dtype
    if upcast(in_dtype, acc) != acc:
        raise TypeError(f"Cannot build {mode} node with input dtype {in_dtype} and acc_dtype "
                        f"{acc}, as precision would be lost. To correct this error, you can "
                        f"either: - not specify acc_dtype, or - use an acc_dtype at least as "
                        f"precise as the input dtype")
    return out, acc


def _reduced_count(shape, axes):
    return math.prod(shape[a] for a in axes)


def _out_broadcastable(x, axes, keepdims):
    if keepdims:
        return tuple(True if d in axes else b for d, b in enumerate(x.broadcastable))
    return tuple(b for d, b in enumerate(x.broadcastable) if d not in axes)


def _check_op_axes(op, x):
    if builtins.any(a >= x.ndim for a in op.axis):
        raise ValueError(f"{op} reduces axes {op.axis}, but its input {x!r} has "
                         f"{x.ndim} dimensions")


def _axes_text(axes):
    return "(" + ", ".join(map(str, axes)) + ("," if len(axes) == 1 else "") + ")"


def _reduced_mask(axes):
    """The C constant whose bit d says axis d is folded (the runtime's ``reduced``)."""
    return f"{builtins.sum(1 << a for a in axes):#x}u"


def _empty_what(fold):
    """What a ``fold`` (max, min, argmax, argmin) of no elements is: the text of its error,
    raised by the numpy reference and given to the C (cg_reduce_empty_message)."""
    if fold.startswith("arg"):
        return f"attempt to get {fold} of an empty sequence"
    name = {"max": "maximum", "min": "minimum"}[fold]
    return f"zero-size array to reduction operation {name} which has no identity"


# the folds the runtime library has (cg_reduce_node in templates/ops/reduce_float.c.j2)
_RUNTIME_FOLDS = {"sum": "CG_REDUCE_SUM", "mean": "CG_REDUCE_MEAN", "prod": "CG_REDUCE_PROD",
                  "max": "CG_REDUCE_MAX", "min": "CG_REDUCE_MIN"}


# --- the reduction op --------------------------------------------------------------------


class Reduce(Op):
    """Fold the ``axis`` axes of the input with ``mode``.

    ``mode``: 'sum', 'prod', 'max', 'min', 'all', 'any', 'mean', 'var' or 'std'; the last
    three divide by the number of reduced elements minus ``ddof`` (at least 0, as numpy).
    ``dtype`` and ``acc_dtype`` are the user's overrides (None: the defaults of
    ``reduce_dtypes``). With ``keepdims`` the reduced axes stay as broadcastable length-1 axes.

    ``scalar_op`` (a Composite, set by the fusion rewrite): the node has that op's inputs,
    and folds ``scalar_op`` applied elementwise to them (broadcast together, as Elemwise
    does) without writing that value anywhere: ``sum(exp(x))`` in one pass. Only the one-pass
    modes (``FUSABLE_MODES``) take one.
    """

    __props__ = ("mode", "axis", "keepdims", "dtype", "acc_dtype", "ddof", "scalar_op")
    c_template = "ops/reduce.c.j2"
    allocates_fresh_output = True
    # dtypes from the mode and the input dtype(s), the pattern from the input's and the axes;
    # a fused node's inputs have the output's rank already (no padding on a clone)
    output_types_depend_only_on_input_types = True
    MODES = ("sum", "prod", "max", "min", "all", "any", "mean", "var", "std")
    FUSABLE_MODES = ("sum", "prod", "max", "min", "all", "any", "mean")

    def __init__(self, mode, axis, keepdims=False, dtype=None, acc_dtype=None, ddof=0,
                 scalar_op=None):
        if mode not in self.MODES:
            raise ValueError(f"unknown reduction {mode!r}; expected one of {self.MODES}")
        if scalar_op is not None and mode not in self.FUSABLE_MODES:
            raise ValueError(f"a {mode} reduction reads its input twice, so it cannot fold "
                             f"an elementwise op into its loop")
        self.scalar_op = scalar_op
        self.mode = mode
        self.axis = tuple(sorted(int(a) for a in axis))
        self.keepdims = bool(keepdims)
        self.dtype = None if dtype is None else resolve_dtype(dtype)
        self.acc_dtype = None if acc_dtype is None else resolve_dtype(acc_dtype)
        self.ddof = int(ddof)

    def __str__(self):
        extra = [f"axis={_axes_text(self.axis)}"]
        if self.keepdims:
            extra.append("keepdims")
        if self.ddof:
            extra.append(f"ddof={self.ddof}")
        if self.scalar_op is not None:
            extra.append(self.scalar_op.name)
        return f"{self.mode.capitalize()}{{{', '.join(extra)}}}"

    def dtypes(self, in_dtype):
        return reduce_dtypes(self.mode, in_dtype, self.dtype, self.acc_dtype)

    def make_node(self, *inputs):
        if self.scalar_op is None:
            if len(inputs) != 1:
                raise TypeError(f"{self} takes one input, got {len(inputs)}")
            x = as_tensor_variable(inputs[0])
            _check_op_axes(self, x)
            out_dtype, _ = self.dtypes(x.dtype)
            bcast = _out_broadcastable(x, self.axis, self.keepdims)
            return Apply(self, [x], [TensorVariable(TensorType(out_dtype, bcast))])
        return self._make_fused_node(inputs)

    def _make_fused_node(self, inputs):
        op = self.scalar_op
        if len(inputs) != op.nin:
            raise TypeError(f"{self} takes {op.nin} inputs, got {len(inputs)}")
        inputs = [as_tensor_variable(x) for x in inputs]
        ndim = builtins.max(x.ndim for x in inputs)
        inputs = [pad_left(x, ndim) for x in inputs]
        in_dtypes = [x.dtype for x in inputs]
        if tuple(in_dtypes) != tuple(getattr(op, "in_dtypes", in_dtypes)):
            raise TypeError(f"{self} was built for inputs of dtypes {op.in_dtypes}, got "
                            f"{tuple(in_dtypes)}")
        # the value folded: the inputs broadcast together, as Elemwise computes them
        value = TensorType(op.out_dtype(in_dtypes),
                           tuple(builtins.all(x.broadcastable[d] for x in inputs)
                                 for d in range(ndim)))
        if builtins.any(a >= ndim for a in self.axis):
            raise ValueError(f"{self} reduces axes {self.axis}, but its inputs have {ndim} "
                             f"dimensions")
        out_dtype, _ = self.dtypes(value.dtype)
        bcast = _out_broadcastable(value, self.axis, self.keepdims)
        return Apply(self, inputs, [TensorVariable(TensorType(out_dtype, bcast))])

    def value_dtype(self, node):
        """The dtype of the value folded (the input's, or the scalar op's result)."""
        if self.scalar_op is None:
            return node.inputs[0].dtype
        return self.scalar_op.out_dtype([x.dtype for x in node.inputs])

    def _value(self, node, inputs):
        """The array folded, and how messages name it."""
        if self.scalar_op is None:
            return inputs[0], label_of(node.inputs[0])
        value = self.scalar_op.perform(inputs, self.value_dtype(node))
        shape = np.broadcast_shapes(*[a.shape for a in inputs])
        if value.shape != shape:
            value = np.broadcast_to(value, shape)
        return value, value_label(node)

    def perform(self, node, inputs):
        x, label = self._value(node, inputs)
        out_dtype, acc = self.dtypes(x.dtype.name)
        axes, keep = self.axis, self.keepdims
        count = _reduced_count(x.shape, axes)
        if self.mode in ("max", "min") and count == 0:
            raise ValueError(_empty_message(_empty_what(self.mode), label, x.shape, axes))
        with np.errstate(all="ignore"):
            if self.mode in ("sum", "mean"):
                result = np.sum(x, axis=axes, dtype=acc, keepdims=keep)
                if self.mode == "mean":
                    result = np.true_divide(np.asarray(result, dtype="float64"),
                                            builtins.max(count - self.ddof, 0))
            elif self.mode in ("var", "std"):
                # as the C code: the mean, then squared deviations, in float64
                mean = np.sum(x, axis=axes, dtype="float64", keepdims=True) / count
                dev = x.astype("float64") - mean
                result = np.sum(dev * dev, axis=axes, keepdims=keep) \
                    / builtins.max(count - self.ddof, 0)
                if self.mode == "std":
                    result = np.sqrt(result)
            elif self.mode == "prod":
                result = np.prod(x, axis=axes, dtype=acc, keepdims=keep)
            else:
                fn = {"max": np.max, "min": np.min, "all": np.all, "any": np.any}[self.mode]
                result = fn(x, axis=axes, keepdims=keep)
            return [np.asarray(result).astype(out_dtype, copy=False)]

    def L_op(self, inputs, outputs, output_grads):
        """Gradients of every float reduction (all/any have none: their output is bool)."""
        if self.scalar_op is not None:
            raise NotImplementedError("a reduction with a fused elementwise op has no "
                                      "gradient: take gradients before the graph is optimized")
        (x,), (out,), (gz,) = inputs, outputs, output_grads
        if gz is None or not is_float(x.dtype) or self.mode in ("all", "any"):
            return [None]
        g = expand_reduced(gz, x, self.axis, self.keepdims)
        if self.mode == "sum":
            return [broadcast_to_input(g, x)]
        if self.mode == "mean":
            return [broadcast_to_input(g / reduced_count(x, self.axis, g.dtype, self.ddof), x)]
        o = expand_reduced(out, x, self.axis, self.keepdims)
        if self.mode in ("max", "min"):
            return [g * eq(x, o)]   # every tied extreme gets the gradient, as in Theano
        if self.mode in ("var", "std"):
            n = reduced_count(x, self.axis, x.dtype, self.ddof)
            mean = _reduce("mean", x, self.axis, True)
            gx = g * cast(2, x.dtype) * (x - mean) / n
            return [gx / (cast(2, x.dtype) * o) if self.mode == "std" else gx]
        if self.mode == "prod":
            # the product of the other elements, also where x holds zeros
            zero = eq(x, 0)
            nonzero_prod = _reduce("prod", switch(zero, ones_like(x), x), self.axis, True)
            zeros = _reduce("sum", zero, self.axis, True)
            others = switch(zero, switch(eq(zeros, 1), nonzero_prod, 0),
                              switch(eq(zeros, 0), nonzero_prod / x, 0))
            return [g * others]
        raise NotImplementedError(f"no gradient for reduction {self.mode}")

    def c_params(self, node):
        """The node's call of the runtime's driver cg_reduce (templates/ops/reduce.c.j2):
        every value of its plan, or, for a plain float fold the runtime has, of
        cg_reduce_node; the fold functions themselves come from c_support_code."""
        x = node.inputs[0]
        x_dtype = self.value_dtype(node)
        out_dtype, _ = self.dtypes(x_dtype)
        fused = self.scalar_op is not None
        # a sum of squares (an L2 penalty: (w ** 2).sum()) is a fold the runtime has too
        squares = self.mode == "sum" and _is_square_of_its_input(self.scalar_op)
        acc_ctype, _ = _accumulator(self.mode, x_dtype, self.dtypes(x_dtype)[1])
        runtime_fold = (not fused or squares) and self.ddof == 0 \
            and x_dtype in ("float32", "float64") and out_dtype == x_dtype \
            and self.mode in _RUNTIME_FOLDS \
            and acc_ctype == ("double" if self.mode not in ("max", "min") else C_TYPES[x_dtype])
        scalar = _scalar_inputs(node) if fused else []
        return {
            "runtime_fold": runtime_fold,
            "runtime_mode": "CG_REDUCE_SUM_SQUARES" if squares else _RUNTIME_FOLDS.get(self.mode),
            "is_double": int(x_dtype == "float64"),
            "nd": x.ndim,
            "reduced": _reduced_mask(self.axis),
            "keepdims": int(self.keepdims),
            "ddof": self.ddof,
            "empty": f'"{c_string(_empty_what(self.mode))}"' if self.mode in ("max", "min")
            else "NULL",
            "label": c_string(value_label(node) if fused else label_of(x)),
            "acc_ctype": acc_ctype,
            "scalar_mask": f"{builtins.sum(1 << k for k in scalar):#x}ull",
            # the fold functions (c_support_code), NULL where the node has none
            "runs": "NULL", "rows": "NULL", "sq_runs": "NULL", "sq_rows": "NULL",
            "finish": "NULL",
        }

    def c_support_code(self, node, module):
        """The node's fold functions (templates/ops/reduce_kernel.c.j2), shared by the
        nodes of the module that fold the same way."""
        if self.c_params(node)["runtime_fold"]:
            return {}
        folds, finish, rows = _fold_functions(self, node)
        name = module.add_kernel("ops/reduce_kernel.c.j2", f"cg_fold_{self.mode}",
                                 folds=folds, finish=finish)
        names = {"runs": f"{name}_runs", "rows": f"{name}_rows" if rows else "NULL",
                 "finish": name if finish else "NULL"}
        if len(folds) == 2:
            names.update(sq_runs=f"{name}_sq_runs", sq_rows=f"{name}_sq_rows" if rows else "NULL")
        return names


@dataclass
class FoldFunction:
    """The pieces of C of one fold (templates/ops/reduce_kernel.c.j2): ``<name>_runs`` and
    ``<name>_rows`` fold the value cg_v (computed by ``run_value`` / ``row_value`` at
    cg_at, from what ``run_reads`` / ``row_reads`` set up) into cg_acc by ``step`` /
    ``row_step``, starting from ``init``; a run's accumulator is ``run_result`` at its end."""
    name: str
    comment: str
    acc_ctype: str
    init: str
    run_reads: list
    row_reads: list
    run_value: list
    row_value: list
    run_locals: list
    simd: list
    step: str
    row_step: str
    run_result: str
    rows: bool


@dataclass
class FinishFunction:
    """The output from an accumulator cg_acc (cg_div: the elements folded minus ddof)."""
    name: str
    comment: str
    acc_ctype: str
    out_ctype: str
    value: str


def _accumulator(mode, x_dtype, acc_dtype):
    """(C type the fold accumulates in, C type it stands for): integers sum and multiply in
    uint64_t, whose wrap-around is defined C (numpy's integers wrap around too)."""
    if mode in ("sum", "prod", "mean", "var", "std"):
        if not is_float(acc_dtype):
            return "uint64_t", C_TYPES[acc_dtype]
        return C_TYPES[acc_dtype], C_TYPES[acc_dtype]
    return C_TYPES[x_dtype], C_TYPES[x_dtype]


def _scalar_inputs(node):
    """The inputs of a fused node that hold one element (read once, never laid out)."""
    return [k for k, x in enumerate(node.inputs) if builtins.all(x.broadcastable)]


def _simd(clause):
    """A SIMD reduction of the fold's loop, where the toolchain honours it (runtime.h)."""
    return ["#ifdef CG_SIMD_FOLDS", f"        #pragma omp simd {clause}", "#endif"]


def _fold_functions(op, node):
    """The node's FoldFunctions (var/std: the sums, then the squared deviations from the
    means), its FinishFunction (none when the accumulators are the output), and whether the
    folds read rows (the reduced axes the first ones)."""
    nd, axes, mode = node.inputs[0].ndim, op.axis, op.mode
    x_dtype = op.value_dtype(node)
    out_dtype, acc_dtype = op.dtypes(x_dtype)
    x_ct, out_ct = C_TYPES[x_dtype], C_TYPES[out_dtype]
    acc_ct, final_ct = _accumulator(mode, x_dtype, acc_dtype)
    ctypes = [C_TYPES[x.dtype] for x in node.inputs]
    fused = op.scalar_op is not None
    scalar = _scalar_inputs(node) if fused else []
    vector = [k for k in range(len(node.inputs)) if k not in scalar]
    rows = 0 < len(axes) < nd and list(axes) == list(range(len(axes)))
    reads = [f"const {ctypes[k]} *restrict p{k} = cg_d->p[{k}];" for k in vector] \
        + [f"const {ctypes[k]} a{k} = *(const {ctypes[k]} *)cg_d->p[{k}];" for k in scalar]
    run_reads = (["const int64_t cg_count = cg_d->count;"] if vector else []) + reads
    row_reads = (["const int64_t cg_n = cg_d->n;"] if vector else []) + reads
    run_at = ["const int64_t cg_at = cg_o * cg_count + cg_k;"] if vector else []
    row_at = ["const int64_t cg_at = cg_k * cg_n + cg_o;"] if vector else []
    if fused:
        statements, expr = op.scalar_op.c_body([f"a{k}" for k in range(len(node.inputs))])
        value = [f"const {ctypes[k]} a{k} = p{k}[cg_at];" for k in vector] + list(statements) \
            + [f"const {x_ct} cg_v = ({x_ct})({expr});"]
        # only integer division and powers set the error flag (a float pow never does)
        may_fail = builtins.any("cg_bad" in line for line in statements + [expr])
    else:
        value, may_fail = [f"const {x_ct} cg_v = p0[cg_at];"], False
    to_acc = "" if acc_ct == x_ct else f"({acc_ct})"
    cmp = ">" if mode == "max" else "<"
    nan_flag = is_float(x_dtype) and mode in ("max", "min")
    if mode in ("sum", "mean", "var", "std"):
        step = row_step = f"cg_acc += {to_acc}cg_v;"
    elif mode == "prod":
        step = row_step = f"cg_acc *= {to_acc}cg_v;"
    elif mode in ("all", "any"):
        step = row_step = f"cg_acc = cg_acc {'&&' if mode == 'all' else '||'} (cg_v != 0);"
    elif x_dtype == "bool":
        step = row_step = f"cg_acc = cg_acc {'||' if mode == 'max' else '&&'} cg_v;"
    elif nan_flag:   # NaN in a flag beside a branch-free extreme; in rows it sticks in cg_acc
        step = f"cg_acc = cg_v {cmp} cg_acc ? cg_v : cg_acc; cg_nan |= isnan(cg_v);"
        row_step = f"if (cg_v {cmp} cg_acc || isnan(cg_v)) cg_acc = cg_v;"
    else:
        step = row_step = f"if (cg_v {cmp} cg_acc) cg_acc = cg_v;"
    simd_op = {"max": "max", "min": "min", "prod": "*"}.get(mode, "+")
    simd = mode not in ("all", "any") and acc_ct in ("double", "float") and not may_fail
    # (no axes: nodes folding the same way share the functions)
    comment = f"{mode} of {op.scalar_op.name if fused else x_dtype}".replace("*/", "* /")
    folds = [FoldFunction(
        name="@KERNEL@", comment=comment, acc_ctype=acc_ct,
        init=_init_literal(mode, x_dtype), run_reads=run_reads, row_reads=row_reads,
        run_value=run_at + value, row_value=row_at + value,
        run_locals=["int cg_nan = 0;"] if nan_flag else [],
        simd=_simd(f"reduction({simd_op}:cg_acc)" + (" reduction(|:cg_nan)" if nan_flag else ""))
        if simd else [],
        step=step, row_step=row_step,
        run_result="cg_nan ? NAN : cg_acc" if nan_flag else "cg_acc", rows=rows)]
    if mode in ("var", "std"):   # numpy's second pass: squared deviations from the means
        means = ["const double *restrict cg_means = cg_d->means;"]
        to_double = "" if x_ct == "double" else "(double)"
        deviation = [f"const double cg_dev = {to_double}p0[cg_at] - cg_means[cg_o];",
                     "const double cg_v = cg_dev * cg_dev;"]
        folds.append(FoldFunction(
            name="@KERNEL@_sq", comment=f"{comment}: squared deviations", acc_ctype="double",
            init="0", run_reads=run_reads + means, row_reads=row_reads + means,
            run_value=run_at + deviation, row_value=row_at + deviation, run_locals=[],
            simd=_simd("reduction(+:cg_acc)"), step="cg_acc += cg_v;",
            row_step="cg_acc += cg_v;", run_result="cg_acc", rows=rows))
    to_out = "" if out_ct == "double" else f"({out_ct})"
    if mode == "std":
        result = f"{to_out}sqrt(cg_acc / cg_div)"
    elif mode in ("mean", "var"):
        result = f"{to_out}(cg_acc / cg_div)"
    elif acc_ct == out_ct:
        result = None   # the accumulators are the output
    elif final_ct != acc_ct and final_ct != out_ct:
        result = f"({out_ct})({final_ct})cg_acc"
    else:
        result = f"({out_ct})cg_acc"
    finish = [FinishFunction(name="@KERNEL@", comment=comment, acc_ctype=acc_ct,
                             out_ctype=out_ct, value=result)] if result else []
    return folds, finish, rows


def _is_square_of_its_input(op):
    """Whether the fused scalar op is sqr of its one input, in that input's dtype."""
    if op is None or op.nin != 1 or len(getattr(op, "steps", ())) != 1:
        return False
    (scalar, refs, dtype), = op.steps
    return scalar.name == "sqr" and tuple(refs) == (0,) and dtype == op.in_dtypes[0]


def value_label(node):
    """How messages name the value a fused reduction folds: its expression over the labels
    of the node's inputs, as the unfused graph would name the reduction's input."""
    op = node.op.scalar_op
    labels = [label_of(x) for x in node.inputs]

    def describe(ref):
        if ref < op.nin:
            return labels[ref]
        scalar, args, _ = op.steps[ref - op.nin]
        return f"{scalar.name}({', '.join(describe(a) for a in args)})"
    text = describe(op.nin + len(op.steps) - 1)
    return text if len(text) <= 80 else text[:77] + "..."


def _empty_message(text, var, shape, axes):
    label = var if isinstance(var, str) else label_of(var)
    return f"{text}: {label} has shape {shape_str(shape)} and axes {_axes_text(axes)} " \
           f"are reduced"


_INT_LIMITS = {"int8": ("INT8_MIN", "INT8_MAX"), "int16": ("INT16_MIN", "INT16_MAX"),
               "int32": ("INT32_MIN", "INT32_MAX"), "int64": ("INT64_MIN", "INT64_MAX"),
               "uint8": ("0", "UINT8_MAX"), "bool": ("0", "1")}


def _init_literal(mode, in_dtype):
    """The C value the accumulator starts from: the identity, or the lowest (highest) value
    of the type for max (min), which an empty reduction never reaches (it fails first)."""
    if mode in ("sum", "mean", "var", "std", "any"):
        return "0"
    if mode in ("prod", "all"):
        return "1"
    if is_float(in_dtype):
        return "-INFINITY" if mode == "max" else "INFINITY"
    low, high = _INT_LIMITS[in_dtype]
    return low if mode == "max" else high


# --- argmax / argmin ---------------------------------------------------------------------


class ArgReduce(Op):
    """Index (int64) of the first maximum (``kind='max'``) or minimum over ``axis``.

    Several reduced axes are flattened in C order, so ``axis=None`` indexes the flattened
    input, as numpy's argmax does. A NaN counts as the extreme: the first NaN's index is
    returned. With ``with_value`` the node has two outputs, the extreme value and the index
    (Theano's MaxAndArgmax).
    """

    __props__ = ("kind", "axis", "keepdims", "with_value")
    c_template = "ops/argreduce.c.j2"
    output_types_depend_only_on_input_types = True   # x's pattern and the axes

    def __init__(self, kind, axis, keepdims=False, with_value=False):
        if kind not in ("max", "min"):
            raise ValueError(f"ArgReduce kind must be 'max' or 'min', got {kind!r}")
        self.kind = kind
        self.axis = tuple(sorted(int(a) for a in axis))
        self.keepdims = bool(keepdims)
        self.with_value = bool(with_value)

    def __str__(self):
        name = f"{self.kind.capitalize()}AndArg{self.kind}" if self.with_value \
            else f"Arg{self.kind}"
        extra = ", keepdims" if self.keepdims else ""
        return f"{name}{{axis={_axes_text(self.axis)}{extra}}}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        _check_op_axes(self, x)
        bcast = _out_broadcastable(x, self.axis, self.keepdims)
        outputs = [TensorVariable(TensorType("int64", bcast))]
        if self.with_value:
            outputs.insert(0, TensorVariable(TensorType(x.dtype, bcast)))
        return Apply(self, [x], outputs)

    def perform(self, node, inputs):
        (x,) = inputs
        axes = list(self.axis)
        kept = [d for d in range(x.ndim) if d not in axes]
        count = _reduced_count(x.shape, axes)
        if count == 0:
            raise ValueError(_empty_message(_empty_what(f"arg{self.kind}"), node.inputs[0],
                                            x.shape, axes))
        kept_shape = tuple(x.shape[d] for d in kept)
        # move the reduced axes last and flatten them, so one numpy call does any axis set
        flat = np.transpose(x, kept + axes).reshape(kept_shape + (count,))
        out_shape = tuple(1 if d in axes else x.shape[d] for d in range(x.ndim)) \
            if self.keepdims else kept_shape
        arg = np.argmax if self.kind == "max" else np.argmin
        results = [np.asarray(arg(flat, axis=-1)).astype("int64").reshape(out_shape)]
        if self.with_value:
            extreme = np.max if self.kind == "max" else np.min
            results.insert(0, np.asarray(extreme(flat, axis=-1)).reshape(out_shape))
        return results

    def L_op(self, inputs, outputs, output_grads):
        """The index has no gradient; the value (max_and_argmax) routes to every tied extreme."""
        (x,) = inputs
        if not self.with_value or output_grads[0] is None or not is_float(x.dtype):
            return [None]
        g = expand_reduced(output_grads[0], x, self.axis, self.keepdims)
        o = expand_reduced(outputs[0], x, self.axis, self.keepdims)
        return [g * eq(x, o)]

    def c_params(self, node):
        """The node's call of the runtime's cg_argreduce (templates/ops/argreduce.c.j2)."""
        return {
            "nd": node.inputs[0].ndim,
            "reduced": _reduced_mask(self.axis),
            "keepdims": int(self.keepdims),
            "with_value": self.with_value,
            "empty": c_string(_empty_what(f"arg{self.kind}")),
        }

    def c_support_code(self, node, module):
        """The node's fold function (templates/ops/argreduce_kernel.c.j2)."""
        x = node.inputs[0]
        cmp = ">" if self.kind == "max" else "<"
        better = f"cg_v {cmp} cg_best" + (" || (isnan(cg_v) && !isnan(cg_best))"
                                          if is_float(x.dtype) else "")
        name = module.add_kernel("ops/argreduce_kernel.c.j2", f"cg_arg{self.kind}",
                                 ctype=C_TYPES[x.dtype], better=better,
                                 comment=f"arg{self.kind} of {x.dtype}")
        return {"kernel": name}


# --- gradient helpers ----------------------------------------------------------------------


def expand_reduced(value, x, axes, keepdims):
    """``value`` (a reduction's result) with the reduced axes back as length-1 axes."""
    if keepdims or not axes:
        return value
    pattern, k = [], 0
    for d in range(x.ndim):
        if d in axes:
            pattern.append("x")
        else:
            pattern.append(k)
            k += 1
    return DimShuffle(value.broadcastable, pattern)(value)


def broadcast_to_input(g, x):
    """``g`` (length 1 on the reduced axes) broadcast to the shape of ``x``."""
    return broadcast_like(g, x)


def reduced_count(x, axes, dtype, ddof=0):
    """The number of elements reduced, minus ``ddof``, as a scalar of ``dtype`` (run time)."""
    count = constant(1, dtype="int64")
    for d in axes:
        count = count * shape_i(x, d)
    if ddof:
        count = maximum(count - ddof, 0)
    return cast(count, dtype)


# --- the user functions (Theano's signatures) --------------------------------------------


def _reduce(mode, input, axis, keepdims, **kwargs):
    x = as_tensor_variable(input)
    return Reduce(mode, normalize_axis(x, axis), keepdims, **kwargs)(x)


def sum(input, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Sum over ``axis`` (None: all axes). Integers and bools sum to int64; float32 sums
    accumulate in float64 and return float32."""
    return _reduce("sum", input, axis, keepdims, dtype=dtype, acc_dtype=acc_dtype)


def prod(input, axis=None, dtype=None, keepdims=False, acc_dtype=None,
         no_zeros_in_input=False):
    """Product over ``axis``; dtypes as ``sum``. (``no_zeros_in_input`` only concerns the
    gradient in Theano; the product is the same.)"""
    return _reduce("prod", input, axis, keepdims, dtype=dtype, acc_dtype=acc_dtype)


def mean(input, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Mean over ``axis``: float64 for integers, float32 stays float32. An empty reduction
    gives nan, as numpy's does."""
    return _reduce("mean", input, axis, keepdims, dtype=dtype, acc_dtype=acc_dtype)


def max(x, axis=None, keepdims=False):
    """Maximum over ``axis``; NaN propagates. Fails on an empty reduction."""
    return _reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims=False):
    """Minimum over ``axis``; NaN propagates. Fails on an empty reduction."""
    return _reduce("min", x, axis, keepdims)


def all(x, axis=None, keepdims=False):
    """True where every element over ``axis`` is nonzero."""
    return _reduce("all", x, axis, keepdims)


def any(x, axis=None, keepdims=False):
    """True where some element over ``axis`` is nonzero."""
    return _reduce("any", x, axis, keepdims)


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether every element of a and b is close (a bool scalar)."""
    return all(isclose(a, b, rtol, atol, equal_nan))


def _argreduce(kind, x, axis, keepdims, with_value):
    x = as_tensor_variable(x)
    return ArgReduce(kind, normalize_axis(x, axis), keepdims, with_value)(x)


def argmax(x, axis=None, keepdims=False):
    """Index (int64) of the first maximum over ``axis``; with several axes (or None) the
    index is into those axes flattened in C order."""
    return _argreduce("max", x, axis, keepdims, False)


def argmin(x, axis=None, keepdims=False):
    """Index (int64) of the first minimum over ``axis``."""
    return _argreduce("min", x, axis, keepdims, False)


def max_and_argmax(a, axis=None, keepdims=False):
    """``[max(a, axis), argmax(a, axis)]`` computed by one node."""
    return _argreduce("max", a, axis, keepdims, True)


def var(input, axis=None, ddof=0, keepdims=False, corrected=False):
    """Variance over ``axis``, divided by N - ddof (numpy's two-pass algorithm, which is
    already the accurate one, so Theano's ``corrected`` flag changes nothing here).
    Integers give float64, float32 stays float32."""
    return _reduce("var", input, axis, keepdims, ddof=_check_ddof(ddof))


def std(input, axis=None, ddof=0, keepdims=False, corrected=False):
    """Standard deviation: the square root of ``var(...)``, in one node."""
    return _reduce("std", input, axis, keepdims, ddof=_check_ddof(ddof))


def _check_ddof(ddof):
    if isinstance(ddof, (bool, np.bool_)) or not isinstance(ddof, numbers.Integral):
        raise TypeError(f"ddof must be an int, got {ddof!r}")
    return int(ddof)


register_operations(__name__, globals())   # the methods of tensor variables (var.py)
