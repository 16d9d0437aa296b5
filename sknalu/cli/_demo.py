"""The demo: arithmetic units against a multi-layer perceptron, in and out of range."""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.neural_network import MLPRegressor

from .._estimators import NALURegressor, NMURegressor
from ..benchmarks._support import progress_bar
from ..datasets import make_arithmetic

#: The demo's tasks: a name and a formula of x0, x1, x2.
DEMO_TASKS = {"x0 * x1": "x0 * x1", "x0 + x1 - x2": "x0 + x1 - x2"}
TRAIN_RANGE = (1.0, 2.0)
TEST_RANGE = (2.0, 6.0)


def _models(random_state):
    return {
        "NMURegressor (NAU -> NMU)": NMURegressor(random_state=random_state),
        "NMURegressor (NAU -> NAU)": NMURegressor(units=("nau", "nau"), random_state=random_state),
        "NALURegressor (NAU -> Real NPU)": NALURegressor(random_state=random_state),
        "MLPRegressor": MLPRegressor(
            hidden_layer_sizes=(64, 64), max_iter=2000, random_state=random_state
        ),
    }


def _relative_error(y_true, y_pred):
    return float(np.median(np.abs(y_pred - y_true) / np.abs(y_true)))


def run_demo(n_samples: int = 2000, random_state: int = 0) -> pd.DataFrame:
    """Fit every model on every task and measure its error in and out of range.

    Each task draws three features from ``U[1, 2]`` for training and for the
    interpolation test, and from ``U[2, 6]`` for the extrapolation test.

    Parameters
    ----------
    n_samples : int, default=2000
        Rows of each training and test set.
    random_state : int, default=0
        Seed of the data and the models.

    Returns
    -------
    DataFrame
        One row per task and model: the median relative error on the training range
        (``interpolation``) and beyond it (``extrapolation``), and the fit time.

    Notes
    -----
    On a terminal, a progress bar on standard error counts the fits.
    """
    rows = []
    with progress_bar(len(DEMO_TASKS) * len(_models(random_state)), "demo") as bar:
        for task, formula in DEMO_TASKS.items():
            rows += _fit_task(task, formula, n_samples, random_state, bar)
    return pd.DataFrame(rows)


def _fit_task(task: str, formula: str, n_samples: int, random_state: int, bar) -> list[dict]:
    """The rows of :func:`run_demo` for one task; ``bar`` counts the fits."""
    kwargs = dict(formula=formula, n_samples=n_samples, n_features=3)
    X, y = make_arithmetic(**kwargs, value_range=TRAIN_RANGE, random_state=random_state)
    X_in, y_in = make_arithmetic(**kwargs, value_range=TRAIN_RANGE, random_state=random_state + 1)
    X_out, y_out = make_arithmetic(**kwargs, value_range=TEST_RANGE, random_state=random_state + 2)
    rows = []
    for name, model in _models(random_state).items():
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "task": task,
                "model": name,
                "interpolation": _relative_error(y_in, model.predict(X_in)),
                "extrapolation": _relative_error(y_out, model.predict(X_out)),
                "fit seconds": seconds,
            }
        )
        bar.update()
    return rows


#: How ``sknalu demo`` presents itself in the command line's help.
PARSER = {
    "help": "fit the arithmetic units and an MLP on built-in data, compare extrapolation",
    "description": "Fit NMURegressor, NALURegressor and MLPRegressor on built-in "
    "arithmetic data and print their interpolation and extrapolation errors.",
}


def _at_least_20(text: str) -> int:
    """``--n-samples``: a whole number of rows, enough to hold some out."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 20:
        raise argparse.ArgumentTypeError(f"must be at least 20, got {value}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments of ``sknalu demo`` to its parser ``p``."""
    p.add_argument(
        "--n-samples", type=_at_least_20, default=2000, help="rows per data set (at least 20)"
    )
    p.add_argument("--random-state", type=int, default=0, help="seed of data and models")


def run(args: argparse.Namespace) -> int:
    """Run the demo and print its table."""
    start = time.perf_counter()
    print(
        f"Training on inputs in U{list(TRAIN_RANGE)}, testing on U{list(TRAIN_RANGE)} "
        f"(interpolation) and U{list(TEST_RANGE)} (extrapolation).\n"
        "Errors are median relative errors |prediction - truth| / |truth|.\n"
    )
    table = run_demo(n_samples=args.n_samples, random_state=args.random_state)
    formats = {
        "interpolation": "{:.2e}".format,
        "extrapolation": "{:.2e}".format,
        "fit seconds": "{:.1f}".format,
    }
    print(table.to_string(index=False, formatters=formats))
    print(f"\nTotal time: {time.perf_counter() - start:.1f} s")
    return 0
