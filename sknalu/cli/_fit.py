"""The ``sknalu fit`` command.

It trains an estimator on a CSV file, prints the learned formula, the training
score and the sparsity error, and saves the model: in the skops format for a
``.skops`` file (:func:`sknalu.save_model`, safe to load from anywhere), with joblib
for a ``.joblib`` or ``.pkl`` file (only for files you trust).
"""

from __future__ import annotations

import argparse
import sys

from . import _common as common

# -- fit ----------------------------------------------------------------------------


def _estimator(args: argparse.Namespace):
    from .._estimators import NALURegressor, NMURegressor

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
        if common.model_format(path) == "skops":
            from .._persistence import save_model

            save_model(estimator, path)
        else:
            import joblib

            joblib.dump(estimator, path)
    except OSError as exc:
        raise common.InputError(f"cannot save the model to {path}: {exc}") from None


@common.reports_input_errors("fit")
def run(args: argparse.Namespace) -> int:
    if args.save:
        common.model_format(args.save)  # an extension it does not know is an error
        common.check_writable(args.save, "the model")
    frame = common.read_csv(args.data)
    if args.target not in frame.columns:
        columns = ", ".join(str(c) for c in frame.columns)
        raise common.InputError(
            f"{args.data} has no column {args.target!r}; its columns are: {columns}"
        )
    common.check_numeric(frame, args.data)
    X, y = frame.drop(columns=[args.target]), frame[args.target]
    if X.shape[1] == 0:
        raise common.InputError(
            f"{args.data} has no feature column besides the target {args.target!r}"
        )

    # verbose=1: a progress bar over the steps, drawn on a terminal only.
    estimator = _estimator(args).set_params(verbose=1)
    try:
        estimator.fit(X, y)
    except ValueError as exc:  # bad hyperparameters or data, named by the estimator
        raise common.InputError(str(exc)) from None
    except KeyboardInterrupt:
        # Ctrl-C stops the fit; a half-trained model is not what --save promised.
        print("sknalu fit: interrupted; nothing saved", file=sys.stderr)
        return common.INTERRUPTED
    # The model saved fits quietly when fitted again, as an estimator does by default.
    estimator.set_params(verbose=0)

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


#: How ``sknalu fit`` presents itself in the command line's help.
PARSER = {
    "help": "fit an estimator on a CSV file and print the formula it learned",
    "description": (
        "Fit NMURegressor or NALURegressor on the numeric columns of a CSV "
        "file, print the learned formula, the R² on the training data and the sparsity "
        "error, and optionally save the fitted model: as a .skops file, safe to share "
        "and to load anywhere, or as a .joblib file (pickle), only for files you trust."
    ),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments of ``sknalu fit`` to its parser ``p``."""
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
