"""Reading the learned formula: to_sympy, formula_, formula_exact_, sparsity_error_."""

import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import sympy
import torch

from sknalu import ArithmeticNetwork, NALURegressor, NMURegressor
from sknalu.exceptions import FormulaWarning
from sknalu.formula._estimator import _factored, _roots_tidied
from sknalu.formula._reader import gate_ranges, max_distance, network_formula, symbol_names


def frame(columns, n_samples=200, seed=0, value_range=(1.0, 2.0)):
    rng = np.random.default_rng(seed)
    X = rng.uniform(*value_range, size=(n_samples, len(columns)))
    return pd.DataFrame(X, columns=list(columns))


def assert_same_formula(expr, expected):
    expected = sympy.sympify(expected)
    assert sympy.simplify(expr - expected) == 0, f"{expr} != {expected}"


def to_sympy_without_warning(est, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FormulaWarning)
        return est.to_sympy(**kwargs)


# -- the learned formulas -------------------------------------------------------------


def test_price_times_quantity_with_a_distractor_reads_exactly():
    X = frame(["price", "qty", "noise"])
    est = NMURegressor(max_steps=3000, random_state=0).fit(X, X.price * X.qty)
    expr = to_sympy_without_warning(est)
    assert expr == sympy.Symbol("price") * sympy.Symbol("qty")
    assert est.formula_ == "price*qty"
    assert est.formula_exact_ and est.snapped_
    assert est.sparsity_error_ == 0.0
    # Snapped, the network computes exactly its formula, however far out of range.
    X_far = frame(["price", "qty", "noise"], seed=1, value_range=(-1e4, 1e4))
    np.testing.assert_array_equal(est.predict(X_far), X_far.price * X_far.qty)


def test_product_of_a_sum_reads_exactly():
    X = frame("abc")
    est = NMURegressor(max_steps=3000, random_state=0).fit(X, (X.a + X.b) * X.c)
    expr = to_sympy_without_warning(est)
    assert_same_formula(expr, "(a + b) * c")
    assert expr.equals(sympy.sympify("a*c + b*c"))
    assert est.formula_exact_


def test_signed_sum_reads_exactly():
    X = frame("uvw")
    est = NMURegressor(units=("nau", "nau"), max_steps=3000, random_state=0)
    est.fit(X, X.u - X.v + X.w)
    assert to_sympy_without_warning(est) == sympy.sympify("u - v + w")
    assert est.formula_ == "u - v + w"


def test_nac_sum_reads_exactly_after_saturating_snap():
    X = frame("pq")
    schedule = {"regularizer_strength": 1.0, "regularizer_start": 500, "regularizer_end": 1500}
    est = NALURegressor(units=("nac",), n_restarts=4, max_steps=2000, random_state=0, **schedule)
    est.fit(X, X.p + X.q)
    assert to_sympy_without_warning(est) == sympy.sympify("p + q")
    assert est.snapped_ and est.formula_ == "p + q"
    X_far = frame("pq", seed=1, value_range=(-1e6, 1e6))
    np.testing.assert_allclose(est.predict(X_far), X_far.p + X_far.q, rtol=1e-12)


def test_array_input_names_the_features_x0_x1():
    X = frame("ab").to_numpy()
    est = NMURegressor(max_steps=2000, random_state=0).fit(X, X[:, 0] * X[:, 1])
    assert to_sympy_without_warning(est) == sympy.sympify("x0 * x1")


def test_multi_output_gives_a_column_matrix():
    X = frame("ab", n_samples=300)
    Y = np.column_stack([X.a + X.b, X.a - X.b])
    est = NMURegressor(units=("nau", "nau"), max_steps=3000, random_state=0).fit(X, Y)
    expr = to_sympy_without_warning(est)
    assert isinstance(expr, sympy.Matrix) and expr.shape == (2, 1)
    assert expr == sympy.Matrix(sympy.sympify(["a + b", "a - b"]))
    assert est.formula_ == "[a + b, a - b]"


# -- column names that are not sympy symbols ------------------------------------------------


def substitute(expr, symbols, rows):
    """``expr`` evaluated on every row of ``rows`` through ``{symbol: column}``."""
    return np.array(
        [
            float(expr.subs({sympy.Symbol(s): row[c] for s, c in symbols.items()}))
            for _, row in rows.iterrows()
        ]
    )


