"""Snapping a trained one-copy network's weights onto their discrete values.

:func:`snap_network_` is a list of steps, each a function below that moves some
weights onto discrete values (or the network's constants onto simple numbers) and
hands the change to the held-out check of :class:`_SnapRun`, which keeps it only if
the error on the rows that judge does not get worse, and otherwise restores the
weights: a solved network then computes exactly its formula while an unsolved one
is left alone.

Two linear layers in a row (NAU, NAC+ or Linear) compute one linear map, their
product ``W2 @ W1``, and a sum leaves that product's factors free: a weight of
``a`` may be split between the hidden units in any proportion, so the weights of a
solved sum need not lie near 0 or ±1 at all. :func:`snap_linear_pair_` snaps the
product instead and writes it back as discrete factors.

The network is reached through its own interface only (duck typing):
``arithmetic_units()``, ``layers``, ``constants`` and ``fit_constants_`` of
:class:`~sknalu.ArithmeticNetwork`, and the units' ``snap_``, ``linear_map``,
``load_linear_map_``, ``refit_`` and ``refit_with_linear_``.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable

import torch
from torch import nn

from ._errors import mean_square, row_errors
from ._least_squares import least_squares
from ._numbers import SIGNED, divided_by_largest, nearest_value, simple_numbers
from ._tolerances import (
    FITTING,
    NO_WORSE_ATOL,
    NO_WORSE_RTOL,
    SIMPLE_RELATIVE_STEPS,
    SNAP_TOLERANCE,
    no_worse,
    not_significantly_worse,
)

#: Widest hidden layer whose columns :func:`snap_linear_pair_` searches (3**width
#: candidate columns each), and most weights of its second layer.
_MAX_PAIR_WIDTH = 8


@torch.no_grad()
def snap_linear_pair_(
    first: nn.Module,
    second: nn.Module,
    tolerance: float = SNAP_TOLERANCE,
    product: torch.Tensor | None = None,
) -> int:
    """Snap the linear map of two linear layers and write it back as discrete weights.

    The layers compute ``y = W2 @ W1 @ x``. When the product ``C = W2 @ W1`` lies
    within ``tolerance`` of integers, it is rounded and written back as ``W2`` and
    ``W1`` with every weight in {-1, 0, 1}: ``W2`` is the matrix of such values
    nearest to the trained one for which every column of the rounded ``C`` is
    ``W2`` times some column of {-1, 0, 1} values, and each column of ``W1`` is the
    nearest such column. The pair then computes the rounded map exactly. Nothing
    changes when ``C`` is not near integers, when no such ``W2`` exists, or when
    the layers are too large to search (more than 8 hidden units, or more than 8
    weights in ``W2``).

    Parameters
    ----------
    first, second : ArithmeticUnit
        Consecutive layers whose :meth:`~sknalu.units.ArithmeticUnit.linear_map`
        is not None (NAU, NAC+, Linear), holding one copy (or none).
    tolerance : float, default=SNAP_TOLERANCE
        Largest distance of ``C`` from the integers.
    product : Tensor of shape (out, in), optional
        The map to write instead of ``W2 @ W1``, e.g. a least-squares fit of the
        data (see :func:`snap_network_`).

    Returns
    -------
    int
        Number of weights changed (0 when nothing changed).

    Examples
    --------
    ``a + b`` with ``a``'s weight split between the two hidden units:

    >>> import torch
    >>> from sknalu.units import NAU
    >>> first, second = NAU(2, 2), NAU(2, 1)
    >>> with torch.no_grad():
    ...     _ = first.W.copy_(torch.tensor([[0.3, 0.02], [0.71, 0.99]]))
    ...     _ = second.W.copy_(torch.tensor([[1.0, 0.99]]))
    >>> snap_linear_pair_(first, second)
    5
    >>> first.weight.detach(), second.weight.detach()
    (tensor([[0., 0.],
            [1., 1.]]), tensor([[1., 1.]]))
    """
    w1, w2 = _one_copy_maps(first, second)
    n_out, width = w2.shape
    if width > _MAX_PAIR_WIDTH or n_out * width > _MAX_PAIR_WIDTH or w1.shape[0] != width:
        return 0
    product = w2 @ w1 if product is None else product.to(w1)
    rounded = torch.round(product)
    if not bool(((product - rounded).abs() <= tolerance).all()):
        return 0
    factors = _discrete_factors(w1, w2, rounded)
    if factors is None:
        return 0
    w1_new, w2_new = factors
    moved = int((w1_new != w1).sum() + (w2_new != w2).sum())
    if moved:
        first.load_linear_map_(w1_new)
        second.load_linear_map_(w2_new)
    return moved


def _one_copy_maps(first: nn.Module, second: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The linear maps ``W1``, ``W2`` of two layers holding one copy (or none), as matrices."""
    w1, w2 = first.linear_map().detach(), second.linear_map().detach()
    if w1.dim() == 3:
        if w1.shape[0] != 1:
            raise ValueError("snap_linear_pair_ needs layers holding one copy.")
        w1, w2 = w1[0], w2[0]
    return w1, w2


