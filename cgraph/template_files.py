"""Where the C templates are (inside the installed package, or the source checkout's
top-level folder). Graph modules include the runtime library's header by name
(HEADER_FILE, which the templates folder holds: it forwards to runtime.h) and compile with
``-I`` to that folder (toolchain.RUNTIME_INCLUDE, filled in by cache/build.py); both files
are among the runtime's sources, so the runtime's key, part of every module's key, covers
their text. The cache layer owns this, below codegen, which renders the templates."""
import os

HEADER_FILE = "cgraph_runtime.h"
_HERE = os.path.dirname(os.path.abspath(__file__))


def templates_dir() -> str:
    """The templates shipped inside the package, or the repository's top-level folder."""
    installed = os.path.join(_HERE, "templates")
    if os.path.isdir(installed):
        return installed
    return os.path.join(os.path.dirname(_HERE), "templates")
