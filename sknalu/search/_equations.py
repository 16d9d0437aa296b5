"""``equations_``: the candidates of the closed-form search, as PySR users expect.

Every candidate the search judged on the held-out rows is a point of complexity
against error; the table keeps the Pareto front (no simpler candidate is as
accurate), simplest first, with each formula as a string and as a sympy
expression.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..formula._reader import symbol_names
from ._closed_form import pareto_front

#: The columns of ``equations_``.
EQUATIONS_COLUMNS = ("complexity", "loss", "r2", "exact", "equation", "sympy_format", "rank")


def equations_table(formulas: list, est) -> pd.DataFrame:
    """The Pareto front of ``formulas`` (ranked by the search) as a DataFrame.

    Parameters
    ----------
    formulas : list of ClosedForm
        The search's candidates, in its rank order (the first is the one it chose).
    est : estimator
        The estimator fitted, for its feature names.

    Returns
    -------
    DataFrame
        One row per formula of the front, simplest first: ``complexity`` (terms
        plus the total degree of their powers), ``loss`` (held-out mean squared
        error), ``r2`` (held-out R²), ``exact`` (the held-out rows fitted to float
        rounding), ``equation`` (a string), ``sympy_format`` (a sympy expression,
        None without sympy) and ``rank`` (the position in the search's order: 0 is
        the formula it chose).
    """
    front = pareto_front(formulas)
    rank = {id(f): i for i, f in enumerate(formulas)}
    names = getattr(est, "feature_names_in_", None)
    if names is None:
        names = [f"x{i}" for i in range(est.n_features_in_)]
    try:
        import sympy

        symbols = [sympy.Symbol(n) for n in symbol_names(list(map(str, names)))]
    except ImportError:
        symbols = None
    rows = []
    for formula in front:
        expression = formula.to_sympy(symbols) if symbols is not None else None
        scale = float(np.mean(formula.valid_target**2)) if formula.valid_target is not None else 1.0
        variance = float(np.var(formula.valid_target)) if formula.valid_target is not None else 1.0
        mse = formula.valid_error * (scale or 1.0)
        rows.append(
            {
                "complexity": formula.size(),
                "loss": mse,
                "r2": 1.0 - mse / variance if variance > 0 else float("nan"),
                "exact": bool(formula.exact),
                "equation": str(expression) if expression is not None else None,
                "sympy_format": expression,
                "rank": rank[id(formula)],
            }
        )
    return pd.DataFrame(rows, columns=list(EQUATIONS_COLUMNS))
