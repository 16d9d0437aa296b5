"""The plots: extrapolation picture, learning curve, weight heatmaps."""

import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression

from sknalu import NMURegressor
from sknalu.plotting import plot_extrapolation, plot_learning_curve, plot_weights

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the backend


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    columns = ["price", "qty", "noise"]
    X = pd.DataFrame(rng.uniform(1, 2, (200, 3)), columns=columns)
    X_far = pd.DataFrame(rng.uniform(2, 6, (100, 3)), columns=columns)
    est = NMURegressor(max_steps=2000, random_state=0).fit(X, X.price * X.qty)
    return est, X, X.price * X.qty, X_far, X_far.price * X_far.qty


def _saved(fig, path):
    fig.savefig(path)
    assert path.exists() and path.stat().st_size > 1000
    return path


def test_extrapolation_plot_draws_truth_model_and_baseline(fitted, tmp_path):
    est, X, y, X_far, y_far = fitted
    baseline = LinearRegression().fit(X, y)
    ax = plot_extrapolation(est, X, y, X_far, y_far, baseline=baseline)
    _saved(ax.figure, tmp_path / "extrapolation.png")
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["truth", "NMURegressor", "LinearRegression"]
    # One marker per training and test row, at the true value.
    truth = np.concatenate([y, y_far])
    np.testing.assert_array_equal(lines[1].get_xdata(), truth)
    np.testing.assert_allclose(lines[1].get_ydata(), truth, rtol=1e-9)
    assert ax.get_xlabel() == "true value" and ax.get_ylabel() == "prediction"
    assert [p.get_label() for p in ax.patches] == ["training range"]


def test_extrapolation_plot_draws_into_given_axes_without_baseline(fitted):
    est, X, y, X_far, y_far = fitted
    _, (left, right) = plt.subplots(1, 2)
    assert plot_extrapolation(est, X, y, X_far, y_far, ax=right) is right
    assert len(right.get_lines()) == 2 and not left.get_lines()


def test_extrapolation_plot_refuses_unfitted_models_and_several_outputs(fitted):
    est, X, y, X_far, y_far = fitted
    with pytest.raises(NotFittedError):
        plot_extrapolation(est, X, y, X_far, y_far, baseline=LinearRegression())
    with pytest.raises(ValueError, match="y_train must have one output"):
        plot_extrapolation(est, X, np.column_stack([y, y]), X_far, y_far)


def test_learning_curve_shows_losses_kept_step_and_schedule(fitted, tmp_path):
    est = fitted[0]
    ax = plot_learning_curve(est)
    _saved(ax.figure, tmp_path / "learning_curve.png")
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:3] == [
        "training loss (all restarts, with regulariser)",
        "held-out MSE (best restart per batch)",
        "held-out MSE of the best restart",
    ]
    assert labels[3] == f"weights kept (step {est.best_step_})"
    # One point per evaluation, up to the step at which the exact fit ended training.
    steps = est.history_[:, "n_steps"]
    assert steps[-1] == est.n_steps_ and steps == list(range(500, est.n_steps_ + 1, 500))
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), steps)
    assert ax.get_yscale() == "log"
    right = ax.figure.axes[1]
    (schedule,) = right.get_lines()
    np.testing.assert_allclose(schedule.get_ydata(), est.history_[:, "regularizer_scale"])


def test_weights_heatmap_has_one_annotated_image_per_layer(fitted, tmp_path):
    est = fitted[0]
    fig = plot_weights(est)
    _saved(fig, tmp_path / "weights.png")
    first, second, colorbar = fig.axes
    assert len(first.images) == 1 and len(second.images) == 1
    assert [t.get_text() for t in first.get_xticklabels()] == ["price", "qty", "noise"]
    assert [t.get_text() for t in second.get_yticklabels()] == ["y"]
    # The snapped weights are written in their cells: NMU weights are 1, 1.
    assert sorted(t.get_text() for t in second.texts) == ["1", "1"]
    assert len(first.texts) == 6
    np.testing.assert_array_equal(
        first.images[0].get_array(), est.net_.module_.layers[0].weight.detach()[0].numpy()
    )
    assert colorbar.get_ylabel() == "effective weight"


def test_weights_heatmap_without_annotations_and_with_wrong_axes(fitted):
    est = fitted[0]
    assert not plot_weights(est, annotate=False).axes[0].texts
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="one Axes per layer"):
        plot_weights(est, axes=[ax])


def test_plots_say_what_to_install_without_matplotlib(fitted, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install \"sknalu\[plot\]\""):
        plot_weights(fitted[0])
