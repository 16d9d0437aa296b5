"""The worked example of the user guide's "Adding a unit": a unit defined outside
sknalu's code, registered by name, and used by an estimator like any other.

The user guide shows the class and its registration from this file (between the
``# --`` markers), so the documented example is the tested one.
"""

import numpy as np
import pytest
import torch

from sknalu import NALURegressor, NMURegressor
from sknalu.plotting import plot_weights

# -- the unit ---------------------------------------------------------------------
from sknalu.units import BINARY, ArithmeticUnit, register_unit, unregister_unit


class Selector(ArithmeticUnit):
    """Adds a subset of its inputs: ``z = clamp(W, 0, 1) x``, weights {0, 1}."""

    # Declared once; weight, constrain_, oob_loss and the saddle escape read them.
    bounds = {"W": (0.0, 1.0)}  # noqa: RUF012
    # The sparsity regulariser, the sparsity error, the snap and the formula's
    # exactness read these.
    weight_targets = BINARY

    def _build(self):
        self.W = self._weight_param()

    def reset_parameters(self, generator=None):
        with torch.no_grad():
            self.W.uniform_(0.25, 0.75, generator=generator)

    @property
    def weight(self):
        return self._clip("W")

    def forward(self, x):
        return x @ self.weight.transpose(-1, -2)

    @torch.no_grad()
    def snap_(self, tolerance=0.1):
        target = self.weight.round()
        move = ((self.weight - target).abs() <= tolerance) & (self.weight != target)
        self.W[move] = target[move]
        return int(move.sum())

    def formula(self, xs, reader, gate_range=None):
        return reader.sums(reader.numbers(self.weight, self.weight_targets), xs)


# -- end of the unit ----------------------------------------------------------------


@pytest.fixture
def selector():
    # -- registration -------------------------------------------------------------
    register_unit("selector", Selector, families=("nmu",))
    # -- end of registration ------------------------------------------------------
    yield
    unregister_unit("selector")


def _data(seed, low=1.0, high=2.0, n=500):
    X = np.random.default_rng(seed).uniform(low, high, size=(n, 3))
    return X, X[:, 0] + X[:, 2]


def test_a_registered_unit_learns_its_formula_and_extrapolates(selector):
    X, y = _data(0)
    est = NMURegressor(units=("selector",), max_steps=1500, random_state=0).fit(X, y)
    assert est.formula_ == "x0 + x2"
    assert est.formula_exact_
    assert est.sparsity_error_ == 0.0
    X_far, y_far = _data(1, 10.0, 100.0)
    np.testing.assert_allclose(est.predict(X_far), y_far, rtol=1e-12)


def test_a_registered_unit_is_offered_only_to_its_family(selector):
    X, y = _data(0)
    with pytest.raises(ValueError, match="'selector' \\(a unit of the other estimator\\)"):
        NALURegressor(units=("selector",), max_steps=10, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"choose from 'nau', .*'selector'"):
        NMURegressor(units="typo", max_steps=10, random_state=0).fit(X, y)


def test_a_registered_unit_works_with_the_escape_the_plots_and_clipping(selector):
    X, y = _data(2)
    est = NMURegressor(units=("selector", "nmu"), hidden_size=1, max_steps=300, random_state=0).fit(
        X, y
    )
    assert all(0.0 <= w <= 1.0 for w in est.net_.module_.layers[0].W.detach().ravel())
    fig = plot_weights(est)
    assert fig.axes[0].get_xticklabels()[0].get_text() == "x0"


def test_unregistered_units_are_gone(selector):
    unregister_unit("selector")
    with pytest.raises(ValueError, match="does not know the unit 'selector'"):
        NMURegressor(random_state=0, units=("selector",), max_steps=10).fit(*_data(0))
    register_unit("selector", Selector, families=("nmu",))


def test_register_unit_checks_its_arguments():
    with pytest.raises(TypeError, match="subclass of ArithmeticUnit"):
        register_unit("dense", torch.nn.Linear, families=("nmu",))
    with pytest.raises(ValueError, match="families"):
        register_unit("selector", Selector, families=("mlp",))
