"""The formulas suite's collections: algebraic and function formulas, kinds, roots, CLI."""

from collections import Counter

import numpy as np
import pandas as pd
import pytest
import sympy
from sklearn.base import BaseEstimator, RegressorMixin

from sknalu.benchmarks import _formula_suite
from sknalu.benchmarks._formula_suite import (
    ALGEBRAIC_FORMULAS,
    FORMULA_COLLECTIONS,
    FORMULA_MODELS,
    FORMULAS,
    FUNCTION_FORMULAS,
    KINDS,
    ROOTLESS_MODELS,
    SUMMARY_COLUMNS,
    SuiteFormula,
    check_formula,
    formula_collection,
    run_formulas,
    same_structure,
    summarize_formulas,
)
from sknalu.cli import main

NEW_FORMULAS = ALGEBRAIC_FORMULAS + FUNCTION_FORMULAS

#: The kind of every textbook formula before the new kinds: it must not change.
TEXTBOOK_KINDS = {
    **dict.fromkeys(
        ["newton_second_law", "electric_power", "density", "speed", "momentum", "work",
         "torque", "ohms_law_current", "heat_capacity"], "product"),
    **dict.fromkeys(
        ["mass_energy", "joule_heating", "power_from_voltage", "centripetal_acceleration",
         "gravitational_field"], "power"),
    **dict.fromkeys(
        ["kinetic_energy", "coulomb_force", "sphere_volume", "ideal_gas_pressure",
         "cylinder_volume", "kilovolt_power", "potential_energy", "gravitation"], "constant"),
    **dict.fromkeys(
        ["centre_of_mass", "parallel_resistors", "thin_lens_focal_length", "mechanical_energy",
         "hydrostatic_pressure", "rectangle_perimeter", "simple_interest", "total_cost",
         "trapezoid_area", "total_energy", "radar_doppler", "weighted_mean", "compound_growth",
         "round_trip_speed", "displacement"], "sum"),
}  # fmt: skip


def _symbols(formula):
    return list(formula.symbols().values())


# -- the collections ----------------------------------------------------------------


def test_collections_are_large_enough_and_names_unique_across_them():
    assert set(FORMULA_COLLECTIONS) == {"textbook", "algebraic", "functions"}
    assert FORMULA_COLLECTIONS["textbook"] is FORMULAS
    assert len(ALGEBRAIC_FORMULAS) >= 34 and len(FUNCTION_FORMULAS) >= 34
    every = formula_collection("all")
    assert every == FORMULAS + ALGEBRAIC_FORMULAS + FUNCTION_FORMULAS
    names = [f.name for f in every]
    assert len(set(names)) == len(names), [n for n, c in Counter(names).items() if c > 1]
    with pytest.raises(ValueError, match="unknown collection 'extra'"):
        formula_collection("extra")


def test_formulas_of_every_collection_are_found_by_name():
    assert check_formula("lorentz_force") is FUNCTION_FORMULAS[0]
    assert check_formula("nasa_heat_capacity_n2") is ALGEBRAIC_FORMULAS[0]
    with pytest.raises(ValueError, match="did you mean lorentz_force"):
        check_formula("lorentz_forse")


@pytest.mark.parametrize("formula", NEW_FORMULAS, ids=lambda f: f.name)
def test_new_formula_parses_and_is_finite_and_nonzero_on_its_ranges(formula):
    expression = formula.to_sympy()
    assert {s.name for s in expression.free_symbols} == set(formula.variables)
    assert not any(hasattr(sympy, name) for name in formula.variables)
    rng = np.random.RandomState(0)
    for which, ranges in (("train", formula.train), ("test", formula.test)):
        X = formula.sample(200, rng, which)
        for name, (low, high) in ranges.items():
            assert low <= X[name].min() and X[name].max() <= high
        y = formula.evaluate(X)  # NaN or inf where it divides by zero, takes log(0) ...
        assert np.isfinite(y).all() and (np.abs(y) > 0).all()
    for name in formula.variables:
        train, test = formula.train[name], formula.test[name]
        assert test[1] - test[0] > train[1] - train[0], name  # wider
        assert test[1] > train[1], name  # reaching beyond the training range


def _has_root(expression) -> bool:
    """Whether a fractional power of an expression of the variables appears."""
    return any(
        p.base.free_symbols and p.exp.is_number and not float(p.exp).is_integer()
        for p in expression.atoms(sympy.Pow)
    )


@pytest.mark.parametrize("formula", NEW_FORMULAS + FORMULAS, ids=lambda f: f.name)
def test_formulas_that_take_roots_say_so(formula):
    assert formula.needs_roots == _has_root(formula.to_sympy())


