"""Reverse-mode differentiation: ``grad``, ``verify_grad``, ``Lop``, ``Rop``.

``grad`` walks the graph from the cost back to the variables asked for. Each op gives the
gradients of its inputs from those of its outputs (``Op.L_op(inputs, outputs, output_grads)``
or Theano's ``Op.grad(inputs, output_grads)``); contributions reaching a variable along
several paths are added. Gradients do not flow through integer or boolean values
(comparisons, argmax, casts to int), nor below the variables in ``consider_constant``.
The result is an ordinary graph, compiled like any other.
"""
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from . import tensor as _tensor_namespace
from .compile.function import function
from .compile.sharedvalue import shared
from .config import config
from .graph.basic import GradientNotImplemented, Variable, ancestors, io_toposort
from .tensor import basic as T
from .tensor.shape_ops import patternbroadcast, zeros_like
from .tensor.type import TensorType, is_float
from .tensor.var import as_tensor_variable


class DisconnectedInputError(ValueError):
    """The cost does not depend on a variable the gradient was asked for."""


class GradientError(AssertionError):
    """``verify_grad`` found the symbolic gradient differs from the numeric one."""

    def __init__(self, message, abs_err, rel_err, abs_tol, rel_tol):
        super().__init__(message)
        self.abs_err, self.rel_err = abs_err, rel_err
        self.abs_tol, self.rel_tol = abs_tol, rel_tol


def _stabilized(cost, keep):
    """``cost`` with the stabilising rewrites applied, the variables in ``keep`` untouched."""
    from .rewrite.engine import Phase, apply_phase
    from .rewrite.stabilize import STABILIZE
    (result,) = apply_phase(Phase("stabilize", STABILIZE), list(keep), [cost])
    if result is not cost and result.name is None:
        result.name = cost.name
    return result


def _op_grads(node, output_grads):
    op = node.op
    try:
        return op.L_op(node.inputs, node.outputs, output_grads)
    except GradientNotImplemented:   # the Op default: the op defines no gradient at all
        raise NotImplementedError(
            f"{op} has no gradient implemented (needed to differentiate through "
            f"{node.outputs[0]!r}" + (f", built at {node.trace}" if node.trace else "") + ")"
        ) from None


