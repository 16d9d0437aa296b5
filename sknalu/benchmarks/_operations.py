"""The six operations on two inputs: is the formula read back the true one?

The 100-input task asks whether a model finds two sums among many inputs; this
suite asks the question users of the NALU articles come with: given columns ``a``
and ``b``, does the estimator learn ``a + b``, ``a - b``, ``a * b``, ``a / b``,
``a²`` and ``√a`` exactly? Each seed draws fresh training rows from the training
range and test rows from the (wider) test range. A fit counts as exact when the
formula it reads back equals the truth (sympy) and its median relative error on
the test rows is below 1e-9.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ._models import check_model, make_model, route_params
from ._run import _range_pair
from ._support import on_scheduler, run_jobs, seed_list, single_threaded
from ._task import DEFAULT_RANGE, apply_op, check_op

__all__ = ["OPERATIONS_COLUMNS", "run_operations", "summarize_operations"]

#: Columns of the results table, one row per operation, model and seed.
OPERATIONS_COLUMNS = [
    "op",
    "model",
    "range",
    "seed",
    "exact",
    "formula_matches",
    "formula_exact",
    "test_rel_error",
    "fit_time",
    "n_steps",
    "formula",
]

_TRUTH = {
    "add": "a + b",
    "sub": "a - b",
    "mul": "a * b",
    "div": "a / b",
    "square": "a**2",
    "sqrt": "sqrt(a)",
}

#: Largest median relative test error of an exact fit.
EXACT_REL_ERROR = 1e-9


def _formula_matches(formula: str | None, op: str) -> bool:
    import sympy

    if formula is None or formula.startswith("≈"):
        return False
    a, b = sympy.symbols("a b")
    try:
        found = sympy.sympify(formula, locals={"a": a, "b": b})
    except (sympy.SympifyError, TypeError):
        return False
    return sympy.simplify(found - sympy.sympify(_TRUTH[op], locals={"a": a, "b": b})) == 0


def _one(op, model, value_range, seed, params, n_train, n_test) -> dict:
    pair = _range_pair(value_range)
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(pair.train.sample((n_train, 2), rng), columns=["a", "b"])
    X_test = pd.DataFrame(pair.test.sample((n_test, 2), rng), columns=["a", "b"])
    y, y_test = (
        apply_op(op, X.a.to_numpy(), X.b.to_numpy()),
        apply_op(op, X_test.a.to_numpy(), X_test.b.to_numpy()),
    )
    estimator = make_model(model, params, random_state=seed)
    start = time.perf_counter()
    with warnings.catch_warnings(), single_threaded():
        warnings.simplefilter("ignore")
        estimator.fit(X, y)
        fit_time = time.perf_counter() - start
        predicted = estimator.predict(X_test)
    error = float(np.median(np.abs(predicted - y_test) / np.abs(y_test)))
    formula = getattr(estimator, "formula_", None)
    matches = _formula_matches(formula, op)
    return {
        "op": op,
        "model": model,
        "range": pair.name,
        "seed": seed,
        "exact": bool(matches and error < EXACT_REL_ERROR),
        "formula_matches": matches,
        "formula_exact": bool(getattr(estimator, "formula_exact_", False)),
        "test_rel_error": error,
        "fit_time": fit_time,
        "n_steps": getattr(estimator, "n_steps_", np.nan),
        "formula": formula,
    }


def run_operations(
    ops: Iterable[str] = tuple(_TRUTH),
    models: Iterable[str] = ("npu",),
    seeds: int | Sequence[int] = 10,
    value_range: str = DEFAULT_RANGE,
    params: dict | None = None,
    n_train: int = 2000,
    n_test: int = 2000,
    n_jobs: int | None = 1,
    scheduler=None,
) -> pd.DataFrame:
    """Fit each model on each operation of two inputs, once per seed.

    Parameters
    ----------
    ops : iterable of str
        Operations, of add, sub, mul, div, square, sqrt.
    models : iterable of str
        Benchmark models (keys of :data:`MODELS`); ``"npu"`` is
        ``NALURegressor()`` at its defaults.
    seeds : int or sequence of int, default=10
        ``N`` for seeds 0 .. N-1, or the seeds.
    value_range : str, default="U[1,2]->U[2,6]"
        Training and test range.
    params : dict, optional
        Estimator parameters (see :func:`route_params`).
    n_train, n_test : int, default=2000
        Rows per seed.
    n_jobs : int or None, default=1
        Fits at once (joblib); None means 1, or all the cluster's worker threads
        with a scheduler.
    scheduler : str, distributed.Client or None, default=None
        Address of a dask.distributed scheduler (or a client) to run the fits on;
        one that does not answer within ten seconds raises ``ConnectionError``
        before anything runs.

    Returns
    -------
    DataFrame
        One row per operation, model and seed, with :data:`OPERATIONS_COLUMNS`.

    Notes
    -----
    On a terminal, a progress bar on standard error counts the fits done.
    """
    import joblib

    ops = [check_op(op) for op in ops]
    models = [check_model(m) for m in models]
    seeds = seed_list("run_operations", seeds)
    routed = route_params(params, models)
    jobs = [
        joblib.delayed(_one)(op, m, value_range, s, routed.get(m), n_train, n_test)
        for op in ops
        for m in models
        for s in seeds
    ]
    if n_jobs is None:
        n_jobs = 1 if scheduler is None else -1
    with on_scheduler(scheduler):
        rows = run_jobs(jobs, n_jobs, what="operations")
    return pd.DataFrame(rows, columns=OPERATIONS_COLUMNS)


def summarize_operations(results: pd.DataFrame) -> pd.DataFrame:
    """Per operation and model: exact fits, median test error and median fit time.

    Parameters
    ----------
    results : DataFrame
        The table of :func:`run_operations`.

    Returns
    -------
    DataFrame
        One row per operation, model and range: ``seeds``, ``exact`` (exact fits),
        ``test_rel_error_median`` and ``fit_time_median`` (seconds).
    """
    grouped = results.groupby(["op", "model", "range"], sort=False)
    return grouped.agg(
        seeds=("seed", "size"),
        exact=("exact", "sum"),
        test_rel_error_median=("test_rel_error", "median"),
        fit_time_median=("fit_time", "median"),
    ).reset_index()
