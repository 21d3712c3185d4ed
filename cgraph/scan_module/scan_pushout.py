"""Speed rewrites of loops: work moved out of the body, outputs nobody reads dropped.

- ``push_out_sequence_dots``: a body's ``dot(x_t, W)`` of a sequence slice ``x_t`` and a
  non-sequence ``W`` is the row ``t`` of ``dot(X[:n_steps], W)``: that one big product runs
  before the loop (one BLAS call instead of one per step) and the body reads its rows as a
  new sequence (Theano's "scan pushout" of sequence-only work). The terms the body adds to
  such a row at every step and that read only non-sequences (the bias ``b`` of
  ``x_t W + h U + b``) are added to the product once instead, as its Gemm's z when the
  product is one of a sequence of matrices (computed as one product of matrices): the
  body's sum then starts from the row as is, so a state it computes may be written over
  the row's own buffer (Scan._seed_of; W7's forward: no per-step pass adding x_t W and b).
- ``copy_transposed_non_sequences``: a body's product of a transposed non-sequence,
  ``dot(a_t, W.T)`` (the backward loop's ``d_t U^T``), reads a contiguous copy of ``W.T``
  made once before the loop: a small product of a transposed operand took 2.6x the time of
  the same product on a contiguous one (float32 16x64 by 64x64: the narrow kernels' dot
  form, 4.35 against 1.66 us; float64 4.54 against 3.85), paid at every step.
- ``drop_unused_scan_outputs``: outputs that no one reads are not computed: an output that
  is not fed back (the gradient of a sequence in a backward loop the cost does not need,
  say), and a state whose final value is unused and whose past values no other output
  reads. A sequence that fed only the pushed-out products is dropped with them.

Both keep every check the loop ran on its inputs: a pushed-out product reads ``X[:n_steps]``,
so a sequence shorter than the loop still fails the loop's length check, with the same
message; a sequence is dropped only when such a product takes its place, never because
the body does not read it (its length check stays). Both run before the body is optimized
and see shapes read from cheap sources (rewrite/shape_only.py), so a product a backward
loop needed only for its shape is not pushed out but dropped.
"""
import functools
from collections import defaultdict

from ..graph.basic import ancestors, clone_replace, io_toposort
from ..rewrite.shape_only import read_shapes_from_sources
from ..tensor.blas import Dot
from ..tensor.elemwise import DimShuffle, Elemwise
from ..tensor.math_ops import add, identity
from ..tensor.tensordot import dot
from .scan_op import Scan


def _clients(nodes):
    clients = defaultdict(list)
    for node in nodes:
        for var in node.inputs:
            clients[var].append(node)
    return clients


def _rebuild(node, keep_seqs, keep_states, keep_nits, extra_seqs=(), replace=None,
             inner_outputs=None):
    """A copy of Scan ``node`` with only the kept sequences, states and nit-sot outputs (by
    index), plus ``extra_seqs`` ((inner, outer, label) triples) after the kept sequences, the
    inner graph (``inner_outputs``, by default the op's) rewritten by ``replace``. Returns
    (new node, {old output: new output})."""
    op = node.op
    n_steps, seqs, inits, non_seqs = op.split_outer_inputs(node.inputs)
    in_seqs, in_taps, in_non_seqs = op.split_inner_inputs()
    state_outs, nit_outs, cond = op.split_outputs(inner_outputs or op.inner_outputs)
    inner_outs = [state_outs[r] for r in keep_states] + [nit_outs[j] for j in keep_nits]
    if op.as_while:
        inner_outs.append(cond)
    if replace:
        inner_outs = clone_replace(inner_outs, replace)
    inner_in = [in_seqs[j] for j in keep_seqs] + [inner for inner, _, _ in extra_seqs]
    for r in keep_states:
        inner_in += in_taps[r]
    inner_in += list(in_non_seqs)
    new_op = Scan(inner_in, inner_outs, n_seqs=len(keep_seqs) + len(extra_seqs),
                  state_taps=[op.state_taps[r] for r in keep_states],
                  n_nit_sot=len(keep_nits), as_while=op.as_while,
                  truncate_gradient=op.truncate_gradient, name=op.name,
                  state_modes=[op.state_modes[r] for r in keep_states],
                  seq_labels=[op.seq_labels[j] for j in keep_seqs] +
                  [label for _, _, label in extra_seqs],
                  state_labels=[op.state_labels[r] for r in keep_states],
                  nit_labels=[op.nit_labels[j] for j in keep_nits])
    new = new_op.make_node(n_steps, *[seqs[j] for j in keep_seqs],
                           *[outer for _, outer, _ in extra_seqs],
                           *[inits[r] for r in keep_states], *non_seqs)
    old_states, old_nits, old_done = op.split_outputs(node.outputs)
    new_states, new_nits, new_done = new_op.split_outputs(new.outputs)
    mapping = {old_states[r]: v for r, v in zip(keep_states, new_states)}
    mapping.update({old_nits[j]: v for j, v in zip(keep_nits, new_nits)})
    if op.as_while:
        mapping[old_done] = new_done
    return new, mapping


