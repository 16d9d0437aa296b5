"""The closed-form search beyond a fixed library: degrees, shifts, functions, time.

The deadlines of the tests that expect a formula leave room for a slower or
busier machine (CI runs one test per core): each test still passed with the clock
running 2.5 times fast and a test on each core of a 2-core machine. A search stops
at its first exact formula, but each of its steps has a share of the time left, so
a longer deadline lets the steps before the one that finds it run longer: compound interest
``P*(1 + r/n)**(n*t)`` needs a deadline of 15 to 20 s alone, and is found after
14 s at 20 s, 28 s at 60 s and 38 s at 120 s.
"""

import copy
import functools
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from sknalu import NALURegressor, NMURegressor
from sknalu.search._closed_form import (
    _judge_and_confirm,
    _product_terms,
    find_formulas,
    library,
)
from sknalu.search._functions import log_products
from sknalu.search._rational import degree_schedule, monomials
from sknalu.units import FUNCTIONS


def _split(X, y, n=400):
    return X[:n], y[:n], X[n:], y[n:]


def _exact_products(X, y, *args, **kwargs):
    """The exact formulas of one search of products (:func:`log_products`) of
    ``X``'s first 400 rows, judged on the rest; ``args`` and ``kwargs`` after
    its deadline (``half``, ``shifted``, ``linear``)."""
    X_train, y_train, X_valid, y_valid = _split(X, y)
    judge = functools.partial(_judge_and_confirm, X=X_train, y=y_train)
    terms = _product_terms(library(X.shape[1]))
    deadline = time.perf_counter() + 30
    found = log_products(
        X_train, y_train, X_valid, y_valid, FUNCTIONS, terms, judge, deadline, *args, **kwargs
    )
    return [f for f in found if f.exact]


def _exact_sums(X, y, monomials=None, **kwargs):
    """The exact formulas of one search of sums with functions
    (:func:`function_sums`, times ``monomials``, ``kwargs`` after them) of
    ``X``'s first 400 rows."""
    from sknalu.search._closed_form import _selector
    from sknalu.search._functions import function_sums

    X_train, y_train, X_valid, y_valid = _split(X, y)
    judge = functools.partial(_judge_and_confirm, X=X_train, y=y_train)
    deadline = time.perf_counter() + 60
    select = _selector(deadline)
    found = function_sums(
        X_train, y_train, X_valid, y_valid, FUNCTIONS, select, judge, deadline, monomials, **kwargs
    )
    return [f for f in found if f.exact]


def _found_on(ranges, formula, deadline, rows=500, functions=FUNCTIONS, beyond=False):
    """The search's first formula for ``formula`` of columns drawn on ``ranges``
    (``rows`` rows, all but the last 100 for training), asserted exact, and 200
    rows up to twice each range (``beyond``: all of them above it) to test it on."""
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.uniform(low, high, rows) for low, high in ranges])
    found = find_formulas(
        *_split(X, formula(X), rows - 100),
        functions=functions,
        deadline=time.perf_counter() + deadline,
    )
    assert found[0].exact
    far = [rng.uniform(high if beyond else low, 2 * high - low, 200) for low, high in ranges]
    return found[0], np.column_stack(far)


@pytest.mark.parametrize(
    ("n_features", "low", "high", "formula"),
    [
        (1, -1.0, 1.0, lambda X: sum(X[:, 0] ** k for k in range(1, 7))),
        (2, -3.0, 3.0, lambda X: 2.5 * X[:, 0] ** 4 - 1.3 * X[:, 0] ** 3 + 0.5 * X[:, 1] ** 2),
        (3, 0.0, 6.0, lambda X: 10 / (5 + ((X - 3) ** 2).sum(1))),
        (
            2,
            0.0,
            6.0,
            lambda X: ((X[:, 0] - 3) ** 4 + (X[:, 1] - 3) ** 3) / ((X[:, 1] - 2) ** 4 + 10),
        ),
        (3, 1.0, 2.0, lambda X: X[:, 0] ** 2 * X[:, 1] ** 4 / (X[:, 1] ** 2 + X[:, 2] ** 2) ** 2),
        # Pagie-1, 1/(1 + x**-4) + 1/(1 + y**-4): a denominator from 1 to 4e5.
        (2, 0.2, 5.0, lambda X: (X**4 / (1 + X**4)).sum(1)),
    ],
    ids=[
        "degree-6",
        "quartic-sum",
        "shifted-bump",
        "shifted-ratio",
        "squared-denominator",
        "wide-denominator",
    ],
)
def test_polynomials_and_ratios_of_any_degree_are_found_exactly(n_features, low, high, formula):
    rng = np.random.RandomState(0)
    X = rng.uniform(low, high, (500, n_features))
    found = find_formulas(*_split(X, formula(X)))
    assert found[0].exact
    X_far = rng.uniform(low - 1, high + 2, (200, n_features))
    truth = formula(X_far)
    assert np.allclose(found[0].predict(X_far), truth, rtol=1e-7, atol=1e-9 * np.abs(truth).max())


def test_the_degrees_grow_cheapest_first():
    assert degree_schedule(1, 1000)[:3] == [(1, 0), (2, 0), (0, 1)]
    sizes = [
        len(monomials(3, dn)) + (len(monomials(3, dd)) if dd else 0)
        for dn, dd in degree_schedule(3, 1000)
    ]
    assert sizes == sorted(sizes)
    assert max(sizes) <= 1000 // 3


@pytest.mark.parametrize(
    "formula",
    [
        lambda X: X[:, 0] * X[:, 1] * np.sin(X[:, 2]),
        lambda X: 1.5 * np.exp(X[:, 0]) + 5 * np.cos(X[:, 1]),
        lambda X: 213.8 * (1 - np.exp(-0.547 * X[:, 0])),
        lambda X: X[:, 0] * np.exp(-X[:, 1] * X[:, 2] / X[:, 0]),
        lambda X: np.log(X[:, 0] + 1) + np.log(X[:, 0] ** 2 + 1),
        lambda X: np.arcsin(X[:, 1] / (X[:, 0] + 2)),
    ],
    ids=["product-sin", "exp-cos", "offset-exp", "exp-of-ratio", "log-sum", "arcsin-of-ratio"],
)
def test_formulas_with_functions_are_found_exactly(formula):
    rng = np.random.RandomState(1)
    X = rng.uniform(0.5, 1.5, (500, 3))
    found = find_formulas(*_split(X, formula(X)), functions=FUNCTIONS)
    assert found[0].exact
    X_far = rng.uniform(0.5, 2.5, (200, 3))
    with np.errstate(all="ignore"):
        ok = np.isfinite(formula(X_far))
    assert np.allclose(found[0].predict(X_far[ok]), formula(X_far[ok]), rtol=1e-7)


