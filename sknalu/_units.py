"""Neural arithmetic units as plain torch modules.

Every unit maps ``in_features`` inputs to ``out_features`` outputs without a bias.
Its weights may carry a leading *copy* dimension of size ``n_copies`` so that many
independently initialised copies of a network train in a single forward and
backward pass (see :class:`sknalu.ArithmeticNetwork`). With ``n_copies=None`` the
unit behaves like an ordinary ``torch.nn.Linear``: input ``[batch, in]``, output
``[batch, out]``. With ``n_copies=K`` the input is ``[batch, in]`` or
``[K, batch, in]`` and the output is ``[K, batch, out]``.

Each unit defines, on its raw parameters:

- ``forward``: the unit's formula;
- ``reset_parameters``: the initialisation of its paper;
- ``weight``: the effective weight matrix that the formula uses, ``[..., out, in]``;
- ``constrain_``: the projection applied after every optimiser step when
  ``oob_mode="clip"``;
- ``sparsity_loss`` and ``oob_loss``: the regulariser terms of Madsen & Johansen
  (2020), each a mean over the layer's weights, one value per copy;
- ``snap_``: moves every weight that lies within a tolerance of one of the unit's
  discrete values (``weight_targets``) exactly onto it, so that a trained unit
  computes exactly the formula its weights stand for.

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

import torch
from torch import nn

__all__ = [
    "INALU",
    "NAC",
    "NALU",
    "NAU",
    "NMRU",
    "NMU",
    "UNITS",
    "ArithmeticUnit",
    "Linear",
    "NACMul",
    "RealNPU",
    "nac_init_range",
    "nearest_target",
]

OOB_MODES = ("clip", "regularized")
REGULARIZER_SHAPES = ("linear", "squared")
_NAC_MUL_EPS = 1e-7
#: A raw weight this large saturates tanh and σ *exactly* in float32 and float64:
#: tanh(±1000) = ±1, σ(1000) = 1 and σ(-1000) = 0 (σ(-40) would still be 4e-18).
#: Snapping a tanh·σ weight or a σ gate sets its raw weights to ±_SATURATED.
_SATURATED = 1000.0


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


def nearest_target(w: torch.Tensor, targets: tuple[float, ...] | str) -> torch.Tensor:
    """The discrete value nearest to each element of ``w``.

    Parameters
    ----------
    w : Tensor
        Weights.
    targets : tuple of float or "integer"
        The discrete values, or ``"integer"`` for every integer.

    Returns
    -------
    Tensor
        Same shape and type as ``w``; ties go to the smaller target.

    Examples
    --------
    >>> import torch
    >>> nearest_target(torch.tensor([-0.7, 0.2, 0.98]), (-1.0, 0.0, 1.0))
    tensor([-1.,  0.,  1.])
    >>> nearest_target(torch.tensor([1.9, -0.4]), "integer")
    tensor([2., -0.])
    """
    if targets == "integer":
        return torch.round(w)
    values = torch.tensor(targets, dtype=w.dtype, device=w.device)
    index = (w.unsqueeze(-1) - values).abs().argmin(dim=-1)
    return values[index]


@torch.no_grad()
def _snap_raw_(
    raw: torch.Tensor, effective: torch.Tensor, targets: tuple[float, ...] | str, tolerance: float
) -> int:
    """Set ``raw`` to the target wherever ``effective`` is within ``tolerance`` of it.

    For the units whose effective weight is the raw one, clipped to bounds that
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
        return (x @ weight.reshape(k * out, -1).T).view(len(x), k, out).transpose(0, 1)
    return x @ weight.transpose(-1, -2)


def _copy_mean(t: torch.Tensor) -> torch.Tensor:
    """Mean over the last two (weight) dimensions: one value per copy."""
    return t.mean(dim=(-1, -2))


