"""One build step beside pyproject.toml (which holds everything else): ``build_py`` also
builds the runtime library and the call-path extension into ``cgraph/_prebuilt/`` (see
cgraph/prebuilt.py), so that a fresh install does not spend ~1.2 s of gcc on them at its
first ``cgraph.function``. The step never fails the install: without a compiler, or on any
error, it warns and the package installs without them (they are then built at run time)."""
import os
import re
import subprocess
import sys
import tempfile

from setuptools import setup
from setuptools.command.build_py import build_py

# Runs in a child process, on the copy build_py just made. cgraph's __init__ imports every
# op (and scipy); the build environment holds only [build-system] requires, so the package
# is stood up without running it: the modules the build needs import only the standard
# library, numpy and jinja2.
_BOOTSTRAP = """
import sys, types
package_dir, version, dest = sys.argv[1:4]
package = types.ModuleType("cgraph")
package.__path__, package.__version__ = [package_dir], version
sys.modules["cgraph"] = package
from cgraph.prebuilt import main
sys.exit(main([dest]))
"""


class build_py_with_prebuilt(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return      # a source checkout: `python -m cgraph cache prebuild` fills the cache
        package_dir = os.path.join(self.build_lib, "cgraph")
        try:
            self._prebuild(package_dir, os.path.join(package_dir, "_prebuilt"))
        except Exception as exc:   # noqa: BLE001 - never fail the install for this step
            self._warn(f"{type(exc).__name__}: {exc}")

    def _prebuild(self, package_dir, dest):
        with open(os.path.join(package_dir, "version.py")) as f:
            version = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)
        with tempfile.TemporaryDirectory(prefix="cgraph-prebuild-") as cache:
            env = dict(os.environ, CGRAPH_CACHE_DIR=cache)   # its probes and templates only
            proc = subprocess.run([sys.executable, "-c", _BOOTSTRAP, package_dir, version, dest],
                                  env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            self._warn((proc.stderr.strip() or proc.stdout.strip())[-1500:])
        else:
            print(proc.stdout.strip())

    def _warn(self, why):
        print(f"WARNING: cgraph's runtime library and call-path extension were not prebuilt "
              f"(the package works; they are built at the first cgraph.function): {why}",
              file=sys.stderr)


setup(cmdclass={"build_py": build_py_with_prebuilt})
