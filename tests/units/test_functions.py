"""The function unit: functions of sums, their selection, snap, read-back and domain."""

import contextlib
import math
import warnings

import numpy as np
import pytest
import sympy
import torch
from conftest import set_weights

from sknalu import ArithmeticNetwork, NALURegressor, NMURegressor, load_model, save_model
from sknalu.formula._reader import network_formula
from sknalu.units import ALL_FUNCTIONS, FUNCTIONS, UNIT_FAMILIES, UNITS, FunctionUnit

pytestmark = pytest.mark.usefixtures("float64")

NUMPY = {
    "id": lambda u: u,
    "exp": np.exp,
    "log": np.log,
    "sin": np.sin,
    "cos": np.cos,
    "sqrt": np.sqrt,
    "tanh": np.tanh,
    "arcsin": np.arcsin,
}


def _plan(weights, biases, choices, functions=FUNCTIONS):
    """A one-copy network ("function", "weighted") computing ``Σ_j f_j(w_j x + b_j)``."""
    net = ArithmeticNetwork(
        len(weights[0]),
        1,
        units=("function", "weighted"),
        hidden_size=len(choices),
        unit_options={"functions": functions},
    )
    net.keep_copy_(0)
    net.layers[0].load_functions_(weights, biases, choices)
    set_weights(net.layers[1].W, [1.0] * len(choices))
    return net


def test_the_unit_is_registered_for_both_estimators_with_its_functions_in_order():
    assert UNITS["function"] is FunctionUnit
    assert UNIT_FAMILIES["function"] == ("nmu", "nalu")
    assert ALL_FUNCTIONS == ("id", "exp", "log", "sin", "cos", "sqrt", "tanh", "arcsin")
    assert FunctionUnit(2, 3).selection.shape == (3, 8)


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_each_function_computes_its_value_of_the_sum(name):
    unit = FunctionUnit(2, 1).eval()
    unit.load_functions_([[0.25, -0.5]], [0.5], [name])
    x = np.array([[0.2, 0.4], [1.0, 0.3], [0.6, -0.2]])
    u = x @ np.array([0.25, -0.5]) + 0.5  # in (0, 1): in every function's domain
    out = unit(torch.tensor(x)).detach().numpy()[:, 0]
    np.testing.assert_allclose(out, NUMPY[name](u), rtol=1e-14)


def test_a_mixed_selection_is_the_weighted_mean_of_its_functions():
    unit = FunctionUnit(1, 1)
    unit.load_functions_([[1.0]], [0.0], ["sin"])
    set_weights(unit.S, [0.0, 0.0, 0.0, 3 / 4, 1 / 4, 0.0, 0.0, 0.0])
    x = torch.tensor([[0.3], [2.0]])
    expected = 0.75 * torch.sin(x) + 0.25 * torch.cos(x)
    torch.testing.assert_close(unit(x).detach(), expected)


def test_snap_makes_near_one_hot_rows_one_hot_and_leaves_mixed_ones():
    unit = FunctionUnit(1, 2)
    unit.load_functions_([[1.0], [1.0]], [0.0, 0.0], ["exp", "exp"])
    set_weights(unit.S, [[0.0, 0.97, 0.01, 0.02, 0, 0, 0, 0], [0, 0.5, 0.3, 0.2, 0, 0, 0, 0]])
    assert unit.snap_(tolerance=0.1) == 3  # the first row's three entries
    selection = unit.selection.detach()
    assert selection[0].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert selection[1, 1].item() == pytest.approx(0.5)
    unit.snap_(tolerance=math.inf)  # every row, onto its largest entry
    assert selection.shape == unit.selection.shape
    assert unit.selection.detach()[1].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert unit.sparsity_error().item() == 0.0


def test_snap_moves_the_constants_onto_simple_numbers():
    unit = FunctionUnit(2, 1)
    unit.load_functions_([[2 * math.pi * (1 + 3e-6), 0.4999991]], [1e-9], ["sin"])
    unit.snap_()
    assert unit.W.detach().tolist() == [[2 * math.pi, 0.5]]
    assert unit.b.item() == 0.0
    unit.load_functions_([[0.123456789, 1.0]], [0.0], ["sin"])
    unit.snap_()
    assert unit.W[0, 0].item() == 0.123456789  # not near a simple number: kept


