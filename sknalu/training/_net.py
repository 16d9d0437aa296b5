"""Training machinery: a lean skorch net for arithmetic networks.

skorch stays the training loop (callbacks, history, ``set_params`` routing); this
module overrides only its documented hooks:

- ``get_dataset`` / ``get_iterator``: the data lives as tensors on the training
  device and every optimiser step slices a random batch from them
  (:mod:`sknalu.training._data`), instead of collating samples through a
  ``DataLoader``;
- ``get_loss``: the mean squared error of every copy plus the scheduled
  regularisers of Madsen & Johansen (2020) (:mod:`sknalu.training._schedules`),
  whose units compute the sparsity term's gradient in closed form; the rows'
  weights, in a weighted fit, come with the inputs, as skorch documents it
  (``X = {"data": ..., "sample_weight": ...}``);
- ``train_step``: counts optimiser steps and projects the weights back into bounds
  after each one; within an epoch the units then skip clipping their weights in
  the forward pass (:meth:`ArithmeticNetwork.projected`). The optimiser step
  itself is :func:`sknalu.training._private.step`, the one place that calls
  private torch APIs (torch's fused Adam as one kernel per step);
- ``notify``: per-batch events go only to the callbacks that implement them, so a
  step pays nothing for callbacks that act once per epoch;
- ``run_single_epoch``: the losses of an epoch are summed on the device and read
  once, at its end, so a step needs no host synchronisation and the history keeps
  one record per epoch, not one per step;
- ``partial_fit``: Ctrl-C reaches the caller, as in scikit-learn, while a
  callback can still end training by raising ``KeyboardInterrupt`` (skorch's
  ``EarlyStopping`` does).

With these, a step of a network this small costs about what a hand-written torch
loop costs, while callbacks, the history and ``set_params`` work as in skorch.
The callbacks (restart selection, snap, saddle escape) are in
:mod:`sknalu.training._callbacks`, their order in :mod:`sknalu.training._plan`.
"""

from __future__ import annotations

import contextlib
import math
import re
import signal
import sys
import threading
from collections.abc import Mapping

import torch
from skorch import NeuralNetRegressor
from skorch.callbacks import Callback, PrintLog
from skorch.utils import TeeGenerator
from torch.utils.data import Dataset

from .._validation import store_params
from ..exact._errors import copy_mse
from . import _private
from ._data import (
    TensorDataset,
    _OrderedBatches,
    _RandomBatches,
    batch_data,
    batch_weight,
)
from ._schedules import lr_factor, regularizer_scale

_BATCH_EVENTS = ("on_batch_begin", "on_batch_end", "on_grad_computed")


