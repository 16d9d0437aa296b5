"""The data of a fit: tensors on the training device, random batches, the held-out split.

- :class:`TensorDataset`: inputs and targets as tensors;
- random batches, one per optimiser step, drawn on the data's device, and ordered
  slices for evaluation;
- :func:`fit_seeds`: the seeds of a fit's initialisation, batches and split, from
  ``random_state``;
- :class:`HoldOut`: the held-out rows that choose the restart and judge the snap.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.utils import check_random_state
from torch.utils.data import Dataset


class TensorDataset(Dataset):
    """Inputs and targets held as tensors, usually already on the training device."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor | None = None) -> None:
        self.X = X
        self.y = y

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], (None if self.y is None else self.y[i])


class _RandomBatches:
    """Random batches from a :class:`TensorDataset`, one per optimiser step.

    skorch builds the training iterator once per fit and iterates it once per
    epoch; each pass yields ``steps_per_epoch`` batches, fewer in the last epoch so
    that training stops after exactly ``max_steps`` steps. All the indices of a pass
    are drawn in one call, on the data's device, so a step costs one gather and no
    host synchronisation. A batch as large as the data is the whole data, in order.
    """

    def __init__(self, dataset, net):
        self.dataset = dataset
        self.net = net

    def _n_steps(self):
        net = self.net
        return max(0, min(net.steps_per_epoch, net.max_steps - net.n_steps_))

    def __len__(self):
        return self._n_steps()

    def __iter__(self):
        X, y = self.dataset.X, self.dataset.y
        n, batch_size, n_steps = len(X), self.net.batch_size, self._n_steps()
        if batch_size >= n:
            for _ in range(n_steps):
                yield X, y
            return
        index = torch.randint(
            n, (n_steps, batch_size), generator=self.net.batch_generator_, device=X.device
        )
        for rows in index:
            yield X.index_select(0, rows), y.index_select(0, rows)


class _OrderedBatches:
    """The data in order, in slices of ``batch_size`` rows (prediction, validation)."""

    def __init__(self, dataset, batch_size):
        self.dataset = dataset
        self.batch_size = batch_size

    def __len__(self):
        return max(1, math.ceil(len(self.dataset) / self.batch_size))

    def __iter__(self):
        X, y = self.dataset.X, self.dataset.y
        for start in range(0, len(X), self.batch_size):
            stop = start + self.batch_size
            yield X[start:stop], (None if y is None else y[start:stop])


def fit_seeds(random_state) -> tuple[int, int, int]:
    """The seeds of a fit's initialisation, batches and held-out split.

    Examples
    --------
    >>> fit_seeds(0) == fit_seeds(0)
    True
    """
    rng = check_random_state(random_state)
    return tuple(int(s) for s in rng.randint(2**31 - 1, size=3))


class HoldOut:
    """A skorch ``train_split`` that holds out a random part of a TensorDataset.

    Parameters
    ----------
    validation_fraction : float
        Fraction of the rows held out. Fewer than 20 rows, or a fraction that rounds
        to no row, hold nothing out.
    seed : int
        Seed of the random choice of rows.
    """

    def __init__(self, validation_fraction: float, seed: int) -> None:
        self.validation_fraction = validation_fraction
        self.seed = seed

    def rows(self, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The training and held-out row indices of ``n`` rows; None to hold none out."""
        n_valid = round(self.validation_fraction * n)
        if n < 20 or n_valid < 1:
            return None
        order = np.random.RandomState(self.seed).permutation(n)
        return order[n_valid:], order[:n_valid]

    def __call__(self, dataset, y=None, **fit_params):
        split = self.rows(len(dataset))
        if split is None:
            return dataset, None
        train, valid = (torch.as_tensor(i, device=dataset.X.device) for i in split)
        return (
            TensorDataset(dataset.X[train], dataset.y[train]),
            TensorDataset(dataset.X[valid], dataset.y[valid]),
        )
