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

Plain data can still be the wrong data, so :func:`load_model` checks a file in
three steps before it builds anything from it:

1. The archive: its number of members, the uncompressed size of each and of all
   (:data:`MAX_UNCOMPRESSED_BYTES`), and the array each numpy member declares,
   which must fit in the member, all read from the zip directory and the members'
   headers before skops reads a member.
2. The data, against the tables of checks below: the exact hyperparameters,
   fitted attributes, settings and attributes of the net an estimator of this
   version has, each with its type and range (arrays: dtype, shape and size);
   the network's shape (layers, features, outputs, hidden size) against
   :data:`LIMITS` and against the weight arrays the file holds. Anything else, a
   callable or an estimator as an attribute, a method's name, is refused with the
   name of the attribute.
3. What is derived from the weights is recomputed rather than read: the sparsity
   error, whether the formula is exact, the formula itself and the formula's
   private state, by the code ``fit`` runs (``FormulaMixin._fit_formula``) on the
   sample of training rows the estimator keeps.

A scikit-learn model that holds sknalu estimators (a ``Pipeline`` of scikit-learn
transformers ending in one, a ``TransformedTargetRegressor`` around one, ...) is
saved as that model, with each sknalu estimator in it replaced by the plain data
above. skops reads the scikit-learn parts by the types it trusts by default
(scikit-learn's estimators, numpy's functions) and refuses any other; the sknalu
estimators are then checked and rebuilt one by one as above.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from ._estimators import (
    _DTYPES,
    _OPTIMIZERS,
    NALURegressor,
    NMURegressor,
    _ArithmeticRegressor,
    _layer_units,
)
from ._network import ArithmeticNetwork
from .formula._estimator import _CHECK_ROWS
from .training._net import ArithmeticNet
from .training._schedules import LR_SCHEDULES
from .units._registry import UNITS
from .units._regularizers import OOB_MODES, REGULARIZER_SHAPES

__all__ = ["LIMITS", "MAX_UNCOMPRESSED_BYTES", "SKOPS_TRUSTED_TYPES", "load_model", "save_model"]

#: Types, beyond those skops trusts by default (builtins, numpy arrays and scalars),
#: that :func:`load_model` lets a skops file hold. A file written by
#: :func:`save_model` holds none: ``skops.io.get_untrusted_types`` reports nothing
#: for a fitted NMURegressor or NALURegressor. Any other type in a file makes
#: :func:`load_model` refuse it before anything in it is constructed.
SKOPS_TRUSTED_TYPES: tuple[str, ...] = ()

#: Largest uncompressed size, in bytes, of all the members of a skops file together
#: (256 MiB). A model of the largest network :data:`LIMITS` allows, 2**24 float64
#: weights, takes 128 MiB; a model of ordinary size takes well under 1 MiB.
MAX_UNCOMPRESSED_BYTES = 256 * 2**20
#: Most members a skops file may have: one per array, and the schema.
_MAX_MEMBERS = 1024

#: Largest network :func:`load_model` builds: layers, input features, outputs,
#: hidden size, and the number of weights of the kept network. They are checked,
#: with the weight arrays in the file, before the network is built.
LIMITS: Mapping[str, int] = {
    "layers": 16,
    "in_features": 100_000,
    "out_features": 10_000,
    "hidden_size": 4096,
    "weights": 2**24,
}
#: Other bounds on the data of a file: restarts, characters of a string (feature
#: names, formulas in ``search_results_``), structures tried by ``units="auto"``,
#: epochs in the history and characters of the history's JSON.
_MAX_COPIES = 1_000_000
_MAX_TEXT = 10_000
_MAX_TRIED = 256
_MAX_EPOCHS = 10_000_000
_MAX_HISTORY_CHARS = 64 * 2**20
_MAX_INT = 2**63 - 1

#: Version of the layout of the saved data; a file of another layout is refused.
_FORMAT_VERSION = 1
#: Version of the layout of a scikit-learn model holding sknalu estimators.
_COMPOSITE_VERSION = 1
#: Deepest nesting of containers and estimators searched for sknalu estimators.
_MAX_DEPTH = 32
_ESTIMATORS = {cls.__name__: cls for cls in (NMURegressor, NALURegressor)}


# -- errors ---------------------------------------------------------------------------


class _InvalidModel(ValueError):
    """A file that is not a model saved by :func:`save_model`, and why."""

    def __init__(self, path, reason: str | None = None) -> None:
        self.path, self.reason = path, reason
        super().__init__(
            f"{path} is not a model saved by sknalu.save_model" + (f": {reason}" if reason else ".")
        )


class _Refused(Exception):
    """Raised by a check with the reason; :func:`load_model` adds the file's name."""


# -- checks of single values -------------------------------------------------------------

_Check = Callable[[str, Any], None]


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of {value.dtype} and shape {value.shape}"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def _refuse(name: str, value: Any, expected: str) -> None:
    raise _Refused(f"{name} must be {expected}, not {_describe(value)}")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_float(value: Any) -> bool:
    return isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


def _int(low: int = 0, high: int = _MAX_INT) -> _Check:
    def check(name, value):
        if not (_is_int(value) and low <= value <= high):
            _refuse(name, value, f"an int in [{low}, {high}]")

    return check


