"""Sphinx configuration: python -m sphinx -W -b html docs docs/_build/html"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))          # cgraph from this checkout
sys.path.insert(0, os.path.join(HERE, "_ext"))

import cgraph  # noqa: E402

project = "cgraph"
author = "the cgraph developers"
copyright = "the cgraph developers"
version = release = cgraph.__version__

extensions = ["sphinx.ext.autodoc", "cgraph_docs"]
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
html_theme = "alabaster"
html_theme_options = {"description": "Symbolic tensor graphs compiled to C, the way Theano did it",
                      "page_width": "1100px"}
smartquotes = False   # hints and names quote code: keep straight quotes
