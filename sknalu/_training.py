"""Training machinery: a lean skorch net for arithmetic networks.

skorch stays the training loop (callbacks, history, ``set_params`` routing); this
module only overrides its small hooks:

- ``get_dataset`` / ``get_iterator``: the data lives as tensors on the training
  device and every optimiser step slices a random batch from them, instead of
  collating samples through a ``DataLoader``;
- ``get_loss``: the mean squared error of every copy plus the scheduled
  regularisers of Madsen & Johansen (2020), whose units compute the sparsity
  term's gradient in closed form;
- ``train_step``: counts optimiser steps and projects the weights back into bounds
  after each one; within an epoch the units then skip clipping their weights in
  the forward pass (:meth:`ArithmeticNetwork.projected`), and torch's fused Adam
  is called as one kernel per step, without ``optimizer.step``'s Python;
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

The restart selection (which copy to keep) is a callback, :class:`RestartSelection`.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading

import numpy as np
import torch
from sklearn.utils import check_random_state
from skorch import NeuralNetRegressor
from skorch.callbacks import Callback
from skorch.utils import TeeGenerator
from torch.optim import optimizer as _torch_optimizer
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ._network import copy_mse, evaluate_mse
from ._validation import store_params

__all__ = [
    "ArithmeticNet",
    "HoldOut",
    "RestartSelection",
    "StepProgressBar",
    "StopWhenExact",
    "TensorDataset",
    "fit_seeds",
    "lr_factor",
    "regularizer_scale",
]


_BATCH_EVENTS = ("on_batch_begin", "on_batch_end", "on_grad_computed")


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


#: torch's optimisers that evaluate the closure once per step, before moving the
#: weights: under them, a step sees only weights projected by the previous one.
_SINGLE_EVALUATION = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD, torch.optim.RMSprop)


def _evaluates_once(optimizer: torch.optim.Optimizer) -> bool:
    return type(optimizer) in _SINGLE_EVALUATION


def _plain(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step`` and ``zero_grad`` are torch's own, with no hook."""
    own = vars(optimizer)
    return not (
        own.get("_optimizer_step_pre_hooks")
        or own.get("_optimizer_step_post_hooks")
        or getattr(_torch_optimizer, "_global_optimizer_pre_hooks", None)
        or getattr(_torch_optimizer, "_global_optimizer_post_hooks", None)
        # A learning-rate scheduler wraps the instance's own step.
        or "step" in own
        or "zero_grad" in own
    )


@torch.no_grad()
def _fused_adam_step(optimizer: torch.optim.Optimizer) -> bool:
    """One step of torch's fused Adam or AdamW as one kernel call per parameter group.

    ``optimizer.step`` of a network this small spends most of its time in Python
    (profiling hooks, grouping the tensors by device, checking its defaults) around
    one fused kernel; this calls the kernel as ``optimizer.step`` does, on the
    optimiser's own state, with the same result to the bit. It applies to torch's
    ``Adam`` and ``AdamW`` built with ``fused=True``, with every parameter holding
    its state (after a first ordinary step) and numbers (not tensors) as learning
    rate and betas, and does nothing and returns False otherwise.
    """
    if type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW) or not _plain(optimizer):
        return False
    calls = []
    for group in optimizer.param_groups:
        if (
            not group.get("fused")
            or group.get("capturable")
            or group.get("differentiable")
            or any(isinstance(v, torch.Tensor) for v in (group["lr"], *group["betas"]))
        ):
            return False
        tensors = ([], [], [], [], [], [])
        for p in group["params"]:
            if p.grad is None:
                continue
            state = optimizer.state.get(p)
            if not state or p.grad.is_sparse or p.is_complex():
                return False
            for store, value in zip(
                tensors,
                (
                    p,
                    p.grad,
                    state["exp_avg"],
                    state["exp_avg_sq"],
                    state.get("max_exp_avg_sq"),
                    state["step"],
                ),
                strict=True,
            ):
                if value is not None:
                    store.append(value)
        if tensors[0]:
            calls.append((group, tensors))
    for group, (params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps) in calls:
        decoupled = group.get("decoupled_weight_decay", type(optimizer) is torch.optim.AdamW)
        kernel = torch._fused_adamw_ if decoupled else torch._fused_adam_
        beta1, beta2 = group["betas"]
        torch._foreach_add_(steps, 1)
        kernel(
            params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            max_exp_avg_sqs,
            steps,
            amsgrad=group["amsgrad"],
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=group["maximize"],
            grad_scale=None,
            found_inf=None,
        )
    return True


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


