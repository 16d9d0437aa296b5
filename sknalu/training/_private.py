"""The one module that uses private torch and skorch APIs, with a switch to turn them off.

A training step of a network this small is fixed per-call cost, not arithmetic:
``optimizer.step`` spends most of its time in Python (profiling hooks, grouping
tensors by device) around one fused kernel. Here, and only here, sknalu reaches
past the documented APIs to cut that cost, each time with the same result to the
bit as the documented path:

- :func:`fused_adam_step` calls torch's fused Adam/AdamW kernel
  (``torch._fused_adam_``) on the optimiser's own state;
- :func:`plain` reads torch's private hook registries to know when that is safe;
- :func:`optimizers_of` and :func:`set_training` use skorch's private registry of
  optimisers and its ``_set_training``.

Setting the environment variable ``SKNALU_PRIVATE_APIS=0`` before import, or
:data:`ENABLED` to False, makes every step go through ``optimizer.step(closure)``
and ``optimizer.zero_grad()`` as documented.
"""

from __future__ import annotations

import functools
import os

import torch
from torch.optim import optimizer as _torch_optimizer

#: Whether the private fast paths are used; ``SKNALU_PRIVATE_APIS=0`` turns them off.
ENABLED = os.environ.get("SKNALU_PRIVATE_APIS", "1") != "0"

#: torch's optimisers that evaluate the closure once per step, before moving the
#: weights: under them, a step sees only weights projected by the previous one.
_SINGLE_EVALUATION = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD, torch.optim.RMSprop)


def evaluates_once(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer`` evaluates the closure once per step, before moving the weights."""
    return type(optimizer) in _SINGLE_EVALUATION


def plain(optimizer: torch.optim.Optimizer) -> bool:
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
def fused_adam_step(optimizer: torch.optim.Optimizer) -> bool:
    """One step of torch's fused Adam or AdamW as one kernel call per parameter group.

    ``optimizer.step`` of a network this small spends most of its time in Python
    (profiling hooks, grouping the tensors by device, checking its defaults) around
    one fused kernel; this calls the kernel as ``optimizer.step`` does, on the
    optimiser's own state, with the same result to the bit. It applies to torch's
    ``Adam`` and ``AdamW`` built with ``fused=True``, with every parameter holding
    its state (after a first ordinary step) and numbers (not tensors) as learning
    rate and betas, and does nothing and returns False otherwise.
    """
    if type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW) or not plain(optimizer):
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
def supports_fused(optimizer: type, device: torch.device) -> bool:
    """Whether this torch has a fused ``optimizer`` for ``device`` (CPU: torch >= 2.4)."""
    if optimizer not in (torch.optim.Adam, torch.optim.AdamW):
        return False
    try:
        optimizer([torch.zeros(1, device=device, requires_grad=True)], fused=True)
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


def optimizers_of(net) -> list[torch.optim.Optimizer]:
    """The optimisers of a skorch ``net`` (skorch keeps their names in ``_optimizers``)."""
    return [getattr(net, name + "_") for name in net._optimizers]


def set_training(net) -> None:
    """Put a skorch ``net``'s modules in training mode (skorch's ``_set_training``)."""
    net._set_training(True)


def zero_grad(net) -> None:
    """Clear the gradients of ``net``'s optimisers: set to None, as torch's ``zero_grad`` does.

    Done directly, without ``zero_grad``'s profiling wrapper, when nothing hooks into
    the optimiser and :data:`ENABLED`.
    """
    for optimizer in optimizers_of(net):
        if not (ENABLED and plain(optimizer)):
            optimizer.zero_grad()
            continue
        for group in optimizer.param_groups:
            for p in group["params"]:
                p.grad = None


def step(net, closure) -> None:
    """One optimiser step of ``net``: ``closure`` computes the loss and the gradients.

    torch's fused Adam is called directly (:func:`fused_adam_step`); any other
    optimiser, and Adam's first step, which creates its state, as documented. An
    optimiser that evaluates the closure once, first, takes the step after it, as
    its ``step(closure)`` would.
    """
    optimizers = optimizers_of(net)
    if not ENABLED or len(optimizers) != 1 or not evaluates_once(optimizers[0]):
        for optimizer in optimizers:
            optimizer.step(closure)
        return
    with torch.enable_grad():
        closure()
    if not fused_adam_step(optimizers[0]):
        optimizers[0].step()
