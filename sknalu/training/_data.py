"""The data of a fit: tensors on the training device, random batches, the held-out split.

- :class:`TensorDataset`: inputs, targets and, for a weighted fit, the rows' weights,
  as tensors;
- random batches, one per optimiser step, drawn on the data's device, and ordered
  slices for evaluation; a weighted batch's inputs are skorch's dict of ``data``
  and ``sample_weight`` (:func:`batch_inputs`, :func:`batch_weight`);
- :func:`fit_seeds`: the seeds of a fit's initialisation, batches and split, from
  ``random_state``;
- :class:`HoldOut`: the held-out rows that choose the restart and judge the snap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from sklearn.utils import check_random_state
from torch.utils.data import Dataset


class TensorDataset(Dataset):
    """Inputs and targets held as tensors, usually already on the training device.

    ``sample_weight``, one positive weight per row (None: the rows weigh the same),
    makes every error measured on the rows a weighted mean.
    """

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor | None = None,
        sample_weight: torch.Tensor | None = None,
    ) -> None:
        self.X = X
        self.y = y
        self.sample_weight = sample_weight

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], (None if self.y is None else self.y[i])


def subset(dataset, rows: torch.Tensor) -> TensorDataset:
    """The rows ``rows`` (indices) of ``dataset``, with their targets and weights."""
    weight = getattr(dataset, "sample_weight", None)
    return TensorDataset(dataset.X[rows], dataset.y[rows], None if weight is None else weight[rows])


def batch_inputs(X: torch.Tensor, sample_weight: torch.Tensor | None) -> torch.Tensor | dict:
    """A batch's inputs: ``X``, or skorch's ``{"data": X, "sample_weight": w}`` when weighted.

    skorch's documented way to weigh rows: the weights travel with the inputs, and
    ``get_loss`` reads them from there.
    """
    if sample_weight is None:
        return X
    return {"data": X, "sample_weight": sample_weight}


def batch_weight(X) -> torch.Tensor | None:
    """The weights of a batch whose inputs are ``X`` (:func:`batch_inputs`); None if unweighted."""
    if isinstance(X, Mapping):
        return X.get("sample_weight")
    return None


def batch_data(X):
    """The inputs themselves of a batch whose inputs are ``X`` (see :func:`batch_inputs`)."""
    if isinstance(X, Mapping) and "sample_weight" in X:
        return X["data"]
    return X


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
        X, y, weight = self.dataset.X, self.dataset.y, self.dataset.sample_weight
        n, batch_size, n_steps = len(X), self.net.batch_size, self._n_steps()
        if batch_size >= n:
            for _ in range(n_steps):
                yield batch_inputs(X, weight), y
            return
        index = torch.randint(
            n, (n_steps, batch_size), generator=self.net.batch_generator_, device=X.device
        )
        if weight is not None:
            for rows in index:
                inputs = batch_inputs(X.index_select(0, rows), weight.index_select(0, rows))
                yield inputs, y.index_select(0, rows)
            return
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
        weight = getattr(self.dataset, "sample_weight", None)
        for start in range(0, len(X), self.batch_size):
            stop = start + self.batch_size
            inputs = batch_inputs(X[start:stop], None if weight is None else weight[start:stop])
            yield inputs, (None if y is None else y[start:stop])


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

    The rows' weights, if any, go with their rows.
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
        return subset(dataset, train), subset(dataset, valid)