@pytest.mark.parametrize(
    "columns, operation",
    [
        (("2", "3"), "product"),
        (("unit price", "qty-2"), "product"),
        (("unit price", "qty-2"), "sum"),
        (("pi", "b"), "pi product"),  # a column named pi next to the constant π
        (("E", "b"), "product"),
        (("lambda", "b"), "product"),
        (("x y", "x_y"), "product"),
        (("x y", "x_y"), "sum"),
        (("größe", "€ rate"), "product"),
    ],
)
def test_any_column_names_read_back(columns, operation):
    X = frame(columns)
    a, b = X[columns[0]], X[columns[1]]
    if operation == "sum":
        est = NMURegressor(units=("nau", "nau"), max_steps=3000, random_state=0)
        est.fit(X, a + b)
    else:
        est = NMURegressor(max_steps=3000, random_state=0)
        est.fit(X, (np.pi if operation == "pi product" else 1.0) * a * b)
    assert est.formula_exact_
    expr = to_sympy_without_warning(est)
    symbols = est.formula_symbols_
    assert list(symbols.values()) == list(columns)
    assert {s.name for s in expr.free_symbols} <= set(symbols)
    # The string reads back as the expression, in the same symbols.
    read = sympy.sympify(est.formula_)
    assert read.free_symbols == expr.free_symbols
    assert sympy.simplify(read - expr) == 0
    rows = X.iloc[:5]
    predicted = est.predict(rows)
    np.testing.assert_allclose(substitute(read, symbols, rows), predicted, rtol=1e-12)
    np.testing.assert_allclose(substitute(expr, symbols, rows), predicted, rtol=1e-12)


def test_a_column_named_like_a_sympy_constant_reads_as_a_symbol():
    X = frame(["pi", "r"])
    est = NMURegressor(max_steps=3000, random_state=0).fit(X, np.pi * X.pi * X.r)
    assert est.formula_symbols_ == {"pi_": "pi", "r": "r"}
    assert est.formula_ == "pi*pi_*r"
    assert to_sympy_without_warning(est) == sympy.pi * sympy.Symbol("pi_") * sympy.Symbol("r")


def test_array_features_are_their_own_symbols():
    X = frame("ab").to_numpy()
    est = NMURegressor(max_steps=2000, random_state=0).fit(X, X[:, 0] * X[:, 1])
    assert est.formula_symbols_ == {"x0": "x0", "x1": "x1"}


def test_symbol_names_keep_names_sympy_reads_back():
    names = ["price", "qty", "x0", "größe", "e", "C", "match", "_"]
    assert symbol_names(names) == names


@pytest.mark.parametrize(
    "names, symbols",
    [
        (["2", "3"], ["_2", "_3"]),
        (["unit price", "qty-2"], ["unit_price", "qty_2"]),
        (["price ($)", " a  b ", "", "$"], ["price", "a_b", "_", "__1"]),
        (["pi", "E", "I", "S", "N", "oo", "beta", "max"], None),
        (["lambda", "if", "True", "None"], ["lambda_", "if_", "True_", "None_"]),
        (["x y", "x_y", "x-y", "x_y_1"], ["x_y_2", "x_y", "x_y_3", "x_y_1"]),
        (["a", "a", "a_1"], ["a", "a_2", "a_1"]),
        (["pi", "pi_"], ["pi_1", "pi_"]),
        (["ﬁ", "fi"], ["fi_1", "fi"]),
    ],
)
def test_symbol_names_make_other_names_safe_and_unique(names, symbols):
    got = symbol_names(names)
    if symbols is None:
        symbols = [name + "_" for name in names]
    assert got == symbols
    assert len(set(got)) == len(got)
    for name in got:
        assert name.isidentifier()
        assert sympy.sympify(name) == sympy.Symbol(name)


def test_network_formula_names_symbols_safely():
    net = _network(("nmu",), 3)
    _set(net.layers[0].W, [1.0, 1.0, 1.0])
    expr = network_formula(net, ["pi", "E", "2"])[0]
    assert expr == sympy.Symbol("pi_") * sympy.Symbol("E_") * sympy.Symbol("_2")
    assert sympy.sympify(str(expr)) == expr


# -- a model that did not converge ---------------------------------------------------------


def test_unconverged_model_is_marked_and_warns():
    X = frame(["price", "qty", "noise"])
    # Without the saddle escape and the snap, whose rounding solves even this in 20 steps.
    est = NMURegressor(max_steps=20, escape_saddles=False, snap=False, random_state=0)
    est.fit(X, X.price * X.qty)
    assert not est.formula_exact_
    assert est.formula_.startswith("≈ ")
    assert est.sparsity_error_ > 0.01
    with pytest.warns(FormulaWarning, match="did not converge to an exact formula"):
        expr = est.to_sympy()
    assert expr.atoms(sympy.Float), "the trained weights appear as Float coefficients"
    # The inexact reading is still what the network computes (positive inputs).
    f = sympy.lambdify(sympy.symbols("price qty noise"), expr)
    np.testing.assert_allclose(f(X.price, X.qty, X.noise), est.predict(X), rtol=1e-9)


