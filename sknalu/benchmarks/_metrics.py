"""The benchmark's metrics: success rate interval, solved-at step, sparsity error.

Definitions of Madsen & Johansen (2020, section 4.1 and appendix C), as their
reference scripts compute them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from statistics import NormalDist

import numpy as np
import torch
from skorch.callbacks import Callback

__all__ = [
    "ExtrapolationMonitor",
    "first_solved_step",
    "sparsity_error",
    "wilson_interval",
]


def wilson_interval(n_success: int, n_trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a success rate.

    The interval the papers report success rates with (R's
    ``binom.confint(method="wilson")``); unlike the normal approximation it stays in
    ``[0, 1]`` and is not empty at 0 or ``n_trials`` successes.

    Parameters
    ----------
    n_success : int
        Number of successes.
    n_trials : int
        Number of trials, at least 1.
    confidence : float, default=0.95
        Confidence level.

    Returns
    -------
    (float, float)
        Lower and upper bound.

    Examples
    --------
    >>> [round(v, 4) for v in wilson_interval(98, 100)]
    [0.93, 0.9945]
    """
    for name, value in (("n_success", n_success), ("n_trials", n_trials)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {value!r}.")
    if n_trials < 1 or not 0 <= n_success <= n_trials:
        raise ValueError(
            f"need 0 <= n_success <= n_trials and n_trials >= 1, got {n_success} of {n_trials}."
        )
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}.")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    n, p = n_trials, n_success / n_trials
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # Clamp the rounding error at the boundaries (p = 0 or 1 give exactly 0 or 1).
    return max(0.0, center - half), min(1.0, center + half)


def sparsity_error(weights: Iterable) -> float:
    """How far the weights are from {-1, 0, 1}: ``max min(|W|, |1 - |W||)``.

    Madsen & Johansen (2020, eq. 9), over every weight of every layer.

    Parameters
    ----------
    weights : iterable of array-like or torch.Tensor
        The (effective) weight matrices of the layers.

    Returns
    -------
    float
        The largest distance of a weight to the nearest of -1, 0 and 1; NaN when a
        weight is NaN.

    Examples
    --------
    >>> sparsity_error([np.array([[1.0, 0.0, -0.75]]), np.array([[0.125, 1.0]])])
    0.25
    """
    worst = -math.inf
    for w in weights:
        if isinstance(w, torch.Tensor):
            w = w.detach().cpu().numpy()
        a = np.abs(np.asarray(w, dtype=np.float64))
        if a.size == 0:
            continue
        distance = np.minimum(a, np.abs(1 - a))
        if np.isnan(distance).any():
            return math.nan
        worst = max(worst, float(distance.max()))
    if worst == -math.inf:
        raise ValueError("sparsity_error needs at least one non-empty weight matrix.")
    return worst


def first_solved_step(steps: Sequence[int], test_mse: Sequence[float], threshold: float) -> float:
    """The first evaluated step whose test error is below the threshold.

    Parameters
    ----------
    steps : sequence of int
        The optimiser steps at which the model was evaluated, increasing.
    test_mse : sequence of float
        The test (extrapolation) mean squared error at each of them.
    threshold : float
        The success threshold.

    Returns
    -------
    float
        The step, or NaN when the error never goes below the threshold.

    Examples
    --------
    >>> first_solved_step([500, 1000, 1500, 2000], [3.0, 0.5, 2.0, 0.1], threshold=1.0)
    1000.0
    >>> first_solved_step([500, 1000], [3.0, 2.0], threshold=1.0)
    nan
    """
    steps = np.asarray(steps, dtype=np.float64)
    test_mse = np.asarray(test_mse, dtype=np.float64)
    if steps.shape != test_mse.shape or steps.ndim != 1:
        raise ValueError(
            f"steps and test_mse must be 1-d and of equal length, got {steps.shape} "
            f"and {test_mse.shape}."
        )
    below = np.flatnonzero(test_mse < threshold)  # NaN compares False: never solved
    return float(steps[below[0]]) if below.size else math.nan


