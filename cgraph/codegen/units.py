"""A large graph module split into translation units that the C compiler builds in parallel.

gcc's time grows with the code of one file and uses one core; a module with many node blocks
is split so that each core compiles a share. The blocks of cg_run (one per node, in
execution order) are cut into ``n`` consecutive groups of about equal size. The first group
stays inline in cg_run (unit 0, which also keeps the inputs, the constants, the in-place
check and the hand-over of the outputs); every other group becomes the function
``cg_part_<k>`` of a unit of its own, which cg_run calls at that point of the call.

A part receives the variables it reads (defined before it) and gives back the ones read
after it through a frame struct of its own; the call's buffer pool goes in and comes back,
so every buffer is still released by cg_run on every path, and a failing node still reports
its status, its node and its message. Each unit carries only the support code (helpers)
that its blocks use, static as before.

The elementwise kernels (module-level loops, one per distinct elementwise computation) go
to a unit of their own, the last, compiled at -O3 (build_units.LOOPS_OPTIMIZATION); the
blocks calling them see their declarations.

The units are concatenated into one source, each behind a ``UNIT_MARKER`` line: that text
is the module's source, its key and its ``module.c``, as for a single unit; cgraph/
build_units.py cuts it into files, compiles them at the same time and links them.

Not split: modules whose code keeps module-level state (a scan's interrupt counter, the
LAPACK table, the profile counters) or ifelse flags shared between blocks, and modules too
small for a split to pay (``MIN_SPLIT_CHARS`` of blocks, or of blocks and kernels together
for a split that only puts the kernels apart). How many units of blocks: one per
``MIN_UNIT_CHARS`` of blocks, at most ``MAX_UNITS``; not one per core, so that a module's
source and key are the same on every machine (a cache warmed on one serves another).
build_units runs as many compiles at a time as there are cores.
"""
import dataclasses
import re

from ..cache.build_units import UNIT_MARKER, unit_role  # noqa: F401 (the format the build cuts)
from .render import render

# Characters of node blocks per unit of blocks. Measured with gcc 12 on the MLP step (user
# CPU): node blocks cost ~5 ms per KB at -O1 + vectoriser, a unit's header ~0.02 s, the
# link ~0.02 s; with the kernels' unit beside them, a second unit of blocks pays from about
# 25 KB of blocks each.
MIN_UNIT_CHARS = 25_000
MAX_UNITS = 4
# Below this many characters of node blocks a module stays one unit: a unit costs ~0.02 s
# of CPU more (a compiler process and the header), the link ~0.02 s. (Measured again once
# modules included the runtime header by name: gcc still reads it, an empty unit including
# it takes 0.03 s, so the split pays from the same size: ~0.1 s of blocks, ~20 KB.)
MIN_SPLIT_CHARS = 20_000
# Kernels this large go to their -O3 unit whatever the size of the blocks: the blocks keep
# shrinking as their work moves to the runtime (W6: 14.7 KB of blocks, 5.0 KB of kernels,
# which the sum above had folded back into one -O1 unit), and the kernels' optimisation
# must not hang on that.
MIN_LOOPS_UNIT_CHARS = 4_000

_STRING_OR_COMMENT = re.compile(r'"(?:\\.|[^"\\\n])*"|/\*.*?\*/|//[^\n]*', re.S)
_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")
# a definition at the top level of support code: `static ... name(` or `static ... name[...] =`
_DEFINITION = re.compile(r"^static\b[^;=(]*?\b([A-Za-z_]\w*)\s*(?:\(|\[|=)", re.M)
# the elementwise kernels' signature (templates/ops/elemwise_kernel.c.j2), after `static` and
# their vector-width attribute (CG_WIDE_LOOP, runtime.h), which a unit's copy keeps
_KERNEL = re.compile(r"^static ((?:CG_WIDE_LOOP )?int \w+\(int64_t n, char \*const \*cg_p, "
                     r"const int64_t \*cg_s\))$", re.M)
_HIDDEN = '__attribute__((visibility("hidden")))'
# (the usual one in short, CG_LOOP_DECLARE: runtime.h)
_LOOP_DECLARATION = re.compile(r"^CG_LOOP_DECLARE\((\w+)\);$", re.M)
_DECLARATION = re.compile(r'^__attribute__\(\(visibility\("hidden"\)\)\) (?:CG_WIDE_LOOP )?int '
                          r'(\w+)\(.*\);$', re.M)
