"""Sphinx configuration of the sknalu documentation.

Build it from the repository root with::

    OMP_NUM_THREADS=1 sphinx-build -W --keep-going -b html docs docs/_build/html

The gallery runs every ``examples/plot_*.py`` script. ``SKNALU_EXAMPLES_FAST=1`` makes
each of them fit small models in a few seconds (for a quick check of the build); the
published documentation is built without it.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
# Document (and run the examples against) the package of this checkout.
sys.path.insert(0, str(DOCS.parent))
sys.path.insert(0, str(DOCS / "_ext"))

import sknalu  # noqa: E402

# -- Project -------------------------------------------------------------------------
project = "sknalu"
author = "The sknalu developers"
copyright = "The sknalu developers"
release = sknalu.__version__
version = ".".join(release.split(".")[:2])

# -- General -------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "sknalu_docs",
]
# Links to the documentation of numpy, scikit-learn, torch, ... need their
# inventories from the network: SKNALU_DOCS_INTERSPHINX=1 fetches them.
if os.environ.get("SKNALU_DOCS_INTERSPHINX", "") not in ("", "0"):
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "pandas": ("https://pandas.pydata.org/docs", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "skorch": ("https://skorch.readthedocs.io/en/stable", None),
        "sympy": ("https://docs.sympy.org/latest", None),
        "torch": ("https://docs.pytorch.org/docs/stable", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
    }
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "sg_execution_times.rst"]

default_role = "literal"
pygments_style = "sphinx"

# -- autodoc, autosummary, numpydoc ---------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"  # numpydoc's Parameters sections say it better
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# -- sphinx-gallery --------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": re.escape(os.sep) + "plot_",
    "doc_module": ("sknalu",),
    "backreferences_dir": "generated/backreferences",
    "within_subsection_order": "sknalu_docs.ExampleOrder",
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "min_reported_time": 1,
    "show_memory": False,
}

# -- HTML ----------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sknalu {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {"index": [], "cli": []}
html_static_path = ["_static"]
html_css_files = ["sknalu.css"]
html_show_sourcelink = True
