"""Running the benchmark: one fit per operation, model, range and seed."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from ._metrics import ExtrapolationMonitor
from ._models import MODELS, check_model, make_model, models_for, route_params
from ._support import check_count, on_scheduler, run_jobs, single_threaded
from ._task import DEFAULT_RANGE, RANGES, ArithmeticTask, RangePair, check_op
from ._threshold import success_threshold

__all__ = ["RESULT_COLUMNS", "run_benchmark", "run_one"]

#: Columns of the results table, one row per operation, model, range and seed.
RESULT_COLUMNS = [
    "op",
    "model",
    "range",
    "seed",
    "offset",
    "threshold",
    "success",
    "test_mse",
    "valid_mse",
    "selected_step",
    "solved_at",
    "sparsity_error",
    "n_steps",
    "n_restarts",
    "fit_time",
]


def _range_pair(value_range: RangePair | str) -> RangePair:
    if isinstance(value_range, RangePair):
        return value_range
    if isinstance(value_range, str):
        return RANGES.get(value_range.replace(" ", "")) or RangePair.parse(value_range)
    raise ValueError(
        f"a range must be a RangePair or a name like 'U[1,2]->U[2,6]', got {value_range!r}."
    )


def _seed_streams(seed: int) -> tuple[int, int, int]:
    # Independent streams for the subsets' offset, the data and the model, so that
    # every model sees the same task and data for a seed, whatever else changes.
    children = np.random.SeedSequence(seed).spawn(3)
    return tuple(int(c.generate_state(1)[0]) for c in children)


def run_one(
    op: str,
    model: str,
    value_range: RangePair | str,
    seed: int,
    *,
    threshold: float,
    input_size: int = 100,
    subset_size: int = 25,
    overlap: int = 12,
    params: Mapping[str, Any] | None = None,
    n_train: int = 20_000,
    n_valid: int = 10_000,
    n_test: int = 10_000,
) -> dict[str, Any]:
    """Fit one model on one seed of the task and measure it.

    The seed decides the subsets' offset, the data and the model's initialisation.
    The model trains on ``n_train + n_valid`` rows of the training range; the
    arithmetic-unit estimators hold ``n_valid`` of them out and keep the restart and
    step with the lowest error on them (model selection). The MLP trains on the
    ``n_train`` rows and is measured in its final state.

    Parameters
    ----------
    op : str
        The operation.
    model : str
        A key of :data:`~sknalu.benchmarks.MODELS`.
    value_range : RangePair or str
        Training and test range, e.g. ``"U[1,2]->U[2,6]"``.
    seed : int
        The seed.
    threshold : float
        The success threshold (:func:`~sknalu.benchmarks.success_threshold`).
    params : mapping or None, default=None
        Estimator parameters set on top of the model's own.
    n_train, n_valid, n_test : int, default=20_000, 10_000, 10_000
        Training, validation and test rows.
    input_size, subset_size, overlap : int, default=100, 25, 12
        The task's sizes.

    Returns
    -------
    dict
        One row of the results, with the keys of ``RESULT_COLUMNS``: ``success``
        (test error at the selected step below the threshold), ``selected_step``,
        ``solved_at`` (first evaluated step at which the copy best on validation
        was below the threshold; NaN if never), ``sparsity_error`` of the kept
        network (each weight's distance to its unit's discrete values; NaN for
        the MLP), ``fit_time`` in seconds, ...
    """
    op, model, pair = check_op(op), check_model(model), _range_pair(value_range)
    seed = check_count("run_one", "seed", seed, 0)
    sizes = _run_sizes("run_one", n_train, n_valid, n_test, input_size, subset_size, overlap)
    task, (X, y), (X_test, y_test), model_seed = _draw_seed(op, pair, seed, sizes)
    est = make_model(model, params, random_state=model_seed)
    if MODELS[model].arithmetic:
        measures = _fit_arithmetic(est, X, y, X_test, y_test, sizes["n_valid"], threshold)
    else:
        measures = _fit_mlp(est, X, y, X_test, y_test, sizes["n_train"], threshold)
    return {
        "op": op,
        "model": model,
        "range": pair.name,
        "seed": seed,
        "offset": task.offset,
        "threshold": float(threshold),
        **measures,
    }


def _run_sizes(
    caller: str,
    n_train: int,
    n_valid: int,
    n_test: int,
    input_size: int,
    subset_size: int,
    overlap: int,
) -> dict[str, int]:
    """The rows per seed, checked, and the task's sizes (checked by the task)."""
    n_train = check_count(caller, "n_train", n_train, 20)
    n_valid = check_count(caller, "n_valid", n_valid, 1)
    if n_valid > n_train:
        # The estimators hold out at most half of what they are given.
        raise ValueError(f"n_valid ({n_valid}) cannot exceed n_train ({n_train}).")
    n_test = check_count(caller, "n_test", n_test, 1)
    return {
        "n_train": n_train,
        "n_valid": n_valid,
        "n_test": n_test,
        "input_size": input_size,
        "subset_size": subset_size,
        "overlap": overlap,
    }