def _add_all(terms):
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def grad(cost: Variable, wrt: "Variable | Sequence[Variable]",
         consider_constant: "Sequence[Variable] | None" = None,
         disconnected_inputs: str = "raise", add_names: bool = True,
         known_grads: "Mapping[Variable, Variable] | None" = None,
         return_disconnected: str = "zero",
         null_gradients: str = "raise") -> "Variable | list[Variable]":
    """Symbolic gradient of ``cost`` with respect to ``wrt`` (a variable or a list of them).

    ``cost`` must be a scalar unless ``known_grads`` ({variable: its gradient}) starts the
    backward pass instead. ``disconnected_inputs`` says what happens when the cost does not
    depend on a ``wrt`` variable: 'raise' (DisconnectedInputError), 'warn' or 'ignore'; the
    gradient is then zero (``return_disconnected='zero'``) or None ('None').
    """
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError(f"disconnected_inputs must be 'raise', 'warn' or 'ignore', got "
                         f"{disconnected_inputs!r}")
    if return_disconnected not in ("zero", "None", "Disconnected"):
        raise ValueError(f"return_disconnected must be 'zero', 'None' or 'Disconnected', got "
                         f"{return_disconnected!r}")
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    for w in wrt_list:
        if not isinstance(w, Variable):
            raise TypeError(f"grad: wrt must be a variable or a list of variables, got {w!r}")
    known_grads = dict(known_grads or {})
    if cost is None and not known_grads:
        raise ValueError("grad: cost is None and no known_grads were given")
    grads = {}
    roots = []
    if cost is not None:
        cost = as_tensor_variable(cost)
        if cost.ndim != 0:
            raise TypeError(f"cost must be a scalar, got {cost!r} with {cost.ndim} dimensions "
                            f"(use cost.sum() or cost.mean(), or pass known_grads)")
        seed_dtype = cost.dtype if is_float(cost.dtype) else config.floatX
        grads[cost] = [T.cast(T.ones_like(cost), seed_dtype)]
        roots.append(cost)
    for var, g in known_grads.items():
        g = as_tensor_variable(g)
        if g.ndim != var.ndim:
            raise ValueError(f"known_grads: the gradient given for {var!r} has {g.ndim} "
                             f"dimensions, the variable has {var.ndim}")
        grads.setdefault(var, []).append(g)
        roots.append(var)

    stop = set(consider_constant or [])
    for v in stop:
        if not isinstance(v, Variable):
            raise TypeError(f"consider_constant must list variables, got {v!r}")
    # outputs of disconnected_grad(x) are constants for the gradient, as consider_constant
    stop.update(v for v in ancestors(roots, stop_at=stop)
                if v.owner is not None and v.owner.op.disconnects_gradient)
    wrt_set = set(wrt_list)
    if cost is not None:
        # Differentiate the numerically stable form (log(softmax(x)) -> log_softmax(x)...):
        # rewrites of the compiled graph never see inside the gradient's formulas.
        stable = _stabilized(cost, stop | wrt_set | set(known_grads))
        if stable is not cost:
            grads[stable] = grads.pop(cost)
            roots[roots.index(cost)] = stable
            cost = stable
    nodes = io_toposort(roots, stop_at=stop | wrt_set)
    # variables through which a wrt variable can influence the cost
    depends = set(wrt_set)
    for node in nodes:
        if any(i in depends for i in node.inputs):
            depends.update(node.outputs)

    for node in reversed(nodes):
        if not any(o in depends for o in node.outputs):
            continue
        out_grads = []
        for o in node.outputs:
            terms = grads.get(o)
            out_grads.append(_add_all(terms) if terms and is_float(o.dtype) else None)
        if all(g is None for g in out_grads):
            continue
        in_grads = _op_grads(node, out_grads)
        if len(in_grads) != len(node.inputs):
            raise ValueError(f"{node.op} returned {len(in_grads)} gradients for "
                             f"{len(node.inputs)} inputs")
        for inp, g in zip(node.inputs, in_grads):
            if g is None or inp not in depends or not is_float(inp.dtype):
                continue
            g = as_tensor_variable(g)
            if g.dtype != inp.dtype:
                g = T.cast(g, inp.dtype)
            if g.ndim != inp.ndim:
                raise ValueError(f"{node.op} gave a gradient of {g.ndim} dimensions for its "
                                 f"input {inp!r} of {inp.ndim}")
            if g.broadcastable != inp.broadcastable:
                # a gradient has its variable's type, so `p - lr * g` can update p
                g = patternbroadcast(g, inp.broadcastable)
            grads.setdefault(inp, []).append(g)

    results = []
    for k, w in enumerate(wrt_list):
        terms = grads.get(w)
        if terms and is_float(w.dtype):
            g = _add_all(terms)
            if add_names and cost is not None and g.name is None:
                g.name = f"(d{cost.name or 'cost'}/d{w.name or 'wrt'})"
            results.append(g)
            continue
        connected = w in ancestors(roots, stop_at=stop)
        if not connected:
            message = (f"grad method was asked to compute the gradient with respect to a "
                       f"variable that is not part of the computational graph of the cost, or "
                       f"is used only by a non-differentiable operator: {w!r} (wrt index {k})")
            if disconnected_inputs == "raise":
                raise DisconnectedInputError(message + ". To make this error a warning, pass "
                                             "disconnected_inputs='warn'; to ignore it, "
                                             "disconnected_inputs='ignore'.")
            if disconnected_inputs == "warn":
                warnings.warn(message, stacklevel=2)
            if return_disconnected in ("None", "Disconnected"):
                results.append(None)
                continue
        dtype = w.dtype if is_float(w.dtype) else config.floatX
        results.append(zeros_like(w, dtype=dtype))
    return results[0] if single else results


