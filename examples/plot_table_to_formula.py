"""
From a table to a formula
=========================

A table of measurements rarely comes with its formula. Here a test track logged the
energy of carts: their mass in kilograms, their speed in kilometres per hour, the
height of the track in metres, and the paint code of each cart, which has nothing to
do with energy. The energy, in kilojoules, was measured with an error of about 1%.

``units="auto"`` looks for the formula's structure, fits it with arithmetic units,
and reads it back. The formula then predicts carts heavier, faster and higher than
any in the table.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sknalu import NALURegressor
from sknalu.plotting import plot_extrapolation


def track_log(n, mass, speed, height, seed):
    rng = np.random.default_rng(seed)
    carts = pd.DataFrame(
        {
            "mass_kg": rng.uniform(*mass, n).round(1),
            "speed_kmh": rng.uniform(*speed, n).round(1),
            "height_m": rng.uniform(*height, n).round(2),
            "paint_code": rng.integers(1, 6, n).astype(float),
        }
    )
    # Kinetic plus potential energy, in kJ: m (v / 3.6)² / 2 + 9.81 m h.
    speed_ms = carts["speed_kmh"] / 3.6
    energy = (
        carts["mass_kg"] * speed_ms**2 / 2 + 9.81 * carts["mass_kg"] * carts["height_m"]
    ) / 1000
    noise = 0.01 * energy.std() * rng.standard_normal(n)
    return carts, energy + noise


X, y = track_log(500, mass=(50, 200), speed=(5, 30), height=(0, 10), seed=0)
X.head()

# %%
# The search
# ----------
# ``units="auto"`` tries, in closed form, a constant times a product of powers of the
# columns, sums of such terms, ratios of two sums and the linear model; it writes the
# best few into networks of the estimator's units and keeps the exact one with the
# simplest formula, or, as here with noisy energies, the simplest one whose held-out
# error is within 5% of the lowest. ``search_results_`` says what it tried.

est = NALURegressor(units="auto", random_state=0).fit(X, y)
pd.DataFrame(est.search_results_)[
    ["source", "units", "validation_score", "formula_exact", "complexity", "chosen"]
]

# %%
# The formula
# -----------
# Energy in kJ is ``mass_kg * speed_kmh**2 / 25920 + 0.00981 * mass_kg * height_m``.
# The formula read back has those two terms and no others: the paint code is left
# out. Its constants are within the noise of the true ones, and the ``≈`` says that
# the formula fits the table only up to that noise.

print(est.formula_)
print(f"1 / 25920 = {1 / 25920:.4g}")

# %%
# Beyond the table
# ----------------
# Heavier, faster carts on a higher track: the formula holds there too, while a
# multi-layer perceptron, which fits the same table about as well, does not.

X_far, y_far = track_log(300, mass=(200, 600), speed=(30, 90), height=(10, 40), seed=1)
mlp = make_pipeline(StandardScaler(), MLPRegressor(max_iter=2000, random_state=0)).fit(X, y)
ax = plot_extrapolation(est, X, y, X_far, y_far, baseline=mlp)
ax.set_xlabel("measured energy (kJ)")
ax.set_ylabel("predicted energy (kJ)")
plt.show()
