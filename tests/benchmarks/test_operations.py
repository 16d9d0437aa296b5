"""All of arithmetic, exact: +, −, ×, ÷, squares and square roots.

The claims of the user guide's "Which units for which operation" page and of
docs/benchmarks.md: ``NALURegressor()`` at its defaults learns each of the six
operations of two inputs exactly; ``NMURegressor(units=("nau", "nmru"))`` learns
division exactly and stays finite where an input is zero; the NAC+ reads a sum
back as a sum. The fast tests check fixed seeds; ``pytest -m slow`` checks the
statistics over 10 or 20 seeds.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import sympy
import torch
from conftest import slow_seeds

from sknalu import NALURegressor, NMURegressor
from sknalu.benchmarks import run_operations
from sknalu.units import NAU, NMRU, NMU, RealNPU, powers_of_sums

OPS = ("add", "sub", "mul", "div", "square", "sqrt")


def _assert_exact(results):
    bad = results[~results.exact]
    assert bad.empty, bad[["op", "model", "seed", "test_rel_error", "formula"]].to_string()


@pytest.mark.parametrize("op", OPS)
def test_nalu_regressor_learns_each_operation_exactly_at_its_defaults(op):
    results = run_operations([op], ["npu"], seeds=[0, 1])
    _assert_exact(results)
    assert (results.test_rel_error < 1e-9).all()


@pytest.mark.slow
def test_nalu_regressor_defaults_on_ten_seeds_of_each_operation():
    seeds = slow_seeds(10)
    results = run_operations(OPS, ["npu"], seeds=seeds, n_jobs=2)
    assert results.exact.mean() >= 0.95, results.to_string()
    assert len(results) == seeds * len(OPS)


def test_nmru_learns_division_exactly():
    _assert_exact(run_operations(["div"], ["nmru"], seeds=[0, 1, 2]))


@pytest.mark.slow
def test_nmru_learns_division_on_twenty_seeds():
    results = run_operations(["div"], ["nmru"], seeds=slow_seeds(20), n_jobs=2)
    assert results.exact.mean() >= 0.95, results.to_string()


def _with_zeros(seed):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(2000, 2))
    X[rng.rand(2000) < 0.05, 0] = 0.0
    X[rng.rand(2000) < 0.02, 1] = 0.0
    return pd.DataFrame(X, columns=["a", "b"])


DIVIDERS = {
    "nau-nmru": lambda seed: NMURegressor(units=("nau", "nmru"), random_state=seed),
    "nalu-defaults": lambda seed: NALURegressor(random_state=seed),
}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("model", DIVIDERS)
def test_division_never_predicts_nan_or_inf_where_the_quotient_is_finite(model, seed):
    X = _with_zeros(seed)
    train = X[X.b != 0]
    est = DIVIDERS[model](seed).fit(train, train.a / train.b)
    assert est.formula_ == "a/b" and est.formula_exact_
    test = _with_zeros(seed + 100) * 3
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        truth = (test.a / test.b).to_numpy()
        predicted = est.predict(test)
    finite = np.isfinite(truth)
    assert (~finite).any() and (test.a == 0).any()  # the rows at stake are there
    assert np.isfinite(predicted[finite]).all()
    np.testing.assert_allclose(predicted[finite], truth[finite], rtol=1e-12, atol=0)


def test_nmru_leaves_out_an_infinite_reciprocal_whose_weight_is_zero():
    unit = NMRU(2, 1).eval()
    with torch.no_grad():
        unit.W.copy_(torch.tensor([[1.0, 0.0, 0.0, 1.0]]))  # a / b
    out = unit(torch.tensor([[0.0, 2.0], [3.0, 0.0], [0.0, -4.0]]))
    assert out[0].item() == 0.0 and out[2].item() == 0.0  # 0 / b, not NaN
    assert torch.isinf(out[1]).all()  # a / 0 is infinite, as the formula says


def test_nmru_training_and_prediction_agree_away_from_zero():
    unit = NMRU(2, 1, n_copies=3)
    x = torch.tensor([[1e-3, -2.0], [5.0, 0.25]], dtype=torch.float32)
    torch.testing.assert_close(unit.train()(x), unit.eval()(x), rtol=0, atol=0)


def test_real_npu_is_exact_and_finite_at_zero():
    unit = RealNPU(3, 1).double().eval()
    with torch.no_grad():
        unit.W.copy_(torch.tensor([[2.0, 0.0, 0.5]]))
        unit.g.fill_(1.0)
    x = torch.tensor([[0.0, 0.0, 4.0], [3.0, 0.0, 0.0], [-3.0, 5.0, 9.0]], dtype=torch.float64)
    assert unit(x).flatten().tolist() == pytest.approx([0.0, 0.0, 27.0], abs=1e-12)
    assert torch.isfinite(unit(x)).all()


def test_nac_reads_a_sum_back_as_a_sum():
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.uniform(1, 2, size=(1000, 2)), columns=["p", "q"])
    est = NALURegressor(units="nac", random_state=0).fit(X, X.p + X.q)
    assert est.formula_ == "p + q" and est.formula_exact_


@pytest.mark.parametrize(
    ("formula", "expected_powers"),
    [("(x0 + x2) ** 2", [2.0]), ("sqrt(x1 - x0 + 3)", None), ("(x0 + x1) / x2", [1.0, -1.0])],
)
def test_powers_and_ratios_of_sums_are_solved_in_closed_form(formula, expected_powers):
    rng = np.random.RandomState(0)
    X = torch.tensor(rng.uniform(1, 2, size=(200, 3)))
    x0, x1, x2 = X.T
    y = eval(formula, {"sqrt": torch.sqrt}, {"x0": x0, "x1": x1, "x2": x2}).unsqueeze(1)
    candidates = list(powers_of_sums(X, y, [1.0, 2.0, 0.5], ratio=True, tolerance=0.1))
    fits = [
        (rows, powers)
        for rows, powers in candidates
        if torch.allclose(((X @ rows.T) ** powers).prod(1, keepdim=True), y, rtol=1e-12)
    ]
    if expected_powers is None:  # the constant 3 is no sum of inputs: nothing fits
        assert fits == []
    else:
        assert [p.tolist() for _, p in fits] == [expected_powers]


def test_formula_of_a_square_root_reads_as_sympy_sqrt():
    rng = np.random.RandomState(3)
    X = pd.DataFrame(rng.uniform(1, 2, size=(1000, 2)), columns=["a", "b"])
    est = NALURegressor(random_state=3).fit(X, np.sqrt(X.a + X.b))
    a, b = sympy.symbols("a b")
    assert est.to_sympy() == sympy.sqrt(a + b)


def test_a_hidden_unit_that_computes_zero_and_is_left_out_reads_as_nothing():
    # NAU → NMRU learning a sum: the unused hidden unit computes 0 and its
    # reciprocal, weighted 0, is infinite; the formula leaves it out.
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.uniform(1, 2, size=(1000, 2)), columns=["a", "b"])
    est = NMURegressor(units=("nau", "nmru"), random_state=0).fit(X, X.a + X.b)
    assert est.formula_ == "a + b" and est.formula_exact_


@pytest.mark.parametrize(("op", "formula"), [("div", "a/b"), ("sqrt", "sqrt(a)")])
def test_noisy_targets_keep_the_structure_and_say_they_are_not_exact(op, formula):
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.uniform(1, 2, size=(2000, 2)), columns=["a", "b"])
    y = X.a / X.b if op == "div" else np.sqrt(X.a)
    y = y + 0.01 * y.std() * rng.standard_normal(len(y))  # 1% of the target's spread
    est = NALURegressor(random_state=0).fit(X, y)
    assert est.formula_ == f"≈ {formula}" and not est.formula_exact_
    assert 1 - 1e-3 < est.validation_score_ < 1 - 1e-9


def test_the_symmetric_start_of_a_product_of_two_sums():
    rng = np.random.RandomState(0)
    X = torch.tensor(rng.uniform(1, 2, size=(300, 4)))
    y = (X[:, :2].sum(1) * X[:, 2:].sum(1)).unsqueeze(1)
    first, nmu = NAU(4, 2, n_copies=1).double(), NMU(2, 1, n_copies=1).double()
    assert nmu.refit_with_linear_(first, X, y, start=True) > 0
    row = torch.linalg.lstsq(X, y.sqrt()).solution.T
    w = first.weight.detach()[0]
    torch.testing.assert_close(w[0], w[1])  # both hidden units hold the same sum
    torch.testing.assert_close(w[0], row[0], atol=1e-9, rtol=0)
    assert nmu.weight.detach().flatten().tolist() == [1.0, 1.0]
    # The Real NPU expresses a square directly: no symmetric point to start from.
    assert RealNPU(2, 1, n_copies=1).double().refit_with_linear_(first, X, y, start=True) == 0