def test_a_polynomial_close_to_a_sine_is_not_exact():
    # Degree 8 fits sin on [1, 2] to 1e-12; refitted on the lower rows it misses
    # the upper ones: an approximation, whatever its held-out error.
    X = np.random.RandomState(0).uniform(1, 2, (500, 1))
    found = find_formulas(*_split(X, np.sin(X[:, 0])), deadline=time.perf_counter() + 5)
    assert not any(f.exact for f in found)


def test_functions_can_be_turned_off():
    X = np.random.RandomState(0).uniform(0.5, 1.5, (500, 2))
    y = X[:, 0] * np.sin(X[:, 1])
    found = find_formulas(*_split(X, y), deadline=time.perf_counter() + 3)
    assert not found[0].exact
    assert find_formulas(*_split(X, y), functions=("sin",))[0].exact


@pytest.mark.parametrize("Estimator", [NMURegressor, NALURegressor])
def test_fit_returns_within_max_time_when_no_formula_fits(Estimator):
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, (300, 3))
    y = np.sin(3 * X[:, 0]) * np.tanh(X[:, 1] * X[:, 2]) + rng.normal(0, 0.05, 300)
    est = Estimator(units="auto", functions=(), random_state=0, max_time=8)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    assert time.perf_counter() - start < 8 * 1.1 + 1.5  # + joblib's and torch's start-up
    assert not est.formula_exact_


@pytest.mark.parametrize("Estimator", [NMURegressor, NALURegressor])
def test_equations_is_a_pareto_front_ending_in_the_formula(Estimator):
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.uniform(1, 3, (300, 2)), columns=["m", "v"])
    est = Estimator(units="auto", random_state=0).fit(X, X["m"] * X["v"] ** 2 / 2 + 3 * X["m"])
    table = est.equations_
    assert list(table.columns) == [
        "complexity",
        "loss",
        "r2",
        "exact",
        "equation",
        "sympy_format",
        "rank",
    ]
    assert table["complexity"].is_monotonic_increasing
    assert table["loss"].is_monotonic_decreasing
    assert table["exact"].iloc[-1]
    assert {"m", "v"} == {str(s) for s in table["sympy_format"].iloc[-1].free_symbols}
    assert est.formula_exact_


def test_selection_accuracy_keeps_the_lowest_held_out_error():
    rng = np.random.RandomState(0)
    X = rng.uniform(1, 3, (300, 2))
    y = X[:, 0] * X[:, 1] + 0.05 * X[:, 0] ** 3 + rng.normal(0, 0.2, 300)
    best = find_formulas(*_split(X, y, 250), selection="best", deadline=time.perf_counter() + 3)
    accurate = find_formulas(
        *_split(X, y, 250), selection="accuracy", deadline=time.perf_counter() + 3
    )
    assert accurate[0].valid_error == min(f.valid_error for f in accurate)
    assert best[0].complexity() <= accurate[0].complexity()


@pytest.mark.parametrize("Estimator", [NMURegressor, NALURegressor])
def test_a_function_formula_is_read_back_from_the_network(Estimator):
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.uniform(0.2, 1.4, (400, 4)), columns=["q", "v", "B", "theta"])
    y = X["q"] * X["v"] * X["B"] * np.sin(X["theta"])
    est = Estimator(units="auto", random_state=0).fit(X, y)
    assert est.formula_exact_
    assert est.formula_ == "B*q*v*sin(theta)"
    assert "function" in est.units_
    X_far = X * 3
    assert np.allclose(
        est.predict(X_far), X_far["q"] * X_far["v"] * X_far["B"] * np.sin(X_far["theta"])
    )


def test_no_approximation_has_a_pole_between_the_rows():
    """A ratio fitted as ``y D = N`` can fit every row and be wild between them,
    where its denominator changes sign: no such approximation is kept."""
    rng = np.random.default_rng(8)
    X = rng.uniform(0, 1, size=(400, 1))
    light = X[:, 0] < 0.5
    y = 2 * X[:, 0] + np.where(light, 1.0, 0.0) + 0.05 * rng.normal(size=400)
    weight = np.where(light, 1.0, 20.0)
    found = find_formulas(
        X[:300],
        y[:300],
        X[300:],
        y[300:],
        sample_weight=weight[:300],
        valid_weight=weight[300:],
        deadline=time.perf_counter() + 3,
    )
    # Without the check, hundreds of candidates had one, the first among them.
    assert found and not any(f.exact for f in found)
    grid = np.linspace(0, 1, 1001)[:, None]
    assert not any(f.has_pole_between(grid) for f in found)


