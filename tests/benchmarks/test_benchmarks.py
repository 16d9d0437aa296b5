"""The arithmetic benchmark: task, threshold, metrics, runner, dask, command line."""

import ast
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from sknalu import ArithmeticNetwork, NMURegressor
from sknalu.benchmarks import (
    MODELS,
    OPS,
    PAPER_MODELS,
    PUBLISHED_THRESHOLDS,
    RANGES,
    RESULT_COLUMNS,
    ArithmeticTask,
    ExtrapolationMonitor,
    RangePair,
    ValueRange,
    exact_first_layer,
    first_solved_step,
    make_model,
    route_params,
    run_benchmark,
    run_one,
    sparsity_error,
    success_threshold,
    summarize,
    to_markdown,
    wilson_interval,
)
from sknalu.benchmarks._report import _success
from sknalu.cli import main

#: A configuration small enough to fit in a second or two per seed.
TINY = dict(n_train=300, n_valid=150, n_test=200, threshold_samples=10_000)
TINY_PARAMS = {"max_steps": 1000, "n_restarts": 2}


# -- the task -----------------------------------------------------------------------


def test_subsets_have_the_papers_sizes_and_overlap():
    task = ArithmeticTask("add", offset=7)
    a = set(range(100)[task.a_slice])
    b = set(range(100)[task.b_slice])
    assert (len(a), len(b), len(a & b)) == (25, 25, 12)
    assert (min(a), min(b), max(b)) == (7, 20, 44)
    # The largest offset puts the end of b on the last input.
    last = ArithmeticTask("add", offset=62)
    assert last.b_slice.stop == 100


@pytest.mark.parametrize(
    "op, expected",
    [
        ("add", lambda a, b: a + b),
        ("sub", lambda a, b: a - b),
        ("mul", lambda a, b: a * b),
        ("div", lambda a, b: a / b),
        ("square", lambda a, b: a**2),
        ("sqrt", lambda a, b: np.sqrt(a)),
    ],
)
def test_target_is_the_operation_of_the_two_subset_sums(op, expected):
    task = ArithmeticTask(op, offset=30)
    X, y = task.sample(50, "U[1,2]", random_state=0)
    a, b = X[:, 30:55].sum(axis=1), X[:, 43:68].sum(axis=1)
    np.testing.assert_allclose(y, expected(a, b))
    assert X.min() >= 1 and X.max() <= 2


def test_op_symbols_are_accepted():
    assert ArithmeticTask("*").op == "mul"
    assert ArithmeticTask("÷").op == "div"
    with pytest.raises(ValueError, match="unknown operation 'pow'"):
        ArithmeticTask("pow")


def test_offsets_are_drawn_uniformly_from_all_valid_positions():
    offsets = [ArithmeticTask.draw("mul", seed).offset for seed in range(3000)]
    counts = np.bincount(offsets)
    assert len(counts) == 63 and counts.min() > 20  # 0 .. 62, each about 48 times
    # The published thresholds' configuration has one position less.
    offsets = {ArithmeticTask.draw("mul", s, subset_size=26, overlap=13).offset for s in range(500)}
    assert offsets == set(range(62))
    assert ArithmeticTask.draw("mul", 5) == ArithmeticTask.draw("mul", 5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(overlap=26), "cannot exceed subset_size"),
        (dict(subset_size=60), "more than input_size=100"),
        (dict(offset=63), "offset must be at most 62"),
        (dict(subset_size=0), r"'subset_size' parameter of ArithmeticTask must be an int in"),
    ],
)
def test_bad_task_sizes_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ArithmeticTask("add", **kwargs)


def test_the_nine_ranges():
    assert len(RANGES) == 9
    assert "U[1,2]->U[2,6]" in RANGES
    mixed = RANGES["U[-2,2]->U[-6,-2]∪U[2,6]"]
    assert mixed.train == ValueRange(((-2, 2),))
    assert mixed.test == ValueRange(((-6, -2), (2, 6)))
    assert RangePair.parse("u[1, 2] -> U[2,6]") == RANGES["U[1,2]->U[2,6]"]
    assert ValueRange.parse("U[2,6]|U[-6,-2]") == mixed.test


