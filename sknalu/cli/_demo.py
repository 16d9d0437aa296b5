"""The demo: arithmetic units against a multi-layer perceptron, in and out of range."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.neural_network import MLPRegressor

from .._estimators import NALURegressor, NMURegressor
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
    """
    rows = []
    for task, formula in DEMO_TASKS.items():
        kwargs = dict(formula=formula, n_samples=n_samples, n_features=3)
        X, y = make_arithmetic(**kwargs, value_range=TRAIN_RANGE, random_state=random_state)
        X_in, y_in = make_arithmetic(
            **kwargs, value_range=TRAIN_RANGE, random_state=random_state + 1
        )
        X_out, y_out = make_arithmetic(
            **kwargs, value_range=TEST_RANGE, random_state=random_state + 2
        )
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
    return pd.DataFrame(rows)
