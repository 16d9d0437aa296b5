"""The units that add: :class:`NAU`, :class:`Linear` and :class:`Weighted`.

Each computes ``z = W x`` with one raw weight matrix. The NAU and the plain linear
layer read as sums with weights in {-1, 0, 1} (:class:`SumMixin`, shared with the
NAC+); :class:`Weighted` reads as a sum with real coefficients. Reference:

- Madsen & Johansen, "Neural Arithmetic Units", ICLR 2020 (NAU).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch

from ..exact._errors import copy_mse, mean_square
from ..exact._least_squares import least_squares, usable_rows
from ..exact._numbers import simple_numbers
from ..exact._tolerances import SIMPLE_RELATIVE, SNAP_TOLERANCE, is_exact_least_squares
from ._base import RawWeightUnit, matmul
from ._targets import rounded_within


class SumMixin:
    """``z = W x`` with {-1, 0, 1} targets: reads as a sum, snaps as a linear map.

    For a unit whose ``weight`` is the raw parameter ``W``, clipped or not (NAU,
    Linear); the NAC+ writes its linear map by saturation instead
    (``load_linear_map_``). :meth:`refit_` solves ``W`` by least squares.
    """

    def forward(self, x):
        return matmul(x, self.weight)

    def linear_map(self):
        return self.weight

    @torch.no_grad()
    def load_linear_map_(self, weight):
        # Units whose weight is the raw W (NAU, Linear); NAC+ saturates instead.
        self.W.copy_(weight.reshape(self.W.shape))

    @torch.no_grad()
    def refit_(self, x, y, tolerance=SNAP_TOLERANCE, sample_weight=None):
        weight = rounded_within(least_squares(x, y, sample_weight), self.weight_targets, tolerance)
        if weight is None:
            return 0
        moved = int((weight != self.linear_map().reshape(weight.shape)).sum())
        if moved:
            self.load_linear_map_(weight)
        return moved

    def formula(self, xs, reader, gate_range=None):
        return reader.sums(reader.numbers(self.weight, self.weight_targets), xs)


class Linear(SumMixin, RawWeightUnit):
    """Plain linear layer without bias, ``z = W x``: the papers' baseline.

    Examples
    --------
    >>> import torch
    >>> Linear(3, 2)(torch.ones(4, 3)).shape
    torch.Size([4, 2])
    """

    def reset_parameters(self, generator=None):
        self._glorot_uniform_(self.W, generator)


class Weighted(RawWeightUnit):
    """A sum with real coefficients, ``z = W x``: the constants of a sum of terms.

    The one unit without discrete values: its weights are the constant factors of
    the terms it adds (``m*v**2/2 + 9.81*m*h``), so no regulariser pulls them and
    the snap moves each to the simplest rational, or rational multiple of π,
    within a relative 1e-9 of it (which the held-out check then accepts or not).
    As the last layer of a network it refits them by least squares where that
    fits the snap's rows exactly (not otherwise: those rows judge the snap). Its
    formula reads each coefficient as a simple number where it is one to rounding,
    in an exact formula only (``FormulaReader.constant``).

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
        return matmul(x, self.weight)

    def discrete_weights(self):
        return []

    def sparsity_loss(self, gradient_scale=None):
        return self.W.new_zeros(self._shape())

    @torch.no_grad()
    def sparsity_error(self):
        return self.W.new_zeros(self._shape())

    @torch.no_grad()
    def snap_(self, tolerance=SNAP_TOLERANCE):
        w = self.W.detach()
        largest = w.abs().amax(dim=(-1, -2), keepdim=True)
        new = simple_numbers(w, SIMPLE_RELATIVE)
        new = torch.where(w.abs() <= SIMPLE_RELATIVE * largest, 0.0, new)
        moved = int((new != w).sum())
        self.W.copy_(new)
        return moved

    @torch.no_grad()
    def refit_(self, x, y, tolerance=SNAP_TOLERANCE, sample_weight=None):
        # Only coefficients that map x to y exactly: least squares on the rows that
        # judge the snap would otherwise fit their noise.
        coefficients = least_squares(x, y, sample_weight)
        if coefficients is None or not bool(torch.isfinite(coefficients).all()):
            return 0
        x, y, sample_weight = usable_rows(x, y, sample_weight)
        residual = float(copy_mse(x @ coefficients.T, y, sample_weight))
        if not is_exact_least_squares(residual, mean_square(y, sample_weight)):
            return 0
        moved = int((coefficients != self.W.reshape(coefficients.shape)).sum())
        self.W.copy_(coefficients.reshape(self.W.shape))
        return moved

    def formula(self, xs, reader, gate_range=None):
        coefficients = np.vectorize(reader.constant, otypes=[object])(reader.array(self.W))
        return reader.sums(coefficients, xs)


class NAU(SumMixin, RawWeightUnit):
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
