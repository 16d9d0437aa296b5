"""Warnings raised by sknalu."""

from __future__ import annotations

__all__ = ["FormulaWarning", "StandardisedDataWarning"]


class FormulaWarning(UserWarning):
    """The formula read back from a network is not an exact formula.

    Raised by ``to_sympy``, ``to_latex`` and ``lambdify`` when some weights are
    farther than the tolerance from their discrete values, or a gate is not
    saturated (those weights then appear as floating-point coefficients and the
    expression is a reading of the trained weights, not a clean formula); when the
    network does not fit the held-out data (its R² there is below 1 - 1e-9), so
    that even discrete weights are not the formula behind the target; or when the
    formula differs from ``predict`` on the training rows by more than a relative
    1e-6. The message says which, and by how much.
    """


class StandardisedDataWarning(UserWarning):
    """The estimator is fitted on standardised columns or a standardised target.

    Raised by ``fit`` when every column of ``X``, or the target, has mean 0 and
    standard deviation 1 (to 1e-6), as after a ``StandardScaler`` in a pipeline or
    in a ``TransformedTargetRegressor``. The formula is then of the scaled values,
    ``(x - mean) / std``, whatever the columns are named, and a product or ratio of
    the quantities is none of the scaled ones. Fit on the raw columns and target
    (arithmetic units need no scaling), or read the formula through the scaler.
    """
