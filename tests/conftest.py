"""Shared test helpers."""

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under pytest-xdist (``pytest -n auto``) each worker runs on one core: BLAS or
    # OpenMP threads in two workers at once would fight over the cores, and the
    # searches bounded by ``max_time`` would be cut short.
    for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_variable, "1")

import pytest
import torch


def slow_seeds(n: int) -> int:
    """The seeds a statistical (slow) test runs: ``n``, at most ``SKNALU_SLOW_SEEDS``.

    CI runs the slow tests in a reduced form, with ``SKNALU_SLOW_SEEDS=1``; unset,
    every test runs all its seeds.
    """
    cap = os.environ.get("SKNALU_SLOW_SEEDS")
    return min(n, int(cap)) if cap else n


@pytest.fixture
def float64():
    """Make float64 torch's default type for one test."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def set_weights(param: torch.nn.Parameter, values) -> None:
    """Overwrite a parameter in place with ``values``, reshaped to its shape."""
    with torch.no_grad():
        param.copy_(torch.as_tensor(values, dtype=param.dtype).reshape(param.shape))
