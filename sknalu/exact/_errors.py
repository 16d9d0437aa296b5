"""The errors a network is judged by: per row, per copy, on the held-out rows.

Every error here is a mean squared error measured in evaluation mode, with
not-a-number counted as infinite, so that a diverged copy is never the best one.
A network may hold several *copies* (the estimators' restarts) in batched weights:
:func:`copy_mse` and :func:`per_copy_mse` give one error per copy.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

#: Rows evaluated at once by :func:`row_errors`: bounds the memory of a large
#: held-out set.
_EVALUATION_ROWS = 65536


def weighted_mean(values: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """The mean over the last dimension (the rows), weighted by ``sample_weight`` if given.

    ``sum(sample_weight * values) / sum(sample_weight)``, one weight per row; a row
    of weight 0 does not count, even where its value is infinite.

    Examples
    --------
    >>> import torch
    >>> values = torch.tensor([1.0, 3.0])
    >>> weighted_mean(values), weighted_mean(values, torch.tensor([3.0, 1.0]))
    (tensor(2.), tensor(1.5000))
    """
    if sample_weight is None:
        return values.mean(dim=-1)
    weighted = torch.where(sample_weight > 0, values * sample_weight, 0.0)
    return weighted.sum(dim=-1) / sample_weight.sum()


def mean_square(y: torch.Tensor, sample_weight: torch.Tensor | None = None) -> float:
    """The mean squared target ``y`` (``[n, out]``), its rows weighted if ``sample_weight``.

    The scale of the errors: the relative thresholds of :mod:`._tolerances` are
    fractions of it.
    """
    if sample_weight is None:
        return float(y.square().mean())
    return float(weighted_mean(y.square().mean(dim=-1), sample_weight))


def copy_mse(
    y_pred: torch.Tensor, y_true: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared error of each copy: ``[K, batch, out]`` against ``[batch, out]``.

    A scalar when ``y_pred`` has no copy dimension (a network reduced to one copy).
    With ``sample_weight`` (``[batch]``), the mean over the rows is weighted
    (:func:`weighted_mean`).

    Examples
    --------
    >>> import torch
    >>> copy_mse(torch.tensor([[[1.0], [3.0]], [[2.0], [2.0]]]), torch.tensor([[2.0], [2.0]]))
    tensor([1., 0.])
    """
    if sample_weight is not None:
        return weighted_mean((y_pred - y_true).square().mean(dim=-1), sample_weight)
    if y_pred.dim() == y_true.dim():
        return (y_pred - y_true).square().mean()
    return (y_pred - y_true).square().mean(dim=(-1, -2))


