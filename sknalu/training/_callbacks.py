"""sknalu's skorch callbacks: thin adapters over :mod:`sknalu.exact`.

Each callback calls the pure functions of ``sknalu/exact`` at the end of an
evaluation and reports what it did through the history's keys, which the others
and the estimator read (:mod:`sknalu.training._plan` lists them, in the order
they run):

- :class:`SaddleEscape` moves stalled copies off saddle points and rounds them
  (``rounded_copies``);
- :class:`SnapTrial` snaps the best copies in place where that does no harm
  (``snapped_copies``);
- :class:`RestartSelection` keeps the best copy's best weights (``best_copy``,
  ``best_step``, ``best_loss``, ``exact``);
- :class:`StopWhenExact` ends training once ``exact``;
- :class:`SnapWeights` snaps the kept network when training ends (for a skorch net
  of one's own: the estimators call the same snap themselves, as a phase of
  ``fit``);
- :class:`LoadStructure` writes a formula found in closed form into the network;
- :class:`StepProgressBar` shows the steps.

In a weighted fit (the data's :class:`~sknalu.training._data.TensorDataset` holds
``sample_weight``), every error they measure, and every snap, weighs the rows.
"""

from __future__ import annotations

import copy
import math
import sys
import time

import torch
from skorch.callbacks import Callback
from tqdm.auto import tqdm

from .._validation import store_params
from ..exact._errors import evaluate_mse, held_out, mean_square, per_copy_mse
from ..exact._escape import leave_saddles_, round_if_no_worse_
from ..exact._snap import snap_network_
from ..exact._tolerances import EXACT_FIT, NO_WORSE_ATOL, NO_WORSE_RTOL, SNAP_TOLERANCE
from ._net import finite_copies, non_finite_loss_message


class SnapWeights(Callback):
    """Snap the kept network's weights when training ends, if that does no harm.

    At the end of training (after :class:`RestartSelection` has
    reduced the network to the kept copy, so this callback must come after it), every
    unit's :meth:`~sknalu.units.ArithmeticUnit.snap_` moves the weights within
    ``tolerance`` of a discrete value onto it. Then, where two linear layers (NAU,
    NAC+ or Linear units) follow each other, :func:`snap_linear_pair_` snaps their
    product, which also places weights that a sum left split between hidden units.
    Each step is kept only if the mean squared error on the held-out data of the
    last epoch (the training data when none was held out) does not get worse:

    ``mse_snapped <= mse * (1 + rtol) + atol * mean(y²)``.

    The relative term ``rtol`` absorbs float noise in the comparison; the absolute
    term treats a root-mean-square change below ``sqrt(atol)`` of the targets' scale
    (1e-12 by default) as float noise too, which matters when the trained network is
    already exact to float precision. Otherwise the weights from before the step
    are restored.

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
        Number of weights that snapping moved and that were kept moved.
    loss_before_, loss_after_ : float
        Held-out mean squared error before and after snapping (equal when nothing
        snapped was kept; NaN when the check did not run).

    Examples
    --------
    >>> import numpy as np
    >>> from sknalu import NMURegressor
    >>> from sknalu.datasets import make_arithmetic
    >>> X, y = make_arithmetic("x0 - x1", n_samples=200, random_state=0)
    >>> est = NMURegressor(units=("nau", "nau"), max_steps=2000, random_state=0).fit(X, y)
    >>> est.snapped_
    True
    >>> float(abs(est.predict(np.array([[1e6, 3.0]]))[0] - (1e6 - 3.0)))
    0.0
    """

    def __init__(
        self,
        tolerance: float = SNAP_TOLERANCE,
        rtol: float = NO_WORSE_RTOL,
        atol: float = NO_WORSE_ATOL,
    ) -> None:
        store_params(self, locals())

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
        self.dataset_ = held_out(dataset_train, dataset_valid)

    def on_train_end(self, net, **kwargs):
        # Never keep a reference to the data: the callback is pickled with the net.
        dataset, self.dataset_ = self.dataset_, None
        if dataset is None or dataset.y is None:
            return
        self.n_moved_, self.loss_before_, self.loss_after_ = snap_network_(
            net.module_,
            dataset.X,
            dataset.y,
            self.tolerance,
            self.rtol,
            self.atol,
            sample_weight=getattr(dataset, "sample_weight", None),
        )
        self.snapped_ = self.n_moved_ > 0