def _float(low: float = -math.inf, high: float = math.inf, nan: bool = False) -> _Check:
    def check(name, value):
        ok = _is_float(value) and (low <= value <= high or (nan and math.isnan(value)))
        if not ok:
            _refuse(name, value, f"a float in [{low}, {high}]" + (" or nan" if nan else ""))

    return check


def _bool(name, value) -> None:
    if not isinstance(value, (bool, np.bool_)):
        _refuse(name, value, "a bool")


def _one_of(*options) -> _Check:
    def check(name, value):
        same_type = [o for o in options if type(o) is type(value)]
        if value not in same_type:
            _refuse(name, value, "one of " + ", ".join(map(repr, options)))

    return check


def _text(name, value) -> None:
    if not (isinstance(value, str) and len(value) <= _MAX_TEXT):
        _refuse(name, value, f"a string of at most {_MAX_TEXT} characters")


def _optional(check: _Check) -> _Check:
    def optional(name, value):
        if value is not None:
            check(name, value)

    return optional


def _unit_names(name, value) -> None:
    if not (
        type(value) is tuple
        and 1 <= len(value) <= LIMITS["layers"]
        and all(isinstance(u, str) and len(u) <= _MAX_TEXT for u in value)
    ):
        _refuse(name, value, f"a tuple of 1 to {LIMITS['layers']} unit names")


def _function_names(name, value) -> None:
    if not (
        type(value) in (tuple, list)
        and len(value) <= 16
        and all(isinstance(f, str) and len(f) <= _MAX_TEXT for f in value)
    ):
        _refuse(name, value, "a tuple of at most 16 function names")


def _array(name, value, dtypes: tuple[str, ...], shape: tuple[int, ...]) -> None:
    """``value`` an ndarray of one of ``dtypes`` and of ``shape`` (-1: any length)."""
    ok = (
        type(value) is np.ndarray
        and value.dtype.name in dtypes
        and value.ndim == len(shape)
        and all(s == -1 or s == n for s, n in zip(shape, value.shape, strict=True))
    )
    if not ok:
        dims = ", ".join("n" if s == -1 else str(s) for s in shape)
        _refuse(name, value, f"an array of {' or '.join(dtypes)} and shape ({dims})")


def _check_all(what: str, values: Any, checks: Mapping[str, _Check], optional=()) -> None:
    """``values`` a dict holding exactly the names of ``checks`` (some ``optional``)."""
    if type(values) is not dict:
        raise _Refused(f"{what} must be a dict, not {_describe(values)}")
    unknown = sorted(str(k)[:60] for k in values if k not in checks)
    if unknown:
        raise _Refused(
            f"{what} hold {', '.join(map(repr, unknown))}, which a model saved by this "
            "version of sknalu does not have"
        )
    missing = sorted(k for k in checks if k not in values and k not in optional)
    if missing:
        raise _Refused(f"{what} lack {', '.join(map(repr, missing))}")
    for key, value in values.items():
        checks[key](key, value)


# -- the schema -------------------------------------------------------------------------

_FLOAT_DTYPES = tuple(_DTYPES)

#: The hyperparameters, checked for type here and for range by the estimator's own
#: ``_validate_params``. Only plain values are saved: an optimiser by name, no
#: callbacks.
_PARAMS: dict[str, _Check] = {
    "units": lambda n, v: _text(n, v) if isinstance(v, str) else _unit_names(n, v),
    "hidden_size": _int(1),
    "functions": _function_names,
    "n_restarts": _int(1, _MAX_COPIES),
    "regularizer_strength": _float(0),
    "regularizer_start": _int(0),
    "regularizer_end": _int(0),
    "regularizer_shape": _one_of(*REGULARIZER_SHAPES),
    "oob_mode": _one_of(*OOB_MODES),
    "optimizer": lambda n, v: _one_of(*_OPTIMIZERS)(n, v.lower() if isinstance(v, str) else v),
    "lr": _float(0),
    "lr_schedule": _one_of(*LR_SCHEDULES),
    "batch_size": _int(1),
    "max_steps": _int(1),
    "validation_fraction": _float(0, 0.5),
    "device": _text,
    "dtype": _one_of(*_DTYPES),
    "random_state": _optional(_int(0, 2**32 - 1)),
    "verbose": _int(0),
    "callbacks": _one_of(None),
    "snap": _bool,
    "escape_saddles": _bool,
    "constants": _bool,
    "n_jobs": _optional(_int(-_MAX_INT)),
    "max_time": _optional(_float(0)),
    "selection": _one_of("best", "accuracy"),
}


def _feature_names(name, value) -> None:
    _array(name, value, ("object",), (-1,))
    for item in value:
        _text(f"an item of {name}", item)


def _gate_ranges_shape(name, value) -> None:
    if not (type(value) is list and len(value) <= LIMITS["layers"]):
        _refuse(name, value, f"a list of at most {LIMITS['layers']} layers")
    for i, gate in enumerate(value):
        if gate is None:
            continue
        if not (type(gate) in (tuple, list) and len(gate) == 2):
            _refuse(f"{name}[{i}]", gate, "None or a (min, max) pair of arrays")
        for bound in gate:
            _array(f"{name}[{i}]", bound, _FLOAT_DTYPES, (-1,))


