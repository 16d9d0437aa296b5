"""The units that multiply: :class:`NMU`, :class:`NMRU` and :class:`RealNPU`.

Each reads, once solved, as a product of powers of its inputs,
``z_o = Π_j h_j ^ E_oj``, and solves its exponents in closed form
(:class:`_PowerProductMixin`): by least squares in logarithms for a last layer,
and, with the linear layer before it, as a power or a ratio of sums
(:func:`powers_of_sums`). References:

- Madsen & Johansen, "Neural Arithmetic Units", ICLR 2020 (NMU).
- Mistry, Farrahi & Hare, "A Primer for Neural Arithmetic Logic Modules", 2021 (NMRU).
- Heim, Pevný & Šmídl, "Neural Power Units", NeurIPS 2020 (Real NPU).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import ClassVar

import torch
from torch import nn

from ..exact._errors import copy_mse
from ..exact._least_squares import least_squares, log_least_squares, real_root, usable_rows
from ..exact._numbers import divided_by_largest
from ..exact._tolerances import FORMULA_TOLERANCE, SNAP_TOLERANCE
from ._base import (
    ArithmeticUnit,
    DomainViolation,
    InputRange,
    RawWeightUnit,
    exponent_text,
    input_names,
    load_raw_,
    matmul,
    number_text,
    snap_raw_,
    weight_violations,
)
from ._targets import (
    BINARY,
    SIGNED,
    DiscreteWeight,
    Targets,
    nearest_target,
    rounded_within,
)

#: The NMRU divides an input within this distance of 0, in training, as ±ε.
_NMRU_EPS = 1e-7
#: What the Real NPU takes for log 0: exp of it times any weight of magnitude 0.1
#: or more (every nonzero multiple of ½) underflows to 0 or overflows to inf, in
#: float32 and float64.
_LOG_ZERO = -1e4
#: What the exponents ±½ of the Real NPU stand for, in the reasons of its domain.
_ROOT_NAMES = {"1/2": " (a square root)", "-1/2": " (one over a square root)"}


def _gated(column: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The Real NPU's formula's base ``g x + 1 - g`` of an input with relevance ``g``."""
    return g * column + 1 - g


#: Grid of the unrounded rows of :func:`powers_of_sums` (2**-30).
_START_GRID = 2.0**30


def _signed_rows(v: torch.Tensor, tolerance: float) -> torch.Tensor | None:
    """Rows of ``v`` divided by their largest entry and rounded to {-1, 0, 1}."""
    if not bool(v.any(dim=-1).all()):
        return None
    return rounded_within(divided_by_largest(v), SIGNED, tolerance)


