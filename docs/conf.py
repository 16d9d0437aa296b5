"""Sphinx configuration of the sknalu documentation.

Build it from the repository root with::

    OMP_NUM_THREADS=1 sphinx-build -W --keep-going -b html docs docs/_build/html

The gallery runs every ``examples/plot_*.py`` script. ``SKNALU_EXAMPLES_FAST=1`` makes
each of them fit small models in a few seconds (for a quick check of the build); the
published documentation is built without it.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
# Document (and run the examples against) the package of this checkout.
sys.path.insert(0, str(DOCS.parent))
sys.path.insert(0, str(DOCS / "_ext"))

from sknalu_docs import sknalu_commands  # noqa: E402

import sknalu  # noqa: E402

# -- Project -------------------------------------------------------------------------
project = "sknalu"
author = "The sknalu developers"
copyright = "The sknalu developers"
release = sknalu.__version__
version = ".".join(release.split(".")[:2])

# -- Parts documented before they are merged -----------------------------------------
# Parts of sknalu that are written up here but developed on other branches. Each one
# is documented when it can be imported and left out, without a warning, when it
# cannot, so the build stays clean before and after the merge. Once every part is
# merged, build once with SKNALU_DOCS_REQUIRE_ALL=1: it fails if one is still missing
# (a renamed module, a failing import) instead of quietly leaving it out.


PACKAGE = Path(sknalu.__file__).resolve().parent


def _importable(module: str) -> bool:
    """Whether ``module`` imports, from the package being documented."""
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return False
    # An editable install of another checkout can serve a submodule this one lacks.
    return Path(mod.__file__).resolve().is_relative_to(PACKAGE)


_COMMANDS = set(sknalu_commands())

#: name -> whether it is there. The names are also Sphinx tags (``.. only:: name``).
PENDING = {
    # NMURegressor/NALURegressor.to_sympy, formula_, sparsity_error_, snap, snapped_;
    # runs examples/plot_formula.py.
    "sknalu_formula": hasattr(sknalu.NMURegressor, "to_sympy"),
    # api/sknalu.exceptions.rst (FormulaWarning).
    "sknalu_exceptions": _importable("sknalu.exceptions"),
    # api/sknalu.plotting.rst.
    "sknalu_plotting": _importable("sknalu.plotting"),
    # api/sknalu.benchmarks.rst and the benchmark section of cli.rst.
    "sknalu_benchmarks": _importable("sknalu.benchmarks") and "benchmark" in _COMMANDS,
    # The fit/predict section of cli.rst.
    "sknalu_fit_predict": {"fit", "predict"} <= _COMMANDS,
}
_missing = sorted(name for name, there in PENDING.items() if not there)
if _missing and os.environ.get("SKNALU_DOCS_REQUIRE_ALL", "") not in ("", "0"):
    raise RuntimeError(f"SKNALU_DOCS_REQUIRE_ALL is set, but these parts are missing: {_missing}")
for _name, _there in PENDING.items():
    if _there:
        tags.add(_name)  # noqa: F821 (Sphinx provides ``tags`` to conf.py)

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
exclude_patterns += [
    f"api/{module}.rst"
    for module, tag in [
        ("sknalu.exceptions", "sknalu_exceptions"),
        ("sknalu.plotting", "sknalu_plotting"),
        ("sknalu.benchmarks", "sknalu_benchmarks"),
    ]
    if not PENDING[tag]
]
#: Commands the command-line page may name before they exist (see ``sknalu_docs``).
sknalu_pending_commands = {"benchmark", "fit", "predict"}

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
# Examples that need a part listed in PENDING are shown but not run until it is there.
_not_run = [] if PENDING["sknalu_formula"] else ["plot_formula"]
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": re.escape(os.sep)
    + "".join(rf"(?!{re.escape(name)}\.py)" for name in _not_run)
    + "plot_",
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