def _draw_seed(op: str, pair: RangePair, seed: int, sizes: Mapping[str, int]):
    """A seed's task, rows of the training range, rows of the test range, model seed.

    The training range's ``n_train + n_valid`` rows and the test range's ``n_test``
    rows are each an ``(X, y)`` pair.
    """
    task_seed, data_seed, model_seed = _seed_streams(seed)
    task = ArithmeticTask.draw(
        op,
        task_seed,
        input_size=sizes["input_size"],
        subset_size=sizes["subset_size"],
        overlap=sizes["overlap"],
    )
    rng = np.random.RandomState(data_seed)
    train = task.sample(sizes["n_train"] + sizes["n_valid"], pair.train, rng)
    test = task.sample(sizes["n_test"], pair.test, rng)
    return task, train, test, model_seed


def _fit_and_test(est, X, y, X_test, y_test) -> tuple[float, float]:
    """Fit ``est`` on one thread; the fit's seconds and the test mean squared error."""
    with single_threaded(), warnings.catch_warnings():
        # NAC• and NALU overflow on some seeds: the benchmark counts that as a
        # failure, not an error. The MLP's iteration limit is a setting.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        est.fit(X, y)
        fit_time = time.perf_counter() - start
        test_mse = float(np.mean((est.predict(X_test) - y_test) ** 2))
    return fit_time, test_mse


def _fit_arithmetic(est, X, y, X_test, y_test, n_valid: int, threshold: float) -> dict[str, Any]:
    """Fit an arithmetic-unit estimator that holds out ``n_valid`` rows; its measures.

    The estimator keeps the restart and step with the lowest error on the rows it
    holds out (model selection); a monitor records every copy's test error.
    """
    # The rows are iid, so holding out a random n_valid of them is the same as
    # drawing a separate validation set of n_valid rows.
    monitor = ExtrapolationMonitor(X_test, y_test)
    est.set_params(
        validation_fraction=n_valid / len(X),
        callbacks=[("extrapolation_monitor", monitor)],
    )
    fit_time, test_mse = _fit_and_test(est, X, y, X_test, y_test)
    if monitor.n_valid_ != n_valid:
        # Model selection must see exactly the validation rows of the protocol.
        raise RuntimeError(
            f"{type(est).__name__} held out {monitor.n_valid_} rows for model "
            f"selection instead of n_valid={n_valid}."
        )
    return {
        "success": bool(test_mse < threshold),  # NaN is never a success
        "test_mse": test_mse,
        "valid_mse": float(est.validation_loss_),
        "selected_step": int(est.best_step_),
        "solved_at": monitor.solved_at(threshold),
        # Each unit's distance to its own discrete values: the paper's
        # max min(|W|, |1 - |W||) for the NAU, NMU and NAC, multiples of ½ for
        # the Real NPU's exponents.
        "sparsity_error": float(est.sparsity_error_),
        "n_steps": int(est.n_steps_),
        "n_restarts": est.n_restarts,
        "fit_time": fit_time,
    }


def _fit_mlp(est, X, y, X_test, y_test, n_train: int, threshold: float) -> dict[str, Any]:
    """Fit the MLP on the first ``n_train`` rows, validate on the rest; its measures.

    The MLP is measured in its final state only.
    """
    X, X_valid, y, y_valid = X[:n_train], X[n_train:], y[:n_train], y[n_train:]
    fit_time, test_mse = _fit_and_test(est, X, y, X_test, y_test)
    success = bool(test_mse < threshold)  # NaN is never a success
    batch = min(200, n_train) if est.batch_size == "auto" else min(est.batch_size, n_train)
    n_steps = est.n_iter_ * math.ceil(n_train / batch)
    return {
        "success": success,
        "test_mse": test_mse,
        "valid_mse": float(np.mean((est.predict(X_valid) - y_valid) ** 2)),
        "selected_step": n_steps,
        "solved_at": float(n_steps) if success else math.nan,
        "sparsity_error": math.nan,
        "n_steps": n_steps,
        "n_restarts": 1,
        "fit_time": fit_time,
    }


