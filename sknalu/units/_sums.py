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
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from ..exact._least_squares import _finite_rows, least_squares
from ..exact._numbers import simple_numbers
from ..exact._tolerances import EXACT_LEAST_SQUARES, SIMPLE_RELATIVE
from ._base import _matmul, _RawWeightUnit
from ._targets import _rounded

if TYPE_CHECKING:  # pragma: no cover
    pass


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
        new = simple_numbers(w, SIMPLE_RELATIVE)
        new = torch.where(w.abs() <= SIMPLE_RELATIVE * largest, 0.0, new)
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
        if not residual <= EXACT_LEAST_SQUARES * float(y.square().mean()):
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
