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
    )


def render(template_name, **context):
    return environment().get_template(template_name).render(**context)
