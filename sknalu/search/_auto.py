"""``units="auto"``: find the structure of the formula, then fit it with units.

The search has two parts, and the held-out rows judge both:

1. Formulas found in closed form (:mod:`sknalu.search._closed_form`): a constant times a
   product of integer powers of the columns, a sum of such terms, a ratio of two
   such sums, and the linear model. The best few are written into networks of the
   estimator's units (a product unit, a selector where it needs one, a
   :class:`~sknalu.units.Weighted` sum for the constants), which are evaluated,
   snapped and read back like any fitted network.
2. Where none of those fits the held-out rows to within 0.1% of their variance (the
   data hold no such formula, or noise hides it), the estimator's own stacks are
   trained as usual (``_auto_stacks``), in parallel through joblib.

The structure kept is the exact one with the simplest formula; when none is exact,
the formula the closed-form search ranked first (the simplest not clearly worse
than the best on the held-out rows; another than the linear model only if it
halves the linear model's error), unless a trained stack halves its error. Every
structure tried is reported in ``search_results_``.
"""

from __future__ import annotations

import functools
import math
import time
import warnings

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from .._validation import check_sample_weight
from ..exact._tolerances import BEAT_CLOSED_FORM, EXACT_LEAST_SQUARES, TRAIN_BELOW_R2
from ..training._data import HoldOut, fit_seeds
from ..units._functions import check_functions
from ..units._registry import UNITS
from ._closed_form import find_formulas
from ._equations import equations_table
from ._layout import layout

#: Closed-form formulas written into networks and evaluated.
_MAX_FORMULAS = 3
#: Share of ``max_time`` the closed-form search may take (the trained stacks
#: have found no formula the search missed in the formula benchmark, while the
#: search finds formulas in up to 30 s: most of the time is the search's); and of
#: the time then left that the trained stacks' training may take (the rest is for
#: starting them, their snap and read-back); and the fewest seconds a stack is
#: started for.
_SEARCH_SHARE, _STACK_SHARE, _MIN_STACK_SECONDS = 0.7, 0.6, 1.0
#: Share of ``max_time`` kept for what runs past the fits' shares: their snap and
#: read-back, choosing the structure, writing ``equations_`` (sympy). Without it,
#: fits with ``max_time=20`` ended up to 1.7 s late in the formula benchmark.
_END_SHARE = 0.1


def _fit_one(estimator, X, y, structure=None, sample_weight=None):
    """Fit one candidate; the fitted estimator, its seconds and any error message."""
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator._fit(X, y, structure=structure, sample_weight=sample_weight)
        return estimator, time.perf_counter() - start, None
    except (ValueError, RuntimeError, FloatingPointError) as exc:
        return None, time.perf_counter() - start, f"{type(exc).__name__}: {exc}"


def _complexity(estimator) -> int:
    """Operations in the formula read back (sympy's ``count_ops``): fewer is simpler."""
    try:
        import sympy

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the formula's own warnings: not read here
            return int(sympy.count_ops(estimator.to_sympy()))
    except Exception:
        return 10**6


def _time_left(deadline: float) -> float:
    return max(0.0, deadline - time.time())