def test_union_ranges_are_sampled_uniformly_over_their_length():
    values = ValueRange.parse("U[0,1]∪U[2,5]").sample(40_000, random_state=0)
    in_first, in_second = (values <= 1), (values >= 2) & (values <= 5)
    assert np.all(in_first | in_second)  # nothing in the gap
    assert in_first.mean() == pytest.approx(0.25, abs=0.01)  # length 1 of 4
    assert np.mean(values[in_second] < 3.5) == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize(
    "text, message",
    [
        ("U[2,1]", "low < high"),
        ("N[0,1]", "cannot read the value range"),
        ("U[0,2]∪U[1,3]", "must not overlap"),
    ],
)
def test_bad_ranges_raise(text, message):
    with pytest.raises(ValueError, match=message):
        ValueRange.parse(text)


def test_sqrt_refuses_negative_ranges():
    with pytest.raises(ValueError, match="'sqrt' needs a range without negative values"):
        ArithmeticTask("sqrt").sample(10, "U[-2,-1]")
    with pytest.raises(ValueError, match="'sqrt' needs ranges without negative values"):
        run_benchmark(["sqrt"], ["nmu"], ["U[-2,-1]->U[-6,-2]"], seeds=1, **TINY)


# -- the threshold ------------------------------------------------------------------


def test_threshold_matches_the_published_numbers_with_their_subset_sizes():
    # Their script summed 26 inputs overlapping by 13; with that, the Monte-Carlo
    # estimate must reproduce every published threshold.
    for op, published in PUBLISHED_THRESHOLDS.items():
        ours = success_threshold(op, "U[2,6]", subset_size=26, overlap=13, n_samples=200_000)
        assert ours == pytest.approx(published, rel=0.05), op
    # The intended sizes (25 overlapping by 12) give a different, larger + threshold.
    assert (
        success_threshold("add", "U[2,6]", n_samples=200_000) > 1.05 * PUBLISHED_THRESHOLDS["add"]
    )


def test_exact_network_has_zero_error_and_threshold_grows_with_epsilon_squared():
    for op in OPS:
        assert success_threshold(op, "U[2,6]", epsilon=0.0, n_samples=1000) == 0.0
    small = success_threshold("add", "U[2,6]", epsilon=1e-5, n_samples=20_000)
    large = success_threshold("add", "U[2,6]", epsilon=2e-5, n_samples=20_000)
    assert large / small == pytest.approx(4.0, rel=1e-6)


def test_exact_first_layer_selects_the_subsets():
    task = ArithmeticTask("mul", offset=3)
    W = exact_first_layer(task)
    assert W.shape == (2, 100)
    np.testing.assert_array_equal(np.flatnonzero(W[0]), np.arange(3, 28))
    np.testing.assert_array_equal(np.flatnonzero(W[1]), np.arange(16, 41))
    # The exact network reproduces the task's targets.
    X, y = task.sample(100, "U[2,6]", random_state=1)
    h = X @ W.T
    np.testing.assert_allclose(h[:, 0] * h[:, 1], y)


def test_threshold_is_cached_and_seeded():
    from sknalu.benchmarks._threshold import _thresholds

    first = success_threshold("mul", "U[20,40]", n_samples=5000, random_state=3)
    hits = _thresholds.cache_info().hits
    assert (
        success_threshold("×", ValueRange.parse("U[20,40]"), n_samples=5000, random_state=3)
        == first
    )
    assert _thresholds.cache_info().hits == hits + 1
    assert success_threshold("mul", "U[20,40]", n_samples=5000, random_state=4) != first
    assert math.isnan(success_threshold("sqrt", "U[-6,-2]", n_samples=1000))


# -- metrics ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "k, n, low, high",
    [
        # Textbook values of the Wilson interval (z = 1.96), worked out by hand.
        (98, 100, 0.9300, 0.9945),
        (100, 100, 0.9630, 1.0),
        (0, 10, 0.0, 0.2775),
        (5, 10, 0.2366, 0.7634),
        (31, 100, 0.2278, 0.4063),
    ],
)
def test_wilson_interval_known_values(k, n, low, high):
    assert wilson_interval(k, n) == pytest.approx((low, high), abs=1e-4)