def _exactness_evidence(name, value) -> None:
    if not (type(value) is tuple and len(value) == 3):
        _refuse(name, value, "a tuple (relative error, rows, dtype)")
    error, rows, dtype = value
    _float(0)(f"{name}[0]", error)
    _int(0)(f"{name}[1]", rows)
    _one_of(*_DTYPES)(f"{name}[2]", dtype)


def _search_results(name, value) -> None:
    columns = {
        "source": _one_of("closed form", "linear model", "trained"),
        "units": _unit_names,
        "hidden_size": _int(1, LIMITS["hidden_size"]),
        "validation_loss": _float(0, nan=True),
        "validation_score": _float(high=1, nan=True),
        "formula_exact": _bool,
        "formula": _optional(_text),
        "complexity": _optional(_int(0)),
        "fit_time": _float(0),
        "chosen": _bool,
        "error": _optional(_text),
    }

    def column_of(check: _Check) -> _Check:
        def check_column(column, items):
            if type(items) is not list or len(items) > _MAX_TRIED:
                _refuse(f"{name}[{column!r}]", items, f"a list of at most {_MAX_TRIED} items")
            for item in items:
                check(f"an item of {name}[{column!r}]", item)

        return check_column

    _check_all(name, value, {column: column_of(check) for column, check in columns.items()})
    if len({len(items) for items in value.values()}) > 1:
        raise _Refused(f"the columns of {name} differ in length")


#: The fitted attributes that hold data and are restored as saved, once checked.
#: Every other fitted attribute (``net_``, ``history_``, ``sparsity_error_``,
#: ``formula_exact_`` and the formula's private state) is rebuilt or recomputed.
_KEPT: dict[str, _Check] = {
    "n_features_in_": _int(1, LIMITS["in_features"]),
    "feature_names_in_": _feature_names,
    "_y_ndim": _one_of(1, 2),
    "n_outputs_": _int(1, LIMITS["out_features"]),
    "n_steps_": _int(0),
    "best_restart_": _int(0, _MAX_COPIES),
    "best_step_": _int(0),
    # Measured on held-out rows the model does not keep: checked, not recomputed.
    "validation_loss_": _float(0, nan=True),
    "validation_score_": _float(high=1.0),
    "snapped_": _bool,
    # The data the formula's exactness is judged on (the rows kept, the gates' ranges
    # over all training rows, and how close the held-out fit came) are checked here
    # and against each other and the network once it is built.
    "_check_rows": lambda n, v: _array(n, v, _FLOAT_DTYPES, (-1, -1)),
    "_gate_ranges": _gate_ranges_shape,
    "_exactness_evidence": _exactness_evidence,
    # units="auto" only.
    "search_results_": _search_results,
    "units_": _unit_names,
    "hidden_size_": _int(1, LIMITS["hidden_size"]),
}
_AUTO = ("search_results_", "units_", "hidden_size_")
#: Derived from the weights: a file may hold them (save_model wrote them before), of
#: the right type, but they are recomputed on load.
_DERIVED: dict[str, _Check] = {
    "sparsity_error_": _float(0, nan=True),
    "formula_exact_": _bool,
    "_distance": _float(0, nan=True),
    "_formula_text": _optional(_text),
    "_rounding_difference": _float(0, nan=True),
}
_ATTRIBUTES = {**_KEPT, **_DERIVED}

#: The settings of the skorch net that rebuild it. The network's shape is checked
#: against LIMITS here, and against the weight arrays in :func:`_check_network`.
_NET_PARAMS: dict[str, _Check] = {
    "lr": _float(0),
    "max_epochs": _int(0),
    "batch_size": _int(1),
    "predict_nonlinearity": _one_of("auto"),
    "warm_start": _bool,
    "verbose": _int(0),
    "compile": _one_of(False),
    "use_caching": _one_of("auto"),
    "torch_load_kwargs": _one_of(None),
    "module__in_features": _int(1, LIMITS["in_features"]),
    "module__out_features": _int(1, LIMITS["out_features"]),
    "module__units": _unit_names,
    "module__hidden_size": _int(1, LIMITS["hidden_size"]),
    "module__n_copies": _int(1, _MAX_COPIES),
    "module__oob_mode": _one_of(*OOB_MODES),
    "module__regularizer_shape": _one_of(*REGULARIZER_SHAPES),
    "module__seed": _int(0),
    "module__constants": _bool,
    "regularizer_strength": _float(0),
    "target_scale": _float(0),
    "regularizer_start": _int(0),
    "regularizer_end": _int(0),
    "oob_strength": _float(0),
    "max_steps": _int(0),
    "lr_schedule": _one_of(*LR_SCHEDULES),
    "steps_per_epoch": _int(1),
    "seed": _int(0),
}


def _str_list(name, value) -> None:
    if not (type(value) is list and len(value) <= 64 and all(isinstance(v, str) for v in value)):
        _refuse(name, value, "a list of names")


def _no_listeners(name, value) -> None:
    if not (type(value) is dict and all(v == [] for v in value.values()) and len(value) <= 64):
        _refuse(name, value, "a dict of empty lists")


