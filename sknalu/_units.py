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

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np
import torch
from torch import nn

from ._constants import simple_numbers

if TYPE_CHECKING:  # pragma: no cover
    from ._formula import FormulaReader

__all__ = [
    "BINARY",
    "INALU",
    "NAC",
    "NALU",
    "NAU",
    "NMRU",
    "NMU",
    "SIGNED",
    "UNITS",
    "UNIT_FAMILIES",
    "ArithmeticUnit",
    "DiscreteWeight",
    "Linear",
    "NACMul",
    "RealNPU",
    "Weighted",
    "least_squares",
    "log_least_squares",
    "nac_init_range",
    "nearest_target",
    "powers_of_sums",
    "register_unit",
    "units_of_family",
    "unregister_unit",
]

OOB_MODES = ("clip", "regularized")
REGULARIZER_SHAPES = ("linear", "squared")
#: The discrete values of an adding weight: subtract, leave out, add.
SIGNED: tuple[float, ...] = (-1.0, 0.0, 1.0)
#: The discrete values of a multiplying weight or a gate: leave out, take in.
BINARY: tuple[float, ...] = (0.0, 1.0)
_NAC_MUL_EPS = 1e-7
#: How close a coefficient of :class:`Weighted` must be to a simple number to be
#: moved onto it by the snap (relative).
_SIMPLE_RELATIVE = 1e-9
#: Relative mean squared error under which :meth:`Weighted.refit_` counts a least-
#: squares fit as exact.
_EXACT_REFIT = 1e-20
#: Grid of the unrounded rows of :func:`powers_of_sums` (2**-30).
_START_GRID = 2.0**30
#: What the Real NPU takes for log 0: exp of it times any weight of magnitude 0.1
#: or more (every nonzero multiple of ½) underflows to 0 or overflows to inf, in
#: float32 and float64.
_LOG_ZERO = -1e4
#: A raw weight this large saturates tanh and σ *exactly* in float32 and float64:
#: tanh(±1000) = ±1, σ(1000) = 1 and σ(-1000) = 0 (σ(-40) would still be 4e-18).
#: Snapping a tanh·σ weight or a σ gate sets its raw weights to ±_SATURATED.
_SATURATED = 1000.0

Targets = tuple[float, ...] | str
#: Targets named by a string: every multiple of the step.
GRIDS: dict[str, float] = {"integer": 1.0, "half-integer": 0.5}


def nac_init_range(in_features: int, out_features: int) -> float:
    """Half-width ``r`` of the uniform NAC initialisation.

    Trask et al. (2018) draw both raw NAC weights from ``U[-r, r]``. Following
    Madsen & Johansen (2020, appendix on NAC initialisation), ``r`` is chosen so
    that ``Var[tanh(Ŵ) σ(M̂)] = 2 / fan`` with ``fan = max(in + out, 5)``, where

    ``Var[W](r) = (1 - tanh(r) / r) (r - tanh(r / 2)) / (2 r)``,

    solved by bisection on ``[0, 10]``.

    Parameters
    ----------
    in_features, out_features : int
        Shape of the layer.

    Returns
    -------
    float
        The half-width ``r``.

    Examples
    --------
    >>> round(nac_init_range(100, 2), 3)
    0.504
    >>> round(nac_init_range(2, 1), 2)
    9.47
    """
    target = 2.0 / max(in_features + out_features, 5)

    def variance(r: float) -> float:
        return (1 - math.tanh(r) / r) * (r - math.tanh(r / 2)) / (2 * r)

    lo, hi = 1e-6, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if variance(mid) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


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


@torch.no_grad()
def _snap_raw_(
    raw: torch.Tensor, effective: torch.Tensor, targets: Targets, tolerance: float
) -> int:
    """Set ``raw`` to the target wherever ``effective`` is within ``tolerance`` of it.

    For weights whose effective value is the raw one, clipped to bounds that
    contain every target. Returns the number of weights moved.
    """
    target = nearest_target(effective, targets)
    move = ((effective - target).abs() <= tolerance) & (effective != target)
    raw[move] = target[move]
    return int(move.sum())


@torch.no_grad()
def _snap_saturating_(
    effective: torch.Tensor,
    targets: tuple[float, ...],
    tolerance: float,
    params: dict[float, list[tuple[torch.Tensor, float]]],
) -> int:
    """Snap a weight made of tanh and σ of raw weights by saturating them.

    ``params`` maps each target to the raw tensors to set and the value each one
    takes where the effective weight moves to that target.
    """
    target = nearest_target(effective, targets)
    move = ((effective - target).abs() <= tolerance) & (effective != target)
    for value, settings in params.items():
        where = move & (target == value)
        for raw, raw_value in settings:
            raw[where] = raw_value
    return int(move.sum())


