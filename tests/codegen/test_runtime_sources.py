"""The runtime library's key covers every template it or a graph module reads: a change to
any of them (runtime.h, runtime_internal.h, an ops template the library includes) builds a
new library instead of loading one built from the old text."""
import os
import re

from cgraph import runtime_library, template_files
from cgraph.template_files import templates_dir

# Jinja's {% include "x" %} / {% import "x" %} and C's #include "x" (not <x>)
_INCLUDE = re.compile(r'\{%-?\s*(?:include|import|from)\s+"([^"]+)"|#include\s+"([^"]+)"')

# templates graph modules render with their text pasted in: part of the module's own
# source, so its key already covers them
_MODULE_TEMPLATES = ("module.c.j2", "part.c.j2", "loops.c.j2")


def _includes(name: str) -> set:
    with open(os.path.join(templates_dir(), name)) as f:
        return {a or b for a, b in _INCLUDE.findall(f.read())}


def _closure(start) -> set:
    seen, todo = set(), list(start)
    while todo:
        name = todo.pop()
        if name not in seen and os.path.exists(os.path.join(templates_dir(), name)):
            seen.add(name)
            todo.extend(_includes(name))
    return seen


def test_every_template_the_runtime_includes_is_in_its_key():
    missing = _closure(["runtime.c.j2"]) - set(runtime_library.SOURCES)
    assert not missing, f"runtime_library.SOURCES lacks {sorted(missing)}"


def test_the_header_modules_include_is_in_the_runtimes_key():
    # what a module's units #include by name (not pasted: the runtime's key must cover it)
    by_name = set()
    for name in _MODULE_TEMPLATES:
        with open(os.path.join(templates_dir(), name)) as f:
            by_name |= set(re.findall(r'#include\s+"([^"]+)"', f.read()))
    assert template_files.HEADER_FILE in by_name
    read = _closure(by_name)
    assert {"runtime.h", template_files.HEADER_FILE} <= read
    missing = read - set(runtime_library.SOURCES)
    assert not missing, f"runtime_library.SOURCES lacks {sorted(missing)}"


def test_modules_do_not_read_the_runtimes_internals():
    assert "runtime_internal.h" in _closure(["runtime.c.j2"])
    assert "runtime_internal.h" not in _closure([template_files.HEADER_FILE])


def test_every_listed_source_exists():
    for name in runtime_library.SOURCES:
        assert os.path.isfile(os.path.join(templates_dir(), name)), name
