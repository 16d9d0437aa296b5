"""Shared test helpers."""

import os

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
