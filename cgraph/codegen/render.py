"""The Jinja2 environment over the C templates."""
import functools
import os

from .. import cache
from ..cache.shipped import shipped_template    # compiled at install time
from ..cache_files import BadFile, read_sealed, write_sealed
from ..template_files import templates_dir   # (re-exported: where the templates are)


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
        # the templates do not change under a running program (the pre-keys' code digest
        # assumes the same): no stat of the file on every get_template (~180 per lenet)
        auto_reload=False,
        bytecode_cache=_bytecode_cache(jinja2),
    )


def _bytecode_cache(jinja2):
    """Templates compiled to Python code, kept in the cache's ``templates/`` folder: compiling
    the ~20 templates a module uses costs ~140 ms in each process that renders, loading them
    ~3 ms. Jinja checks each file against its template's source and its own version; each
    file is sealed (cgraph/cache_files.py) and read only from a folder that passes the
    cache's trust checks, so a damaged one is set aside (with a warning) and compiled again."""
    try:
        root = cache.cache_root()
        state = cache.open_root(root)
        if isinstance(state, tuple):
            return None
        folder = os.path.join(root, "templates")
        if state == "writable":
            cache.make_private_dirs(folder)
        if cache.trust_problem(folder, os.lstat(folder), "The template cache folder"):
            return None
    except (OSError, cache.CacheError):
        return None     # compile the templates in memory, as without a cache
    return _sealed_bytecode_cache(jinja2)(root, folder)


def _sealed_bytecode_cache(jinja2):
    class SealedBytecodeCache(jinja2.BytecodeCache):
        def __init__(self, root, folder):
            self.root, self.folder = root, folder

        def _path(self, bucket):
            return os.path.join(self.folder, f"{bucket.key}.sealed")

        def load_bytecode(self, bucket):
            path = self._path(bucket)
            try:
                payload = read_sealed(path)
            except BadFile as exc:
                cache.quarantine_file(self.root, path, exc.why)
                return
            except OSError:
                return
            if payload is None:
                payload = shipped_template(os.path.basename(path))
            if payload is not None:
                bucket.bytecode_from_string(payload)   # Jinja checks version and source

        def dump_bytecode(self, bucket):
            # best effort, and safe beside a `cache clear` (write_sealed remakes the folder)
            write_sealed(self._path(bucket), bucket.bytecode_to_string())

    return SealedBytecodeCache


def render(template_name, **context):
    return environment().get_template(template_name).render(**context)
