"""The headline claims of the README and docs/benchmarks.md, checked.

On the 100-input task of Madsen & Johansen (2020), trained on U[1, 2] and tested
on U[2, 6], with the estimators' defaults: ``NMURegressor()`` solves × and
``NMURegressor(units=("nau", "nau"))`` solves + and − on 20 of 20 seeds, exactly
(sparsity error 0, test error below 3e-24). The fast tests check a few fixed seeds
(about 40 s in all on two CPU cores); ``pytest -m slow`` checks all 20 of each.
"""

import pytest

from sknalu import NMURegressor
from sknalu.benchmarks import (
    DEFAULT_RANGE,
    RangePair,
    make_model,
    run_benchmark,
    run_one,
    success_threshold,
)

#: Largest test error of an exact network: float rounding (docs/benchmarks.md).
EXACT_TEST_MSE = 3e-24
#: The claims: the benchmark's model key, its operations, and the estimator it is.
CLAIMS = {
    "nmu": (("mul",), NMURegressor()),
    "nau": (("add", "sub"), NMURegressor(units=("nau", "nau"))),
}


def _assert_solved_exactly(row):
    assert row["success"], row
    assert row["sparsity_error"] == 0.0, row
    assert row["test_mse"] < EXACT_TEST_MSE, row


@pytest.mark.parametrize("model", CLAIMS)
def test_the_benchmark_models_are_the_estimators_of_the_claims(model):
    _, estimator = CLAIMS[model]
    # The benchmark sets only the seed (and its own monitor and held-out rows).
    assert make_model(model, None, random_state=0).get_params() == (
        estimator.set_params(random_state=0).get_params()
    )


@pytest.mark.parametrize(
    ("op", "model", "seed"),
    [("mul", "nmu", 0), ("mul", "nmu", 1), ("add", "nau", 0), ("sub", "nau", 1)],
)
def test_a_few_seeds_are_solved_exactly(op, model, seed):
    # The threshold and every size as `sknalu benchmark` runs them.
    threshold = success_threshold(op, RangePair.parse(DEFAULT_RANGE).test)
    row = run_one(op, model, DEFAULT_RANGE, seed, threshold=threshold)
    _assert_solved_exactly(row)


@pytest.mark.slow
@pytest.mark.parametrize("model", CLAIMS)
def test_twenty_of_twenty_seeds_are_solved_exactly(model):
    ops, _ = CLAIMS[model]
    results = run_benchmark(ops, [model], seeds=20, n_jobs=2)
    assert len(results) == 20 * len(ops)
    for _, row in results.iterrows():
        _assert_solved_exactly(row)
