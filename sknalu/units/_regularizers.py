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

from ._targets import BINARY, GRIDS, SIGNED, Targets

if TYPE_CHECKING:  # pragma: no cover
    pass

OOB_MODES = ("clip", "regularized")
REGULARIZER_SHAPES = ("linear", "squared")


def _interval_terms(v: torch.Tensor, shape: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance of ``v`` to {0, 1} and its derivative, elementwise, without autograd.

    ``"linear"``: ``min(|v|, |1 - v|)``; ``"squared"``: ``v² (1 - v)²``.
    """
    if shape == "linear":
        to_zero, to_one = v.abs(), (1 - v).abs()
        distance = torch.minimum(to_zero, to_one)
        slope = torch.where(to_zero <= to_one, torch.sign(v), torch.sign(v - 1))
        return distance, slope
    t = torch.addcmul(v, v, v, value=-1)  # v (1 - v)
    return t.square(), t * torch.rsub(v, 2, alpha=4)  # 2 t (1 - 2 v)


def _distance_terms(
    w: torch.Tensor, targets: Targets, shape: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The sparsity regulariser of ``w`` towards ``targets``, and its derivative.

    ``"linear"`` is the distance to the nearest target; ``"squared"`` the squared
    product of the distances to the two nearest ones (Madsen & Johansen 2020,
    section 2.5: ``min(|W|, |1 - |W||)`` and ``W² (1 - |W|)²`` for {-1, 0, 1}).
    """
    if shape == "linear" and targets in (SIGNED, BINARY):
        # The nearest of consecutive integers, in five elementwise operations.
        difference = w - torch.round(w).clamp_(targets[0], targets[-1])
        return difference.abs(), torch.sign(difference)
    if targets == SIGNED and shape == "squared":
        # w² (1 - |w|)² = t² with t = w (1 - |w|), whose derivative is 1 - 2 |w|.
        magnitude = w.abs()
        t = torch.addcmul(w, w, magnitude, value=-1)
        return t.square(), t * torch.rsub(magnitude, 2, alpha=4)
    if targets == SIGNED:
        distance, slope = _interval_terms(w.abs(), shape)
        return distance, slope * torch.sign(w)
    if targets == BINARY:
        return _interval_terms(w, shape)
    if isinstance(targets, str):
        # A grid of step s: the distance to {0, 1} of w / s, in units of w.
        step = GRIDS[targets]
        v = w / step
        distance, slope = _interval_terms(v - torch.floor(v), shape)
        if shape == "linear":
            return distance * step, slope
        return distance * step**4, slope * step**3
    values = torch.tensor(sorted(targets), dtype=w.dtype, device=w.device)
    diffs = w.unsqueeze(-1) - values
    if shape == "linear" or len(values) == 1:
        nearest = diffs.gather(-1, diffs.abs().argmin(dim=-1, keepdim=True)).squeeze(-1)
        return nearest.abs(), torch.sign(nearest)
    two = diffs.gather(-1, diffs.abs().topk(2, dim=-1, largest=False).indices)
    a, b = two[..., 0], two[..., 1]
    return (a * b).square(), 2 * a * b * (a + b)


class _SparsityPenalty(torch.autograd.Function):
    """Mean sparsity regulariser of a weight matrix, one value per copy.

    The gradient is the closed form of :func:`_distance_terms`: the regulariser is
    evaluated at every optimiser step, and a handful of fused operations cost far
    less than the autograd graph of its elementwise formula.
    """

    @staticmethod
    def forward(ctx, w, targets, shape):
        distance, slope = _distance_terms(w, targets, shape)
        ctx.save_for_backward(slope)
        ctx.size = w.shape[-1] * w.shape[-2]
        return distance.mean(dim=(-1, -2))

    @staticmethod
    def backward(ctx, grad):
        (slope,) = ctx.saved_tensors
        return slope * (grad / ctx.size).unsqueeze(-1).unsqueeze(-1), None, None
