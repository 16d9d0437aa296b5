"""What the benchmark suites share: checks of their arguments, fits on one thread."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from numbers import Integral
from typing import Any

import torch
from sklearn.utils._param_validation import Interval, validate_parameter_constraints
from threadpoolctl import threadpool_limits

__all__ = ["check_count", "seed_list", "single_threaded"]


def check_count(caller: str, name: str, value: Any, minimum: int) -> int:
    """Check an integer argument of a benchmark function; return it as an int.

    Parameters
    ----------
    caller : str
        The benchmark function (or class) the argument is given to.
    name : str
        The argument's name.
    value : object
        The argument.
    minimum : int
        The smallest value allowed.

    Returns
    -------
    int
        ``value``.

    Raises
    ------
    ValueError
        When ``value`` is no integer of at least ``minimum``, worded as scikit-learn
        words a wrong estimator parameter (its ``InvalidParameterError``).

    Examples
    --------
    >>> check_count("run_benchmark", "seeds", 3, 1)
    3
    >>> try:
    ...     check_count("run_benchmark", "seeds", 0, 1)
    ... except ValueError as error:
    ...     print(error)
    The 'seeds' parameter of run_benchmark must be an int in the range [1, inf). Got 0 instead.
    """
    integers = Interval(Integral, minimum, None, closed="left")
    validate_parameter_constraints({name: [integers]}, {name: value}, caller_name=caller)
    return int(value)


def seed_list(caller: str, seeds: int | Sequence[int]) -> list[int]:
    """The seeds of a suite: ``0 .. N-1`` for a count ``N``, else the seeds given.

    Parameters
    ----------
    caller : str
        The suite's function, named in the error.
    seeds : int or sequence of int
        A count of at least 1, or the seeds themselves.

    Returns
    -------
    list of int
        The seeds.

    Examples
    --------
    >>> seed_list("run_operations", 3), seed_list("run_operations", [7, 9])
    ([0, 1, 2], [7, 9])
    """
    if isinstance(seeds, int):
        return list(range(check_count(caller, "seeds", seeds, 1)))
    return list(seeds)


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run a benchmark fit, and its predictions, on one CPU thread.

    Fits of different models run side by side (``n_jobs``) and are timed: one
    thread each keeps the cores from being oversubscribed and the times comparable.
    torch's threads and those of the BLAS and OpenMP libraries
    (:func:`threadpoolctl.threadpool_limits`) are limited, then restored.

    Yields
    ------
    None

    Examples
    --------
    >>> with single_threaded():
    ...     torch.get_num_threads()
    1
    """
    torch_threads = torch.get_num_threads()
    with threadpool_limits(limits=1):
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(torch_threads)
