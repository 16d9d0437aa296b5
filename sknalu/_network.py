"""A stack of arithmetic units, trained as many independent copies at once."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._units import UNITS, ArithmeticUnit

__all__ = ["ArithmeticNetwork"]


class ArithmeticNetwork(nn.Module):
    """Layers of arithmetic units with no activation between them.

    The network holds ``n_copies`` independently initialised copies of itself in
    batched weight tensors, so that one forward and one backward pass trains all of
    them: each copy sees the same batch, and because the training loss is the sum of
    the copies' losses, each copy's gradient is exactly what it would be alone.
    :meth:`keep_copy_` then reduces the network to one chosen copy.

    Parameters
    ----------
    in_features : int
        Number of inputs.
    out_features : int
        Number of outputs.
    units : sequence of str
        One unit name per layer, from :data:`sknalu.units.UNITS`.
    hidden_size : int, default=2
        Width of every hidden layer.
    n_copies : int, default=1
        Number of independently initialised copies trained together.
    oob_mode : {"clip", "regularized"}, default="clip"
        Out-of-bounds handling of every unit.
    regularizer_shape : {"linear", "squared"}, default="linear"
        Shape of the sparsity regulariser of every unit.
    seed : int, default=0
        Seed of the initialisation; the same seed gives the same weights.
    dtype : torch.dtype or None, default=None
        Floating-point type of the weights; torch's default type when None.

    Examples
    --------
    >>> import torch
    >>> net = ArithmeticNetwork(3, 1, units=("nau", "nmu"), n_copies=8)
    >>> net(torch.ones(5, 3)).shape
    torch.Size([8, 5, 1])
    >>> net.keep_copy_(2)
    >>> net(torch.ones(5, 3)).shape
    torch.Size([5, 1])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        units: Sequence[str] = ("nau", "nmu"),
        hidden_size: int = 2,
        n_copies: int = 1,
        oob_mode: str = "clip",
        regularizer_shape: str = "linear",
        seed: int = 0,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.units = tuple(units)
        self.hidden_size = hidden_size
        self.n_copies = n_copies
        generator = torch.Generator().manual_seed(int(seed))
        sizes = [in_features] + [hidden_size] * (len(self.units) - 1) + [out_features]
        layers: list[ArithmeticUnit] = []
        for name, n_in, n_out in zip(self.units, sizes[:-1], sizes[1:], strict=True):
            layers.append(
                UNITS[name](
                    n_in,
                    n_out,
                    n_copies=n_copies,
                    oob_mode=oob_mode,
                    regularizer_shape=regularizer_shape,
                    generator=generator,
                )
            )
        self.layers = nn.ModuleList(layers).to(dtype or torch.get_default_dtype())
        #: Whether the copy dimension is squeezed from the output (one kept copy).
        self.squeeze_copies = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``[n_copies, batch, out]``, or ``[batch, out]`` after :meth:`keep_copy_`."""
        for layer in self.layers:
            x = layer(x)
        return x.squeeze(0) if self.squeeze_copies else x

    def sparsity_loss(self, *, closed_form: bool = True) -> torch.Tensor:
        """Sum over layers of the sparsity regulariser, one value per copy.

        With ``closed_form=False`` the layers whose gradient
        :meth:`add_sparsity_grad_` adds in closed form are left out.
        """
        return sum(
            (
                layer.sparsity_loss()
                for layer in self.layers
                if closed_form or not layer.closed_form_sparsity
            ),
            torch.zeros(()),
        )

    @torch.no_grad()
    def add_sparsity_grad_(self, scale: float) -> torch.Tensor:
        """Add the closed-form sparsity gradients of the layers that have one.

        Returns the sum of those layers' regulariser values, one per copy.
        """
        return sum(
            (
                layer.add_sparsity_grad_(scale)
                for layer in self.layers
                if layer.closed_form_sparsity
            ),
            torch.zeros(()),
        )

    def oob_loss(self) -> torch.Tensor:
        """Sum over layers of the out-of-bounds regulariser, one value per copy."""
        return sum(layer.oob_loss() for layer in self.layers)

    @torch.no_grad()
    def constrain_(self) -> None:
        """Project every layer's weights into bounds (``oob_mode="clip"``)."""
        for layer in self.layers:
            layer.constrain_()

    @torch.no_grad()
    def keep_copy_(self, index: int) -> None:
        """Discard every copy but ``index``; the output loses its copy dimension."""
        self.keep_copies_([index])
        self.squeeze_copies = True

    @torch.no_grad()
    def keep_copies_(self, indices: Sequence[int]) -> None:
        """Discard every copy not in ``indices``, which become copies 0, 1, ..."""
        indices = list(indices)
        for module in self.modules():
            if isinstance(module, ArithmeticUnit):
                module.n_copies = len(indices)
                for param in list(module.parameters(recurse=False)):
                    param.data = param.data[indices].clone()
        self.n_copies = len(indices)

    @torch.no_grad()
    def copy_state(self, index: int) -> dict[str, torch.Tensor]:
        """A detached copy of the weights of copy ``index``."""
        return {k: v[index].clone() for k, v in self.state_dict().items()}

    @torch.no_grad()
    def load_copy_state_(self, index: int, state: dict[str, torch.Tensor]) -> None:
        """Write weights taken with :meth:`copy_state` into copy ``index``."""
        for k, v in self.state_dict().items():
            v[index].copy_(state[k])

    def sparsity_error(self) -> torch.Tensor:
        """Max over all weights of ``min(|W|, |1 - |W||)``, one value per copy.

        The sparsity error of Madsen & Johansen (2020, section 4.1), computed on the
        effective weights.
        """
        errors = []
        for layer in self.layers:
            a = layer.weight.abs()
            errors.append(torch.minimum(a, (1 - a).abs()).amax(dim=(-1, -2)))
        return torch.stack(errors).amax(dim=0)
