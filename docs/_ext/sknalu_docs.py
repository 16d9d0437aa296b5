"""Sphinx helpers of the sknalu documentation.

- ``.. sknalu-help:: [COMMAND]`` renders the ``--help`` text of ``sknalu`` or of one
  of its commands, taken from the argument parser at build time so that the
  command-line page cannot drift from the code;
- :class:`ExampleOrder` orders the gallery;
- without intersphinx, the links of docstrings inherited from scikit-learn (to its
  glossary and user guide) become plain text.
"""

from __future__ import annotations

import argparse
import os
import re
from unittest import mock

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from sknalu.cli import build_parser

#: Width of the rendered help texts, fixed so that the build does not depend on the
#: terminal it runs in.
HELP_WIDTH = 88


def sknalu_commands(parser: argparse.ArgumentParser | None = None) -> dict:
    """The sub-command parsers of the ``sknalu`` command, by name."""
    parser = build_parser() if parser is None else parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def help_text(command: str | None = None) -> str:
    """``sknalu --help`` or ``sknalu COMMAND --help``."""
    parser = build_parser()
    if command is not None:
        parser = sknalu_commands(parser)[command]
    with mock.patch.dict(os.environ, {"COLUMNS": str(HELP_WIDTH), "NO_COLOR": "1"}):
        return parser.format_help()


class SknaluHelp(SphinxDirective):
    """``.. sknalu-help:: [COMMAND]``: the help of ``sknalu`` or of one command.

    An unknown command is an error.
    """

    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        command = self.arguments[0] if self.arguments else None
        if command is not None and command not in sknalu_commands():
            raise self.error(f"sknalu has no command {command!r}.")
        text = help_text(command)
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


#: Order of the examples in the gallery, from the first to read on; examples not
#: listed follow, by file name.
EXAMPLE_ORDER = [
    "plot_extrapolation.py",
    "plot_formula.py",
    "plot_grid_search.py",
    "plot_division.py",
    "plot_regularizer_schedule.py",
]


class ExampleOrder:
    """sphinx-gallery sort key for ``within_subsection_order``: :data:`EXAMPLE_ORDER`."""

    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        name = os.path.basename(filename)
        rank = EXAMPLE_ORDER.index(name) if name in EXAMPLE_ORDER else len(EXAMPLE_ORDER)
        return rank, name

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {EXAMPLE_ORDER}>"


_SKLEARN_ROLE = re.compile(r":(?:term|ref):`([^`<]*?)\s*(?:<[^`>]*>)?`")


def unlink_sklearn_roles(app: Sphinx, what, name, obj, options, lines: list[str]) -> None:
    """Keep the words of scikit-learn's ``:term:`` and ``:ref:`` links, drop the links.

    Methods inherited from scikit-learn (``set_score_request``, ...) link into its
    glossary and user guide, which only exist here through intersphinx.
    """
    if "sphinx.ext.intersphinx" in app.extensions:
        return
    if not (getattr(obj, "__module__", None) or "").startswith("sklearn"):
        return
    lines[:] = [_SKLEARN_ROLE.sub(lambda m: f"*{m.group(1)}*", line) for line in lines]


def setup(app: Sphinx) -> dict:
    app.add_directive("sknalu-help", SknaluHelp)
    app.connect("autodoc-process-docstring", unlink_sklearn_roles)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
