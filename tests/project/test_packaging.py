"""The wheel must carry every package and the templates (CI installs it non-editable)."""
import os
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_every_package_is_listed_in_pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        listed = set(tomllib.load(f)["tool"]["setuptools"]["packages"])
    found = set()
    for folder, _, files in os.walk(os.path.join(ROOT, "cgraph")):
        if "__init__.py" in files:
            found.add(os.path.relpath(folder, ROOT).replace(os.sep, "."))
    missing = found - listed
    assert not missing, f"add these packages to pyproject.toml: {sorted(missing)}"
    assert {"cgraph.templates", "cgraph.templates.ops"} <= listed


def test_installed_package_finds_its_templates():
    from cgraph.codegen.render import templates_dir
    assert os.path.exists(os.path.join(templates_dir(), "module.c.j2"))
    assert os.path.exists(os.path.join(templates_dir(), "ops", "elemwise.c.j2"))
