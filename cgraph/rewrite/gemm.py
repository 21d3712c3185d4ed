"""Gemm fusion: a linear combination that contains a matrix product becomes one BLAS call.

``p - lr * dot(x, g)``, ``dot(h, W) + b``, ``alpha * dot(x, y) + beta * z`` and the like are
read as a sum of terms ``sign * (scalar factors) * term``, through add, sub, neg and
multiplication by a scalar (a variable or constant with length 1 on every axis). When one
term is a float ``dot`` of matrices and vectors (not two vectors) that nothing else reads,
the sum becomes ``Gemm(alpha, a, b, beta, z)``: alpha is the product's coefficient, z the
other terms (their sum, with beta 1, or the single other term with its coefficient as beta,
or zero), so the product is added into z's copy by BLAS instead of being written out and
read back. Elementwise fusion later computes z inside the Gemm's copy loop.

Products summed over a minibatch (``u.T b``) with the same scalar factors (up to sign) become
one, their operands joined along the summed axis: ``c*dot(u1.T, b1) - c*dot(u2.T, b2)`` is
``c*dot(join(0, u1, u2).T, join(0, b1, -b2))`` (RBM's weight gradient ``x.T h0 - v1.T h1``:
one 784x40 by 40x500 product instead of two with k = 20 and a 784x500 temporary written and
read back: W4's step 1110 -> 945 us float32, 2230 -> 1890 float64). The joins copy (m + n) * k
elements to save writing and reading m * n, so only the transposed-view form is taken (its k
is a minibatch; ``dot(x, W1) + dot(h, W2)`` would copy both weights). A product with one
row or column at run time where the other has more, which the sum broadcasts, is served by
joining with broadcasting (``BroadcastJoin``: a length-1 operand's column repeats, so the one
product has the sum's rows and columns; lengths that do not broadcast raise a ValueError, as
the sum does). One limit: a tiny layer's gradient summed over a huge batch (k much larger
than m and n) pays more for the copies than it saves.

Exactness: only nodes computing in the result's dtype are read through; scalar factors are
multiplied together and distributed over the sum (p - lr*(g + d) -> (p - lr*g) - lr*d), and
BLAS adds the product as it accumulates: results may differ from the unfused graph in the
last bits (as two BLAS libraries do), never more.
"""
from collections import Counter

import numpy as np

from ..graph.basic import Constant, io_toposort
from ..tensor import basic as T
from ..tensor.blas import BLAS_DTYPES, Dot, Gemm
from ..tensor.elemwise import DimShuffle, Elemwise
from ..tensor.shape_ops import BroadcastJoin, patternbroadcast
from ..tensor.var import constant
from .engine import rebuild_node
from .patterns import constant_value, strip_broadcast

LINEAR = ("add", "sub", "neg", "mul")


def fuse_gemm(inputs, outputs):
    nodes = io_toposort(outputs, stop_at=inputs)
    clients = Counter(v for node in nodes for v in node.inputs)
    clients.update(outputs)
    stop = set(inputs)
    plans, inside = {}, set()
    for node in reversed(nodes):   # the largest expression first
        if node in inside or not _linear(node, node.outputs[0].dtype):
            continue
        terms, visited = [], []
        _expand(node.outputs[0], 1, (), terms, visited, clients, stop, root=True)
        plan = _plan(terms, node.outputs[0], clients)
        if plan is not None:
            plans[node] = plan
            inside.update(visited)
    if not plans:
        return list(outputs)
    memo = {}
    for node in nodes:
        if node in plans:
            memo[node.outputs[0]] = _build(plans[node], node.outputs[0], memo)
        elif node not in inside:
            current = rebuild_node(node, memo)
            for old, new in zip(node.outputs, current.outputs):
                memo[old] = new
    return [memo.get(v, v) for v in outputs]


def _linear(node, dtype):
    return isinstance(node.op, Elemwise) and node.op.scalar_op.name in LINEAR and \
        node.outputs[0].dtype == dtype and dtype in BLAS_DTYPES


