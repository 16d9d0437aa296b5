"""Snapping a trained network's weights onto their discrete values.

A solved network of arithmetic units has weights that are close to, but not exactly
on, the discrete values its formula uses (0 and ±1, or multiples of ½ for the Real NPU).
:class:`SnapWeights` moves them onto those values once training has ended and
keeps the result only if the held-out error does not get worse, so that a solved
model computes exactly its formula while an unsolved one is left alone.

Two linear layers in a row (NAU, NAC+ or Linear) compute one linear map, their
product ``W2 @ W1``, and a sum leaves that product's factors free: a weight of
``a`` may be split between the hidden units in any proportion, so the weights of a
solved sum need not lie near 0 or ±1 at all. :func:`snap_linear_pair_` snaps the
product instead and writes it back as discrete factors.
"""

from __future__ import annotations

import itertools
import math

import torch

from ..units._base import ArithmeticUnit
from ..units._registry import iter_units
from ..units._targets import SIGNED, divided_by_largest, nearest_target
from ._errors import row_errors
from ._least_squares import least_squares
from ._numbers import simple_numbers
from ._tolerances import (
    FITTING,
    NO_WORSE_ATOL,
    NO_WORSE_RTOL,
    SNAP_TOLERANCE,
    no_worse,
    not_significantly_worse,
)

#: Widest hidden layer whose columns :func:`snap_linear_pair_` searches (3**width
#: candidate columns each).
_MAX_PAIR_WIDTH = 8