def test_kinds_of_the_collections():
    assert {f.name: f.kind for f in FORMULAS} == TEXTBOOK_KINDS
    algebraic = Counter(f.kind for f in ALGEBRAIC_FORMULAS)
    assert set(algebraic) == {"polynomial", "shifted", "rational", "root"}
    assert min(algebraic.values()) >= 8
    assert {f.kind for f in FUNCTION_FORMULAS} == {"function"}
    assert set(KINDS) >= set(algebraic) | {"function"} | set(TEXTBOOK_KINDS.values())
    kinds = {f.name: f.kind for f in NEW_FORMULAS}
    assert kinds["nasa_heat_capacity_n2"] == kinds["beam_deflection_uniform_load"] == "polynomial"
    assert kinds["shifted_spring_energy"] == kinds["gravitation_between_points"] == "shifted"
    assert kinds["rational_bump"] == "shifted"
    assert kinds["driven_oscillator_amplitude"] == kinds["oscillator_scattering"] == "rational"
    assert kinds["water_density_kell"] == "rational"  # a long numerator over a sum
    assert kinds["spring_mass_frequency"] == kinds["pendulum_period"] == "root"
    assert kinds["relativistic_mass"] == kinds["half_life_decay"] == "function"


@pytest.mark.parametrize(
    "expression, kind",
    [
        ("(x - 3)**2 + y", "shifted"),
        ("y/(x - y)**3", "shifted"),
        ("(x + 3)**2*y", "sum"),  # a positive shift: as P*(1 + r)**2
        ("x*(x - y)", "sum"),  # a difference, not squared
        ("x**4 + y", "polynomial"),
        ("1 + x + x**2 + y + y**2", "polynomial"),
        ("x/(x**2 + y)", "rational"),
        ("x/(x + y)", "sum"),
        ("sqrt(x*y)/2", "root"),
        ("x**1.5*y", "root"),
        ("sqrt(x + y)", "function"),
        ("x**y", "function"),
        ("y*exp(-x)", "function"),
        ("asin(x/(x + y))", "function"),
        ("3*x*y**2", "constant"),
    ],
)
def test_kind_rules(expression, kind):
    ranges = {"x": (1, 2), "y": (1, 2)}
    assert SuiteFormula("f", "test", expression, ranges, ranges).kind == kind


# -- the structure of roots and functions -------------------------------------------


@pytest.mark.parametrize(
    "name, found, same",
    [
        ("damped_oscillation", "0.98*A*exp(-1.01*b*t)*cos(0.999*t*w)", True),
        ("damped_oscillation", "A*exp(-b*t)*sin(w*t)", False),
        ("damped_oscillation", "A*exp(-b*t)", False),
        ("damped_oscillation", "A*b*t*w", False),  # rational: said at once
        ("spring_mass_frequency", "1.001*k**0.5/m**0.5", True),
        ("spring_mass_frequency", "k/m", False),
        ("spring_mass_frequency", "(k/m)**0.51", False),
        ("kepler_orbital_period", "6.2*a**1.5/M**0.5", True),
        ("half_life_decay", "N0*exp(-0.693*t/th)", True),  # 0.5**(t/th) is an exp
        ("nernst_potential", "8.6e-5*T*(log(c1) - log(c2))/z", True),
        ("relativistic_mass", "m0*(1 - 0.99*v**2/9e16)**(-0.5)", True),
        ("relativistic_mass", "m0*(1 - v/3e8)**(-0.5)", False),
        ("log_sum", "log(x + 1)", False),
        ("lorentz_force", "q*v*B*sin(theta)/zoo", False),
    ],
)
def test_same_structure_for_roots_and_functions(name, found, same):
    f = check_formula(name)
    assert same_structure(f.parse(found), f.to_sympy(), _symbols(f)) is same


@pytest.mark.parametrize("formula", NEW_FORMULAS, ids=lambda f: f.name)
def test_every_new_formula_has_its_own_structure(formula):
    truth, symbols = formula.to_sympy(), _symbols(formula)
    assert same_structure(truth, truth, symbols)
    assert same_structure(sympy.Float(1.01) * truth, truth, symbols)
    assert not same_structure(truth + symbols[0] ** 13, truth, symbols)  # a term more


# -- the runner: noise, models that take no roots, the summary -----------------------


def test_noise_is_scaled_by_the_root_mean_square_of_the_target():
    # p0 + rho*9.81*h: a large mean and a small spread, where RMS and std differ.
    formula = check_formula("hydrostatic_pressure")
    clean = _formula_suite._draw_rows(formula, 0, 0.0, 4000, 10)[1]
    noisy = _formula_suite._draw_rows(formula, 0, 0.01, 4000, 10)[1]
    residual = noisy - clean
    assert 0.009 < residual.std() / np.sqrt(np.mean(clean**2)) < 0.011
    assert residual.std() / clean.std() > 0.02