def _scalar_like(var):
    return all(var.broadcastable)


def _expand(var, sign, factors, terms, visited, clients, stop, root=False):
    """Append (sign, factors, term) to ``terms`` for ``var`` times sign and the factors."""
    node = var.owner
    if node is None or var in stop or (not root and clients[var] != 1) or \
            not _linear(node, var.dtype):
        terms.append((sign, factors, var))
        return
    name = node.op.scalar_op.name
    ins = node.inputs
    if name == "mul":
        scalar = [_scalar_like(x) for x in ins]
        if scalar[0] == scalar[1]:
            terms.append((sign, factors, var))   # both scalars, or neither: not linear in one
            return
        factor, rest = (ins[0], ins[1]) if scalar[0] else (ins[1], ins[0])
        visited.append(node)
        _expand(rest, sign, factors + (factor,), terms, visited, clients, stop)
        return
    visited.append(node)
    if name == "neg":
        _expand(ins[0], -sign, factors, terms, visited, clients, stop)
    else:
        _expand(ins[0], sign, factors, terms, visited, clients, stop)
        _expand(ins[1], -sign if name == "sub" else sign, factors, terms, visited, clients, stop)


def _is_product(var, out, clients):
    node = var.owner
    if node is None or not isinstance(node.op, Dot) or clients[var] != 1:
        return False
    a, b = node.inputs
    return a.ndim in (1, 2) and b.ndim in (1, 2) and a.ndim + b.ndim > 2 and \
        var.ndim == out.ndim and var.dtype == out.dtype


def _plan(terms, out, clients):
    """(product terms, other terms) when a term is a fusable matrix product, else None: the
    first such product, with the other products it can be joined with (_joinable)."""
    for k, (sign, factors, var) in enumerate(terms):
        if _is_product(var, out, clients):
            products = [terms[k]] + [t for t in terms[k + 1:]
                                     if _joinable(terms[k], t, out, clients)]
            return products, [t for t in terms if not any(t is p for p in products)]
    return None


def _joinable(first, term, out, clients):
    """Whether product ``term`` adds into ``first``'s by joining operands: both products of
    matrices in the result's dtype, of the same broadcast pattern, with the same factors,
    each of a transposed view and a matrix (``u.T b``: summed over u's rows, a minibatch)."""
    if not _is_product(term[2], out, clients):
        return False
    pair = (first[2], term[2])
    if out.ndim != 2 or any(x.ndim != 2 or x.dtype != out.dtype
                            for v in pair for x in v.owner.inputs) or \
            pair[0].broadcastable != pair[1].broadcastable or \
            any(_transposed(v.owner.inputs[0]) is None for v in pair):
        return False
    return len(first[1]) == len(term[1]) and all(
        _same_factor(f, g) for f, g in zip(first[1], term[1]))


def _same_factor(f, g):
    if f is g:
        return True
    cf, cg = constant_value(f), constant_value(g)
    return cf is not None and cf == cg and f.dtype == g.dtype and \
        isinstance(strip_broadcast(f), Constant) and isinstance(strip_broadcast(g), Constant)


def _transposed(var):
    """The matrix that ``var`` is the transposed view of, else None."""
    node = var.owner
    if node is not None and isinstance(node.op, DimShuffle) and \
            tuple(node.op.new_order) == (1, 0):
        return node.inputs[0]
    return None


def _joined_operands(products, memo):
    """(a, b) of the one product that sums ``products`` (same factors, signs may differ,
    each a = u.T): the u's joined by rows and transposed (the joined a keeps their layout),
    the b's joined by rows, negated where the sign differs from the first's."""
    sign = products[0][0]
    us, bs = [], []
    for s, _, var in products:
        a, b = var.owner.inputs
        us.append(memo.get(_transposed(a), _transposed(a)))
        b = memo.get(b, b)
        bs.append(b if s == sign else T.neg(b))
    # joined with broadcasting: a product of one row (or column) at run time adds to every
    # row of the other's, as the sum of the products broadcasts it
    return BroadcastJoin(0)(*us).T, BroadcastJoin(0)(*bs)


