"""The textbook-formulas suite: formulas, scoring of the formula read back, runner, CLI."""

import sys
import types
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import sympy
from sklearn.base import BaseEstimator, RegressorMixin

from sknalu.benchmarks import _formula_suite
from sknalu.benchmarks._formula_suite import (
    FORMULA_MODELS,
    FORMULAS,
    FORMULAS_COLUMNS,
    SUMMARY_COLUMNS,
    SuiteFormula,
    _read_back,
    check_formula,
    gplearn_to_sympy,
    run_formulas,
    same_structure,
    summarize_formulas,
)
from sknalu.cli import main

#: Few rows: the machinery, not the models, is under test.
FEW = dict(n_train=60, n_test=40)


# -- the formulas -------------------------------------------------------------------


def test_the_suite_has_enough_formulas_of_each_kind():
    assert len(FORMULAS) >= 32
    assert len({f.name for f in FORMULAS}) == len(FORMULAS)
    kinds = Counter(f.kind for f in FORMULAS)
    assert kinds["product"] >= 8 and kinds["power"] >= 4
    assert kinds["constant"] >= 8 and kinds["sum"] >= 12


@pytest.mark.parametrize("formula", FORMULAS, ids=lambda f: f.name)
def test_formula_parses_and_is_finite_on_its_ranges(formula):
    expression = formula.to_sympy()
    assert {s.name for s in expression.free_symbols} == set(formula.variables)
    # No variable is also one of sympy's own names (E, I, S, N, Q, beta, pi ...).
    assert not any(hasattr(sympy, name) for name in formula.variables)
    rng = np.random.RandomState(0)
    for which, ranges in (("train", formula.train), ("test", formula.test)):
        X = formula.sample(500, rng, which)
        assert list(X.columns) == list(formula.variables)
        for name, (low, high) in ranges.items():
            assert low <= X[name].min() and X[name].max() <= high
        y = formula.evaluate(X)
        assert y.shape == (500,) and np.isfinite(y).all() and (np.abs(y) > 0).all()
    for name in formula.variables:
        train, test = formula.train[name], formula.test[name]
        assert test[1] - test[0] > train[1] - train[0], name  # wider
        assert test[1] > train[1], name  # reaching beyond the training range


def test_formula_kinds():
    kinds = {f.name: f.kind for f in FORMULAS}
    assert kinds["newton_second_law"] == kinds["ohms_law_current"] == "product"
    assert kinds["mass_energy"] == kinds["gravitational_field"] == "power"
    assert kinds["kinetic_energy"] == kinds["coulomb_force"] == "constant"
    assert kinds["parallel_resistors"] == kinds["rectangle_perimeter"] == "sum"


def test_variables_named_like_sympy_objects_are_symbols():
    f = SuiteFormula("energy", "test", "E*S/N", *[{v: (1, 2) for v in "ESN"}] * 2)
    assert f.to_sympy() == sympy.Symbol("E") * sympy.Symbol("S") / sympy.Symbol("N")
    assert f.parse("2*E").free_symbols == {sympy.Symbol("E")}


def test_a_column_the_estimator_renames_is_read_back_as_its_variable():
    # A column named like a sympy function (``beta``) is written ``beta_`` in
    # ``formula_``; ``formula_symbols_`` says which column it is.
    f = SuiteFormula(
        "cosine",
        "test",
        "beta*(1 + alpha*cos(theta))",
        *[{v: (1, 2) for v in ("beta", "alpha", "theta")}] * 2,
    )
    est = types.SimpleNamespace(
        formula_="alpha*beta_*cos(theta) + beta_",
        formula_symbols_={"beta_": "beta", "alpha": "alpha", "theta": "theta"},
    )
    text, expression, marked_exact = _read_back(est, f, "nalu_auto")
    assert marked_exact and text == est.formula_
    assert sympy.simplify(expression - f.to_sympy()) == 0