def test_success_cells_reproduce_the_papers_notation():
    assert _success(0.98, *wilson_interval(98, 100)) == "98% (+1/-5)"
    assert _success(1.0, *wilson_interval(100, 100)) == "100% (+0/-4)"
    assert _success(0.31, *wilson_interval(31, 100)) == "31% (+10/-8)"


def test_wilson_interval_rejects_impossible_counts():
    with pytest.raises(ValueError, match="n_success <= n_trials"):
        wilson_interval(3, 2)
    with pytest.raises(ValueError, match="n_trials >= 1"):
        wilson_interval(0, 0)


def test_sparsity_error_hand_made():
    weights = [np.array([[1.0, -1.0, 0.0, 0.999]]), torch.tensor([[0.3, 1.0]])]
    assert sparsity_error(weights) == pytest.approx(0.3)
    assert sparsity_error([np.array([[-0.6]])]) == pytest.approx(0.4)
    assert math.isnan(sparsity_error([np.array([[np.nan, 1.0]])]))
    net = ArithmeticNetwork(5, 1, units=("nau", "nmu"), n_copies=1, seed=0)
    expected = float(net.sparsity_error().detach()[0])
    assert sparsity_error(layer.weight for layer in net.layers) == pytest.approx(expected)


def test_first_solved_step_hand_made():
    assert first_solved_step([500, 1000, 1500], [1.0, 1e-3, 1e-6], threshold=1e-2) == 1000
    assert math.isnan(first_solved_step([500, 1000], [1.0, np.nan], threshold=1e-2))


def test_monitor_follows_the_copy_that_is_best_on_validation():
    # Hand-made history of two copies: copy 1 leads on validation at first, copy 0
    # from the second evaluation on; only copy 1 is ever below the threshold.
    monitor = ExtrapolationMonitor(None, None).initialize()
    monitor.steps_ = [500, 1000, 1500]
    monitor.valid_mse_ = [np.array([2.0, 1.0]), np.array([0.5, 0.6]), np.array([np.nan, 0.1])]
    monitor.test_mse_ = [np.array([9.0, 8.0]), np.array([7.0, 0.01]), np.array([np.nan, 0.02])]
    np.testing.assert_array_equal(monitor.selected_test_mse(), [8.0, 7.0, 0.02])
    # At step 1000 copy 1 is below, but copy 0 is the one selected; NaN is never best.
    assert monitor.solved_at(threshold=0.05) == 1500


def test_monitor_agrees_with_the_estimators_model_selection():
    rng = np.random.RandomState(0)
    X, X_test = rng.uniform(1, 2, (600, 2)), rng.uniform(2, 6, (300, 2))
    y, y_test = X.prod(axis=1), X_test.prod(axis=1)
    monitor = ExtrapolationMonitor(X_test, y_test)
    # Without the snap, which would solve x * y and end training at step 500.
    est = NMURegressor(
        n_restarts=3, max_steps=1500, snap=False, random_state=0, callbacks=[monitor]
    )
    est.fit(X, y)
    assert monitor.steps_ == [500, 1000, 1500]
    assert all(v.shape == (3,) for v in monitor.valid_mse_ + monitor.test_mse_)
    epoch = monitor.steps_.index(est.best_step_)
    valid = np.array(monitor.valid_mse_)
    assert valid.min() == pytest.approx(est.validation_loss_)
    assert np.argmin(valid[epoch]) == est.best_restart_
    kept_test_mse = np.mean((est.predict(X_test) - y_test) ** 2)
    assert monitor.selected_test_mse()[epoch] == pytest.approx(kept_test_mse)


# -- models and parameters ------------------------------------------------------------


