"""The formula's output: simple constants only when exact, tidy strings, LaTeX,
numpy and torch functions, and the predictions ``sknalu predict`` prints."""

import math
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import sympy
import torch

from sknalu import NALURegressor, NMURegressor
from sknalu.cli import main
from sknalu.exceptions import FormulaWarning
from sknalu.formula._estimator import _integral_floats, _tidy


def frame(columns, n_samples=200, seed=0, value_range=(1.0, 2.0)):
    rng = np.random.default_rng(seed)
    X = rng.uniform(*value_range, size=(n_samples, len(columns)))
    return pd.DataFrame(X, columns=list(columns))


@pytest.fixture(scope="module")
def product():
    """An exact fit of price * qty."""
    X = frame(["price", "qty"])
    return NMURegressor(max_steps=2000, random_state=0).fit(X, X.price * X.qty)


@pytest.fixture(scope="module")
def approximate():
    """A fit that is not exact: a product learnt on noisy targets, in a few steps."""
    X = frame(["a", "b"], value_range=(1.0, 10.0))
    y = X.a * X.b * (1 + 0.01 * np.random.default_rng(1).standard_normal(len(X)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NMURegressor(max_steps=500, n_restarts=2, random_state=0).fit(X, y)


def energy_table(n=500, seed=0):
    """The carts of docs/user_guide/table_to_formula.rst, and their exact energy in kJ."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "mass_kg": rng.uniform(50, 200, n).round(1),
            "speed_kmh": rng.uniform(5, 30, n).round(1),
            "height_m": rng.uniform(0, 10, n).round(2),
            "paint_code": rng.integers(1, 6, n).astype(float),
        }
    )
    energy = (X.mass_kg * (X.speed_kmh / 3.6) ** 2 / 2 + 9.81 * X.mass_kg * X.height_m) / 1000
    return X, energy


# -- simple constants: only in an exact formula ------------------------------------------


@pytest.mark.parametrize("estimator", [NALURegressor, NMURegressor])
def test_the_energy_table_reads_its_constants_as_the_docs_say(estimator):
    # Least squares leaves 1/25920 a few units in the last place off; an exact
    # formula reads it, and 981/100000, as the fractions (docs: table_to_formula).
    X, energy = energy_table()
    est = estimator(units="auto", random_state=0).fit(X, energy)
    assert est.formula_exact_
    assert est.formula_ == "981*height_m*mass_kg/100000 + mass_kg*speed_kmh**2/25920"


def test_an_approximate_formula_writes_its_constants_as_decimals(approximate):
    assert not approximate.formula_exact_
    # The snap may leave a constant on a simple number, as a fit on a scaled
    # target did with -64*pi/31: the formula is not exact, so it is not claimed.
    with torch.no_grad():
        approximate.net_.module_.scale.fill_(-64 * math.pi / 31)
    approximate._formula_text = None
    text = approximate.formula_
    assert text.startswith("≈ ")
    assert "pi" not in text and "/31" not in text
    assert "-6.48" in text
    with pytest.warns(FormulaWarning):
        expr = approximate.to_sympy()
    assert not expr.has(sympy.pi) and not any(
        isinstance(n, sympy.Rational) and n.q == 31 for n in expr.atoms(sympy.Rational)
    )


def test_an_exact_formula_keeps_its_simple_constants():
    X = frame(["mass", "speed"])
    est = NALURegressor(units="auto", random_state=0).fit(X, math.pi * X.mass * X.speed**2 / 2)
    assert est.formula_exact_
    assert est.formula_ == "pi*mass*speed**2/2"


# -- tidy strings ------------------------------------------------------------------------


def test_a_multi_output_formula_has_no_floating_point_marks():
    X = frame(["price", "qty"], n_samples=300, value_range=(1.0, 10.0))
    Y = np.column_stack([X.price * X.qty, X.price + X.qty])
    est = NMURegressor(max_steps=1000, random_state=0).fit(X, Y)
    text = est.formula_
    # The first output is exact, the second not: the whole is approximate.
    assert text.startswith("≈ [price*qty, ")
    assert "1.0*" not in text and "e-15" not in text and "e-16" not in text


def test_tidy_drops_rounding_and_whole_number_floats():
    x, y = sympy.symbols("x y")
    rows = np.array([[1.0, 2.0], [3.0, 4.0]])
    expressions = [
        sympy.Float(1.0000000000000002) * x * y + sympy.Float(4.4e-16),
        sympy.Float(2.5) * x - sympy.Float(1e-3),
    ]
    scales = np.array([7.0, 5.0])
    assert _tidy(expressions, [x, y], rows, scales) == [x * y, sympy.Float(2.5) * x - 0.001]
    assert _integral_floats(sympy.Float(-1.0) * x, sympy) == -x


def test_tidy_keeps_a_term_that_is_not_real_instead_of_failing():
    """A candidate's read-back can hold a complex constant (the logarithm of a
    negative value, ``log(-1) = I*pi``): it is no rounding to drop, and reading
    the formula must not fail on it."""
    x = sympy.symbols("x")
    rows = np.array([[1.0], [3.0]])
    expression = sympy.Float(2.5) * x - sympy.Float(0.6) * sympy.I
    assert _tidy([expression], [x], rows, np.array([5.0])) == [expression]


# -- LaTeX and functions -------------------------------------------------------------------


def test_to_latex_writes_the_formula(product):
    assert product.to_latex() == "price qty"


def test_to_latex_of_several_outputs_is_a_column():
    X = frame("ab", n_samples=300)
    Y = np.column_stack([X.a + X.b, X.a - X.b])
    est = NMURegressor(units=("nau", "nau"), max_steps=3000, random_state=0).fit(X, Y)
    assert est.to_latex() == r"\left[\begin{matrix}a + b\\a - b\end{matrix}\right]"


def test_to_latex_of_an_approximate_formula_warns_and_has_its_digits(approximate):
    with pytest.warns(FormulaWarning):
        latex = approximate.to_latex()
    assert "pi" not in latex and "." in latex


def test_lambdify_numpy_computes_predict(product):
    f = product.lambdify()
    X = frame(["price", "qty"], seed=3, value_range=(-100.0, 100.0))
    np.testing.assert_allclose(f(X), product.predict(X), rtol=1e-12)
    np.testing.assert_allclose(f(X.to_numpy()), product.predict(X), rtol=1e-12)
    # A DataFrame's columns are taken by name, in any order.
    np.testing.assert_allclose(f(X[["qty", "price"]]), product.predict(X), rtol=1e-12)
    assert repr(f) == "<formula of price, qty (numpy): price*qty>"


def test_lambdify_torch_is_differentiable(product):
    f = product.lambdify("torch")
    x = torch.tensor([[3.0, 2.0], [1.0, 5.0]], dtype=torch.float64, requires_grad=True)
    value = f(x)
    assert isinstance(value, torch.Tensor) and value.shape == (2,)
    torch.testing.assert_close(value, torch.tensor([6.0, 5.0], dtype=torch.float64))
    value.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[2.0, 3.0], [5.0, 1.0]], dtype=torch.float64))


def test_lambdify_of_several_outputs_and_of_a_constant_has_a_column_each():
    X = frame("ab", n_samples=300)
    Y = np.column_stack([X.a + X.b, X.a - X.b])
    est = NMURegressor(units=("nau", "nau"), max_steps=3000, random_state=0).fit(X, Y)
    out = est.lambdify()(X)
    assert out.shape == (300, 2)
    np.testing.assert_allclose(out, Y, rtol=1e-12)
    assert est.lambdify("torch")(torch.tensor(X.to_numpy())).shape == (300, 2)


def test_lambdify_checks_its_arguments(product):
    with pytest.raises(ValueError, match="backend must be one of"):
        product.lambdify("jax")
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 2\)"):
        product.lambdify()(np.ones((3, 3)))


def test_lambdify_of_an_approximate_formula_warns(approximate):
    with pytest.warns(FormulaWarning):
        f = approximate.lambdify()
    X = frame(["a", "b"], value_range=(1.0, 10.0))
    np.testing.assert_allclose(f(X), approximate.predict(X), rtol=1e-6)


# -- sknalu predict prints short floats ------------------------------------------------


def test_sknalu_predict_prints_predictions_as_short_floats(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.uniform(1, 20, size=(200, 2)).round(2), columns=["price", "qty"])
    est = NMURegressor(max_steps=2000, random_state=0).fit(X, X.price * X.qty)
    joblib.dump(est, tmp_path / "model.joblib")
    rows = pd.DataFrame({"price": [1789.59, 0.1, 19.99, 2.0], "qty": [5.0, 3.0, 3.0, 150.0]})
    # The float products carry rounding: 8947.949999999999, 0.30000000000000004.
    assert repr(float(est.predict(rows)[0])) != "8947.95"
    rows.to_csv(tmp_path / "rows.csv", index=False)
    command = ["predict", str(tmp_path / "model.joblib"), str(tmp_path / "rows.csv")]
    assert main([*command, "--trust-pickle"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["prediction", "8947.95", "0.3", "59.97", "300.0"]
    # A file keeps every digit.
    output = tmp_path / "preds.csv"
    assert main([*command, "--trust-pickle", "--output", str(output)]) == 0
    np.testing.assert_array_equal(pd.read_csv(output).prediction, est.predict(rows))


def test_the_html_repr_shows_the_whole_formula():
    """scikit-learn's table of fitted attributes cuts strings to a few characters;
    the formula is shown whole, alone and inside a pipeline."""
    import html

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.utils import estimator_html_repr

    X = frame(["price", "qty", "discount"])
    y = 3.5 * X.price * X.qty / X.discount + X.discount**2 - 7 * X.price
    est = NALURegressor(units="auto", max_time=10, random_state=0).fit(X, y)
    assert len(est.formula_) > 30
    assert html.escape(est.formula_) in est._repr_html_()
    pipeline = make_pipeline(FunctionTransformer(), est).fit(X, y)
    assert html.escape(pipeline[-1].formula_) in estimator_html_repr(pipeline)
    # Unfitted, the repr is scikit-learn's own.
    assert "formula_" not in NALURegressor()._repr_html_()