def test_an_exact_ratio_keeps_its_pole():
    """``1/(x - 1)`` on both sides of its pole is the formula, pole and all."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 2, size=(500, 1))
    X = X[np.abs(X[:, 0] - 1) > 0.05]
    found = find_formulas(*_split(X, 1 / (X[:, 0] - 1)))
    assert found[0].exact and found[0].has_pole_between(X)


def test_a_product_of_powers_in_front_of_a_polynomial_is_found_exactly():
    """``M(x) * S(x)`` with ``M`` over columns ``S`` does not hold: ``S`` is searched
    for on the few columns left, where its monomials are few."""
    rng = np.random.RandomState(1)
    X = np.column_stack(
        [
            rng.uniform(2, 4, 600),
            rng.uniform(6, 9, 600),
            rng.uniform(1, 2, 600),
            rng.uniform(50, 90, 600),
            rng.uniform(1, 3, 600),
        ]
    )
    a, b, k, c, d = X.T
    y = k * a * (2 * b**4 - 5 * a**2 * b**2 + a**4) / (120 * b * c * d)
    found = find_formulas(*_split(X, y, 500), deadline=time.perf_counter() + 30)
    assert found[0].exact
    a, b, k, c, d = (X * 1.7).T
    far = k * a * (2 * b**4 - 5 * a**2 * b**2 + a**4) / (120 * b * c * d)
    np.testing.assert_allclose(found[0].predict(X * 1.7), far, rtol=1e-9)


@pytest.mark.parametrize(
    "formula",
    [
        lambda u, v: (u**3 - 4 * u * v**2 + 2 * v**3) / (v**3 - 2 * u * v),
        lambda u, v: (3 * u**4 - 2 * u**2 * v**2 + 5 * v**4) / (v**4 + 1),
    ],
)
def test_a_ratio_on_columns_far_from_zero_is_found_exactly(formula):
    """Monomials of a column in [6, 9] are nearly collinear, and ratios of lower
    degrees nearly fit; in the columns centred on their range the ratio stands out."""
    rng = np.random.RandomState(2)
    X = np.column_stack([rng.uniform(1, 2, 500), rng.uniform(6, 9, 500)])
    found = find_formulas(*_split(X, formula(*X.T)), deadline=time.perf_counter() + 30)
    assert found[0].exact
    X_far = np.column_stack([np.linspace(-5, 60, 50), np.linspace(70, 11, 50)])
    np.testing.assert_allclose(found[0].predict(X_far), formula(*X_far.T), rtol=1e-8)


@pytest.mark.parametrize(
    "formula",
    [
        lambda X: X[:, 0] * np.exp(-0.034 * X[:, 1] / X[:, 2]),
        lambda X: X[:, 0] * np.sqrt(1 + 0.1 * X[:, 1] / X[:, 2]),
        lambda X: np.log(X[:, 1] / X[:, 2] + 4) * X[:, 0],
    ],
    ids=["exponential", "root", "logarithm"],
)
def test_a_ratio_approximating_a_function_on_a_narrow_range_is_not_exact(formula):
    """Without functions, a ratio of polynomials can fit a smooth function on a
    narrow range to 1e-27; it must not be called exact (it misses far away).

    Where the function's argument varies by a few percent only (``exp(-0.034*b/c)``
    with ``b/c`` below 0.03), a ratio of low degrees matches it to 1e-14: no table
    of float64 numbers tells them apart. Here it varies by 25%.
    """
    rng = np.random.RandomState(3)
    X = np.column_stack(
        [rng.uniform(0.9, 1.1, 1000), rng.uniform(0, 20, 1000), rng.uniform(2.7, 2.9, 1000)]
    )
    found = find_formulas(*_split(X, formula(X), 800), deadline=time.perf_counter() + 6)
    assert not any(f.exact for f in found)


def test_the_change_of_basis_to_centred_columns():
    from sknalu.search._rational import monomial_values, shift_matrix

    rng = np.random.default_rng(0)
    X = rng.uniform(5, 8, (40, 3))
    exponents = monomials(3, 4)
    centre, scale = np.array([6.5, 1.0, -2.0]), np.array([1.5, 2.0, 0.5])
    T = shift_matrix(exponents, centre, scale)
    coef = rng.normal(size=len(exponents))
    centred = monomial_values((X - centre) / scale, exponents) @ coef
    np.testing.assert_allclose(monomial_values(X, exponents) @ (T @ coef), centred, rtol=1e-9)


def test_a_formula_with_functions_leads_only_where_it_fits_clearly_better():
    """On noisy rows a function term, with its inner constant to tune, fits about
    as well as the right sum of powers: the formula without functions is kept
    unless it is clearly worse."""
    from sknalu.search._closed_form import ClosedForm, rank
    from sknalu.search._functions import Factor, FunctionSum, Term

    rng = np.random.default_rng(0)
    noise = rng.normal(size=200) ** 2

    def judged(formula, error, rows):
        formula.valid_error, formula.valid_rows = error, rows
        return formula

    linear = judged(ClosedForm(np.eye(2, dtype=int), np.ones(2), kind="linear"), 1.0, noise * 100)
    powers = judged(ClosedForm(np.array([[2, 1], [0, 1]]), np.ones(2)), 0.0102, noise * 1.02)
    sine = Factor("sin", np.array([[1, 0]]), np.array([1.3]))
    function = FunctionSum([Term(np.array([0, 1]), (sine,))], np.ones(1))
    assert function.has_functions and not powers.has_functions
    assert rank([linear, judged(function, 0.0100, noise), powers])[0] is powers
    clearly = judged(copy.deepcopy(function), 0.001, noise / 10)
    assert rank([linear, clearly, powers])[0] is clearly


@pytest.mark.parametrize(
    ("function", "formula"),
    [
        ("exp", lambda X: X[:, 0] * np.exp(-X[:, 1] * X[:, 2] * X[:, 3] / X[:, 4])),
        ("tanh", lambda X: X[:, 0] * X[:, 1] * np.tanh(X[:, 1] * X[:, 2] / (X[:, 3] * X[:, 4]))),
        ("exp", lambda X: _planck(X)),
    ],
    ids=["exp", "tanh", "planck"],
)
def test_a_function_of_a_product_of_many_columns_is_found(function, formula):
    """``n0*exp(-m*g*x/(k*T))``: the monomial inside may hold every column; in
    Planck's law, four of the table's five, inside ``exp(u) - 1``."""
    rng = np.random.RandomState(4)
    X = rng.uniform(1, 3, (500, 5))
    found = find_formulas(
        *_split(X, formula(X)), functions=(function,), deadline=time.perf_counter() + 90
    )
    assert found[0].exact
    X_far = rng.uniform(0.5, 5, (50, 5))
    np.testing.assert_allclose(found[0].predict(X_far), formula(X_far), rtol=1e-8)


@pytest.mark.parametrize(
    "formula",
    [
        lambda X: 3 * X[:, 0] * np.sqrt(X[:, 1] ** 2 + X[:, 2] ** 2) / X[:, 3] ** 3,
        lambda X: X[:, 0] * X[:, 3] / np.sqrt(1 - (X[:, 1] / (X[:, 2] + 2)) ** 2),
        lambda X: X[:, 0] * (1 + 3 * X[:, 1] * np.cos(3 * X[:, 2])),
        lambda X: X[:, 0] ** 2 * np.log(X[:, 1] ** 2 + X[:, 2]) / X[:, 3],
    ],
    ids=["sqrt-of-sum", "sqrt-of-ratio", "function-sum", "log-of-sum"],
)
def test_a_product_in_front_of_a_function_of_a_formula_is_found(formula):
    """``m0/sqrt(1 - v**2/c**2)``, ``beta*(1 + alpha*cos(theta))``: a product of
    powers in front, the rest a function of a formula or a sum with functions."""
    rng = np.random.RandomState(5)
    X = rng.uniform(0.5, 1.5, (500, 4))
    found = find_formulas(
        *_split(X, formula(X)), functions=FUNCTIONS, deadline=time.perf_counter() + 60
    )
    assert found[0].exact
    X_far = rng.uniform(0.5, 2.5, (200, 4))
    with np.errstate(all="ignore"):
        ok = np.isfinite(formula(X_far))
    np.testing.assert_allclose(found[0].predict(X_far[ok]), formula(X_far[ok]), rtol=1e-7)


@pytest.mark.parametrize("Estimator", [NMURegressor, NALURegressor])
def test_a_product_in_front_of_a_function_of_a_sum_is_read_back(Estimator):
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.uniform(0.5, 1.5, (400, 3)), columns=["a", "b", "c"])
    y = X["a"] ** 2 * np.log(X["b"] ** 2 + X["c"])
    est = Estimator(units="auto", random_state=0).fit(X, y)
    assert est.formula_exact_
    assert est.formula_ == "a**2*log(b**2 + c)"
    X_far = X * 2
    np.testing.assert_allclose(
        est.predict(X_far), X_far["a"] ** 2 * np.log(X_far["b"] ** 2 + X_far["c"]), rtol=1e-9
    )


def test_a_sum_with_terms_over_many_columns_is_found():
    """``H + a*M/(eps*c**2)``: terms of four columns and squares, three of them."""
    rng = np.random.RandomState(7)
    X = rng.uniform(1, 3, (500, 5))

    def formula(X):
        return (
            X[:, 0]
            + X[:, 1] * X[:, 2] ** 2 / (X[:, 3] * X[:, 4] ** 2)
            + X[:, 3] ** 2 / (X[:, 0] * X[:, 1])
        )

    found = find_formulas(*_split(X, formula(X)), deadline=time.perf_counter() + 30)
    assert found[0].exact
    X_far = rng.uniform(0.5, 6, (50, 5))
    np.testing.assert_allclose(found[0].predict(X_far), formula(X_far), rtol=1e-9)


def test_the_wide_library_adds_terms_over_every_column():
    from sknalu.search._closed_form import library, wide_library

    wide = wide_library(4)
    assert len(wide) and np.abs(wide).max() == 2 and np.abs(wide).sum(1).max() <= 6
    assert (np.abs(wide) > 0).sum(1).max() == 4
    assert not {tuple(r) for r in wide} & {tuple(r) for r in library(4)}
    assert len(wide_library(12)) == 0


def test_a_function_times_a_product_of_columns_in_a_sum_is_found():
    """``q*Ef + q*B*v*sin(theta)``: a function term times a product of three
    columns, in the sums with functions (the search's own step)."""
    rng = np.random.RandomState(7)
    X = rng.uniform(1, 3, (500, 5))
    y = X[:, 0] * X[:, 1] + 2 * X[:, 0] * X[:, 2] * X[:, 3] * np.cos(X[:, 4])
    found = _exact_sums(X, y, library(5)[1:])
    assert found
    X_far = rng.uniform(0.5, 6, (50, 5))
    truth = X_far[:, 0] * X_far[:, 1] + 2 * X_far[:, 0] * X_far[:, 2] * X_far[:, 3] * np.cos(
        X_far[:, 4]
    )
    np.testing.assert_allclose(found[0].predict(X_far), truth, rtol=1e-8)


@pytest.mark.parametrize(
    ("low", "high", "formula"),
    [
        (-3.0, 3.0, lambda x, y: 1.35 * x * y + 5.5 * np.sin((x - 1) * (y - 1))),
        (0.05, 6.05, lambda x, y: (x - 3) * (y - 3) + 2 * np.sin((x - 4) * (y - 4))),
        (0.0, 4.0, lambda x, y: x + 3 * np.cos(0.5 * (x - 2.5) * (y - 1))),
    ],
    ids=["beside-a-product", "beside-a-shifted-product", "shift-off-the-grid"],
)
def test_a_function_of_a_product_of_shifted_columns_is_found(low, high, formula):
    """``f(a*(x - s)*(y - t))``: the shifts start at the integers of the columns'
    ranges and are refined (2.5 from 2 or 3); the product of two shifted columns
    itself is a term too."""
    rng = np.random.RandomState(0)
    X = rng.uniform(low, high, (500, 2))
    found = _exact_sums(X, formula(X[:, 0], X[:, 1]), shifted=True)
    assert found
    X_far = rng.uniform(low - 1, high + 1, (50, 2))
    truth = formula(X_far[:, 0], X_far[:, 1])
    np.testing.assert_allclose(found[0].predict(X_far), truth, rtol=1e-8, atol=1e-9)


def test_a_function_of_a_product_of_shifted_columns_reads_back():
    rng = np.random.RandomState(3)
    X = pd.DataFrame({"x": rng.uniform(-3, 3, 300), "y": rng.uniform(-3, 3, 300)})
    y = X["x"] * X["y"] + np.sin((X["x"] - 1) * (X["y"] - 1))
    est = NALURegressor(units="auto", random_state=0).fit(X, y)
    assert est.formula_exact_
    assert str(est.formula_) == "x*y + sin((x - 1)*(y - 1))"
    X_far = pd.DataFrame({"x": rng.uniform(-5, 5, 50), "y": rng.uniform(-5, 5, 50)})
    truth = X_far["x"] * X_far["y"] + np.sin((X_far["x"] - 1) * (X_far["y"] - 1))
    np.testing.assert_allclose(est.predict(X_far), truth, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize(
    ("ranges", "formula"),
    [
        (
            [(1.0, 5.0), (1.0, 5.0), (1.0, 5.0)],
            lambda X: X[:, 0] * np.sin(X[:, 2] * X[:, 1] / 2) ** 2 / np.sin(X[:, 1] / 2) ** 2,
        ),
        (
            [(100.0, 200.0), (5.0, 20.0), (0.1, 0.5), (0.0, 10.0)],
            lambda X: X[:, 0] / (1 + (X[:, 0] / X[:, 1] - 1) * np.exp(-X[:, 2] * X[:, 3])),
        ),
        (
            [(1.0, 5.0), (100.0, 200.0), (0.01, 0.1), (1.0, 10.0)],
            lambda X: X[:, 1] * (1 + X[:, 2] / X[:, 0]) ** (X[:, 0] * X[:, 3]),
        ),
    ],
    ids=["over-a-function-squared", "reciprocal-of-function-terms", "exp-of-logs-and-terms"],
)
def test_products_over_functions_and_reciprocals_of_function_sums_are_found(ranges, formula):
    """``I0*sin(n*theta/2)**2/sin(theta/2)**2`` (a function to the power -2 in a
    product); logistic growth ``K/(1 + (K/P0 - 1)*exp(-r*t))``, whose reciprocal
    ``1/K + exp(-r*t)/P0 - exp(-r*t)/K`` holds terms that fit only together; and
    ``P*(1 + r/n)**(n*t)``, the exponential of ``log(P) + n*t*log(1 + r/n)``."""
    found, X_far = _found_on(ranges, formula, deadline=120)
    np.testing.assert_allclose(found.predict(X_far), formula(X_far), rtol=1e-8)


def test_a_function_refined_into_a_straight_line_is_not_kept():
    """``tanh(3e-6*t/v)`` is ``3e-6*t/v`` on every row: a power of the columns in
    disguise, which the search must not offer as a function."""
    from sknalu.search._functions import Factor, _stand_in

    X = np.random.RandomState(0).uniform(1, 10, (100, 2))
    inner = np.array([[1, -1]])
    assert _stand_in(Factor("tanh", inner, np.array([3e-6])), X)
    assert not _stand_in(Factor("tanh", inner, np.array([0.5])), X)


@pytest.mark.parametrize(
    ("ranges", "formula"),
    [
        ([(30.0, 90.0), (5.0, 27.0)], lambda X: (X[:, 0] - X[:, 1]) / np.log(X[:, 0] / X[:, 1])),
        ([(0.0, 4.0), (1.0, 3.0)], lambda X: (X[:, 0] ** 2 + X[:, 1]) / (np.sin(X[:, 0]) + 2)),
        (
            [(1.0, 3.0), (1.0, 3.0)],
            lambda X: X[:, 0] * X[:, 1] / (np.exp(-X[:, 0]) + 0.5 * X[:, 1] + 1),
        ),
    ],
    ids=["log-mean", "over-a-shifted-sine", "over-exp-plus-a-line"],
)
def test_a_sum_over_a_function_is_found(ranges, formula):
    """``N(x) / (f(x) + d0 + d1*x1)``: ``y*f`` is a sum of monomials and ``y`` terms."""
    found, X_far = _found_on(ranges, formula, deadline=60, beyond=True)
    np.testing.assert_allclose(found.predict(X_far), formula(X_far), rtol=1e-8)


@pytest.mark.parametrize("Estimator", [NMURegressor, NALURegressor])
def test_a_sum_over_a_function_is_read_back(Estimator):
    rng = np.random.RandomState(1)
    X = pd.DataFrame({"dT1": rng.uniform(30, 90, 400), "dT2": rng.uniform(5, 27, 400)})
    y = (X["dT1"] - X["dT2"]) / np.log(X["dT1"] / X["dT2"])
    est = Estimator(units="auto", random_state=1).fit(X, y)
    assert est.formula_exact_
    assert est.formula_ == "(dT1 - dT2)/log(dT1/dT2)"


def test_the_search_does_not_warn_about_the_columns_it_tries():
    """Columns that overflow and refinements that stray are the search's to judge:
    ``python -W error`` must not turn them into a failed fit."""
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.uniform(10, 100, 300), rng.uniform(3, 300, 300)])
    y = X[:, 0] ** 3 / (np.exp(0.048 * X[:, 0] / X[:, 1]) - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        find_formulas(*_split(X, y, 200), functions=FUNCTIONS, deadline=time.perf_counter() + 3)


@pytest.mark.parametrize(
    ("ranges", "formula"),
    [
        (
            [(1.0, 5.0), (0.5, 2.0), (1.0, 3.0), (5.0, 20.0), (1.0, 3.0)],
            lambda X: (
                X[:, 0] ** 2
                * X[:, 1]
                * X[:, 2] ** 2
                / ((X[:, 3] - X[:, 4] * X[:, 2] ** 2) ** 2 + X[:, 1] ** 2 * X[:, 2] ** 2)
            ),
        ),
        (
            [(10.0, 100.0), (10.0, 100.0), (100.0, 300.0), (0.01, 0.1), (1e-4, 1e-3)],
            lambda X: (
                X[:, 0] ** 2
                * X[:, 1]
                / (X[:, 1] ** 2 + (X[:, 2] * X[:, 3] - 1 / (X[:, 2] * X[:, 4])) ** 2)
            ),
        ),
    ],
    ids=["driven-oscillator-power", "rlc-power"],
)
def test_a_product_in_front_of_the_reciprocal_of_a_sum_of_alike_terms_is_found(ranges, formula):
    """``F**2*b*w**2/((k - m*w**2)**2 + b**2*w**2)``: behind ``F**2`` (the power of
    ``b`` is not an integer in the logarithms), the reciprocal of four terms that
    forward selection misses one by one; a longer greedy path, pruned, holds them."""
    found, X_far = _found_on(ranges, formula, deadline=10, rows=1000, functions=())
    np.testing.assert_allclose(found.predict(X_far), formula(X_far), rtol=1e-8)


@pytest.mark.parametrize(
    ("ranges", "formula"),
    [
        (
            [(1.0, 3.0), (1.0, 3.0), (0.0, 3.0), (0.0, 3.0)],
            lambda X: X[:, 0] * X[:, 1] * np.cos(X[:, 2] - X[:, 3]),
        ),
        ([(-1.0, 1.0)], lambda X: np.sin(X[:, 0]) + np.sin(X[:, 0] + X[:, 0] ** 2)),
    ],
    ids=["phase-difference", "sine-of-a-sum"],
)
def test_a_function_of_a_sum_of_two_monomials_is_found(ranges, formula):
    """``x0*x1*cos(x2 - x3)``, ``sin(x) + sin(x + x**2)``: the argument of the
    function is a sum of two monomials, on no grid of single monomials. The sine's
    is found after 9 to 10 s alone on a 2-core machine."""
    found, X_far = _found_on(ranges, formula, deadline=90)
    np.testing.assert_allclose(found.predict(X_far), formula(X_far), rtol=1e-8, atol=1e-12)


def test_a_ratio_over_a_function_refits_with_the_rows_weights():
    from sknalu.search._functions import Factor, FunctionRatio, Term

    rng = np.random.RandomState(0)
    X = np.column_stack([rng.uniform(30, 90, 200), rng.uniform(5, 27, 200)])
    y = (X[:, 0] - X[:, 1]) / np.log(X[:, 0] / X[:, 1])
    weight = np.ones(200)
    weight[:20] = 0.0
    y_bad = y.copy()
    y_bad[:20] *= 3  # rows that count for nothing
    log = Factor("log", np.array([[1, -1]]), np.array([1.0]))
    terms = [Term(np.array([1, 0])), Term(np.array([0, 1])), Term(np.zeros(2, int), (log,))]
    formula = FunctionRatio(terms, np.array([0.5, 0.5, 1.0]), n_numerator=2)
    formula.refit_(X, y_bad, weight)
    np.testing.assert_allclose(formula.coef, [1.0, -1.0, 1.0], rtol=1e-9)


def test_best_addition_is_the_same_with_and_without_the_gram_matrix():
    """The forward selection's next column, from the Gram matrix (narrow libraries)
    or from the rows (wide ones), is the same column with the same gain."""
    from sknalu.search._closed_form import _best_addition

    rng = np.random.RandomState(0)
    T = rng.normal(size=(200, 60))
    T /= np.linalg.norm(T, axis=0)
    target = T[:, [3, 17, 41]] @ np.array([1.0, -2.0, 0.5]) + 0.01 * rng.normal(size=200)
    chosen = []
    for _ in range(3):
        with_gram = _best_addition(T, target, chosen, G=T.T @ T, g=T.T @ target)
        from_rows = _best_addition(T, target, chosen)
        assert with_gram == from_rows
        chosen.append(from_rows)
    assert sorted(chosen) == [3, 17, 41]


def test_the_reciprocal_of_an_exponential_less_one_is_found():
    """Bose-Einstein occupancy ``1/(exp(h*w/(k*T)) - 1)``: the function of a
    product of four columns, whose reciprocal spans ten orders of magnitude."""
    ranges = [(1.0, 5.0)] * 4

    def formula(X):
        return 1 / (np.exp(X[:, 0] * X[:, 1] / (X[:, 2] * X[:, 3])) - 1)

    found, X_far = _found_on(ranges, formula, deadline=45)
    np.testing.assert_allclose(found.predict(X_far), formula(X_far), rtol=1e-8)


def _planck(X):
    """Planck's law h*w**3/(pi**2*c**2*(exp(h*w/(k*T)) - 1)), columns h, w, k, T, c."""
    u = X[:, 0] * X[:, 1] / (X[:, 2] * X[:, 3])
    return X[:, 0] * X[:, 1] ** 3 / (np.pi**2 * X[:, 4] ** 2 * np.expm1(u))


@pytest.mark.parametrize(
    "formula",
    [
        # A diode's current I0*(exp(q*V/(k*T)) - 1).
        lambda X: X[:, 0] * np.expm1(X[:, 1] * X[:, 2] / (X[:, 3] * X[:, 4])),
        _planck,
        # A Fermi-Dirac occupation times a column, n/(exp(e/(k*T)) + 1).
        lambda X: X[:, 4] / (np.exp(X[:, 0] * X[:, 1] / (X[:, 2] * X[:, 3])) + 1),
        # n/cosh(u) of a monomial of three columns.
        lambda X: X[:, 0] / np.cosh(X[:, 1] * X[:, 2] / X[:, 3]),
    ],
    ids=["diode", "planck", "fermi-dirac", "cosh"],
)
def test_an_exponential_of_many_columns_shifted_by_one_is_a_product(formula):
    """``exp(u) - 1``, ``exp(u) + 1`` and ``cosh(u)`` of a product of columns: a
    factor of the products in logarithms, written out with ``exp``."""
    rng = np.random.RandomState(3)
    X = rng.uniform(1, 3, (500, 5))
    exact = _exact_products(X, formula(X), shifted=True)
    assert exact
    assert "exp1p" not in str(exact[0]) and "expm1" not in str(exact[0])
    assert "cosh" not in str(exact[0])
    X_far = rng.uniform(0.5, 5, (50, 5))
    np.testing.assert_allclose(exact[0].predict(X_far), formula(X_far), rtol=1e-8)


def test_a_function_of_a_formula_is_refitted_for_the_target_not_its_inverse():
    """``1/(x**3 - 1)`` refitted through ``x**3 - 1``, which spans nine orders of
    magnitude: each row weighted by the reciprocal's slope, the constant is right
    to rounding where ``y`` is large, not only where ``x**3`` is."""
    from sknalu.search._closed_form import ClosedForm
    from sknalu.search._functions import Composed

    x = np.random.RandomState(0).uniform(1.001, 1000.0, (300, 1))
    x[0] = 1.001
    y = 1 / (x[:, 0] ** 3 - 1)
    inner = ClosedForm(np.array([[3], [0]]), np.array([1.0, -0.5]))
    formula = Composed(inner, "reciprocal")
    formula.refit_(x, y)
    np.testing.assert_allclose(formula.predict(x), y, rtol=1e-9)


def test_a_function_is_chosen_for_what_it_explains_beside_other_terms():
    """The square of the cosine rule, ``a**2 + b**2 - 2*a*b*cos(C)``: on ``C`` in
    [0.5, 1.5], ``cos(1.9*a/b)`` times one monomial fits it better than
    ``a*b*cos(C)`` does; beside the low monomials (``a**2``, ``b**2``, ``a*b``),
    ``cos(C)`` fits all of it, and it is the function scored first."""
    from sknalu.search._functions import _joint_scores, function_factors

    rng = np.random.RandomState(0)
    X = np.column_stack([rng.uniform(lo, hi, 500) for lo, hi in [(1, 5), (1, 5), (0.5, 1.5)]])
    a, b, angle = X[:400].T
    factors = function_factors(X[:400], X[400:], FUNCTIONS)
    scores = _joint_scores(
        X[:400], np.column_stack([v for _, v in factors]), a**2 + b**2 - 2 * a * b * np.cos(angle)
    )
    best = factors[int(np.argmax(scores))][0]
    assert best.name == "cos"
    assert best.inner.tolist() == [[0, 0, 1]] and abs(best.inner_coef[0]) == 1.0
    assert scores.max() > 1 - 1e-9


def test_a_constant_inside_a_function_off_the_grid_is_found_in_a_ratio():
    """Planck's ``h*omega/(2*pi*(exp(h*omega/(2*pi*kb*T)) - 1))``: ``1/(2*pi)``
    inside the exponential of four columns is off the grid of constants (where
    cosines of small arguments mimic the ratio better than ``exp(h*omega/(kb*T))``);
    the constant fitted to the ratio's score is ``1/(2*pi)`` and the ratio exact."""
    from sknalu.search._closed_form import _judge_and_confirm, _selector, _usable, library
    from sknalu.search._functions import function_ratios

    rng = np.random.RandomState(0)
    X = rng.uniform(1.0, 5.0, (600, 4))
    h, omega, kb, T = X.T
    u = h * omega / (2 * np.pi * kb * T)
    y = h * omega / (2 * np.pi * (np.exp(u) - 1))
    Xt, yt, Xv, yv = _split(X, y, 500)
    terms, _ = _usable(Xt, Xv, library(4))
    deadline = time.perf_counter() + 60

    def judge(formula, Xv, yv):
        _judge_and_confirm(formula, Xv, yv, Xt, yt)

    found = function_ratios(
        Xt, yt, Xv, yv, FUNCTIONS, terms[1:], _selector(deadline), judge, deadline
    )
    exact = [f for f in found if f.exact]
    assert exact
    factor = min(exact, key=lambda f: len(f.terms_)).terms_[1].factors[0]
    assert factor.name == "exp"
    np.testing.assert_allclose(factor.inner_coef, [1 / (2 * np.pi)], rtol=1e-9)


def test_a_function_nearly_quadratic_in_its_argument_is_left_out():
    """``cos(0.1/x)`` for ``x`` in [10, 100] is ``1 - 0.005/x**2`` to 1e-5 of its
    variation: no function column; ``cos(2/x)`` there is one."""
    from sknalu.search._functions import function_factors

    x = np.random.RandomState(0).uniform(10.0, 100.0, (300, 1))
    kept = {
        (f.inner.tolist()[0][0], float(f.inner_coef[0]))
        for f, _ in function_factors(x[:200], x[200:], ("cos",))
    }
    assert (-1, 0.1) not in kept and (-1, 2.0) in kept


def test_refined_constants_of_a_target_of_tiny_values_move():
    """Nonlinear least squares of inner constants stops on absolute tolerances;
    on ``1e-16*exp(-0.547*x)`` the refinement from the grid's ``-0.5`` still
    reaches ``-0.547`` (its residuals are relative to the target's size)."""
    from sknalu.search._functions import Factor, Term, refine

    x = np.linspace(0.0, 5.0, 200)[:, None]
    y = 1e-16 * np.exp(-0.547 * x[:, 0])
    start = Term(np.zeros(1, dtype=int), (Factor("exp", np.array([[1]]), np.array([-0.5])),))
    terms, coef = refine([start], x, y)
    np.testing.assert_allclose(terms[0].factors[0].inner_coef, [-0.547], rtol=1e-10)
    np.testing.assert_allclose(coef, [1e-16], rtol=1e-10)


def test_backward_elimination_finds_the_exact_subset_forward_selection_misses():
    """Of 60 random columns (unit norm), a target that is exactly four of them: the
    elimination from all 60 keeps those four; on a target that no subset of four
    fits, it keeps none."""
    from sknalu.search._rational import eliminated

    rng = np.random.RandomState(0)
    T = rng.normal(size=(300, 60))
    T /= np.linalg.norm(T, axis=0)
    target = T[:, [5, 11, 29, 47]] @ np.array([1.0, -0.3, 2.0, 0.7])
    assert eliminated(T, target, float(target @ target), 4) == [5, 11, 29, 47]
    noisy = target + 1e-3 * rng.normal(size=300)
    assert eliminated(T, noisy, float(noisy @ noisy), 4) is None


def test_a_shifted_gaussian_is_found():
    """``exp(-((theta - theta1)/sigma)**2/2)/(sqrt(2*pi)*sigma)``: three monomials
    inside the ``exp`` (``theta**2``, ``theta*theta1``, ``theta1**2`` over
    ``sigma**2``) that forward selection in logarithms misses; backward
    elimination from every monomial keeps them."""

    def formula(X):
        theta, theta1, sigma = X.T
        return np.exp(-(((theta - theta1) / sigma) ** 2) / 2) / (np.sqrt(2 * np.pi) * sigma)

    found, X_far = _found_on([(1.0, 3.0), (1.0, 3.0), (1.0, 3.0)], formula, deadline=60)
    np.testing.assert_allclose(found.predict(X_far), formula(X_far), rtol=1e-8)


def test_a_target_of_a_wide_range_gets_its_small_constants_to_rounding():
    """Korns' ``213.80940889*(1 - exp(-0.54723748542*x))`` on [-50, 50] reaches
    -1.6e14; fitted on absolute errors its constants come out right to 1e-5 only
    (the rounding of its largest values), on relative errors exactly."""

    def formula(X):
        return 213.80940889 * (1 - np.exp(-0.54723748542 * X[:, 0]))

    found, X_far = _found_on([(-50.0, 50.0)], formula, deadline=20)
    np.testing.assert_allclose(found.predict(X_far), formula(X_far), rtol=1e-8)


@pytest.mark.parametrize(
    "formula",
    [
        # A difference over the root of a difference of squares (Lorentz-like).
        lambda X: (X[:, 0] - X[:, 1] * X[:, 2]) * X[:, 3] / np.sqrt(X[:, 3] ** 2 - X[:, 1] ** 2),
        # A product over the square of a sum, and a sum of degree 3 in front.
        lambda X: X[:, 0] ** 2 * (X[:, 1] ** 2 * X[:, 2] + 2 * X[:, 3]) / (X[:, 1] + X[:, 2]) ** 2,
        # The root of a sum of squares times a column.
        lambda X: X[:, 2] * np.sqrt(X[:, 0] ** 2 + X[:, 1] ** 2),
    ],
    ids=["difference-over-root", "over-squared-sum", "root-of-squares"],
)
def test_a_product_of_powers_of_sums_of_two_monomials_is_found(formula):
    """Sums of two monomials are factors of a product in logarithms, as
    functions are, to integer powers and to half powers; each is written as a
    sum (no function), the constant inside refined, and the result extrapolates."""
    rng = np.random.RandomState(5)
    X = rng.uniform(1, 3, (500, 4))
    X[:, 3] += 3  # the root's argument stays positive
    exact = _exact_products(X, formula(X), True, linear=True)
    assert exact
    assert not exact[0].has_functions
    X_far = rng.uniform(0.5, 5, (50, 4))
    X_far[:, 3] += 5
    np.testing.assert_allclose(exact[0].predict(X_far), formula(X_far), rtol=1e-8)


def test_a_function_times_a_root_of_columns_in_a_sum_is_found():
    """With half powers, a function is multiplied in sums by roots of columns and
    of products of two (``I1 + I2 + 2*sqrt(I1*I2)*cos(delta)``)."""
    from sknalu.search._closed_form import _root_monomials

    rng = np.random.RandomState(6)
    X = rng.uniform(1, 4, (500, 3))
    y = X[:, 0] - 3 * np.sqrt(X[:, 0] * X[:, 1]) * np.sin(2 * X[:, 2])
    exact = _exact_sums(X, y, np.concatenate([monomials(3, 2)[1:], _root_monomials(3)]))
    assert exact
    X_far = rng.uniform(0.5, 8, (50, 3))
    far = X_far[:, 0] - 3 * np.sqrt(X_far[:, 0] * X_far[:, 1]) * np.sin(2 * X_far[:, 2])
    np.testing.assert_allclose(exact[0].predict(X_far), far, rtol=1e-8)


@pytest.mark.parametrize(
    "function",
    [np.sinh, lambda x: np.sin(x) + x, lambda x: np.cosh(2 * x)],
    ids=["sinh", "sin-plus-x", "cosh"],
)
def test_a_function_a_ratio_of_polynomials_approximates_to_rounding_is_found(function):
    """On [-1, 1], a ratio of degrees 7 and 4 is ``sinh(x)`` to 1e-14, and passes
    every test of exactness there: where such a long ratio is the only exact
    formula, the sums with functions still run, and the short sum comes first."""
    x = np.random.RandomState(7).uniform(-1, 1, (500, 1))
    y = function(x[:, 0])
    found = find_formulas(*_split(x, y), functions=FUNCTIONS, deadline=time.perf_counter() + 30)
    assert found[0].exact and found[0].has_functions and found[0].complexity()[0] <= 2
    x_far = np.linspace(1.5, 3, 20)[:, None]
    np.testing.assert_allclose(found[0].predict(x_far), function(x_far[:, 0]), rtol=1e-8)


def test_the_root_of_a_sum_with_a_function_of_a_difference_is_found():
    """``sqrt(a**2 + b**2 - 2*a*b*cos(C1 - C2))``: on up to four columns, the sums
    behind an outer function hold functions of sums of two monomials too."""
    from sknalu.search._closed_form import _selector
    from sknalu.search._functions import composed, multiplied_search

    rng = np.random.RandomState(8)
    X = rng.uniform(1, 5, (500, 4))

    def formula(X):
        a, b, c1, c2 = X.T
        return np.sqrt(a**2 + b**2 - 2 * a * b * np.cos(c1 - c2))

    X_train, y_train, X_valid, y_valid = _split(X, formula(X))
    deadline = time.perf_counter() + 30

    def judge_on(Xi, t):
        return functools.partial(_judge_and_confirm, X=Xi, y=t)

    inner = multiplied_search(
        FUNCTIONS, library(4)[1:], _selector(deadline), judge_on, deadline, 3, 0
    )
    judge = judge_on(X_train, y_train)
    found = list(
        composed(X_train, y_train, X_valid, y_valid, FUNCTIONS, inner, judge, deadline, ("sqrt",))
    )
    assert found and found[-1].exact
    X_far = rng.uniform(0.5, 8, (50, 4))
    np.testing.assert_allclose(found[-1].predict(X_far), formula(X_far), rtol=1e-8)


def test_the_logarithm_of_a_sum_with_a_function_is_found_on_one_column():
    """``asinh(x) = log(x + sqrt(x**2 + 1))``: the exponential of the target is a
    sum of a column and a function of a sum, found after the sums with functions."""
    from sknalu.search._closed_form import _LATER_OUTER, _outer_of_sums, _usable

    rng = np.random.RandomState(0)
    X = rng.uniform(0, 100, (500, 1))
    X_train, y_train, X_valid, y_valid = _split(X, np.arcsinh(X[:, 0]))
    terms, _ = _usable(X_train, X_valid, library(1))
    judge = functools.partial(_judge_and_confirm, X=X_train, y=y_train)
    deadline = time.perf_counter() + 120
    found = [
        f
        for f in _outer_of_sums(
            X_train, y_train, X_valid, y_valid, terms, FUNCTIONS, deadline, judge, _LATER_OUTER
        )
        if f.exact
    ]
    assert found
    X_far = rng.uniform(100, 200, (50, 1))
    np.testing.assert_allclose(found[0].predict(X_far), np.arcsinh(X_far[:, 0]), rtol=1e-10)


def test_a_function_of_the_cube_of_a_column_is_found_on_one_column():
    """``2 - 3*sin(4.5*x**3)``: on one column, functions are tried on its cube too,
    with the same scales as on the column itself, and the refinement of the inner
    constant takes 3 (a scale tried) to 4.5."""
    formula = lambda X: 2 - 3 * np.sin(4.5 * X[:, 0] ** 3)  # noqa: E731
    found, X_far = _found_on([(-1.0, 1.0)], formula, deadline=60)
    np.testing.assert_allclose(found.predict(X_far), formula(X_far), rtol=1e-8, atol=1e-8)