def _check_seeds(seeds: int | Iterable[int]) -> list[int]:
    """The seeds: ``0 .. seeds - 1`` for a count, else the distinct seeds given."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return list(range(check_count("run_benchmark", "seeds", seeds, 1)))
    try:
        seeds = [check_count("run_benchmark", "seeds", s, 0) for s in seeds]
    except TypeError:
        raise ValueError(f"seeds must be a count or a list of seeds, got {seeds!r}.") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct seeds, got {seeds!r}.")
    return seeds


def _parallel(calls: list, n_jobs: int | None, scheduler, verbose: int) -> list:
    """Run the fits (on the scheduler, if one is given), with a progress bar on a terminal."""
    if n_jobs is None:
        n_jobs = 1 if scheduler is None else -1
    with on_scheduler(scheduler):
        return run_jobs(calls, n_jobs, what="benchmark", verbose=verbose)


def run_benchmark(
    ops: Sequence[str] = ("add", "sub", "mul"),
    models: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    ranges: Sequence[RangePair | str] = (DEFAULT_RANGE,),
    seeds: int | Iterable[int] = 10,
    *,
    params: Mapping[str, Any] | None = None,
    n_train: int = 20_000,
    n_valid: int = 10_000,
    n_test: int = 10_000,
    input_size: int = 100,
    subset_size: int = 25,
    overlap: int = 12,
    epsilon: float = 1e-5,
    threshold_samples: int = 1_000_000,
    n_jobs: int | None = None,
    scheduler=None,
    verbose: int = 0,
) -> pd.DataFrame:
    """Run the arithmetic benchmark of Madsen & Johansen (2020).

    Every model is fitted on every seed of every operation and range, in parallel
    through joblib (on a dask.distributed cluster when ``scheduler`` is given).

    Parameters
    ----------
    ops : sequence of str, default=("add", "sub", "mul")
        Operations, keys of :data:`~sknalu.benchmarks.OPS` or their symbols.
    models : sequence of str, mapping or None, default=None
        Keys of :data:`~sknalu.benchmarks.MODELS` run on every operation, a mapping
        from operation to keys, or None for the papers' models of each operation
        (:data:`~sknalu.benchmarks.PAPER_MODELS`).
    ranges : sequence of RangePair or str, default=("U[1,2]->U[2,6]",)
        Training → test ranges, by name (see :data:`~sknalu.benchmarks.RANGES`).
    seeds : int or iterable of int, default=10
        A count (seeds ``0 .. seeds - 1``) or the seeds themselves.
    params : mapping or None, default=None
        Estimator parameters, ``"NAME"`` for every model that has it or
        ``"MODEL.NAME"`` for one, e.g. ``{"max_steps": 20000}``.
    n_train, n_valid, n_test : int, default=20_000, 10_000, 10_000
        Training, validation (training range) and test (test range) rows per seed.
    input_size, subset_size, overlap : int, default=100, 25, 12
        The task's sizes.
    epsilon : float, default=1e-5
        Weight perturbation of the success threshold.
    threshold_samples : int, default=1_000_000
        Monte-Carlo samples of the success threshold.
    n_jobs : int or None, default=None
        Fits run at once (joblib's ``n_jobs``): -1 for all cores (with a scheduler,
        all the cluster's worker threads); None means 1, or -1 with a scheduler.
    scheduler : str, distributed.Client or None, default=None
        Address of a dask.distributed scheduler (or a client) to run the fits on.
    verbose : int, default=0
        joblib's verbosity (a progress bar counts the fits on a terminal anyway).

    Returns
    -------
    DataFrame
        One row per operation, model, range and seed, with the columns
        ``RESULT_COLUMNS`` (see :func:`run_one`); ``attrs["config"]`` holds the
        settings of the run and each model's parameters.

    Examples
    --------
    >>> results = run_benchmark(
    ...     ["add"], ["nau"], seeds=1, params={"max_steps": 500, "n_restarts": 1},
    ...     n_train=500, n_valid=250, n_test=250, threshold_samples=10_000)
    >>> results[["op", "model", "range", "seed", "n_steps"]]
        op model           range  seed  n_steps
    0  add   nau  U[1,2]->U[2,6]     0      500
    """
    ops, pairs, seeds = _check_ops(ops), _check_ranges(ranges), _check_seeds(seeds)
    sizes = _run_sizes("run_benchmark", n_train, n_valid, n_test, input_size, subset_size, overlap)
    models_of, all_models = _models_of(ops, models)
    model_params = route_params(params, all_models)
    thresholds = _success_thresholds(ops, pairs, sizes, epsilon, threshold_samples)
    calls = _fit_calls(models_of, pairs, seeds, thresholds, model_params, sizes)
    settings = {"seeds": seeds, "epsilon": epsilon, "threshold_samples": threshold_samples}
    config = _run_config(sizes, settings, all_models, model_params)
    return _results_table(_parallel(calls, n_jobs, scheduler, verbose), config)


def _results_table(rows: list[dict[str, Any]], config: dict[str, Any]) -> pd.DataFrame:
    """The rows of :func:`run_one` as a table, the run's settings in ``attrs["config"]``."""
    results = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    results.attrs["config"] = config
    return results


def _run_config(
    sizes: Mapping[str, int],
    settings: Mapping[str, Any],
    models: list[str],
    model_params: Mapping[str, dict[str, Any]],
) -> dict[str, Any]:
    """The settings of a run, and each model's parameters, for ``attrs["config"]``."""
    return {
        **sizes,
        **settings,
        "models": {m: {**MODELS[m].params, **model_params.get(m, {})} for m in models},
    }


def _check_ops(ops: Sequence[str]) -> list[str]:
    """The canonical names of ``ops``, each once; at least one."""
    ops = list(dict.fromkeys(check_op(op) for op in ops))
    if not ops:
        raise ValueError("ops must name at least one operation.")
    return ops


def _check_ranges(ranges: Sequence[RangePair | str]) -> list[RangePair]:
    """The range pairs of ``ranges``, each once; at least one."""
    pairs = list(dict.fromkeys(_range_pair(r) for r in ranges))
    if not pairs:
        raise ValueError("ranges must name at least one range.")
    return pairs


def _models_of(
    ops: list[str], models: Sequence[str] | Mapping[str, Sequence[str]] | None
) -> tuple[dict[str, list[str]], list[str]]:
    """The models to run on each operation (at least one in all), and all of them."""
    models_of = {op: models_for(op, models) for op in ops}
    if not any(models_of.values()):
        raise ValueError(f"no model to run: models={models!r}.")
    return models_of, list(dict.fromkeys(m for ms in models_of.values() for m in ms))


def _check_sqrt_ranges(ops: list[str], pairs: list[RangePair]) -> None:
    """Refuse the square root on ranges with negative values."""
    for op in ops:
        for pair in pairs:
            if op == "sqrt" and min(pair.train.low, pair.test.low) < 0:
                raise ValueError(
                    f"the operation 'sqrt' needs ranges without negative values: {pair}."
                )


def _success_thresholds(
    ops: list[str],
    pairs: list[RangePair],
    sizes: Mapping[str, int],
    epsilon: float,
    threshold_samples: int,
) -> dict[tuple[str, RangePair], float]:
    """The success threshold of each operation and range pair.

    The same thresholds for every fit: computed once, here, not in each worker.
    The square root has none on ranges with negative values: an error.
    """
    _check_sqrt_ranges(ops, pairs)
    return {
        (op, pair): success_threshold(
            op,
            pair.test,
            input_size=sizes["input_size"],
            subset_size=sizes["subset_size"],
            overlap=sizes["overlap"],
            epsilon=epsilon,
            n_samples=threshold_samples,
        )
        for op in ops
        for pair in pairs
    }


def _fit_calls(
    models_of: Mapping[str, list[str]],
    pairs: list[RangePair],
    seeds: list[int],
    thresholds: Mapping[tuple[str, RangePair], float],
    model_params: Mapping[str, dict[str, Any]],
    sizes: Mapping[str, int],
) -> list:
    """One delayed :func:`run_one` per operation, range, model and seed, in that order."""
    return [
        joblib.delayed(run_one)(
            op,
            model,
            pair,
            seed,
            threshold=thresholds[op, pair],
            params=model_params.get(model),
            **sizes,
        )
        for op in models_of
        for pair in pairs
        for model in models_of[op]
        for seed in seeds
    ]