#: The net's fitted attributes: those restored, then those the rebuilt net sets
#: itself (checked for type, not set from the file).
_NET_KEPT: dict[str, _Check] = {
    "n_steps_": _int(0),
    "scheduled_lr_": _optional(_float(0)),
    "needs_oob_loss_": _bool,
}
_NET_ATTRIBUTES: dict[str, _Check] = {
    **_NET_KEPT,
    "initialized_": _one_of(True),
    "init_context_": _one_of(None),
    "prefixes_": _str_list,
    "cuda_dependent_attributes_": _str_list,
    "batch_listeners_": _no_listeners,
}
_NET_OPTIONAL = ("batch_listeners_", "needs_oob_loss_", "init_context_")


def _device_name(name, value) -> None:
    _text(name, value)
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        _refuse(name, value, "'cpu' or a CUDA device")


def _json_data(name: str, value: Any, depth: int) -> None:
    """History data: numbers, strings, lists and dicts of them, nested at most 4 deep."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if depth < 4 and type(value) is list:
        for item in value:
            _json_data(name, item, depth + 1)
        return
    if depth < 4 and type(value) is dict:
        for item in value.values():
            _json_data(name, item, depth + 1)
        return
    _refuse(name, value, "numbers, strings, and lists and dicts of them")


def _history(text: Any) -> list:
    if not (isinstance(text, str) and len(text) <= _MAX_HISTORY_CHARS):
        _refuse("history", text, f"a JSON string of at most {_MAX_HISTORY_CHARS} characters")
    try:
        epochs = json.loads(text)
    except (ValueError, RecursionError):
        raise _Refused("the history is not JSON") from None
    if not (type(epochs) is list and len(epochs) <= _MAX_EPOCHS):
        _refuse("history", epochs, "a list of epochs")
    for epoch in epochs:
        if type(epoch) is not dict:
            _refuse("an epoch of the history", epoch, "a dict")
        _json_data("an epoch of the history", epoch, 1)
    return epochs


# -- saving -----------------------------------------------------------------------------


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
    """A fitted estimator as plain data: what :func:`load_model` checks and rebuilds."""
    if type(estimator) not in _ESTIMATORS.values():
        raise TypeError(
            f"save_model saves NMURegressor and NALURegressor, got {type(estimator).__name__}."
        )
    check_is_fitted(estimator)
    params = _plain_or_raise(estimator.get_params(deep=False), "hyperparameter", estimator)
    # The fitted attributes load_model restores; what it recomputes is not saved.
    attributes = {name: value for name, value in vars(estimator).items() if name in _KEPT}
    _plain_or_raise(attributes, "fitted attribute", estimator)
    net = estimator.net_
    module = net.module_
    if not (module.n_copies == 1 and module.squeeze_copies):
        raise ValueError("the estimator's network still holds all its restarts; fit it again.")
    # The settings that rebuild the net. Callbacks, optimiser and split only matter
    # while fitting, which starts afresh.
    net_params = {
        name: value for name, value in net.get_params(deep=False).items() if name in _NET_PARAMS
    }
    net_attributes = {
        name: value
        for name, value in vars(net).items()
        if name in _NET_ATTRIBUTES and _is_plain(value)
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


# -- loading: the archive ---------------------------------------------------------------


def _check_archive(path) -> None:
    """Refuse an archive too large to read, before skops reads any of it.

    The sizes come from the zip directory (zipfile reads no more of a member than
    the size it declares) and each numpy member's header, which declares the array
    numpy allocates before it reads the data.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > _MAX_MEMBERS:
                raise _Refused(f"it has {len(members)} members, more than {_MAX_MEMBERS}")
            total = sum(m.file_size for m in members)
            if total > MAX_UNCOMPRESSED_BYTES:
                raise _Refused(
                    f"its members take {total} bytes uncompressed, more than the "
                    f"{MAX_UNCOMPRESSED_BYTES} bytes (256 MiB) a model may take"
                )
            for member in members:
                if member.filename.endswith(".npy"):
                    with archive.open(member) as file:
                        _check_npy_header(file, member)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        raise _Refused("it is not a skops file") from None


def _check_npy_header(file, member: zipfile.ZipInfo) -> None:
    fmt = np.lib.format
    version = fmt.read_magic(file)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(file)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(file)
    else:
        raise _Refused(f"its member {member.filename} is not a numpy array of a known format")
    if dtype.hasobject or math.prod(shape) * dtype.itemsize > member.file_size:
        raise _Refused(
            f"its member {member.filename} declares an array of shape {shape} and dtype "
            f"{dtype}, larger than the member's {member.file_size} bytes"
        )


# -- loading: the data ------------------------------------------------------------------


def _check_units_known(state) -> None:
    """Refuse, saying what to do, a model whose units are not registered here."""
    try:
        names = state["net"]["params"]["module__units"]
    except (KeyError, TypeError):
        return  # not a model: said below
    if type(names) is not tuple or len(names) > LIMITS["layers"]:
        return  # said below
    missing = [n for n in names if isinstance(n, str) and n not in UNITS]
    if missing:
        raise ValueError(
            f"The model uses the unit(s) {', '.join(map(repr, missing))}, which are not "
            "registered in this process: call sknalu.units.register_unit with the same "
            "name and class before load_model."
        )