class ArithmeticNet(NeuralNetRegressor):
    """skorch regressor that trains an :class:`~sknalu.ArithmeticNetwork`.

    The training loss of a batch is

    ``Σ_copies MSE + λ_sparse s(t) Σ_layers R_sparse + λ_oob Σ_layers R_oob``

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
        return [
            (name, cb)
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
        projected = training and not notify and all(map(_evaluates_once, self._optimizer_objects()))
        with self.module_.projected() if projected else contextlib.nullcontext():
            for batch in iterator:
                if notify:
                    self.notify("on_batch_begin", batch=batch, training=training)
                step = step_fn(batch, **fit_params)
                losses.append(step["loss"].detach())
                sizes.append(len(batch[0]))
                if notify:
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

    def _optimizer_objects(self) -> list[torch.optim.Optimizer]:
        return [getattr(self, name + "_") for name in self._optimizers]

    def _zero_grad_optimizer(self, set_to_none=None):
        # torch's zero_grad sets the gradients to None by default; done here
        # directly, without its profiling wrapper, when nothing hooks into it.
        for optimizer in self._optimizer_objects():
            if set_to_none is False or not _plain(optimizer):
                optimizer.zero_grad(**({} if set_to_none is None else {"set_to_none": set_to_none}))
                continue
            for group in optimizer.param_groups:
                for p in group["params"]:
                    p.grad = None

    def _step_optimizer(self, step_fn):
        # torch's fused Adam is called directly (see _fused_adam_step); any other
        # optimiser, and Adam's first step, which creates its state, as skorch does.
        # An optimiser that evaluates the closure once, first, takes the step after
        # it, as its step(closure) would.
        optimizers = self._optimizer_objects()
        if step_fn is None or len(optimizers) != 1 or not _evaluates_once(optimizers[0]):
            super()._step_optimizer(step_fn)
            return
        with torch.enable_grad():
            step_fn()
        if not _fused_adam_step(optimizers[0]):
            optimizers[0].step()

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
            self.module_.fit_constants_(X.X, X.y)
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
        if not training:
            return copy_mse(y_pred, y_true).min()
        # The sum over copies of each copy's MSE: the copies' number times the mean
        # over all of them, one fused node.
        loss = torch.nn.functional.mse_loss(y_pred, y_true.expand_as(y_pred))
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

    def infer(self, x, **fit_params):
        # The batches are tensors on the training device already: no conversion.
        if isinstance(x, torch.Tensor) and not fit_params:
            return self.module_(x)
        return super().infer(x, **fit_params)

    def train_step_single(self, batch, **fit_params):
        # The module is put in training mode only when it is not, not every step.
        if not self.module_.training:
            self._set_training(True)
        Xi, yi = batch
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch, **fit_params):
        accumulator = self.get_train_step_accumulator()
        grad_listeners = self.batch_listeners_["on_grad_computed"]

        def closure():
            self._zero_grad_optimizer()
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
                for optimizer in self._optimizers:
                    for group in getattr(self, optimizer + "_").param_groups:
                        group["lr"] = lr
        self._step_optimizer(closure)
        self.module_.constrain_()
        self.n_steps_ += 1
        return accumulator.get_step()

    def on_epoch_end(self, net, dataset_train=None, **kwargs):
        if dataset_train is not None and dataset_train.y is not None:
            # The constants follow the units' weights in closed form, before any
            # callback measures the copies.
            self.module_.fit_constants_(dataset_train.X, dataset_train.y)
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
    exact_fit : float, default=1e-12
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

    def __init__(self, exact_fit: float = 1e-12) -> None:
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
        losses = evaluate_mse(net.module_, dataset.X, dataset.y)
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
        exact = self.exact_fit * float(dataset.y.square().mean())
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

    An exact fit (:class:`RestartSelection`'s ``exact_``: a held-out mean squared
    error below ``exact_fit`` times the mean squared target) has nothing left to
    learn, so the remaining steps up to ``max_steps`` are skipped. It ends training
    the way skorch's ``EarlyStopping`` does, so it must come last, after every
    callback that acts at the end of an evaluation.

    Attributes
    ----------
    stopped_at_ : int or None
        The optimiser step at which training was ended; None when it ran to
        ``max_steps``.
    """

    def initialize(self):
        self.stopped_at_ = None
        return self

    def on_epoch_end(self, net, **kwargs):
        selection = dict(net.callbacks_).get("restart_selection")
        if selection is not None and selection.exact_ and net.n_steps_ < net.max_steps:
            self.stopped_at_ = net.n_steps_
            raise KeyboardInterrupt


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


class StepProgressBar(Callback):
    """A tqdm progress bar over optimiser steps, with the latest losses."""

    def on_train_begin(self, net, **kwargs):
        self.bar_ = tqdm(total=net.max_steps, unit="step", leave=False)

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        self.bar_.n = net.n_steps_
        self.bar_.set_postfix(
            {k: f"{row[k]:.3g}" for k in ("train_loss", "selection_loss") if k in row},
            refresh=True,
        )

    def on_train_end(self, net, **kwargs):
        self.bar_.close()
        del self.bar_
