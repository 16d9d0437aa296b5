"""The arithmetic units as plain torch modules, and the registry of their names.

Each family of units has its module: the sums (:class:`NAU`, :class:`Linear`,
:class:`Weighted`) in ``_sums``, the products (:class:`NMU`, :class:`NMRU`,
:class:`RealNPU`) in ``_products``, and Trask et al.'s accumulators
(:class:`NAC`, :class:`NACMul`, :class:`NALU`, :class:`INALU`) in ``_nac``, and
the functions of sums (:class:`FunctionUnit`) in ``_functions``. They
share the base class :class:`ArithmeticUnit` (``_base``), its discrete targets
(``_targets``) and its regularisers (``_regularizers``); ``_registry`` holds the
names the estimators' ``units`` hyperparameter takes.
"""

from ..exact._least_squares import least_squares, log_least_squares
from ._base import ArithmeticUnit
from ._functions import ALL_FUNCTIONS, FUNCTIONS, FunctionUnit, check_functions
from ._nac import INALU, NAC, NALU, NACMul, nac_init_range
from ._products import NMRU, NMU, RealNPU, powers_of_sums
from ._registry import (
    BUILTIN_UNITS,
    UNIT_FAMILIES,
    UNITS,
    register_unit,
    units_of_family,
    unregister_unit,
)
from ._sums import NAU, Linear, Weighted
from ._targets import BINARY, SIGNED, DiscreteWeight, nearest_target

__all__ = [
    "ALL_FUNCTIONS",
    "BINARY",
    "BUILTIN_UNITS",
    "FUNCTIONS",
    "INALU",
    "NAC",
    "NALU",
    "NAU",
    "NMRU",
    "NMU",
    "SIGNED",
    "UNITS",
    "UNIT_FAMILIES",
    "ArithmeticUnit",
    "DiscreteWeight",
    "FunctionUnit",
    "Linear",
    "NACMul",
    "RealNPU",
    "Weighted",
    "check_functions",
    "least_squares",
    "log_least_squares",
    "nac_init_range",
    "nearest_target",
    "powers_of_sums",
    "register_unit",
    "units_of_family",
    "unregister_unit",
]