def test_models_are_the_papers():
    assert make_model("nmu").get_params()["units"] == ("nau", "nmu")
    assert make_model("NAU").get_params()["units"] == ("nau", "nau")
    assert make_model("NAC•").get_params()["units"] == ("nac", "nac_mul")
    assert make_model("linear").get_params()["regularizer_strength"] == 0
    assert set(PAPER_MODELS) == set(OPS)
    assert all(m in MODELS for ms in PAPER_MODELS.values() for m in ms)


def test_params_are_routed_to_the_models_that_have_them():
    routed = route_params(
        {"max_steps": 10, "nmu.lr": 0.1, "hidden_layer_sizes": (8,)}, ["nmu", "nau", "mlp"]
    )
    assert routed == {
        "nmu": {"max_steps": 10, "lr": 0.1},
        "nau": {"max_steps": 10},
        "mlp": {"hidden_layer_sizes": (8,)},
    }
    with pytest.raises(ValueError, match="no parameter 'max_step'"):
        route_params({"max_step": 10}, ["nmu"])
    with pytest.raises(ValueError, match="'random_state' cannot be set"):
        route_params({"random_state": 1}, ["nmu"])
    with pytest.raises(ValueError, match="not run"):
        route_params({"nalu.lr": 1}, ["nmu"])


# -- the runner ---------------------------------------------------------------------


def test_run_one_success_and_solved_at_follow_the_threshold():
    kwargs = dict(params=TINY_PARAMS, n_train=300, n_valid=150, n_test=200)
    easy = run_one("add", "nau", "U[1,2]->U[2,6]", 0, threshold=1e12, **kwargs)
    assert easy["success"] and easy["solved_at"] == 500
    assert easy["solved_at"] <= easy["selected_step"] <= easy["n_steps"] <= 1000
    impossible = run_one("add", "nau", "U[1,2]->U[2,6]", 0, threshold=0.0, **kwargs)
    assert not impossible["success"] and math.isnan(impossible["solved_at"])
    # The seed fixes task, data and initialisation.
    assert impossible["test_mse"] == easy["test_mse"]
    assert 0 <= easy["sparsity_error"] <= 0.5


def test_run_one_mlp_is_measured_in_its_final_state():
    row = run_one(
        "mul", "mlp", "U[1,2]->U[2,6]", 0, threshold=1e12,
        params={"max_iter": 3, "hidden_layer_sizes": (4,)}, n_train=400, n_valid=100, n_test=100,
    )  # fmt: skip
    assert row["n_steps"] == row["selected_step"] == row["solved_at"] == 3 * 2  # 400 rows / 200
    assert math.isnan(row["sparsity_error"]) and row["success"]


@pytest.mark.slow
def test_run_benchmark_with_joblib_processes():
    params = {"max_steps": 500, "n_restarts": 2}
    models = {"add": ["nau"], "mul": ["nmu"]}
    results = run_benchmark(["add", "mul"], models, seeds=[3, 4], params=params, n_jobs=2, **TINY)
    assert list(results.columns) == RESULT_COLUMNS
    assert len(results) == 2 * 2
    assert set(results["seed"]) == {3, 4}
    assert (results["n_steps"] == 500).all() and (results["n_restarts"] == 2).all()
    # Same seed, same task: every op and model sees the same subsets.
    assert results.groupby("seed")["offset"].nunique().eq(1).all()
    # Thresholds are per op: × has a far larger one than +.
    thresholds = results.groupby("op")["threshold"].first()
    assert thresholds["mul"] > 1e3 * thresholds["add"]
    # A worker process computes exactly what this process computes.
    row = results.query("op == 'mul' and seed == 4").iloc[0]
    here = run_one("mul", "nmu", "U[1,2]->U[2,6]", 4, threshold=row["threshold"],
                   params=params, n_train=300, n_valid=150, n_test=200)  # fmt: skip
    assert here["test_mse"] == row["test_mse"]
    assert results.attrs["config"]["models"]["nmu"]["max_steps"] == 500


def test_run_benchmark_uses_the_papers_models_by_default():
    results = run_benchmark(["mul"], seeds=1, params={"max_steps": 500}, **TINY)
    assert list(results["model"]) == ["nmu", "nac_mul", "nalu"]