def _sparsity_terms(v: torch.Tensor, shape: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance of ``v`` to {0, 1} and its derivative, elementwise, without autograd.

    ``"linear"``: ``min(|v|, |1 - v|)``; ``"squared"``: ``v² (1 - v)²``.
    """
    if shape == "linear":
        to_zero, to_one = v.abs(), (1 - v).abs()
        distance = torch.minimum(to_zero, to_one)
        slope = torch.where(to_zero <= to_one, torch.sign(v), torch.sign(v - 1))
        return distance, slope
    t = torch.addcmul(v, v, v, value=-1)  # v (1 - v)
    return t.square(), 2 * t * (1 - 2 * v)


class ArithmeticUnit(nn.Module):
    """Base class of the arithmetic units.

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

    #: The operation the unit's output composes its inputs with, used when the
    #: learned formula is read back: "add", "mul" or "gated".
    operation = "add"
    #: Range that ``weight`` is projected to; ``None`` for unbounded units.
    bounds: tuple[float, float] | None = (-1.0, 1.0)
    #: The discrete values of ``weight`` that the formula of a solved unit uses:
    #: a tuple of values, or "integer" for every integer.
    weight_targets: tuple[float, ...] | str = (-1.0, 0.0, 1.0)

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

    def _build(self) -> None:
        raise NotImplementedError

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw fresh initial weights."""
        raise NotImplementedError

    @property
    def weight(self) -> torch.Tensor:
        """The effective weight matrix, ``[..., out, in]``."""
        raise NotImplementedError

    # -- regularisers -----------------------------------------------------------
    #: Whether the discrete targets of the weights are {-1, 0, 1} (else {0, 1}).
    signed_targets = True
    #: Whether the sparsity regulariser acts on a raw parameter, ``W``, so that
    #: :meth:`add_sparsity_grad_` can add its gradient in closed form.
    closed_form_sparsity = False

    def _mean_distance(self, w: torch.Tensor) -> torch.Tensor:
        """Mean over a weight matrix of its distance to the discrete targets.

        ``"linear"``: ``min(|W|, |1 - |W||)``; ``"squared"``: ``W² (1 - |W|)²``
        (Madsen & Johansen 2020, section 2.5); for {0, 1} targets ``|W|`` is ``W``.
        One value per copy, differentiable.
        """
        v = w.abs() if self.signed_targets else w
        if self.regularizer_shape == "linear":
            distance = torch.minimum(v.abs(), (1 - v).abs())
        else:
            distance = (v * (1 - v)).square()
        return _copy_mean(distance)

    def sparsity_loss(self) -> torch.Tensor:
        """Sparsity regulariser, one value per copy (a scalar without copies)."""
        return self._mean_distance(self.weight)

    @torch.no_grad()
    def add_sparsity_grad_(self, scale: float) -> torch.Tensor:
        """Add ``scale`` times the sparsity regulariser's gradient to ``W.grad``.

        The same gradient as ``(scale * self.sparsity_loss().sum()).backward()``,
        computed in closed form: the regulariser is evaluated at every optimiser
        step, and a handful of fused operations cost far less than the autograd
        graph of its elementwise formula. Only for units with
        ``closed_form_sparsity``.

        Returns
        -------
        torch.Tensor
            The regulariser's value, one per copy.
        """
        if not self.closed_form_sparsity:
            raise TypeError(f"{type(self).__name__} has no closed-form sparsity gradient.")
        w = self.W
        v = w.abs() if self.signed_targets else w
        distance, slope = _sparsity_terms(v, self.regularizer_shape)
        if self.signed_targets:
            slope = slope * torch.sign(w)
        if w.grad is None:
            w.grad = torch.zeros_like(w)
        w.grad.add_(slope, alpha=scale / (w.shape[-1] * w.shape[-2]))
        return _copy_mean(distance)

    def oob_loss(self) -> torch.Tensor:
        """Out-of-bounds regulariser, one value per copy; zero when clipping."""
        return _copy_mean(torch.zeros_like(self.weight))

    @torch.no_grad()
    def constrain_(self) -> None:
        """Project the raw weights back into bounds (``oob_mode="clip"`` only)."""

    @torch.no_grad()
    def snap_(self, tolerance: float = 0.1) -> int:
        """Move every weight within ``tolerance`` of a discrete target exactly onto it.

        The targets are ``weight_targets``, measured on the effective weights; the
        raw weights are changed so that the effective weights equal the targets.
        Weights farther than ``tolerance`` from every target stay as they are.
        This base implementation serves the units whose effective weight is the
        raw ``W`` clipped to bounds that contain every target (NAU, NMU, NMRU,
        Linear).

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
        >>> unit.weight
        tensor([[1.0000, 0.0000, 0.6000]], grad_fn=<ClampBackward1>)
        """
        return _snap_raw_(self.W, self.weight, self.weight_targets, tolerance)

    def extra_repr(self) -> str:
        copies = "" if self.n_copies is None else f", n_copies={self.n_copies}"
        return f"in_features={self.in_features}, out_features={self.out_features}{copies}"


class Linear(ArithmeticUnit):
    """Plain linear layer without bias, ``z = W x``: the papers' baseline.

    Examples
    --------
    >>> import torch
    >>> Linear(3, 2)(torch.ones(4, 3)).shape
    torch.Size([4, 2])
    """

    bounds = None

    def _build(self) -> None:
        self.W = self._weight_param()

    def reset_parameters(self, generator=None):
        r = math.sqrt(6.0 / (self.in_features + self.out_features))
        with torch.no_grad():
            self.W.uniform_(-r, r, generator=generator)

    @property
    def weight(self):
        return self.W

    def forward(self, x):
        return _matmul(x, self.W)


class NAU(ArithmeticUnit):
    """Neural addition unit, ``z = clamp(W, -1, 1) x`` (Madsen & Johansen 2020, eq. 1).

    Initialised Glorot-uniform with the half-width capped at 0.5.

    Examples
    --------
    >>> import torch
    >>> unit = NAU(2, 1)
    >>> with torch.no_grad():
    ...     _ = unit.W.copy_(torch.tensor([[1.0, -1.0]]))
    >>> unit(torch.tensor([[5.0, 3.0]]))
    tensor([[2.]], grad_fn=<MmBackward0>)
    """

    def _build(self) -> None:
        self.W = self._weight_param()

    def reset_parameters(self, generator=None):
        r = min(0.5, math.sqrt(3.0) * math.sqrt(2.0 / (self.in_features + self.out_features)))
        with torch.no_grad():
            self.W.uniform_(-r, r, generator=generator)

    @property
    def weight(self):
        return self.W.clamp(-1.0, 1.0)

    def forward(self, x):
        return _matmul(x, self.weight)

    closed_form_sparsity = True

    def sparsity_loss(self):
        # On the raw weights, as in the reference implementation.
        return self._mean_distance(self.W)

    def oob_loss(self):
        return _copy_mean(torch.relu(self.W.abs() - 1))

    @torch.no_grad()
    def constrain_(self):
        if self.oob_mode == "clip":
            self.W.clamp_(-1.0, 1.0)


class NMU(ArithmeticUnit):
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

    bounds = (0.0, 1.0)
    operation = "mul"
    weight_targets = (0.0, 1.0)

    def _build(self) -> None:
        self.W = self._weight_param()

    def reset_parameters(self, generator=None):
        with torch.no_grad():
            self.W.uniform_(0.25, 0.75, generator=generator)

    @property
    def weight(self):
        return self.W.clamp(0.0, 1.0)

    def forward(self, x):
        w = self.weight.unsqueeze(-3)  # [..., 1, out, in]
        return torch.addcmul(1 - w, w, x.unsqueeze(-2)).prod(dim=-1)

    signed_targets = False
    closed_form_sparsity = True

    def sparsity_loss(self):
        return self._mean_distance(self.W)

    def oob_loss(self):
        return _copy_mean(torch.relu((self.W - 0.5).abs() - 0.5))

    @torch.no_grad()
    def constrain_(self):
        if self.oob_mode == "clip":
            self.W.clamp_(0.0, 1.0)


class NAC(ArithmeticUnit):
    """Additive neural accumulator NAC+ (Trask et al. 2018, eq. 1).

    ``W = tanh(Ŵ) ⊙ σ(M̂)``, ``z = W x``; both raw weights ``U[-r, r]`` with ``r``
    from :func:`nac_init_range`.

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
        return torch.tanh(self.W_hat) * torch.sigmoid(self.M_hat)

    def forward(self, x):
        return _matmul(x, self.weight)

    @torch.no_grad()
    def snap_(self, tolerance=0.1):
        return _snap_nac_(self.weight, self.W_hat, self.M_hat, tolerance)


@torch.no_grad()
def _snap_nac_(
    weight: torch.Tensor, w_hat: torch.Tensor, m_hat: torch.Tensor, tolerance: float
) -> int:
    """Snap a NAC weight ``tanh(Ŵ) σ(M̂)`` to {-1, 0, 1} by saturating its raw weights."""
    return _snap_saturating_(
        weight,
        (-1.0, 0.0, 1.0),
        tolerance,
        {
            -1.0: [(w_hat, -_SATURATED), (m_hat, _SATURATED)],
            0.0: [(w_hat, 0.0)],
            1.0: [(w_hat, _SATURATED), (m_hat, _SATURATED)],
        },
    )


def _log_magnitude(x: torch.Tensor) -> torch.Tensor:
    return torch.log(x.abs() + _NAC_MUL_EPS)


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

    operation = "mul"

    def forward(self, x):
        return torch.exp(_matmul(_log_magnitude(x), self.weight))


class NALU(ArithmeticUnit):
    """Neural arithmetic logic unit (Trask et al. 2018, eq. 2).

    ``y = g ⊙ a + (1 - g) ⊙ m`` with ``a = NAC+(x)``, ``m = NAC•(x)`` and the gate
    ``g = σ(G x)``. The two paths share one weight matrix unless
    ``shared_weights=False``; ``G`` is Xavier-uniform.

    :meth:`snap_` snaps the weights of both paths as :class:`NAC` does; the gate
    depends on the input, so it is left as it is.

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

    operation = "gated"

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
        g = math.sqrt(6.0 / (self.in_features + self.out_features))
        with torch.no_grad():
            for p in self._nac_params():
                p.uniform_(-r, r, generator=generator)
            self.G.uniform_(-g, g, generator=generator)

    def _nac_params(self):
        if self.shared_weights:
            return [self.W_hat, self.M_hat]
        return [self.W_hat, self.M_hat, self.W_hat_mul, self.M_hat_mul]

    @property
    def weight(self):
        return torch.tanh(self.W_hat) * torch.sigmoid(self.M_hat)

    @property
    def weight_mul(self) -> torch.Tensor:
        """Weight of the multiplicative path."""
        if self.shared_weights:
            return self.weight
        return torch.tanh(self.W_hat_mul) * torch.sigmoid(self.M_hat_mul)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The gate ``g = σ(G x)``: 1 selects addition, 0 multiplication."""
        return torch.sigmoid(_matmul(x, self.G))

    def forward(self, x):
        a = _matmul(x, self.weight)
        m = torch.exp(_matmul(_log_magnitude(x), self.weight_mul))
        g = self.gate(x)
        return g * a + (1 - g) * m

    @torch.no_grad()
    def snap_(self, tolerance=0.1):
        moved = _snap_nac_(self.weight, self.W_hat, self.M_hat, tolerance)
        if not self.shared_weights:
            moved += _snap_nac_(self.weight_mul, self.W_hat_mul, self.M_hat_mul, tolerance)
        return moved


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

    operation = "gated"

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
        return torch.tanh(self.W_hat) * torch.sigmoid(self.M_hat)

    @property
    def weight_mul(self) -> torch.Tensor:
        """Weight of the multiplicative path."""
        return torch.tanh(self.W_hat_mul) * torch.sigmoid(self.M_hat_mul)

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

    @torch.no_grad()
    def snap_(self, tolerance=0.1):
        moved = _snap_nac_(self.weight, self.W_hat, self.M_hat, tolerance)
        moved += _snap_nac_(self.weight_mul, self.W_hat_mul, self.M_hat_mul, tolerance)
        gate_values = {0.0: [(self.g_hat, -_SATURATED)], 1.0: [(self.g_hat, _SATURATED)]}
        return moved + _snap_saturating_(self.gate(), (0.0, 1.0), tolerance, gate_values)

    def sparsity_loss(self):
        return self._mean_distance(self.weight) + self._mean_distance(self.weight_mul)


class RealNPU(ArithmeticUnit):
    """Real neural power unit (Heim, Pevný & Šmídl 2020, eq. 8).

    A relevance gate ``g ∈ [0, 1]`` per input (initialised 0.5) gives
    ``r = g ⊙ (|x| + ε) + (1 - g)`` and ``k = π g ⊙ [x < 0]``; then
    ``z = exp(W log r) ⊙ cos(W k)``. Real weights of any sign and size let it learn
    division, powers and roots, and the cosine term recovers the sign of negative
    inputs. ``W`` is Glorot-uniform.

    Its discrete values are the integers for ``W`` (an integer power of an input
    whose gate is 1 is exactly that power, negative inputs included) and {0, 1}
    for the gate; :meth:`snap_` snaps both.

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

    operation = "mul"
    bounds = None
    weight_targets = "integer"

    def _build(self) -> None:
        self.W = self._weight_param()
        self.g = nn.Parameter(torch.empty(self._shape(self.in_features)))

    @property
    def relevance(self) -> torch.Tensor:
        """The relevance gate ``g`` clipped to [0, 1], ``[..., in]``."""
        return self.g.clamp(0.0, 1.0)

    def reset_parameters(self, generator=None):
        r = math.sqrt(6.0 / (self.in_features + self.out_features))
        with torch.no_grad():
            self.W.uniform_(-r, r, generator=generator)
            self.g.fill_(0.5)

    @property
    def weight(self):
        return self.W

    def forward(self, x):
        g = self.g.clamp(0.0, 1.0).unsqueeze(-2)  # [..., 1, in]
        r = g * (x.abs() + _NAC_MUL_EPS) + (1 - g)
        k = math.pi * g * (x < 0).to(x.dtype)
        return torch.exp(_matmul(torch.log(r), self.W)) * torch.cos(_matmul(k, self.W))

    def oob_loss(self):
        return _copy_mean(torch.relu((self.g.unsqueeze(-2) - 0.5).abs() - 0.5))

    @torch.no_grad()
    def constrain_(self):
        if self.oob_mode == "clip":
            self.g.clamp_(0.0, 1.0)

    @torch.no_grad()
    def snap_(self, tolerance=0.1):
        moved = _snap_raw_(self.W, self.W, "integer", tolerance)
        return moved + _snap_raw_(self.g, self.relevance, (0.0, 1.0), tolerance)


class NMRU(ArithmeticUnit):
    """Neural multiplication-reciprocal unit (Mistry, Farrahi & Hare 2021).

    The inputs are extended with their reciprocals, ``x' = [x, 1 / (x + ε)]``
    (``ε = 1e-7`` during training only); then
    ``z = Π_j (|x'_j| W_j + 1 - W_j) · cos(π Σ_j [x'_j < 0] W_j)`` with ``W`` in
    ``[0, 1]``, shape ``[out, 2 in]``. A weight of 1 on a reciprocal divides by
    that input. Initialised ``U[0.25, 0.75]`` like the NMU.

    Examples
    --------
    >>> import torch
    >>> unit = NMRU(2, 1).eval()
    >>> with torch.no_grad():
    ...     _ = unit.W.copy_(torch.tensor([[1.0, 0.0, 0.0, 1.0]]))
    >>> round(unit(torch.tensor([[-6.0, 3.0]])).item(), 4)
    -2.0
    """

    bounds = (0.0, 1.0)
    operation = "mul"
    weight_targets = (0.0, 1.0)

    def _build(self) -> None:
        self.W = self._weight_param(2 * self.in_features)

    def reset_parameters(self, generator=None):
        with torch.no_grad():
            self.W.uniform_(0.25, 0.75, generator=generator)

    @property
    def weight(self):
        return self.W.clamp(0.0, 1.0)

    def forward(self, x):
        eps = _NAC_MUL_EPS if self.training else 0.0
        x = torch.cat([x, 1 / (x + eps)], dim=-1)
        w = self.weight
        magnitude = (w.unsqueeze(-3) * x.abs().unsqueeze(-2) + 1 - w.unsqueeze(-3)).prod(-1)
        sign = torch.cos(math.pi * _matmul((x < 0).to(x.dtype), w))
        return magnitude * sign

    signed_targets = False
    closed_form_sparsity = True
    sparsity_loss = NMU.sparsity_loss
    oob_loss = NMU.oob_loss
    constrain_ = NMU.constrain_


#: Unit names as used by the estimators' ``units`` hyperparameter.
UNITS: dict[str, type[ArithmeticUnit]] = {
    "linear": Linear,
    "nac": NAC,
    "nac_mul": NACMul,
    "nalu": NALU,
    "inalu": INALU,
    "npu": RealNPU,
    "nau": NAU,
    "nmu": NMU,
    "nmru": NMRU,
}
