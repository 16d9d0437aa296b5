"""The success threshold: the test error of a "nearly perfect" network.

Madsen & Johansen (2020, section 4.1) call a model solved when its test-range mean
squared error is below that of the exact network with every first-layer weight
moved by ``ε`` towards the inside of ``[0, 1]`` (0 → ε, 1 → 1 − ε), the second
layer left exact, estimated by Monte-Carlo.

The exact network of each operation has a first layer of two hidden units (rows of
``W1``) and a second layer that combines them:

========  ======================  ===============================================
op        first layer (rows)      second layer (exact)
========  ======================  ===============================================
add       ``a``, ``b``            NAU ``[1, 1]``: ``h1 + h2``
sub       ``a``, ``b``            NAU ``[1, -1]``: ``h1 - h2``
mul       ``a``, ``b``            NMU ``[1, 1]``: ``h1 · h2``
div       ``a``, ``b``            NAC• ``[1, -1]``: ``h1 / h2``
square    ``a``, ``a``            NMU ``[1, 1]``: ``h1 · h2 = a²``
sqrt      ``a``, ``b``            power ``[1/2, 0]``: ``√h1`` (``h2`` unused)
========  ======================  ===============================================

A row "selects" a subset: 1 on its indices, 0 elsewhere. This is the reference
script of Madsen & Johansen (``function_task_static_mse_expectation.r``), which
computes ``h = X W1ᵀ`` and then the operation of ``h1`` and ``h2``. For ``square``
both hidden units carry ``a``, perturbed identically, so ``h1 · h2 = h1²`` exactly
as the reference's ``Z1 · Z1``. The inputs are iid, so the threshold does not depend
on where the subsets lie; it is computed at offset 0.
"""

from __future__ import annotations

import functools

import numpy as np
from sklearn.utils import check_random_state

from ._task import OPS, ArithmeticTask, ValueRange, apply_op, check_op

__all__ = [
    "PUBLISHED_THRESHOLDS",
    "exact_first_layer",
    "success_threshold",
]

#: Thresholds published by Madsen & Johansen (2020) for the test range U[2, 6]. Their
#: script summed 26-element subsets overlapping by 13 (an off-by-one of R's
#: inclusive ranges), so these are the thresholds of ``subset_size=26, overlap=13``.
PUBLISHED_THRESHOLDS: dict[str, float] = {
    "add": 1.4786e-5,
    "sub": 1.3844e-8,
    "mul": 0.16001,
    "div": 4.938e-12,
    "square": 0.15947,
    "sqrt": 8.955e-9,
}

#: Rows drawn at once in the Monte-Carlo estimate: bounds memory to ~40 MB at 100 inputs.
_CHUNK_ROWS = 50_000


def exact_first_layer(task: ArithmeticTask, epsilon: float = 0.0) -> np.ndarray:
    """The first-layer weights ``W1`` of the exact network of a task.

    Parameters
    ----------
    task : ArithmeticTask
        The task; its operation decides what the two rows select (see the module
        docstring).
    epsilon : float, default=0.0
        Every 0 becomes ``epsilon`` and every 1 becomes ``1 - epsilon``.

    Returns
    -------
    ndarray of shape (2, input_size)
        ``W1``; hidden unit ``j`` is ``x @ W1[j]``.

    Examples
    --------
    >>> W = exact_first_layer(ArithmeticTask("add", input_size=6, subset_size=2, overlap=1))
    >>> W
    array([[1., 1., 0., 0., 0., 0.],
           [0., 1., 1., 0., 0., 0.]])
    >>> exact_first_layer(ArithmeticTask("square", input_size=4, subset_size=2, overlap=1), 0.1)
    array([[0.9, 0.9, 0.1, 0.1],
           [0.9, 0.9, 0.1, 0.1]])
    """
    W = np.full((2, task.input_size), float(epsilon))
    W[0, task.a_slice] = 1.0 - epsilon
    W[1, task.a_slice if task.op == "square" else task.b_slice] = 1.0 - epsilon
    return W