@pytest.mark.parametrize(
    "train, test, message",
    [
        ({"m": (1, 2)}, {"v": (1, 2)}, "different variables"),
        ({"2m": (1, 2)}, {"2m": (2, 3)}, "not a valid variable name"),
        ({"m": (2, 1)}, {"m": (2, 3)}, "training range of m must have low < high"),
    ],
)
def test_formula_checks_its_ranges(train, test, message):
    with pytest.raises(ValueError, match=message):
        SuiteFormula("f", "test", "m", train, test)


def test_check_formula():
    assert check_formula("momentum").expression == "m*v"
    with pytest.raises(ValueError, match="unknown formula 'warp_drive'"):
        check_formula("warp_drive")


# -- reading back and scoring -------------------------------------------------------


def test_same_structure_ignores_coefficients_not_monomials():
    f = check_formula("kinetic_energy")
    truth, symbols = f.to_sympy(), list(f.symbols().values())
    assert same_structure(f.parse("0.49999*m*v**2"), truth, symbols)
    assert same_structure(f.parse("m**2*v**2/(2*m)"), truth, symbols)  # m cancels
    assert not same_structure(f.parse("0.5*m*v**2 + 1e-9*m"), truth, symbols)
    assert not same_structure(f.parse("sqrt(m)*v**2"), truth, symbols)
    assert not same_structure(f.parse("m*v**2*x"), truth, symbols)
    lens = check_formula("thin_lens_focal_length")
    truth, symbols = lens.to_sympy(), list(lens.symbols().values())
    assert same_structure(lens.parse("1/(1.01/u + 0.99/v)"), truth, symbols)
    assert not same_structure(lens.parse("u*v/(u + v + 1)"), truth, symbols)


def test_same_structure_of_a_root_is_that_of_its_square():
    """A root written over another term has the structure of the truth where the
    squares have the same monomials; a root of other monomials has not."""
    f = SuiteFormula(
        "moving_mass", "relativity", "m0/sqrt(1 - v**2/c**2)",
        {"m0": (1, 5), "v": (1, 5), "c": (6, 10)}, {"m0": (5, 10), "v": (1, 5), "c": (10, 20)},
        needs_roots=True,
    )  # fmt: skip
    truth, symbols = f.to_sympy(), list(f.symbols().values())
    assert same_structure(f.parse("1.0016*c*m0/sqrt(1.0026*c**2 - v**2)"), truth, symbols)
    assert same_structure(f.parse("m0/sqrt(1 - 0.99*v**2/c**2)"), truth, symbols)
    assert not same_structure(f.parse("m0/sqrt(1.0026*c**2 - v**2)"), truth, symbols)
    assert not same_structure(f.parse("c*m0/sqrt(c**2 + v**2 + c)"), truth, symbols)
    assert not same_structure(f.parse("m0*sqrt(1 + v**2/c**2)"), truth, symbols)


def test_same_structure_answers_at_once_for_a_trained_networks_fractional_powers():
    f = check_formula("weighted_mean")
    truth, symbols = f.to_sympy(), list(f.symbols().values())
    found = f.parse(
        "0.35104738*(0.38064589*w2 + 0.61935411)**0.76123767*(0.80862881*x2 + 0.19137119)"
        "**1.0715042/((0.51626279*w1 + 0.48373721)**0.2288913*(0.34346455*w3 + 0.65653545)"
        "**0.47094239) + 0.49377607*(0.34346455*w3 + 0.65653545)**0.51171479*x3"
    )
    # No rational function: said at once (sympy's cancel took minutes and gigabytes).
    assert not same_structure(found, truth, symbols)
    assert same_structure(f.parse("(w1**1.0*x1 + w2*x2 + w3*x3)/(w1 + w2 + w3)"), truth, symbols)


