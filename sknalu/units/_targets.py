"""Neural arithmetic units as plain torch modules.

Every unit maps ``in_features`` inputs to ``out_features`` outputs without a bias.
Its weights may carry a leading *copy* dimension of size ``n_copies`` so that many
independently initialised copies of a network train in a single forward and
backward pass (see :class:`sknalu.ArithmeticNetwork`). With ``n_copies=None`` the
unit behaves like an ordinary ``torch.nn.Linear``: input ``[batch, in]``, output
``[batch, out]``. With ``n_copies=K`` the input is ``[batch, in]`` or
``[K, batch, in]`` and the output is ``[K, batch, out]``.

(The estimators call each copy a *restart*: ``n_restarts`` is ``n_copies``.)

A unit owns everything that is specific to it, declared once on the unit:

- ``forward`` (the unit's formula) and ``reset_parameters`` (its paper's
  initialisation);
- ``bounds``: the range of each bounded raw parameter, which ``weight``,
  ``constrain_`` (the projection after every optimiser step when
  ``oob_mode="clip"``), ``oob_loss`` and the saddle escape all read;
- ``discrete_weights``: the weights its formula uses with their discrete values
  (``weight_targets``: {-1, 0, 1}, {0, 1} or the multiples of ½), which the sparsity
  regulariser (``sparsity_loss``), the sparsity error and the formula's exactness
  read;
- ``snap_``: moves every weight within a tolerance of a discrete value exactly
  onto it, so that a trained unit computes exactly the formula its weights stand
  for; ``linear_map`` and ``load_linear_map_`` let two linear units in a row be
  snapped through their product; ``refit_`` solves a last layer's discrete
  weights from its inputs and the targets, where the unit can;
- ``formula``: reads the unit back as sympy expressions of its inputs';
  ``gate_range`` and ``gate_distance`` judge a gate that depends on the input;
- ``input_labels``: the names of the columns of its weight matrix.

Code outside this module never asks which unit it holds. :func:`register_unit`
makes a unit available by name to the estimators (:data:`UNITS`).

The units know nothing of scikit-learn or skorch. References:

- Trask et al., "Neural Arithmetic Logic Units", NeurIPS 2018 (NAC+, NAC•, NALU).
- Madsen & Johansen, "Neural Arithmetic Units", ICLR 2020 (NAU, NMU, regularisers).
- Schlör, Ring & Hotho, "iNALU: Improved Neural Arithmetic Logic Unit",
  Frontiers in Artificial Intelligence 2020.
- Heim, Pevný & Šmídl, "Neural Power Units", NeurIPS 2020 (Real NPU).
- Mistry, Farrahi & Hare, "A Primer for Neural Arithmetic Logic Modules", 2021 (NMRU).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch

if TYPE_CHECKING:  # pragma: no cover
    pass

#: The discrete values of an adding weight: subtract, leave out, add.
SIGNED: tuple[float, ...] = (-1.0, 0.0, 1.0)
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
    values = torch.tensor(targets, dtype=w.dtype, device=w.device)
    index = (w.unsqueeze(-1) - values).abs().argmin(dim=-1)
    return values[index]


def _rounded(solution: torch.Tensor | None, targets: Targets, tolerance: float):
    """``solution`` rounded to ``targets`` if every entry lies within ``tolerance``, else None."""
    if solution is None or not bool(torch.isfinite(solution).all()):
        return None
    rounded = nearest_target(solution, targets)
    if solution.numel() and float((solution - rounded).abs().max()) > tolerance:
        return None
    return rounded


def divided_by_largest(v: torch.Tensor) -> torch.Tensor:
    """Each row of ``v`` divided by its entry of largest magnitude (sign kept); a row
    of zeros stays as it is."""
    largest = v.gather(-1, v.abs().argmax(dim=-1, keepdim=True))
    return v / torch.where(largest == 0, 1.0, largest)


def _signed_rows(v: torch.Tensor, tolerance: float) -> torch.Tensor | None:
    """Rows of ``v`` divided by their largest entry and rounded to {-1, 0, 1}."""
    if not bool(v.any(dim=-1).all()):
        return None
    return _rounded(divided_by_largest(v), SIGNED, tolerance)


def _gate_distance(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per output, how far a gate ranging over ``[lo, hi]`` is from saturation."""
    distance = np.minimum(1.0 - lo, hi)
    return np.where(np.isnan(distance), np.inf, distance)


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
