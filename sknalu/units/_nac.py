"""The neural accumulators and the units built on them: NAC+, NAC•, NALU and iNALU.

Their weights are ``tanh(Ŵ) ⊙ σ(M̂)``, which reach {-1, 0, 1} only as the raw
weights grow without bound, so the snap saturates the raw weights instead. The
NALU and the iNALU gate between an adding and a multiplying path. References:

- Trask et al., "Neural Arithmetic Logic Units", NeurIPS 2018 (NAC+, NAC•, NALU).
- Madsen & Johansen, "Neural Arithmetic Units", ICLR 2020 (NAC initialisation).
- Schlör, Ring & Hotho, "iNALU: Improved Neural Arithmetic Logic Unit",
  Frontiers in Artificial Intelligence 2020.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..exact._least_squares import log_least_squares
from ..exact._tolerances import AGREEMENT, FORMULA_TOLERANCE, SNAP_TOLERANCE
from ._base import (
    ArithmeticUnit,
    DomainViolation,
    InputRange,
    input_names,
    matmul,
    number_text,
    weight_violations,
)
from ._sums import SumMixin
from ._targets import BINARY, SIGNED, DiscreteWeight, nearest_target, rounded_within

#: ε of NAC•: the multiplicative path takes ``log(|x| + ε)``.
_NAC_MUL_EPS = 1e-7
#: Below this magnitude ``log(|x| + ε)`` differs from ``log |x|`` by more than
#: ``AGREEMENT``, and a NAC• power of ``x`` from the formula's by as much relatively
#: (``(1 + ε / |x|)^w``): the inputs near 0 where it does not compute its formula.
_LOG_NEAR_ZERO = _NAC_MUL_EPS / AGREEMENT
#: The iNALU clips ``W log |x|`` of its multiplicative path at this value.
_INALU_CLIP = 20.0
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


def _gate_distance(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per output, how far a gate ranging over ``[lo, hi]`` is from saturation."""
    distance = np.minimum(1.0 - lo, hi)
    return np.where(np.isnan(distance), np.inf, distance)


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


def _per_row(values: torch.Tensor, index: tuple[int, ...]) -> torch.Tensor:
    """Column ``o`` of ``values`` ([batch, out] or [copies, batch, out]) for the copy
    of ``index`` (``(o, j)`` or ``(copy, o, j)``)."""
    if len(index) == 3 == values.dim():
        return values[index[0], :, index[1]]
    return values[..., index[-2]]


def _magnitude_violations(
    x: torch.Tensor,
    weight: torch.Tensor,
    names: list[str],
    counts: Callable[[tuple[int, ...]], torch.Tensor] | None = None,
) -> list[DomainViolation]:
    """Where ``exp(W log(|x| + ε))`` is not the product ``Π x^W``: near 0, or of wrong sign.

    ``counts(index)``, where given, says for the weight at ``index`` on which rows
    the multiplicative path counts (a gate that does not pick the sum).
    """
    span = InputRange(x)
    if span.bounds[0] >= _LOG_NEAR_ZERO:  # every input positive and away from 0
        return []
    used = weight.abs() > FORMULA_TOLERANCE  # [..., out, in]

    def near_zero(column, index):
        rows = column.abs() < _LOG_NEAR_ZERO
        if counts is not None and bool(rows.any()):
            rows &= counts(index)
        return rows

    found = weight_violations(
        x,
        used,
        near_zero,
        lambda i: (
            f"takes log(|{names[i[-1]]}| + ε), ε = {number_text(_NAC_MUL_EPS)}, where "
            f"|{names[i[-1]]}| < {number_text(_LOG_NEAR_ZERO)}: its power of {names[i[-1]]} is "
            f"off there by more than a relative {number_text(AGREEMENT)}"
        ),
        lambda lo, hi: lo < _LOG_NEAR_ZERO and hi > -_LOG_NEAR_ZERO,
        span,
    )
    # The sign: a product of magnitudes is wrong where an odd number of the factors
    # it multiplies or divides by (weights read as ±1) is negative; other weights
    # read as floats, powers of magnitudes that the formula writes as such.
    negative = None
    odd = (weight.abs() - 1).abs() <= FORMULA_TOLERANCE  # weights read as ±1
    for index in map(tuple, odd.any(dim=-1).nonzero().tolist()):
        if not span.bounds[0] < 0:
            break
        factors = [j for j, u in enumerate(odd[index].tolist()) if u]
        if negative is None:
            negative = (x < 0).to(x.dtype)
        uses = odd[index].to(x.dtype)
        signs = negative[index[0]] if len(index) == 2 and x.dim() == 3 else negative
        rows = (signs @ uses) % 2 == 1
        if counts is not None and bool(rows.any()):
            rows &= counts((*index, 0))
        found.append(
            DomainViolation(
                rows,
                f"multiplies the magnitudes of {', '.join(names[j] for j in factors)}, "
                "losing their signs: the product's sign is wrong where an odd number of "
                "them is negative",
            )
        )
    return found


