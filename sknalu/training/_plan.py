"""scikit-learn estimators built on networks of neural arithmetic units."""

from __future__ import annotations

from skorch.callbacks import Callback

#: Names of sknalu's own callbacks in the skorch net.
_OWN_CALLBACKS = (
    "saddle_escape",
    "snap_trial",
    "restart_selection",
    "snap",
    "progress",
    "stop_when_exact",
)


def _check_callbacks(callbacks) -> list:
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
        if name in _OWN_CALLBACKS:
            raise ValueError(
                f"callbacks: the name {name!r} is taken by one of sknalu's own callbacks "
                f"({', '.join(_OWN_CALLBACKS)}); choose another."
            )
    return list(callbacks)