def _build(plan, out, memo):
    products, others = plan
    sign, factors, product = products[0]
    dtype = out.dtype
    others = _collect_like_terms(others, dtype, memo)
    if len(products) > 1:
        a, b = _joined_operands(products, memo)
    else:
        a, b = (memo.get(v, v) for v in product.owner.inputs)
    alpha = _coefficient(sign, factors, dtype, memo)
    if not others:
        z, beta = constant(0, dtype=dtype, ndim=out.ndim), constant(0, dtype=dtype)
    elif len(others) == 1:
        s, f, term = others[0]
        z, beta = _cast(memo.get(term, term), dtype), _coefficient(s, f, dtype, memo)
    else:
        z = None
        for s, f, term in others:
            value = _cast(memo.get(term, term), dtype)
            if f:
                value = T.mul(_coefficient(1, f, dtype, memo), value)
            if z is None:
                z = value if s > 0 else T.neg(value)
            else:
                z = T.add(z, value) if s > 0 else T.sub(z, value)
        beta = constant(1, dtype=dtype)
    result = Gemm()(alpha, a, b, beta, z)
    result = patternbroadcast(result, out.broadcastable)
    result.name = out.name
    result.owner.trace = out.owner.trace
    return result


def _collect_like_terms(terms, dtype, memo):
    """``terms`` with the terms of one variable made one, its coefficients summed: an
    update with weight decay, ``W - lr * (g + l2 * W)`` or ``W - lr * g - lr * l2 * W``, has
    one other term, W times (1 - lr * l2), so the Gemm's beta scales W, with no loop of its
    own when W is updated in place. (1 - lr * l2 is rounded once, where the graph rounded
    lr * l2 * W per element: the results may differ in the last bits.)"""
    groups = {}
    for term in terms:
        groups.setdefault(term[2], []).append(term)
    if len(groups) == len(terms):
        return terms
    collected = []
    for var, group in groups.items():
        if len(group) == 1:
            collected.append(group[0])
            continue
        known, symbolic = np.asarray(0, dtype=dtype), None
        for s, f, _ in group:
            c = _coefficient(s, f, dtype, memo)
            if isinstance(c, Constant):
                with np.errstate(all="ignore"):
                    known = known + c.data   # (in dtype, as the graph would at run time)
            else:
                symbolic = c if symbolic is None else T.add(symbolic, c)
        total = constant(known, dtype=dtype)
        if symbolic is not None:
            total = symbolic if known == 0 else T.add(total, symbolic)
        collected.append((1, (total,), var))
    return collected


def _cast(var, dtype):
    return T.cast(var, dtype)


def _as_scalar(var):
    """A scalar-like variable as a 0-d one (its axes all have length 1)."""
    var = strip_broadcast(var)
    if var.ndim == 0:
        return var
    return DimShuffle(var.broadcastable, ())(var)


def _coefficient(sign, factors, dtype, memo):
    """sign times the product of the factors, as a 0-d variable of ``dtype``; constant
    factors are multiplied now (in ``dtype``, as the graph would at run time)."""
    known = np.asarray(sign, dtype=dtype)
    value = None
    for f in factors:
        c = constant_value(f)
        if c is not None and isinstance(strip_broadcast(f), Constant):
            with np.errstate(all="ignore"):
                known = known * np.asarray(c, dtype=dtype)
            continue
        f = _cast(_as_scalar(memo.get(f, f)), dtype)
        value = f if value is None else T.mul(value, f)
    if value is None:
        return constant(known, dtype=dtype)
    if known == 1:
        return value
    if known == -1:
        return T.neg(value)
    return T.mul(constant(known, dtype=dtype), value)