@contextlib.contextmanager
def _watch_sigint():
    """Record whether Ctrl-C (SIGINT) arrives while the block runs.

    Yields a list that receives the signal number when it does; the previous
    handler still runs (by default it raises ``KeyboardInterrupt``). Outside the
    main thread, where Python delivers no signal, the list stays empty: a
    ``KeyboardInterrupt`` there comes from code. Yields None where it cannot tell,
    under a SIGINT handler that Python did not install.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:
        yield None
        return

    def handler(signum, frame):
        if previous == signal.SIG_IGN:
            return
        received.append(signum)
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)


def _one_prediction_per_row(step: dict, batch) -> dict:
    """``step`` with ``y_pred`` of the copy that fits ``batch`` best, if it holds copies.

    skorch's scoring callbacks cache ``y_pred`` per batch and score it against the
    targets, one prediction per row, as from the fitted network.
    """
    y_pred, y_true = step.get("y_pred"), batch[1]
    if y_pred is None or y_true is None or y_pred.dim() != 3:
        return step
    best = int(copy_mse(y_pred.detach(), y_true, batch_weight(batch[0])).argmin())
    return {**step, "y_pred": y_pred[best]}


#: The escape codes of the colours skorch's PrintLog writes.
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


class _PrintLog(PrintLog):
    """skorch's table of losses (``verbose=2``), coloured on a terminal only.

    skorch colours the best losses with escape codes; where standard output is a
    file or a pipe, they are left out.
    """

    def format_row(self, row, key, color):
        text = super().format_row(row, key, color)
        if isinstance(text, str) and not getattr(sys.stdout, "isatty", lambda: False)():
            text = _COLOUR.sub("", text)
        return text


class ArithmeticNet(NeuralNetRegressor):
    """skorch regressor that trains an :class:`~sknalu.ArithmeticNetwork`.

    The training loss of a batch is

    ``Σ_copies MSE + λ_sparse s(t) Σ_layers R_sparse + λ_oob Σ_layers R_oob``

    where, with weighted rows (``X = {"data": X, "sample_weight": w}``, skorch's
    way, or a :class:`TensorDataset` with ``sample_weight``), each row's squared
    error counts ``w`` times: the weights are best given a mean of 1 over the rows.

    with ``s(t)`` the linear schedule of :func:`regularizer_scale` over optimiser
    steps. Summing (not averaging) over copies keeps each copy's gradient what it
    would be if that copy trained alone. The validation loss reported in the
    history is the mean squared error of the best copy.

    Parameters
    ----------
    module : type
        The network class, usually :class:`~sknalu.ArithmeticNetwork`.
    regularizer_strength : float, default=0.0
        ``λ_sparse``, relative to ``target_scale``.
    target_scale : float, default=1.0
        The mean squared target: the sparsity regulariser enters the loss as
        ``target_scale λ_sparse s(t) Σ R_sparse``, so that ``λ_sparse`` weighs it
        against the *relative* error and scaling the target by a constant leaves
        the balance, and the fit, as they were.
    regularizer_start, regularizer_end : int, default=0
        Optimiser steps at which the sparsity regulariser starts to grow and
        reaches full strength.
    oob_strength : float, default=1.0
        ``λ_oob``; matters only for units with ``oob_mode="regularized"``.
    max_steps : int, default=10000
        Number of optimiser steps.
    lr_schedule : {"constant", "cosine", "cosine_tail"}, default="constant"
        How the learning rate changes over the steps (:func:`lr_factor`).
    steps_per_epoch : int, default=500
        Optimiser steps between two evaluations (one skorch epoch).
    seed : int, default=0
        Seed of the batch sampling.
    **kwargs
        Passed to :class:`skorch.NeuralNetRegressor`.
    """

    def __init__(
        self,
        module,
        *args,
        regularizer_strength=0.0,
        target_scale=1.0,
        regularizer_start=0,
        regularizer_end=0,
        oob_strength=1.0,
        max_steps=10000,
        lr_schedule="constant",
        steps_per_epoch=500,
        seed=0,
        **kwargs,
    ):
        params = locals()
        super().__init__(module, *args, **kwargs)
        store_params(self, params, exclude=("module", "args", "kwargs"))

    # -- set-up -------------------------------------------------------------------
    def initialize(self):
        self.n_steps_ = 0
        self.scheduled_lr_ = None
        device = torch.device(self.device)
        self.batch_generator_ = torch.Generator(device=device).manual_seed(int(self.seed))
        return super().initialize()

    def get_dataset(self, X, y=None):
        if isinstance(X, Dataset):
            return X
        if isinstance(X, Mapping) and "sample_weight" in X:
            return TensorDataset(X["data"], y, X["sample_weight"])
        return TensorDataset(X, y)

    def get_iterator(self, dataset, training=False):
        if training:
            return _RandomBatches(dataset, self)
        # Evaluation has no gradient to keep, so large slices are cheap.
        return _OrderedBatches(dataset, max(self.batch_size, 8192))

    # -- the training loop ------------------------------------------------------------
    def get_default_callbacks(self):
        # skorch's PassthroughScoring callbacks average per-batch records into the
        # epoch's train_loss and valid_loss; run_single_epoch records those itself.
        # The table of losses leaves its colours out of files.
        return [
            (name, _PrintLog() if name == "print_log" else cb)
            for name, cb in super().get_default_callbacks()
            if name not in ("train_loss", "valid_loss")
        ]

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """One pass of training or evaluation, with one host read at its end.

        As skorch's, except that the batch losses are not read one by one: they are
        summed, weighted by the batch sizes, on the data's device, and the epoch's
        mean is read and recorded once as ``<prefix>_loss`` (``train_loss``,
        ``valid_loss``), with ``<prefix>_loss_best`` and ``<prefix>_batch_count``.
        No per-batch record goes into the history (unless a callback acts per
        batch, see :meth:`on_batch_begin`), so neither a step's cost nor the size of
        a saved model grows with the number of steps. Callbacks that implement
        ``on_batch_begin`` or ``on_batch_end`` still get them for every batch; when
        none does, the step skips both notifications.
        """
        if iterator is None:
            return
        losses, sizes = [], []
        notify = self._batch_events_heard()
        # A step of a single-evaluation optimiser sees only weights projected by
        # the previous one, unless a per-batch callback may write them in between.
        projected = (
            training
            and not notify
            and all(map(_private.evaluates_once, _private.optimizers_of(self)))
        )
        with self.module_.projected() if projected else contextlib.nullcontext():
            for batch in iterator:
                if notify:
                    self.notify("on_batch_begin", batch=batch, training=training)
                step = step_fn(batch, **fit_params)
                losses.append(step["loss"].detach())
                sizes.append(len(batch_data(batch[0])))
                if notify:
                    # As skorch records and reports a batch, one prediction per row.
                    self.history.record_batch(prefix + "_loss", float(losses[-1]))
                    self.history.record_batch(prefix + "_batch_size", sizes[-1])
                    step = _one_prediction_per_row(step, batch)
                    self.notify("on_batch_end", batch=batch, training=training, **step)
        self.history.record(prefix + "_batch_count", len(losses))
        if not losses:
            return
        key = prefix + "_loss"
        weights = torch.tensor(sizes, dtype=losses[0].dtype, device=losses[0].device)
        # The epoch's one host read.
        loss = float(torch.stack(losses) @ weights) / sum(sizes)
        earlier = [row[key] for row in self.history[:-1] if not math.isnan(row.get(key, math.nan))]
        self.history.record(key, loss)
        self.history.record(key + "_best", bool(loss < min(earlier, default=math.inf)))
        if not notify:
            # One record for the whole pass where skorch keeps one per batch: its
            # callbacks (Checkpoint's file names, for one) read the last batch.
            self.history.new_batch()
            self.history.record_batch(key, loss)
            self.history.record_batch(prefix + "_batch_size", sum(sizes))

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train further; Ctrl-C stops the fit and reaches the caller.

        skorch's ``partial_fit`` ends training quietly on any ``KeyboardInterrupt``,
        whether Ctrl-C or a callback that stops training early (skorch's
        ``EarlyStopping`` raises one). Here only the callback's ends training as
        usual; Ctrl-C (SIGINT) propagates, as it does from scikit-learn's
        estimators, and ``on_train_end`` does not run.
        """
        if not self.initialized_:
            self.initialize()
        routing_method = fit_params.pop("_routing_method", "partial_fit")
        self.notify("on_train_begin", X=X, y=y)
        with _watch_sigint() as sigint:
            try:
                self.fit_loop(X, y, _routing_method=routing_method, **fit_params)
            except KeyboardInterrupt:
                if sigint is None or sigint:
                    raise
                # A callback asked training to stop.
        self.notify("on_train_end", X=X, y=y)
        return self

    # -- callbacks ------------------------------------------------------------------
    def on_train_begin(self, net, X=None, y=None, **kwargs):
        # Which callbacks act on per-batch events; the others are skipped per step.
        self.batch_listeners_ = {
            event: [
                cb
                for _, cb in self.callbacks_
                if not isinstance(cb, Callback)
                or getattr(type(cb), event) is not getattr(Callback, event)
            ]
            for event in _BATCH_EVENTS
        }
        self.needs_oob_loss_ = self.oob_strength > 0 and any(
            layer.oob_mode == "regularized" for layer in self.module_.layers
        )
        if isinstance(X, TensorDataset) and X.y is not None:
            # Constants start at their least-squares values for the initial weights.
            self.module_.fit_constants_(X.X, X.y, sample_weight=X.sample_weight)
        super().on_train_begin(net, X=X, y=y, **kwargs)

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        # A per-batch record in the history only for callbacks that act per batch
        # and may write to it (skorch's record_batch); otherwise one per epoch.
        listeners = self.batch_listeners_
        if listeners["on_batch_begin"] or listeners["on_batch_end"]:
            super().on_batch_begin(net, batch=batch, training=training, **kwargs)

    def _batch_events_heard(self) -> bool:
        """Whether anything acts on ``on_batch_begin`` / ``on_batch_end``.

        Not when no callback implements them and the net's own hooks are those of
        this class, which then do nothing: the step skips both notifications.
        """
        listeners = getattr(self, "batch_listeners_", None)
        return (
            listeners is None
            or bool(listeners["on_batch_begin"] or listeners["on_batch_end"])
            or type(self).on_batch_begin is not ArithmeticNet.on_batch_begin
            or type(self).on_batch_end is not NeuralNetRegressor.on_batch_end
        )

    def notify(self, method_name, **cb_kwargs):
        listeners = getattr(self, "batch_listeners_", {}).get(method_name)
        if listeners is None:
            return super().notify(method_name, **cb_kwargs)
        getattr(self, method_name)(self, **cb_kwargs)
        for cb in listeners:
            getattr(cb, method_name)(self, **cb_kwargs)

    # -- the step -----------------------------------------------------------------
    def current_regularizer_scale(self) -> float:
        """``λ_sparse s(t)`` at the current optimiser step."""
        return self.regularizer_strength * regularizer_scale(
            self.n_steps_, self.regularizer_start, self.regularizer_end
        )

    def get_loss(self, y_pred, y_true, X=None, training=False):
        weight = batch_weight(X)
        if not training:
            return copy_mse(y_pred, y_true, weight).min()
        if weight is None:
            # The sum over copies of each copy's MSE: the copies' number times the
            # mean over all of them, one fused node.
            loss = torch.nn.functional.mse_loss(y_pred, y_true.expand_as(y_pred))
        else:
            # Each row's squared error times its weight (of mean 1 over the data).
            loss = (y_pred - y_true).square().mul(weight.unsqueeze(-1)).mean()
        copies = y_pred.numel() // y_true.numel()
        if copies > 1:
            loss = loss * copies
        scale = self.current_regularizer_scale() * self.target_scale
        if scale > 0:
            # Units with a closed-form gradient write it into .grad here (after the
            # step zeroed the gradients, before its backward pass) and add no node.
            penalty = self.module_.sparsity_loss(gradient_scale=scale)
            loss = loss.add(penalty.sum() if penalty.dim() else penalty, alpha=scale)
        if self.needs_oob_loss_:
            loss = loss + self.oob_strength * self.module_.oob_loss().sum()
        return loss

    def evaluation_step(self, batch, training=False):
        """The network's output for ``batch``; of the copy kept so far, while training.

        skorch's ``predict`` (and callbacks that score with it, such as
        ``EpochScoring``) then sees one prediction per row, as from the fitted
        network, rather than one per restart.
        """
        y = super().evaluation_step(batch, training=training)
        if y.dim() == 3:
            kept = self.history[-1].get("best_copy", 0) if len(self.history) else 0
            y = y[kept]
        return y

    def infer(self, x, **fit_params):
        # The batches are tensors on the training device already: no conversion.
        if isinstance(x, torch.Tensor) and not fit_params:
            return self.module_(x)
        if isinstance(x, Mapping) and "sample_weight" in x:
            # The weights are for the loss, not the network.
            return self.infer(batch_data(x), **fit_params)
        return super().infer(x, **fit_params)

    def train_step_single(self, batch, **fit_params):
        # The module is put in training mode only when it is not, not every step.
        if not self.module_.training:
            _private.set_training(self)
        Xi, yi = batch
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch, **fit_params):
        accumulator = self.get_train_step_accumulator()
        grad_listeners = self.batch_listeners_["on_grad_computed"]

        def closure():
            _private.zero_grad(self)
            step = self.train_step_single(batch, **fit_params)
            accumulator.store_step(step)
            if grad_listeners:
                self.notify(
                    "on_grad_computed",
                    named_parameters=TeeGenerator(self.get_all_learnable_params()),
                    batch=batch,
                    training=True,
                )
            return step["loss"]

        if self.lr_schedule != "constant":
            lr = self.lr * lr_factor(self.lr_schedule, self.n_steps_, self.max_steps)
            if lr != self.scheduled_lr_:  # constant for most steps
                self.scheduled_lr_ = lr
                for optimizer in _private.optimizers_of(self):
                    for group in optimizer.param_groups:
                        group["lr"] = lr
        _private.step(self, closure)
        self.module_.constrain_()
        self.n_steps_ += 1
        return accumulator.get_step()

    def on_epoch_end(self, net, dataset_train=None, **kwargs):
        if dataset_train is not None and dataset_train.y is not None:
            # The constants follow the units' weights in closed form, before any
            # callback measures the copies.
            weight = getattr(dataset_train, "sample_weight", None)
            self.module_.fit_constants_(dataset_train.X, dataset_train.y, sample_weight=weight)
        kwargs["dataset_train"] = dataset_train
        self.history.record("n_steps", self.n_steps_)
        self.history.record("regularizer_scale", self.current_regularizer_scale())
        super().on_epoch_end(net, **kwargs)


