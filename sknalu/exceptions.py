"""Warnings raised by sknalu."""

from __future__ import annotations

__all__ = ["FormulaWarning"]


class FormulaWarning(UserWarning):
    """The formula read back from a network is not the exact formula it computes.

    Raised by ``to_sympy`` when some weights are farther than the tolerance from
    their discrete values, or a gate is not saturated: those weights then appear as
    floating-point coefficients and the expression is a reading of the trained
    weights, not a clean formula.
    """