def test_gplearn_program_strings_become_sympy():
    expression = gplearn_to_sympy("div(mul(X0, X1), add(X0, X1))", ["R1", "R2"])
    R1, R2 = sympy.symbols("R1 R2")
    assert sympy.simplify(expression - R1 * R2 / (R1 + R2)) == 0
    assert gplearn_to_sympy("sub(X0, -0.5)", ["a"]) == sympy.Symbol("a") + 0.5
    # A division by an expression that is zero (protected in gplearn) is never exact.
    f = check_formula("momentum")
    infinite = gplearn_to_sympy("div(X1, sub(X0, X0))", ["m", "v"])
    assert np.isnan(f.evaluate(f.sample(3, np.random.RandomState(0)), infinite)).all()
    assert not same_structure(infinite, f.to_sympy(), list(f.symbols().values()))


class _Reads(RegressorMixin, BaseEstimator):
    """Predicts with a fixed formula of the variables and reads it back as ``formula_``."""

    def __init__(self, text="m*v", random_state=None):
        self.text = text
        self.random_state = random_state

    def fit(self, X, y):
        self.y_ = np.asarray(y)
        self.formula_ = self.text
        return self

    def predict(self, X):
        names = list(X.columns)
        expression = sympy.sympify(self.text.lstrip("≈ ").split("  (")[0])
        function = sympy.lambdify(sympy.symbols(names), expression, "numpy")
        return np.broadcast_to(function(*(X[n].to_numpy() for n in names)), len(X))


class _Fails(_Reads):
    def fit(self, X, y):
        raise RuntimeError("the units did not converge")


@pytest.fixture
def fake_models(monkeypatch):
    """Models of known behaviour: reading back a given formula, failing."""

    def reads(text):
        return lambda random_state, params=None: _Reads(text, random_state).set_params(
            **(params or {})
        )

    models = {
        "right": reads("m*v"),
        "marked_approximate": reads("≈ 1.0000000001*m*v"),
        "with_note": reads("≈ 1.0*m*v  (differs from predict by up to 1% on 3 of the rows)"),
        "coefficient": reads("≈ 1.01*m*v"),
        "missing_variable": reads("7*m"),
        "fails": lambda random_state, params=None: _Fails(random_state=random_state),
    }
    for name, factory in models.items():
        monkeypatch.setitem(FORMULA_MODELS, name, factory)
    return list(models)


def test_formula_read_back_is_scored_numerically_and_by_structure(fake_models):
    results = run_formulas(["momentum"], fake_models, seeds=1, **FEW).set_index("model")
    assert list(results.columns) == [c for c in FORMULAS_COLUMNS if c != "model"]
    assert results["exact"].to_dict() == {
        "right": True,
        "marked_approximate": True,  # "≈" is conservative: still checked numerically
        "with_note": True,
        "coefficient": False,
        "missing_variable": False,
        "fails": False,
    }
    assert results.loc["right", "formula_exact"]
    assert not results.loc["marked_approximate", "formula_exact"]
    assert results.loc["with_note", "found"] == "≈ 1.0*m*v"
    assert results.loc["coefficient", "structure"]
    assert results.loc["coefficient", "formula_error"] == pytest.approx(0.01)
    assert not results.loc["missing_variable", "structure"]
    assert results.loc["fails", "error"] == "RuntimeError: the units did not converge"
    assert results["error"].drop("fails").isna().all()
    assert (results.drop("fails")["fit_time"] >= 0).all()


def test_noise_goes_on_the_training_target_only(fake_models, monkeypatch):
    fitted = []
    monkeypatch.setattr(_Reads, "fit", lambda self, X, y: fitted.append(np.asarray(y)) or self)
    monkeypatch.setattr(_Reads, "formula_", "m*v", raising=False)
    clean = run_formulas(["momentum"], ["right"], seeds=[3], **FEW)
    noisy = run_formulas(["momentum"], ["right"], seeds=[3], noise=0.1, **FEW)
    residual = fitted[1] - fitted[0]
    # A standard deviation of `noise` times the target's root mean square.
    assert 0.07 < residual.std() / np.sqrt(np.mean(fitted[0] ** 2)) < 0.13
    assert noisy.loc[0, "noise"] == 0.1 and clean.loc[0, "noise"] == 0.0
    # The test rows keep the exact target: the true formula still extrapolates exactly.
    assert noisy.loc[0, "extrapolation_error"] == 0 and noisy.loc[0, "exact"]


