"""The headline claims of the README and docs/benchmarks.md, checked.

On the 100-input task of Madsen & Johansen (2020), trained on U[1, 2] and tested
on U[2, 6], with the estimators' defaults: ``NMURegressor()`` solves × and a²,
``NMURegressor(units=("nau", "nau"))`` and ``NALURegressor(units="nac")`` solve +
and −, ``NMURegressor(units=("nau", "nmru"))`` solves ÷, and ``NALURegressor()``
solves ÷, a² and √a, each on 20 of 20 seeds, exactly (every weight on its discrete
values, test error at float rounding). These are full-size benchmark fits, so all
are marked slow: ``pytest -m slow`` checks a few fixed seeds and all 20 of each
(CI fewer, see ``slow_seeds`` in conftest.py).
"""

import pytest
from conftest import slow_seeds

from sknalu import NALURegressor, NMURegressor
from sknalu.benchmarks import (
    DEFAULT_RANGE,
    RANGES,
    ArithmeticTask,
    RangePair,
    make_model,
    run_benchmark,
    run_one,
    success_threshold,
)

#: Largest test error of an exact network, relative to the mean squared test
#: target: float rounding (docs/benchmarks.md).
EXACT_RELATIVE_MSE = 1e-26
#: The claims: the benchmark's model key, its operations, and the estimator it is.
CLAIMS = {
    "nmu": (("mul", "square"), NMURegressor()),
    "nau": (("add", "sub"), NMURegressor(units=("nau", "nau"))),
    "nac": (("add", "sub"), NALURegressor(units="nac")),
    "nmru": (("div",), NMURegressor(units=("nau", "nmru"))),
    "npu": (("div", "square", "sqrt"), NALURegressor()),
}


def _mean_squared_target(op):
    task = ArithmeticTask(op)
    _, y = task.sample(10_000, RangePair.parse(DEFAULT_RANGE).test, random_state=0)
    return float((y**2).mean())


def _assert_solved_exactly(row):
    assert row["success"], row
    assert row["sparsity_error"] == 0.0, row
    assert row["test_mse"] < EXACT_RELATIVE_MSE * _mean_squared_target(row["op"]), row


@pytest.mark.parametrize("model", CLAIMS)
def test_the_benchmark_models_are_the_estimators_of_the_claims(model):
    _, estimator = CLAIMS[model]
    # The benchmark sets only the seed (and its own monitor and held-out rows).
    assert make_model(model, None, random_state=0).get_params() == (
        estimator.set_params(random_state=0).get_params()
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("op", "model", "seed"),
    [
        ("mul", "nmu", 0),
        ("mul", "nmu", 1),
        ("add", "nau", 0),
        ("sub", "nau", 1),
        ("add", "nac", 2),
        ("sub", "nac", 3),
        ("div", "nmru", 4),
        ("square", "nmu", 5),
        ("div", "npu", 6),
        ("square", "npu", 7),
        ("sqrt", "npu", 8),
    ],
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
    seeds = slow_seeds(20)
    results = run_benchmark(ops, [model], seeds=seeds, n_jobs=2)
    assert len(results) == seeds * len(ops)
    for _, row in results.iterrows():
        _assert_solved_exactly(row)


@pytest.mark.slow
def test_the_product_is_solved_on_a_narrow_range():
    # U[1.1, 1.2] is badly conditioned: gradient descent alone does not reach the
    # saddle in 10,000 steps; the closed-form symmetric start does at once.
    pair = "U[1.1,1.2]->U[1.2,6]"
    threshold = success_threshold("mul", RangePair.parse(pair).test)
    row = run_one("mul", "nmu", pair, 0, threshold=threshold)
    assert row["success"] and row["sparsity_error"] == 0.0, row


@pytest.mark.slow
def test_the_product_is_solved_on_the_nine_ranges():
    seeds = slow_seeds(10)
    results = run_benchmark(["mul"], ["nmu"], ranges=list(RANGES), seeds=seeds, n_jobs=2)
    rates = results.groupby("range").success.mean()
    assert (rates >= 0.95).all(), rates