def _check_state(state) -> None:
    """Check everything in ``state`` that can be checked before anything is built."""
    if type(state) is not dict or state.get("sknalu_model") != _FORMAT_VERSION:
        raise _Refused("it holds no sknalu model of this format")
    top = {"sknalu_model": _one_of(_FORMAT_VERSION), "estimator": _one_of(*_ESTIMATORS)}
    top |= {name: lambda n, v: None for name in ("params", "attributes", "history", "net")}
    _check_all("the file's entries", state, top)
    _check_all("the hyperparameters", state["params"], _PARAMS)
    params = state["params"]
    auto = params["units"] == "auto"
    attributes = state["attributes"]
    optional = ("feature_names_in_", "_exactness_evidence", *_DERIVED)
    if not auto:
        extra = [name for name in _AUTO if name in attributes]
        if extra:
            raise _Refused(f"the attribute {extra[0]!r} belongs to units='auto' only")
        optional += _AUTO
    _check_all("the fitted attributes", attributes, _ATTRIBUTES, optional)
    net = state["net"]
    net_entries = ("params", "attributes", "device", "weights")
    _check_all("the net's entries", net, {name: lambda n, v: None for name in net_entries})
    _check_all("the net's settings", net["params"], _NET_PARAMS)
    _check_all("the net's attributes", net["attributes"], _NET_ATTRIBUTES, _NET_OPTIONAL)
    _device_name("the device", net["device"])
    _check_consistency(params, attributes, net["params"])
    _check_weights(net["weights"], net["params"], params["dtype"])
    if params["dtype"] != attributes["_check_rows"].dtype.name:
        raise _Refused("_check_rows is not of the model's dtype")


def _check_consistency(params: dict, attributes: dict, net_params: dict) -> None:
    """The attributes and settings that describe one thing twice must agree."""
    module_units = net_params["module__units"]
    n_features = attributes["n_features_in_"]
    pairs = [
        ("module__in_features", net_params["module__in_features"], n_features),
        ("module__out_features", net_params["module__out_features"], attributes["n_outputs_"]),
        ("_check_rows", attributes["_check_rows"].shape[1], n_features),
    ]
    if attributes["_y_ndim"] == 1:
        pairs.append(("n_outputs_", attributes["n_outputs_"], 1))
    if "feature_names_in_" in attributes:
        pairs.append(("feature_names_in_", len(attributes["feature_names_in_"]), n_features))
    if params["units"] == "auto":
        pairs += [
            ("units_", attributes["units_"], module_units),
            ("hidden_size_", attributes["hidden_size_"], net_params["module__hidden_size"]),
        ]
    else:
        pairs += [
            ("module__hidden_size", net_params["module__hidden_size"], params["hidden_size"]),
            ("module__n_copies", net_params["module__n_copies"], params["n_restarts"]),
        ]
    for name, value, expected in pairs:
        if value != expected:
            raise _Refused(f"{name} disagrees with the rest of the model")
    if not 1 <= len(attributes["_check_rows"]) <= _CHECK_ROWS:
        raise _Refused(f"_check_rows must hold 1 to {_CHECK_ROWS} rows")
    if attributes["best_restart_"] >= net_params["module__n_copies"]:
        raise _Refused("best_restart_ is not one of the network's restarts")
    gates = attributes["_gate_ranges"]
    if len(gates) != len(module_units):
        raise _Refused("_gate_ranges must hold one entry per layer")
    evidence = attributes.get("_exactness_evidence")
    if evidence is not None and evidence[2] != params["dtype"]:
        raise _Refused("_exactness_evidence is not of the model's dtype")


def _layer_sizes(net_params: dict) -> list[tuple[int, int]]:
    n_layers = len(net_params["module__units"])
    sizes = [net_params["module__in_features"]]
    sizes += [net_params["module__hidden_size"]] * (n_layers - 1)
    sizes.append(net_params["module__out_features"])
    return list(itertools.pairwise(sizes))


def _check_weights(weights: Any, net_params: dict, dtype: str) -> None:
    """The weight arrays, and the network's shape against them, before building it."""
    if type(weights) is not dict or not weights or len(weights) > _MAX_MEMBERS:
        raise _Refused("the weights must be a dict of arrays")
    n_values = 0
    for name, array in weights.items():
        _text("the name of a weight", name)
        if not (type(array) is np.ndarray and array.dtype.name == dtype and array.ndim >= 1):
            _refuse(f"the weight {name!r}", array, f"an array of {dtype}")
        if array.shape[0] != 1:
            _refuse(f"the weight {name!r}", array, "the weights of one kept network")
        n_values += array.size
    if n_values > LIMITS["weights"]:
        raise _Refused(f"it holds {n_values} weights, more than {LIMITS['weights']}")
    # Every unit has at least one weight per input and output of its layer: a
    # network larger than the weights in the file is not the file's network.
    nominal = sum(n_in * n_out for n_in, n_out in _layer_sizes(net_params))
    if nominal > n_values:
        raise _Refused(
            f"its network ({len(net_params['module__units'])} layers, "
            f"{net_params['module__in_features']} inputs, hidden size "
            f"{net_params['module__hidden_size']}, {net_params['module__out_features']} "
            f"outputs) needs at least {nominal} weights, but the file holds {n_values}"
        )
    layers = {name.split(".")[1] for name in weights if name.startswith("layers.")}
    if layers != {str(i) for i in range(len(net_params["module__units"]))}:
        raise _Refused("the weights are not those of one layer per unit")


