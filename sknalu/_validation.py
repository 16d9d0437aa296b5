"""Checking parameters: one mechanism, scikit-learn's parameter constraints.

The estimators declare ``_parameter_constraints`` and scikit-learn's
``BaseEstimator._validate_params`` checks them in ``fit``; functions check theirs
with :func:`check_params`, through the same constraint objects, so that every
integer and real parameter of sknalu is checked, and its error worded, one way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.validation import _check_sample_weight
from threadpoolctl import threadpool_limits

__all__ = [
    "NON_NEGATIVE",
    "Interval",
    "StrOptions",
    "at_least",
    "check_params",
    "check_sample_weight",
    "one_cpu_thread",
    "store_params",
]


def at_least(minimum: int) -> Interval:
    """The integers from ``minimum`` up."""
    return Interval(Integral, minimum, None, closed="left")


def check_params(caller: str, constraints: dict[str, list], **values: Any) -> None:
    """Check ``values`` against ``constraints``, as the estimators' parameters are.

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        A ``ValueError`` (and ``TypeError``) naming the parameter, what it must be,
        and the value it got.

    Examples
    --------
    >>> try:
    ...     check_params("run", {"seeds": [at_least(1)]}, seeds=0)
    ... except ValueError as error:
    ...     print(error)
    The 'seeds' parameter of run must be an int in the range [1, inf). Got 0 instead.
    """
    validate_parameter_constraints(constraints, values, caller_name=caller)


def store_params(obj: Any, params: dict[str, Any], exclude: tuple[str, ...] = ()) -> None:
    """Store ``__init__``'s arguments (its ``locals()``) unchanged as attributes.

    scikit-learn's and skorch's convention: ``__init__`` stores its arguments and
    nothing else, so that ``get_params`` and ``set_params`` find them.
    """
    for name, value in params.items():
        if name not in ("self", "__class__", *exclude):
            setattr(obj, name, value)


#: A finite real number of at least 0.
NON_NEGATIVE = Interval(Real, 0, None, closed="left")


@contextlib.contextmanager
def one_cpu_thread(device: torch.device | str = "cpu") -> Iterator[None]:
    """Run torch's and the BLAS libraries' CPU work on one thread, then restore them.

    The tensors of these networks are far too small for intra-op parallelism to
    pay: waking a second thread for every small operation made a CPU fit about a
    quarter slower, and it oversubscribes the cores when fits run side by side.
    Nothing changes for a device other than the CPU.
    """
    if torch.device(device).type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(previous)


def _columns(data, what: str) -> list:
    """``(label, values)`` for each column of ``data`` that may not be numbers."""
    if hasattr(data, "iloc") and hasattr(data, "columns"):  # a DataFrame
        return [
            (f"column {name!r}", data.iloc[:, i])
            for i, (name, dtype) in enumerate(zip(data.columns, data.dtypes, strict=True))
            if getattr(dtype, "kind", "O") not in "biuf"
        ]
    if hasattr(data, "iloc"):  # a Series
        kind = getattr(data.dtype, "kind", "O")
        name = "" if data.name is None else f" {str(data.name)!r}"
        return [] if kind in "biuf" else [(f"{what}{name}", data)]
    if isinstance(data, np.ndarray) and data.dtype.kind not in "biufc":
        if data.ndim == 2:
            return [(f"column {i}", data[:, i]) for i in range(data.shape[1])]
        return [(what, data)]
    return []


def _check_numbers(data, what: str) -> None:
    """Name the columns of ``data`` that do not hold numbers.

    numpy's own error for a date, a duration or a text column names no column
    (``DTypePromotionError``) or only the value it stumbled on. Dates and durations
    are refused even where numpy would turn them into nanoseconds.
    """
    problems, error = [], ValueError
    for label, values in _columns(data, what):
        dtype = values.dtype
        if getattr(dtype, "kind", "O") in "mM":
            problems.append(f"{label} holds {dtype} values")
            continue
        try:
            np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            problems.append(f"{label} ({dtype}) cannot be read as numbers: {exc}")
            if isinstance(exc, TypeError):
                error = TypeError
    if problems:
        raise error(
            f"{what} must hold numbers only, but " + "; ".join(problems) + ". Convert "
            "such columns to numbers first (a date to, say, days since a reference "
            "date; a duration to seconds) or leave them out."
        )


def _check_target_magnitude(y: np.ndarray) -> None:
    """Refuse targets whose squares overflow float64: the loss could not be computed."""
    with np.errstate(over="ignore"):
        mean_square = np.mean(np.square(y), axis=0)
    if not np.isfinite(mean_square).all():
        raise ValueError(
            f"The target's magnitude overflows float64 in the loss: |y| reaches "
            f"{float(np.max(np.abs(y))):.3g}, and its square, in the mean squared error, "
            "exceeds float64's largest number (1.8e+308). Rescale the target and the "
            "features (e.g. divide them by powers of ten) and fit again."
        )


def check_sample_weight(
    sample_weight, X: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The rows of ``X`` and ``y`` that count, and their weights (None: all equal).

    ``sample_weight`` is checked by scikit-learn's ``_check_sample_weight``: one
    finite, non-negative number per row, not all 0 (a ``ValueError`` otherwise).
    Rows of weight 0 are left out: they count nowhere, not even in the held-out
    split. The weights of the rows left are returned divided by their mean (mean
    1, the scale of the loss); where they are all equal, as with no weights, the
    fit is the unweighted one and None is returned. Nothing passed in is modified.

    Examples
    --------
    >>> X, y = np.arange(6.0).reshape(3, 2), np.arange(3.0)
    >>> X_kept, y_kept, weight = check_sample_weight([1, 0, 3], X, y)
    >>> y_kept, weight
    (array([0., 2.]), array([0.5, 1.5]))
    >>> check_sample_weight([2, 2, 2], X, y)[2] is None
    True
    """
    if sample_weight is None:
        return X, y, None
    weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    keep = weight > 0
    if not keep.all():
        X, y, weight = X[keep], y[keep], weight[keep]
    if np.all(weight == weight[0]):
        return X, y, None
    # Divided by the largest first: the mean of huge weights would overflow.
    weight = weight / weight.max()
    return X, y, weight / weight.mean()
