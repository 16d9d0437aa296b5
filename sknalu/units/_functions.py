"""The unit that applies functions to sums: :class:`FunctionUnit`.

Each output computes a sum with real constants, ``u_j = W_j · x + b_j``, and
applies one function to it, chosen among the identity and :data:`FUNCTIONS`
(``exp``, ``log``, ``sin``, ``cos``, ``sqrt``, ``tanh``, ``arcsin``). The choice
is a selection matrix ``S``, one row per output over the functions in the order of
:data:`ALL_FUNCTIONS`, whose rows the sparsity regulariser pulls to one-hot rows
and the snap makes one-hot; the constants ``W`` and ``b`` are snapped onto simple
numbers (rationals, rational multiples of π) like those of
:class:`~sknalu.units.Weighted`.

The functions are computed so that training never meets an infinite value or a
NaN (:func:`function_values`): ``log`` of ``max(|u|, 1e-7)``, ``sqrt`` of ``|u|``,
``arcsin`` of ``u`` clamped to ``[-1, 1]``, ``exp`` of at most 30. Prediction
computes ``log`` of ``max(u, ε)`` with ``ε`` the smallest normal number of the
dtype, ``sqrt`` of ``max(u, 0)``, the same ``arcsin``
and ``exp`` of ``u`` clamped just below the overflow: finite values, and where
they are not the function's value (a sum outside its domain), the rows are the
unit's :meth:`~FunctionUnit.domain_violations`, which ``predict`` reports. Both
agree on every sum inside the domains (above 1e-7 for ``log``, below 30 for ``exp``):
``log(h**2)`` of a small ``h`` is read back as it is, not as a constant.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import ClassVar, NamedTuple

import numpy as np
import torch
from torch import nn

from ..exact._numbers import simple_numbers
from ..exact._tolerances import FORMULA_TOLERANCE, SIMPLE_TRAINED, SNAP_TOLERANCE
from ._base import ArithmeticUnit, DomainViolation, input_names, load_raw_, matmul
from ._targets import BINARY, DiscreteWeight

#: The functions a :class:`FunctionUnit` may choose besides the identity, and the
#: default of the estimators' ``functions`` hyperparameter.
FUNCTIONS: tuple[str, ...] = ("exp", "log", "sin", "cos", "sqrt", "tanh", "arcsin")
#: The functions ``f_k`` of every :class:`FunctionUnit`, in the order of the
#: columns of its selection: the identity ``"id"`` first, then :data:`FUNCTIONS`.
ALL_FUNCTIONS: tuple[str, ...] = ("id", *FUNCTIONS)

#: In training, ``log`` is computed of at least this: finite, with a bounded
#: gradient, at 0. Prediction takes the smallest normal number of the dtype.
_LOG_FLOOR = 1e-7
#: In training, ``exp`` is computed of ``min(u, 30)``: ``exp(30) ≈ 1e13``, whose
#: square still sums over a batch in float32, so a copy that strays there keeps a
#: finite loss and gradient. Prediction clamps only at the overflow.
_EXP_TRAINING_LIMIT = 30.0
#: How far below ``log`` of the largest float prediction clamps ``exp``'s input.
_EXP_MARGIN = 1.0


def check_functions(functions) -> tuple[str, ...]:
    """The function names of the ``functions`` hyperparameter, checked.

    Parameters
    ----------
    functions : tuple or list of str
        Names from :data:`FUNCTIONS` (``"id"``, always there, may be named too);
        ``()`` allows the identity only.

    Returns
    -------
    tuple of str
        The names, in the order of :data:`FUNCTIONS`, each once, without ``"id"``.

    Raises
    ------
    ValueError
        For a name that is no function of the unit, or what is not a tuple or list of
        names, saying which names there are.

    Examples
    --------
    >>> check_functions(["sin", "exp", "sin"])
    ('exp', 'sin')
    >>> check_functions(("sine",))
    Traceback (most recent call last):
    ...
    ValueError: functions names no function 'sine'; choose from 'exp', 'log', 'sin', 'cos', \