def _check_params(estimator: _ArithmeticRegressor, net_params: dict) -> None:
    """The estimator's own checks of its hyperparameters; its units the network's."""
    try:
        estimator._validate_params()
        units = None if estimator._auto() else _layer_units(estimator)
    except (ValueError, TypeError) as exc:
        raise _Refused(f"a hyperparameter is invalid: {exc}") from None
    if units is not None and tuple(units) != net_params["module__units"]:
        raise _Refused("module__units disagrees with the hyperparameter units")
    accepted = estimator._accepted_units()
    wrong = [u for u in net_params["module__units"] if u not in accepted]
    if wrong:
        raise _Refused(f"{type(estimator).__name__} does not take the unit {wrong[0]!r}")


# -- loading: building ------------------------------------------------------------------


def _device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        # As skorch loads a net saved on a GPU: onto the CPU, with a word.
        warnings.warn(
            "The model was saved from a CUDA device, but torch finds none here; "
            "it is loaded onto the CPU.",
            UserWarning,
            stacklevel=4,
        )
        return torch.device("cpu")
    return device


def _module_settings(net_params: dict, dtype: torch.dtype) -> dict[str, Any]:
    """The network's arguments; one copy, the one the file holds."""
    settings = {k.removeprefix("module__"): v for k, v in net_params.items() if "__" in k}
    return {**settings, "n_copies": 1, "dtype": dtype}


def _check_shapes(weights: dict, settings: dict[str, Any]) -> None:
    """The weights' shapes against those of the network, built without memory."""
    try:
        with torch.device("meta"):
            module = ArithmeticNetwork(**settings)
    except Exception:
        return  # a unit that cannot be built on the meta device: load_state_dict checks
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in weights.items()}
    if expected != got:
        raise _Refused("its weight arrays are not those of its network")


def _build_net(saved: dict, dtype: torch.dtype) -> ArithmeticNet:
    weights = saved["weights"]
    settings = _module_settings(saved["params"], dtype)
    _check_shapes(weights, settings)
    net_params = {**saved["params"], "module__n_copies": 1, "module__dtype": dtype}
    net = ArithmeticNet(ArithmeticNetwork, **net_params, device=_device(saved["device"]))
    net.initialize()
    # The fitted network is the one copy the restart selection kept.
    net.module_.keep_copy_(0)
    try:
        net.module_.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
    except RuntimeError:
        raise _Refused("its weight arrays are not those of its network") from None
    # The setting as fitted: how many restarts were trained.
    net.module__n_copies = saved["params"]["module__n_copies"]
    for name in _NET_KEPT:
        if name in saved["attributes"]:
            setattr(net, name, saved["attributes"][name])
    return net


def _checked_gate_ranges(module: ArithmeticNetwork, saved: list, rows: torch.Tensor) -> list:
    """The gates' saved ranges over all training rows, once checked against the sample.

    ``FormulaMixin._fit_formula`` measures every gate that depends on the input over
    the rows it is given; the file keeps only a sample of them, and the ranges over
    all. Those are used, once checked to hold the ranges over the sample (the sample
    is part of the training rows) and to lie in [0, 1].
    """
    from .formula._reader import gate_ranges

    measured = gate_ranges(module, rows)
    for i, (mine, theirs) in enumerate(zip(measured, saved, strict=True)):
        if (mine is None) != (theirs is None):
            raise _Refused(f"_gate_ranges[{i}] does not match the layer's gate")
        if mine is None:
            continue
        if any(np.shape(t) != np.shape(m) for t, m in zip(theirs, mine, strict=True)):
            raise _Refused(f"_gate_ranges[{i}] does not match the layer's gate")
        (lo, hi), (my_lo, my_hi) = theirs, mine
        with np.errstate(invalid="ignore"):
            holds = (lo <= my_lo) & (hi >= my_hi) & (lo >= 0) & (hi <= 1)
        if not (holds | np.isnan(lo) | np.isnan(hi)).all():
            raise _Refused(f"_gate_ranges[{i}] does not hold the gate's range on _check_rows")
    return [None if theirs is None else tuple(theirs) for theirs in saved]


def _recompute_formula_state(estimator: _ArithmeticRegressor, attributes: dict) -> None:
    """The sparsity error, exactness and formula state, computed as ``fit`` does."""
    rows = attributes["_check_rows"]
    module = estimator.net_.module_
    param = next(module.parameters())
    X = torch.as_tensor(rows, dtype=param.dtype, device=param.device)
    estimator._fit_formula(X, _checked_gate_ranges(module, attributes["_gate_ranges"], X))
    # fit keeps a sample of its rows: the file's rows must be that sample of themselves.
    if not np.array_equal(estimator._check_rows, rows, equal_nan=True):
        raise _Refused("_check_rows holds more rows than a fit keeps")