class _Constant(RegressorMixin, BaseEstimator):
    """Predicts 1 and reads back the formula ``1``: cheap, never exact."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y):
        self.formula_ = "1"
        return self

    def predict(self, X):
        return np.ones(len(X))


def test_models_that_take_no_roots_are_not_asked_for_roots(monkeypatch):
    assert ROOTLESS_MODELS == ("nmu_auto",)
    monkeypatch.setitem(FORMULA_MODELS, "nmu_auto", lambda random_state, params=None: _Constant())
    root = check_formula("spring_mass_frequency")
    assert root.needs_roots and not root.is_for("nmu_auto") and root.is_for("nalu_auto")
    assert check_formula("momentum").is_for("nmu_auto")
    results = run_formulas(
        ["momentum", "spring_mass_frequency", "lorentz_force"],
        ["nmu_auto", "linear"],
        seeds=[0, 1],
        n_train=50,
        n_test=20,
    )
    pairs = Counter(zip(results["formula"], results["model"], strict=True))
    assert pairs == {
        ("momentum", "nmu_auto"): 2,
        ("momentum", "linear"): 2,
        ("spring_mass_frequency", "linear"): 2,
        ("lorentz_force", "nmu_auto"): 2,
        ("lorentz_force", "linear"): 2,
    }
    assert set(results.loc[results["formula"] == "lorentz_force", "kind"]) == {"function"}
    assert not results["exact"].any() and results["error"].isna().all()
    table = summarize_formulas(results).set_index(["model", "group"])
    assert table.loc[("nmu_auto", "all"), "formulas"] == 2
    assert table.loc[("linear", "all"), "formulas"] == 3


def test_summary_reports_the_fit_time_of_fits_that_are_not_exact():
    results = pd.DataFrame(
        {
            "formula": ["f", "f", "g", "g"],
            "kind": ["root", "root", "function", "function"],
            "model": "m",
            "seed": [0, 1, 0, 1],
            "exact": [True, True, False, False],
            "structure": [True, True, False, False],
            "error": [None, None, None, "RuntimeError: no"],
            "fit_time": [0.1, 0.3, 5.0, 9.0],
            "extrapolation_error": [0, 0, 0.5, 0.7],
        }
    )
    table = summarize_formulas(results)
    assert list(table.columns) == SUMMARY_COLUMNS
    assert table["group"].tolist() == ["all", "root", "function"]  # in the order of KINDS
    whole, root, function = (table.iloc[i] for i in range(3))
    assert (whole["fit_time_median"], whole["fit_time_max"]) == (2.65, 9.0)
    assert whole["failed_fit_time_median"] == 7.0 and function["failed_fit_time_median"] == 7.0
    assert np.isnan(root["failed_fit_time_median"]) and root["fit_time_max"] == 0.3


# -- the command line ---------------------------------------------------------------


@pytest.mark.parametrize("collection", ["textbook", "algebraic", "functions", "all", None])
def test_cli_collection_picks_the_formulas(collection, monkeypatch, tmp_path):
    asked = []

    def fake_run_formulas(formulas, **kwargs):
        asked.extend(f.name if isinstance(f, SuiteFormula) else f for f in formulas)
        return pd.DataFrame(columns=_formula_suite.FORMULAS_COLUMNS)

    monkeypatch.setattr("sknalu.cli._benchmark.run_formulas", fake_run_formulas)
    option = [] if collection is None else ["--collection", collection]
    argv = ["benchmark", "--suite", "formulas", "--models", "linear", *option]
    assert main([*argv, "--output-dir", str(tmp_path)]) == 0
    assert asked == [f.name for f in formula_collection(collection or "textbook")]


def test_cli_runs_formulas_of_any_collection_by_name(tmp_path):
    status = main(
        ["benchmark", "--suite", "formulas", "--formulas", "lorentz_force", "spring_mass_frequency",
         "--models", "linear", "--seeds", "1", "--n-train", "40", "--n-test", "20",
         "--output-dir", str(tmp_path)]
    )  # fmt: skip
    assert status == 0
    results = pd.read_csv(tmp_path / "formulas.csv")
    assert results["kind"].tolist() == ["function", "root"]
    text = (tmp_path / "formulas.txt").read_text(encoding="utf-8")
    assert "failed_fit_time_median" in text and "fit_time_max" in text


def test_cli_rejects_an_unknown_collection(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["benchmark", "--suite", "formulas", "--collection", "extra"])
    assert exc.value.code == 2
    assert "invalid choice: 'extra'" in capsys.readouterr().err
