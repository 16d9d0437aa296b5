"""The discrete values a unit's weights read as, and rounding onto them.

A solved unit's weights are discrete: {-1, 0, 1} for adding (:data:`SIGNED`),
{0, 1} for multiplying and for gates (:data:`BINARY`), or every multiple of 1 or
of ½. A unit lists its weights with their discrete values as
:class:`DiscreteWeight`; :func:`nearest_target` and :func:`rounded_within` round onto
them.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..exact._numbers import SIGNED as SIGNED
from ..exact._numbers import nearest_value

#: The discrete values of a multiplying weight or a gate: leave out, take in.
BINARY: tuple[float, ...] = (0.0, 1.0)

Targets = tuple[float, ...] | str
#: Targets named by a string: every multiple of the step.
GRIDS: dict[str, float] = {"integer": 1.0, "half-integer": 0.5}


def nearest_target(w: torch.Tensor, targets: Targets) -> torch.Tensor:
    """The discrete value nearest to each element of ``w``.

    Parameters
    ----------
    w : Tensor
        Weights.
    targets : tuple of float, "integer" or "half-integer"
        The discrete values, or every integer, or every multiple of ½.

    Returns
    -------
    Tensor
        Same shape and type as ``w``; ties go to the smaller target (to the even
        multiple of the step for a grid).

    Examples
    --------
    >>> import torch
    >>> nearest_target(torch.tensor([-0.7, 0.2, 0.98]), (-1.0, 0.0, 1.0))
    tensor([-1.,  0.,  1.])
    >>> nearest_target(torch.tensor([1.9, -0.4]), "integer")
    tensor([2., -0.])
    >>> nearest_target(torch.tensor([0.48, -1.6]), "half-integer")
    tensor([ 0.5000, -1.5000])
    """
    if isinstance(targets, str):
        step = GRIDS[targets]
        return torch.round(w / step) * step
    return nearest_value(w, targets)


def rounded_within(
    solution: torch.Tensor | None, targets: Targets, tolerance: float
) -> torch.Tensor | None:
    """``solution`` rounded to ``targets`` if every entry lies within ``tolerance``.

    Parameters
    ----------
    solution : Tensor or None
        Weights solved for, e.g. by least squares; None where there is no solution.
    targets : tuple of float, "integer" or "half-integer"
        The discrete values, as for :func:`nearest_target`.
    tolerance : float
        Largest distance of an entry from its discrete value.

    Returns
    -------
    Tensor or None
        The rounded weights; None where ``solution`` is None, holds inf or NaN, or
        has an entry farther than ``tolerance`` from every target.

    Examples
    --------
    >>> import torch
    >>> rounded_within(torch.tensor([0.97, -0.02]), (-1.0, 0.0, 1.0), tolerance=0.1)
    tensor([1., 0.])
    >>> rounded_within(torch.tensor([0.5]), (-1.0, 0.0, 1.0), tolerance=0.1) is None
    True
    """
    if solution is None or not bool(torch.isfinite(solution).all()):
        return None
    result = nearest_target(solution, targets)
    if solution.numel() and float((solution - result).abs().max()) > tolerance:
        return None
    return result


class DiscreteWeight(NamedTuple):
    """A weight that a unit's formula uses, with the discrete values it reads as.

    Attributes
    ----------
    name : str
        What the weight is, e.g. ``"weight"``, ``"weight_mul"`` or ``"gate"``.
    value : Tensor
        The effective weight, with the unit's copy dimension first if it has one.
    targets : tuple of float, "integer" or "half-integer"
        Its discrete values.
    gate : bool
        Whether it is a gate (a choice between paths or inputs) rather than a
        weight: gates count for the formula's exactness but not for the sparsity
        regulariser or the sparsity error.
    """

    name: str
    value: torch.Tensor
    targets: Targets
    gate: bool = False
