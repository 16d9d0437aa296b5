"""The arithmetic units as plain torch modules, and the registry of their names.

Everything here is defined in :mod:`sknalu._units`; this module is its public face.
"""

from . import _units
from ._units import *  # noqa: F403

__all__ = list(_units.__all__)
