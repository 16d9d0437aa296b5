"""
The regulariser schedule and the restarts, step by step
=======================================================

:class:`~sknalu.NMURegressor` trains ``n_restarts`` independently initialised
copies of its network at once and adds a sparsity regulariser that pulls the
weights towards {-1, 0, 1}. The regulariser is off for the first
``regularizer_start`` optimiser steps, then grows linearly to full strength
``regularizer_strength`` at ``regularizer_end``.

A small skorch callback, passed through the ``callbacks`` hyperparameter, records
every copy's error and sparsity error during training, so that we can watch what
the schedule does to each of them.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from skorch.callbacks import Callback

from sknalu import NMURegressor
from sknalu.datasets import make_arithmetic

# SKNALU_EXAMPLES_FAST=1 runs this example with far fewer optimiser steps.
FAST = os.environ.get("SKNALU_EXAMPLES_FAST", "0") != "0"
steps = 600 if FAST else 5000

formula = "(x0 + x1) * x2"
X, y = make_arithmetic(formula, n_samples=2000, n_features=3, random_state=0)
X_far, y_far = make_arithmetic(
    formula, n_samples=1000, n_features=3, value_range=(2, 6), random_state=1
)

# %%
# A callback that watches every copy
# ----------------------------------
# During training, ``net.module_`` is the :class:`~sknalu.ArithmeticNetwork`
# holding all copies: its output has one slice per copy, and
# :meth:`~sknalu.ArithmeticNetwork.sparsity_error` gives one value per copy. Every
# ``every`` optimiser steps the callback measures each copy's mean squared error on
# data from the training range and from U[2, 6].


class CopyTrace(Callback):
    def __init__(self, X_inside, y_inside, X_outside, y_outside, every=50):
        self.X_inside = X_inside
        self.y_inside = y_inside
        self.X_outside = X_outside
        self.y_outside = y_outside
        self.every = every

    def initialize(self):
        self.data_ = {
            name: (torch.tensor(X, dtype=torch.float64), torch.tensor(y, dtype=torch.float64))
            for name, X, y in [
                ("inside", self.X_inside, self.y_inside),
                ("outside", self.X_outside, self.y_outside),
            ]
        }
        self.steps_ = 0
        self.trace_ = []
        return self

    @torch.no_grad()
    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        self.steps_ += 1
        if self.steps_ % self.every:
            return
        module = net.module_
        record = {"step": self.steps_, "sparsity_error": module.sparsity_error().numpy()}
        for name, (X, y) in self.data_.items():
            # The output is [copies, rows, 1]: one mean squared error per copy.
            record[name] = ((module(X)[..., 0] - y) ** 2).mean(dim=-1).numpy()
        self.trace_.append(record)


X_check, y_check = make_arithmetic(formula, n_samples=1000, n_features=3, random_state=2)
trace = CopyTrace(X_check, y_check, X_far, y_far, every=10 if FAST else 50)

# %%
# Fit
# ---
# The schedule below grows from step 1,000 to step 3,000 of 5,000, as
# :class:`~sknalu.NMURegressor`'s default does over 10,000. Its strength is
# relative to the mean squared target (about 22 here), and set well above the
# default of 1e-6 so that the regulariser alone pulls the weights onto exact
# values: the snap and the saddle escape, which would otherwise do that, are off.

est = NMURegressor(
    n_restarts=8,
    max_steps=steps,
    regularizer_strength=0.05,
    regularizer_start=steps // 5,
    regularizer_end=3 * steps // 5,
    snap=False,
    escape_saddles=False,
    callbacks=[("trace", trace)],
    random_state=0,
)
est.fit(X, y)
print(f"kept restart {est.best_restart_} at step {est.best_step_}")

# %%
# Plot the trace
# --------------
# The top panel is the schedule ``λ s(t)`` with
# ``s(t) = max(0, min(1, (t - start) / (end - start)))``. Below it, each grey line is
# one copy and the blue one is the copy that was kept: the one with the lowest
# error on the held-out rows (``validation_fraction`` of the training data) at any
# evaluation, every 500 steps. The dotted line marks the step whose weights were
# kept (``best_step_``).

records = trace.trace_
step = np.array([r["step"] for r in records])
start, end = est.regularizer_start, est.regularizer_end
schedule = est.regularizer_strength * np.clip((step - start) / (end - start), 0, 1)

fig, axes = plt.subplots(4, 1, figsize=(8, 9), sharex=True, layout="constrained")
axes[0].plot(step, schedule, color="black")
axes[0].set(ylabel="λ s(t)", title=f"NMURegressor on y = {formula}")
panels = [
    ("inside", "MSE on U[1, 2]"),
    ("outside", "MSE on U[2, 6]"),
    ("sparsity_error", "sparsity error"),
]
for ax, (key, label) in zip(axes[1:], panels, strict=True):
    values = np.array([r[key] for r in records])  # [evaluations, copies]
    ax.plot(step, values, color="0.75", linewidth=1)
    ax.plot(step, values[:, est.best_restart_], color="C0", linewidth=2, label="kept copy")
    ax.set(yscale="log", ylabel=label)
for ax in axes:
    ax.axvspan(start, end, color="C1", alpha=0.1)
    ax.axvline(est.best_step_, color="C0", linestyle=":")
axes[1].legend(loc="upper right")
axes[-1].set(xlabel="optimiser step")
plt.show()

# %%
# Before the regulariser starts (shaded: while it grows), the copies approach the
# target on the training range, but their weights are only near {-1, 0, 1}, and
# their error on U[2, 6] stays high. As the regulariser grows, the copies that found the right
# structure are pulled onto exact weights: their sparsity error, and with it their
# error far outside the training range, falls by many orders of magnitude. Copies
# stuck in a wrong structure cannot fit the training range, and the selection on
# held-out rows passes them over. A sparsity error or an error of exactly zero
# leaves the log scale; those lines stop.
