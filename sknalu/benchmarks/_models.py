"""The models of the benchmark and how their parameters are set."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.neural_network import MLPRegressor

from .. import NALURegressor, NMURegressor
from ._task import check_op

__all__ = [
    "MODELS",
    "PAPER_MODELS",
    "ModelSpec",
    "check_model",
    "make_model",
    "parse_param",
    "route",
    "route_params",
]


@dataclass(frozen=True)
class ModelSpec:
    """A benchmark model: an estimator class and the parameters that define it.

    Parameters
    ----------
    name : str
        The name in reports, as in the papers' tables.
    estimator : type
        The scikit-learn estimator class.
    params : dict
        Parameters that make the estimator this model; every other parameter keeps
        the estimator's default.
    """

    name: str
    estimator: type
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def arithmetic(self) -> bool:
        """Whether the model is a network of arithmetic units (not the MLP)."""
        return issubclass(self.estimator, (NMURegressor, NALURegressor))


#: The benchmark's models by key. NMU and NAU are the pairings of Madsen & Johansen
#: (2020): NAU → NMU for products, NAU → NAU for sums.
MODELS: dict[str, ModelSpec] = {
    "nmu": ModelSpec("NMU", NMURegressor, {"units": ("nau", "nmu")}),
    "nau": ModelSpec("NAU", NMURegressor, {"units": ("nau", "nau")}),
    "nac": ModelSpec("NAC+", NALURegressor, {"units": "nac"}),
    "nac_mul": ModelSpec("NAC•", NALURegressor, {"units": ("nac", "nac_mul")}),
    "nalu": ModelSpec("NALU", NALURegressor, {"units": "nalu"}),
    "linear": ModelSpec("Linear", NALURegressor, {"units": "linear"}),
    # Not in the papers' tables: the units that learn ÷, powers and roots.
    "nmru": ModelSpec("NMRU", NMURegressor, {"units": ("nau", "nmru")}),
    "npu": ModelSpec("Real NPU", NALURegressor, {"units": ("nau", "npu")}),
    "mlp": ModelSpec("MLP", MLPRegressor, {}),
}

#: The models each operation is run with when none are named: those of the papers'
#: tables (Madsen & Johansen 2020, table 1) for +, − and ×; for the others the
#: papers' multiplicative units and the units that can express the operation
#: (NMRU for ÷, Real NPU for ÷, powers and roots).
PAPER_MODELS: dict[str, tuple[str, ...]] = {
    "add": ("nau", "nac", "linear", "nalu"),
    "sub": ("nau", "nac", "linear", "nalu"),
    "mul": ("nmu", "nac_mul", "nalu"),
    "div": ("nmru", "npu", "nmu", "nac_mul", "nalu"),
    "square": ("nmu", "npu", "nac_mul", "nalu"),
    "sqrt": ("npu", "nmu", "nac_mul", "nalu"),
}

#: Parameters the benchmark sets itself, per run.
_RESERVED = {
    "random_state": "it is derived from the seed",
    "callbacks": "the benchmark adds its own monitor",
    "validation_fraction": "the validation rows are set with n_valid",
}


def check_model(model: str) -> str:
    """The key of a model of :data:`MODELS`, from its key or report name.

    Parameters
    ----------
    model : str
        A key or report name, in any case.

    Returns
    -------
    str
        The key.

    Examples
    --------
    >>> check_model("NAC+"), check_model("NMU"), check_model("nac_mul")
    ('nac', 'nmu', 'nac_mul')
    """
    if isinstance(model, str):
        key = model.strip()
        if key.lower() in MODELS:
            return key.lower()
        aliases = {spec.name.lower(): k for k, spec in MODELS.items()}
        aliases["nac*"] = "nac_mul"
        if key.lower() in aliases:
            return aliases[key.lower()]
    raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}.")


def parse_param(text: str) -> tuple[str, Any]:
    """Read ``"[MODEL.]NAME=VALUE"``; the value as a Python literal, else a string.

    Parameters
    ----------
    text : str
        The parameter as written on the command line.

    Returns
    -------
    name : str
        ``NAME`` or ``MODEL.NAME``.
    value : object
        The value.

    Examples
    --------
    >>> parse_param("max_steps=20000")
    ('max_steps', 20000)
    >>> parse_param("nmu.units=('nau', 'nmu')")
    ('nmu.units', ('nau', 'nmu'))
    >>> parse_param("optimizer=adamw")
    ('optimizer', 'adamw')
    """
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(
            f"a parameter must be written NAME=VALUE or MODEL.NAME=VALUE, got {text!r}."
        )
    try:
        return name, ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        return name, value.strip()


def route_params(
    params: Mapping[str, Any] | None, models: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Send parameter overrides to the models that have them.

    ``"NAME"`` goes to every one of ``models`` whose estimator has that parameter;
    ``"MODEL.NAME"`` to that model only. A name none of them has is an error, so a
    typo never passes silently.

    Parameters
    ----------
    params : mapping of str to object or None
        The overrides.
    models : iterable of str
        Keys of :data:`MODELS`.

    Returns
    -------
    dict
        Model key → the parameters to set on it.

    Examples
    --------
    >>> route_params({"max_steps": 100, "mlp.max_iter": 5}, ["nmu", "mlp"])
    {'nmu': {'max_steps': 100}, 'mlp': {'max_iter': 5}}
    """
    models = [check_model(m) for m in models]
    accepted = {m: set(MODELS[m].estimator().get_params(deep=False)) for m in models}
    routed = route(params, accepted, _RESERVED, resolve=check_model)
    return {m: p for m, p in routed.items() if p}