def test_run_benchmark_on_the_mixed_sign_range():
    results = run_benchmark(
        ["mul"], ["nmu"], ["U[-2,2]->U[-6,-2]|U[2,6]"], seeds=1, params=TINY_PARAMS, **TINY
    )
    assert results["range"].tolist() == ["U[-2,2]->U[-6,-2]∪U[2,6]"]
    assert summarize(results)["paper_success"].tolist() == ["~78%"]
    # The threshold is that of the union, not of either half.
    union = success_threshold("mul", "U[-6,-2]∪U[2,6]", n_samples=10_000)
    assert (
        results["threshold"].iloc[0]
        == union
        != success_threshold("mul", "U[2,6]", n_samples=10_000)
    )


def test_run_benchmark_rejects_a_model_mapping_without_an_op():
    with pytest.raises(ValueError, match="no model for the operation 'sub'"):
        run_benchmark(["add", "sub"], {"add": ["nau"]}, seeds=1, **TINY)


@pytest.mark.slow
def test_run_benchmark_on_a_dask_cluster():
    distributed = pytest.importorskip("distributed")
    kwargs = dict(seeds=2, params=TINY_PARAMS, **TINY)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        on_dask = run_benchmark(["sub"], ["nau"], scheduler=cluster.scheduler_address, **kwargs)
    local = run_benchmark(["sub"], ["nau"], **kwargs)
    assert len(on_dask) == 2
    pd.testing.assert_series_equal(on_dask["test_mse"], local["test_mse"])


def test_summary_and_markdown():
    results = pd.DataFrame(
        {
            "op": "mul",
            "model": "nmu",
            "range": "U[1,2]->U[2,6]",
            "seed": range(4),
            "threshold": 0.16,
            "success": [True, True, True, False],
            "solved_at": [1000.0, 3000.0, 2000.0, np.nan],
            "sparsity_error": [1e-6, 3e-6, 2e-6, 0.4],
            "fit_time": 1.0,
            "n_steps": 5000,
            "n_restarts": 8,
        }
    )
    row = summarize(results).iloc[0]
    assert (row["seeds"], row["successes"], row["solved_at_median"]) == (4, 3, 2000.0)
    assert row["sparsity_error_mean"] == pytest.approx(2e-6)
    assert (row["success_low"], row["success_high"]) == wilson_interval(3, 4)
    markdown = to_markdown(summarize(results), {"n_train": 20000})
    line = next(line for line in markdown.splitlines() if line.startswith("| × | NMU"))
    assert "| 75% (+" in line and "| 98% (+1/-5) |" in line and "| 2.0e3 | 1.4e6 |" in line
    assert "- n_train: 20000" in markdown


# -- the command line -------------------------------------------------------------


def test_cli_quick_writes_csv_and_markdown(tmp_path, capsys):
    status = main(
        ["benchmark", "--quick", "--seeds", "1", "--param", "max_steps=500",
         "--n-train", "300", "--n-valid", "150", "--output-dir", str(tmp_path)]
    )  # fmt: skip
    assert status == 0
    results = pd.read_csv(tmp_path / "results.csv")
    assert list(results[["op", "model"]].itertuples(index=False, name=None)) == [
        ("add", "nau"),
        ("mul", "nmu"),
    ]
    assert (results["n_steps"] == 500).all()
    markdown = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "| + | NAU | U[1,2]->U[2,6] | 1 |" in markdown
    assert "100% (+0/-4)" in markdown  # the paper's NAU on +
    assert "- NAU: units=('nau', 'nau'), max_steps=500" in markdown
    out = capsys.readouterr().out
    assert "results.csv" in out and "| × | NMU |" in out


