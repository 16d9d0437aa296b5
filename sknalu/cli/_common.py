"""What the ``sknalu fit`` and ``sknalu predict`` commands share.

Mistakes in the input (a missing file or column, text where numbers belong, a file
that holds no sknalu model or types sknalu does not trust, a path that cannot be
written) end with exit status 2 and one line on stderr; the paths to write are
checked before any training or prediction. Ctrl-C ends a command with exit status
130, saving nothing.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from pandas.api.types import is_numeric_dtype

#: Exit status of a command whose input was wrong (argparse uses it too).
USAGE_ERROR = 2
#: Exit status of a command stopped with Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130

#: Extensions of joblib files, each optionally followed by one of joblib's
#: compression extensions (joblib compresses by the file name).
JOBLIB_SUFFIXES = (".joblib", ".pkl", ".pickle")
JOBLIB_COMPRESSION = (".z", ".gz", ".bz2", ".xz", ".lzma")
#: Compression extensions pandas understands after ``.csv`` without extra packages.
CSV_COMPRESSION = (".gz", ".bz2", ".xz", ".zip")


class InputError(Exception):
    """A mistake in the command's input, reported in one line without a traceback."""


def reports_input_errors(name: str) -> Callable:
    def decorate(command: Callable[[argparse.Namespace], int]) -> Callable:
        @functools.wraps(command)
        def run(args: argparse.Namespace) -> int:
            try:
                return command(args)
            except InputError as exc:
                message = " ".join(str(exc).split())  # always a single line
                print(f"sknalu {name}: error: {message}", file=sys.stderr)
                return USAGE_ERROR

        return run

    return decorate


def read_csv(path: str) -> pd.DataFrame:
    if not Path(path).is_file():
        raise InputError(f"no such file: {path}")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read {path} as CSV: {exc}") from None
    if frame.empty:
        raise InputError(f"{path} has no rows")
    return frame


def check_numeric(frame: pd.DataFrame, path: str) -> None:
    text = [str(c) for c in frame.columns if not is_numeric_dtype(frame[c])]
    if text:
        raise InputError(
            f"{path} has non-numeric columns: {', '.join(text)}; "
            "sknalu learns arithmetic on numbers only"
        )
    missing = [str(c) for c in frame.columns if frame[c].isna().any()]
    if missing:
        raise InputError(f"{path} has missing values in columns: {', '.join(missing)}")


def path_suffixes(path: str) -> list[str]:
    """The lower-case extensions of ``path``, e.g. [".csv", ".gz"]."""
    return [suffix.lower() for suffix in Path(path).suffixes]


def model_format(path: str) -> str:
    """``"skops"`` or ``"joblib"``, told by the extension of ``path``."""
    suffixes = path_suffixes(path)
    if suffixes[-1:] == [".skops"]:
        return "skops"
    if suffixes[-1:] and suffixes[-1] in JOBLIB_COMPRESSION:
        suffixes = suffixes[:-1]
    if suffixes[-1:] and suffixes[-1] in JOBLIB_SUFFIXES:
        return "joblib"
    raise InputError(
        f"cannot tell the model format of {path} from its extension: use .skops "
        "(safe to load from anywhere) or .joblib (only for files you trust)"
    )


def check_writable(path: str, what: str) -> None:
    """Fail now, not after the work, if ``path`` cannot be written."""
    target = Path(path)
    directory = target.parent
    if target.is_dir():
        raise InputError(f"cannot write {what} to {path}: it is a directory")
    if not directory.is_dir():
        raise InputError(f"cannot write {what} to {path}: no such directory: {directory}")
    writable = os.access(directory, os.W_OK | os.X_OK)
    if not writable or (target.exists() and not os.access(target, os.W_OK)):
        raise InputError(f"cannot write {what} to {path}: permission denied")
