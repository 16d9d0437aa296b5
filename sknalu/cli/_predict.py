"""The ``sknalu predict`` command.

It loads a model saved by ``sknalu fit`` (a skops file, checked before anything in
it is built, or a joblib file, only with ``--trust-pickle``: unpickling it runs
whatever code it holds) and writes its predictions for another CSV file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from . import _common as common

# -- predict --------------------------------------------------------------------------


def _load_skops(path: str):
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    from .._persistence import SKOPS_TRUSTED_TYPES, _InvalidModel, load_model

    try:
        return load_model(path)
    except _InvalidModel as exc:
        reason = f": {exc.reason}" if exc.reason else ""
        raise common.InputError(f"{path} is not a model saved by sknalu fit{reason}") from None
    except UntrustedTypesFoundException:
        # Listing the types builds nothing either: skops only reads the schema.
        types = sorted(set(skops.io.get_untrusted_types(file=path)) - set(SKOPS_TRUSTED_TYPES))
        raise common.InputError(
            f"{path} holds types sknalu does not trust ({', '.join(types)}); refusing to load it"
        ) from None
    except ValueError as exc:  # units not registered here
        raise common.InputError(f"cannot load {path}: {exc}") from None


def _load_model(path: str, trust_pickle: bool = False):
    from .._estimators import _ArithmeticRegressor

    if not Path(path).is_file():
        raise common.InputError(f"no such file: {path}")
    if common.model_format(path) == "skops":
        return _load_skops(path)
    if not trust_pickle:
        # Unpickling runs whatever code the file holds, before anything can be checked.
        raise common.InputError(
            f"{path} is a joblib/pickle file, and loading one runs any code it holds: "
            "refusing to load it. Pass --trust-pickle if you trust this file, or save "
            "the model as .skops (sknalu fit --save MODEL.skops), which loads safely"
        )
    import joblib

    try:
        model = joblib.load(path)
    except Exception:  # a file that is not a pickle fails in many ways
        raise common.InputError(f"{path} is not a model saved by sknalu fit") from None
    if not isinstance(model, _ArithmeticRegressor):
        raise common.InputError(
            f"{path} holds a {type(model).__name__}, not a sknalu estimator "
            "(NMURegressor or NALURegressor)"
        )
    if not hasattr(model, "net_"):
        raise common.InputError(f"{path} holds a {type(model).__name__} that was never fitted")
    return model


def _check_output(path: str) -> None:
    suffixes = common.path_suffixes(path)
    if suffixes[-1:] and suffixes[-1] in common.CSV_COMPRESSION:
        suffixes = suffixes[:-1]
    if suffixes[-1:] != [".csv"]:
        raise common.InputError(
            f"cannot write the predictions to {path}: they are CSV, use a .csv file"
        )
    common.check_writable(path, "the predictions")


@common.reports_input_errors("predict")
def run(args: argparse.Namespace) -> int:
    if args.output:
        _check_output(args.output)
    model = _load_model(args.model, args.trust_pickle)
    frame = common.read_csv(args.data)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        missing = [str(n) for n in names if n not in frame.columns]
        if missing:
            raise common.InputError(
                f"{args.data} lacks the model's feature columns: {', '.join(missing)}"
            )
        # Other columns, such as the target, are ignored.
        frame = frame[list(names)]
    common.check_numeric(frame, args.data)
    try:
        predictions = model.predict(frame)
    except ValueError as exc:
        raise common.InputError(str(exc)) from None
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
            raise common.InputError(f"cannot write {args.output}: {exc}") from None
    else:
        out.to_csv(sys.stdout, index=False, float_format=_short_float)
    return 0


def _short_float(value: float) -> str:
    """``value`` as it is read, for the terminal: 12 significant digits, written as
    ``repr`` writes the shortest float that rounds to them.

    The last bits of a float product are rounding (``1789.59 * 5`` is
    ``8947.949999999999``); a file written with ``--output`` keeps them.

    Examples
    --------
    >>> _short_float(1789.59 * 5), _short_float(300.0), _short_float(1e20)
    ('8947.95', '300.0', '1e+20')
    """
    return repr(float(f"{value:.12g}"))


#: What ``sknalu predict`` writes to standard output, named when that fails.
OUTPUT = "the predictions"

#: How ``sknalu predict`` presents itself in the command line's help.
PARSER = {
    "help": "predict with a model saved by sknalu fit",
    "description": (
        "Load a model saved by 'sknalu fit --save' and write its predictions "
        "for the rows of a CSV file as CSV (column 'prediction'). A .skops file is "
        "checked before it is loaded and refused if it holds anything but a sknalu "
        "model's data, so it may come from anywhere; a .joblib or .pkl file runs any "
        "code it holds when loaded, and is refused unless --trust-pickle is given."
    ),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments of ``sknalu predict`` to its parser ``p``."""
    p.add_argument(
        "model", metavar="MODEL.skops", help="model saved by sknalu fit --save (.skops or .joblib)"
    )
    p.add_argument("data", metavar="DATA.csv", help="CSV file with the model's feature columns")
    p.add_argument(
        "--output",
        metavar="PREDS.csv",
        help="where to write (.csv, optionally .gz/.bz2/.xz/.zip); stdout by default",
    )
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help=(
            "load a .joblib/.pkl/.pickle model, which runs any code the file holds: "
            "only for files you made or trust"
        ),
    )