def fit_auto(est, X, y, sample_weight=None) -> None:
    """Fit ``est`` (with ``units="auto"``) on ``X``, ``y``: search, choose, keep.

    Sets every fitted attribute of the chosen structure's fit on ``est``, plus
    ``search_results_``, ``equations_`` and ``units_`` / ``hidden_size_`` (the
    structure kept). The fit returns within ``est.max_time`` seconds: the
    closed-form search has up to 70% of 90% of it, the fits the rest of those 90%,
    and the last 10% are kept for choosing among them and writing ``equations_``.
    With ``sample_weight``, rows of weight 0 count nowhere, the search weighs its
    candidates' coefficients and held-out errors, and every network is fitted
    with the weights.
    """
    start = time.time()
    deadline = start + (math.inf if est.max_time is None else (1 - _END_SHARE) * est.max_time)
    X_checked, y_checked = validate_data(
        est, X, y, multi_output=True, y_numeric=True, dtype=np.float64
    )
    # The rows that count, and their weights: the networks leave out the same rows
    # before their held-out split, so the search's split is theirs.
    X_checked, y_checked, weight = check_sample_weight(sample_weight, X_checked, y_checked)
    # Every candidate is fitted on the data as it was given (names and all).
    fit = functools.partial(_fit_one, X=X, y=y, sample_weight=sample_weight)
    seed = int(check_random_state(est.random_state).randint(2**31 - 1))
    base = clone(est).set_params(random_state=seed)
    y2 = y_checked.reshape(len(y_checked), -1)

    tried = []  # (source, params, fitted estimator or None, seconds, error)
    formulas = []
    sizes: dict[int, int] = {}  # the search's size of each closed-form fit
    if y2.shape[1] == 1:
        formulas = _closed_forms(est, X_checked, y2[:, 0], weight, seed, start, deadline)
        tried += _fit_closed_forms(est, base, fit, formulas, deadline, sizes)
    closed = [t[3] for t in tried if t[3] is not None and t[0] == "closed form"]
    good_enough = any(f.formula_exact_ or f.validation_score_ >= TRAIN_BELOW_R2 for f in closed)
    if not good_enough and _time_left(deadline) > 0:
        tried += _fit_stacks(est, base, fit, deadline)

    fitted = [t for t in tried if t[3] is not None]
    if not fitted:
        errors = "; ".join(t[5] for t in tried if t[5])
        raise ValueError(f"units='auto' could not fit any structure: {errors}")
    complexity = {id(t[3]): sizes.get(id(t[3])) or _complexity(t[3]) for t in fitted}
    chosen = _choose([t[3] for t in fitted], [t[0] for t in fitted], complexity)
    _adopt(est, chosen)
    est.search_results_ = _search_results(tried, chosen, complexity)
    est.equations_ = equations_table(formulas, est)
    est.units_ = tuple(chosen.units)
    est.hidden_size_ = chosen.hidden_size
    if not est.validation_score_ > 0:
        warnings.warn(
            f"{type(est).__name__}(units='auto') found no structure that predicts the "
            f"held-out rows better than their mean (R² = {est.validation_score_:.3g}).",
            ConvergenceWarning,
            stacklevel=4,
        )


def _closed_forms(est, X, y, weight, seed: int, start: float, deadline: float) -> list:
    """The closed-form search on the estimators' own split (same seed), ranked.

    The search gets ``_SEARCH_SHARE`` of the time left. The coefficients of a formula that is
    not exact are then refitted on every row, held-out ones included, as
    scikit-learn's searches refit the chosen model: the held-out rows have chosen
    its terms, and more rows estimate its coefficients better.
    """
    split = HoldOut(est.validation_fraction, fit_seeds(seed)[2]).rows(len(X))
    every = np.arange(len(X))
    train, valid = (np.sort(i) for i in split) if split is not None else (every, every)
    budget = _SEARCH_SHARE * (deadline - start)
    weights = (None, None) if weight is None else (weight[train], weight[valid])
    formulas = find_formulas(
        X[train],
        y[train],
        X[valid],
        y[valid],
        half_powers=est._auto_half_powers,
        deadline=time.perf_counter() + budget,
        selection=est.selection,
        functions=check_functions(est.functions),
        sample_weight=weights[0],
        valid_weight=weights[1],
    )
    for formula in formulas[:_MAX_FORMULAS]:
        if formula.valid_error > EXACT_LEAST_SQUARES:
            formula.refit_(X, y, weight)
    return formulas


def _fit_closed_forms(est, base, fit, formulas, deadline: float, sizes: dict) -> list:
    """The best closed-form formulas written into networks of units and fitted.

    In rank order, up to ``_MAX_FORMULAS`` of them, until one is exact. A network
    whose formula the search did not confirm exact (it fits the held-out rows to
    rounding but does not extrapolate, see ``confirm_exact``) is not called exact.
    """
    roles = est._auto_roles
    tried = []
    for formula in formulas:
        # The first formula always; more while another fit as long fits in the time left.
        if len(tried) == _MAX_FORMULAS or (tried and _time_left(deadline) < tried[-1][4]):
            break
        plan = layout(formula, UNITS[roles["product"]], est.n_features_in_, roles)
        if plan is None:
            continue
        candidate = clone(base).set_params(
            units=plan.units,
            hidden_size=plan.hidden_size,
            n_restarts=1,
            escape_saddles=False,
            constants=True,
            max_time=None,  # no training steps: the weights are written in
        )
        fitted, seconds, error = fit(candidate, structure=plan)
        if fitted is not None:
            # The search's own measure of its size: reading a large network back
            # through sympy to count its operations can take seconds.
            sizes[id(fitted)] = formula.size()
            if not formula.exact:  # the search's checks, beyond the held-out rows
                fitted._not_exact_(formula.extrapolation_error)
        source = "linear model" if plan.kind == "linear" else "closed form"
        tried.append((source, plan.units, plan.hidden_size, fitted, seconds, error))
        if fitted is not None and fitted.formula_exact_:
            break
    return tried


