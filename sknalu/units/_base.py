"""The base class of the arithmetic units, and the helpers of the built-in ones.

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
- ``input_labels``: the names of the columns of its weight matrix;
- ``domain_violations``: the rows of its inputs outside the domain where it
  computes its formula (a square root of a negative input, a division by zero,
  a logarithm that loses the sign), judged on its discrete weights.

Code outside :mod:`sknalu.units` never asks which unit it holds.
:func:`~sknalu.units.register_unit` makes a unit available by name to the
estimators (:data:`~sknalu.units.UNITS`). The units know nothing of scikit-learn
or skorch.

:class:`ArithmeticUnit` holds the interface and its defaults, with the
regularisers from :class:`~sknalu.units._regularizers.RegularizerMixin` and the
read-back hooks from :class:`ReadBackMixin`; :class:`RawWeightUnit` is a unit
whose weight is one raw matrix. :func:`matmul`, :func:`snap_raw_` and
:func:`load_raw_` are what the built-in units compute, snap and load with.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np
import torch
from torch import nn

from ..exact._tolerances import FORMULA_TOLERANCE, SNAP_TOLERANCE
from ._regularizers import OOB_MODES, REGULARIZER_SHAPES, RegularizerMixin, sparsity_penalty
from ._targets import SIGNED, DiscreteWeight, Targets, nearest_target

if TYPE_CHECKING:  # pragma: no cover
    from ..formula._reader import FormulaReader


def matmul(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight.T`` broadcast over a leading copy dimension.

    When every copy sees the same ``[batch, in]`` input, the copies' weights are
    stacked into one ``[in, copies * out]`` matrix: a single matrix product is much
    faster than a broadcast batched one.

    Parameters
    ----------
    x : Tensor of shape (batch, in) or (copies, batch, in)
        Inputs.
    weight : Tensor of shape (out, in) or (copies, out, in)
        Weight matrix.

    Returns
    -------
    Tensor of shape (batch, out) or (copies, batch, out)
        The product.
    """
    if x.dim() == 2 and weight.dim() == 3:
        k, out, _ = weight.shape
        product = torch.nn.functional.linear(x, weight.reshape(k * out, -1))
        return product.view(len(x), k, out).transpose(0, 1)
    return x @ weight.transpose(-1, -2)


@torch.no_grad()
def snap_raw_(
    raw: torch.Tensor, effective: torch.Tensor, targets: Targets, tolerance: float
) -> int:
    """Set ``raw`` to the target wherever ``effective`` is within ``tolerance`` of it.

    For weights whose effective value is the raw one, clipped to bounds that
    contain every target.

    Parameters
    ----------
    raw : Tensor
        The raw parameter, written in place.
    effective : Tensor
        The effective weight, of the same shape.
    targets : tuple of float, "integer" or "half-integer"
        The discrete values.
    tolerance : float
        Largest distance a weight is moved.

    Returns
    -------
    int
        The number of weights moved.
    """
    target = nearest_target(effective, targets)
    move = ((effective - target).abs() <= tolerance) & (effective != target)
    raw[move] = target[move]
    return int(move.sum())


@torch.no_grad()
def load_raw_(raw: torch.Tensor, value: torch.Tensor) -> int:
    """Copy ``value`` into the raw parameter ``raw``.

    Parameters
    ----------
    raw : Tensor
        The raw parameter (one copy or none), written in place.
    value : Tensor
        The values, of any shape with as many entries.

    Returns
    -------
    int
        The number of entries changed.
    """
    value = value.reshape(raw.shape).to(raw)
    moved = int((raw != value).sum())
    raw.copy_(value)
    return moved


class DomainViolation(NamedTuple):
    """Rows of a unit's inputs outside the domain where it computes its formula.

    Attributes
    ----------
    rows : Tensor of bool, shape (batch,)
        True for each row outside (for some copy, where the unit has copies).
    reason : str
        What the unit computes wrong there, and why, as a phrase whose subject is
        the unit: "raises its input h1 to the power 1/2 (a square root) where h1
        is negative, ...".
    """

    rows: torch.Tensor
    reason: str


def input_names(names: Sequence[str] | None, n: int) -> list[str]:
    """``names`` as a list, or ``"x0"``, ``"x1"``, ... for ``n`` inputs when None."""
    return [f"x{j}" for j in range(n)] if names is None else [str(name) for name in names]


def number_text(value: float) -> str:
    """A small constant as a reason writes it: ``1e-7``, ``0.1``."""
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{value:g}").replace("e+", "e")


