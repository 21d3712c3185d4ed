"""How compiled functions and variables show themselves in Jupyter (``_repr_html_``).

A function shows a table: its name, mode, how its module was found (compiled or loaded from
the cache), its inputs, outputs and updates with their types, and folded sections with the
graph after the rewrites (as ``debugprint`` prints it, and drawn when Graphviz is there) and
the generated C. A variable shows its name, type and the op that made it, with the graph
that computes it. Everything in the page is escaped text; nothing runs in the browser.
"""
import io

from .compile.function import Function
from .compile.sharedvalue import SharedVariable
from .graph.basic import Constant, Variable

# cgraph.printing is imported where it is used: ``import cgraph`` does not load the printers
# (cgraph/__init__.py, _LAZY), and this module is imported with cgraph.

C_SOURCE_LINES = 400     # beyond this the C is cut in the page (f.c_source has it all)

# html.escape's replacements: the html module costs ~1 ms of every import cgraph
# (its table of named entities), for five characters.
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})


def _escape(text):
    return text.translate(_ESCAPES)


def _row(label, value):
    return f"<tr><th style='text-align:left'>{_escape(label)}</th><td>{value}</td></tr>"


def _code(text):
    return f"<code>{_escape(text)}</code>"


def _variables(variables):
    from .printing import type_text
    if not variables:
        return "<i>none</i>"
    return ", ".join(_code(f"{v!r}: {type_text(v)}") for v in variables)


def _details(summary, body):
    return f"<details><summary>{_escape(summary)}</summary>{body}</details>"


def _pre(text):
    return f"<pre style='font-size:85%;max-height:30em;overflow:auto'>{_escape(text)}</pre>"


def _debugprint(obj):
    from .printing import debugprint
    out = io.StringIO()
    debugprint(obj, file=out, print_type=True)
    return out.getvalue()


def graph_svg(obj):
    """The graph of ``obj`` drawn by Graphviz as SVG text, or None when Graphviz (the Python
    package or the ``dot`` program) is missing or fails."""
    try:
        from .printing import pydotprint
        image = pydotprint(obj, format="svg", return_image=True, print_output_file=False)
    except Exception:        # drawing is a bonus: the table and the text graph remain
        return None
    text = image.decode("utf-8") if isinstance(image, bytes) else str(image)
    start = text.find("<svg")
    return text[start:] if start >= 0 else None


ORIGINS = {"built": "compiled by this call (the C compiler ran)",
           "disk": "loaded from the on-disk cache", "memory": "already loaded by this process",
           None: "not compiled (numpy reference mode)"}


def function_html(f) -> str:
    """The HTML summary of a compiled function."""
    layout = f.layout
    outputs = layout.user_outputs
    updates = [repr(s) for s in layout.updated_shared]
    rows = [
        _row("function", _code(f.name or "anonymous")),
        _row("mode", _code(f.mode)),
        _row("module", _escape(ORIGINS.get(f.module_origin, str(f.module_origin)))
             + (f"<br>{_code(f.module_path)}" if f.module_path else "")),
        _row("inputs", _variables(layout.argument_variables)),
        _row("outputs", _variables(outputs)),
        _row("updates", ", ".join(_code(u) for u in updates) or "<i>none</i>"),
        _row("shared variables read", ", ".join(_code(repr(s))
                                                for s in layout.shared) or "<i>none</i>"),
        _row("nodes after rewrites", str(len(f.nodes))),
    ]
    parts = [f"<table>{''.join(rows)}</table>",
             _details("graph after rewrites (debugprint)", _pre(_debugprint(f)))]
    svg = graph_svg(f)
    if svg:
        parts.append(_details("graph drawing", svg))
    if f.mode != "py":
        lines = f.c_source.splitlines()
        cut = len(lines) > C_SOURCE_LINES
        parts.append(_details(f"generated C ({len(lines)} lines"
                              + (f", first {C_SOURCE_LINES} shown" if cut else "") + ")",
                              _pre("\n".join(lines[:C_SOURCE_LINES]))))
    return "<div class='cgraph-function'>" + "".join(parts) + "</div>"


def variable_html(v) -> str:
    """The HTML summary of a variable: name, type, the op that made it, its graph."""
    from .printing import type_text
    rows = [_row("variable", _code(repr(v))),
            _row("type", _code(type_text(v)))]
    if v.owner is not None:
        rows.append(_row("made by", _code(str(v.owner.op))))
        rows.append(_row("inputs", _variables(v.owner.inputs)))
    else:
        if isinstance(v, SharedVariable):
            value = v.get_value(borrow=True)
            rows.append(_row("kind", f"shared variable, value of shape "
                                     f"{_code(str(getattr(value, 'shape', ())))}"))
        elif isinstance(v, Constant):
            rows.append(_row("kind", "constant " + _code(repr(v))))
        else:
            rows.append(_row("kind", "graph input (give its value when calling a function)"))
    parts = [f"<table>{''.join(rows)}</table>"]
    if v.owner is not None:
        parts.append(_details("graph (debugprint)", _pre(_debugprint(v))))
    return "<div class='cgraph-variable'>" + "".join(parts) + "</div>"


# Jupyter shows an object by its _repr_html_ method: given to variables and functions from
# here, a layer above both, when cgraph is imported (the printers stay imported on first use).
Variable._repr_html_ = variable_html
Function._repr_html_ = function_html