class NAC(SumMixin, ArithmeticUnit):
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
    def snap_(self, tolerance=SNAP_TOLERANCE):
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
        return torch.exp(matmul(_log_magnitude(x), self.weight))

    def linear_map(self):
        return None

    @torch.no_grad()
    def refit_(self, x, y, tolerance=SNAP_TOLERANCE, sample_weight=None):
        weight = rounded_within(log_least_squares(x, y, sample_weight), SIGNED, tolerance)
        if weight is None:
            return 0
        moved = int((weight != self.weight.reshape(weight.shape)).sum())
        _load_nac_(weight, self.W_hat, self.M_hat)
        return moved

    @torch.no_grad()
    def domain_violations(self, x, names=None):
        return _magnitude_violations(x, self.weight, input_names(names, self.in_features))

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
        return torch.sigmoid(matmul(x, self.G))

    def forward(self, x):
        a = matmul(x, self.weight)
        m = torch.exp(matmul(_log_magnitude(x), self.weight_mul))
        g = self.gate(x)
        return g * a + (1 - g) * m

    def discrete_weights(self):
        weights = [DiscreteWeight("weight", self.weight, SIGNED)]
        if not self.shared_weights:
            weights.append(DiscreteWeight("weight_mul", self.weight_mul, SIGNED))
        return weights

    @torch.no_grad()
    def snap_(self, tolerance=SNAP_TOLERANCE):
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

    @torch.no_grad()
    def domain_violations(self, x, names=None):
        # The multiplicative path counts on the rows where the gate does not pick
        # the sum: 1 - g above the tolerance of the formula.
        gate = []

        def counts(index):
            if not gate:
                gate.append(self.gate(x))
            return 1 - _per_row(gate[0], index) > FORMULA_TOLERANCE

        names = input_names(names, self.in_features)
        return _magnitude_violations(x, self.weight_mul, names, counts)

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
        a = matmul(x, self.weight)
        w_m = self.weight_mul
        log_x = torch.log(x.abs().clamp_min(_NAC_MUL_EPS))
        m = torch.exp(matmul(log_x, w_m).clamp_max(20.0))
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
    def snap_(self, tolerance=SNAP_TOLERANCE):
        moved = _snap_nac_(self.weight, self.W_hat, self.M_hat, tolerance)
        moved += _snap_nac_(self.weight_mul, self.W_hat_mul, self.M_hat_mul, tolerance)
        gate_values = {0.0: [(self.g_hat, -_SATURATED)], 1.0: [(self.g_hat, _SATURATED)]}
        return moved + _snap_saturating_(self.gate(), BINARY, tolerance, gate_values)

    @torch.no_grad()
    def domain_violations(self, x, names=None):
        names = input_names(names, self.in_features)
        w_m = self.weight_mul
        span = InputRange(x)
        # The multiplicative path counts for the outputs whose gate is not 1.
        used = (w_m.abs() > FORMULA_TOLERANCE) & (1 - self.gate() > FORMULA_TOLERANCE)[..., None]

        def clamped(column, index):
            # max(|x|, ε) is |x| from ε on; 0 to a positive power is still 0 (the
            # sign term is 0 there), to a negative one it is no longer a division.
            small = column.abs() < _NAC_MUL_EPS
            return small & (column != 0) if w_m[index] > 0 else small

        found = weight_violations(
            x,
            used,
            clamped,
            lambda i: (
                f"takes log max(|{names[i[-1]]}|, ε), ε = {number_text(_NAC_MUL_EPS)}, where "
                f"|{names[i[-1]]}| < ε: its power of {names[i[-1]]} is that of ε there"
            ),
            lambda lo, hi: lo < _NAC_MUL_EPS and hi > -_NAC_MUL_EPS,
            span,
        )
        # The clip of W log max(|x|, ε) at 20, where the inputs' ranges may reach it.
        clipped = None
        for index in map(tuple, used.any(dim=-1).nonzero().tolist()):
            lo, hi = span.bounds
            smallest = 0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))
            log_lo = math.log(max(smallest, _NAC_MUL_EPS))
            log_hi = math.log(max(abs(lo), abs(hi), _NAC_MUL_EPS))
            bound = sum(max(w * log_lo, w * log_hi) for w in w_m[index].tolist())
            if not bound > _INALU_CLIP:
                continue
            if clipped is None:
                log_x = torch.log(x.abs().clamp_min(_NAC_MUL_EPS))
                clipped = matmul(log_x, w_m) > _INALU_CLIP  # [..., batch, out]
            found.append(
                DomainViolation(
                    _per_row(clipped, (*index, 0)),
                    f"clips its product to exp({number_text(_INALU_CLIP)}) = "
                    f"{math.exp(_INALU_CLIP):.3g} where it is larger",
                )
            )
        return found

    def formula(self, xs, reader, gate_range=None):
        added = reader.sums(reader.numbers(self.weight, SIGNED), xs)
        # The iNALU recovers the sign: exp(W log|x|) · sign is x^W for W in {-1, 0, 1}.
        multiplied = reader.powers(reader.numbers(self.weight_mul, SIGNED), xs)
        g = reader.array(self.gate())
        return reader.gated(added, multiplied, g, g, [reader.float(v) for v in g])