def test_a_larger_tolerance_reads_nearly_discrete_weights_as_discrete():
    net = _network(("nau",), 2)
    with torch.no_grad():
        net.layers[0].W.copy_(torch.tensor([[0.97, -1.0]], dtype=torch.float64))
    assert str(network_formula(net, ["a", "b"], tolerance=0.01)[0]) == "0.97*a - b"
    assert network_formula(net, ["a", "b"], tolerance=0.05)[0] == sympy.sympify("a - b")
    assert max_distance(net) == pytest.approx(0.03)


@pytest.mark.parametrize("tolerance", [-0.1, 0.5, "0.1", True])
def test_bad_tolerance_is_named_in_the_error(tolerance):
    X = frame("ab")
    est = NMURegressor(max_steps=20, random_state=0).fit(X, X.a * X.b)
    with pytest.raises(ValueError, match="tolerance must be a number in"):
        est.to_sympy(tolerance=tolerance)


def test_to_sympy_before_fit_is_a_not_fitted_error():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        NMURegressor().to_sympy()


def test_fit_works_without_sympy_and_to_sympy_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sympy", None)  # makes `import sympy` fail
    X = frame("ab")
    est = NMURegressor(max_steps=1000, random_state=0).fit(X, X.a * X.b)
    assert est.formula_ is None and est.formula_symbols_ is None
    assert isinstance(est.formula_exact_, bool)
    with pytest.raises(ImportError, match=r"pip install \"sknalu\[formula\]\""):
        est.to_sympy()


# -- each unit read by hand-set weights -----------------------------------------------------


def _network(units, n_in, n_out=1):
    return ArithmeticNetwork(n_in, n_out, units=units, dtype=torch.float64)


def _set(param, values):
    with torch.no_grad():
        param.copy_(torch.as_tensor(values, dtype=param.dtype).reshape(param.shape))


def test_nmru_reads_division_by_a_reciprocal_weight():
    net = _network(("nmru",), 3)
    _set(net.layers[0].W, [1.0, 0.0, 0.0, 0.0, 1.0, 1.0])  # a / (b c)
    assert network_formula(net, ["a", "b", "c"])[0] == sympy.sympify("a / (b * c)")


def test_real_npu_reads_powers_and_drops_irrelevant_inputs():
    net = _network(("npu",), 3)
    _set(net.layers[0].W, [2.0, -0.5, 0.75])
    _set(net.layers[0].g, [1.0, 1.0, 0.0])  # c is irrelevant whatever its power
    assert network_formula(net, ["a", "b", "c"])[0] == sympy.sympify("a**2 / sqrt(b)")
    assert max_distance(net) == pytest.approx(0.25)  # 0.75 is no multiple of ½


def test_nac_mul_reads_the_product_of_magnitudes():
    net = _network(("nac_mul",), 2)
    _set(net.layers[0].W_hat, [1000.0, -1000.0])
    _set(net.layers[0].M_hat, [1000.0, 1000.0])
    a, b = sympy.symbols("a b")
    assert network_formula(net, ["a", "b"])[0] == sympy.Abs(a) / sympy.Abs(b)


def test_inalu_reads_the_path_its_saturated_gate_selects():
    net = _network(("inalu",), 2)
    layer = net.layers[0]
    _set(layer.W_hat, [1000.0, 1000.0])
    _set(layer.M_hat, [1000.0, 1000.0])
    _set(layer.W_hat_mul, [1000.0, -1000.0])
    _set(layer.M_hat_mul, [1000.0, 1000.0])
    _set(layer.g_hat, [-1000.0])
    assert network_formula(net, ["a", "b"])[0] == sympy.sympify("a / b")
    _set(layer.g_hat, [1000.0])
    assert network_formula(net, ["a", "b"])[0] == sympy.sympify("a + b")
    _set(layer.g_hat, [0.0])  # an open gate mixes both paths
    assert max_distance(net) == pytest.approx(0.5)
    assert network_formula(net, ["a", "b"])[0].atoms(sympy.Float)