# a static variable (not const): state that each unit's copy would keep apart
_STATIC_VARIABLE = re.compile(r"^static\s+(?!const\b|inline\b)[^(=;]*[;=]", re.M)
# (CG_ROW and CG_ROW_UNIT, runtime.h, begin static functions: a kernel's loop over a row)
_TOP_LEVEL_NON_STATIC = re.compile(r"^(?!static\b|CG_ROW(?:_UNIT)?\b|typedef\b|#|/\*|\*|\s|\}|\{|$)",
                                   re.M)


def identifiers(code: str) -> set:
    """The identifiers ``code`` uses, leaving out those only in string literals and comments."""
    return set(_IDENT.findall(_STRING_OR_COMMENT.sub(" ", code)))


def block_groups(body, support, profile=False, uses_lapack=False) -> int:
    """Into how many units the node blocks of ``body`` go (0: the module is not split)."""
    if profile or uses_lapack or not body.blocks:
        return 0
    if any(_TOP_LEVEL_NON_STATIC.search(code) or _STATIC_VARIABLE.search(code)
           for code in support):
        return 0    # module-level state (a scan's interrupt counter): one copy, in one unit
    if any("cg_then" in block["code"] for block in body.blocks):
        return 0    # ifelse flags are locals of cg_run read by several blocks
    size = sum(len(block["code"]) for block in body.blocks)
    if size < MIN_SPLIT_CHARS:
        # the elementwise kernels still go to their unit (-O3, compiled beside the blocks)
        # when both together make a module that large: smaller node blocks (more of their
        # work in the runtime) must not cost the kernels their optimisation
        loops = sum(len(code) for code in support if _KERNEL.search(code))
        return 1 if loops and (size + loops >= MIN_SPLIT_CHARS
                               or loops >= MIN_LOOPS_UNIT_CHARS) else 0
    return max(1, min(MAX_UNITS, len(body.blocks), size // MIN_UNIT_CHARS))


def group_blocks(blocks: list, n: int, head: int = 0) -> list:
    """``blocks`` cut into ``n`` consecutive non-empty groups of about equal code size, the
    first group's share lightened by ``head`` characters (what else its unit compiles)."""
    n = min(n, len(blocks))
    sizes = [len(b["code"]) for b in blocks]
    total = sum(sizes) + head
    groups, current, done = [], [], head
    for k, (block, size) in enumerate(zip(blocks, sizes)):
        current.append(block)
        done += size
        left_blocks, left_groups = len(blocks) - k - 1, n - len(groups) - 1
        if left_groups and (done >= total * (len(groups) + 1) / n or left_blocks == left_groups):
            groups.append(current)
            current = []
    groups.append(current)
    return [g for g in groups if g]


def _entry_weight(body):
    """About how many characters of block code cg_run's own statements weigh: the in-place
    check and the late blocks, and the hand-over of each output (~600 characters of C)."""
    return len(body.inplace_check) + sum(len(b["code"]) for b in body.late_blocks) + \
        600 * len(body.outputs) + 150 * len(body.inputs)


def _support_for(code_ids: set, support: list) -> list:
    """The support items ``code_ids`` needs, with those they need in turn, in their order
    (an item whose definitions cannot be told is kept: it cannot be unused)."""
    defined = [set(_DEFINITION.findall(item) or _DECLARATION.findall(item)
                   or _LOOP_DECLARATION.findall(item)) for item in support]
    needed = set(code_ids)
    keep = [False] * len(support)
    changed = True
    while changed:
        changed = False
        for k in range(len(support) - 1, -1, -1):
            if not keep[k] and (not defined[k] or defined[k] & needed):
                keep[k] = changed = True
                needed |= identifiers(support[k])
    return [item for item, kept in zip(support, keep) if kept]


def _names(variables, ids):
    return [v for v in variables if v.name in ids]


def _loops(support, kernel_names):
    """(the elementwise kernels among ``support``, given external linkage; their
    declarations; the other items): the kernels go to a unit of their own, compiled for
    speed (see build_units), and the blocks that call them see their declarations."""
    kernels, declarations, others = [], [], []
    for item in support:
        names = set(_DEFINITION.findall(item))
        found = _KERNEL.findall(item)
        if names and names <= kernel_names and len(found) == 1:
            kernels.append(_KERNEL.sub(lambda m: m.group(1), item))   # (hidden: loops.c.j2)
            wide = re.fullmatch(r"CG_WIDE_LOOP int (\w+)\(int64_t n, char \*const \*cg_p, "
                                r"const int64_t \*cg_s\)", found[0])
            declarations.append(f"CG_LOOP_DECLARE({wide.group(1)});" if wide else
                                f"{_HIDDEN} {found[0]};")
        else:
            others.append(item)
    return kernels, declarations, others


def split_module(body, support, render_entry, function_name, n, kernel_names=frozenset()):
    """The module source as ``n`` units of node blocks, then a unit of the elementwise
    kernels named ``kernel_names`` (see the module's docstring). ``render_entry(body,
    support)`` renders unit 0 (module.c.j2) from a body and a support list."""
    kernels, kernel_declarations, others = _loops(support, set(kernel_names))
    groups = group_blocks(body.blocks, n, _entry_weight(body))
    if len(groups) == 1 and not kernels:
        return render_entry(body, support)      # nothing to compile beside the blocks
    support = kernel_declarations + others     # a declaration is kept where a block calls it
    after_ids = [set() for _ in groups]      # identifiers used after each group
    later = identifiers(body.inplace_check) | identifiers(
        "\n".join(b["code"] for b in body.late_blocks)) | {v.name for v in body.outputs}
    for k in range(len(groups) - 1, -1, -1):
        after_ids[k] = set(later)
        later |= identifiers("\n".join(b["code"] for b in groups[k]))
    before = {v.name for v in body.inputs} | {c.name for c in body.constants}
    parts, calls = [], []
    for k, group in enumerate(groups):
        ids = identifiers("\n".join(b["code"] for b in group))
        if k > 0:
            inputs = _names(body.variables, ids & before)
            results = _names(body.variables, (ids - before) & after_ids[k])
            locals_ = _names(body.variables, ids)
            frame = _names(body.variables, {v.name for v in inputs + results})
            name = f"cg_part_{k}"
            context = dict(name=name, frame=frame, inputs=inputs, results=results,
                           variables=locals_, blocks=group, unit=k,
                           function_name=function_name)
            parts.append((name, context, _support_for(ids, support)))
            calls.append(_call_block(name, frame, inputs, results, group))
        before |= ids
    unit0_blocks = groups[0] + calls
    used = identifiers("\n".join(b["code"] for b in unit0_blocks)) | \
        identifiers(body.inplace_check) | \
        identifiers("\n".join(b["code"] for b in body.late_blocks))
    keep = {v.name for v in body.inputs} | {c.name for c in body.constants} | \
        {v.name for v in body.outputs} | used
    entry_body = dataclasses.replace(
        body, blocks=unit0_blocks, variables=[v for v in body.variables if v.name in keep])
    declarations = [render("part_declaration.c.j2", **context) for _, context, _ in parts]
    entry = render_entry(entry_body, _support_for(used, support) + declarations)
    total = len(groups) + (1 if kernels else 0)
    sources = [_marked(0, total, "blocks", entry)]
    for name, context, part_support in parts:
        sources.append(_marked(context["unit"], total, "blocks",
                               render("part.c.j2", support=part_support, units=total, **context)))
    if kernels:
        sources.append(_marked(len(groups), total, "loops", render(
            "loops.c.j2", function_name=function_name, unit=len(groups), units=total,
            kernels=kernels, support=_support_for(identifiers("\n".join(kernels)), others))))
    return "".join(sources)


def _marked(k, n, role, source):
    return f"{UNIT_MARKER}{k} of {n}: {role} */\n{source}"


def _call_block(name, frame, inputs, results, group):
    lines = ["{", f"    struct {name}_frame cg_fr;"]
    lines += [f"    cg_fr.{v.name} = {v.name};" for v in inputs]
    lines += [f"    status = {name}(&cg_fr, &pool, fail_node, err, errlen);",
              "    if (status != CG_OK) goto fail;"]
    lines += [f"    {v.name} = cg_fr.{v.name};" for v in results]
    lines.append("}")
    first, last = (b["header"].split(" <- ")[0] for b in (group[0], group[-1]))
    return {"header": f"{len(group)} nodes compiled in a translation unit of their own "
                      f"({name}), from {first} to {last}",
            "code": "\n".join(lines)}
