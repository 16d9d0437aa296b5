"""Warnings raised by sknalu."""

from __future__ import annotations

__all__ = ["FormulaWarning"]


class FormulaWarning(UserWarning):
    """The formula read back from a network is not an exact formula.

    Raised by ``to_sympy`` when some weights are farther than the tolerance from
    their discrete values, or a gate is not saturated (those weights then appear as
    floating-point coefficients and the expression is a reading of the trained
    weights, not a clean formula); when the network does not fit the held-out data
    (its R² there is below 1 - 1e-9), so that even discrete weights are not the
    formula behind the target; or when the formula differs from ``predict`` on the
    training rows by more than a relative 1e-6. The message says which, and by how
    much.
    """