def powers_of_sums(
    x: torch.Tensor,
    y: torch.Tensor,
    powers: Sequence[float],
    ratio: bool,
    tolerance: float,
    rounded: bool = True,
    sample_weight: torch.Tensor | None = None,
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
    sample_weight : Tensor of shape (n,), optional
        The rows' weights: each least-squares problem weighs its rows by them.

    Yields
    ------
    rows : Tensor of shape (k, in)
        The sums' weights.
    exponents : Tensor of shape (k,)
        Their exponents.
    """
    x, y, sample_weight = usable_rows(x, y, sample_weight)
    if y.shape[1] != 1 or len(x) <= 2 * x.shape[1]:
        return
    target = y[:, 0]
    for power in powers:
        root = real_root(target, power)
        if root is None:
            continue
        row = least_squares(x, root[:, None], sample_weight)
        if rounded:
            row = rounded_within(row, SIGNED, tolerance)
        elif row is not None:
            # LAPACK's last bits depend on the memory layout of x; quantised, the
            # start is the same on every run with the same data.
            row = torch.round(row * _START_GRID) / _START_GRID
        if row is not None and bool(row.any()):
            yield row, torch.tensor([power], dtype=x.dtype, device=x.device)
    if ratio and rounded:
        system = torch.cat([x, -target[:, None] * x], dim=1)
        if sample_weight is not None:
            system = system * sample_weight.sqrt()[:, None]
        null = torch.linalg.svd(system, full_matrices=False).Vh[-1]
        rows = _signed_rows(null[None], tolerance)
        if rows is not None:
            rows = rows[0].reshape(2, -1)
            if bool(rows.any(dim=1).all()):
                yield rows, torch.tensor([1.0, -1.0], dtype=x.dtype, device=x.device)


class _PowerProductMixin:
    """A unit whose solved formula is ``z_o = Π_j h_j ^ E_oj`` (NMU, NMRU, Real NPU).

    It declares the exponents it can give one input (``exponent_targets``) and
    writes an exponent matrix into its weights (``load_exponents_``); from those,
    :meth:`refit_` solves the exponents by least squares in logarithms and
    :meth:`refit_with_linear_` solves powers and ratios of sums in closed form.
    """

    exponent_targets: Targets = BINARY

    def load_exponents_(self, exponents: torch.Tensor) -> int:
        raise NotImplementedError

    @classmethod
    def _allows(cls, exponent: float) -> bool:
        return bool(nearest_target(torch.tensor(exponent), cls.exponent_targets) == exponent)

    @torch.no_grad()
    def refit_(self, x, y, tolerance=SNAP_TOLERANCE, sample_weight=None):
        exponents = rounded_within(
            log_least_squares(x, y, sample_weight), self.exponent_targets, tolerance
        )
        if exponents is None:
            return 0
        return self.load_exponents_(exponents)

    def _expanded(self, rows, exponents):
        """``rows`` and ``exponents`` in the exponents this unit allows.

        ``h²`` becomes ``h · h`` where only 0 and ±1 are allowed; None where the
        unit cannot express them.
        """
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
    def refit_with_linear_(
        self, first, x, y, tolerance=SNAP_TOLERANCE, start=False, sample_weight=None
    ):
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
        candidates = powers_of_sums(x, y, powers, ratio, tolerance, not start, sample_weight)
        for rows, exponents in candidates:
            expanded = self._expanded(rows, exponents)
            if expanded is None:
                continue
            rows, exponents = expanded
            predicted = ((x @ rows.T) ** exponents).prod(dim=1, keepdim=True)
            error = float(torch.nan_to_num(copy_mse(predicted, y, sample_weight), nan=math.inf))
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
        return moved + self.load_exponents_(all_exponents)


class NMU(_PowerProductMixin, RawWeightUnit):
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
    def load_exponents_(self, exponents):
        return load_raw_(self.W, self._weight_of_exponents(exponents))

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
            near_zero = x.abs() < _NMRU_EPS
            divisor = torch.where(near_zero, torch.where(x < 0, -_NMRU_EPS, _NMRU_EPS), x)
        x = torch.cat([x, 1 / divisor], dim=-1)
        w = self.weight
        # (1 - W) + W |x|, not W |x| + 1 - W: a weight of 1 keeps every digit of a
        # small input (1e-10 + 1 - 1 has only 6 of them left).
        w3 = w.unsqueeze(-3)
        factors = torch.addcmul(1 - w3, w3, x.abs().unsqueeze(-2))
        if not self.training:
            # A weight of 0 leaves its input out, even the infinite reciprocal of a
            # zero (0 · ∞ would be NaN). Not in training: the gradient that lets a
            # weight leave 0 must flow.
            factors = torch.where(w3 == 0, 1.0, factors)
        sign = torch.cos(math.pi * matmul((x < 0).to(x.dtype), w))
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

    @torch.no_grad()
    def domain_violations(self, x, names=None):
        # A weight on a reciprocal divides: an input within ε of 0 is at the pole,
        # where training divides by ±ε instead.
        span = InputRange(x)
        lo, hi = span.bounds
        if lo >= _NMRU_EPS or hi <= -_NMRU_EPS:
            return []
        names = input_names(names, self.in_features)
        divides = self.weight[..., self.in_features :] > FORMULA_TOLERANCE
        return weight_violations(
            x,
            divides,
            lambda column, _: column.abs() < _NMRU_EPS,
            lambda i: (
                f"divides by its input {names[i[-1]]} where |{names[i[-1]]}| < "
                f"ε = {number_text(_NMRU_EPS)}: at the pole of the quotient, where training "
                "divides by ±ε instead"
            ),
            lambda lo, hi: lo < _NMRU_EPS and hi > -_NMRU_EPS,
            span,
        )


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
        return torch.exp(matmul(log_r, self.W)) * torch.cos(matmul(k, self.W))

    def discrete_weights(self):
        return [
            DiscreteWeight("weight", self.W, self.weight_targets),
            DiscreteWeight("relevance", self.relevance, BINARY, gate=True),
        ]

    @torch.no_grad()
    def snap_(self, tolerance=SNAP_TOLERANCE):
        moved = snap_raw_(self.W, self.W, self.weight_targets, tolerance)
        return moved + snap_raw_(self.g, self.relevance, BINARY, tolerance)

    @torch.no_grad()
    def load_exponents_(self, exponents):
        # An input with an exponent of 0 everywhere is irrelevant: its gate closes.
        relevance = (exponents != 0).any(dim=0).to(exponents)
        return load_raw_(self.W, exponents) + load_raw_(self.g, relevance)

    @torch.no_grad()
    def domain_violations(self, x, names=None):
        span = InputRange(x)
        if span.bounds[0] > 0:  # no input negative or 0: inside whatever the weights
            return []
        names = input_names(names, self.in_features)
        w, g = self.W, self.relevance.unsqueeze(-2)  # [..., out, in], [..., 1, in]
        # A half-integer power (a root) of an input that the gate keeps, where the
        # formula's base g x + 1 - g is negative: the cos term then gives a number,
        # but no real power is it. Only discrete weights: others read as floats.
        half = (w - w.round()).abs()
        root = (g > FORMULA_TOLERANCE) & ((half - 0.5).abs() <= FORMULA_TOLERANCE)
        relevance = self.relevance

        def power(i):
            return exponent_text(float(w[i]))

        found = weight_violations(
            x,
            root,
            lambda column, i: _gated(column, relevance[(*i[:-2], i[-1])]) < 0,
            lambda i: (
                f"raises its input {names[i[-1]]} to the power {power(i)}"
                f"{_ROOT_NAMES.get(power(i), '')} where {names[i[-1]]} is negative: "
                "a non-integer power of a negative input is no real number"
            ),
            lambda lo, hi: lo < 0,
            span,
        )
        # A negative power of a zero input that the gate keeps: log 0 is taken as a
        # large negative number, so the product is inf (a division by zero), 1 (0/0)
        # or, where the gate is not quite 1, a number. Only where the positive
        # powers of the zero inputs outweigh the negative ones is it 0, the limit
        # (x · x^(-1/2) = √x at 0).
        kept = g >= 1 - FORMULA_TOLERANCE
        pole = kept & (w < -FORMULA_TOLERANCE)
        for index in map(tuple, pole.any(dim=-1).nonzero().tolist()):
            lo, hi = span.bounds
            if not lo <= 0 <= hi:
                break
            poles = pole[index].tolist()
            copy = x[index[0]] if len(index) == 2 and x.dim() == 3 else x
            zero = (copy == 0) & kept[index[:-1]]
            divides = (zero & pole[index]).any(dim=-1)
            if bool(divides.any()):
                divides &= zero.to(w.dtype) @ w[index] <= FORMULA_TOLERANCE
            divisors = [
                f"{name} (power {exponent_text(e)})"
                for name, e, p in zip(names, w[index].tolist(), poles, strict=True)
                if p
            ]
            found.append(
                DomainViolation(
                    divides,
                    f"divides by its input {' or '.join(divisors)} where that input is 0: "
                    "the product is infinite or 0/0 there",
                )
            )
        return found

    def formula(self, xs, reader, gate_range=None):
        # A relevance of 1 keeps the input, 0 replaces it by 1; an integer power of
        # a kept input is exact for either sign, thanks to the cos term.
        r = reader.numbers(self.relevance, BINARY)
        inputs = [ri * x + 1 - ri for ri, x in zip(r, xs, strict=True)]
        return reader.powers(reader.numbers(self.W, self.weight_targets), inputs)
