"""
Reading the learned formula
===========================

A solved network of arithmetic units is a formula: its weights sit on {-1, 0, 1}
(the NAU) or {0, 1} (the NMU), and a weight of 0 drops its input. A fitted
estimator reads that formula back, with the DataFrame's column names, as text
(``formula_``) and as a sympy expression (:meth:`~sknalu.NMURegressor.to_sympy`).

The data are order lines: a unit price, a quantity, and a discount rate that the
target does not use. The target is the line's revenue before discount,
``price * qty``.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import sympy

from sknalu import NMURegressor

# SKNALU_EXAMPLES_FAST=1 runs this example with far fewer optimiser steps.
FAST = os.environ.get("SKNALU_EXAMPLES_FAST", "0") != "0"
steps = 600 if FAST else 5000


def order_lines(n, max_price, max_qty, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "price": rng.uniform(1, max_price, n).round(2),
            "qty": rng.integers(1, max_qty + 1, n).astype(float),
            "discount": rng.uniform(0, 0.3, n).round(2),
        }
    )


X = order_lines(1000, max_price=20, max_qty=10, seed=0)
y = X["price"] * X["qty"]
X.head()

# %%
# Fit and read
# ------------
# The default network, NAU → NMU, multiplies sums of the inputs. After training,
# the estimator moves every weight that is close to a discrete value exactly onto
# it (``snap=True``, the default) and keeps the result only if the held-out error
# does not get worse.

est = NMURegressor(
    max_steps=steps,
    regularizer_start=steps // 5,
    regularizer_end=3 * steps // 5,
    random_state=0,
)
est.fit(X, y)
print(f"formula_:         {est.formula_}")
print(f"sparsity_error_:  {est.sparsity_error_:.2g}")
print(f"snapped_:         {est.snapped_}")

# %%
# ``discount`` has dropped out. ``sparsity_error_`` is the largest distance of any
# weight from {-1, 0, 1}: 0 means that the network computes exactly the formula
# shown. :meth:`~sknalu.NMURegressor.to_sympy` returns the same formula as a sympy
# expression, to print in LaTeX, simplify, substitute into or compile:

expr = est.to_sympy()
print(sympy.latex(expr))
expr.subs({"price": 12.5, "qty": 4})

# %%
# The formula holds far outside the training range: prices up to 200 and
# quantities up to 100, against 20 and 10 during training.

X_far = order_lines(500, max_price=200, max_qty=100, seed=1)
y_far = X_far["price"] * X_far["qty"]
y_pred = est.predict(X_far)

fig, ax = plt.subplots(figsize=(5, 4.5), layout="constrained")
ax.plot([0, y_far.max()], [0, y_far.max()], color="black", linewidth=1)
ax.scatter(y_far, y_pred, s=6)
ax.set(
    xlabel="price · qty",
    ylabel="prediction",
    title=f"Learned: {est.formula_}\nprice ≤ 200, qty ≤ 100 (trained on ≤ 20, ≤ 10)",
)
plt.show()

# %%
# When the network cannot represent the target
# --------------------------------------------
# An exact formula is not necessarily the right one. An NAU → NAU network can only
# add and subtract, so on the same data it settles on some sum: its weights are
# discrete, but its error is large. Read the formula together with the score.

adder = NMURegressor(
    units=("nau", "nau"),
    max_steps=steps,
    regularizer_start=steps // 5,
    regularizer_end=3 * steps // 5,
    random_state=0,
).fit(X, y)
print("NAU → NAU:", adder.formula_, f"R² = {adder.score(X, y):.2f}")
print("NAU → NMU:", est.formula_, f"R² = {est.score(X, y):.2f}")

# %%
# A formula that is only approximately what the network computes, because some
# weights stayed away from the discrete values, is shown with four-digit
# coefficients and prefixed with ``≈``; ``to_sympy`` then warns.