def route(
    params: Mapping[str, Any] | None,
    accepted: Mapping[str, set],
    reserved: Mapping[str, str],
    plain: Iterable[str] | None = None,
    resolve=lambda model: model,
) -> dict[str, dict[str, Any]]:
    """Send ``NAME=VALUE`` to the models of ``plain`` that take ``NAME``, ``MODEL.NAME`` to one.

    A name no model takes, a reserved name or a model not run is an error, so a
    typo never passes silently.

    Parameters
    ----------
    params : mapping of str to object or None
        The overrides, ``"NAME"`` or ``"MODEL.NAME"`` to the value.
    accepted : mapping of str to set
        Each model run, to the parameters it takes.
    reserved : mapping of str to str
        The names no one may set, to the reason.
    plain : iterable of str or None, default=None
        The models ``"NAME"`` goes to; all of ``accepted`` when None.
    resolve : callable, default=identity
        Turns a name written before the dot into a model key.

    Returns
    -------
    dict
        Every model run, to its parameters (maybe none).
    """
    models = list(accepted)
    plain = models if plain is None else [m for m in models if m in set(plain)]
    routed: dict[str, dict[str, Any]] = {m: {} for m in models}
    for key, value in (params or {}).items():
        target, _, name = key.rpartition(".")
        if name in reserved:
            raise ValueError(f"the parameter {name!r} cannot be set: {reserved[name]}.")
        if target:
            target = resolve(target)
            if target not in routed:
                raise ValueError(
                    f"the parameter {key!r} is for the model {target!r}, which is not run "
                    f"(models: {', '.join(models)})."
                )
            targets = [target] if name in accepted[target] else []
        else:
            targets = [m for m in plain if name in accepted[m]]
        if not targets and target:
            raise ValueError(f"the model {target!r} has no parameter {name!r}.")
        if not targets and len(plain) == len(models):
            raise ValueError(f"any of the models {', '.join(models)} has no parameter {name!r}.")
        if not targets:
            raise ValueError(
                f"no sknalu model of the run ({', '.join(plain) or 'none'}) has the "
                f"parameter {name!r}; write MODEL.{name}=VALUE to set it on another model."
            )
        for m in targets:
            routed[m][name] = value
    return routed


def make_model(
    model: str, params: Mapping[str, Any] | None = None, random_state=None
) -> BaseEstimator:
    """A fresh estimator for a benchmark model.

    Parameters
    ----------
    model : str
        A key (or report name) of :data:`MODELS`.
    params : mapping or None, default=None
        Parameters to set on top of the model's own (see :func:`route_params`).
    random_state : int or None, default=None
        Seed of the estimator.

    Returns
    -------
    estimator
        The unfitted estimator.

    Examples
    --------
    >>> make_model("nau", {"max_steps": 100}).get_params()["units"]
    ('nau', 'nau')
    """
    spec = MODELS[check_model(model)]
    return spec.estimator(**{**spec.params, **(params or {}), "random_state": random_state})


def models_for(op: str, models: Iterable[str] | Mapping[str, Iterable[str]] | None) -> list[str]:
    """The model keys to run on ``op``: the papers' when ``models`` is None.

    Parameters
    ----------
    op : str
        The operation.
    models : iterable of str, mapping or None
        Models for every operation, a mapping from operation to models, or None.

    Returns
    -------
    list of str
        The keys, each once.
    """
    op = check_op(op)
    if models is None:
        return list(PAPER_MODELS[op])
    if isinstance(models, str):
        models = [models]
    if isinstance(models, Mapping):
        chosen = {check_op(k): v for k, v in models.items()}
        if op not in chosen:
            raise ValueError(f"models names no model for the operation {op!r}.")
        models = [chosen[op]] if isinstance(chosen[op], str) else chosen[op]
    keys = [check_model(m) for m in models]
    return list(dict.fromkeys(keys))