@torch.no_grad()
def snap_linear_pair_(
    first: ArithmeticUnit,
    second: ArithmeticUnit,
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
    w1, w2 = first.linear_map().detach(), second.linear_map().detach()
    if w1.dim() == 3:
        if w1.shape[0] != 1:
            raise ValueError("snap_linear_pair_ needs layers holding one copy.")
        w1, w2 = w1[0], w2[0]
    n_out, width = w2.shape
    if width > _MAX_PAIR_WIDTH or n_out * width > _MAX_PAIR_WIDTH or w1.shape[0] != width:
        return 0
    product = w2 @ w1 if product is None else product.to(w1)
    rounded = torch.round(product)
    if not bool(((product - rounded).abs() <= tolerance).all()):
        return 0
    values = torch.tensor((-1.0, 0.0, 1.0), dtype=w1.dtype, device=w1.device)
    columns = torch.cartesian_prod(*[values] * width).reshape(-1, width)  # [3^H, H]
    seconds = torch.cartesian_prod(*[values] * (n_out * width)).reshape(-1, n_out, width)
    # Try the discrete second layers nearest to the trained one first.
    for w2_new in seconds[(seconds - w2).square().sum((1, 2)).argsort()]:
        images = columns @ w2_new.T  # [3^H, out]: what each column of W1 gives
        matches = (images.unsqueeze(1) == rounded.T.unsqueeze(0)).all(-1)  # [3^H, in]
        if bool(matches.any(0).all()):
            break
    else:
        return 0
    distance = (columns.unsqueeze(1) - w1.T.unsqueeze(0)).square().sum(-1)  # [3^H, in]
    w1_new = columns[distance.masked_fill(~matches, math.inf).argmin(0)].T.contiguous()
    moved = int((w1_new != w1).sum() + (w2_new != w2).sum())
    if moved:
        first.load_linear_map_(w1_new)
        second.load_linear_map_(w2_new)
    return moved


def saved_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``module``'s weights for ``load_state_dict``: each tensor cloned,
    without :func:`copy.deepcopy`'s bookkeeping, which costs more than the copies."""
    return {name: value.clone() for name, value in module.state_dict().items()}


@torch.no_grad()
def snap_network_(
    module: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    tolerance: float = SNAP_TOLERANCE,
    rtol: float = NO_WORSE_RTOL,
    atol: float = NO_WORSE_ATOL,
    closed_form: bool = True,
) -> tuple[int, float, float]:
    """Snap a one-copy network's weights where that does not make its error worse.

    First every unit's :meth:`~sknalu.units.ArithmeticUnit.snap_` moves the
    weights within ``tolerance`` of a discrete value onto it; then, where two linear
    layers follow each other, :func:`snap_linear_pair_` snaps their product. When
    the network is just such a pair and not yet exact, the least-squares linear map
    of ``X``, ``y``, rounded to integers, is tried as the product too: the map a
    sum with integer coefficients converges to, reached without waiting for
    training to converge. Last, while the network is not exact, its last layer
    solves for its discrete weights from what the earlier layers compute
    (:meth:`~sknalu.units.ArithmeticUnit.refit_`): the exponents of a product or
    quotient, or the coefficients of a sum, found as soon as the earlier layers
    are right; and again with the earlier layers rounded to their nearest discrete
    values first, however far they are, and with the linear ones rounded after
    each row is divided by its largest weight (a product or quotient leaves the
    scale of the sums it multiplies free). A linear layer followed by a product
    unit is also solved as a whole where the formula is a power or a ratio of
    sums (:meth:`~sknalu.units.ArithmeticUnit.refit_with_linear_`); failing all
    that, the symmetric point of a product of two sums (both hidden units the
    least-squares fit of ``sqrt(y)``) is written where it fits better, a start
    from which the saddle escape leaves at once. A network
    that is then exact has
    every weight moved onto its nearest discrete value, which settles the
    weights that no longer matter (those into a hidden unit that the next layer
    leaves out). Each step is kept only if
    the mean squared error on ``X``, ``y`` stays :func:`no_worse` than before it,
    or, for a network whose error is below 1% of the mean squared target, rises by
    at most 10% and not significantly (by less than two standard errors of the
    rows' paired differences: on noisy targets a network that has fitted some
    noise can beat the right formula on a few rows); otherwise its weights are
    restored.

    Parameters
    ----------
    module : ArithmeticNetwork
        A network holding one copy; changed in place.
    X, y : Tensor
        The rows that judge, usually held out.
    tolerance, rtol, atol : float
        As for :class:`SnapWeights`.
    closed_form : bool, default=True
        Whether to try the closed-form solution of a linear layer and a product
        unit together. It depends on ``X`` and ``y`` only, not on the trained
        weights, so trying it once per fit is enough.

    Returns
    -------
    n_moved : int
        Number of weights moved and kept moved.
    loss_before, loss_after : float
        The error before and after.
    """
    rows = row_errors(module, X, y)
    before = float(rows.mean())
    after, n_moved = before, 0
    scale = float(y.square().mean())

    def attempt(snap, refit_constants: bool = True) -> None:
        nonlocal after, n_moved, rows
        state = saved_state(module)
        moved = snap()
        if moved == 0:
            return
        if constants and refit_constants:
            # New weights of the units, new constants.
            module.fit_constants_(X, y, offset=True)
        new_rows = row_errors(module, X, y)
        loss = float(new_rows.mean())
        fitting = after <= FITTING * scale  # only a nearly fitted network has noise to fit
        if no_worse(loss, after, scale, rtol, atol) or (
            fitting and not_significantly_worse(new_rows, rows)
        ):
            n_moved += moved
            after, rows = loss, new_rows
        else:
            module.load_state_dict(state)

    constants = bool(getattr(module, "constants", False))
    units = list(iter_units(module))
    attempt(lambda: sum(unit.snap_(tolerance) for unit in units))
    layers = list(getattr(module, "layers", ()))
    pairs = [
        (first, second)
        for first, second in itertools.pairwise(layers)
        if first.linear_map() is not None and second.linear_map() is not None
    ]
    if pairs:
        attempt(lambda: sum(snap_linear_pair_(a, b, tolerance) for a, b in pairs))

    def exact() -> bool:
        return after <= atol * scale

    def refit_last() -> int:
        return layers[-1].refit_(_last_layer_input(module, X), y, tolerance)

    def round_then_refit(round_layer):
        def step() -> int:
            return sum(round_layer(layer) for layer in layers[:-1]) + refit_last()

        return step

    # A linear layer followed by a product unit: solved together in closed form.
    joint = closed_form and len(layers) == 2 and not pairs and layers[0].linear_map() is not None
    if len(layers) == 2 and len(pairs) == 1 and not exact():
        # The whole network is one linear map: the data's least-squares map, rounded,
        # is the exact one when the data follow a sum with integer coefficients.
        product = least_squares(X, y)
        if product is not None:
            attempt(lambda: snap_linear_pair_(*layers, tolerance, product))
    if layers and not exact():
        # The earlier layers may be right while the last is not yet: it solves for
        # its discrete weights from what they compute, where it can.
        attempt(refit_last)
    if joint and not exact():
        # A power or a ratio of sums.
        attempt(lambda: layers[1].refit_with_linear_(layers[0], X, y, tolerance))
    if len(layers) > 1 and not exact():
        # The same with every earlier layer rounded to its nearest discrete values,
        # however far: a network near, but not yet at, the right structure.
        attempt(round_then_refit(lambda layer: layer.snap_(math.inf)))
    if len(layers) > 1 and not exact():
        # A product or quotient does not fix the scale of the sums it multiplies:
        # (c a) / (c b) is a / b. Linear layers are rounded after each row is
        # divided by its largest weight.
        attempt(round_then_refit(_round_normalized_))
    if joint and not exact():
        # Not a formula but a start: a product of two sums first converges to its
        # symmetric point, a saddle; written at once when it fits better.
        attempt(lambda: layers[1].refit_with_linear_(layers[0], X, y, tolerance, start=True))
    if exact() and constants:
        # With a constant factor, a product does not fix the scale of the sums it
        # multiplies even when exact: (c a)(b) / c is a b.
        attempt(lambda: sum(_round_normalized_(layer) for layer in layers))
    if exact():
        # Exact: weights that no longer matter (those into a hidden unit that the
        # next layer leaves out) may be anywhere; every weight moves onto its
        # nearest discrete value, kept if the error stays at rounding level.
        attempt(lambda: sum(unit.snap_(math.inf) for unit in units))
    if constants:
        # The simplest constants the rows allow: none, then (for a network that fits
        # but for noise) simple numbers.
        steps = [lambda: _write_(module.offset, 0.0), lambda: _write_(module.scale, 1.0)]
        if after <= FITTING * scale:
            steps += [
                lambda param=param, relative=relative: _write_(
                    param, simple_numbers(param, relative)
                )
                for relative in (1e-12, 1e-9, 1e-6)
                for param in (module.scale, module.offset)
            ]
        for step in steps:
            attempt(step, refit_constants=False)
    return n_moved, before, after


@torch.no_grad()
def _write_(param: torch.Tensor, value) -> int:
    """Write ``value`` (a number or a tensor) into ``param``; the entries changed."""
    new = torch.as_tensor(value, dtype=param.dtype, device=param.device).expand_as(param)
    moved = int((new != param).sum())
    param.copy_(new)
    return moved


@torch.no_grad()
def _round_normalized_(layer: ArithmeticUnit) -> int:
    """Round a linear layer's rows, each divided by its largest weight (sign kept)."""
    weight = layer.linear_map()
    if weight is None:
        return 0
    weight = weight.detach()
    rounded = nearest_target(divided_by_largest(weight), SIGNED)
    moved = int((rounded != weight).sum())
    if moved:
        layer.load_linear_map_(rounded)
    return moved


@torch.no_grad()
def _last_layer_input(module: torch.nn.Module, X: torch.Tensor) -> torch.Tensor:
    """What the last layer of a one-copy network receives for ``X``, in evaluation mode."""
    training = module.training
    module.eval()
    try:
        for layer in module.layers[:-1]:
            X = layer(X)
    finally:
        module.train(training)
    return X


def _held_out(dataset_train, dataset_valid):
    return dataset_valid if dataset_valid is not None else dataset_train