def Lop(f: "Variable | Sequence[Variable]", wrt: "Variable | Sequence[Variable]",
        eval_points: "Variable | Sequence[Variable]",
        consider_constant: "Sequence[Variable] | None" = None,
        disconnected_inputs: str = "raise") -> "Variable | list[Variable]":
    """The vector-Jacobian product ``eval_points^T d f / d wrt``."""
    fs = f if isinstance(f, (list, tuple)) else [f]
    points = eval_points if isinstance(eval_points, (list, tuple)) else [eval_points]
    if len(fs) != len(points):
        raise ValueError("Lop: f and eval_points must have the same length")
    return grad(None, wrt, consider_constant=consider_constant,
                disconnected_inputs=disconnected_inputs, known_grads=dict(zip(fs, points)))


def Rop(f: "Variable | Sequence[Variable]", wrt: "Variable | Sequence[Variable]",
        eval_points: "Variable | Sequence[Variable]") -> "Variable | list[Variable]":
    """The Jacobian-vector product ``d f / d wrt . eval_points``, by the double-Lop trick."""
    fs = f if isinstance(f, (list, tuple)) else [f]
    wrts = wrt if isinstance(wrt, (list, tuple)) else [wrt]
    points = eval_points if isinstance(eval_points, (list, tuple)) else [eval_points]
    if len(wrts) != len(points):
        raise ValueError("Rop: wrt and eval_points must have the same length")
    results = []
    for out in fs:
        u = zeros_like(out)   # a dummy cotangent; the result is linear in it
        u.name = "rop_cotangent"
        vjp = grad(None, wrts, known_grads={out: u}, disconnected_inputs="ignore")
        dot = _add_all([T.sum(g * p) for g, p in zip(vjp, points)])
        results.append(grad(None, u, known_grads={dot: T.ones_like(dot)},
                            disconnected_inputs="ignore"))
    return results if isinstance(f, (list, tuple)) else results[0]


def numeric_grad(f, values, eps):
    """Central finite differences of the scalar function ``f`` at ``values``."""
    grads = []
    for k, v in enumerate(values):
        g = np.zeros(v.shape, dtype="float64")
        flat = v.reshape(-1)
        for i in range(flat.size):
            saved = flat[i]
            flat[i] = saved + eps
            plus = float(f(*values))
            flat[i] = saved - eps
            minus = float(f(*values))
            flat[i] = saved
            g.reshape(-1)[i] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def verify_grad(fun: Callable[..., Variable], pt: "np.ndarray | Sequence[np.ndarray]",
                n_tests: int = 2,
                rng: "np.random.Generator | np.random.RandomState | None" = None,
                eps: "float | None" = None, out_type: "str | None" = None,
                abs_tol: "float | None" = None, rel_tol: "float | None" = None,
                mode: "str | None" = None, cast_to_output_type: bool = False,
                no_debug_ref: bool = True) -> None:
    """Check the symbolic gradient of ``fun`` at ``pt`` against finite differences.

    ``fun`` maps symbolic inputs (made with the types of the arrays in ``pt``) to one output;
    the output is projected on a random direction to make a scalar cost. Raises GradientError
    with the largest errors when they exceed the tolerances.
    """
    rng = rng if rng is not None else np.random.default_rng(42)
    pt = [np.array(p, copy=True) for p in (pt if isinstance(pt, (list, tuple)) else [pt])]
    for p in pt:
        if not is_float(p.dtype.name):
            raise TypeError(f"verify_grad needs float inputs, got dtype {p.dtype}")
    float32 = any(p.dtype == np.float32 for p in pt)
    eps = eps if eps is not None else (1e-3 if float32 else 1e-6)
    abs_tol = abs_tol if abs_tol is not None else (3e-2 if float32 else 1e-4)
    rel_tol = rel_tol if rel_tol is not None else (3e-2 if float32 else 1e-4)
    inputs = [TensorType(p.dtype, (False,) * p.ndim)(f"input_{k}") for k, p in enumerate(pt)]
    out = fun(*inputs)
    if isinstance(out, (list, tuple)):
        raise TypeError("verify_grad: fun must return one variable")
    # the output's shape, from the reference mode: the C functions below compute the output
    # too (a shape of their own would fail in the product with the projection)
    out_shape = np.shape(function(inputs, out, mode="py", on_unused_input="ignore")(*pt))
    proj_dtype = out.dtype if is_float(out.dtype) else "float64"
    # the projection is a shared variable, as in Theano: the cost and gradient functions are
    # compiled once and each test draws a new direction into it
    projection = shared(np.zeros(out_shape, dtype=proj_dtype), name="projection")
    cost = T.sum(out * projection)
    cost_fn = function(inputs, cost, mode=mode, on_unused_input="ignore")
    symbolic = grad(cost, inputs, disconnected_inputs="ignore")
    grad_fn = function(inputs, symbolic, mode=mode, on_unused_input="ignore")
    for _ in range(n_tests):
        projection.set_value(rng.uniform(0.5, 1.5, size=out_shape).astype(proj_dtype))
        analytic = grad_fn(*pt)
        numeric = numeric_grad(cost_fn, [p.astype(p.dtype) for p in pt], eps)
        for k, (a, n) in enumerate(zip(analytic, numeric)):
            a = np.asarray(a, dtype="float64")
            abs_err = np.abs(a - n)
            rel_err = abs_err / np.maximum(np.abs(a) + np.abs(n), 1e-8)
            bad = (abs_err > abs_tol) & (rel_err > rel_tol)
            if np.any(bad):
                i = np.unravel_index(np.argmax(np.where(bad, abs_err, 0)), a.shape) if a.ndim else ()
                raise GradientError(
                    f"verify_grad: the gradient for input {k} differs from finite differences "
                    f"at index {i}: symbolic {a[i]!r}, numeric {n[i]!r} (abs error "
                    f"{abs_err.max():.3g} > {abs_tol}, rel error {rel_err.max():.3g} > "
                    f"{rel_tol})", abs_err.max(), rel_err.max(), abs_tol, rel_tol)