class SnapTrial(Callback):
    """At every evaluation, snap the best copies in place where that does no harm.

    The ``max_copies`` copies with the lowest held-out error are each snapped as
    :func:`snap_network_` does at the end of training, and the snapped weights
    replace the best copy if its held-out error does not get worse, and another
    copy if they fit its held-out rows exactly. (The copy whose error is lowest is
    not always the one whose structure is right.) A network
    that has converged to its formula then computes it exactly as soon as it
    has, which lets training stop there (:class:`StopWhenExact`)
    instead of running to ``max_steps``; a sum of two linear layers, whose
    weights may stay split between the hidden units, is snapped through their
    product long before its weights settle. It must come before
    :class:`RestartSelection`, which then measures the snapped
    copy.

    Parameters
    ----------
    tolerance, rtol, atol : float
        As for :class:`SnapWeights`.
    max_copies : int, default=8
        How many of the best copies are tried at each evaluation.

    Attributes
    ----------
    snapped_ : list of tuple of int
        ``(copy, step)`` of every snap that was kept.
    """

    def __init__(
        self,
        tolerance: float = SNAP_TOLERANCE,
        rtol: float = NO_WORSE_RTOL,
        atol: float = NO_WORSE_ATOL,
        max_copies: int = 8,
    ) -> None:
        store_params(self, locals())

    def initialize(self):
        self.snapped_ = []
        self.closed_form_tried_ = False
        return self

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        dataset = held_out(dataset_train, dataset_valid)
        if dataset is None or dataset.y is None:
            return
        module = net.module_
        weight = getattr(dataset, "sample_weight", None)
        losses = evaluate_mse(module, dataset.X, dataset.y, weight)
        order = [int(c) for c in losses.argsort()[: self.max_copies]]
        snapped = []
        exact_loss = self.atol * mean_square(dataset.y, weight)
        for rank, index in enumerate(order):
            if not math.isfinite(float(losses[index])):
                break
            part = copy.deepcopy(module)
            part.keep_copies_([index])
            # The closed-form solution does not depend on the weights: once, on the
            # best copy at the first evaluation (and again at the end of training).
            closed_form = rank == 0 and not self.closed_form_tried_
            self.closed_form_tried_ = self.closed_form_tried_ or closed_form
            moved, _, loss = snap_network_(
                part,
                dataset.X,
                dataset.y,
                self.tolerance,
                self.rtol,
                self.atol,
                closed_form,
                sample_weight=weight,
            )
            # The other copies are tried for an exact formula only: snapping them
            # part of the way would just perturb their training.
            if moved and (rank == 0 or loss <= exact_loss):
                module.load_copy_state_(index, part.copy_state(0))
                self.snapped_.append((index, net.n_steps_))
                snapped.append(index)
        net.history.record("snapped_copies", snapped)


