"""The arithmetic benchmark of Madsen & Johansen (2020), "static function task".

An input vector of 100 values drawn from a range, two overlapping subsets summed
into ``a`` and ``b``, and a target ``a op b``; models train on one range and are
tested far outside it. A model has solved a seed when its test error is below
that of a nearly exact network (:func:`success_threshold`).

- :class:`ArithmeticTask`, :class:`ValueRange`, :class:`RangePair`, :data:`RANGES`:
  the task and its ranges;
- :func:`success_threshold`: the success criterion;
- :func:`wilson_interval`, :func:`sparsity_error`, :func:`first_solved_step`,
  :class:`ExtrapolationMonitor`: the metrics;
- :data:`MODELS`, :func:`make_model`: the models;
- :func:`run_benchmark`, :func:`summarize`, :func:`to_markdown`,
  :func:`write_report`: running it and reporting beside the published numbers;
- :func:`run_operations`, :func:`summarize_operations`: the six operations on two
  inputs, scored on whether the formula read back is the true one;
- :data:`FORMULAS`, :data:`ALGEBRAIC_FORMULAS`, :data:`FUNCTION_FORMULAS`
  (:data:`FORMULA_COLLECTIONS`, :func:`formula_collection`), :data:`FORMULA_MODELS`,
  :func:`run_formulas`, :func:`summarize_formulas`: formulas of physics,
  engineering and finance, scored on whether the formula read back is the true
  one, against other models; :func:`truth_supported`: whether noisy rows prefer
  the truth to what was found;
- :func:`measure_speed`: training speed against a hand-written torch loop.

The ``sknalu benchmark`` command runs it from the shell.

Examples
--------
>>> from sknalu.benchmarks import run_benchmark, summarize
>>> results = run_benchmark(
...     ["mul"], ["nmu"], seeds=2, params={"max_steps": 500, "n_restarts": 2},
...     n_train=500, n_valid=250, n_test=250, threshold_samples=10_000)
>>> summarize(results)[["op", "model", "seeds"]]
    op model  seeds
0  mul   nmu      2
"""

from ._formula_suite import (
    ALGEBRAIC_FORMULAS,
    FORMULA_COLLECTIONS,
    FORMULA_MODELS,
    FORMULAS,
    FUNCTION_FORMULAS,
    ROOTLESS_MODELS,
    SuiteFormula,
    formula_collection,
    run_formulas,
    summarize_formulas,
    truth_supported,
)
from ._metrics import ExtrapolationMonitor, first_solved_step, sparsity_error, wilson_interval
from ._models import MODELS, PAPER_MODELS, ModelSpec, make_model, parse_param, route_params
from ._operations import OPERATIONS_COLUMNS, run_operations, summarize_operations
from ._report import PAPER_RESULTS, summarize, to_markdown, write_report
from ._run import RESULT_COLUMNS, run_benchmark, run_one
from ._speed import measure_speed
from ._task import DEFAULT_RANGE, OPS, RANGES, ArithmeticTask, RangePair, ValueRange, check_op
from ._threshold import PUBLISHED_THRESHOLDS, exact_first_layer, success_threshold

__all__ = [
    "ALGEBRAIC_FORMULAS",
    "DEFAULT_RANGE",
    "FORMULAS",
    "FORMULA_COLLECTIONS",
    "FORMULA_MODELS",
    "FUNCTION_FORMULAS",
    "MODELS",
    "OPERATIONS_COLUMNS",
    "OPS",
    "PAPER_MODELS",
    "PAPER_RESULTS",
    "PUBLISHED_THRESHOLDS",
    "RANGES",
    "RESULT_COLUMNS",
    "ROOTLESS_MODELS",
    "ArithmeticTask",
    "ExtrapolationMonitor",
    "ModelSpec",
    "RangePair",
    "SuiteFormula",
    "ValueRange",
    "check_op",
    "exact_first_layer",
    "first_solved_step",
    "formula_collection",
    "make_model",
    "measure_speed",
    "parse_param",
    "route_params",
    "run_benchmark",
    "run_formulas",
    "run_one",
    "run_operations",
    "sparsity_error",
    "success_threshold",
    "summarize",
    "summarize_formulas",
    "summarize_operations",
    "to_markdown",
    "truth_supported",
    "wilson_interval",
    "write_report",
]
