"""Built-in arithmetic data sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

__all__ = ["make_arithmetic"]


def make_arithmetic(
    formula: str = "x0 * x1",
    *,
    n_samples: int = 1000,
    n_features: int = 2,
    value_range: tuple[float, float] = (1.0, 2.0),
    random_state=None,
    as_frame: bool = False,
):
    """Draw inputs uniformly from a range and compute a formula of them.

    Parameters
    ----------
    formula : str, default="x0 * x1"
        An arithmetic expression of the features ``x0``, ``x1``, ..., evaluated by
        :meth:`pandas.DataFrame.eval` (``+ - * / **`` and parentheses).
    n_samples : int, default=1000
        Number of rows.
    n_features : int, default=2
        Number of features; features the formula does not use are distractors.
    value_range : tuple of float, default=(1.0, 2.0)
        Every feature is drawn from ``U[low, high]``.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw.
    as_frame : bool, default=False
        Return a DataFrame and a Series (named ``"y"``) instead of arrays.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features) or DataFrame
        The inputs.
    y : ndarray of shape (n_samples,) or Series
        The formula's value on each row.

    Examples
    --------
    >>> X, y = make_arithmetic("x0 * x1 + x2", n_features=3, random_state=0)
    >>> X.shape, bool(np.allclose(y, X[:, 0] * X[:, 1] + X[:, 2]))
    ((1000, 3), True)
    """
    low, high = value_range
    if not low < high:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range!r}.")
    rng = check_random_state(random_state)
    columns = [f"x{i}" for i in range(n_features)]
    X = pd.DataFrame(rng.uniform(low, high, size=(n_samples, n_features)), columns=columns)
    try:
        y = X.eval(formula, engine="python")
    except Exception as exc:  # pandas raises many types for a bad expression
        raise ValueError(
            f"cannot evaluate formula {formula!r} on features {columns}: {exc}"
        ) from exc
    y = pd.Series(np.asarray(y, dtype=np.float64), name="y")
    if as_frame:
        return X, y
    return X.to_numpy(), y.to_numpy()
