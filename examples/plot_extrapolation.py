"""
Extrapolation: arithmetic units against a multi-layer perceptron
================================================================

A multi-layer perceptron fits the data it was trained on and guesses outside it.
A network of arithmetic units learns the arithmetic itself, so what it learned on
[1, 2] still holds on [2, 6].

All three models below see the same 2,000 rows: two features drawn from U[1, 2] and
their product as the target. They are then asked for the product of numbers drawn
from U[2, 6], a range none of them has seen.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.neural_network import MLPRegressor

from sknalu import NALURegressor, NMURegressor
from sknalu.datasets import make_arithmetic

# SKNALU_EXAMPLES_FAST=1 runs this example with far fewer optimiser steps.
FAST = os.environ.get("SKNALU_EXAMPLES_FAST", "0") != "0"
steps = 600 if FAST else 5000

# %%
# The data
# --------
# :func:`~sknalu.datasets.make_arithmetic` draws every feature from one range and
# evaluates a formula of the features ``x0``, ``x1``, ...

X_train, y_train = make_arithmetic("x0 * x1", n_samples=2000, value_range=(1, 2), random_state=0)
X_test, y_test = make_arithmetic("x0 * x1", n_samples=2000, value_range=(2, 6), random_state=1)

# %%
# The models
# ----------
# :class:`~sknalu.NMURegressor` is, by default, a neural addition unit (NAU)
# followed by a neural multiplication unit (NMU): it learns products of sums.
# Its sparsity regulariser grows from step ``steps // 5`` to ``3 * steps // 5``
# (1,000 to 3,000 of 5,000 steps by default). :class:`~sknalu.NALURegressor` is,
# by default, an NAU followed by a Real NPU, which raises the sums to powers and
# multiplies them; scikit-learn's :class:`~sklearn.neural_network.MLPRegressor`
# with two hidden layers of 64 units is shown for comparison.

models = {
    "NMURegressor": NMURegressor(
        max_steps=steps,
        regularizer_start=steps // 5,
        regularizer_end=3 * steps // 5,
        random_state=0,
    ),
    "NALURegressor": NALURegressor(max_steps=steps, random_state=0),
    "MLPRegressor": MLPRegressor(hidden_layer_sizes=(64, 64), max_iter=2000, random_state=0),
}
for model in models.values():
    model.fit(X_train, y_train)

# %%
# Errors inside and outside the training range
# --------------------------------------------
# The median relative error, ``|prediction - truth| / |truth|``, on fresh rows from
# the training range and on the test range.

X_inside, y_inside = make_arithmetic("x0 * x1", n_samples=2000, random_state=2)


def relative_error(model, X, y):
    return np.median(np.abs(model.predict(X) - y) / np.abs(y))


print(f"{'model':<15}{'U[1, 2]':>12}{'U[2, 6]':>12}")
for name, model in models.items():
    inside = relative_error(model, X_inside, y_inside)
    outside = relative_error(model, X_test, y_test)
    print(f"{name:<15}{inside:>12.2e}{outside:>12.2e}")

# %%
# All three fit the training range. Beyond it, the perceptron continues the
# surface it fitted on [1, 2] almost linearly, while the product grows
# quadratically; the NAU → NMU and NAU → Real NPU networks compute the product
# itself.
#
# Along the diagonal ``x0 = x1 = t`` the target is ``t²``. The left panel follows
# the three models along it, from inside the training range (shaded) to far
# outside; the right panel plots every prediction on U[2, 6] against the truth.
# Predictions beyond the top of a panel are cut off.

t = np.linspace(0.5, 6, 200)
X_line = np.column_stack([t, t])
colors = {"NMURegressor": "C0", "NALURegressor": "C2", "MLPRegressor": "C3"}

fig, (ax_line, ax_scatter) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
ax_line.axvspan(1, 2, color="0.9", label="training range")
ax_line.plot(t, t**2, color="black", linewidth=3, label="truth: t²")
for name, model in models.items():
    ax_line.plot(t, model.predict(X_line), color=colors[name], linewidth=1.5, label=name)
ax_line.set(xlabel="t", ylabel="prediction at x0 = x1 = t", title="Along the diagonal")
ax_line.set_ylim(0, 1.3 * t.max() ** 2)
ax_line.legend(loc="upper left")

lims = [y_test.min(), y_test.max()]
ax_scatter.plot(lims, lims, color="black", linewidth=1)
for name, model in models.items():
    ax_scatter.scatter(y_test, model.predict(X_test), s=4, color=colors[name], label=name)
ax_scatter.set(xlabel="truth: x0 · x1", ylabel="prediction", title="Test range: x0, x1 in U[2, 6]")
ax_scatter.set_ylim(0, 1.3 * y_test.max())
ax_scatter.legend(loc="upper left", markerscale=4)
plt.show()

# %%
# The NMU network is solved: its weights sit on {0, 1} and it computes
# ``x0 * x1`` for any input, not only for inputs from the training range. The
# NALU has the right building blocks too (a multiplicative path), but its gate and
# its weights rarely converge to an exact solution: Madsen & Johansen (2020) report
# that it solved none of 100 seeds of their multiplication benchmark.
