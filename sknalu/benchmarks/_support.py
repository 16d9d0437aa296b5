"""What the benchmark suites share: checks of their arguments, fits on one thread,
their progress, and running them on a dask.distributed scheduler."""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Iterable, Iterator, Sequence
from numbers import Integral
from typing import Any

import joblib
import torch
from sklearn.utils._param_validation import Interval, validate_parameter_constraints
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

__all__ = [
    "SCHEDULER_WAIT",
    "SchedulerUnreachable",
    "check_count",
    "dask_client",
    "on_scheduler",
    "progress_bar",
    "run_jobs",
    "seed_list",
    "single_threaded",
]

#: Seconds to wait for a dask.distributed scheduler before giving up on it.
SCHEDULER_WAIT = 10.0
#: The port of a scheduler address that names none (dask.distributed's default).
_SCHEDULER_PORT = 8786


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


def progress_bar(total: int | None, what: str, unit: str = "fit") -> tqdm:
    """A progress bar on standard error, drawn on a terminal only.

    Where standard error is a file or a pipe the bar draws nothing at all, so that a
    log holds no carriage returns or escape codes (tqdm's ``disable=None``); in a
    notebook it is a widget.

    Parameters
    ----------
    total : int or None
        Steps to the end, or None when unknown.
    what : str
        The bar's description, e.g. ``"operations"``.
    unit : str, default="fit"
        What one step is.

    Returns
    -------
    tqdm
        The bar; use it as a context manager and call its ``update``.

    Examples
    --------
    >>> bar = progress_bar(3, "fits")
    >>> bar.disable  # standard error is no terminal here: the bar draws nothing
    True
    >>> bar.close()
    """
    return tqdm(total=total, desc=what, unit=unit, disable=None, file=sys.stderr)


def _indexed(index: int, function, args, kwargs):
    return index, function(*args, **kwargs)


def run_jobs(jobs: Iterable, n_jobs: int | None = 1, *, what: str = "fits", verbose: int = 0):
    """Run joblib's delayed calls, a progress bar counting those done; their results.

    The calls run through :class:`joblib.Parallel` with the joblib backend in force
    (that of :func:`on_scheduler` inside it). The bar (:func:`progress_bar`) counts
    the calls as they finish, in any order; the results come back in the order of
    ``jobs``.

    Parameters
    ----------
    jobs : iterable of delayed calls
        ``joblib.delayed(function)(*args, **kwargs)`` each.
    n_jobs : int or None, default=1
        Calls at once (joblib's ``n_jobs``).
    what : str, default="fits"
        The bar's description.
    verbose : int, default=0
        joblib's own verbosity.

    Returns
    -------
    list
        The calls' results, in the order of ``jobs``.

    Examples
    --------
    >>> run_jobs([joblib.delayed(pow)(2, n) for n in range(4)])
    [1, 2, 4, 8]
    """
    jobs = list(jobs)
    try:
        parallel = joblib.Parallel(n_jobs=n_jobs, verbose=verbose, return_as="generator_unordered")
    except ValueError:  # a backend that returns no generator (multiprocessing)
        return joblib.Parallel(n_jobs=n_jobs, verbose=verbose)(jobs)
    results = [None] * len(jobs)
    calls = (
        joblib.delayed(_indexed)(i, function, args, kwargs)
        for i, (function, args, kwargs) in enumerate(jobs)
    )
    with progress_bar(len(jobs), what) as bar:
        for index, result in parallel(calls):
            results[index] = result
            bar.update()
    return results


class SchedulerUnreachable(ConnectionError):
    """No dask.distributed scheduler answers at the address given."""


def _probe(address: str, wait: float) -> None:
    """Fail at once where no dask scheduler listens at a TCP address.

    dask.distributed retries a refused connection until its timeout, and waits on a
    server of another kind (the dashboard's web server, ...) for ever; a plain socket
    is refused at once, and a scheduler speaks first when a connection opens. Other
    protocols are left to dask.distributed.
    """
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    scheme, location = parse_address(address)
    if scheme != "tcp":
        return
    host, port = parse_host_port(location, default_port=_SCHEDULER_PORT)
    with socket.create_connection((host, port), timeout=wait) as connection:
        try:
            greeting = connection.recv(1)
        except TimeoutError:
            greeting = b""
    if not greeting:
        raise ConnectionError("something listens there, but no dask scheduler answers")


def _reason(exc: Exception) -> str:
    """Why a scheduler could not be reached, in words that do not depend on the system."""
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(exc, socket.gaierror):
        return "no such host"
    if isinstance(exc, TimeoutError):
        return "no answer"
    return str(exc) or type(exc).__name__


@contextlib.contextmanager
def dask_client(scheduler, wait: float = SCHEDULER_WAIT) -> Iterator[Any]:
    """A client of the dask.distributed scheduler ``scheduler``, closed at the end.

    Parameters
    ----------
    scheduler : str or distributed.Client
        The scheduler's address (``tcp://host:8786``, ``host:8786``), or a client,
        which is used as it is and left open.
    wait : float, default=SCHEDULER_WAIT
        Seconds to wait for the scheduler to answer.

    Yields
    ------
    distributed.Client

    Raises
    ------
    SchedulerUnreachable
        When no dask scheduler answers at the address within ``wait`` seconds (at
        once when the host refuses the connection), with the address and the reason.
    ImportError
        When dask.distributed is not installed.
    """
    try:
        from distributed import Client
    except ImportError:
        raise ImportError(
            "running on a dask scheduler needs dask.distributed: "
            "pip install 'dask[distributed]' (or sknalu's extra 'distributed')"
        ) from None
    if isinstance(scheduler, Client):
        yield scheduler
        return
    address = str(scheduler)
    try:
        _probe(address, wait)
        client = Client(address, timeout=wait, set_as_default=False)
    except Exception as exc:  # refused, timed out, or something else answers there
        reason = _reason(exc)
        raise SchedulerUnreachable(
            f"cannot reach the dask scheduler at {address} (waited up to {wait:g} s): {reason}"
        ) from None
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def on_scheduler(scheduler, wait: float = SCHEDULER_WAIT) -> Iterator[None]:
    """Run joblib's calls made inside on a dask.distributed scheduler.

    Parameters
    ----------
    scheduler : str, distributed.Client or None
        As for :func:`dask_client`; None runs the calls as joblib would anyway.
    wait : float, default=SCHEDULER_WAIT
        Seconds to wait for the scheduler to answer.

    Yields
    ------
    None

    Raises
    ------
    SchedulerUnreachable
        As :func:`dask_client`, before anything runs.
    """
    if scheduler is None:
        yield
        return
    with dask_client(scheduler, wait) as client, joblib.parallel_config("dask", client=client):
        yield
