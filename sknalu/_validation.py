"""Checking parameters: one mechanism, scikit-learn's parameter constraints.

The estimators declare ``_parameter_constraints`` and scikit-learn's
``BaseEstimator._validate_params`` checks them in ``fit``; functions check theirs
with :func:`check_params`, through the same constraint objects, so that every
integer and real parameter of sknalu is checked, and its error worded, one way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from numbers import Integral, Real
from typing import Any

import torch
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from threadpoolctl import threadpool_limits

__all__ = [
    "NON_NEGATIVE",
    "Interval",
    "StrOptions",
    "at_least",
    "check_count",
    "check_params",
    "one_cpu_thread",
    "store_params",
]


def at_least(minimum: int) -> Interval:
    """The integers from ``minimum`` up."""
    return Interval(Integral, minimum, None, closed="left")


def check_params(caller: str, constraints: dict[str, list], **values: Any) -> None:
    """Check ``values`` against ``constraints``, as the estimators' parameters are.

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        A ``ValueError`` (and ``TypeError``) naming the parameter, what it must be,
        and the value it got.

    Examples
    --------
    >>> try:
    ...     check_params("run", {"seeds": [at_least(1)]}, seeds=0)
    ... except ValueError as error:
    ...     print(error)
    The 'seeds' parameter of run must be an int in the range [1, inf). Got 0 instead.
    """
    validate_parameter_constraints(constraints, values, caller_name=caller)


def check_count(caller: str, name: str, value: Any, minimum: int) -> int:
    """Check that ``value`` is an integer of at least ``minimum``; return it as an int.

    Examples
    --------
    >>> check_count("run", "n_test", 10, 1)
    10
    """
    check_params(caller, {name: [at_least(minimum)]}, **{name: value})
    return int(value)


def store_params(obj: Any, params: dict[str, Any], exclude: tuple[str, ...] = ()) -> None:
    """Store ``__init__``'s arguments (its ``locals()``) unchanged as attributes.

    scikit-learn's and skorch's convention: ``__init__`` stores its arguments and
    nothing else, so that ``get_params`` and ``set_params`` find them.
    """
    for name, value in params.items():
        if name not in ("self", "__class__", *exclude):
            setattr(obj, name, value)


#: A finite real number of at least 0.
NON_NEGATIVE = Interval(Real, 0, None, closed="left")


@contextlib.contextmanager
def one_cpu_thread(device: torch.device | str = "cpu") -> Iterator[None]:
    """Run torch's and the BLAS libraries' CPU work on one thread, then restore them.

    The tensors of these networks are far too small for intra-op parallelism to
    pay: waking a second thread for every small operation made a CPU fit about a
    quarter slower, and it oversubscribes the cores when fits run side by side.
    Nothing changes for a device other than the CPU.
    """
    if torch.device(device).type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(previous)
