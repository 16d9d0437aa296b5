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

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # pragma: no cover
    pass

#: Grid of the unrounded rows of :func:`powers_of_sums` (2**-30).
_START_GRID = 2.0**30
#: What the Real NPU takes for log 0: exp of it times any weight of magnitude 0.1
#: or more (every nonzero multiple of ½) underflows to 0 or overflows to inf, in
#: float32 and float64.
_LOG_ZERO = -1e4


def _finite_rows(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` and ``y`` as ``[n, in]`` and ``[n, out]``, without rows holding inf or NaN."""
    x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    keep = torch.isfinite(x).all(1) & torch.isfinite(y).all(1)
    return x[keep], y[keep]


def least_squares(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """The matrix ``C`` (``[out, in]``) that minimises ``|x Cᵀ - y|²``; None with too few rows.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.0, 2.0], [3.0, 5.0], [2.0, 1.0]], dtype=torch.float64)
    >>> least_squares(x, x[:, :1] - x[:, 1:]).round(decimals=9)
    tensor([[ 1., -1.]], dtype=torch.float64)
    """
    x, y = _finite_rows(x, y)
    if len(x) <= x.shape[1]:
        return None
    return torch.linalg.lstsq(x, y).solution.T


def log_least_squares(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """The exponents ``E`` (``[out, in]``) of ``|y| ≈ Π |x|^E`` by least squares in logarithms.

    Fitted on the rows where no input and no target is zero; None with too few.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.5, 2.0], [3.0, 5.0], [2.0, 1.25]], dtype=torch.float64)
    >>> log_least_squares(x, x[:, :1] / x[:, 1:]).round(decimals=9)
    tensor([[ 1., -1.]], dtype=torch.float64)
    """
    x, y = _finite_rows(x, y)
    keep = (x != 0).all(1) & (y != 0).all(1)
    x, y = x[keep], y[keep]
    if len(x) <= x.shape[1]:
        return None
    return torch.linalg.lstsq(x.abs().log(), y.abs().log()).solution.T


def _root(y: torch.Tensor, power: float) -> torch.Tensor | None:
    """``z`` with ``z ** power == y``: the real root, the positive one for even
    powers; None where none exists for some row."""
    odd_integer = power == round(power) and round(power) % 2 == 1
    if odd_integer:
        return torch.sign(y) * y.abs() ** (1.0 / power)
    if bool((y < 0).any()):
        return None
    return y ** (1.0 / power)
