"""Whether a fit sees standardised columns or a standardised target, and the warning.

A formula is read in the columns the estimator is given. Inside a
``Pipeline(StandardScaler(), ...)`` those are the scaled columns, whatever names
they carry, and in a ``TransformedTargetRegressor(..., transformer=StandardScaler())``
the target is scaled: the formula is then of ``(x - mean) / std``, not of the
quantities, and a product of quantities is not one of the scaled columns. The
estimator cannot see the scaler, only its output: every column with mean 0 and
standard deviation 1 (``StandardScaler``'s, with ``ddof=0``), which a table of
measurements has by coincidence only. :func:`warn_if_standardised` says so from
``fit``, with the fix.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..exceptions import StandardisedDataWarning

#: How close to 0 each column's mean, and to 1 its standard deviation, must be for
#: the column to count as standardised: a StandardScaler's output is so to float
#: rounding, measured data only by coincidence.
_MOMENTS_WITHIN = 1e-6


def looks_standardised(a) -> bool:
    """Whether every column of ``a`` has mean 0 and standard deviation 1.

    A column of zeros (a constant column after ``StandardScaler``) counts too, as
    long as one column has standard deviation 1. Anything that is not a finite
    numeric table of at least two rows does not look standardised.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(1, 10, size=(100, 2))
    >>> looks_standardised(X), looks_standardised((X - X.mean(0)) / X.std(0))
    (False, True)
    """
    try:
        a = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    a = a.reshape(len(a), -1) if a.ndim == 1 else a
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] == 0 or not np.isfinite(a).all():
        return False
    mean, std = a.mean(axis=0), a.std(axis=0)
    centred = np.abs(mean) <= _MOMENTS_WITHIN
    unit = np.abs(std - 1) <= _MOMENTS_WITHIN
    return bool(centred.all() and (unit | (std == 0)).all() and unit.any())


def warn_if_standardised(X, y, stacklevel: int = 3) -> None:
    """Warn when ``X`` or ``y`` look standardised (:func:`looks_standardised`).

    The warning says that the formula is of the scaled columns or target, and what
    to do: fit on the raw columns and target (arithmetic units need no scaling),
    or read the formula through the scaler's ``mean_`` and ``scale_``.
    """
    scaled = []
    if looks_standardised(X):
        scaled.append(
            "every column of X has mean 0 and standard deviation 1, as after a "
            "StandardScaler: the formula is of the scaled columns "
            "(x - mean) / std, whatever their names, not of the quantities"
        )
    if looks_standardised(y):
        scaled.append(
            "the target has mean 0 and standard deviation 1, as in a "
            "TransformedTargetRegressor with a StandardScaler: the formula is of the "
            "scaled target, and the constants it gets are the scaler's"
        )
    if not scaled:
        return
    warnings.warn(
        "The data look standardised: "
        + "; and ".join(scaled)
        + ". A product or ratio of quantities is no product or ratio of their "
        "scaled values, so the formula is rarely the one behind the data. Fit on "
        "the raw columns and target instead (arithmetic units need no scaling: drop "
        "the scaler), or read the formula through the scaler, putting "
        "(x - mean_) / scale_ in place of each column x.",
        StandardisedDataWarning,
        stacklevel=stacklevel,
    )