def _used_parts(node, clients, results):
    """(kept states, kept nit-sot outputs) of Scan ``node``: those read outside, and the
    states whose past values a kept output reads."""
    op = node.op
    _, in_taps, _ = op.split_inner_inputs()
    state_outs, nit_outs, cond = op.split_outputs(op.inner_outputs)
    outer_states, outer_nits, _ = op.split_outputs(node.outputs)

    def read(var):
        return var in results or bool(clients[var])

    keep_nits = [j for j, v in enumerate(outer_nits) if read(v)]
    keep_states = {r for r, v in enumerate(outer_states) if read(v)}
    while True:
        roots = [state_outs[r] for r in keep_states] + [nit_outs[j] for j in keep_nits]
        roots += [cond] if op.as_while else []
        needed = set(ancestors(roots, stop_at=op.inner_inputs)) if roots else set()
        more = {r for r in range(op.n_states)
                if r not in keep_states and any(v in needed for v in in_taps[r])}
        if not more:
            return sorted(keep_states), keep_nits
        keep_states |= more


def drop_unused_scan_outputs(inputs, outputs):
    """The graph of ``outputs`` with every Scan computing only what is read."""
    nodes = io_toposort(outputs, stop_at=inputs)
    if not any(isinstance(node.op, Scan) for node in nodes):
        return outputs
    clients = _clients(nodes)
    results = set(outputs)
    replace = {}
    for node in nodes:
        if not isinstance(node.op, Scan):
            continue
        op = node.op
        keep_states, keep_nits = _used_parts(node, clients, results)
        if len(keep_states) == op.n_states and len(keep_nits) == op.n_nit_sot:
            continue
        if not keep_states and not keep_nits and not op.as_while:
            continue          # nothing read at all: the node is not in the graph anyway
        _, mapping = _rebuild(node, range(op.n_seqs), keep_states, keep_nits)
        replace.update(mapping)
    return clone_replace(outputs, replace) if replace else outputs


def _each_loop(inputs, outputs, rewrite):
    """The graph of ``outputs`` with each Scan node's outputs replaced as
    ``rewrite(node)`` maps them ({old: new}, or None: unchanged)."""
    nodes = io_toposort(outputs, stop_at=inputs)
    replace = {}
    for node in nodes:
        if isinstance(node.op, Scan):
            replace.update(rewrite(node) or {})
    return clone_replace(outputs, replace) if replace else outputs


def push_out_sequence_dots(inputs, outputs):
    """The graph of ``outputs`` with each loop's ``dot(sequence slice, non-sequence)``
    computed for all steps before the loop."""
    return _each_loop(inputs, outputs, _push_out_dots)