def test_cli_operations_suite_scores_the_formula_read_back(tmp_path, capsys):
    status = main(
        ["benchmark", "--suite", "operations", "--ops", "div", "sqrt", "--models", "npu",
         "nmu", "--seeds", "1", "--n-train", "500", "--param", "max_steps=1000",
         "--output-dir", str(tmp_path)]
    )  # fmt: skip
    assert status == 0
    results = pd.read_csv(tmp_path / "operations.csv").set_index(["op", "model"])
    assert results.loc[("div", "npu"), "formula"] == "a/b"
    assert results.loc[("div", "npu"), "exact"] and results.loc[("sqrt", "npu"), "exact"]
    assert not results.loc[("sqrt", "nmu"), "exact"]  # the NMU has no roots
    assert "operations.csv" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--ops", "pow"], "unknown operation 'pow'"),
        (["--models", "gru"], "unknown model 'gru'"),
        (["--seeds", "5-2"], "seeds must be a count N"),
        (["--param", "max_steps"], "NAME=VALUE"),
        (["--param", "nmu.max_step=3"], "no parameter 'max_step'"),
        (["--ranges", "U[1,2]"], "write it as TRAIN->TEST"),
        (["--n-valid", "5000"], "n_valid (5000) cannot exceed n_train (2000)"),
    ],
)
def test_cli_bad_arguments(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["benchmark", "--quick", "--output-dir", str(tmp_path), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_nau_solves_addition_end_to_end():
    # The NAU solves + on every seed at the estimator's defaults; a seed counts as
    # solved exactly when its test error is below the threshold.
    results = run_benchmark(["add"], ["nau"], seeds=5, params={"max_steps": 20_000}, n_jobs=2)
    solved, unsolved = results[results["success"]], results[~results["success"]]
    assert len(solved) >= 2, results
    assert (solved["test_mse"] < solved["threshold"]).all()
    assert (solved["solved_at"] <= solved["selected_step"]).all()
    assert (unsolved["test_mse"] >= unsolved["threshold"]).all()


def test_measure_speed_reports_every_way_of_training():
    from sknalu.benchmarks import measure_speed

    table = measure_speed(n_steps=30, restarts=(1, 4), repeats=1)
    assert table["method"].tolist() == [
        "hand-written torch loop",
        "skorch NeuralNetRegressor",
        "sknalu NMURegressor.fit",
        "sknalu NMURegressor.fit",
    ]
    assert table["n_restarts"].tolist() == [1, 1, 1, 4]
    assert (table["steps_per_s"] > 0).all()
    assert table["vs_hand_written"].iloc[0] == 1.0
    assert table["vs_one_restart"].iloc[2] == 1.0
    ratio = table["steps_per_s"].iloc[2] / table["steps_per_s"].iloc[0]
    assert table["vs_hand_written"].iloc[2] == pytest.approx(ratio)
    assert table["seed_steps_per_s"].iloc[3] == 4 * table["steps_per_s"].iloc[3]
    assert (table["escape_seconds"].iloc[2:] > 0).all()
    assert (table["escape_seconds"].iloc[2:] < table["fit_seconds"].iloc[2:]).all()


def test_speed_command_writes_its_table(tmp_path, capsys):
    from sknalu.cli import main

    argv = ["benchmark", "--speed", "--speed-steps", "20", "--speed-restarts", "1"]
    assert main([*argv, "--speed-repeats", "1", "--output-dir", str(tmp_path)]) == 0
    assert "hand-written torch loop" in capsys.readouterr().out
    assert (tmp_path / "speed.csv").exists()


# -- the public API only ------------------------------------------------------------


def _imported_names(path, package: str):
    """Every ``module`` and ``module.name`` a file imports, relative imports resolved."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.rsplit(".", node.level - 1)[0]
                module = f"{base}.{module}" if module else base
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def test_benchmarks_use_only_the_public_api_of_sknalu():
    # The benchmarks are sknalu's first user: what they need, users may need too.
    import sknalu.benchmarks

    private = []
    for path in sorted(Path(sknalu.benchmarks.__file__).parent.glob("*.py")):
        for name in _imported_names(path, "sknalu.benchmarks"):
            parts = name.split(".")
            inside = parts[:2] == ["sknalu", "benchmarks"]
            if parts[0] == "sknalu" and not inside and any(p.startswith("_") for p in parts):
                private.append(f"{path.name}: {name}")
    assert not private, private