def exponent_text(value: float) -> str:
    """An exponent as the formula reads it: ``"2"``, ``"-1/2"``, or the float.

    A value within ``FORMULA_TOLERANCE`` of a multiple of ½ is written as that
    multiple, others with four significant digits.
    """
    half = round(2 * value) / 2
    if abs(value - half) > FORMULA_TOLERANCE:
        return f"{value:.4g}"
    return f"{half:g}" if half == int(half) else f"{round(2 * half)}/2"


class InputRange:
    """The smallest and the largest of a unit's inputs, over every input, row and copy.

    Computed in one pass over ``x`` when first asked for, so that a rule can tell
    cheaply that no row can lie outside it (every input positive, say) and skip
    computing its rows: one reduction over the whole tensor is several times
    faster than one per input column.

    Parameters
    ----------
    x : Tensor of shape (batch, in) or (copies, batch, in)
        The unit's inputs.
    """

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x
        self._bounds: tuple[float, float] | None = None

    @property
    def bounds(self) -> tuple[float, float]:
        """``(min, max)`` of ``x``; NaN where it holds a NaN, ``(inf, -inf)`` if empty."""
        if self._bounds is None:
            if self.x.numel():
                lo, hi = torch.aminmax(self.x)
                self._bounds = float(lo), float(hi)
            else:
                self._bounds = math.inf, -math.inf
        return self._bounds


def weight_violations(
    x: torch.Tensor,
    applies: torch.Tensor,
    outside: Callable[[torch.Tensor, tuple[int, ...]], torch.Tensor],
    reason: Callable[[tuple[int, ...]], str],
    possible: Callable[[float, float], bool],
    span: InputRange | None = None,
) -> list[DomainViolation]:
    """The rows outside a rule that each weight ``(o, j)`` it ``applies`` to sets on input ``j``.

    Parameters
    ----------
    x : Tensor of shape (batch, in) or (copies, batch, in)
        The unit's inputs.
    applies : Tensor of bool, shape (out, in) or (copies, out, in)
        Where the rule applies, read from the weights; nothing else is computed
        where it applies nowhere.
    outside : callable
        ``outside(column, index)``: the rows of ``column`` (input ``j`` of the
        copy, shape (batch,)) outside for the weight at ``index``
        (``(o, j)`` or ``(copy, o, j)``).
    reason : callable
        ``reason(index)``: the reason, for the weight at ``index``. Weights with
        the same reason share one entry, whose rows are the union.
    possible : callable
        ``possible(lo, hi)``: whether inputs ranging over ``[lo, hi]`` may have
        rows outside; where not, ``outside`` is not computed.
    span : InputRange, optional
        The range of ``x``, shared by the rules of one unit.

    Returns
    -------
    list of DomainViolation
        One per reason, for the rules that may have rows outside.
    """
    indices = applies.nonzero().tolist()
    if not indices or not possible(*(InputRange(x) if span is None else span).bounds):
        return []
    found: dict[str, torch.Tensor] = {}
    for index in map(tuple, indices):
        column = x[index[0], :, index[-1]] if len(index) == 3 == x.dim() else x[..., index[-1]]
        rows = outside(column, index)
        text = reason(index)
        found[text] = found[text] | rows if text in found else rows
    return [DomainViolation(rows, text) for text, rows in found.items()]


class ReadBackMixin:
    """How an :class:`ArithmeticUnit` reads back: its formula, gates and column labels."""

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

    @torch.no_grad()
    def domain_violations(
        self, x: torch.Tensor, names: Sequence[str] | None = None
    ) -> list[DomainViolation]:
        """The rows of ``x`` outside the domain where the unit computes its formula.

        The formula is the one :meth:`formula` reads from the unit's discrete
        weights. A row lies outside where that formula is undefined (a half-integer
        power of a negative input, a division by zero) or where the unit computes
        something else (a product through ``log(|x| + ε)`` for ``|x|`` near ``ε``
        or a negative ``x`` whose sign matters, an input the unit clamps). Outside,
        the unit's output is no value of the formula. Each rule applies only where
        the weights use the input that way, and its rows are computed only where
        the range of the inputs (:class:`InputRange`, one pass over ``x``) reaches
        outside: a unit whose weights use no input that way returns ``[]`` without
        looking at ``x``, and inputs inside cost one pass. The common case stays
        cheap.

        The default, for the units whose formula is defined and computed
        everywhere (sums, the NMU), is ``[]``: every row inside.

        Parameters
        ----------
        x : Tensor of shape (batch, in) or (copies, batch, in)
            The unit's inputs.
        names : sequence of str, optional
            The inputs' names, for the reasons; ``"x0"``, ``"x1"``, ... when None.

        Returns
        -------
        list of DomainViolation
            One entry per rule that the weights make apply and whose rows may lie
            outside, each with those rows (possibly none) and the reason; several
            entries may flag the same row.
        """
        return []