'sqrt', 'tanh', 'arcsin' (a tuple of them; () for none).
    """
    choices = ", ".join(repr(f) for f in FUNCTIONS)
    if not isinstance(functions, (tuple, list)) or not all(isinstance(f, str) for f in functions):
        raise ValueError(
            f"functions must be a tuple of function names from {choices} (() for none), "
            f"got {functions!r}."
        )
    unknown = [f for f in functions if f not in ALL_FUNCTIONS]
    if unknown:
        raise ValueError(
            f"functions names no function {unknown[0]!r}; choose from {choices} "
            "(a tuple of them; () for none)."
        )
    return tuple(f for f in FUNCTIONS if f in functions)


def _log_floor(dtype: torch.dtype, training: bool) -> float:
    """The smallest input of ``log``: ε in training, the smallest normal float else."""
    return _LOG_FLOOR if training else float(torch.finfo(dtype).tiny)


def _exp_limit(dtype: torch.dtype, training: bool) -> float:
    """The largest input of ``exp``: below the overflow of ``dtype``, lower in training."""
    if training:
        return _EXP_TRAINING_LIMIT
    return math.log(torch.finfo(dtype).max) - _EXP_MARGIN


def _sqrt(u: torch.Tensor) -> torch.Tensor:
    """``sqrt(max(u, 0))``, with a gradient of 0 rather than infinity at 0."""
    positive = u > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, u, 1.0)), 0.0)


def _arcsin(u: torch.Tensor) -> torch.Tensor:
    """``arcsin`` of ``u`` clamped to ``[-1, 1]``, with a finite gradient everywhere."""
    inside = u.abs() < 1
    return torch.where(
        inside, torch.asin(torch.where(inside, u, 0.0)), torch.sign(u) * (math.pi / 2)
    )


def function_values(u: torch.Tensor, training: bool) -> torch.Tensor:
    """Every function of :data:`ALL_FUNCTIONS` of ``u``, finite wherever ``u`` is.

    Parameters
    ----------
    u : Tensor
        The sums.
    training : bool
        In training, ``log`` and ``sqrt`` take ``|u|`` (a gradient on either side
        of 0) and ``exp`` at most 30; in prediction, ``log`` and ``sqrt`` take
        ``max(u, ·)`` and ``exp`` clamps just below the overflow.

    Returns
    -------
    Tensor
        ``u``'s shape with one more dimension, last, over the functions.

    Examples
    --------
    >>> import torch
    >>> u = torch.tensor([-1.0, 0.0, 4.0])
    >>> sqrt = ALL_FUNCTIONS.index("sqrt")
    >>> function_values(u, training=True)[:, sqrt]  # sqrt(|u|)
    tensor([1., 0., 2.])
    >>> function_values(u, training=False)[:, sqrt]  # sqrt(max(u, 0))
    tensor([0., 0., 2.])
    >>> bool(torch.isfinite(function_values(u, training=False)).all())
    True
    """
    limit = _exp_limit(u.dtype, training)
    # Training takes log and sqrt of |u|, whose gradient lives on either side of 0;
    # prediction of max(u, ·): a sum whose sign is wrong is judged wrong.
    v = u.abs() if training else u
    return torch.stack(
        [
            u,
            torch.exp(u.clamp(max=limit)),
            torch.log(v.clamp(min=_log_floor(u.dtype, training))),
            torch.sin(u),
            torch.cos(u),
            _sqrt(v),
            torch.tanh(u),
            _arcsin(u),
        ],
        dim=-1,
    )


class _Domain(NamedTuple):
    """Where a function's value is not what the unit computes, and why."""

    outside: Callable[[torch.Tensor], torch.Tensor]
    reason: str


def _domains(dtype: torch.dtype) -> dict[str, _Domain]:
    """The rule of each function with a domain, by name."""
    limit = _exp_limit(dtype, training=False)
    floor = _log_floor(dtype, training=False)
    return {
        "exp": _Domain(
            lambda u: u > limit,
            f"where {{u}} > {limit:.1f}: exp overflows {str(dtype).removeprefix('torch.')} "
            f"there, and the unit computes exp({limit:.1f}) instead",
        ),
        "log": _Domain(
            lambda u: u < floor,
            f"where {{u}} < ε = {floor:.3g}: a logarithm of a number that is not positive is "
            f"no real number, and the unit computes log(max({{u}}, ε)) there",
        ),
        "sqrt": _Domain(
            lambda u: u < 0,
            "where {u} is negative: its square root is no real number, and the unit "
            "computes 0 there",
        ),
        "arcsin": _Domain(
            lambda u: u.abs() > 1,
            "where |{u}| > 1: arcsin is defined on [-1, 1] only, and the unit computes "
            "arcsin of {u} clamped to [-1, 1] there",
        ),
    }


