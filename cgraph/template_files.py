"""Where the C templates are (inside the installed package, or the source checkout's
top-level folder), and the runtime library's header that graph modules include by name:
written beside a module's source while it compiles (cache/build.py) and removed after. The
header is one of the runtime's templates, so the runtime's key, part of every module's key,
covers its text. The cache layer owns this, below codegen, which renders the templates."""
import os

HEADER_FILE = "cgraph_runtime.h"
_HERE = os.path.dirname(os.path.abspath(__file__))
_header = []      # the header's bytes, read once per process


def templates_dir() -> str:
    """The templates shipped inside the package, or the repository's top-level folder."""
    installed = os.path.join(_HERE, "templates")
    if os.path.isdir(installed):
        return installed
    return os.path.join(os.path.dirname(_HERE), "templates")


def write_header(folder: str) -> None:
    """Write the runtime's header into ``folder``, where a module including it compiles."""
    if not _header:
        with open(os.path.join(templates_dir(), "runtime.h"), "rb") as f:
            _header.append(f.read())
    with open(os.path.join(folder, HEADER_FILE), "wb") as f:
        f.write(_header[0])