@torch.no_grad()
def row_errors(module: nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared error of each row of ``X``, ``y`` (mean over outputs), in evaluation mode.

    ``[n_copies, n]`` while the network holds several copies, ``[n]`` after
    :meth:`ArithmeticNetwork.keep_copy_`; not-a-number counts as infinite.
    """
    training = module.training
    module.eval()
    try:
        parts = []
        for start in range(0, len(X), _EVALUATION_ROWS):
            Xi, yi = X[start : start + _EVALUATION_ROWS], y[start : start + _EVALUATION_ROWS]
            parts.append((module(Xi) - yi).square().mean(dim=-1))
    finally:
        module.train(training)
    return torch.nan_to_num(torch.cat(parts, dim=-1), nan=math.inf, posinf=math.inf)


@torch.no_grad()
def evaluate_mse(
    module: nn.Module, X: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared error of ``module`` on ``X``, ``y``, in evaluation mode.

    The one held-out error of sknalu: the restart selection, the snap, the saddle
    escape and the benchmark all measure with it (the mean of :func:`row_errors`).
    Not-a-number counts as infinite, so that a diverged copy is never the best one.

    Parameters
    ----------
    module : torch.nn.Module
        The network, with any number of copies.
    X, y : Tensor
        Inputs ``[n, in]`` and targets ``[n, out]``.
    sample_weight : Tensor of shape (n,), optional
        The rows' weights (the fit's ``sample_weight``): the mean is weighted.

    Returns
    -------
    Tensor
        One value per copy while the network holds several, a scalar after
        :meth:`ArithmeticNetwork.keep_copy_`.

    Examples
    --------
    >>> import torch
    >>> from sknalu.units import NAU
    >>> unit = NAU(1, 1)
    >>> _ = unit.W.data.fill_(1.0)
    >>> float(evaluate_mse(unit, torch.ones(4, 1), torch.full((4, 1), 3.0)))
    4.0
    """
    return weighted_mean(row_errors(module, X, y), sample_weight)


def per_copy_mse(
    module: nn.Module, X: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """:func:`evaluate_mse` as one value per copy (``[n_copies]``), also for one kept copy."""
    return evaluate_mse(module, X, y, sample_weight).reshape(-1)


def held_out(dataset_train, dataset_valid):
    """The rows that judge a network: the held-out ones, or the training rows without them."""
    return dataset_valid if dataset_valid is not None else dataset_train


def _scaled(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both divided, per output, by a power of two near the largest ``|y_true|``.

    Dividing by a power of two is exact, so the errors of targets of ordinary size
    are those of the unscaled values to the bit; tiny or huge targets no longer
    underflow or overflow when squared.
    """
    y_true = np.asarray(y_true)
    with np.errstate(all="ignore"):
        largest = np.max(np.abs(y_true), axis=0) if len(y_true) else np.ones(y_true.shape[1:])
    usable = np.isfinite(largest) & (largest > 0)
    _, exponent = np.frexp(np.where(usable, largest, 1.0))
    scale = np.ldexp(np.ones_like(largest, dtype=y_true.dtype), exponent - 1)
    return y_true / scale, np.asarray(y_pred) / scale


def _row_mean(values: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
    """The mean over the rows (axis 0), weighted by ``sample_weight`` if given."""
    if sample_weight is None:
        return np.mean(values, axis=0)
    return np.average(values, axis=0, weights=sample_weight)


def relative_mse(
    y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None
) -> float:
    """The mean squared error over the mean squared target, the largest over the outputs.

    Computed on values scaled by a power of two, so that it neither underflows nor
    overflows; a non-finite prediction gives inf. With ``sample_weight``, both
    means are weighted.

    Examples
    --------
    >>> y = np.array([[1e-300], [2e-300]])
    >>> relative_mse(y, y), relative_mse(y, np.zeros_like(y))
    (0.0, 1.0)
    """
    y_true, y_pred = _scaled(y_true, y_pred.reshape(np.shape(y_true)))
    with np.errstate(all="ignore"):
        mse = _row_mean(np.square(y_pred - y_true), sample_weight)
        mean_square = _row_mean(np.square(y_true), sample_weight)
        ratio = np.where(mean_square > 0, mse / mean_square, np.where(mse == 0, 0.0, np.inf))
    return float(np.nan_to_num(ratio, nan=np.inf).max())


def lowest_r2(
    y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None
) -> float:
    """The coefficient of determination R², the lowest over the outputs.

    An output whose target is constant is measured against its mean square
    instead of its variance; a non-finite prediction gives -inf. With
    ``sample_weight``, the error, the variance and the mean square are weighted,
    as in scikit-learn's ``r2_score``.

    Examples
    --------
    >>> y = np.array([[1.0], [2.0], [3.0]])
    >>> lowest_r2(y, y), lowest_r2(y, np.full_like(y, 2.0))
    (1.0, 0.0)
    """
    y_true, y_pred = _scaled(y_true, y_pred.reshape(y_true.shape))
    with np.errstate(all="ignore"):
        mse = _row_mean(np.square(y_pred - y_true), sample_weight)
        if sample_weight is None:
            variance = np.var(y_true, axis=0)
        else:
            centred = y_true - np.average(y_true, axis=0, weights=sample_weight)
            variance = _row_mean(np.square(centred), sample_weight)
        scale = np.where(variance > 0, variance, _row_mean(np.square(y_true), sample_weight))
        score = np.where(scale > 0, 1 - mse / scale, np.where(mse == 0, 1.0, -np.inf))
    return float(np.nan_to_num(score, nan=-np.inf).min())