def _fit_stacks(est, base, fit, deadline: float) -> list:
    """The estimator's own stacks, trained (in parallel) in the time left."""
    stacks = [(units, width) for units, width in est._auto_stacks if units[0] in UNITS]
    # No more workers than fits: each process costs a copy of torch.
    n_jobs = min(effective_n_jobs(est.n_jobs), len(stacks))
    rounds = math.ceil(len(stacks) / n_jobs)
    # Each fit's share of the time left, less a margin for starting the workers
    # and for the snap and read-back after training stops.
    share = _STACK_SHARE * _time_left(deadline) / rounds
    if share < _MIN_STACK_SECONDS:
        return []
    jobs = [
        clone(base).set_params(units=units, hidden_size=width, max_time=share)
        for units, width in stacks
    ]
    results = Parallel(n_jobs=n_jobs)(delayed(fit)(job) for job in jobs)
    return [
        ("trained", units, width, fitted, seconds, error)
        for (units, width), (fitted, seconds, error) in zip(stacks, results, strict=True)
    ]


def _choose(fitted: list, sources: list[str], complexity: dict[int, int]):
    """The fit to keep, of those in ``fitted`` (closed-form ones first, in rank order).

    The exact fit with the simplest formula; else the first closed-form fit (the
    search ranked them on the held-out rows, row by row, which the networks' mean
    errors cannot do as well), unless a trained network halves its held-out error.
    """
    exact = [f for f in fitted if f.formula_exact_]
    if exact:
        return min(exact, key=lambda f: (complexity[id(f)], f.validation_loss_))
    closed = [f for f, s in zip(fitted, sources, strict=True) if s != "trained"]
    trained = [f for f, s in zip(fitted, sources, strict=True) if s == "trained"]
    if not closed:
        return min(trained, key=lambda f: f.validation_loss_)
    first = closed[0]
    bound = BEAT_CLOSED_FORM * first.validation_loss_
    better = [f for f in trained if f.validation_loss_ <= bound]
    return min(better, key=lambda f: f.validation_loss_) if better else first


def _adopt(est, chosen) -> None:
    """Give ``est`` every fitted attribute of ``chosen`` (not its parameters)."""
    params = set(chosen.get_params(deep=False))
    for name, value in vars(chosen).items():
        if name not in params:
            setattr(est, name, value)


def _search_results(tried, chosen, complexity: dict[int, int]) -> dict:
    """What was tried, as a dict of lists that ``pandas.DataFrame`` takes."""
    columns = {
        "source": [],
        "units": [],
        "hidden_size": [],
        "validation_loss": [],
        "validation_score": [],
        "formula_exact": [],
        "formula": [],
        "complexity": [],
        "fit_time": [],
        "chosen": [],
        "error": [],
    }
    for source, units, width, fitted, seconds, error in tried:
        columns["source"].append(source)
        columns["units"].append(tuple(units))
        columns["hidden_size"].append(width)
        columns["fit_time"].append(seconds)
        columns["error"].append(error)
        columns["chosen"].append(fitted is chosen)
        if fitted is None:
            for key in ("validation_loss", "validation_score"):
                columns[key].append(math.nan)
            columns["formula_exact"].append(False)
            columns["formula"].append(None)
            columns["complexity"].append(None)
            continue
        columns["validation_loss"].append(fitted.validation_loss_)
        columns["validation_score"].append(fitted.validation_score_)
        columns["formula_exact"].append(bool(fitted.formula_exact_))
        columns["formula"].append(fitted.formula_)
        columns["complexity"].append(complexity[id(fitted)])
    return columns
