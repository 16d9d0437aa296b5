"""Snapping a trained network's weights onto their discrete values.

A solved network of arithmetic units has weights that are close to, but not exactly
on, the discrete values its formula uses (0 and ±1, or integers for the Real NPU).
:class:`SnapWeights` moves them onto those values once training has ended and
keeps the result only if the held-out error does not get worse, so that a solved
model computes exactly its formula while an unsolved one is left alone.
"""

from __future__ import annotations

import copy
import math

import torch
from skorch.callbacks import Callback

from ._training import evaluate_mse
from ._units import ArithmeticUnit

__all__ = ["SNAP_TOLERANCE", "SnapWeights", "held_out_mse"]

#: Largest distance a weight is moved by snapping. Generous on purpose: the
#: held-out check, not the distance, decides whether the snapped weights are kept.
SNAP_TOLERANCE = 0.1


@torch.no_grad()
def held_out_mse(module: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Mean squared error of ``module`` on ``X``, ``y``, in evaluation mode.

    Parameters
    ----------
    module : torch.nn.Module
        The network.
    X, y : Tensor
        Inputs ``[n, in]`` and targets ``[n, out]``.

    Returns
    -------
    float
        The mean squared error; ``inf`` when the output is not finite.

    Examples
    --------
    >>> import torch
    >>> from sknalu.units import NAU
    >>> unit = NAU(1, 1)
    >>> with torch.no_grad():
    ...     _ = unit.W.fill_(1.0)
    >>> held_out_mse(unit, torch.ones(4, 1), torch.full((4, 1), 3.0))
    4.0
    """
    mse = float(evaluate_mse(module, X, y))
    return mse if math.isfinite(mse) else math.inf


class SnapWeights(Callback):
    """Snap the kept network's weights when training ends, if that does no harm.

    At the end of training (after :class:`~sknalu._training.RestartSelection` has
    reduced the network to the kept copy, so this callback must come after it), every
    unit's :meth:`~sknalu.units.ArithmeticUnit.snap_` moves the weights within
    ``tolerance`` of a discrete value onto it. The snapped weights are kept only if
    the mean squared error on the held-out data of the last epoch (the training data
    when none was held out) does not get worse:

    ``mse_snapped <= mse * (1 + rtol) + atol * mean(y²)``.

    The relative term ``rtol`` absorbs float noise in the comparison; the absolute
    term treats a root-mean-square change below ``sqrt(atol)`` of the targets' scale
    (1e-12 by default) as float noise too, which matters when the trained network is
    already exact to float precision. Otherwise the trained weights are restored.

    Parameters
    ----------
    tolerance : float, default=SNAP_TOLERANCE
        Largest distance a weight is moved.
    rtol : float, default=1e-6
        Relative increase of the held-out error still counted as no worse.
    atol : float, default=1e-24
        Absolute increase, in units of the mean squared target, still counted as
        no worse.

    Attributes
    ----------
    snapped_ : bool
        Whether at least one weight was moved and the snapped weights were kept.
    n_moved_ : int
        Number of weights that snapping moved (whether or not they were kept).
    loss_before_, loss_after_ : float
        Held-out mean squared error before and after snapping (NaN when the
        check did not run).

    Examples
    --------
    >>> import numpy as np
    >>> from sknalu import NMURegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(1, 2, size=(200, 2))
    >>> est = NMURegressor(units=("nau", "nau"), max_steps=2000, random_state=0)
    >>> est = est.fit(X, X[:, 0] - X[:, 1])
    >>> est.snapped_
    True
    >>> float(abs(est.predict(np.array([[1e6, 3.0]]))[0] - (1e6 - 3.0)))
    0.0
    """

    def __init__(
        self, tolerance: float = SNAP_TOLERANCE, rtol: float = 1e-6, atol: float = 1e-24
    ) -> None:
        self.tolerance = tolerance
        self.rtol = rtol
        self.atol = atol

    def initialize(self):
        self.snapped_ = False
        self.n_moved_ = 0
        self.loss_before_ = math.nan
        self.loss_after_ = math.nan
        self.dataset_ = None
        return self

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        # The held-out split is made inside the fit loop and not passed to
        # on_train_end, so the last epoch's is remembered (a reference, no copy).
        self.dataset_ = dataset_valid if dataset_valid is not None else dataset_train

    def on_train_end(self, net, **kwargs):
        # Never keep a reference to the data: the callback is pickled with the net.
        dataset, self.dataset_ = self.dataset_, None
        if dataset is None or dataset.y is None:
            return
        module = net.module_
        units = [m for m in module.modules() if isinstance(m, ArithmeticUnit)]
        trained = copy.deepcopy(module.state_dict())
        self.loss_before_ = held_out_mse(module, dataset.X, dataset.y)
        self.n_moved_ = sum(unit.snap_(self.tolerance) for unit in units)
        if self.n_moved_ == 0:
            return
        self.loss_after_ = held_out_mse(module, dataset.X, dataset.y)
        scale = float(dataset.y.square().mean())
        allowed = self.loss_before_ * (1 + self.rtol) + self.atol * scale
        if self.loss_after_ <= allowed:
            self.snapped_ = True
        else:
            module.load_state_dict(trained)