def _push_out_dots(node):
    op = node.op
    n_steps, seqs, _, non_seqs = op.split_outer_inputs(node.inputs)
    in_seqs, _, in_non_seqs = op.split_inner_inputs()
    seq_index = {v: j for j, v in enumerate(in_seqs)}
    non_seq_index = {v: q for q, v in enumerate(in_non_seqs)}
    # a product the body reads only for its shape (a backward loop's) is not computed at
    # all once shapes are read from its operands: push out only what is still read
    body = read_shapes_from_sources(op.inner_inputs, op.inner_outputs)
    inner_nodes = io_toposort(body, stop_at=op.inner_inputs)
    extra, replace, pushed = [], {}, set()
    for inner in inner_nodes:
        if not isinstance(inner.op, Dot):
            continue
        a, b = inner.inputs
        if a not in seq_index or b not in non_seq_index or a.dtype != b.dtype:
            continue
        j, q = seq_index[a], non_seq_index[b]
        whole = dot(seqs[j][:n_steps], non_seqs[q])
        out = inner.outputs[0]
        if whole.ndim != out.ndim + 1 or whole.dtype != out.dtype:
            continue
        row = out.type(name=f"{out.name or 'dot'}[t]")
        if row.broadcastable != whole.broadcastable[1:]:
            continue
        extra.append((row, whole, op.seq_labels[j]))
        replace[out] = row
        pushed.add(j)
    # the terms the body adds to a row at every step are added once, to all rows (a sum
    # holding two rows takes them into the first one)
    folded = set()
    for k, (out, (row, whole, label)) in enumerate(zip(list(replace), list(extra))):
        root, invariant, others = _loop_invariant_terms(out, body, inner_nodes, op,
                                                         non_seq_index)
        if not invariant or root in folded:
            continue
        folded.add(root)
        outer = clone_replace(invariant, {v: non_seqs[q] for v, q in non_seq_index.items()})
        whole = _plus_terms(whole, outer)
        extra[k] = (row, whole, label)
        replace[root] = _sum([row] + [replace.get(v, v) for v in others])
    if not replace:
        return None
    # sequences that only the pushed-out products read are no longer passed
    rewritten = clone_replace(body, replace)
    needed = set(ancestors(rewritten, stop_at=op.inner_inputs + [r for r, _, _ in extra]))
    keep_seqs = [j for j in range(op.n_seqs) if j not in pushed or in_seqs[j] in needed]
    _, mapping = _rebuild(node, keep_seqs, range(op.n_states), range(op.n_nit_sot),
                          extra, replace, body)
    return mapping


def _plus_terms(whole, terms):
    """``whole + sum(terms)``, each term (a row's) broadcast over the steps. A product of a
    sequence of matrices ``dot(X, W)`` is computed as one of matrices, ``dot(X` (m, k), W)``
    with the steps and rows in m, so that the sum becomes its Gemm's z (the terms written
    into the product's buffer, BLAS adding the product there) rather than a pass of its own
    over the product; then viewed with the steps axis again."""
    x, w = whole.owner.inputs
    if not isinstance(whole.owner.op, Dot) or x.ndim != 3 or w.ndim != 2 or \
            any(whole.broadcastable) or not all(term.broadcastable[0] for term in terms):
        return _sum([whole] + [term.dimshuffle("x", *range(term.ndim)) for term in terms])
    flat = dot(x.reshape((-1, x.shape[2])), w)
    return _sum([flat] + terms).reshape((x.shape[0], x.shape[1], w.shape[1]))


def _sum(terms):
    return functools.reduce(add, terms)