def jacobian(expression: Variable, wrt: "Variable | Sequence[Variable]",
             consider_constant: "Sequence[Variable] | None" = None,
             disconnected_inputs: str = "raise") -> "Variable | list[Variable]":
    """The Jacobian of ``expression`` (flattened to a vector) with respect to ``wrt``.

    For each wrt variable the result has shape ``(expression.size,) + wrt.shape``. As in
    Theano it is computed by a scan over the elements of the expression, one gradient each
    (the loop runs in C).
    """
    from .scan_module import scan
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    expression = T.as_tensor_variable(expression)
    if expression.ndim == 0:
        result = grad(expression, wrt_list, consider_constant=consider_constant,
                      disconnected_inputs=disconnected_inputs)
        return result[0] if single else result
    flat = expression.flatten()

    def row(i, y, *variables):
        return grad(y[i], list(variables), consider_constant=consider_constant,
                    disconnected_inputs=disconnected_inputs)

    rows, _ = scan(row, sequences=T.arange(flat.shape[0]), non_sequences=[flat] + wrt_list,
                   return_list=True)
    return rows[0] if single else rows


def hessian(cost: Variable, wrt: "Variable | Sequence[Variable]",
            consider_constant: "Sequence[Variable] | None" = None,
            disconnected_inputs: str = "raise") -> "Variable | list[Variable]":
    """The Hessian of the scalar ``cost`` with respect to each variable in ``wrt``."""
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    result = []
    for w in wrt_list:
        g = grad(cost, w, consider_constant=consider_constant,
                 disconnected_inputs=disconnected_inputs)
        result.append(jacobian(g, w, consider_constant=consider_constant,
                               disconnected_inputs=disconnected_inputs))
    return result[0] if single else result


# Theano's gradient view ops live with the tensor ops (they are elementwise identities).
from .tensor.gradient_views import (consider_constant, disconnected_grad, grad_clip,  # noqa: E402,F401
                                    grad_scale, zero_grad)

# theano.tensor.grad and its kin: the T namespace shows them, as Theano's does. It is below
# this module (gradients are built of its ops), so they are put there from here rather than
# imported by cgraph/tensor/__init__.py, which would close an import cycle.
for _name in ("grad", "Lop", "Rop", "verify_grad", "jacobian", "hessian"):
    setattr(_tensor_namespace, _name, globals()[_name])