class ExtrapolationMonitor(Callback):
    """Records every copy's validation and test error at every evaluation.

    A skorch callback for the nets of :class:`~sknalu.NMURegressor` and
    :class:`~sknalu.NALURegressor`. At the end of each epoch (every evaluation)
    it measures, for each of the network's copies, the mean squared error
    (:meth:`~sknalu.ArithmeticNetwork.per_copy_mse`) on the validation data the
    estimator held out and on a test set given here, so that the step at which the
    task was first solved can be found after training.

    Parameters
    ----------
    X_test : ndarray of shape (n_samples, n_features)
        Test (extrapolation) inputs.
    y_test : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        Test targets.

    Attributes
    ----------
    steps_ : list of int
        The optimiser step of each evaluation.
    valid_mse_ : list of ndarray of shape (n_copies,)
        Each copy's validation error at each evaluation (the training error when the
        estimator held nothing out).
    test_mse_ : list of ndarray of shape (n_copies,)
        Each copy's test error at each evaluation.
    n_valid_ : int
        Number of rows the validation errors were measured on.

    Examples
    --------
    >>> import numpy as np
    >>> from sknalu import NMURegressor
    >>> rng = np.random.RandomState(0)
    >>> X, X_test = rng.uniform(1, 2, (500, 2)), rng.uniform(2, 6, (500, 2))
    >>> monitor = ExtrapolationMonitor(X_test, X_test.prod(axis=1))
    >>> est = NMURegressor(n_restarts=2, max_steps=1000, random_state=0, callbacks=[monitor])
    >>> _ = est.fit(X, X.prod(axis=1))
    >>> monitor.steps_, monitor.test_mse_[-1].shape
    ([500], (2,))
    """

    def __init__(self, X_test, y_test):
        self.X_test = X_test
        self.y_test = y_test

    def initialize(self):
        """Start with empty records (skorch calls it when the net is initialised).

        Returns
        -------
        ExtrapolationMonitor
            This callback.
        """
        self.steps_ = []
        self.valid_mse_ = []
        self.test_mse_ = []
        self.n_valid_ = 0
        return self

    def on_train_begin(self, net, **kwargs):
        """Put the test data on the network's device, in its dtype."""
        param = next(net.module_.parameters())
        X, y = np.asarray(self.X_test), np.asarray(self.y_test)
        self._X = torch.as_tensor(X, dtype=param.dtype, device=param.device)
        self._y = torch.as_tensor(y.reshape(len(y), -1), dtype=param.dtype, device=param.device)

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Record every copy's validation and test error, and the step.

        Parameters
        ----------
        net : skorch.NeuralNet
            The estimator's net.
        dataset_train, dataset_valid : dataset or None, default=None
            The training rows and the rows held out (None when none are).
        **kwargs
            skorch's other arguments, unused.
        """
        dataset = dataset_valid if dataset_valid is not None else dataset_train
        network = net.module_  # an ArithmeticNetwork
        self.valid_mse_.append(network.per_copy_mse(dataset.X, dataset.y).cpu().numpy())
        self.test_mse_.append(network.per_copy_mse(self._X, self._y).cpu().numpy())
        self.steps_.append(int(net.n_steps_))
        self.n_valid_ = len(dataset)

    def on_train_end(self, net, **kwargs):
        """Drop the test tensors: a copy of ``X_test``, not to be kept with the model."""
        del self._X, self._y

    def selected_test_mse(self) -> np.ndarray:
        """Test error of the copy with the lowest validation error, per evaluation.

        Returns
        -------
        ndarray of shape (n_evaluations,)
            The test error of the copy best on validation (NaN never is) at each
            evaluation.
        """
        valid = np.nan_to_num(np.array(self.valid_mse_), nan=np.inf)
        best = np.argmin(valid, axis=1)
        return np.array(self.test_mse_)[np.arange(len(best)), best]

    def solved_at(self, threshold: float) -> float:
        """The first step at which the copy best on validation is below ``threshold``.

        Parameters
        ----------
        threshold : float
            The success threshold.

        Returns
        -------
        float
            The step, or NaN when it never is.
        """
        return first_solved_step(self.steps_, self.selected_test_mse(), threshold)