def test_nalu_gate_is_judged_on_data():
    net = _network(("nalu",), 2)
    layer = net.layers[0]
    _set(layer.W_hat, [1000.0, 1000.0])
    _set(layer.M_hat, [1000.0, 1000.0])
    _set(layer.G, [5.0, 5.0])  # σ(5 (a + b)) ≈ 1 for a, b in [1, 2]: addition
    X = torch.tensor(frame("ab").to_numpy())
    gates = gate_ranges(net, X)
    assert network_formula(net, ["a", "b"], gates=gates)[0] == sympy.sympify("a + b")
    assert max_distance(net, gates) < 1e-4
    # Without data, the gate cannot be judged and the reading is not exact.
    assert max_distance(net) == np.inf


@pytest.mark.parametrize(
    ("root", "tidied"),
    [
        ("sqrt(c**2*m0**2*v**2/(c**2 - v**2))", "c*m0*v/sqrt(c**2 - v**2)"),
        ("sqrt(9*p**2*x**2*z**2/r**10 + 9*p**2*y**2*z**2/r**10)", "3*p*z*sqrt(x**2 + y**2)/r**5"),
        ("sqrt(-c**6*m**2/(v**2 - c**2))", "c**3*m/sqrt(c**2 - v**2)"),
        ("1/sqrt(x**2*y + x**2)", "1/(x*sqrt(y + 1))"),
        ("sqrt(k/m) + sqrt(2*h)", "sqrt(k/m) + sqrt(2*h)"),
    ],
)
def test_a_square_root_gives_up_its_squared_factors(root, tidied):
    """A square root unit computes ``sqrt(m0**2*v**2*c**2/(c**2 - v**2))``: read
    back, the squares come out of it where that computes the same on the rows."""
    expression = sympy.sympify(root)
    symbols = sorted(expression.free_symbols, key=str)
    rows = np.random.RandomState(0).uniform(1, 5, (50, len(symbols)))
    if sympy.Symbol("c") in symbols:
        rows[:, symbols.index(sympy.Symbol("c"))] += 10  # c above v
    assert _roots_tidied(expression, symbols, rows, sympy) == sympy.sympify(tidied)


def test_a_squared_factor_negative_on_a_row_stays_under_the_root():
    x, y = sympy.symbols("x y")
    rows = np.array([[-1.0, 2.0], [2.0, 3.0], [1.5, 1.0]])
    assert _roots_tidied(sympy.sqrt(x**2 * y), [x, y], rows, sympy) == sympy.sqrt(x**2 * y)


def test_a_product_of_powers_of_sums_reads_back_as_written():
    """A sum of two columns under a root beside another in front: NALU's units
    compute each sum, then their product with its half power, and the formula
    reads back as a product of those sums."""
    rng = np.random.RandomState(0)
    X = pd.DataFrame(
        {"p": rng.uniform(1, 4, 400), "v": rng.uniform(0.5, 2, 400), "c": rng.uniform(3, 6, 400)}
    )
    y = X.p * (X.c - X.v * X.p) / np.sqrt(X.c**2 - X.v**2)
    est = NALURegressor(units="auto", random_state=0).fit(X, y)
    assert est.formula_exact_
    p, v, c = sympy.symbols("p v c")
    truth = p * (c - p * v) / sympy.sqrt(c**2 - v**2)
    assert sympy.simplify(sympy.sympify(str(est.formula_), locals()) - truth) == 0
    X_far = X * 1.5
    np.testing.assert_allclose(
        est.predict(X_far),
        X_far.p * (X_far.c - X_far.v * X_far.p) / np.sqrt(X_far.c**2 - X_far.v**2),
        rtol=1e-8,
    )


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("(-c*v/2 + p/2)/(c**2/2 + c*v + v**2/2)", "(p - c*v)/(c + v)**2"),
        ("1/(c/p + 2*v + p*v**2/c)", "c*p/(c + p*v)**2"),
        ("x**2 - 2*x*y + y**2", "(x - y)**2"),
        # Not shorter factored: as written.
        ("p*(c - p*v)/sqrt(c**2 - v**2)", "p*(c - p*v)/sqrt(c**2 - v**2)"),
        ("x**4 - x**3 + y**2/2 - y", "x**4 - x**3 + y**2/2 - y"),
        ("981*h*m/100000 + m*v**2/25920", "981*h*m/100000 + m*v**2/25920"),
        ("981*h*m/100 + m*v**2/2", "981*h*m/100 + m*v**2/2"),
        # Fitted constants: as written.
        (
            "(0.5*p - 0.5*c*v)/(0.5*c**2 + c*v + 0.5*v**2)",
            "(0.5*p - 0.5*c*v)/(0.5*c**2 + c*v + 0.5*v**2)",
        ),
    ],
)
def test_a_formula_of_exact_numbers_is_factored_where_that_is_shorter(written, read):
    expression = sympy.sympify(written)
    assert _factored(expression, sympy) == sympy.sympify(read)
