"""Least-squares solutions of a unit's weights from its inputs and outputs.

A sum's weights are the least-squares map of its inputs onto its outputs
(:func:`least_squares`), a product's exponents the least-squares map of the
logarithms (:func:`log_least_squares`); rows holding inf or NaN are left out
(:func:`finite_rows`), and so are rows of weight 0 where the rows are weighted
(:func:`usable_rows`: weighted least squares multiplies each row by the square
root of its weight); a power is undone by its real root (:func:`real_root`).
The units' ``refit_`` and ``refit_with_linear_`` round these solutions to their
discrete values.
"""

from __future__ import annotations

import torch


def finite_rows(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` and ``y`` as ``[n, in]`` and ``[n, out]``, without rows holding inf or NaN."""
    x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    keep = torch.isfinite(x).all(1) & torch.isfinite(y).all(1)
    return x[keep], y[keep]


def usable_rows(
    x: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """:func:`finite_rows`, and the rows' weights (``[n]``, or None), without rows of weight 0."""
    if sample_weight is None:
        return (*finite_rows(x, y), None)
    x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    sample_weight = sample_weight.reshape(-1).to(x)
    keep = torch.isfinite(x).all(1) & torch.isfinite(y).all(1) & (sample_weight > 0)
    return x[keep], y[keep], sample_weight[keep]


def _root_weighted(
    x: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` and ``y`` with each row times the square root of its weight (as they are
    without weights): their least squares is the weighted least squares of ``x``, ``y``."""
    if sample_weight is None:
        return x, y
    root = sample_weight.sqrt().unsqueeze(-1)
    return x * root, y * root


def least_squares(
    x: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor | None:
    """The matrix ``C`` (``[out, in]``) that minimises ``|x Cᵀ - y|²``; None with too few rows.

    With ``sample_weight`` (one per row), the weighted sum of the rows' squared errors:
    each row is multiplied by the square root of its weight, and rows of weight 0
    are left out.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.0, 2.0], [3.0, 5.0], [2.0, 1.0]], dtype=torch.float64)
    >>> least_squares(x, x[:, :1] - x[:, 1:]).round(decimals=9)
    tensor([[ 1., -1.]], dtype=torch.float64)
    """
    x, y, sample_weight = usable_rows(x, y, sample_weight)
    if len(x) <= x.shape[1]:
        return None
    return torch.linalg.lstsq(*_root_weighted(x, y, sample_weight)).solution.T


def log_least_squares(
    x: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor | None:
    """The exponents ``E`` (``[out, in]``) of ``|y| ≈ Π |x|^E`` by least squares in logarithms.

    Fitted on the rows where no input and no target is zero; None with too few.
    With ``sample_weight``, the rows' squared errors in logarithms are weighted.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.5, 2.0], [3.0, 5.0], [2.0, 1.25]], dtype=torch.float64)
    >>> log_least_squares(x, x[:, :1] / x[:, 1:]).round(decimals=9)
    tensor([[ 1., -1.]], dtype=torch.float64)
    """
    x, y, sample_weight = usable_rows(x, y, sample_weight)
    keep = (x != 0).all(1) & (y != 0).all(1)
    x, y = x[keep], y[keep]
    sample_weight = None if sample_weight is None else sample_weight[keep]
    if len(x) <= x.shape[1]:
        return None
    return torch.linalg.lstsq(
        *_root_weighted(x.abs().log(), y.abs().log(), sample_weight)
    ).solution.T


def real_root(y: torch.Tensor, power: float) -> torch.Tensor | None:
    """``z`` with ``z ** power == y``: the real root, the positive one for even
    powers; None where none exists for some row.

    Examples
    --------
    >>> import torch
    >>> real_root(torch.tensor([-8.0, 27.0]), 3), real_root(torch.tensor([-4.0]), 2)
    (tensor([-2.,  3.]), None)
    """
    odd_integer = power == round(power) and round(power) % 2 == 1
    if odd_integer:
        return torch.sign(y) * y.abs() ** (1.0 / power)
    if bool((y < 0).any()):
        return None
    return y ** (1.0 / power)