class SaddleEscape(Callback):
    """Move the best copies off saddle points once training stalls, then round them.

    When the error of the best copy on up to ``n_rows`` training rows has fallen
    by less than ``min_improvement`` (relative) over the last ``patience``
    evaluations, and after the last optimiser step in any case, the
    ``max_copies`` copies of the network with the lowest error on those rows get
    :func:`leave_saddles_` on them; then (with ``round_weights``) each of them has
    its weights rounded to its units' discrete values (``snap_`` with a tolerance
    that reaches every weight), kept where its error on those rows does not get
    worse. Training then goes on from there; a new stall needs ``patience`` more
    evaluations. Limiting the copies bounds the cost, which grows with their
    number, however many restarts train. It must come before
    :class:`RestartSelection`, which then measures the copies as
    they are after this and chooses among them.

    Parameters
    ----------
    n_rows : int, default=2048
        Training rows the stall, the Hessian, the line search and the rounding are
        measured on, drawn at random once per fit.
    max_iterations : int, default=4
        Most steps per copy.
    max_parameters : int, default=1024
        Networks with more parameter entries per copy are left alone.
    max_copies : int, default=8
        Most copies moved and rounded.
    round_weights : bool, default=True
        Whether to try rounding every copy's weights after the steps.
    patience : int, default=2
        Evaluations over which the error must fall by ``min_improvement``.
    min_improvement : float, default=0.1
        Relative fall of the error below which training counts as stalled.
    hessian_rows : int or None, default=512
        Rows of the ``n_rows`` the Hessian is computed on (all when None): the
        Hessian's cost grows with them, and the direction of most negative
        curvature needs fewer rows than the line search, which uses all.

    Attributes
    ----------
    n_steps_ : list of int
        Steps taken by each copy at the latest escape (0 for the copies left alone).
    rounded_ : list of bool
        Whether each copy's rounded weights were kept at the latest escape.
    escaped_at_ : list of int
        The optimiser steps at which the escape ran.
    rounded_at_ : list of tuple of int
        ``(copy, step)`` of every copy whose rounded weights were kept.
    seconds_ : float
        Wall time the escapes and the roundings took, in all.
    """

    def __init__(
        self,
        n_rows: int = 2048,
        max_iterations: int = 4,
        max_parameters: int = 1024,
        max_copies: int = 8,
        round_weights: bool = True,
        patience: int = 2,
        min_improvement: float = 0.1,
        hessian_rows: int | None = 512,
    ) -> None:
        store_params(self, locals())

    def initialize(self):
        self.n_steps_ = []
        self.rounded_ = []
        self.escaped_at_ = []
        self.rounded_at_ = []
        self.seconds_ = 0.0
        self.errors_ = []
        self.rows_ = None
        return self

    def _stalled(self) -> bool:
        errors, p = self.errors_, self.patience
        return len(errors) > p and not errors[-1] < (1 - self.min_improvement) * errors[-1 - p]

    def on_epoch_end(self, net, dataset_train=None, **kwargs):
        if dataset_train is None or dataset_train.y is None:
            return
        X, y = dataset_train.X, dataset_train.y
        weight = getattr(dataset_train, "sample_weight", None)
        if len(X) > self.n_rows:
            if self.rows_ is None:
                generator = torch.Generator().manual_seed(int(net.seed))
                self.rows_ = torch.randperm(len(X), generator=generator)[: self.n_rows]
            rows = self.rows_.to(X.device)
            X, y = X.index_select(0, rows), y.index_select(0, rows)
            weight = None if weight is None else weight.index_select(0, rows)
        module = net.module_
        losses = per_copy_mse(module, X, y, weight)
        self.errors_.append(float(losses.min()))
        if net.n_steps_ < net.max_steps and not self._stalled():
            return
        start = time.perf_counter()
        chosen = torch.argsort(losses)[: self.max_copies].tolist()
        part = copy.deepcopy(module)
        part.keep_copies_(chosen)
        steps = leave_saddles_(
            part,
            X,
            y,
            max_iterations=self.max_iterations,
            max_parameters=self.max_parameters,
            hessian_rows=self.hessian_rows,
            sample_weight=weight,
        )
        rounded = round_if_no_worse_(part, X, y, weight) if self.round_weights else None
        self.n_steps_ = [0] * module.n_copies
        self.rounded_ = [False] * module.n_copies
        for i, index in enumerate(chosen):
            module.load_copy_state_(index, part.copy_state(i))
            self.n_steps_[index] = int(steps[i])
            self.rounded_[index] = rounded is not None and bool(rounded[i])
            if self.rounded_[index]:
                self.rounded_at_.append((index, net.n_steps_))
        self.escaped_at_.append(net.n_steps_)
        net.history.record("rounded_copies", [i for i in chosen if self.rounded_[i]])
        # A new stall must build up before the next escape.
        self.errors_ = []
        self.seconds_ += time.perf_counter() - start

    def on_train_end(self, net, **kwargs):
        # Nothing of the data or its sample is pickled with the net.
        self.rows_ = None
        self.errors_ = []


class LoadStructure(Callback):
    """Write a formula's weights into the network when training begins.

    Parameters
    ----------
    plan : object with a ``load_(module)`` method
        The network's weights (a :class:`~sknalu.search._layout.Layout`); the
        network must hold one copy.
    """

    def __init__(self, plan) -> None:
        self.plan = plan

    def on_train_begin(self, net, **kwargs):
        self.plan.load_(net.module_)