def test_linear_regression_is_exact_on_linear_formulas_only():
    results = run_formulas(
        ["rectangle_perimeter", "momentum"], ["linear"], seeds=[0, 1], **FEW
    ).set_index(["formula", "seed"])
    assert results["exact"].to_dict() == {
        ("rectangle_perimeter", 0): True,
        ("rectangle_perimeter", 1): True,
        ("momentum", 0): False,
        ("momentum", 1): False,
    }
    assert results["found"].isna().all() and results["formula_exact"].isna().all()
    assert (results.loc["rectangle_perimeter", "structure"]).all()
    assert (results.loc["momentum", "max_extrapolation_error"] > 0.1).all()


def test_mlp_runs_and_rows_repeat_with_the_seed():
    first = run_formulas(["density"], ["mlp"], seeds=[0], **FEW)
    again = run_formulas(["density"], ["mlp"], seeds=[0], **FEW)
    assert first.loc[0, "extrapolation_error"] == again.loc[0, "extrapolation_error"]
    assert not first.loc[0, "exact"] and first.loc[0, "error"] is None


def test_params_go_to_the_sknalu_models_unless_a_model_is_named():
    routed = _formula_suite._route(
        {"max_steps": 10, "mlp.regressor__mlpregressor__max_iter": 5},
        ["nmu_auto", "nalu_auto", "linear", "mlp"],
    )
    assert routed == {
        "nmu_auto": {"max_steps": 10},
        "nalu_auto": {"max_steps": 10},
        "linear": {},
        "mlp": {"regressor__mlpregressor__max_iter": 5},
    }
    with pytest.raises(
        ValueError, match="no sknalu model of the run \\(none\\) has the parameter 'max_iter'"
    ):
        _formula_suite._route({"max_iter": 5}, ["linear", "mlp"])
    with pytest.raises(ValueError, match="'random_state' cannot be set"):
        _formula_suite._route({"nmu_auto.random_state": 1}, ["nmu_auto"])
    with pytest.raises(ValueError, match="which is not run"):
        _formula_suite._route({"mlp.alpha": 1}, ["linear"])


def test_unknown_model_is_an_error():
    with pytest.raises(ValueError, match="unknown model 'npu' for the formulas suite"):
        run_formulas(["momentum"], ["npu"])


def test_gplearn_is_skipped_with_a_message_when_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "gplearn", None)  # import gplearn raises ImportError
    with pytest.warns(UserWarning, match="gplearn is not installed"):
        results = run_formulas(["rectangle_perimeter"], ["gplearn", "linear"], seeds=1, **FEW)
    assert list(results["model"]) == ["linear"]


@pytest.mark.slow
def test_gplearn_recovers_a_product():
    pytest.importorskip("gplearn")
    results = run_formulas(
        ["momentum"], ["gplearn"], seeds=1, params={"gplearn.population_size": 500}
    )
    assert results.loc[0, "exact"], results.loc[0, "found"]


# -- summary ------------------------------------------------------------------------


