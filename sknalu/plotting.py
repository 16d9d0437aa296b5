"""Plots of fitted arithmetic-unit regressors.

- :func:`plot_extrapolation`: predictions against the truth, inside the training
  range and beyond it, optionally beside a baseline estimator;
- :func:`plot_learning_curve`: the losses over optimiser steps, with the
  regulariser's schedule and the step whose weights were kept;
- :func:`plot_weights`: the effective weights of every layer as annotated heatmaps.

matplotlib is an optional dependency (``pip install "sknalu[plot]"``), imported
only when a plot is drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_extrapolation", "plot_learning_curve", "plot_weights"]


def _import_pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "Plotting needs matplotlib, which is not installed: "
            'pip install "sknalu[plot]" (or pip install matplotlib).'
        ) from exc
    return plt


def _new_axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    _, ax = _import_pyplot().subplots(figsize=(6, 4.5), layout="constrained")
    return ax


def _one_output(name: str, values: Any) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(
            f"{name} must have one output, got shape {a.shape}; plot one target at a time."
        )
    return a


def plot_extrapolation(
    estimator: Any,
    X_train: Any,
    y_train: Any,
    X_test: Any,
    y_test: Any,
    *,
    baseline: Any = None,
    ax: Axes | None = None,
) -> Axes:
    """Predictions against the truth, inside the training range and beyond it.

    Every point is one row of the training or the test data: its true value on the
    horizontal axis, the prediction on the vertical one. A model that learned the
    formula stays on the diagonal outside the shaded training range too; a baseline
    such as a multi-layer perceptron bends away from it there.

    Parameters
    ----------
    estimator : fitted regressor
        The model to show, usually an :class:`~sknalu.NMURegressor` or
        :class:`~sknalu.NALURegressor`; one output.
    X_train, y_train : array-like
        The data the models were fitted on; the range of ``y_train`` is shaded.
    X_test, y_test : array-like
        Data beyond the training range.
    baseline : fitted regressor, optional
        A second model drawn beside the first, with its own markers.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes: the diagonal is its first line, then one line of markers per model.

    Examples
    --------
    >>> import numpy as np
    >>> from sknalu import NMURegressor
    >>> from sknalu.plotting import plot_extrapolation
    >>> rng = np.random.default_rng(0)
    >>> X, X_far = rng.uniform(1, 2, (200, 2)), rng.uniform(2, 6, (200, 2))
    >>> est = NMURegressor(max_steps=2000, random_state=0).fit(X, X[:, 0] * X[:, 1])
    >>> ax = plot_extrapolation(est, X, X[:, 0] * X[:, 1], X_far, X_far[:, 0] * X_far[:, 1])
    >>> [line.get_label() for line in ax.get_lines()]
    ['truth', 'NMURegressor']
    """
    models = [estimator] if baseline is None else [estimator, baseline]
    for model in models:
        check_is_fitted(model)
    y_train = _one_output("y_train", y_train)
    y_test = _one_output("y_test", y_test)
    ax = _new_axes(ax)

    ax.axvspan(y_train.min(), y_train.max(), color="0.9", label="training range")
    truth = np.concatenate([y_train, y_test])
    lo, hi = float(truth.min()), float(truth.max())
    ax.plot([lo, hi], [lo, hi], color="black", linestyle="--", linewidth=1, label="truth")
    for model, marker in zip(models, ["o", "s"], strict=False):
        pred = np.concatenate(
            [
                _one_output("predictions", model.predict(X_train)),
                _one_output("predictions", model.predict(X_test)),
            ]
        )
        ax.plot(
            truth,
            pred,
            linestyle="none",
            marker=marker,
            markersize=3,
            alpha=0.6,
            label=type(model).__name__,
        )
    ax.set_xlabel("true value")
    ax.set_ylabel("prediction")
    ax.set_title("Inside and beyond the training range")
    ax.legend(loc="upper left")
    return ax


#: History columns drawn by plot_learning_curve, with their legend labels.
_CURVES = {
    "train_loss": "training loss (all restarts, with regulariser)",
    "valid_loss": "held-out MSE (best restart per batch)",
    "selection_loss": "held-out MSE of the best restart",
}


def plot_learning_curve(estimator: Any, *, ax: Axes | None = None) -> Axes:
    """The losses over optimiser steps, with the regulariser's schedule.

    Draws, from ``estimator.history_``, each loss recorded at every evaluation
    (``train_loss``, ``valid_loss`` when data was held out, ``selection_loss``) on a
    logarithmic scale (a loss of exactly 0 leaves a gap), a vertical line at the
    step whose weights were kept (``best_step_``), and the regulariser's weight
    ``λ s(t)`` (``regularizer_scale``) on a second axis to the right.

    Parameters
    ----------
    estimator : NMURegressor or NALURegressor
        A fitted estimator.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None. The regulariser goes on a twin axes.

    Returns
    -------
    matplotlib.axes.Axes
        The axes of the losses; the twin axes with the regulariser follows it in
        ``ax.figure.axes``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknalu import NMURegressor
    >>> from sknalu.plotting import plot_learning_curve
    >>> X = np.random.default_rng(0).uniform(1, 2, (200, 2))
    >>> est = NMURegressor(max_steps=1500, random_state=0).fit(X, X[:, 0] * X[:, 1])
    >>> ax = plot_learning_curve(est)
    >>> ax.get_xlabel(), len(ax.get_lines())
    ('optimiser step', 4)
    """
    check_is_fitted(estimator)
    history = estimator.history_
    steps = [row.get("n_steps", np.nan) for row in history]
    ax = _new_axes(ax)
    for key, label in _CURVES.items():
        values = [row.get(key) for row in history]
        if all(v is not None for v in values):
            ax.plot(steps, np.asarray(values, dtype=float), marker="o", markersize=3, label=label)
    ax.set_yscale("log", nonpositive="mask")
    ax.axvline(
        estimator.best_step_,
        color="black",
        linestyle=":",
        label=f"weights kept (step {estimator.best_step_})",
    )
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss")

    right = ax.twinx()
    scale = [row.get("regularizer_scale", np.nan) for row in history]
    right.plot(steps, scale, color="0.5", label="regulariser weight λ·s(t)")
    right.set_ylabel("regulariser weight λ·s(t)")
    right.set_ylim(bottom=0)

    handles, labels = ax.get_legend_handles_labels()
    more_handles, more_labels = right.get_legend_handles_labels()
    ax.legend(handles + more_handles, labels + more_labels, loc="lower left", fontsize="small")
    ax.set_title("Learning curve")
    return ax


def _input_names(estimator: Any, index: int, layer: Any) -> list[str]:
    if index == 0:
        names = getattr(estimator, "feature_names_in_", None)
        if names is None:
            names = [f"x{i}" for i in range(estimator.n_features_in_)]
        names = [str(n) for n in names]
    else:
        names = [f"h{i}" for i in range(layer.in_features)]
    return layer.input_labels(names)


def _output_names(estimator: Any, index: int, layer: Any, n_layers: int) -> list[str]:
    if index < n_layers - 1:
        return [f"h{i}" for i in range(layer.out_features)]
    if layer.out_features == 1:
        return ["y"]
    return [f"y{i}" for i in range(layer.out_features)]


def plot_weights(estimator: Any, *, annotate: bool | None = None, axes: Any = None) -> Figure:
    """The effective weights of every layer as heatmaps.

    One heatmap per layer of the kept network, rows its outputs (``h0``, ``h1``, ...
    for hidden units, ``y`` for the target), columns its inputs (the feature names
    for the first layer; ``1/name`` for the reciprocals an NMRU adds). The colour
    scale runs from -1 (blue) through 0 (white) to 1 (red), wider when a weight is
    larger; one colour bar serves all layers. Only the weight matrix of each layer
    is drawn, not the gates of NALU, iNALU or Real NPU units.

    Parameters
    ----------
    estimator : NMURegressor or NALURegressor
        A fitted estimator.
    annotate : bool or None, default=None
        Write each weight in its cell; None does so for layers with at most 12
        inputs.
    axes : sequence of matplotlib Axes, optional
        One per layer; a new figure when None.

    Returns
    -------
    matplotlib.figure.Figure
        The figure: one Axes per layer with one image each, then the colour bar.

    Examples
    --------
    >>> from sknalu import NMURegressor
    >>> from sknalu.datasets import make_arithmetic
    >>> from sknalu.plotting import plot_weights
    >>> X, y = make_arithmetic("x0 * x1", n_samples=200, random_state=0)
    >>> fig = plot_weights(NMURegressor(max_steps=2000, random_state=0).fit(X, y))
    >>> [ax.get_title() for ax in fig.axes[:2]]
    ['layer 0: NAU', 'layer 1: NMU']
    """
    check_is_fitted(estimator)
    plt = _import_pyplot()
    layers = list(estimator.net_.module_.layers)
    weights = [
        layer.weight.detach().cpu().double().numpy().reshape(layer.weight.shape[-2:])
        for layer in layers
    ]
    if axes is None:
        widths = [max(w.shape[1], 2) for w in weights]
        fig, axes = plt.subplots(
            1,
            len(layers),
            figsize=(1.2 + 0.7 * sum(widths) + 1.2 * len(layers), 3.2),
            width_ratios=widths,
            layout="constrained",
            squeeze=False,
        )
        axes = list(axes[0])
    else:
        axes = list(np.ravel(axes))
        if len(axes) != len(layers):
            raise ValueError(f"axes must hold one Axes per layer ({len(layers)}), got {len(axes)}.")
        fig = axes[0].figure
    finite = np.concatenate([w[np.isfinite(w)].ravel() for w in weights])
    limit = max(1.0, float(np.abs(finite).max(initial=0.0)))

    image = None
    for i, (layer, w, ax) in enumerate(zip(layers, weights, axes, strict=True)):
        image = ax.imshow(w, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
        ax.set_xticks(range(w.shape[1]), _input_names(estimator, i, layer), rotation=45, ha="right")
        ax.set_yticks(range(w.shape[0]), _output_names(estimator, i, layer, len(layers)))
        ax.set_title(f"layer {i}: {type(layer).__name__}")
        if annotate or (annotate is None and w.shape[1] <= 12):
            for (r, c), value in np.ndenumerate(w):
                # Dark cells get white text.
                color = "white" if abs(value) > 0.6 * limit else "black"
                ax.text(
                    c, r, f"{value + 0.0:.3g}", ha="center", va="center", color=color, fontsize=9
                )
    fig.colorbar(image, ax=axes, label="effective weight", shrink=0.9)
    return fig