def _sum_text(weights: Sequence[float], bias: float, names: Sequence[str]) -> str:
    """``W_j · x + b_j`` as a reason writes it: ``2*a - b + 1``."""
    terms = []
    for w, name in zip(weights, names, strict=True):
        if w != 0:
            terms.append(name if w == 1 else f"-{name}" if w == -1 else f"{w:.4g}*{name}")
    if bias != 0 or not terms:
        terms.append(f"{bias:.4g}")
    return " + ".join(terms).replace("+ -", "- ")


def _sympy_functions(sympy) -> dict[str, Callable]:
    return {
        "id": lambda u: u,
        "exp": sympy.exp,
        "log": sympy.log,
        "sin": sympy.sin,
        "cos": sympy.cos,
        "sqrt": sympy.sqrt,
        "tanh": sympy.tanh,
        "arcsin": sympy.asin,
    }


class FunctionUnit(ArithmeticUnit):
    """Functions of sums: ``z_j = Σ_k S_jk f_k(W_j · x + b_j)``.

    ``W`` (shape ``[out, in]``) and ``b`` (``[out]``) are real constants, like the
    coefficients of :class:`~sknalu.units.Weighted`; ``f_k`` runs over
    :data:`ALL_FUNCTIONS`: ``id``, ``exp``, ``log``, ``sin``, ``cos``, ``sqrt``,
    ``tanh``, ``arcsin``, in that order. The selection ``S`` (``[out, 8]``) is the raw
    ``S`` clamped to ``[0, 1]``, with the functions not allowed set to 0, each row
    divided by its sum: a weighted mean of the functions, whose discrete values are
    {0, 1}, a row with one function. The sparsity regulariser pulls it there, and
    :meth:`snap_` makes a row one-hot where its largest entry lies within the
    tolerance of 1 (every row with an infinite tolerance), and moves ``W`` and ``b``
    onto simple numbers within a relative 1e-4 (``SIMPLE_TRAINED``).

    Training and prediction compute the functions where they are defined, and,
    where not, finite values instead (see :func:`function_values`); in prediction,
    those rows are :meth:`domain_violations`.

    Parameters
    ----------
    in_features, out_features : int
        Number of inputs and of outputs.
    functions : tuple of str, default=FUNCTIONS
        The functions the unit may choose besides the identity, from
        :data:`FUNCTIONS`; ``()`` for the identity only. Held, per copy, in the
        buffer ``allowed`` (1 for a function allowed, in the order of
        :data:`ALL_FUNCTIONS`), so that the weights carry the choice.
    n_copies, oob_mode, regularizer_shape, generator
        As for :class:`~sknalu.units.ArithmeticUnit`.

    Examples
    --------
    >>> import math, torch
    >>> unit = FunctionUnit(1, 1)
    >>> _ = unit.load_functions_(torch.tensor([[2 * math.pi]]), torch.tensor([0.0]), ["sin"])
    >>> round(unit(torch.tensor([[0.125]])).item(), 6)
    0.707107
    """

    #: The raw selection is clamped to [0, 1].
    bounds: ClassVar[dict[str, tuple[float, float]]] = {"S": (0.0, 1.0)}
    #: The discrete values of the selection.
    weight_targets = BINARY
    options: ClassVar[tuple[str, ...]] = ("functions",)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        functions: Sequence[str] = FUNCTIONS,
        n_copies: int | None = None,
        oob_mode: str = "clip",
        regularizer_shape: str = "linear",
        generator: torch.Generator | None = None,
    ) -> None:
        allowed = {"id", *check_functions(functions)}
        super().__init__(
            in_features,
            out_features,
            n_copies=n_copies,
            oob_mode=oob_mode,
            regularizer_shape=regularizer_shape,
            generator=generator,
        )
        mask = torch.tensor([float(f in allowed) for f in ALL_FUNCTIONS])
        if not bool(mask.all()):
            with torch.no_grad():
                self.allowed.copy_(mask.expand_as(self.allowed))
            self._draw_selection_(generator)

    def _build(self) -> None:
        self.W = self._weight_param()
        self.b = nn.Parameter(torch.empty(self._shape(self.out_features)))
        self.S = self._weight_param(len(ALL_FUNCTIONS))
        self.register_buffer("allowed", torch.ones(self._shape(len(ALL_FUNCTIONS))))

    def reset_parameters(self, generator=None):
        """``W`` Glorot-uniform, ``b`` uniform in [-½, ½], each row of ``S`` one-hot.

        Each output starts with one function, drawn among those allowed: a mean of
        them all fits many targets roughly and none exactly, and the regulariser
        alone pulls it apart slowly. The restarts try several draws.
        """
        self._glorot_uniform_(self.W, generator)
        with torch.no_grad():
            self.b.uniform_(-0.5, 0.5, generator=generator)
        self._draw_selection_(generator)

    @torch.no_grad()
    def _draw_selection_(self, generator=None) -> None:
        """Each row of ``S`` one-hot, on a function drawn uniformly among those allowed."""
        if self.S.is_meta:  # shapes only: nothing to draw
            return
        allowed = self.allowed.reshape(-1, len(ALL_FUNCTIONS))[0].nonzero()[:, 0]
        drawn = torch.randint(len(allowed), self.S.shape[:-1], generator=generator)
        self.S.zero_()
        self.S.scatter_(-1, allowed[drawn].unsqueeze(-1).to(self.S.device), 1.0)

    @property
    def weight(self) -> torch.Tensor:
        """The constants ``W`` of the sums, ``[..., out, in]``."""
        return self.W

    @property
    def functions(self) -> tuple[str, ...]:
        """The functions this unit may choose (in every copy), besides the identity."""
        allowed = (self.allowed > 0).reshape(-1, len(ALL_FUNCTIONS)).all(dim=0).tolist()
        return tuple(f for f, a in zip(ALL_FUNCTIONS, allowed, strict=True) if a and f != "id")

    @property
    def selection(self) -> torch.Tensor:
        """The selection ``S``, ``[..., out, 8]``: each row a weighted mean of the functions."""
        # Every copy allows the same functions: the first copy's row serves all,
        # also where the parameters are given for other copies (the saddle escape
        # evaluates many candidates as copies, with the buffer as it is).
        s = self._clip("S") * self.allowed.reshape(-1, len(ALL_FUNCTIONS))[0]
        total = s.sum(dim=-1, keepdim=True)
        return s / torch.where(total > 0, total, 1.0)

    def sums(self, x: torch.Tensor) -> torch.Tensor:
        """The sums ``u = W x + b`` the functions apply to, ``[..., batch, out]``."""
        return matmul(x, self.W) + self.b.unsqueeze(-2)

    def forward(self, x):
        values = function_values(self.sums(x), self.training)
        return (values * self.selection.unsqueeze(-3)).sum(dim=-1)

    def discrete_weights(self):
        return [DiscreteWeight("selection", self.selection, BINARY)]

    # -- snapping and loading ------------------------------------------------------
    @torch.no_grad()
    def snap_(self, tolerance=SNAP_TOLERANCE):
        return self._snap_selection_(tolerance) + self._snap_constants_()

    @torch.no_grad()
    def _snap_selection_(self, tolerance: float) -> int:
        """Each row of ``S`` whose largest entry is within ``tolerance`` of 1 made one-hot."""
        s = self.selection
        one_hot = nn.functional.one_hot(s.argmax(dim=-1), len(ALL_FUNCTIONS)).to(s)
        rows = (s.amax(dim=-1) >= 1 - tolerance) & (s != one_hot).any(dim=-1)
        self.S[rows] = one_hot[rows]
        return int((s != one_hot)[rows].sum())

    @torch.no_grad()
    def _snap_constants_(self) -> int:
        """``W`` and ``b`` onto simple numbers; entries negligible in their sum onto 0."""
        values = torch.cat([self.W, self.b.unsqueeze(-1)], dim=-1)
        largest = values.abs().amax(dim=-1, keepdim=True)
        new = simple_numbers(values, SIMPLE_TRAINED)
        new = torch.where(values.abs() <= SIMPLE_TRAINED * largest, 0.0, new)
        return load_raw_(self.W, new[..., :-1]) + load_raw_(self.b, new[..., -1])

    @torch.no_grad()
    def load_functions_(self, weight, bias, choices: Sequence[str]) -> int:
        """Write a plan: output ``j`` computes ``choices[j](weight[j] · x + bias[j])``.

        How a formula found in closed form is written into the unit: the constants
        exactly as given (write ``2 * math.pi`` for 2π, ``-0.5`` for -1/2, and they
        read back as such), and each output's function as a one-hot row of the
        selection. Every copy gets the same weights.

        Parameters
        ----------
        weight : array-like of shape (out, in)
            The constants of the sums.
        bias : array-like of shape (out,) or None
            Their additive constants; None for none.
        choices : sequence of str
            One name of :data:`ALL_FUNCTIONS` per output (``"id"``: the sum itself),
            each allowed in this unit.

        Returns
        -------
        int
            The number of entries of ``W``, ``b`` and the raw ``S`` changed.

        Raises
        ------
        ValueError
            When ``choices`` does not name one allowed function per output.
        """
        choices = list(choices)
        allowed = ("id", *self.functions)
        wrong = [c for c in choices if c not in allowed]
        if len(choices) != self.out_features or wrong:
            raise ValueError(
                f"choices must name one function per output ({self.out_features}) from "
                f"{allowed}, got {choices!r}."
            )
        bias = torch.zeros(self.out_features) if bias is None else bias
        index = torch.tensor([ALL_FUNCTIONS.index(c) for c in choices])
        one_hot = nn.functional.one_hot(index, len(ALL_FUNCTIONS))
        return sum(
            load_raw_(raw, torch.as_tensor(value, dtype=raw.dtype).expand(raw.shape))
            for raw, value in ((self.W, weight), (self.b, bias), (self.S, one_hot))
        )

    # -- reading back ---------------------------------------------------------------
    def formula(self, xs, reader, gate_range=None):
        constant = np.vectorize(reader.constant, otypes=[object])
        sums = reader.sums(constant(reader.array(self.W)), xs)
        sums = [u + b for u, b in zip(sums, constant(reader.array(self.b)), strict=True)]
        functions = _sympy_functions(reader.sympy)
        selection = reader.numbers(self.selection, BINARY)
        return [
            reader.sympy.Add(
                *(s * functions[f](u) for f, s in zip(ALL_FUNCTIONS, row, strict=True) if s != 0)
            )
            for u, row in zip(sums, selection, strict=True)
        ]

    @torch.no_grad()
    def domain_violations(self, x, names=None):
        """The rows where a function the selection uses is not what the unit computes.

        A function counts as used where its entry of the selection exceeds the
        formula's tolerance (0.01): ``log`` of a sum below ``ε`` (the smallest normal
        number of the dtype), ``sqrt`` of a negative sum, ``arcsin`` of a sum outside
        ``[-1, 1]``, ``exp`` of a sum that overflows (above ``log`` of the largest
        float, less 1).
        """
        domains = _domains(self.W.dtype)
        columns = [ALL_FUNCTIONS.index(f) for f in domains]
        used = self.selection[..., columns] > FORMULA_TOLERANCE  # [..., out, rules]
        indices = used.nonzero().tolist()
        if not indices:
            return []
        names = input_names(names, self.in_features)
        u = self.sums(x)
        found: dict[str, torch.Tensor] = {}
        for *copy, j, r in indices:
            rule = domains[ALL_FUNCTIONS[columns[r]]]
            column = u[copy[0], :, j] if copy else u[..., j]
            total = _sum_text(self.W[(*copy, j)].tolist(), float(self.b[(*copy, j)]), names)
            text = (
                f"applies {ALL_FUNCTIONS[columns[r]]} to its sum u{j} = {total} "
                + rule.reason.format(u=f"u{j}")
            )
            rows = rule.outside(column)
            found[text] = found[text] | rows if text in found else rows
        return [DomainViolation(rows, text) for text, rows in found.items()]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, functions={self.functions}"