def _exact_second_layer(op: str, h: np.ndarray) -> np.ndarray:
    # Every second layer of the table computes the operation of the two hidden units,
    # except square, whose two hidden units are both ``a``: h1 · h2.
    if op == "square":
        return h[:, 0] * h[:, 1]
    return apply_op(op, h[:, 0], h[:, 1])


@functools.lru_cache(maxsize=256)
def _thresholds(
    test_range: ValueRange,
    input_size: int,
    subset_size: int,
    overlap: int,
    epsilon: float,
    n_samples: int,
    random_state: int,
) -> dict[str, float]:
    # All operations are estimated from the same draws: the draw is the cost.
    ops = [op for op in OPS if not (op == "sqrt" and test_range.low < 0)]
    tasks = {op: ArithmeticTask(op, input_size, subset_size, overlap) for op in ops}
    exact = {op: exact_first_layer(task).T for op, task in tasks.items()}
    near = {op: exact_first_layer(task, epsilon).T for op, task in tasks.items()}
    total = dict.fromkeys(ops, 0.0)
    rng = check_random_state(random_state)
    for start in range(0, n_samples, _CHUNK_ROWS):
        X = test_range.sample((min(_CHUNK_ROWS, n_samples - start), input_size), rng)
        for op in ops:
            error = _exact_second_layer(op, X @ near[op]) - _exact_second_layer(op, X @ exact[op])
            total[op] += float(np.sum(error * error))
    result = dict.fromkeys(OPS, float("nan"))
    result.update({op: total[op] / n_samples for op in ops})
    return result


def success_threshold(
    op: str,
    test_range: ValueRange | str = "U[2,6]",
    *,
    input_size: int = 100,
    subset_size: int = 25,
    overlap: int = 12,
    epsilon: float = 1e-5,
    n_samples: int = 1_000_000,
    random_state: int = 0,
) -> float:
    """The test MSE below which a model counts as having solved the task.

    The mean squared error, on ``n_samples`` inputs drawn from ``test_range``,
    between the exact network of ``op`` and that network with its first layer
    moved by ``epsilon`` (0 → ε, 1 → 1 − ε); see the module docstring for what the
    exact network of each operation is. Results are cached: the estimate is
    deterministic given its arguments.

    Parameters
    ----------
    op : str
        The operation, a key of :data:`~sknalu.benchmarks.OPS` or its symbol.
    test_range : ValueRange or str, default="U[2,6]"
        The extrapolation range.
    input_size, subset_size, overlap : int, default=100, 25, 12
        The task's sizes; the published thresholds used ``subset_size=26,
        overlap=13``.
    epsilon : float, default=1e-5
        The weight perturbation.
    n_samples : int, default=1_000_000
        Monte-Carlo sample size.
    random_state : int, default=0
        Seed of the Monte-Carlo draw.

    Returns
    -------
    float
        The threshold; NaN for ``sqrt`` on a range with negative values.

    Examples
    --------
    >>> t = success_threshold("mul", "U[2,6]", n_samples=20_000)
    >>> 0.05 < t < 0.5
    True
    """
    op = check_op(op)
    if isinstance(test_range, str):
        test_range = ValueRange.parse(test_range)
    # Validates the sizes with the task's own messages.
    task = ArithmeticTask(op, input_size, subset_size, overlap)
    if not (isinstance(epsilon, (int, float)) and 0 <= epsilon < 0.5):
        raise ValueError(f"epsilon must be a number in [0, 0.5), got {epsilon!r}.")
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)):
        raise ValueError(
            f"random_state must be an integer (the result is cached), got {random_state!r}."
        )
    thresholds = _thresholds(
        test_range,
        task.input_size,
        task.subset_size,
        task.overlap,
        float(epsilon),
        int(n_samples),
        int(random_state),
    )
    return thresholds[op]
