"""The cache's on-disk format: the names of an entry's files, the format version, the
modes of published files. Changing any of these changes where an existing cache's entries are
looked for (see the layout in cgraph/cache/__init__.py)."""
import re


FORMAT_VERSION = "v1"
MODULE_NAME = "_cgraph_mod"
MODULE_FILE = MODULE_NAME + ".so"              # a graph module (get_module)
RUNTIME_FILE = "libcgraph_rt.so"               # the runtime library (get_runtime)
SOURCE_FILES = ("build.json", "module.c")      # an entry's files besides the module
EXTENSION_NAME = "_cgraph_ext"                 # a plain CPython extension (get_extension)
EXTENSION_FILES = SOURCE_FILES
MANIFEST = "manifest.json"
LAST_USED = "last_used"
FILE_MODE = 0o600             # published files: owner-only (never written again)
KEY_RE = re.compile(r"^[0-9a-f]{64}$")
FORMAT_RE = re.compile(r"^v\d+$")


def is_extension(material: dict) -> bool:
    """Whether the key material is a CPython extension's (get_extension)."""
    return material.get("kind") == "extension"


def module_file_of(material: dict) -> str:
    """The file name of the entry's module, by the kind the key material says."""
    if is_extension(material):
        return EXTENSION_NAME + material["ext_suffix"]
    return RUNTIME_FILE if material.get("kind") == "runtime" else MODULE_FILE


def entry_files(module_name: str) -> tuple:
    """An entry's files besides its module (the same for every kind)."""
    return EXTENSION_FILES if module_name.startswith(EXTENSION_NAME) else SOURCE_FILES
