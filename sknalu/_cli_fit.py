"""The ``sknalu fit`` and ``sknalu predict`` commands.

``fit`` trains an estimator on a CSV file, prints the learned formula, the
training score and the sparsity error, and saves the model: in the skops format
for a ``.skops`` file (:func:`sknalu.save_model`, safe to load from anywhere), with
joblib for a ``.joblib`` or ``.pkl`` file (only for files you trust). ``predict``
loads such a model and writes its predictions for another CSV file.
Mistakes in the input (a missing file or column, text where numbers belong, a file
that holds no sknalu model or types sknalu does not trust, a path that cannot be
written) end with exit status 2 and one line on stderr; the paths to write are
checked before any training or prediction. Ctrl-C during the fit ends it with exit
status 130, saving nothing.
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

__all__ = ["add_fit_command", "add_predict_command"]

#: Exit status of a command whose input was wrong (argparse uses it too).
USAGE_ERROR = 2
#: Exit status of a command stopped with Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130

#: Extensions of joblib files, each optionally followed by one of joblib's
#: compression extensions (joblib compresses by the file name).
_JOBLIB_SUFFIXES = (".joblib", ".pkl", ".pickle")
_JOBLIB_COMPRESSION = (".z", ".gz", ".bz2", ".xz", ".lzma")
#: Compression extensions pandas understands after ``.csv`` without extra packages.
_CSV_COMPRESSION = (".gz", ".bz2", ".xz", ".zip")


class _InputError(Exception):
    """A mistake in the command's input, reported in one line without a traceback."""


def _reports_input_errors(name: str) -> Callable:
    def decorate(command: Callable[[argparse.Namespace], int]) -> Callable:
        @functools.wraps(command)
        def run(args: argparse.Namespace) -> int:
            try:
                return command(args)
            except _InputError as exc:
                message = " ".join(str(exc).split())  # always a single line
                print(f"sknalu {name}: error: {message}", file=sys.stderr)
                return USAGE_ERROR

        return run

    return decorate