@pytest.mark.parametrize(
    ("weights", "biases", "choices", "expected"),
    [
        ([[2 * math.pi]], [0.0], ["sin"], "sin(2*pi*x0)"),
        ([[-0.5]], [0.0], ["exp"], "exp(-x0/2)"),
        ([[1.0]], [1.0], ["log"], "log(x0 + 1)"),
        ([[1.0], [3.0]], [0.0, math.pi / 2], ["sqrt", "cos"], "sqrt(x0) + cos(3*x0 + pi/2)"),
        ([[0.5]], [-1 / 3], ["id"], "x0/2 - 1/3"),
        ([[1.0]], [0.0], ["arcsin"], "asin(x0)"),
        ([[2.0]], [0.0], ["tanh"], "tanh(2*x0)"),
    ],
)
def test_a_loaded_plan_reads_back_with_simple_constants(weights, biases, choices, expected):
    net = _plan(weights, biases, choices)
    (formula,) = network_formula(net, ["x0"])
    x0 = sympy.Symbol("x0")
    assert sympy.simplify(formula - sympy.sympify(expected, {"x0": x0})) == 0
    assert str(formula) == str(sympy.sympify(expected, {"x0": x0}))


def test_a_loaded_plan_computes_its_formula():
    net = _plan([[2 * math.pi], [-0.5], [1.0]], [0.0, 0.0, 1.0], ["sin", "exp", "log"]).eval()
    x = np.linspace(0.0, 3.0, 7)
    expected = np.sin(2 * np.pi * x) + np.exp(-x / 2) + np.log(x + 1)
    out = net(torch.tensor(x[:, None])).detach().numpy()[:, 0]
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15)


def test_load_functions_refuses_a_function_the_unit_does_not_allow():
    unit = FunctionUnit(1, 2, functions=("exp",))
    with pytest.raises(ValueError, match="one function per output"):
        unit.load_functions_([[1.0], [1.0]], None, ["exp", "sin"])
    with pytest.raises(ValueError, match="one function per output"):
        unit.load_functions_([[1.0], [1.0]], None, ["exp"])
    assert unit.load_functions_([[1.0], [1.0]], None, ["exp", "id"]) > 0


@pytest.mark.parametrize(
    ("choice", "rows", "outside", "words"),
    [
        ("log", [[2.0], [0.0], [-3.0]], [False, True, True], "log(max(u0, ε))"),
        ("sqrt", [[2.0], [0.0], [-3.0]], [False, False, True], "square root"),
        ("arcsin", [[0.5], [1.0], [-3.0]], [False, False, True], "[-1, 1]"),
        ("exp", [[700.0], [-1e4], [1e4]], [False, False, True], "overflows float64"),
        ("sin", [[1e300], [0.0], [-1e300]], [False, False, False], None),
    ],
)
def test_domain_violations_name_the_rows_outside(choice, rows, outside, words):
    unit = FunctionUnit(1, 1)
    unit.load_functions_([[1.0]], [0.0], [choice])
    violations = unit.domain_violations(torch.tensor(rows), ["a"])
    flagged = torch.zeros(len(rows), dtype=torch.bool)
    for violation in violations:
        flagged |= violation.rows
        assert f"applies {choice} to its sum u0 = a" in violation.reason
        assert words in violation.reason
    assert flagged.tolist() == outside
    assert all(torch.isfinite(unit.eval()(torch.tensor(rows))).tolist())


def test_an_unselected_function_reports_nothing():
    unit = FunctionUnit(1, 1)
    unit.load_functions_([[1.0]], [0.0], ["sin"])
    assert unit.domain_violations(torch.tensor([[-5.0], [0.0]])) == []


def test_training_never_meets_nan_or_inf():
    unit = FunctionUnit(2, 3, n_copies=4, generator=torch.Generator().manual_seed(0))
    set_weights(unit.S, torch.full((4, 3, 8), 0.5))  # every function used
    x = torch.tensor([[0.0, 0.0], [-5.0, 2.0], [1e3, -1e3], [1e-9, 0.0], [1.0, 1.0]])
    out = unit(x)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    for name, p in unit.named_parameters():
        assert torch.isfinite(p.grad).all(), name
    # Prediction computes exp up to just below the overflow: finite, if huge.
    assert torch.isfinite(unit.eval()(x * 1e3)).all()


def test_copies_share_the_allowed_functions_and_keep_copy_keeps_them():
    net = ArithmeticNetwork(
        1, 1, units=("function", "weighted"), n_copies=5, unit_options={"functions": ("sin",)}
    )
    unit = net.layers[0]
    assert unit.functions == ("sin",)
    assert set(unit.selection.detach().nonzero()[:, -1].tolist()) <= {0, 3}
    net.keep_copy_(3)
    assert unit.allowed.shape == (1, 8) and unit.functions == ("sin",)
    assert net(torch.ones(4, 1)).shape == (4, 1)