def _from_state(state, path) -> _ArithmeticRegressor:
    """The estimator that :func:`_state` turned into ``state``, once it is checked."""
    _check_units_known(state)
    try:
        _check_state(state)
        params, attributes, saved = state["params"], state["attributes"], state["net"]
        estimator = _ESTIMATORS[state["estimator"]](**params)
        _check_params(estimator, saved["params"])
        history = _history(state["history"])
        net = _build_net(saved, _DTYPES[params["dtype"]])
        for name, value in attributes.items():
            if name in _KEPT:
                setattr(estimator, name, value)
        net.history = History(history)
        estimator.net_ = net
        estimator.history_ = net.history
        _recompute_formula_state(estimator, attributes)
    except _Refused as exc:
        raise _InvalidModel(path, str(exc)) from None
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError):
        # Checked data the network still cannot take: a version mismatch, or an
        # edited file. Nothing in it can have run code; it just is no model.
        raise _InvalidModel(path) from None
    return estimator


# -- scikit-learn models holding sknalu estimators --------------------------------------

#: What a swap returns to keep a value and look inside it.
_KEEP = object()


def _is_sknalu(value: Any) -> bool:
    return type(value) in _ESTIMATORS.values()


def _is_sklearn(value: Any) -> bool:
    """Whether ``value`` is an estimator of a class defined in scikit-learn itself."""
    return isinstance(value, BaseEstimator) and type(value).__module__.startswith("sklearn.")


def _swap(value: Any, swap: Callable[[Any], Any], depth: int = 0) -> Any:
    """``value`` with ``swap`` applied to it and to everything it holds.

    ``swap`` returns what to put in place of a value, or ``_KEEP`` to keep the value
    and look inside it: into lists, tuples and dicts, and into the attributes of
    scikit-learn's estimators. Containers and estimators are copied, never changed.
    """
    swapped = swap(value)
    if swapped is not _KEEP:
        return swapped
    if depth >= _MAX_DEPTH:
        raise _Refused(f"it nests estimators and containers more than {_MAX_DEPTH} deep")
    if type(value) in (list, tuple):
        return type(value)(_swap(item, swap, depth + 1) for item in value)
    if type(value) is dict:
        return {key: _swap(item, swap, depth + 1) for key, item in value.items()}
    if _is_sklearn(value):
        new = copy.copy(value)
        vars(new).update({k: _swap(v, swap, depth + 1) for k, v in vars(value).items()})
        return new
    return value


def _params_state(estimator: _ArithmeticRegressor) -> dict[str, Any]:
    """An unfitted estimator held by a model (``TransformedTargetRegressor.regressor``)."""
    params = _plain_or_raise(estimator.get_params(deep=False), "hyperparameter", estimator)
    return {
        "sknalu_model": _FORMAT_VERSION,
        "estimator": type(estimator).__name__,
        "params": params,
    }


def _composite_state(model: BaseEstimator) -> dict[str, Any]:
    """A scikit-learn model with each sknalu estimator in it replaced by its data."""
    check_is_fitted(model)
    found = []

    def to_data(value):
        if _is_sknalu(value):
            found.append(value)
            return _state(value) if hasattr(value, "net_") else _params_state(value)
        return _KEEP

    try:
        data = _swap(model, to_data)
    except _Refused as exc:
        raise ValueError(f"save_model cannot save this {type(model).__name__}: {exc}") from None
    if not found:
        raise TypeError(
            f"save_model saves models that hold a sknalu estimator; this "
            f"{type(model).__name__} holds none (save it with skops.io)."
        )
    return {"sknalu_composite": _COMPOSITE_VERSION, "model": data}


def _from_params_state(state: dict) -> _ArithmeticRegressor:
    """The unfitted estimator of :func:`_params_state`, once checked."""
    entries = {"sknalu_model": _one_of(_FORMAT_VERSION), "estimator": _one_of(*_ESTIMATORS)}
    _check_all("an unfitted estimator's entries", state, {**entries, "params": lambda n, v: None})
    _check_all("the hyperparameters", state["params"], _PARAMS)
    estimator = _ESTIMATORS[state["estimator"]](**state["params"])
    try:
        estimator._validate_params()
    except (ValueError, TypeError) as exc:
        raise _Refused(f"a hyperparameter is invalid: {exc}") from None
    return estimator


def _from_composite(state: dict, path) -> BaseEstimator:
    """The scikit-learn model of :func:`_composite_state`, each sknalu estimator checked."""
    found = []

    def to_estimator(value):
        if type(value) is dict and "sknalu_model" in value:
            found.append(value)
            if "attributes" in value:
                return _from_state(value, path)
            return _from_params_state(value)
        return _KEEP

    try:
        entries = {"sknalu_composite": _one_of(_COMPOSITE_VERSION), "model": lambda n, v: None}
        _check_all("the file's entries", state, entries)
        if not _is_sklearn(state["model"]):
            raise _Refused(f"it holds {_describe(state['model'])}, not a scikit-learn model")
        model = _swap(state["model"], to_estimator)
        if not found:
            raise _Refused("it holds no sknalu estimator")
    except _Refused as exc:
        raise _InvalidModel(path, str(exc)) from None
    except (KeyError, TypeError, AttributeError):
        raise _InvalidModel(path) from None
    return model


def _saved_state(model) -> dict[str, Any]:
    """What :func:`save_model` writes for ``model``."""
    if _is_sknalu(model) or isinstance(model, _ArithmeticRegressor):
        return _state(model)
    if _is_sklearn(model):
        return _composite_state(model)
    raise TypeError(
        "save_model saves NMURegressor and NALURegressor, and scikit-learn models "
        f"that hold them (a Pipeline, ...), got {type(model).__name__}."
    )


