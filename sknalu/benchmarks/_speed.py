"""Training speed: sknalu against a hand-written torch loop and plain skorch.

All of them train the benchmark's model, NAU(100→2) → NMU(2→1), with Adam and
batches of 128 rows drawn from 20,000, on the same device, in the same process.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from skorch import NeuralNetRegressor

from .. import NMURegressor
from ..units import NAU, NMU
from ._support import progress_bar

__all__ = ["measure_speed"]

_N_ROWS, _N_FEATURES, _BATCH = 20_000, 100, 128


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _model(device: str) -> torch.nn.Module:
    return torch.nn.Sequential(NAU(_N_FEATURES, 2), NMU(2, 1)).to(device)


def _adam(model: torch.nn.Module) -> torch.optim.Adam:
    """The fit's optimiser: Adam, fused where this torch has it for the model's device.

    The estimators use fused Adam by default where torch supports it; torch
    refuses ``fused=True`` for a device (or a torch) without the fused kernel.
    """
    params = list(model.parameters())
    try:
        return torch.optim.Adam(params, lr=1e-2, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=1e-2)


def hand_written_loop(
    X: np.ndarray,
    y: np.ndarray,
    n_steps: int,
    device: str = "cpu",
    dtype: str = "float64",
    threads: int | None = None,
) -> float:
    """Steps per second of the training loop a user would write in plain torch.

    Data of type ``dtype`` on the device, a random batch per step, Adam (fused
    where torch has it for the device, as in the fit), the squared sparsity
    regulariser on its schedule and the clipping of both layers: the same work as
    one step of :class:`~sknalu.NMURegressor`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, 100)
        Inputs.
    y : ndarray of shape (n_samples,)
        Targets.
    n_steps : int
        Optimiser steps measured (after 20 steps of warm-up).
    device : str, default="cpu"
        Device of the data and the model.
    dtype : {"float64", "float32"}, default="float64"
        Floating-point type of the data and the model.
    threads : int or None, default=None
        torch's CPU threads for the measurement; torch's default when None.

    Returns
    -------
    float
        Optimiser steps per second.
    """
    torch.manual_seed(0)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        X_t = torch.tensor(X, dtype=getattr(torch, dtype), device=device)
        y_t = torch.tensor(y, dtype=getattr(torch, dtype), device=device).reshape(-1, 1)
        model = _model(device).to(X_t.dtype)
        optimizer = _adam(model)

        def step(t: int) -> float:
            rows = torch.randint(0, len(X_t), (_BATCH,), device=device)
            loss = (model(X_t[rows]) - y_t[rows]).square().mean()
            scale = min(1.0, max(0.0, (t - 1000) / 2000))
            if scale > 0:
                nau, nmu = model[0].W, model[1].W
                loss = loss + scale * (
                    (nau.square() * (1 - nau.abs()).square()).mean()
                    + (nmu.square() * (1 - nmu).square()).mean()
                )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            for layer in model:
                layer.constrain_()
            return loss

        return _steps_per_second(step, n_steps, device)
    finally:
        torch.set_num_threads(previous)


def _steps_per_second(step, n_steps: int, device: str) -> float:
    for t in range(20):
        step(t)
    _sync(device)
    start = time.perf_counter()
    for t in range(n_steps):
        step(t)
    _sync(device)
    return n_steps / (time.perf_counter() - start)


def plain_skorch(X: np.ndarray, y: np.ndarray, n_steps: int, device: str = "cpu") -> float:
    """Steps per second of skorch's ``NeuralNetRegressor`` as it comes.

    A ``DataLoader`` over the rows, the default callbacks, no regulariser, float32.

    Parameters
    ----------
    X, y : ndarray
        Inputs and targets, as for :func:`hand_written_loop`.
    n_steps : int
        About the optimiser steps to take: whole epochs of batches of 128 rows.
    device : str, default="cpu"
        Device of the training.

    Returns
    -------
    float
        Optimiser steps per second.
    """
    n_epochs = max(1, round(n_steps * _BATCH / len(X)))
    net = NeuralNetRegressor(
        _model(device),
        optimizer=torch.optim.Adam,
        lr=1e-2,
        batch_size=_BATCH,
        max_epochs=n_epochs,
        iterator_train__shuffle=True,
        train_split=None,
        device=device,
        verbose=0,
    )
    start = time.perf_counter()
    net.fit(X.astype(np.float32), y.astype(np.float32).reshape(-1, 1))
    seconds = time.perf_counter() - start
    return n_epochs * int(np.ceil(len(X) / _BATCH)) / seconds


def sknalu_fit(
    X: np.ndarray,
    y: np.ndarray,
    n_steps: int,
    device: str = "cpu",
    n_restarts: int = 1,
    dtype: str = "float64",
) -> tuple[float, float, float]:
    """Training steps per second, and wall seconds, of a whole ``NMURegressor.fit``.

    The fit includes everything a user waits for: validation of the input, the
    held-out evaluations every 500 steps, the saddle escape, the restart selection
    and the snap. The steps per second count the time of the fit without the
    saddle escape, a cost the hand-written loop does not have; it is returned on
    its own. A fit that ends early, exact, counts the steps it took.

    Parameters
    ----------
    X, y : ndarray
        Inputs and targets, as for :func:`hand_written_loop`.
    n_steps : int
        The estimator's ``max_steps``.
    device : str, default="cpu"
        The estimator's ``device``.
    n_restarts : int, default=1
        The estimator's ``n_restarts``.
    dtype : {"float64", "float32"}, default="float64"
        The estimator's ``dtype``.

    Returns
    -------
    steps_per_s : float
        Training steps per second, without the saddle escape.
    fit_seconds : float
        Wall seconds of the whole fit.
    escape_seconds : float
        Seconds of its saddle escape.
    """
    est = NMURegressor(
        n_restarts=n_restarts, max_steps=n_steps, device=device, dtype=dtype, random_state=0
    )
    _sync(device)
    start = time.perf_counter()
    est.fit(X, y)
    _sync(device)
    seconds = time.perf_counter() - start
    escape = dict(est.net_.callbacks_)["saddle_escape"].seconds_
    return est.n_steps_ / (seconds - escape), seconds, escape


def measure_speed(
    n_steps: int = 3000,
    restarts: tuple[int, ...] = (1, 8, 32),
    device: str = "cpu",
    repeats: int = 5,
    random_state: int = 0,
    dtype: str = "float64",
) -> pd.DataFrame:
    """Measure optimiser steps per second of each way of training.

    Each repeat measures the hand-written loop and every fit one after the other,
    so that a ratio compares measurements taken moments apart: on a shared machine
    the speed of everything drifts from minute to minute.

    Parameters
    ----------
    n_steps : int, default=3000
        Optimiser steps of each measurement.
    restarts : tuple of int, default=(1, 8, 32)
        Values of ``n_restarts`` measured for :class:`~sknalu.NMURegressor`.
    device : str, default="cpu"
        Device of every measurement.
    repeats : int, default=5
        Each measurement is repeated and the median kept (plain skorch, the
        slowest and no part of a ratio, is measured once).
    random_state : int, default=0
        Seed of the data.
    dtype : {"float64", "float32"}, default="float64"
        Floating-point type of the hand-written loop and of the fits.

    Returns
    -------
    DataFrame
        One row per way of training: ``method``, ``dtype``, ``threads`` (torch's
        CPU threads: the hand-written loop is measured on one and on torch's
        default and keeps the faster, by median; sknalu fits on one),
        ``n_restarts``, ``steps_per_s`` (training steps per second, median; for
        sknalu without the saddle escape), ``seed_steps_per_s`` (steps times
        restarts per second), ``fit_seconds`` (the whole fit), ``escape_seconds``
        (its saddle escape), ``vs_hand_written`` (the median over repeats of the
        ratio of steps per second to the loop's in the same repeat) and
        ``vs_one_restart`` (ratio of the whole fit's wall time).

    Notes
    -----
    On a terminal, a progress bar on standard error counts the measurements.
    """
    rng = np.random.default_rng(random_state)
    X = rng.uniform(1, 2, size=(_N_ROWS, _N_FEATURES))
    y = X[:, 0:25].sum(1) * X[:, 13:38].sum(1)
    default_threads = torch.get_num_threads()
    thread_settings = sorted({1, default_threads})
    total = repeats * (len(thread_settings) + len(restarts)) + 1
    with progress_bar(total, "speed", unit="measurement") as bar:
        loops, fits = _repeat_measurements(
            X, y, n_steps, restarts, device, repeats, dtype, thread_settings, bar
        )
        skorch_steps = plain_skorch(X, y, n_steps, device)
        bar.update()
    threads = max(loops, key=lambda t: np.median(loops[t]))
    loop = np.array(loops[threads])
    rows = [
        _loop_row(float(np.median(loop)), dtype, threads),
        _skorch_row(skorch_steps, float(np.median(loop)), default_threads),
        *(_fit_row(k, fits[k], loop, dtype) for k in restarts),
    ]
    return _add_restart_ratios(pd.DataFrame(rows))


def _repeat_measurements(X, y, n_steps, restarts, device, repeats, dtype, thread_settings, bar):
    """Measure the hand-written loop and every fit, one after the other, per repeat.

    Returns the loop's steps per second on each number of threads of
    ``thread_settings`` (one and torch's default) and the results of
    :func:`sknalu_fit` for each ``n_restarts``, one per repeat; ``bar`` counts the
    measurements.
    """
    loops = {threads: [] for threads in thread_settings}
    fits = {k: [] for k in restarts}
    for _ in range(repeats):
        for threads in thread_settings:
            loops[threads].append(hand_written_loop(X, y, n_steps, device, dtype, threads))
            bar.update()
        for k in restarts:
            fits[k].append(sknalu_fit(X, y, n_steps, device, k, dtype))
            bar.update()
    return loops, fits


def _loop_row(steps_per_s: float, dtype: str, threads: int) -> dict:
    """The row of the hand-written loop, on the number of threads it was fastest on."""
    return {
        "method": "hand-written torch loop",
        "dtype": dtype,
        "threads": threads,
        "n_restarts": 1,
        "steps_per_s": steps_per_s,
        "vs_hand_written": 1.0,
    }


def _skorch_row(steps_per_s: float, loop_steps_per_s: float, threads: int) -> dict:
    """The row of plain skorch, which trains in float32 on torch's default threads."""
    return {
        "method": "skorch NeuralNetRegressor",
        "dtype": "float32",
        "threads": threads,
        "n_restarts": 1,
        "steps_per_s": steps_per_s,
        "vs_hand_written": steps_per_s / loop_steps_per_s,
    }


def _fit_row(n_restarts: int, fits: list, loop: np.ndarray, dtype: str) -> dict:
    """The row of ``NMURegressor.fit`` with ``n_restarts``: medians over the repeats.

    ``vs_hand_written`` is the median of the ratios to the loop of the same repeat.
    """
    steps, seconds, escape = (np.array(column) for column in zip(*fits, strict=True))
    return {
        "method": "sknalu NMURegressor.fit",
        "dtype": dtype,
        "threads": 1,
        "n_restarts": n_restarts,
        "steps_per_s": float(np.median(steps)),
        "fit_seconds": float(np.median(seconds)),
        "escape_seconds": float(np.median(escape)),
        "vs_hand_written": float(np.median(steps / loop)),
    }


def _add_restart_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``seed_steps_per_s`` and, with a one-restart fit, ``vs_one_restart``."""
    table["seed_steps_per_s"] = table["steps_per_s"] * table["n_restarts"]
    one = table.loc[(table["method"] == "sknalu NMURegressor.fit") & (table["n_restarts"] == 1)]
    if len(one):
        table["vs_one_restart"] = table["fit_seconds"] / float(one["fit_seconds"].iloc[0])
    return table
