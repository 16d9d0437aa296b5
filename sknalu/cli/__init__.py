"""The ``sknalu`` command line.

Each sub-command is a module of this package (``_demo``, ``_fit``, ``_predict``,
``_benchmark``) with the same three names: ``PARSER``, the keywords of its
sub-parser (help, description); ``add_arguments(parser)``; and ``run(args)``,
which returns the exit status; optionally ``OUTPUT``, what it writes to standard
output, named in the error when that cannot be written. A new command is a new
such module, listed in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import sys

#: The sub-commands, in the order ``sknalu --help`` lists them, and their modules.
COMMANDS = {"demo": "_demo", "fit": "_fit", "predict": "_predict", "benchmark": "_benchmark"}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sknalu`` command."""
    parser = argparse.ArgumentParser(
        prog="sknalu", description="Neural arithmetic units as scikit-learn estimators."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name, module_name in COMMANDS.items():
        command = importlib.import_module(f".{module_name}", __name__)
        sub = subparsers.add_parser(name, **command.PARSER)
        command.add_arguments(sub)
        sub.set_defaults(func=command.run, parser=sub, stdout_name=getattr(command, "OUTPUT", None))
    return parser


#: Errors of writing to standard output: full, closed by the reader, gone.
_OUTPUT_ERRORS = (errno.ENOSPC, errno.EPIPE, errno.EIO, errno.EBADF)


def main(argv: list[str] | None = None) -> int:
    """Run the ``sknalu`` command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
        sys.stdout.flush()
    except OSError as exc:
        if exc.errno not in _OUTPUT_ERRORS:
            raise
        # Point standard output at nothing, so that Python's own flush at exit does
        # not fail again; a reader that stopped reading (``| head``) is no error.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if isinstance(exc, BrokenPipeError):
            return 0
        what = f"{args.stdout_name} " if args.stdout_name else ""
        reason = exc.strerror or str(exc)
        print(
            f"sknalu {args.command}: error: cannot write {what}to standard output: {reason}",
            file=sys.stderr,
        )
        return 2
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