class ArithmeticUnit(RegularizerMixin, ReadBackMixin, nn.Module):
    """Base class of the arithmetic units.

    A subclass declares what is specific to it once, and the network, the
    training, the snap, the saddle escape, the formula and the plots read it from
    there: ``bounds`` and ``weight_targets`` (class attributes), ``_build``,
    ``reset_parameters``, ``weight``, ``forward``, ``snap_`` and ``formula``; and,
    where they differ from the defaults, ``discrete_weights``, ``sparsity_loss``,
    ``linear_map`` / ``load_linear_map_``, ``gate_range`` / ``gate_distance``,
    ``input_labels`` and ``domain_violations``. The user guide's "Adding a unit"
    walks through one.

    The regularisers and the bounds (``sparsity_loss``, ``sparsity_error``,
    ``oob_loss``, ``clipped_bounds``, ``constrain_``) are inherited from
    :class:`~sknalu.units._regularizers.RegularizerMixin`, the read-back hooks
    (``formula``, ``gate_range``, ``gate_distance``, ``input_labels``,
    ``domain_violations``) from :class:`ReadBackMixin`.

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
    #: The keyword options, beyond those of every unit, that the unit's constructor
    #: takes (``("functions",)`` for :class:`~sknalu.units.FunctionUnit`): a network
    #: built with ``unit_options`` passes each unit those it names here, and no other.
    options: ClassVar[tuple[str, ...]] = ()

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

    # -- snapping -----------------------------------------------------------------
    @torch.no_grad()
    def snap_(self, tolerance: float = SNAP_TOLERANCE) -> int:
        """Move every weight within ``tolerance`` of a discrete target exactly onto it.

        The targets are those of :meth:`discrete_weights`, measured on the
        effective weights; the raw weights are changed so that the effective
        weights equal the targets. Weights farther than ``tolerance`` from every
        target stay as they are.

        Parameters
        ----------
        tolerance : float, default=SNAP_TOLERANCE
            Largest distance a weight is moved.

        Returns
        -------
        int
            Number of weights moved (gates included).

        Examples
        --------
        >>> import torch
        >>> from sknalu.units import NAU
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
        :func:`~sknalu.exact._snap.snap_linear_pair_` snaps as a whole. ``None`` for
        every other unit.
        """
        return None

    @torch.no_grad()
    def load_linear_map_(self, weight: torch.Tensor) -> None:
        """Set the raw weights so that :meth:`linear_map` is ``weight`` (in {-1, 0, 1})."""
        raise TypeError(f"{type(self).__name__} does not compute a linear map.")

    @torch.no_grad()
    def refit_(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        tolerance: float = SNAP_TOLERANCE,
        sample_weight: torch.Tensor | None = None,
    ) -> int:
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
        tolerance : float, default=SNAP_TOLERANCE
            Largest distance of a fitted weight from its discrete value.
        sample_weight : Tensor of shape (n,), optional
            The rows' weights, for a fit with ``sample_weight``: the least squares
            weigh each row (:func:`~sknalu.units.least_squares` takes them). The
            snap passes it only for a weighted fit, so a unit of one's own whose
            ``refit_`` does not take it still snaps unweighted fits.

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
        tolerance: float = SNAP_TOLERANCE,
        start: bool = False,
        sample_weight: torch.Tensor | None = None,
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
        x, y, tolerance, sample_weight
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

    def extra_repr(self) -> str:
        copies = "" if self.n_copies is None else f", n_copies={self.n_copies}"
        return f"in_features={self.in_features}, out_features={self.out_features}{copies}"


class RawWeightUnit(ArithmeticUnit):
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
        return load_raw_(self.W, weight)

    def sparsity_loss(self, gradient_scale=None):
        # With gradient_scale, the closed-form gradient goes straight into W.grad.
        return sparsity_penalty(self.W, self.weight_targets, self.regularizer_shape, gradient_scale)

    @torch.no_grad()
    def snap_(self, tolerance=SNAP_TOLERANCE):
        return snap_raw_(self.W, self.weight, self.weight_targets, tolerance)
