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
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ..exact._least_squares import log_least_squares
from ._base import _SATURATED, ArithmeticUnit, _matmul, _snap_saturating_
from ._sums import _SumMixin
from ._targets import BINARY, SIGNED, DiscreteWeight, _gate_distance, _rounded

if TYPE_CHECKING:  # pragma: no cover
    pass

_NAC_MUL_EPS = 1e-7


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