def _matmul(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight.T`` broadcast over a leading copy dimension.

    When every copy sees the same ``[batch, in]`` input, the copies' weights are
    stacked into one ``[in, copies * out]`` matrix: a single matrix product is much
    faster than a broadcast batched one.
    """
    if x.dim() == 2 and weight.dim() == 3:
        k, out, _ = weight.shape
        product = torch.nn.functional.linear(x, weight.reshape(k * out, -1))
        return product.view(len(x), k, out).transpose(0, 1)
    return x @ weight.transpose(-1, -2)


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


def _rounded(solution: torch.Tensor | None, targets: Targets, tolerance: float):
    """``solution`` rounded to ``targets`` if every entry lies within ``tolerance``, else None."""
    if solution is None or not bool(torch.isfinite(solution).all()):
        return None
    rounded = nearest_target(solution, targets)
    if solution.numel() and float((solution - rounded).abs().max()) > tolerance:
        return None
    return rounded


@torch.no_grad()
def _load_(raw: torch.Tensor, value: torch.Tensor) -> int:
    """Copy ``value`` into ``raw`` (one copy or none); the number of entries changed."""
    value = value.reshape(raw.shape).to(raw)
    moved = int((raw != value).sum())
    raw.copy_(value)
    return moved


def _root(y: torch.Tensor, power: float) -> torch.Tensor | None:
    """``z`` with ``z ** power == y``: the real root, the positive one for even
    powers; None where none exists for some row."""
    odd_integer = power == round(power) and round(power) % 2 == 1
    if odd_integer:
        return torch.sign(y) * y.abs() ** (1.0 / power)
    if bool((y < 0).any()):
        return None
    return y ** (1.0 / power)


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


def powers_of_sums(
    x: torch.Tensor,
    y: torch.Tensor,
    powers: Sequence[float],
    ratio: bool,
    tolerance: float,
    rounded: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Candidate formulas ``y = Π_j (r_j · x)^e_j`` with rows ``r_j`` in {-1, 0, 1}.

    Each candidate is found in closed form: a power of one sum, ``y = (r · x)^e``,
    as the least-squares solution of ``y^(1/e) = r · x``; a ratio of two sums,
    ``y = (r1 · x) / (r2 · x)``, as the null vector of ``[x, -y x]`` (the right
    singular vector of its smallest singular value), scaled so that its largest
    entry is 1. Only candidates whose entries all lie within ``tolerance`` of
    {-1, 0, 1} are given.

    Parameters
    ----------
    x : Tensor of shape (n, in)
        Inputs.
    y : Tensor of shape (n, 1)
        Target (one output).
    powers : sequence of float
        The exponents ``e`` to try for a power of one sum.
    ratio : bool
        Whether to try a ratio of two sums.
    tolerance : float
        Largest distance from {-1, 0, 1}.
    rounded : bool, default=True
        With False, the least-squares rows of the powers of one sum are given as
        they are, not rounded (and no ratio): the best fit of that shape, a point
        to start training from rather than a formula.

    Yields
    ------
    rows : Tensor of shape (k, in)
        The sums' weights.
    exponents : Tensor of shape (k,)
        Their exponents.
    """
    x, y = _finite_rows(x, y)
    if y.shape[1] != 1 or len(x) <= 2 * x.shape[1]:
        return
    target = y[:, 0]
    for power in powers:
        root = _root(target, power)
        if root is None:
            continue
        row = least_squares(x, root[:, None])
        if rounded:
            row = _rounded(row, SIGNED, tolerance)
        elif row is not None:
            # LAPACK's last bits depend on the memory layout of x; quantised, the
            # start is the same on every run with the same data.
            row = torch.round(row * _START_GRID) / _START_GRID
        if row is not None and bool(row.any()):
            yield row, torch.tensor([power], dtype=x.dtype, device=x.device)
    if ratio and rounded:
        system = torch.cat([x, -target[:, None] * x], dim=1)
        null = torch.linalg.svd(system, full_matrices=False).Vh[-1]
        rows = _signed_rows(null[None], tolerance)
        if rows is not None:
            rows = rows[0].reshape(2, -1)
            if bool(rows.any(dim=1).all()):
                yield rows, torch.tensor([1.0, -1.0], dtype=x.dtype, device=x.device)


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


class ArithmeticUnit(nn.Module):
    """Base class of the arithmetic units.

    A subclass declares what is specific to it once, and the network, the
    training, the snap, the saddle escape, the formula and the plots read it from
    there: ``bounds`` and ``weight_targets`` (class attributes), ``_build``,
    ``reset_parameters``, ``weight``, ``forward``, ``snap_`` and ``formula``; and,
    where they differ from the defaults, ``discrete_weights``, ``sparsity_loss``,
    ``linear_map`` / ``load_linear_map_``, ``gate_range`` / ``gate_distance`` and
    ``input_labels``. The user guide's "Adding a unit" walks through one.

    Parameters
    ----------
    in_features : int
        Number of inputs.
    out_features : int
        Number of outputs.
    n_copies : int or None, default=None
        Size of the leading copy dimension of every weight; ``None`` for none.
    oob_mode : {"clip", "regularized"}, default="clip"
        How weights outside the unit's bounds are handled: ``"clip"`` projects them
        back after every optimiser step (:meth:`constrain_`), ``"regularized"``
        leaves them and lets :meth:`oob_loss` penalise them.
    regularizer_shape : {"linear", "squared"}, default="linear"
        Shape of the sparsity regulariser (Madsen & Johansen 2020, section 2.5).
    generator : torch.Generator or None, default=None
        Source of randomness for the initialisation.
    """

    #: The range of each bounded raw parameter, by attribute name. ``weight`` clips
    #: to it, :meth:`constrain_` projects onto it (``oob_mode="clip"``),
    #: :meth:`oob_loss` penalises leaving it (``"regularized"``), and the saddle
    #: escape holds entries near it fixed.
    bounds: ClassVar[dict[str, tuple[float, float]]] = {}
    #: The discrete values of ``weight`` in the formula of a solved unit: a tuple of
    #: values, or "integer" / "half-integer" for every multiple of 1 / of ½.
    weight_targets: Targets = SIGNED
    #: Whether the bounded raw parameters are known to lie within their bounds, so
    #: that ``weight`` need not clip them: set, with ``oob_mode="clip"``, only while
    #: :meth:`ArithmeticNetwork.projected <sknalu.ArithmeticNetwork.projected>`
    #: holds, by a training loop that projects them after every optimiser step.
    within_bounds: bool = False

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        n_copies: int | None = None,
        oob_mode: str = "clip",
        regularizer_shape: str = "linear",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if oob_mode not in OOB_MODES:
            raise ValueError(f"oob_mode must be one of {OOB_MODES}, got {oob_mode!r}.")
        if regularizer_shape not in REGULARIZER_SHAPES:
            raise ValueError(
                f"regularizer_shape must be one of {REGULARIZER_SHAPES}, got {regularizer_shape!r}."
            )
        self.in_features = in_features
        self.out_features = out_features
        self.n_copies = n_copies
        self.oob_mode = oob_mode
        self.regularizer_shape = regularizer_shape
        self._build()
        self.reset_parameters(generator)

    # -- helpers for subclasses -------------------------------------------------
    def _shape(self, *shape: int) -> tuple[int, ...]:
        return shape if self.n_copies is None else (self.n_copies, *shape)

    def _weight_param(self, cols: int | None = None) -> nn.Parameter:
        cols = self.in_features if cols is None else cols
        return nn.Parameter(torch.empty(self._shape(self.out_features, cols)))

    @torch.no_grad()
    def _glorot_uniform_(self, param: torch.Tensor, generator=None) -> None:
        """Draw ``param`` from U[-r, r], ``r = sqrt(6 / (in + out))`` (Glorot & Bengio)."""
        r = math.sqrt(6.0 / (self.in_features + self.out_features))
        param.uniform_(-r, r, generator=generator)

    def _clip(self, name: str) -> torch.Tensor:
        """The raw parameter ``name`` clipped to its bounds.

        A weight on a bound gets its own gradient, as in projected gradient descent
        (torch's clamp passes it up to torch 2.13 and none from 2.14 on); outside
        the bounds, none. So, while :attr:`within_bounds` holds for a clipping
        unit, the raw parameter is returned as it is, with the same values and
        gradients, and the step saves the clipping's operations and autograd nodes.
        """
        raw = getattr(self, name)
        if self.within_bounds and self.oob_mode == "clip":
            return raw
        lo, hi = self.bounds[name]
        clipped = raw.clamp(lo, hi)
        if not (raw.requires_grad and torch.is_grad_enabled()):
            return clipped
        return torch.where((raw >= lo) & (raw <= hi), raw, clipped)

    def _per_copy_mean(self, t: torch.Tensor) -> torch.Tensor:
        """Mean over everything but the copy dimension."""
        if self.n_copies is None:
            return t.mean()
        return t.reshape(self.n_copies, -1).mean(dim=1)

    def _build(self) -> None:
        raise NotImplementedError

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw fresh initial weights."""
        raise NotImplementedError

    @property
    def weight(self) -> torch.Tensor:
        """The effective weight matrix, ``[..., out, in]``."""
        raise NotImplementedError

    # -- discrete values --------------------------------------------------------
    def discrete_weights(self) -> list[DiscreteWeight]:
        """Every weight (and gate) the unit's formula uses, with its discrete values."""
        return [DiscreteWeight("weight", self.weight, self.weight_targets)]

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
            (_SparsityPenalty.apply(w.value, w.targets, self.regularizer_shape) for w in weights),
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

    # -- bounds -------------------------------------------------------------------
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

    # -- snapping -----------------------------------------------------------------
    @torch.no_grad()
    def snap_(self, tolerance: float = 0.1) -> int:
        """Move every weight within ``tolerance`` of a discrete target exactly onto it.

        The targets are those of :meth:`discrete_weights`, measured on the
        effective weights; the raw weights are changed so that the effective
        weights equal the targets. Weights farther than ``tolerance`` from every
        target stay as they are.

        Parameters
        ----------
        tolerance : float, default=0.1
            Largest distance a weight is moved.

        Returns
        -------
        int
            Number of weights moved (gates included).

        Examples
        --------
        >>> import torch
        >>> unit = NAU(3, 1)
        >>> with torch.no_grad():
        ...     _ = unit.W.copy_(torch.tensor([[0.98, -0.03, 0.6]]))
        >>> unit.snap_(tolerance=0.05)
        2
        >>> unit.weight.detach()
        tensor([[1.0000, 0.0000, 0.6000]])
        """
        raise NotImplementedError

    def linear_map(self) -> torch.Tensor | None:
        """The matrix ``W`` when the unit computes ``z = W x`` with {-1, 0, 1} targets.

        Two such units in a row compute one linear map, which
        :func:`~sknalu._snap.snap_linear_pair_` snaps as a whole. ``None`` for
        every other unit.
        """
        return None

    @torch.no_grad()
    def load_linear_map_(self, weight: torch.Tensor) -> None:
        """Set the raw weights so that :meth:`linear_map` is ``weight`` (in {-1, 0, 1})."""
        raise TypeError(f"{type(self).__name__} does not compute a linear map.")

    @torch.no_grad()
    def refit_(self, x: torch.Tensor, y: torch.Tensor, tolerance: float = 0.1) -> int:
        """Solve for the discrete weights that map ``x`` to ``y`` exactly, where the unit can.

        Meant for the last layer of a network whose earlier layers are already
        right: a unit that is linear in its weights (a sum) or in the logarithms of
        its inputs (a product of powers) fits its weights by least squares and
        rounds them to its discrete values. They are written only when every one
        lies within ``tolerance`` of its discrete value; the caller judges the
        result on held-out data. A unit that cannot solve for its weights changes
        nothing.

        Parameters
        ----------
        x : Tensor of shape (n, in) or (1, n, in)
            The unit's inputs.
        y : Tensor of shape (n, out)
            The outputs wanted.
        tolerance : float, default=0.1
            Largest distance of a fitted weight from its discrete value.

        Returns
        -------
        int
            Number of weights changed.
        """
        return 0

    @torch.no_grad()
    def refit_with_linear_(
        self,
        first: ArithmeticUnit,
        x: torch.Tensor,
        y: torch.Tensor,
        tolerance: float = 0.1,
        start: bool = False,
    ) -> int:
        """Solve this unit and the linear layer ``first`` before it together, where it can.

        Some formulas of two layers are linear in the first layer's weights once
        the target is transformed: ``y = (w·x)^e`` is ``y^(1/e) = w·x``, and
        ``y = (w1·x) / (w2·x)`` is ``w1·x - y (w2·x) = 0``, the null space of a
        matrix. A unit whose formula has that shape solves for both layers' discrete
        weights at once, writes the candidate that fits ``y`` best and returns the
        number of weights changed; the caller judges it on held-out data. Others
        change nothing.

        Parameters
        ----------
        first : ArithmeticUnit
            The layer before, whose :meth:`linear_map` is not None.
        x, y, tolerance
            As for :meth:`refit_`, with ``x`` the inputs of ``first``.
        start : bool, default=False
            Instead of a formula, write the best fit of ``y = (w·x)²`` with real
            ``w`` where the unit expresses a square only as ``h · h`` of two equal
            hidden units (NMU, NMRU): the symmetric stationary point that training
            a product of two sums reaches first, a saddle, written at once so that
            the saddle escape can leave it.

        Returns
        -------
        int
            Number of weights changed, in both layers.
        """
        return 0

    # -- gates that depend on the input ------------------------------------------
    @torch.no_grad()
    def gate_range(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray] | None:
        """``(min, max)`` per output over the inputs ``x`` of a gate that depends on them.

        None for units without such a gate; whether it is saturated, and the layer
        adds or multiplies, can only be judged on data.
        """
        return None

    def gate_distance(self, gate_range: tuple[np.ndarray, np.ndarray] | None) -> float:
        """How far the input-dependent gate is from saturation over ``gate_range``."""
        return 0.0

    # -- reading back -------------------------------------------------------------
    def formula(self, xs: list, reader: FormulaReader, gate_range: Any = None) -> list:
        """The sympy expressions of the unit's outputs, given those of its inputs.

        Parameters
        ----------
        xs : list of sympy.Expr
            One expression per input.
        reader : FormulaReader
            Turns weights into sympy numbers (discrete values within the tolerance,
            floats otherwise) and composes sums, products and powers.
        gate_range : tuple, optional
            The output of :meth:`gate_range` on the training data.

        Returns
        -------
        list of sympy.Expr
            One expression per output.
        """
        raise NotImplementedError

    def input_labels(self, names: Sequence[str]) -> list[str]:
        """Names of the columns of ``weight``, given the names of the inputs."""
        return list(names)

    def extra_repr(self) -> str:
        copies = "" if self.n_copies is None else f", n_copies={self.n_copies}"
        return f"in_features={self.in_features}, out_features={self.out_features}{copies}"


class _RawWeightUnit(ArithmeticUnit):
    """A unit whose weight is one raw matrix ``W``, clipped to ``bounds["W"]`` if any.

    Its regulariser acts on the raw ``W``, as in the reference implementation of
    Madsen & Johansen (2020), and :meth:`snap_` writes the targets into ``W``.
    """

    def _weight_columns(self) -> int:
        return self.in_features

    def _build(self) -> None:
        self.W = self._weight_param(self._weight_columns())

    @property
    def weight(self):
        return self._clip("W") if "W" in self.bounds else self.W

    @torch.no_grad()
    def load_weight_(self, weight: torch.Tensor) -> int:
        """Write ``weight`` (within bounds) as the weight matrix; the entries changed."""
        return _load_(self.W, weight)

    def sparsity_loss(self, gradient_scale=None):
        if gradient_scale is None:
            return _SparsityPenalty.apply(self.W, self.weight_targets, self.regularizer_shape)
        # The closed-form gradient goes straight into W.grad: no autograd node to
        # build and run at every optimiser step.
        with torch.no_grad():
            distance, slope = _distance_terms(self.W, self.weight_targets, self.regularizer_shape)
            scale = gradient_scale / (self.W.shape[-1] * self.W.shape[-2])
            if self.W.grad is None:
                self.W.grad = slope.mul_(scale)
            else:
                self.W.grad.add_(slope, alpha=scale)
            return distance.mean(dim=(-1, -2))

    @torch.no_grad()
    def snap_(self, tolerance=0.1):
        return _snap_raw_(self.W, self.weight, self.weight_targets, tolerance)


class _SumMixin:
    """``z = W x`` with {-1, 0, 1} targets: reads as a sum, snaps as a linear map."""

    def forward(self, x):
        return _matmul(x, self.weight)

    def linear_map(self):
        return self.weight

    @torch.no_grad()
    def load_linear_map_(self, weight):
        # Units whose weight is the raw W (NAU, Linear); NAC+ saturates instead.
        self.W.copy_(weight.reshape(self.W.shape))

    @torch.no_grad()
    def refit_(self, x, y, tolerance=0.1):
        weight = _rounded(least_squares(x, y), self.weight_targets, tolerance)
        if weight is None:
            return 0
        moved = int((weight != self.linear_map().reshape(weight.shape)).sum())
        if moved:
            self.load_linear_map_(weight)
        return moved

    def formula(self, xs, reader, gate_range=None):
        return reader.sums(reader.numbers(self.weight, self.weight_targets), xs)


class Linear(_SumMixin, _RawWeightUnit):
    """Plain linear layer without bias, ``z = W x``: the papers' baseline.

    Examples
    --------
    >>> import torch
    >>> Linear(3, 2)(torch.ones(4, 3)).shape
    torch.Size([4, 2])
    """

    def reset_parameters(self, generator=None):
        self._glorot_uniform_(self.W, generator)


class Weighted(_RawWeightUnit):
    """A sum with real coefficients, ``z = W x``: the constants of a sum of terms.

    The one unit without discrete values: its weights are the constant factors of
    the terms it adds (``m*v**2/2 + 9.81*m*h``), so no regulariser pulls them and
    the snap moves each to the simplest rational, or rational multiple of π,
    within a relative 1e-9 of it (which the held-out check then accepts or not).
    As the last layer of a network it refits them by least squares where that
    fits the snap's rows exactly (not otherwise: those rows judge the snap). Its
    formula reads each coefficient as that simple number where it is one exactly.

    Examples
    --------
    >>> import torch
    >>> unit = Weighted(2, 1).double()
    >>> with torch.no_grad():
    ...     _ = unit.W.copy_(torch.tensor([[0.5000000000001, 9.81]], dtype=torch.float64))
    >>> unit.snap_()
    1
    >>> unit(torch.tensor([[2.0, 1.0]], dtype=torch.float64))
    tensor([[10.8100]], dtype=torch.float64, grad_fn=<MmBackward0>)
    """

    def reset_parameters(self, generator=None):
        self._glorot_uniform_(self.W, generator)

    def forward(self, x):
        return _matmul(x, self.weight)

    def discrete_weights(self):
        return []

    def sparsity_loss(self, gradient_scale=None):
        return self.W.new_zeros(self._shape())

    @torch.no_grad()
    def sparsity_error(self):
        return self.W.new_zeros(self._shape())

    @torch.no_grad()
    def snap_(self, tolerance=0.1):
        w = self.W.detach()
        largest = w.abs().amax(dim=(-1, -2), keepdim=True)
        new = simple_numbers(w, _SIMPLE_RELATIVE)
        new = torch.where(w.abs() <= _SIMPLE_RELATIVE * largest, 0.0, new)
        moved = int((new != w).sum())
        self.W.copy_(new)
        return moved

    @torch.no_grad()
    def refit_(self, x, y, tolerance=0.1):
        # Only coefficients that map x to y exactly: least squares on the rows that
        # judge the snap would otherwise fit their noise.
        weight = least_squares(x, y)
        if weight is None or not bool(torch.isfinite(weight).all()):
            return 0
        x, y = _finite_rows(x, y)
        residual = float((x @ weight.T - y).square().mean())
        if not residual <= _EXACT_REFIT * float(y.square().mean()):
            return 0
        moved = int((weight != self.W.reshape(weight.shape)).sum())
        self.W.copy_(weight.reshape(self.W.shape))
        return moved

    def formula(self, xs, reader, gate_range=None):
        coefficients = np.vectorize(reader.constant, otypes=[object])(reader.array(self.W))
        return reader.sums(coefficients, xs)


class NAU(_SumMixin, _RawWeightUnit):
    """Neural addition unit, ``z = clamp(W, -1, 1) x`` (Madsen & Johansen 2020, eq. 1).

    Initialised Glorot-uniform with the half-width capped at 0.5.

    Examples
    --------
    >>> import torch
    >>> unit = NAU(2, 1)
    >>> _ = torch.nn.init.constant_(unit.W, -1.0)
    >>> unit(torch.tensor([[5.0, 3.0]]))
    tensor([[-8.]], grad_fn=<MmBackward0>)
    """

    bounds: ClassVar[dict[str, tuple[float, float]]] = {"W": (-1.0, 1.0)}

    def reset_parameters(self, generator=None):
        r = min(0.5, math.sqrt(3.0) * math.sqrt(2.0 / (self.in_features + self.out_features)))
        with torch.no_grad():
            self.W.uniform_(-r, r, generator=generator)


class _PowerProductMixin:
    """A unit whose solved formula is ``z_o = Π_j h_j ^ E_oj`` (NMU, NMRU, Real NPU).

    It declares the exponents it can give one input (``exponent_targets``) and
    writes an exponent matrix into its weights (``_load_exponents_``); from those,
    :meth:`refit_` solves the exponents by least squares in logarithms and
    :meth:`refit_with_linear_` solves powers and ratios of sums in closed form.
    """

    exponent_targets: Targets = BINARY

    def _load_exponents_(self, exponents: torch.Tensor) -> int:
        raise NotImplementedError

    @classmethod
    def _allows(cls, exponent: float) -> bool:
        return bool(nearest_target(torch.tensor(exponent), cls.exponent_targets) == exponent)

    @torch.no_grad()
    def refit_(self, x, y, tolerance=0.1):
        exponents = _rounded(log_least_squares(x, y), self.exponent_targets, tolerance)
        if exponents is None:
            return 0
        return self._load_exponents_(exponents)

    def _expanded(self, rows, exponents):
        """``rows``, ``exponents`` in this unit's exponents: ``h²`` as ``h · h`` where
        only 0 and ±1 are allowed; None where the unit cannot express them."""
        out_rows, out_exponents = [], []
        for row, e in zip(rows, exponents.tolist(), strict=True):
            if self._allows(e):
                out_rows.append(row)
                out_exponents.append(e)
            elif e == round(e) and self._allows(math.copysign(1.0, e)):
                out_rows += [row] * abs(int(e))
                out_exponents += [math.copysign(1.0, e)] * abs(int(e))
            else:
                return None
        if len(out_rows) > self.in_features:
            return None
        return torch.stack(out_rows), torch.tensor(out_exponents).to(rows)

    @torch.no_grad()
    def refit_with_linear_(self, first, x, y, tolerance=0.1, start=False):
        if first.linear_map() is None or self.out_features != 1:
            return 0
        probe = torch.zeros(1, 1)
        powers = [
            p
            for p in (1.0, 2.0, 0.5, -1.0, -2.0, -0.5)
            if self._expanded(probe, torch.tensor([p])) is not None
        ]
        if start:
            # The symmetric point: a square (or its reciprocal) that this unit can
            # only express by repeating one sum in two hidden units, h · h.
            powers = [p for p in powers if not self._allows(p)]
        ratio = self._allows(-1.0) and not start
        best, best_error = None, math.inf
        for rows, exponents in powers_of_sums(x, y, powers, ratio, tolerance, rounded=not start):
            expanded = self._expanded(rows, exponents)
            if expanded is None:
                continue
            rows, exponents = expanded
            predicted = ((x @ rows.T) ** exponents).prod(dim=1, keepdim=True)
            error = float(torch.nan_to_num((predicted - y).square().mean(), nan=math.inf))
            if error < best_error:
                best, best_error = expanded, error
        if best is None:
            return 0
        rows, exponents = best
        first_weight = torch.zeros_like(first.linear_map().reshape(self.in_features, -1))
        first_weight[: len(rows)] = rows
        all_exponents = torch.zeros(1, self.in_features, dtype=x.dtype, device=x.device)
        all_exponents[0, : len(rows)] = exponents
        moved = int((first_weight != first.linear_map().reshape(first_weight.shape)).sum())
        first.load_linear_map_(first_weight)
        return moved + self._load_exponents_(all_exponents)


class NMU(_PowerProductMixin, _RawWeightUnit):
    """Neural multiplication unit (Madsen & Johansen 2020, eq. 2).

    ``z_o = Π_i (W_oi x_i + 1 - W_oi)`` with ``W`` clamped to ``[0, 1]``: a weight
    of 1 multiplies the input in, a weight of 0 leaves it out. Initialised
    ``U[0.25, 0.75]``, the initialisation that produced the published numbers.

    Examples
    --------
    >>> import torch
    >>> unit = NMU(3, 1)
    >>> with torch.no_grad():
    ...     _ = unit.W.copy_(torch.tensor([[1.0, 1.0, 0.0]]))
    >>> unit(torch.tensor([[2.0, 3.0, 7.0]]))
    tensor([[6.]], grad_fn=<ProdBackward1>)
    """

    bounds: ClassVar[dict[str, tuple[float, float]]] = {"W": (0.0, 1.0)}
    weight_targets = BINARY

    def reset_parameters(self, generator=None):
        with torch.no_grad():
            self.W.uniform_(0.25, 0.75, generator=generator)

    def forward(self, x):
        w = self.weight.unsqueeze(-3)  # [..., 1, out, in]
        return torch.addcmul(1 - w, w, x.unsqueeze(-2)).prod(dim=-1)

    def _weight_of_exponents(self, exponents: torch.Tensor) -> torch.Tensor:
        return exponents

    @torch.no_grad()
    def _load_exponents_(self, exponents):
        return _load_(self.W, self._weight_of_exponents(exponents))

    def formula(self, xs, reader, gate_range=None):
        return reader.products(reader.numbers(self.weight, self.weight_targets), xs)


class NMRU(NMU):
    """Neural multiplication-reciprocal unit (Mistry, Farrahi & Hare 2021).

    The inputs are extended with their reciprocals, ``x' = [x, 1 / x]``; then
    ``z = Π_j (|x'_j| W_j + 1 - W_j) · cos(π Σ_j [x'_j < 0] W_j)`` with ``W`` in
    ``[0, 1]``, shape ``[out, 2 in]``. A weight of 1 on a reciprocal divides by
    that input. Initialised ``U[0.25, 0.75]`` like the NMU, whose bounds, discrete
    values and regulariser it shares.

    Training divides an input within ``ε = 1e-7`` of 0 as ``±ε``; every other row
    is computed exactly as in prediction. In prediction a weight of 0 leaves its
    input out even where its reciprocal is infinite, so the unit's output is finite
    wherever its formula is.

    Examples
    --------
    >>> import torch
    >>> unit = NMRU(2, 1).eval()
    >>> with torch.no_grad():
    ...     _ = unit.W.copy_(torch.tensor([[1.0, 0.0, 0.0, 1.0]]))
    >>> round(unit(torch.tensor([[-6.0, 3.0]])).item(), 4)
    -2.0
    """

    def _weight_columns(self) -> int:
        return 2 * self.in_features

    exponent_targets = SIGNED

    def forward(self, x):
        divisor = x
        if self.training:
            # Away from the pole: an input within ε of 0 is divided as ±ε. Every other
            # reciprocal is exact, so training and prediction agree on those rows.
            near_zero = x.abs() < _NAC_MUL_EPS
            divisor = torch.where(near_zero, torch.where(x < 0, -_NAC_MUL_EPS, _NAC_MUL_EPS), x)
        x = torch.cat([x, 1 / divisor], dim=-1)
        w = self.weight
        factors = w.unsqueeze(-3) * x.abs().unsqueeze(-2) + 1 - w.unsqueeze(-3)
        if not self.training:
            # A weight of 0 leaves its input out, even the infinite reciprocal of a
            # zero (0 · ∞ would be NaN). Not in training: the gradient that lets a
            # weight leave 0 must flow.
            factors = torch.where(w.unsqueeze(-3) == 0, 1.0, factors)
        sign = torch.cos(math.pi * _matmul((x < 0).to(x.dtype), w))
        return factors.prod(-1) * sign

    def _weight_of_exponents(self, exponents):
        # x^1 is a weight of 1 on x, x^-1 a weight of 1 on its reciprocal.
        return torch.cat([exponents == 1, exponents == -1], dim=-1).to(exponents)

    def formula(self, xs, reader, gate_range=None):
        # With weights in {0, 1} the magnitude and the cos sign term together are
        # exactly the product of the selected inputs and reciprocals.
        return reader.products(
            reader.numbers(self.weight, self.weight_targets), [*xs, *(1 / x for x in xs)]
        )

    def input_labels(self, names):
        return [*names, *(f"1/{n}" for n in names)]


def _nac_weight(w_hat: torch.Tensor, m_hat: torch.Tensor) -> torch.Tensor:
    """The NAC weight ``tanh(Ŵ) ⊙ σ(M̂)`` (Trask et al. 2018, eq. 1)."""
    return torch.tanh(w_hat) * torch.sigmoid(m_hat)


@torch.no_grad()
def _snap_nac_(
    weight: torch.Tensor, w_hat: torch.Tensor, m_hat: torch.Tensor, tolerance: float
) -> int:
    """Snap a NAC weight ``tanh(Ŵ) σ(M̂)`` to {-1, 0, 1} by saturating its raw weights."""
    return _snap_saturating_(
        weight,
        SIGNED,
        tolerance,
        {
            -1.0: [(w_hat, -_SATURATED), (m_hat, _SATURATED)],
            0.0: [(w_hat, 0.0)],
            1.0: [(w_hat, _SATURATED), (m_hat, _SATURATED)],
        },
    )


@torch.no_grad()
def _load_nac_(weight: torch.Tensor, w_hat: torch.Tensor, m_hat: torch.Tensor) -> None:
    """Set a NAC weight ``tanh(Ŵ) σ(M̂)`` to ``weight`` (in {-1, 0, 1}) by saturation."""
    weight = weight.reshape(w_hat.shape).to(w_hat)
    w_hat.copy_(_SATURATED * weight)
    m_hat.copy_(torch.where(weight == 0, m_hat, _SATURATED))


def _log_magnitude(x: torch.Tensor) -> torch.Tensor:
    return torch.log(x.abs() + _NAC_MUL_EPS)


class NAC(_SumMixin, ArithmeticUnit):
    """Additive neural accumulator NAC+ (Trask et al. 2018, eq. 1).

    ``W = tanh(Ŵ) ⊙ σ(M̂)``, ``z = W x``; both raw weights ``U[-r, r]`` with ``r``
    from :func:`nac_init_range`. ``W`` lies in (-1, 1) by construction, so the unit
    has no bounds to enforce.

    ``W`` only approaches ±1 as the raw weights grow without bound, so
    :meth:`snap_` saturates them instead: a weight snapped to 0 gets ``Ŵ = 0``, one
    snapped to ±1 gets ``Ŵ = ±1000`` and ``M̂ = 1000``, where tanh and σ round to
    exactly ±1 in float32 and float64. The snapped unit computes its formula
    exactly; its snapped weights no longer receive a gradient.

    Examples
    --------
    >>> import torch
    >>> NAC(4, 2)(torch.ones(3, 4)).shape
    torch.Size([3, 2])
    >>> unit = NAC(2, 1)
    >>> with torch.no_grad():
    ...     _ = unit.W_hat.copy_(torch.tensor([[3.0, 0.01]]))
    ...     _ = unit.M_hat.copy_(torch.tensor([[4.0, 0.0]]))
    >>> unit.snap_(tolerance=0.1)
    2
    >>> unit.weight
    tensor([[1., 0.]], grad_fn=<MulBackward0>)
    """

    def _build(self) -> None:
        self.W_hat = self._weight_param()
        self.M_hat = self._weight_param()

    def reset_parameters(self, generator=None):
        r = nac_init_range(self.in_features, self.out_features)
        with torch.no_grad():
            self.W_hat.uniform_(-r, r, generator=generator)
            self.M_hat.uniform_(-r, r, generator=generator)

    @property
    def weight(self):
        return _nac_weight(self.W_hat, self.M_hat)

    @torch.no_grad()
    def snap_(self, tolerance=0.1):
        return _snap_nac_(self.weight, self.W_hat, self.M_hat, tolerance)

    @torch.no_grad()
    def load_linear_map_(self, weight):
        _load_nac_(weight, self.W_hat, self.M_hat)


class NACMul(NAC):
    """Multiplicative neural accumulator NAC• (Trask et al. 2018, eq. 2 left).

    ``z = exp(W log(|x| + ε))`` with the NAC+ weight ``W`` and ``ε = 1e-7``. It loses
    the sign of ``x`` and explodes for ``|x|`` near zero with negative weights.

    Examples
    --------
    >>> import torch
    >>> unit = NACMul(2, 1)
    >>> with torch.no_grad():
    ...     _ = unit.W_hat.fill_(20.0)
    ...     _ = unit.M_hat.fill_(20.0)
    >>> round(unit(torch.tensor([[2.0, 3.0]])).item(), 3)
    6.0
    """

    def forward(self, x):
        return torch.exp(_matmul(_log_magnitude(x), self.weight))

    def linear_map(self):
        return None

    @torch.no_grad()
    def refit_(self, x, y, tolerance=0.1):
        weight = _rounded(log_least_squares(x, y), SIGNED, tolerance)
        if weight is None:
            return 0
        moved = int((weight != self.weight.reshape(weight.shape)).sum())
        _load_nac_(weight, self.W_hat, self.M_hat)
        return moved

    def formula(self, xs, reader, gate_range=None):
        # exp(W log|x|) loses the sign of x (Trask et al. 2018).
        c = reader.numbers(self.weight, self.weight_targets)
        return reader.powers(c, [reader.abs(x) for x in xs])


class NALU(ArithmeticUnit):
    """Neural arithmetic logic unit (Trask et al. 2018, eq. 2).

    ``y = g ⊙ a + (1 - g) ⊙ m`` with ``a = NAC+(x)``, ``m = NAC•(x)`` and the gate
    ``g = σ(G x)``. The two paths share one weight matrix unless
    ``shared_weights=False``; ``G`` is Xavier-uniform.

    :meth:`snap_` snaps the weights of both paths as :class:`NAC` does; the gate
    depends on the input, so it is left as it is, and whether it is saturated is
    judged on data (:meth:`gate_range`).

    Parameters
    ----------
    in_features, out_features, n_copies, oob_mode, regularizer_shape, generator
        As for :class:`ArithmeticUnit`.
    shared_weights : bool, default=True
        Whether the additive and multiplicative paths share their weights.

    Examples
    --------
    >>> import torch
    >>> NALU(3, 1)(torch.rand(5, 3) + 1).shape
    torch.Size([5, 1])
    """

    def __init__(self, in_features, out_features, *, shared_weights=True, **kwargs):
        self.shared_weights = shared_weights
        super().__init__(in_features, out_features, **kwargs)

    def _build(self) -> None:
        self.W_hat = self._weight_param()
        self.M_hat = self._weight_param()
        if not self.shared_weights:
            self.W_hat_mul = self._weight_param()
            self.M_hat_mul = self._weight_param()
        self.G = self._weight_param()

    def reset_parameters(self, generator=None):
        r = nac_init_range(self.in_features, self.out_features)
        with torch.no_grad():
            for p in self._nac_params():
                p.uniform_(-r, r, generator=generator)
        self._glorot_uniform_(self.G, generator)

    def _nac_params(self):
        if self.shared_weights:
            return [self.W_hat, self.M_hat]
        return [self.W_hat, self.M_hat, self.W_hat_mul, self.M_hat_mul]

    @property
    def weight(self):
        return _nac_weight(self.W_hat, self.M_hat)

    @property
    def weight_mul(self) -> torch.Tensor:
        """Weight of the multiplicative path."""
        if self.shared_weights:
            return self.weight
        return _nac_weight(self.W_hat_mul, self.M_hat_mul)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The gate ``g = σ(G x)``: 1 selects addition, 0 multiplication."""
        return torch.sigmoid(_matmul(x, self.G))

    def forward(self, x):
        a = _matmul(x, self.weight)
        m = torch.exp(_matmul(_log_magnitude(x), self.weight_mul))
        g = self.gate(x)
        return g * a + (1 - g) * m

    def discrete_weights(self):
        weights = [DiscreteWeight("weight", self.weight, SIGNED)]
        if not self.shared_weights:
            weights.append(DiscreteWeight("weight_mul", self.weight_mul, SIGNED))
        return weights

    @torch.no_grad()
    def snap_(self, tolerance=0.1):
        moved = _snap_nac_(self.weight, self.W_hat, self.M_hat, tolerance)
        if not self.shared_weights:
            moved += _snap_nac_(self.weight_mul, self.W_hat_mul, self.M_hat_mul, tolerance)
        return moved

    @torch.no_grad()
    def gate_range(self, x):
        g = self.gate(x).reshape(-1, self.out_features)
        return g.amin(0).cpu().numpy(), g.amax(0).cpu().numpy()

    def gate_distance(self, gate_range):
        if gate_range is None:
            return math.inf
        return float(_gate_distance(*gate_range).max(initial=0.0))

    def formula(self, xs, reader, gate_range=None):
        added = reader.sums(reader.numbers(self.weight, SIGNED), xs)
        c_mul = reader.numbers(self.weight_mul, SIGNED)
        multiplied = reader.powers(c_mul, [reader.abs(x) for x in xs])
        half = np.full(self.out_features, 0.5)
        lo, hi = gate_range if gate_range is not None else (half, half)
        # The open gate σ(G x), with G as trained (it has no discrete values).
        logits = reader.sums(reader.floats(self.G), xs)
        exp = reader.sympy.exp
        unsaturated = [1 / (1 + exp(-logit, evaluate=False)) for logit in logits]
        return reader.gated(added, multiplied, lo, hi, unsaturated)


class INALU(ArithmeticUnit):
    """Improved NALU (Schlör, Ring & Hotho 2020).

    Separate additive and multiplicative weights (both NAC-style), a clipped
    multiplicative path ``m = exp(min(W_m log(max(|x|, ε)), 20))``, the sign
    recovered as ``Π_i (|w_i| sign(x_i) + 1 - |w_i|)`` and an input-independent
    gate ``g = σ(ĝ)``: ``y = g a + (1 - g) m sign``. Raw weights are drawn from
    normal distributions with means 0.88 (``Ŵ``), 0.5 (``M̂``) and 0 (gate), sd 0.2.

    :meth:`snap_` snaps the weights of both paths as :class:`NAC` does, and a gate
    within the tolerance of 0 or 1 by saturating ``ĝ``.

    Examples
    --------
    >>> import torch
    >>> INALU(2, 1)(-torch.rand(4, 2) - 1).shape
    torch.Size([4, 1])
    """

    def _build(self) -> None:
        self.W_hat = self._weight_param()
        self.M_hat = self._weight_param()
        self.W_hat_mul = self._weight_param()
        self.M_hat_mul = self._weight_param()
        self.g_hat = nn.Parameter(torch.empty(self._shape(self.out_features)))

    def reset_parameters(self, generator=None):
        with torch.no_grad():
            for p, mean in [
                (self.W_hat, 0.88),
                (self.M_hat, 0.5),
                (self.W_hat_mul, 0.88),
                (self.M_hat_mul, 0.5),
                (self.g_hat, 0.0),
            ]:
                p.normal_(mean, 0.2, generator=generator)

    @property
    def weight(self):
        return _nac_weight(self.W_hat, self.M_hat)

    @property
    def weight_mul(self) -> torch.Tensor:
        """Weight of the multiplicative path."""
        return _nac_weight(self.W_hat_mul, self.M_hat_mul)

    def gate(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """The input-independent gate ``σ(ĝ)``, ``[..., out]``."""
        return torch.sigmoid(self.g_hat)

    def forward(self, x):
        a = _matmul(x, self.weight)
        w_m = self.weight_mul
        log_x = torch.log(x.abs().clamp_min(_NAC_MUL_EPS))
        m = torch.exp(_matmul(log_x, w_m).clamp_max(20.0))
        w_abs = w_m.abs().unsqueeze(-3)  # [..., 1, out, in]
        sign = (w_abs * torch.sign(x).unsqueeze(-2) + 1 - w_abs).prod(dim=-1)
        g = self.gate().unsqueeze(-2)  # [..., 1, out]
        return g * a + (1 - g) * m * sign

    def discrete_weights(self):
        return [
            DiscreteWeight("weight", self.weight, SIGNED),
            DiscreteWeight("weight_mul", self.weight_mul, SIGNED),
            DiscreteWeight("gate", self.gate(), BINARY, gate=True),
        ]

    @torch.no_grad()
    def snap_(self, tolerance=0.1):
        moved = _snap_nac_(self.weight, self.W_hat, self.M_hat, tolerance)
        moved += _snap_nac_(self.weight_mul, self.W_hat_mul, self.M_hat_mul, tolerance)
        gate_values = {0.0: [(self.g_hat, -_SATURATED)], 1.0: [(self.g_hat, _SATURATED)]}
        return moved + _snap_saturating_(self.gate(), BINARY, tolerance, gate_values)

    def formula(self, xs, reader, gate_range=None):
        added = reader.sums(reader.numbers(self.weight, SIGNED), xs)
        # The iNALU recovers the sign: exp(W log|x|) · sign is x^W for W in {-1, 0, 1}.
        multiplied = reader.powers(reader.numbers(self.weight_mul, SIGNED), xs)
        g = reader.array(self.gate())
        return reader.gated(added, multiplied, g, g, [reader.float(v) for v in g])


class RealNPU(_PowerProductMixin, ArithmeticUnit):
    """Real neural power unit (Heim, Pevný & Šmídl 2020, eq. 8).

    A relevance gate ``g ∈ [0, 1]`` per input (initialised 0.5) gives
    ``r = g ⊙ |x| + (1 - g)`` and ``k = π g ⊙ [x < 0]``; then
    ``z = exp(W log r) ⊙ cos(W k)``. Real weights of any sign and size let it learn
    division, powers and roots, and the cosine term recovers the sign of negative
    inputs. ``W`` is Glorot-uniform. The paper adds ``ε`` to ``|x|``; here
    ``log 0`` is taken as a large negative number instead, so that the unit
    computes its formula exactly, and training and prediction agree, on every row.

    Its discrete values are the multiples of ½ for ``W`` (an integer power of an
    input whose gate is 1 is exactly that power, negative inputs included; a half
    is a square root, of positive inputs) and {0, 1} for the gate; :meth:`snap_`
    snaps both, the sparsity regulariser pulls ``W`` towards the multiples of ½,
    and :meth:`refit_` solves for them by least squares in logarithms.

    Examples
    --------
    >>> import torch
    >>> unit = RealNPU(2, 1)
    >>> with torch.no_grad():
    ...     _ = unit.W.copy_(torch.tensor([[1.0, -1.0]]))
    ...     _ = unit.g.fill_(1.0)
    >>> round(unit(torch.tensor([[-6.0, 3.0]])).item(), 4)
    -2.0
    """

    bounds: ClassVar[dict[str, tuple[float, float]]] = {"g": (0.0, 1.0)}
    weight_targets = "half-integer"
    exponent_targets = "half-integer"

    def _build(self) -> None:
        self.W = self._weight_param()
        self.g = nn.Parameter(torch.empty(self._shape(self.in_features)))

    @property
    def relevance(self) -> torch.Tensor:
        """The relevance gate ``g`` clipped to [0, 1], ``[..., in]``."""
        return self._clip("g")

    def reset_parameters(self, generator=None):
        self._glorot_uniform_(self.W, generator)
        with torch.no_grad():
            self.g.fill_(0.5)

    @property
    def weight(self):
        return self.W

    def forward(self, x):
        g = self.relevance.unsqueeze(-2)  # [..., 1, in]
        r = g * x.abs() + (1 - g)
        # log 0 as a large negative number rather than -inf: an input of 0 then
        # gives 0 to a positive power, inf to a negative one and 1 to the power 0
        # (where 0 · -inf would be NaN), with no NaN in the gradient either.
        positive = r > 0
        log_r = torch.where(positive, torch.log(torch.where(positive, r, 1.0)), _LOG_ZERO)
        k = math.pi * g * (x < 0).to(x.dtype)
        return torch.exp(_matmul(log_r, self.W)) * torch.cos(_matmul(k, self.W))

    def discrete_weights(self):
        return [
            DiscreteWeight("weight", self.W, self.weight_targets),
            DiscreteWeight("relevance", self.relevance, BINARY, gate=True),
        ]

    @torch.no_grad()
    def snap_(self, tolerance=0.1):
        moved = _snap_raw_(self.W, self.W, self.weight_targets, tolerance)
        return moved + _snap_raw_(self.g, self.relevance, BINARY, tolerance)

    @torch.no_grad()
    def _load_exponents_(self, exponents):
        # An input with an exponent of 0 everywhere is irrelevant: its gate closes.
        relevance = (exponents != 0).any(dim=0).to(exponents)
        return _load_(self.W, exponents) + _load_(self.g, relevance)

    def formula(self, xs, reader, gate_range=None):
        # A relevance of 1 keeps the input, 0 replaces it by 1; an integer power of
        # a kept input is exact for either sign, thanks to the cos term.
        r = reader.numbers(self.relevance, BINARY)
        inputs = [ri * x + 1 - ri for ri, x in zip(r, xs, strict=True)]
        return reader.powers(reader.numbers(self.W, self.weight_targets), inputs)


#: Unit names as used by the estimators' ``units`` hyperparameter.
UNITS: dict[str, type[ArithmeticUnit]] = {}
#: The families each named unit belongs to: ``"nmu"`` for the units of
#: :class:`~sknalu.NMURegressor`, ``"nalu"`` for those of :class:`~sknalu.NALURegressor`.
UNIT_FAMILIES: dict[str, tuple[str, ...]] = {}


def register_unit(name: str, unit: type[ArithmeticUnit], families: Sequence[str]) -> None:
    """Make a unit available by name to the estimators of ``families``.

    Parameters
    ----------
    name : str
        The name the estimators' ``units`` hyperparameter takes.
    unit : subclass of ArithmeticUnit
        The unit.
    families : sequence of {"nmu", "nalu"}
        Which estimators accept it: ``"nmu"`` for :class:`~sknalu.NMURegressor`,
        ``"nalu"`` for :class:`~sknalu.NALURegressor`.

    Examples
    --------
    >>> units_of_family("nmu")
    ('nau', 'nmu', 'nmru', 'linear', 'weighted')
    """
    if not (isinstance(unit, type) and issubclass(unit, ArithmeticUnit)):
        raise TypeError(f"unit must be a subclass of ArithmeticUnit, got {unit!r}.")
    unknown = set(families) - {"nmu", "nalu"}
    if unknown or not families:
        raise ValueError(f"families must name 'nmu' and/or 'nalu', got {families!r}.")
    UNITS[name] = unit
    UNIT_FAMILIES[name] = tuple(families)


def unregister_unit(name: str) -> None:
    """Remove a unit added with :func:`register_unit`."""
    UNITS.pop(name)
    UNIT_FAMILIES.pop(name)


def units_of_family(family: str) -> tuple[str, ...]:
    """The names of the units of one family, in the order they were registered."""
    return tuple(name for name, families in UNIT_FAMILIES.items() if family in families)


def iter_units(module: nn.Module) -> Iterator[ArithmeticUnit]:
    """Every arithmetic unit inside ``module``."""
    return (m for m in module.modules() if isinstance(m, ArithmeticUnit))


register_unit("nau", NAU, families=("nmu", "nalu"))
register_unit("nmu", NMU, families=("nmu",))
register_unit("nmru", NMRU, families=("nmu",))
register_unit("nalu", NALU, families=("nalu",))
register_unit("nac", NAC, families=("nalu",))
register_unit("nac_mul", NACMul, families=("nalu",))
register_unit("inalu", INALU, families=("nalu",))
register_unit("npu", RealNPU, families=("nalu",))
register_unit("linear", Linear, families=("nmu", "nalu"))
register_unit("weighted", Weighted, families=("nmu", "nalu"))