@torch.no_grad()
def finite_copies(module: torch.nn.Module) -> torch.Tensor:
    """Per copy of an :class:`~sknalu.ArithmeticNetwork`, whether all its weights are finite.

    Every weight tensor holds the copies along its first dimension.
    """
    finite = None
    for param in module.parameters():
        ok = torch.isfinite(param).reshape(len(param), -1).all(1)
        finite = ok if finite is None else finite & ok
    return finite


def non_finite_loss_message(dataset: TensorDataset, lr: float) -> str:
    """Why training gave no finite error, and what to do about it."""
    with torch.no_grad():
        x_max = float(dataset.X.abs().max()) if dataset.X.numel() else 0.0
        y_max = float(dataset.y.abs().max()) if dataset.y.numel() else 0.0
    return (
        "The loss overflows float64: the mean squared error of every restart is "
        "infinite or NaN at every evaluation, so training gave no usable weights. The "
        f"data's magnitude is the likely cause (|X| up to {x_max:.3g}, |y| up to "
        f"{y_max:.3g}): the network's sums and products of the features, and their "
        "squared errors, must stay below 1.8e+308. Rescale the features and the "
        "target (e.g. divide them by a power of ten) and fit again; if they are "
        f"moderate, try a smaller lr (now {lr:g})."
    )