def test_summary_counts_exact_fits_and_formulas_per_model_and_kind():
    results = pd.DataFrame(
        {
            "formula": ["f", "f", "g", "g", "f", "f", "g", "g"],
            "kind": ["sum", "sum", "power", "power"] * 2,
            "domain": ["geometry", "geometry", "mechanics", "mechanics"] * 2,
            "model": ["a"] * 4 + ["b"] * 4,
            "seed": [0, 1] * 4,
            "exact": [True, True, True, False, False, False, False, False],
            "structure": [True, True, True, False, True, False, False, False],
            "error": [None] * 7 + ["ValueError: no"],
            "fit_time": [1.0, 2.0, 3.0, 4.0, 1.0, 1.0, 1.0, np.nan],
            "extrapolation_error": [0, 0, 0, 0.5, 0.1, 0.2, 0.3, np.nan],
        }
    )
    table = summarize_formulas(results)
    assert list(table.columns) == SUMMARY_COLUMNS
    assert list(zip(table["model"], table["group"], strict=True)) == [
        ("a", "all"),
        ("a", "power"),
        ("a", "sum"),
        ("b", "all"),
        ("b", "power"),
        ("b", "sum"),
    ]
    a = table.iloc[0]
    assert (a["fits"], a["exact"], a["formulas_exact"], a["exact_share"]) == (4, 3, 2, 0.75)
    assert (a["structure_share"], a["fit_time_median"]) == (0.75, 2.5)
    b = table.iloc[3]
    assert (b["exact"], b["formulas_exact"], b["errors"]) == (0, 0, 1)
    assert summarize_formulas(results, by=None)["group"].tolist() == ["all", "all"]
    assert summarize_formulas(results, by="domain")["group"].tolist()[:3] == [
        "all",
        "geometry",
        "mechanics",
    ]


# -- the command line ---------------------------------------------------------------


def test_cli_formulas_suite_writes_the_table(tmp_path, capsys):
    status = main(
        ["benchmark", "--suite", "formulas", "--formulas", "rectangle_perimeter", "momentum",
         "--models", "linear", "--seeds", "2", "--n-train", "50", "--n-test", "50",
         "--noise", "0", "--output-dir", str(tmp_path)]
    )  # fmt: skip
    assert status == 0
    results = pd.read_csv(tmp_path / "formulas.csv")
    assert len(results) == 4 and set(results["model"]) == {"linear"}
    assert results.groupby("formula")["exact"].all().to_dict() == {
        "momentum": False,
        "rectangle_perimeter": True,
    }
    text = (tmp_path / "formulas.txt").read_text(encoding="utf-8")
    assert "formulas_exact" in text and "product" in text
    assert "formulas.csv" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--formulas", "warp_drive"], "unknown formula 'warp_drive'"),
        (["--models", "npu"], "unknown model 'npu' for the formulas suite"),
        (["--noise", "-1"], "noise must be a fraction of at least 0"),
        (["--param", "max_steps=5"], "has the parameter 'max_steps'"),
        (["--param", "linear.max_steps=5"], "the model 'linear' has no parameter 'max_steps'"),
    ],
)
def test_cli_formulas_bad_arguments(argv, message, capsys, tmp_path):
    base = ["benchmark", "--suite", "formulas", "--models", "linear", "--output-dir"]
    with pytest.raises(SystemExit) as exc:
        main([*base, str(tmp_path), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_noisy_rows_prefer_the_truth_only_where_they_hold_its_terms():
    """With 1% noise, ``k*(x - x0)**2/2`` read back as ``k*x**2/2`` leaves out terms
    the rows hold (the truth's criterion is far lower: the search missed it); the
    NASA polynomial of ``T`` to the fourth power read back as a line is what
    1000 rows on [300, 600] hold (its terms of ``T**3`` and ``T**4`` lower the
    error by less than they cost)."""
    from sknalu.benchmarks._formula_suite import _draw_rows, truth_supported

    spring = check_formula("shifted_spring_energy")
    X, y, *_ = _draw_rows(spring, 0, 0.01, 1000, 10)
    assert truth_supported(spring, spring.parse("0.5*k*x**2"), X, y)

    nasa = check_formula("nasa_heat_capacity_n2")
    X, y, *_ = _draw_rows(nasa, 0, 0.01, 1000, 10)
    assert not truth_supported(nasa, nasa.parse("0.0032662735*T + 27.990392"), X, y)
    assert truth_supported(nasa, nasa.parse("29.2"), X, y)
