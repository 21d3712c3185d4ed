"""The Jinja2 environment over the C templates."""
import functools
import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def templates_dir():
    """The templates shipped inside the package, or the repository's top-level folder."""
    installed = os.path.join(os.path.dirname(_HERE), "templates")
    if os.path.isdir(installed):
        return installed
    return os.path.join(os.path.dirname(os.path.dirname(_HERE)), "templates")


@functools.lru_cache(maxsize=None)
def environment():
    import jinja2      # here, not at import: a warm function() never renders (~15 ms saved)
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        bytecode_cache=_bytecode_cache(jinja2),
    )


def _bytecode_cache(jinja2):
    """Templates compiled to Python code, kept in the cache's ``templates/`` folder: compiling
    the ~20 templates a module uses costs ~140 ms in each process that renders, loading them
    ~3 ms. Jinja checks each file against its template's source and its own version. The
    code is loaded only from a folder that passes the cache's trust checks."""
    from .. import cache
    try:
        root = cache.cache_root()
        state = cache._open_root(root)
        if isinstance(state, tuple):
            return None
        folder = os.path.join(root, "templates")
        if state == "writable":
            cache._make_dirs(folder)
        if cache._trust_problem(folder, os.lstat(folder), "The template cache folder"):
            return None
    except (OSError, cache.CacheError):
        return None     # compile the templates in memory, as without a cache
    return jinja2.FileSystemBytecodeCache(folder)


def render(template_name, **context):
    return environment().get_template(template_name).render(**context)