def _loop_invariant_terms(out, body, inner_nodes, op, non_seq_index):
    """(root, invariant, others) of the sum a body adds ``out`` (a pushed-out product's row)
    into: the outermost ``add`` of a chain of adds each read only by the next, its terms
    that read only non-sequences and constants (the bias ``b`` of ``x_t W + h U + b``),
    and its other terms besides ``out``. ``invariant`` is empty where nothing can be folded
    into the pushed-out product: ``out`` not summed so, or a term that would change the
    sum's shape or dtype."""
    clients = _clients(inner_nodes)
    outputs = set(body)

    def sole_add(var):
        users = clients[var]
        if var in outputs or len(users) != 1 or not _is_add(users[0]):
            return None
        return users[0]

    node = sole_add(out)
    if node is None:
        return out, [], []
    tree = [node]
    while sole_add(tree[-1].outputs[0]) is not None:
        tree.append(sole_add(tree[-1].outputs[0]))
    root = tree[-1].outputs[0]
    inside = {n.outputs[0] for n in tree}
    leaves = [v for n in tree for v in n.inputs if v not in inside]
    varying = [v for v in op.inner_inputs if v not in non_seq_index]
    invariant = [v for v in leaves if v is not out and _loop_invariant(v, op, varying)]
    if leaves.count(out) != 1 or out.broadcastable != root.broadcastable or \
            any(v.dtype != root.dtype for v in leaves):
        return root, [], []
    others = [v for v in leaves if v is not out and v not in invariant]
    return root, invariant, others


def _loop_invariant(var, op, varying):
    """Whether ``var`` of ``op``'s body is the same at every step: it reads no sequence or
    state, and no node computing it draws random numbers or loops (not ``foldable``)."""
    nodes = io_toposort([var], stop_at=op.inner_inputs)
    return all(node.op.foldable for node in nodes) and \
        not set(ancestors([var], stop_at=op.inner_inputs)) & set(varying)


def _is_add(node):
    return isinstance(node.op, Elemwise) and node.op.scalar_op.name == "add"


def copy_transposed_non_sequences(inputs, outputs):
    """The graph of ``outputs`` with each loop's products of a transposed non-sequence
    reading a contiguous copy of it, made before the loop."""
    return _each_loop(inputs, outputs, _copy_transposed)


def _copy_transposed(node):
    """{old output: new output} of Scan ``node`` with its products' transposed
    non-sequences read from copies, or None. Two forms: ``dot(a, W.T)`` with ``W`` a
    non-sequence (the backward loop's), and a non-sequence whose outer value is a
    transposed view (scan() passes ``W.T`` of a body so: the outer graph computes it)."""
    op = node.op
    n_before = len(node.inputs) - op.n_non_seqs
    non_seqs = list(node.inputs[n_before:])
    non_seq_index = {v: q for q, v in enumerate(op.split_inner_inputs()[2])}
    replace, extra = {}, []          # extra: (new inner non-sequence, its outer value)
    copied = set()                   # non-sequences whose outer value is now a copy

    def transposed(var):
        owner = var.owner
        return owner is not None and isinstance(owner.op, DimShuffle) and \
            owner.op.new_order == (1, 0)

    for inner in io_toposort(op.inner_outputs, stop_at=op.inner_inputs):
        if not isinstance(inner.op, Dot):
            continue
        for operand in inner.inputs:
            q = non_seq_index.get(operand)
            if q is not None and transposed(non_seqs[q]) and q not in copied:
                # an elementwise identity: a fresh C-contiguous array of the same values
                non_seqs[q] = identity(non_seqs[q])
                copied.add(q)
            elif operand not in replace and transposed(operand) and \
                    operand.owner.inputs[0] in non_seq_index:
                outer = identity(node.inputs[n_before + non_seq_index[operand.owner.inputs[0]]].T)
                name = operand.owner.inputs[0].name or "non-sequence"
                replace[operand] = operand.type(name=f"{name}.T")
                extra.append((replace[operand], outer))
    if not replace and not copied:
        return None
    new_op = op
    if replace:
        new_op = op.with_body(op.inner_inputs + [inner for inner, _ in extra],
                              clone_replace(op.inner_outputs, replace))
    new = new_op.make_node(*node.inputs[:n_before], *non_seqs, *[outer for _, outer in extra])
    return dict(zip(node.outputs, new.outputs))