def save_model(estimator: _ArithmeticRegressor | BaseEstimator, path: str | os.PathLike) -> None:
    """Save a fitted estimator to a skops file that is safe to load from anywhere.

    The file holds the estimator's hyperparameters, the fitted attributes that are
    data (what the formula is checked on among them), its history and the weights of
    its network, all as plain data (numbers, strings and numpy arrays), so that
    :func:`load_model` reads it without running code from it. Use it for models you
    share or receive; joblib and pickle files run code when loaded and are only for
    files you trust.

    A scikit-learn model holding sknalu estimators (a ``Pipeline`` of scikit-learn's
    transformers ending in one, a ``TransformedTargetRegressor`` around one, ...)
    is saved too: each sknalu estimator as above, the rest as skops writes it, of
    types skops trusts by default only (a transformer of one's own is refused).

    Parameters
    ----------
    estimator : NMURegressor, NALURegressor or scikit-learn estimator
        A fitted estimator, with plain hyperparameters: an ``optimizer`` given by
        name, no ``callbacks``, an int or None as ``random_state``; or a fitted
        scikit-learn model that holds such estimators.
    path : str or path-like
        Where to write; the extension ``.skops`` is the convention.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        When the estimator has not been fitted.
    TypeError
        When the estimator is of another class, a scikit-learn model holds no sknalu
        estimator or a type skops does not trust (named in the message), or a
        hyperparameter or fitted attribute is not plain data (its name is in the
        message).

    See Also
    --------
    load_model : Load the estimator back.

    Notes
    -----
    The loaded estimator predicts exactly as the saved one and has the same
    hyperparameters, fitted attributes, formula and history. Its ``net_`` is
    rebuilt around the kept network; the optimiser's state and the callbacks, which
    only matter while fitting, are not saved (``fit`` starts from scratch anyway).
    What follows from the weights (``sparsity_error_``, ``formula_exact_``,
    ``formula_``) is not saved but computed again when the model is loaded.
    Attributes set on the estimator by hand are not saved.

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

    state = _saved_state(estimator)
    try:
        data = skops.io.dumps(state)
    except Exception as exc:  # skops cannot write the type of something in a model
        raise TypeError(f"save_model cannot write this model: {exc}") from None
    untrusted = set(skops.io.get_untrusted_types(data=data)) - set(SKOPS_TRUSTED_TYPES)
    if untrusted:
        raise TypeError(
            f"save_model would write types that load_model refuses: {sorted(untrusted)}. "
            "A model may hold scikit-learn's own estimators and sknalu's; save one of "
            "your own classes with joblib (only for files you trust)."
        )
    Path(path).write_bytes(data)


def load_model(path: str | os.PathLike) -> _ArithmeticRegressor | BaseEstimator:
    """Load an estimator saved by :func:`save_model`.

    The file is checked before anything in it is built, so that loading a file
    from elsewhere can neither run its code nor exhaust the memory:

    - a file holding any type skops does not trust by default (and
      :data:`SKOPS_TRUSTED_TYPES` does not name) is refused;
    - the archive's members may take at most :data:`MAX_UNCOMPRESSED_BYTES`
      (256 MiB) uncompressed, and each numpy array must fit in its member; both
      are read from the archive's directory and the arrays' headers first;
    - the hyperparameters, fitted attributes and the net's settings and attributes
      must be exactly those a fitted estimator of this version has, each of its
      type and range (no callables, estimators or other objects), and the network's
      shape must be within :data:`LIMITS` and match the weight arrays in the file;
    - in a scikit-learn model (a ``Pipeline``, ...), every part besides the sknalu
      estimators is of a type skops trusts by default (scikit-learn's own
      estimators, numpy's functions), and each sknalu estimator is checked as
      above.

    What follows from the weights is not read from the file but computed again:
    ``sparsity_error_``, ``formula_exact_``, ``formula_`` and the formula's private
    state, by the code ``fit`` runs, on the sample of training rows the model keeps.
    ``validation_score_`` and ``validation_loss_``, measured on held-out rows the
    model does not keep, are checked to be floats in range.

    Parameters
    ----------
    path : str or path-like
        A skops file written by :func:`save_model`.

    Returns
    -------
    NMURegressor, NALURegressor or scikit-learn estimator
        The fitted estimator, or the scikit-learn model (a ``Pipeline``, ...) that
        holds such estimators, each of them checked and rebuilt as above.

    Raises
    ------
    skops.io.exceptions.UntrustedTypesFoundException
        When the file holds types that are not trusted; nothing of it was built.
    ValueError
        When the file is not a skops file, is too large, or is not one written by
        :func:`save_model`; the message names the attribute or limit at fault. Also
        when the model's units are not registered in this process.
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
        _check_archive(path)
    except _Refused as exc:
        raise _InvalidModel(path, str(exc)) from None
    try:
        state = skops.io.load(path, trusted=list(SKOPS_TRUSTED_TYPES))
    except UntrustedTypesFoundException:
        raise
    except Exception:  # a file that is not a skops archive fails in many ways
        raise _InvalidModel(path) from None
    if type(state) is dict and "sknalu_composite" in state:
        return _from_composite(state, path)
    return _from_state(state, path)