def _discrete_factors(
    w1: torch.Tensor, w2: torch.Tensor, rounded: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``W1``, ``W2`` in {-1, 0, 1} with ``W2 @ W1 == rounded``, nearest to ``w1``, ``w2``.

    ``W2`` is the nearest for which every column of ``rounded`` is ``W2`` times
    some column of {-1, 0, 1} values, each column of ``W1`` the nearest such
    column; None when no ``W2`` has that property.
    """
    n_out, width = w2.shape
    values = torch.tensor(SIGNED, dtype=w1.dtype, device=w1.device)
    columns = torch.cartesian_prod(*[values] * width).reshape(-1, width)  # [3^H, H]
    seconds = torch.cartesian_prod(*[values] * (n_out * width)).reshape(-1, n_out, width)
    # Try the discrete second layers nearest to the trained one first.
    for w2_new in seconds[(seconds - w2).square().sum((1, 2)).argsort()]:
        images = columns @ w2_new.T  # [3^H, out]: what each column of W1 gives
        matches = (images.unsqueeze(1) == rounded.T.unsqueeze(0)).all(-1)  # [3^H, in]
        if bool(matches.any(0).all()):
            break
    else:
        return None
    distance = (columns.unsqueeze(1) - w1.T.unsqueeze(0)).square().sum(-1)  # [3^H, in]
    w1_new = columns[distance.masked_fill(~matches, math.inf).argmin(0)].T.contiguous()
    return w1_new, w2_new


def saved_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``module``'s weights for ``load_state_dict``: each tensor cloned,
    without :func:`copy.deepcopy`'s bookkeeping, which costs more than the copies."""
    return {name: value.clone() for name, value in module.state_dict().items()}


class _SnapRun:
    """One snap of a one-copy network: the rows that judge it and its error so far.

    Every step of :func:`snap_network_` passes its change to :meth:`attempt`, the
    held-out check. The attributes tell the steps what they act on: ``units`` (every
    arithmetic unit), ``layers``, ``pairs`` (consecutive linear layers), and
    ``joint``: whether the network is a linear layer followed by a unit that is
    not linear, the two to be solved together in closed form (with ``closed_form``).
    With ``sample_weight`` (the rows' weights), every error, the scale and every
    least-squares solution weigh the rows.
    """

    def __init__(
        self, module, X, y, tolerance, rtol, atol, closed_form, sample_weight=None
    ) -> None:
        self.module, self.X, self.y, self.sample_weight = module, X, y, sample_weight
        self.tolerance, self.rtol, self.atol = tolerance, rtol, atol
        # Each row's error times its weight over the mean weight: their mean is the
        # weighted mean error, row by row as the noise test compares them.
        self.row_weight = None if sample_weight is None else sample_weight / sample_weight.mean()
        self.rows = self._row_errors()
        self.before = self.after = float(self.rows.mean())
        self.n_moved = 0
        self.scale = mean_square(y, sample_weight)
        self.constants = bool(getattr(module, "constants", False))
        self.units = module.arithmetic_units()
        self.layers = list(getattr(module, "layers", ()))
        self.pairs = [
            (first, second)
            for first, second in itertools.pairwise(self.layers)
            if first.linear_map() is not None and second.linear_map() is not None
        ]
        self.joint = (
            closed_form
            and len(self.layers) == 2
            and not self.pairs
            and self.layers[0].linear_map() is not None
        )

    def _row_errors(self) -> torch.Tensor:
        """Each row's squared error, weighted (:attr:`row_weight`) where the rows are."""
        rows = row_errors(self.module, self.X, self.y)
        if self.row_weight is None:
            return rows
        return torch.where(self.row_weight > 0, rows * self.row_weight, 0.0)

    def _weighted(self) -> dict:
        """``sample_weight=`` for the units' refits, only for weighted rows: a unit of
        one's own whose refits take no weights still snaps an unweighted fit."""
        return {} if self.sample_weight is None else {"sample_weight": self.sample_weight}

    @property
    def exact(self) -> bool:
        """Whether the error is at rounding level."""
        return self.after <= self.atol * self.scale

    @property
    def fitting(self) -> bool:
        """Whether the network fits the rows but for noise (and so has noise to fit)."""
        return self.after <= FITTING * self.scale

    def attempt(self, step: Callable[[], int], refit_constants: bool = True) -> None:
        """Run ``step`` (which returns the weights it moved) and keep it if no worse.

        Kept when the mean squared error on the rows stays :func:`no_worse` than
        before it, or, for a :attr:`fitting` network, rises by at most 10% and not
        significantly (:func:`not_significantly_worse`: on noisy targets a network
        that has fitted some noise can beat the right formula on a few rows);
        otherwise the weights are restored. With ``refit_constants``, a network
        with constants first fits them to the new weights.
        """
        state = saved_state(self.module)
        moved = step()
        if moved == 0:
            return
        if self.constants and refit_constants:
            self.module.fit_constants_(
                self.X, self.y, offset=True, sample_weight=self.sample_weight
            )
        rows = self._row_errors()
        loss = float(rows.mean())
        if no_worse(loss, self.after, self.scale, self.rtol, self.atol) or (
            self.fitting and not_significantly_worse(rows, self.rows)
        ):
            self.n_moved += moved
            self.after, self.rows = loss, rows
        else:
            self.module.load_state_dict(state)

    def refit_last_layer(self) -> int:
        """The last layer solves for its discrete weights from what the others compute."""
        inputs = _last_layer_input(self.module, self.X)
        return self.layers[-1].refit_(inputs, self.y, self.tolerance, **self._weighted())

    def solve_jointly(self, start: bool = False) -> int:
        """The linear first layer and the second solved together (``refit_with_linear_``)."""
        first, second = self.layers
        return second.refit_with_linear_(
            first, self.X, self.y, self.tolerance, start=start, **self._weighted()
        )


@torch.no_grad()
def snap_network_(
    module: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    tolerance: float = SNAP_TOLERANCE,
    rtol: float = NO_WORSE_RTOL,
    atol: float = NO_WORSE_ATOL,
    closed_form: bool = True,
    sample_weight: torch.Tensor | None = None,
) -> tuple[int, float, float]:
    """Snap a one-copy network's weights where that does not make its error worse.

    The steps, in order, each kept only if the error on ``X``, ``y`` does not get
    worse (see :meth:`_SnapRun.attempt`; otherwise its weights are restored):

    1. :func:`_snap_each_unit`: every weight within ``tolerance`` of a discrete
       value moves onto it;
    2. :func:`_snap_linear_pairs`: two linear layers in a row are snapped
       through their product (:func:`snap_linear_pair_`);
    3. while the network is not exact, the closed-form solutions:
       :func:`_round_least_squares_map` (a network that is one linear map),
       :func:`_refit_last_layer`, :func:`_solve_power_or_ratio` (a linear layer
       and a product unit), :func:`_round_then_refit` (the earlier layers
       rounded first) and :func:`_write_symmetric_start` (not a formula but the
       saddle of a product of two sums, which the saddle escape leaves at once);
    4. :func:`_settle_exact_weights`: once exact, every weight moves onto its
       nearest discrete value, which settles the weights that no longer matter;
    5. :func:`_simplify_constants`: the network's constants become none where
       the rows allow, then simple numbers.

    Parameters
    ----------
    module : ArithmeticNetwork
        A network holding one copy; changed in place.
    X, y : Tensor
        The rows that judge, usually held out.
    tolerance, rtol, atol : float
        As for :class:`~sknalu.training._callbacks.SnapWeights`.
    closed_form : bool, default=True
        Whether to try the closed-form solution of a linear layer and a product
        unit together. It depends on ``X`` and ``y`` only, not on the trained
        weights, so trying it once per fit is enough.
    sample_weight : Tensor of shape (n,), optional
        The rows' weights (the fit's ``sample_weight``): the errors are weighted
        means, and the least-squares refits weigh each row.

    Returns
    -------
    n_moved : int
        Number of weights moved and kept moved.
    loss_before, loss_after : float
        The error before and after.
    """
    run = _SnapRun(module, X, y, tolerance, rtol, atol, closed_form, sample_weight)
    _snap_each_unit(run)
    _snap_linear_pairs(run)
    _round_least_squares_map(run)
    _refit_last_layer(run)
    _solve_power_or_ratio(run)
    _round_then_refit(run)
    _write_symmetric_start(run)
    _settle_exact_weights(run)
    _simplify_constants(run)
    return run.n_moved, run.before, run.after


def _snap_each_unit(run: _SnapRun) -> None:
    """Every unit's ``snap_`` moves its weights within the tolerance onto their values."""
    run.attempt(lambda: sum(unit.snap_(run.tolerance) for unit in run.units))


def _snap_linear_pairs(run: _SnapRun) -> None:
    """Consecutive linear layers are snapped through their product."""
    if run.pairs:
        run.attempt(lambda: sum(snap_linear_pair_(a, b, run.tolerance) for a, b in run.pairs))


def _round_least_squares_map(run: _SnapRun) -> None:
    """A network that is one linear map gets the data's least-squares map, rounded.

    That is the exact map when the data follow a sum with integer coefficients: the
    map such a sum converges to, reached without waiting for training to converge.
    """
    if len(run.layers) == 2 and len(run.pairs) == 1 and not run.exact:
        product = least_squares(run.X, run.y, run.sample_weight)
        if product is not None:
            run.attempt(lambda: snap_linear_pair_(*run.layers, run.tolerance, product))


def _refit_last_layer(run: _SnapRun) -> None:
    """The last layer solves for its discrete weights from what the earlier ones compute.

    The exponents of a product or quotient, or the coefficients of a sum, found as
    soon as the earlier layers are right, where the unit can (``refit_``).
    """
    if run.layers and not run.exact:
        run.attempt(run.refit_last_layer)


def _solve_power_or_ratio(run: _SnapRun) -> None:
    """A linear layer and a product unit solved together: a power or a ratio of sums."""
    if run.joint and not run.exact:
        run.attempt(run.solve_jointly)


def _round_then_refit(run: _SnapRun) -> None:
    """The earlier layers rounded, then the last layer refitted, in two ways.

    First every earlier layer goes to its nearest discrete values, however far: a
    network near, but not yet at, the right structure. Then the linear layers are
    rounded after each row is divided by its largest weight: a product or quotient
    does not fix the scale of the sums it multiplies, ``(c a) / (c b)`` is ``a / b``.
    """
    for round_layer in (lambda layer: layer.snap_(math.inf), _round_normalized_):
        if len(run.layers) > 1 and not run.exact:
            run.attempt(functools.partial(_round_earlier_then_refit_, run, round_layer))


def _round_earlier_then_refit_(run: _SnapRun, round_layer: Callable[[nn.Module], int]) -> int:
    """``round_layer`` on every layer but the last, then :meth:`_SnapRun.refit_last_layer`."""
    return sum(round_layer(layer) for layer in run.layers[:-1]) + run.refit_last_layer()


def _write_symmetric_start(run: _SnapRun) -> None:
    """Not a formula but a start: the symmetric point of a product of two sums.

    Training a product of two sums first converges to this saddle (both hidden
    units the least-squares fit of ``sqrt(y)``); written at once where it fits
    better, it is a start from which the saddle escape leaves at once.
    """
    if run.joint and not run.exact:
        run.attempt(functools.partial(run.solve_jointly, start=True))


def _settle_exact_weights(run: _SnapRun) -> None:
    """In an exact network, every weight moves onto its nearest discrete value.

    Weights that no longer matter (those into a hidden unit that the next layer
    leaves out) may be anywhere; kept if the error stays at rounding level. With a
    constant factor, a product does not fix the scale of the sums it multiplies
    even when exact (``(c a)(b) / c`` is ``a b``): the linear layers are first
    rounded after each row is divided by its largest weight.
    """
    if run.exact and run.constants:
        run.attempt(lambda: sum(_round_normalized_(layer) for layer in run.layers))
    if run.exact:
        run.attempt(lambda: sum(unit.snap_(math.inf) for unit in run.units))


def _simplify_constants(run: _SnapRun) -> None:
    """The simplest constants the rows allow: none, then simple numbers.

    The additive constant becomes 0 and the factor 1; then, for a network that fits
    but for noise, each constant moves onto the simple number near it
    (:func:`~sknalu.exact._numbers.simple_numbers`), at each tolerance of
    :data:`~sknalu.exact._tolerances.SIMPLE_RELATIVE_STEPS` in turn. The constants
    are not refitted after these steps.
    """
    if not run.constants:
        return
    module = run.module
    steps = [functools.partial(_write_, module.offset, 0.0)]
    steps.append(functools.partial(_write_, module.scale, 1.0))
    if run.fitting:  # judged before the first step
        steps += [
            functools.partial(_write_simple_, param, relative)
            for relative in SIMPLE_RELATIVE_STEPS
            for param in (module.scale, module.offset)
        ]
    for step in steps:
        run.attempt(step, refit_constants=False)


@torch.no_grad()
def _write_(param: torch.Tensor, value) -> int:
    """Write ``value`` (a number or a tensor) into ``param``; the entries changed."""
    new = torch.as_tensor(value, dtype=param.dtype, device=param.device).expand_as(param)
    moved = int((new != param).sum())
    param.copy_(new)
    return moved


def _write_simple_(param: torch.Tensor, relative: float) -> int:
    """Move every entry of ``param`` onto the simple number near it; the entries changed."""
    return _write_(param, simple_numbers(param, relative))


@torch.no_grad()
def _round_normalized_(layer: nn.Module) -> int:
    """Round a linear layer's rows, each divided by its largest weight (sign kept)."""
    weight = layer.linear_map()
    if weight is None:
        return 0
    weight = weight.detach()
    rounded = nearest_value(divided_by_largest(weight), SIGNED)
    moved = int((rounded != weight).sum())
    if moved:
        layer.load_linear_map_(rounded)
    return moved


@torch.no_grad()
def _last_layer_input(module: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """What the last layer of a one-copy network receives for ``X``, in evaluation mode."""
    training = module.training
    module.eval()
    try:
        for layer in module.layers[:-1]:
            X = layer(X)
    finally:
        module.train(training)
    return X