def test_unit_options_reach_only_the_units_that_take_them():
    net = ArithmeticNetwork(
        2, 1, units=("nau", "function", "weighted"), unit_options={"functions": ()}
    )
    assert net.layers[1].functions == ()
    assert net.layers[1].selection[..., 0].eq(1).all()  # the identity only


# -- through the estimators ---------------------------------------------------------


@contextlib.contextmanager
def session_dtype():
    """torch's default type as a fresh session has it, float32, within the block: the
    initial weights are drawn in it (the user guide's examples run so)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _sine(n=300):
    X = np.random.default_rng(0).uniform(-3, 3, size=(n, 1))
    return X, 2 * np.sin(X[:, 0])


def test_an_estimator_learns_a_sine_and_extrapolates():
    X, y = _sine()
    est = NMURegressor(
        units=("function", "weighted"), hidden_size=1, max_steps=2000, random_state=0
    )
    with session_dtype():
        est.fit(X, y)
    assert est.formula_ == "2*sin(x0)"
    assert est.formula_exact_
    X_far = np.linspace(10, 20, 11)[:, None]
    np.testing.assert_allclose(est.predict(X_far), 2 * np.sin(X_far[:, 0]), atol=1e-9)


def test_functions_restricts_the_choice_and_a_regularised_fit_finds_the_exponential():
    X = np.random.default_rng(0).uniform(-3, 3, size=(300, 1))
    est = NMURegressor(
        units=("function", "weighted"),
        functions=("exp",),
        regularizer_strength=0.1,
        max_steps=3000,
        random_state=0,
    )
    with session_dtype():
        est.fit(X, np.exp(-X[:, 0] / 2))
    assert est.formula_ == "exp(-x0/2)" and est.formula_exact_
    unit = est.net_.module_.layers[0]
    assert unit.functions == ("exp",)
    assert not unit.selection.detach()[..., [2, 3, 4, 5, 6, 7]].any()


@pytest.mark.parametrize("Estimator", [NMURegressor, NALURegressor])
@pytest.mark.parametrize("units", [("function", "weighted"), "auto"])
def test_an_unknown_function_is_a_clear_error_in_fit(Estimator, units):
    X, y = _sine(30)
    est = Estimator(units=units, functions=("sin", "sine"))
    with pytest.raises(ValueError, match="no function 'sine'; choose from 'exp', 'log'"):
        est.fit(X, y)
    assert est.functions == ("sin", "sine")  # stored as given
    with pytest.raises(ValueError, match="functions"):
        Estimator(units=units, functions="sin").fit(X, y)


def test_predict_warns_about_rows_outside_the_domain_of_a_logarithm():
    X = np.random.default_rng(0).uniform(0, 3, size=(200, 1))
    est = NMURegressor(
        units=("function", "weighted"), hidden_size=1, functions=("log",), max_steps=500
    ).fit(X, np.log(X[:, 0] + 1))
    est.net_.module_.layers[0].load_functions_([[1.0]], [1.0], ["log"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.predict(np.array([[0.5], [3.0]]))  # inside: silent
    with pytest.warns(RuntimeWarning, match=r"rows? 1\b.*applies log to its sum u0 = x0 \+ 1"):
        predicted = est.predict(np.array([[0.5], [-2.0]]))
    assert np.isfinite(predicted).all()


@pytest.mark.parametrize("Estimator", [NMURegressor, NALURegressor])
def test_a_logarithm_of_small_numbers_is_read_back_exactly(Estimator):
    # pH = -log10(h) of neutral to basic water: h below training's floor of log, 1e-7.
    h = 10 ** np.random.default_rng(1).uniform(-10, -7, size=(300, 1))
    est = Estimator(units="auto", max_time=20, random_state=1).fit(h, -np.log10(h[:, 0]))
    assert est.formula_exact_
    ratio = sympy.simplify(est.to_sympy() / sympy.log(sympy.Symbol("x0")))
    assert ratio.is_number and math.isclose(float(ratio), -1 / math.log(10), rel_tol=1e-9)
    np.testing.assert_allclose(est.predict(np.array([[1e-12], [0.5]])), [12, -np.log10(0.5)])


def test_a_saved_model_keeps_its_functions(tmp_path):
    X = np.random.default_rng(0).uniform(0, 3, size=(100, 1))
    est = NALURegressor(
        units=("function", "weighted"), hidden_size=1, functions=("log", "sqrt"), max_steps=500
    ).fit(X, np.log(X[:, 0] + 1))
    est.net_.module_.layers[0].load_functions_([[1.0]], [1.0], ["log"])
    save_model(est, tmp_path / "model.skops")
    loaded = load_model(tmp_path / "model.skops")
    assert loaded.functions == ("log", "sqrt")
    assert loaded.net_.module_.layers[0].functions == ("log", "sqrt")
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
