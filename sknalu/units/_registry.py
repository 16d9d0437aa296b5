"""The names the estimators' ``units`` hyperparameter takes.

The built-in units stand in a read-only table, :data:`BUILTIN_UNITS`. A user's
unit is added with :func:`register_unit`; :data:`UNITS` is a read-only view of
both. A registration lives in the process that made it: the estimators carry
their registrations into joblib workers (:func:`user_registrations` and
:func:`restore_registrations`), and :func:`sknalu.load_model` refuses, with a
message that says what to register, a file whose units are not registered in
the process that loads it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType

from torch import nn

from ._base import ArithmeticUnit
from ._functions import FunctionUnit
from ._nac import INALU, NAC, NALU, NACMul
from ._products import NMRU, NMU, RealNPU
from ._sums import NAU, Linear, Weighted

#: The estimators a unit can belong to: ``"nmu"`` for :class:`~sknalu.NMURegressor`,
#: ``"nalu"`` for :class:`~sknalu.NALURegressor`.
FAMILIES = ("nmu", "nalu")

#: The built-in units: name -> (class, families), in the order the estimators list them.
_BUILTIN: dict[str, tuple[type[ArithmeticUnit], tuple[str, ...]]] = {
    "nau": (NAU, ("nmu", "nalu")),
    "nmu": (NMU, ("nmu",)),
    "nmru": (NMRU, ("nmu",)),
    "nalu": (NALU, ("nalu",)),
    "nac": (NAC, ("nalu",)),
    "nac_mul": (NACMul, ("nalu",)),
    "inalu": (INALU, ("nalu",)),
    "npu": (RealNPU, ("nalu",)),
    "linear": (Linear, ("nmu", "nalu")),
    "weighted": (Weighted, ("nmu", "nalu")),
    "function": (FunctionUnit, ("nmu", "nalu")),
}
#: The built-in units by name; read-only.
BUILTIN_UNITS: Mapping[str, type[ArithmeticUnit]] = MappingProxyType(
    {name: unit for name, (unit, _) in _BUILTIN.items()}
)

_units: dict[str, type[ArithmeticUnit]] = dict(BUILTIN_UNITS)
_families: dict[str, tuple[str, ...]] = {name: fam for name, (_, fam) in _BUILTIN.items()}
#: Every unit by name, built-in and registered; a read-only view.
UNITS: Mapping[str, type[ArithmeticUnit]] = MappingProxyType(_units)
#: The families each named unit belongs to; a read-only view.
UNIT_FAMILIES: Mapping[str, tuple[str, ...]] = MappingProxyType(_families)


def register_unit(name: str, unit: type[ArithmeticUnit], families: Sequence[str]) -> None:
    """Make a unit available by name to the estimators of ``families``.

    The registration holds in this process, and in the joblib workers of the
    estimators' own parallel fits; a model file saved with the unit loads in
    another process once the unit is registered there too.

    Parameters
    ----------
    name : str
        The name the estimators' ``units`` hyperparameter takes; not the name of a
        built-in unit.
    unit : subclass of ArithmeticUnit
        The unit.
    families : sequence of {"nmu", "nalu"}
        Which estimators accept it: ``"nmu"`` for :class:`~sknalu.NMURegressor`,
        ``"nalu"`` for :class:`~sknalu.NALURegressor`.

    Examples
    --------
    >>> units_of_family("nmu")
    ('nau', 'nmu', 'nmru', 'linear', 'weighted', 'function')
    """
    if not (isinstance(unit, type) and issubclass(unit, ArithmeticUnit)):
        raise TypeError(f"unit must be a subclass of ArithmeticUnit, got {unit!r}.")
    if isinstance(families, str):
        families = (families,)
    unknown = set(families) - set(FAMILIES)
    if unknown or not families:
        raise ValueError(f"families must name 'nmu' and/or 'nalu', got {families!r}.")
    if not isinstance(name, str) or not name or name == "auto":
        raise ValueError(f"name must be a non-empty string other than 'auto', got {name!r}.")
    if name in BUILTIN_UNITS:
        raise ValueError(f"{name!r} is a built-in unit; register yours under another name.")
    _units[name] = unit
    _families[name] = tuple(families)


def unregister_unit(name: str) -> None:
    """Remove a unit added with :func:`register_unit`."""
    if name in BUILTIN_UNITS:
        raise ValueError(f"{name!r} is a built-in unit and cannot be removed.")
    if name not in _units:
        raise ValueError(f"No unit named {name!r} is registered.")
    del _units[name], _families[name]


def units_of_family(family: str) -> tuple[str, ...]:
    """The names of the units of one family, built-in ones first, then in registration order."""
    return tuple(name for name, families in _families.items() if family in families)


def user_registrations() -> dict[str, tuple[type[ArithmeticUnit], tuple[str, ...]]]:
    """The units registered in this process beyond the built-in ones."""
    return {n: (_units[n], _families[n]) for n in _units if n not in BUILTIN_UNITS}


def restore_registrations(registrations: Mapping) -> None:
    """Register, where they are missing, the units of :func:`user_registrations`."""
    for name, (unit, families) in registrations.items():
        if _units.get(name) is not unit:
            register_unit(name, unit, families)


def iter_units(module: nn.Module) -> Iterator[ArithmeticUnit]:
    """Every arithmetic unit inside ``module``."""
    return (m for m in module.modules() if isinstance(m, ArithmeticUnit))
