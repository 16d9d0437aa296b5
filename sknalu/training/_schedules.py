"""Schedules over optimiser steps: the sparsity regulariser's and the learning rate's."""

from __future__ import annotations

import math


def regularizer_scale(step: int, start: int, end: int) -> float:
    """The linear regulariser schedule ``s(t)`` of Madsen & Johansen (2020).

    ``s(t) = max(0, min(1, (t - start) / (end - start)))``; a step function at
    ``start`` when ``end <= start``.

    Examples
    --------
    >>> regularizer_scale(0, 1000, 2000), regularizer_scale(1500, 1000, 2000)
    (0.0, 0.5)
    >>> regularizer_scale(5000, 1000, 2000)
    1.0
    """
    if end <= start:
        return float(step >= start)
    return max(0.0, min(1.0, (step - start) / (end - start)))


#: The learning-rate schedules, by name; see :func:`lr_factor`.
LR_SCHEDULES = ("constant", "cosine", "cosine_tail")
#: Share of the steps over which ``"cosine_tail"`` lowers the learning rate.
COSINE_TAIL = 0.3


def lr_factor(schedule: str, step: int, max_steps: int) -> float:
    """The learning rate at ``step``, as a fraction of the initial one.

    ``"constant"``: 1. ``"cosine"``: half a cosine from 1 at the first step to 0
    at ``max_steps``. ``"cosine_tail"``: 1 for the first 70% of the steps, then
    half a cosine to 0 over the last 30%, so that the weights settle where the
    constant rate has taken them.

    Examples
    --------
    >>> lr_factor("cosine", 500, 1000)
    0.5
    >>> lr_factor("cosine_tail", 500, 1000), lr_factor("cosine_tail", 850, 1000)
    (1.0, 0.5)
    """
    if schedule == "constant":
        return 1.0
    start = 0 if schedule == "cosine" else round((1 - COSINE_TAIL) * max_steps)
    if step <= start:
        return 1.0
    progress = min(1.0, (step - start) / max(1, max_steps - start))
    return 0.5 * (1 + math.cos(math.pi * progress))