def _read_csv(path: str) -> pd.DataFrame:
    if not Path(path).is_file():
        raise _InputError(f"no such file: {path}")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise _InputError(f"{path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise _InputError(f"cannot read {path} as CSV: {exc}") from None
    if frame.empty:
        raise _InputError(f"{path} has no rows")
    return frame


def _check_numeric(frame: pd.DataFrame, path: str) -> None:
    text = [str(c) for c in frame.columns if not is_numeric_dtype(frame[c])]
    if text:
        raise _InputError(
            f"{path} has non-numeric columns: {', '.join(text)}; "
            "sknalu learns arithmetic on numbers only"
        )
    missing = [str(c) for c in frame.columns if frame[c].isna().any()]
    if missing:
        raise _InputError(f"{path} has missing values in columns: {', '.join(missing)}")


def _suffixes(path: str) -> list[str]:
    return [suffix.lower() for suffix in Path(path).suffixes]


def _model_format(path: str) -> str:
    """``"skops"`` or ``"joblib"``, told by the extension of ``path``."""
    suffixes = _suffixes(path)
    if suffixes[-1:] == [".skops"]:
        return "skops"
    if suffixes[-1:] and suffixes[-1] in _JOBLIB_COMPRESSION:
        suffixes = suffixes[:-1]
    if suffixes[-1:] and suffixes[-1] in _JOBLIB_SUFFIXES:
        return "joblib"
    raise _InputError(
        f"cannot tell the model format of {path} from its extension: use .skops "
        "(safe to load from anywhere) or .joblib (only for files you trust)"
    )


def _check_writable(path: str, what: str) -> None:
    """Fail now, not after the work, if ``path`` cannot be written."""
    target = Path(path)
    directory = target.parent
    if target.is_dir():
        raise _InputError(f"cannot write {what} to {path}: it is a directory")
    if not directory.is_dir():
        raise _InputError(f"cannot write {what} to {path}: no such directory: {directory}")
    writable = os.access(directory, os.W_OK | os.X_OK)
    if not writable or (target.exists() and not os.access(target, os.W_OK)):
        raise _InputError(f"cannot write {what} to {path}: permission denied")


# -- fit ----------------------------------------------------------------------------


def _estimator(args: argparse.Namespace):
    from ._estimators import NALURegressor, NMURegressor

    estimator = {"nmu": NMURegressor, "nalu": NALURegressor}[args.estimator]()
    params = {
        "max_steps": args.max_steps,
        "n_restarts": args.n_restarts,
        "random_state": args.random_state,
    }
    if args.units is not None:
        names = [u.strip() for u in args.units.split(",")]
        # One name means what units="nau" means in Python: that unit in every layer.
        params["units"] = names[0] if len(names) == 1 else tuple(names)
    return estimator.set_params(**{k: v for k, v in params.items() if v is not None})


def _save(estimator, path: str) -> None:
    try:
        if _model_format(path) == "skops":
            from ._persistence import save_model

            save_model(estimator, path)
        else:
            import joblib

            joblib.dump(estimator, path)
    except OSError as exc:
        raise _InputError(f"cannot save the model to {path}: {exc}") from None


@_reports_input_errors("fit")
def _fit(args: argparse.Namespace) -> int:
    if args.save:
        _model_format(args.save)  # an extension it does not know is an error
        _check_writable(args.save, "the model")
    frame = _read_csv(args.data)
    if args.target not in frame.columns:
        columns = ", ".join(str(c) for c in frame.columns)
        raise _InputError(f"{args.data} has no column {args.target!r}; its columns are: {columns}")
    _check_numeric(frame, args.data)
    X, y = frame.drop(columns=[args.target]), frame[args.target]
    if X.shape[1] == 0:
        raise _InputError(f"{args.data} has no feature column besides the target {args.target!r}")

    estimator = _estimator(args)
    try:
        estimator.fit(X, y)
    except ValueError as exc:  # bad hyperparameters or data, named by the estimator
        raise _InputError(str(exc)) from None
    except KeyboardInterrupt:
        # Ctrl-C stops the fit; a half-trained model is not what --save promised.
        print("sknalu fit: interrupted; nothing saved", file=sys.stderr)
        return INTERRUPTED

    formula = estimator.formula_
    if formula is None:
        formula = 'unavailable: sympy is not installed (pip install "sknalu[formula]")'
    print(f"formula:        {formula}")
    if estimator.formula_ is not None and not estimator.formula_exact_:
        print(
            "                (not exact: the weights are not discrete, or the network "
            "does not fit the held-out rows)"
        )
    print(f"R² (training):  {estimator.score(X, y):.6g}")
    print(f"sparsity error: {estimator.sparsity_error_:.3g}")
    if args.save:
        _save(estimator, args.save)
        print(f"model saved to: {args.save}")
    return 0


def add_fit_command(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sknalu fit`` to the command line's sub-commands."""
    p = subparsers.add_parser(
        "fit",
        help="fit an estimator on a CSV file and print the formula it learned",
        description="Fit NMURegressor or NALURegressor on the numeric columns of a CSV "
        "file, print the learned formula, the R² on the training data and the sparsity "
        "error, and optionally save the fitted model: as a .skops file, safe to share "
        "and to load anywhere, or as a .joblib file (pickle), only for files you trust.",
    )
    p.add_argument("data", metavar="DATA.csv", help="CSV file with a header row")
    p.add_argument("--target", required=True, metavar="COLUMN", help="column to predict")
    p.add_argument(
        "--estimator",
        choices=("nmu", "nalu"),
        default="nmu",
        help="nmu: NMURegressor (default); nalu: NALURegressor",
    )
    p.add_argument(
        "--units",
        metavar="UNITS",
        help="one unit per layer, comma-separated (e.g. nau,nmu); one name puts that unit "
        "in every layer of a two-layer network; default: the estimator's",
    )
    p.add_argument("--max-steps", type=int, metavar="N", help="optimiser steps")
    p.add_argument("--n-restarts", type=int, metavar="K", help="restarts trained together")
    p.add_argument("--random-state", type=int, metavar="S", help="seed, for repeatable fits")
    p.add_argument(
        "--save",
        metavar="MODEL.skops",
        help="where to save the fitted model; the extension picks the format: .skops "
        "(safe to load from anywhere) or .joblib/.pkl (pickle: only for files you trust); "
        "checked before training",
    )
    p.set_defaults(func=_fit)


# -- predict --------------------------------------------------------------------------


def _load_skops(path: str):
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    from ._persistence import SKOPS_TRUSTED_TYPES, load_model

    try:
        return load_model(path)
    except UntrustedTypesFoundException:
        # Listing the types builds nothing either: skops only reads the schema.
        types = sorted(set(skops.io.get_untrusted_types(file=path)) - set(SKOPS_TRUSTED_TYPES))
        raise _InputError(
            f"{path} holds types sknalu does not trust ({', '.join(types)}); refusing to load it"
        ) from None
    except ValueError:
        raise _InputError(f"{path} is not a model saved by sknalu fit") from None


def _load_model(path: str):
    from ._estimators import _ArithmeticRegressor

    if not Path(path).is_file():
        raise _InputError(f"no such file: {path}")
    if _model_format(path) == "skops":
        return _load_skops(path)
    import joblib

    try:
        model = joblib.load(path)
    except Exception:  # a file that is not a pickle fails in many ways
        raise _InputError(f"{path} is not a model saved by sknalu fit") from None
    if not isinstance(model, _ArithmeticRegressor):
        raise _InputError(
            f"{path} holds a {type(model).__name__}, not a sknalu estimator "
            "(NMURegressor or NALURegressor)"
        )
    if not hasattr(model, "net_"):
        raise _InputError(f"{path} holds a {type(model).__name__} that was never fitted")
    return model


def _check_output(path: str) -> None:
    suffixes = _suffixes(path)
    if suffixes[-1:] and suffixes[-1] in _CSV_COMPRESSION:
        suffixes = suffixes[:-1]
    if suffixes[-1:] != [".csv"]:
        raise _InputError(f"cannot write the predictions to {path}: they are CSV, use a .csv file")
    _check_writable(path, "the predictions")


@_reports_input_errors("predict")
def _predict(args: argparse.Namespace) -> int:
    if args.output:
        _check_output(args.output)
    model = _load_model(args.model)
    frame = _read_csv(args.data)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        missing = [str(n) for n in names if n not in frame.columns]
        if missing:
            raise _InputError(
                f"{args.data} lacks the model's feature columns: {', '.join(missing)}"
            )
        # Other columns, such as the target, are ignored.
        frame = frame[list(names)]
    _check_numeric(frame, args.data)
    try:
        predictions = model.predict(frame)
    except ValueError as exc:
        raise _InputError(str(exc)) from None
    if predictions.ndim == 1:
        out = pd.DataFrame({"prediction": predictions})
    else:
        out = pd.DataFrame(
            predictions, columns=[f"prediction_{i}" for i in range(predictions.shape[1])]
        )
    if args.output:
        try:
            out.to_csv(args.output, index=False)
        except OSError as exc:
            raise _InputError(f"cannot write {args.output}: {exc}") from None
    else:
        out.to_csv(sys.stdout, index=False)
    return 0


def add_predict_command(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sknalu predict`` to the command line's sub-commands."""
    p = subparsers.add_parser(
        "predict",
        help="predict with a model saved by sknalu fit",
        description="Load a model saved by 'sknalu fit --save' and write its predictions "
        "for the rows of a CSV file as CSV (column 'prediction'). A .skops file is "
        "checked before it is loaded and refused if it holds anything but a sknalu "
        "model's data, so it may come from anywhere; a .joblib or .pkl file runs code "
        "when loaded: only load those you trust.",
    )
    p.add_argument(
        "model", metavar="MODEL.skops", help="model saved by sknalu fit --save (.skops or .joblib)"
    )
    p.add_argument("data", metavar="DATA.csv", help="CSV file with the model's feature columns")
    p.add_argument(
        "--output",
        metavar="PREDS.csv",
        help="where to write (.csv, optionally .gz/.bz2/.xz/.zip); stdout by default",
    )
    p.set_defaults(func=_predict)
