"""Shared test helpers."""

import pytest
import torch


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
