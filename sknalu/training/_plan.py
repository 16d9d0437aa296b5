"""The one place that knows sknalu's callbacks, their order, and what they report.

A fit's skorch net runs these callbacks, in this order, at the end of every
evaluation (one skorch epoch):

1. ``structure`` (:class:`LoadStructure`, only for a formula found in closed form):
   writes the formula's weights into the network when training begins;
2. ``saddle_escape`` (:class:`SaddleEscape`): moves stalled copies off saddle points
   and rounds them; reports ``rounded_copies``;
3. ``snap_trial`` (:class:`SnapTrial`): snaps the best copies in place where that
   does no harm; reports ``snapped_copies``;
4. ``restart_selection`` (:class:`RestartSelection`): measures every copy, as moved
   by 2 and 3, keeps the best weights; reports ``best_copy``, ``best_step``,
   ``best_loss`` and ``exact``;
5. ``progress`` (:class:`StepProgressBar`, with ``verbose``);
6. the user's callbacks;
7. ``stop_when_exact`` (:class:`StopWhenExact`), last, as it ends training: it
   reads ``exact`` from the history.

The callbacks talk through the history's keys, never by looking each other up;
:func:`training_outcome` reads what the estimator needs from the last row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from skorch.callbacks import Callback

from ._callbacks import (
    LoadStructure,
    RestartSelection,
    SaddleEscape,
    SnapTrial,
    StepProgressBar,
    StopWhenExact,
)

#: Names of sknalu's own callbacks in the skorch net.
OWN_CALLBACKS = (
    "structure",
    "saddle_escape",
    "snap_trial",
    "restart_selection",
    "snap",
    "progress",
    "stop_when_exact",
)


def check_callbacks(callbacks) -> list:
    """The user's callbacks, as a new list, once each is known to be a skorch callback."""
    expected = "callbacks must be a list of skorch Callbacks or (name, Callback) pairs"
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise ValueError(f"{expected}, got {callbacks!r}.")
    for item in callbacks:
        pair = isinstance(item, (tuple, list)) and len(item) == 2
        name, callback = item if pair else (None, item)
        ok = isinstance(callback, Callback) or (
            isinstance(callback, type) and issubclass(callback, Callback)
        )
        if not ok or (pair and not isinstance(name, str)):
            raise ValueError(f"{expected}; got {item!r} among them.")
        if name in OWN_CALLBACKS:
            raise ValueError(
                f"callbacks: the name {name!r} is taken by one of sknalu's own callbacks "
                f"({', '.join(OWN_CALLBACKS)}); choose another."
            )
    return list(callbacks)


def training_callbacks(
    *,
    structure=None,
    escape_saddles: bool,
    snap: bool,
    verbose: int,
    user_callbacks: list,
    deadline: float = math.inf,
) -> list[tuple[str, Callback]]:
    """The callbacks of a fit, named, in the order they must run (see the module).

    Parameters
    ----------
    structure : object with a ``load_(module)`` method, optional
        The weights of a formula found in closed form.
    escape_saddles, snap : bool
        The estimator's hyperparameters of the same names.
    verbose : int
        A progress bar when positive.
    user_callbacks : list
        The user's callbacks, checked by :func:`check_callbacks`.
    deadline : float, default=inf
        The :func:`time.time` at which training ends (the estimator's ``max_time``).
    """
    callbacks = []
    if structure is not None:
        callbacks.append(("structure", LoadStructure(structure)))
    if escape_saddles:
        callbacks.append(("saddle_escape", SaddleEscape(round_weights=snap)))
    if snap:
        callbacks.append(("snap_trial", SnapTrial()))
    callbacks.append(("restart_selection", RestartSelection()))
    if verbose:
        callbacks.append(("progress", StepProgressBar()))
    callbacks += user_callbacks
    callbacks.append(("stop_when_exact", StopWhenExact(deadline)))
    return callbacks


@dataclass(frozen=True)
class TrainingOutcome:
    """What the restart selection kept, read from the history.

    Attributes
    ----------
    best_copy : int
        The copy (restart) whose weights were kept.
    best_step : int
        The optimiser step they were kept from.
    best_loss : float
        Their held-out mean squared error.
    snapped : bool
        Whether they were snapped or rounded, at the step they were kept from.
    """

    best_copy: int
    best_step: int
    best_loss: float
    snapped: bool


def training_outcome(history) -> TrainingOutcome:
    """Read the kept weights' copy, step, loss and snap from a fit's ``history``."""
    last = history[-1]
    copy, step = int(last["best_copy"]), int(last["best_step"])
    snapped = any(
        row.get("n_steps") == step
        and copy in (*row.get("snapped_copies", ()), *row.get("rounded_copies", ()))
        for row in history
    )
    return TrainingOutcome(copy, step, float(last["best_loss"]), snapped)