class RestartSelection(Callback):
    """Keep the copy, and the epoch, with the lowest held-out error.

    After every epoch each copy's mean squared error on the validation data (the
    training data when there is none) is measured; the weights of the best copy at
    its best epoch are kept. When training ends the network is reduced to that copy
    (Madsen & Johansen's model selection, applied across restarts as well).

    Fits whose error is below ``exact_fit`` times the mean squared target all count
    as exact; among them the latest is kept, since later weights have had more of
    the sparsity regulariser and so are closer to a readable formula.

    Only weights with a finite error are kept. When no copy has had one and none
    can get one any more (each holds a non-finite weight) or training is over, it
    raises a ``ValueError`` that names the likely cause: values that overflow
    float64 in the loss.

    Parameters
    ----------
    exact_fit : float, default=EXACT_FIT
        Relative mean squared error under which a fit counts as exact.

    Attributes
    ----------
    best_loss_ : float
        Lowest held-out mean squared error seen.
    best_copy_ : int
        Index of the copy that reached it.
    best_step_ : int
        Optimiser step at which it was reached.
    exact_ : bool
        Whether the kept weights count as an exact fit.
    """

    def __init__(self, exact_fit: float = EXACT_FIT) -> None:
        self.exact_fit = exact_fit

    def initialize(self):
        self.best_loss_ = math.inf
        self.best_copy_ = 0
        self.best_step_ = 0
        self.best_state_ = None
        self.exact_ = False
        return self

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        dataset = dataset_valid if dataset_valid is not None else dataset_train
        self._select(net, dataset)
        for key in ("best_copy", "best_step", "best_loss", "exact"):
            net.history.record(key, getattr(self, key + "_"))

    def _select(self, net, dataset) -> None:
        weight = getattr(dataset, "sample_weight", None)
        losses = evaluate_mse(net.module_, dataset.X, dataset.y, weight)
        best = int(torch.argmin(losses))
        loss = float(losses[best])
        net.history.record("selection_loss", loss)
        if not math.isfinite(loss):
            # Only finite weights are ever kept. With none kept yet, stop as soon as
            # none can come: every copy holds a non-finite weight (which stays so),
            # or training is over.
            dead = not bool(finite_copies(net.module_).any())
            if self.best_state_ is None and (dead or net.n_steps_ >= net.max_steps):
                raise ValueError(non_finite_loss_message(dataset, net.lr))
            return
        exact = self.exact_fit * mean_square(dataset.y, weight)
        if loss < self.best_loss_ or loss <= exact or self.best_state_ is None:
            self.best_loss_ = loss
            self.best_copy_ = best
            self.best_step_ = net.n_steps_
            self.best_state_ = net.module_.copy_state(best)
        self.exact_ = self.best_loss_ <= exact

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            net.module_.load_copy_state_(self.best_copy_, self.best_state_)
        net.module_.keep_copy_(self.best_copy_)
        self.best_state_ = None


class StopWhenExact(Callback):
    """End training once the kept weights fit the held-out rows exactly.

    An exact fit (``exact`` in the history, which :class:`RestartSelection` records:
    a held-out mean squared error below ``EXACT_FIT`` times the mean squared
    target) has nothing left to
    learn, so the remaining steps up to ``max_steps`` are skipped. It ends training
    the way skorch's ``EarlyStopping`` does, so it must come last, after every
    callback that acts at the end of an evaluation.

    It also ends training at ``deadline`` (a :func:`time.time` value), the end of
    the estimator's ``max_time``: the fit then goes on with the best weights kept
    so far.

    Parameters
    ----------
    deadline : float, default=inf
        When training ends, whatever the steps left.

    Attributes
    ----------
    stopped_at_ : int or None
        The optimiser step at which training was ended; None when it ran to
        ``max_steps``.
    out_of_time_ : bool
        Whether it was ended by the deadline.
    """

    def __init__(self, deadline: float = math.inf):
        self.deadline = deadline

    def initialize(self):
        self.stopped_at_ = None
        self.out_of_time_ = False
        return self

    def on_epoch_end(self, net, **kwargs):
        if net.n_steps_ >= net.max_steps:
            return
        self.out_of_time_ = time.time() > self.deadline
        if net.history[-1].get("exact") or self.out_of_time_:
            self.stopped_at_ = net.n_steps_
            raise KeyboardInterrupt


class StepProgressBar(Callback):
    """A tqdm progress bar over optimiser steps, with the latest losses.

    The bar goes to standard error, named by the network's units, and goes away
    when the fit ends. It is drawn on a terminal (and in a notebook) only: where
    standard error is a file or a pipe, nothing is written, neither carriage
    returns nor escape codes. A fit that takes no optimiser step (a structure of
    ``units="auto"`` written in closed form) has no bar.

    Attributes
    ----------
    bar_ : tqdm or None
        The bar while training runs with steps to take; None otherwise.
    """

    def initialize(self):
        self.bar_ = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.bar_ = None
        if net.max_steps > 0:
            units = getattr(net, "module__units", None)
            self.bar_ = tqdm(
                total=net.max_steps,
                desc=",".join(units) if units else None,
                unit="step",
                leave=False,
                disable=None,
                file=sys.stderr,
            )

    def on_epoch_end(self, net, **kwargs):
        if self.bar_ is None:
            return
        row = net.history[-1]
        self.bar_.n = net.n_steps_
        self.bar_.set_postfix(
            {k: f"{row[k]:.3g}" for k in ("train_loss", "selection_loss") if k in row},
            refresh=True,
        )

    def on_train_end(self, net, **kwargs):
        if self.bar_ is not None:
            self.bar_.close()
        self.bar_ = None
