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

import functools

import torch
from torch.optim import optimizer as _torch_optimizer

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


@functools.cache
def _supports_fused(optimizer: type, device: torch.device) -> bool:
    """Whether this torch has a fused ``optimizer`` for ``device`` (CPU: torch >= 2.4)."""
    if optimizer not in (torch.optim.Adam, torch.optim.AdamW):
        return False
    try:
        optimizer([torch.zeros(1, device=device, requires_grad=True)], fused=True)
    except (RuntimeError, TypeError, ValueError):
        return False
    return True
