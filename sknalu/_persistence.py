"""Saving fitted estimators in the skops format, and loading them safely.

A fitted estimator holds a skorch net, and a skorch net pickles its torch module,
criterion and optimiser into bytes that its ``__setstate__`` unpickles again. skops
can write such an estimator as it is, but it can only read it back by trusting the
net's class, and so the pickle inside it: a crafted file could then run any code.

:func:`save_model` therefore writes plain data only: the estimator's
hyperparameters, its fitted attributes, the history as JSON and the kept network's
weights as numpy arrays. skops reads all of it without trusting a single type
beyond the builtins and numpy arrays it trusts anyway (:data:`SKOPS_TRUSTED_TYPES`
is empty), and :func:`load_model` rebuilds the skorch net from it the way skorch
restores a net from its parameters: initialise a net with the same settings, then
load the weights.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from ._estimators import NALURegressor, NMURegressor, _ArithmeticRegressor
from ._network import ArithmeticNetwork
from .training._net import ArithmeticNet
from .units._registry import UNITS

__all__ = ["SKOPS_TRUSTED_TYPES", "load_model", "save_model"]

#: Types, beyond those skops trusts by default (builtins, numpy arrays and scalars),
#: that :func:`load_model` lets a skops file hold. A file written by
#: :func:`save_model` holds none: ``skops.io.get_untrusted_types`` reports nothing
#: for a fitted NMURegressor or NALURegressor. Any other type in a file makes
#: :func:`load_model` refuse it before anything in it is constructed.
SKOPS_TRUSTED_TYPES: tuple[str, ...] = ()

#: Version of the layout of the saved data; a file of another layout is refused.
_FORMAT_VERSION = 1
_ESTIMATORS = {cls.__name__: cls for cls in (NMURegressor, NALURegressor)}
#: Fitted attributes saved in their own form rather than as plain data.
_REBUILT = ("net_", "history_")


def _is_plain(value: Any) -> bool:
    """Whether ``value`` is data skops stores and loads without trusting a type."""
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype != object or all(isinstance(v, str) for v in value.flat)
    # Exact types: a subclass (skorch's History is a list) is a type to trust.
    if type(value) in (list, tuple):
        return all(_is_plain(v) for v in value)
    if type(value) is dict:
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _plain_or_raise(values: dict[str, Any], what: str, estimator) -> dict[str, Any]:
    for name, value in values.items():
        if not _is_plain(value):
            raise TypeError(
                f"save_model cannot store the {what} {name}={value!r} of "
                f"{type(estimator).__name__}: a skops file saved by sknalu holds only "
                "numbers, strings, arrays and tuples of them. Give it such a value, or "
                "save the estimator with joblib (only for files you trust)."
            )
    return values


def _state(estimator: _ArithmeticRegressor) -> dict[str, Any]:
    """A fitted estimator as plain data."""
    if type(estimator) not in _ESTIMATORS.values():
        raise TypeError(
            f"save_model saves NMURegressor and NALURegressor, got {type(estimator).__name__}."
        )
    check_is_fitted(estimator)
    params = _plain_or_raise(estimator.get_params(deep=False), "hyperparameter", estimator)
    attributes = {
        name: value
        for name, value in vars(estimator).items()
        if name not in params and name not in _REBUILT
    }
    _plain_or_raise(attributes, "fitted attribute", estimator)
    net = estimator.net_
    module = net.module_
    if not (module.n_copies == 1 and module.squeeze_copies):
        raise ValueError("the estimator's network still holds all its restarts; fit it again.")
    # The settings that rebuild the net: its own and its module's, where plain.
    # Callbacks, optimiser and split only matter while fitting, which starts afresh.
    net_params = {
        name: value
        for name, value in net.get_params(deep=False).items()
        if not name.startswith("_")
        and ("__" not in name or name.startswith("module__"))
        and _is_plain(value)
    }
    net_attributes = {
        name: value
        for name, value in vars(net).items()
        if name.endswith("_") and not name.startswith("_") and _is_plain(value)
    }
    return {
        "sknalu_model": _FORMAT_VERSION,
        "estimator": type(estimator).__name__,
        "params": params,
        "attributes": attributes,
        # skorch's History is a list of dicts of numbers: JSON keeps it exact.
        "history": json.dumps(list(estimator.history_), default=_json_number),
        "net": {
            "params": net_params,
            "attributes": net_attributes,
            "device": str(net.device),
            "weights": {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()},
        },
    }


def _json_number(value):
    if isinstance(value, np.generic):  # numpy scalars that are no float subclass
        return value.item()
    raise TypeError(f"cannot save {value!r} in the history")


def _not_a_model(path) -> ValueError:
    return ValueError(f"{path} is not a model saved by sknalu.save_model.")


def _set_attributes(obj, attributes: dict, path) -> None:
    for name, value in attributes.items():
        # Names from the file become attributes: only ordinary ones, never dunders.
        if not (isinstance(name, str) and name.isidentifier()) or name.startswith("__"):
            raise _not_a_model(path)
        setattr(obj, name, value)


def _device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        # As skorch loads a net saved on a GPU: onto the CPU, with a word.
        warnings.warn(
            "The model was saved from a CUDA device, but torch finds none here; "
            "it is loaded onto the CPU.",
            UserWarning,
            stacklevel=3,
        )
        return torch.device("cpu")
    return device


def _check_units_known(state) -> None:
    """Refuse, saying what to do, a model whose units are not registered here."""
    try:
        names = list(state["net"]["params"]["module__units"])
    except (KeyError, TypeError):
        return  # not a model: said below
    missing = [n for n in names if isinstance(n, str) and n not in UNITS]
    if missing:
        raise ValueError(
            f"The model uses the unit(s) {', '.join(map(repr, missing))}, which are not "
            "registered in this process: call sknalu.units.register_unit with the same "
            "name and class before load_model."
        )


def _from_state(state, path) -> _ArithmeticRegressor:
    """The estimator that :func:`_state` turned into ``state``."""
    _check_units_known(state)
    try:
        if not isinstance(state, dict) or state.get("sknalu_model") != _FORMAT_VERSION:
            raise _not_a_model(path)
        estimator = _ESTIMATORS[state["estimator"]](**state["params"])
        _set_attributes(estimator, state["attributes"], path)
        saved = state["net"]
        weights = {k: torch.from_numpy(np.asarray(v)) for k, v in saved["weights"].items()}
        dtype = next(iter(weights.values())).dtype
        net = ArithmeticNet(
            ArithmeticNetwork,
            **saved["params"],
            module__dtype=dtype,
            device=_device(saved["device"]),
        )
        net.initialize()
        # The fitted network is the one copy the restart selection kept.
        net.module_.keep_copy_(0)
        net.module_.load_state_dict(weights)
        _set_attributes(net, saved["attributes"], path)
        net.history = History(json.loads(state["history"]))
    except (KeyError, TypeError, ValueError, RuntimeError, StopIteration, AttributeError):
        # A file of the right format but the wrong content: a version mismatch, or
        # an edited file. Nothing in it can have run code; it just is no model.
        raise _not_a_model(path) from None
    estimator.net_ = net
    estimator.history_ = net.history
    return estimator


def save_model(estimator: _ArithmeticRegressor, path: str | os.PathLike) -> None:
    """Save a fitted estimator to a skops file that is safe to load from anywhere.

    The file holds the estimator's hyperparameters, its fitted attributes, its
    history and the weights of its network, all as plain data (numbers, strings and
    numpy arrays), so that :func:`load_model` reads it without running code from it.
    Use it for models you share or receive; joblib and pickle files run code when
    loaded and are only for files you trust.

    Parameters
    ----------
    estimator : NMURegressor or NALURegressor
        A fitted estimator, with plain hyperparameters: an ``optimizer`` given by
        name, no ``callbacks``, an int or None as ``random_state``.
    path : str or path-like
        Where to write; the extension ``.skops`` is the convention.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        When the estimator has not been fitted.
    TypeError
        When the estimator is of another class, or a hyperparameter or fitted
        attribute is not plain data (its name is in the message).

    See Also
    --------
    load_model : Load the estimator back.

    Notes
    -----
    The loaded estimator predicts exactly as the saved one and has the same
    hyperparameters, fitted attributes and history. Its ``net_`` is rebuilt around
    the kept network; the optimiser's state and the callbacks, which only matter
    while fitting, are not saved (``fit`` starts from scratch anyway).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from sknalu import NMURegressor, load_model, save_model
    >>> X = np.random.default_rng(0).uniform(1, 2, size=(200, 2))
    >>> est = NMURegressor(max_steps=2000, random_state=0).fit(X, X[:, 0] * X[:, 1])
    >>> path = Path(tempfile.mkdtemp()) / "product.skops"
    >>> save_model(est, path)
    >>> loaded = load_model(path)
    >>> loaded.formula_
    'x0*x1'
    >>> bool((loaded.predict(X) == est.predict(X)).all())
    True
    """
    import skops.io

    state = _state(estimator)
    data = skops.io.dumps(state)
    untrusted = set(skops.io.get_untrusted_types(data=data)) - set(SKOPS_TRUSTED_TYPES)
    if untrusted:  # pragma: no cover - _state keeps to plain data
        raise TypeError(f"save_model would write types load_model refuses: {sorted(untrusted)}")
    Path(path).write_bytes(data)


def load_model(path: str | os.PathLike) -> _ArithmeticRegressor:
    """Load an estimator saved by :func:`save_model`.

    The file is checked before anything in it is built: a file holding any type
    skops does not trust by default (and :data:`SKOPS_TRUSTED_TYPES` does not
    name) is refused, so loading a file from elsewhere cannot run its code.

    Parameters
    ----------
    path : str or path-like
        A skops file written by :func:`save_model`.

    Returns
    -------
    NMURegressor or NALURegressor
        The fitted estimator.

    Raises
    ------
    skops.io.exceptions.UntrustedTypesFoundException
        When the file holds types that are not trusted; nothing of it was built.
    ValueError
        When the file is not a skops file, or not one written by :func:`save_model`.
    FileNotFoundError
        When there is no such file.

    See Also
    --------
    save_model : Save a fitted estimator.
    """
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    if not Path(path).is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        state = skops.io.load(path, trusted=list(SKOPS_TRUSTED_TYPES))
    except UntrustedTypesFoundException:
        raise
    except Exception:  # a file that is not a skops archive fails in many ways
        raise _not_a_model(path) from None
    return _from_state(state, path)
