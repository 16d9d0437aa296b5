"""The regularisers of a unit's weights: sparsity and out of bounds.

The sparsity regulariser pulls each weight towards its discrete values, the
out-of-bounds regulariser pulls each bounded raw parameter back into its bounds
(Madsen & Johansen, "Neural Arithmetic Units", ICLR 2020, section 2.5). Both are
methods of every unit, through :class:`RegularizerMixin`; the sparsity
regulariser's gradient is computed in closed form (:func:`sparsity_penalty`).
"""

from __future__ import annotations

from typing import ClassVar

import torch

from ._targets import BINARY, GRIDS, SIGNED, Targets, nearest_target

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


def sparsity_penalty(
    w: torch.Tensor, targets: Targets, shape: str, gradient_scale: float | None = None
) -> torch.Tensor:
    """Mean sparsity regulariser of the weight matrix ``w``, one value per copy.

    Parameters
    ----------
    w : Tensor of shape (..., out, in)
        The weights.
    targets : tuple of float, "integer" or "half-integer"
        Their discrete values.
    shape : {"linear", "squared"}
        Shape of the regulariser.
    gradient_scale : float, optional
        Without it, the value is returned differentiable. With it, ``w`` must be a
        leaf tensor (a raw parameter): ``gradient_scale`` times the regulariser's
        gradient is added to ``w.grad`` at once, and the value is returned
        detached, with no autograd node to build and run at every optimiser step.

    Returns
    -------
    Tensor
        One value per copy (a scalar without copies).
    """
    if gradient_scale is None:
        return _SparsityPenalty.apply(w, targets, shape)
    with torch.no_grad():
        distance, slope = _distance_terms(w, targets, shape)
        scale = gradient_scale / (w.shape[-1] * w.shape[-2])
        if w.grad is None:
            w.grad = slope.mul_(scale)
        else:
            w.grad.add_(slope, alpha=scale)
        return distance.mean(dim=(-1, -2))


class RegularizerMixin:
    """The regularisers and the bounds of an :class:`~sknalu.units.ArithmeticUnit`.

    They read what the unit declares: ``bounds``, ``oob_mode``,
    ``regularizer_shape`` and :meth:`~sknalu.units.ArithmeticUnit.discrete_weights`.
    """

    bounds: ClassVar[dict[str, tuple[float, float]]]
    oob_mode: str
    regularizer_shape: str
    n_copies: int | None

    def _per_copy_mean(self, t: torch.Tensor) -> torch.Tensor:
        """Mean over everything but the copy dimension."""
        if self.n_copies is None:
            return t.mean()
        return t.reshape(self.n_copies, -1).mean(dim=1)

    def sparsity_loss(self, gradient_scale: float | None = None) -> torch.Tensor:
        """Sparsity regulariser, one value per copy (a scalar without copies).

        The mean over each weight (not gate) of :meth:`discrete_weights` of its
        distance to its discrete values: ``min(|W|, |1 - |W||)`` (``"linear"``) or
        ``W² (1 - |W|)²`` (``"squared"``) for {-1, 0, 1} (Madsen & Johansen 2020,
        section 2.5), the same with ``W`` for {0, 1}, and the distance to the
        nearest integer for integer weights; summed over the weights.

        Parameters
        ----------
        gradient_scale : float, optional
            The factor the caller multiplies the regulariser by in a loss it is about
            to backpropagate. A unit that knows the regulariser's gradient in closed
            form then adds ``gradient_scale`` times that gradient to its raw weights'
            ``.grad`` at once and returns the value detached, with no autograd node;
            the others return it differentiable, as without ``gradient_scale``.
            Either way the loss's gradients are the same, so a training step calls it
            after zeroing the gradients and before the backward pass.
        """
        weights = [w for w in self.discrete_weights() if not w.gate]
        return sum(
            (sparsity_penalty(w.value, w.targets, self.regularizer_shape) for w in weights),
            torch.zeros((), dtype=weights[0].value.dtype, device=weights[0].value.device),
        )

    @torch.no_grad()
    def sparsity_error(self) -> torch.Tensor:
        """Largest distance of any weight (not gate) from its discrete values, per copy.

        The sparsity error of Madsen & Johansen (2020, section 4.1), measured against
        each weight's own discrete values.
        """
        errors = []
        for w in self.discrete_weights():
            if w.gate:
                continue
            distance = (w.value - nearest_target(w.value, w.targets)).abs()
            errors.append(distance.amax(dim=(-1, -2)))
        return torch.stack(errors).amax(dim=0)

    def clipped_bounds(self) -> dict[str, tuple[float, float]]:
        """The bounds :meth:`constrain_` projects onto: ``bounds`` when clipping, else none."""
        return dict(self.bounds) if self.oob_mode == "clip" else {}

    def oob_loss(self) -> torch.Tensor:
        """Out-of-bounds regulariser, one value per copy.

        The mean over each bounded raw parameter of how far it lies outside its
        bounds (Madsen & Johansen 2020: ``relu(|W| - 1)`` for the NAU,
        ``relu(|W - 0.5| - 0.5)`` for the NMU), summed over the parameters; zero
        for a unit without bounds.
        """
        first = next(self.parameters())
        total = torch.zeros(self._shape(), dtype=first.dtype, device=first.device)
        for name, (lo, hi) in self.bounds.items():
            outside = torch.relu((getattr(self, name) - (lo + hi) / 2).abs() - (hi - lo) / 2)
            total = total + self._per_copy_mean(outside)
        return total

    @torch.no_grad()
    def constrain_(self) -> None:
        """Project the bounded raw parameters into bounds (``oob_mode="clip"`` only)."""
        for name, (lo, hi) in self.clipped_bounds().items():
            getattr(self, name).clamp_(lo, hi)
