"""A 2-D convolution with spectral normalisation (Miyato et al., ICLR 2018) in one module.

The weight actually used is ``weight / sigma`` with ``sigma = u . (W v)`` estimated by power
iteration on ``W`` reshaped to ``(out_channels, -1)``. As in PyTorch's ``spectral_norm``, one
power-iteration step updates the vectors ``u`` and ``v`` (buffers) at each training forward,
and evaluation uses them as stored, so a network's evaluation output depends only on its state
dict. Keeping ``weight``, ``u`` and ``v`` on the convolution itself (rather than a hook or a
parametrisation) gives the plain names ``conv.weight``, ``conv.weight_u``, ``conv.weight_v``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class SpectralNormConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose weight is divided by its largest singular value (estimated).

    Args are those of ``nn.Conv2d`` plus:
        power_iterations: Power-iteration steps per training forward (PyTorch's default, 1).
        eps: Floor of the norms when normalising ``u`` and ``v``.

    Buffers ``weight_u`` (out_channels) and ``weight_v`` (in_channels / groups * kh * kw) hold
    the singular-vector estimates; they start as normalised random vectors from ``generator``
    (a ``torch.Generator``; the default generator when None).
    """

    def __init__(self, *args, power_iterations: int = 1, eps: float = 1e-12,
                 generator: torch.Generator = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if power_iterations < 0:
            raise ValueError(f'SpectralNormConv2d: power_iterations must be >= 0, got '
                             f'{power_iterations}.')
        self.power_iterations = int(power_iterations)
        self.eps = float(eps)
        rows, cols = self.weight.shape[0], self.weight[0].numel()
        u = torch.randn(rows, generator=generator)
        v = torch.randn(cols, generator=generator)
        self.register_buffer('weight_u', F.normalize(u, dim=0, eps=self.eps))
        self.register_buffer('weight_v', F.normalize(v, dim=0, eps=self.eps))
        self.reset_singular_vectors()

    @torch.no_grad()
    def reset_singular_vectors(self, iterations: int = 15) -> None:
        """Run ``iterations`` power-iteration steps on the current weight, so that ``sigma`` is
        close to its largest singular value; call after re-initialising ``weight``."""
        if self.weight.is_meta:  # shapes only (e.g. before loading a checkpoint)
            return
        matrix = self.weight.flatten(1)
        for _ in range(iterations):
            F.normalize(torch.mv(matrix.t(), self.weight_u), dim=0, eps=self.eps,
                        out=self.weight_v)
            F.normalize(torch.mv(matrix, self.weight_v), dim=0, eps=self.eps, out=self.weight_u)

    def normalized_weight(self) -> torch.Tensor:
        """``weight / sigma``; in training mode after updating ``u`` and ``v`` in place."""
        matrix = self.weight.flatten(1)
        u, v = self.weight_u, self.weight_v
        if self.training and self.power_iterations > 0:
            with torch.no_grad():
                for _ in range(self.power_iterations):
                    v = F.normalize(torch.mv(matrix.t(), u), dim=0, eps=self.eps, out=v)
                    u = F.normalize(torch.mv(matrix, v), dim=0, eps=self.eps, out=u)
                # Clones, so that autograd does not see the in-place updates of the buffers.
                u, v = u.clone(), v.clone()
        sigma = torch.dot(u, torch.mv(matrix, v))
        return self.weight / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.normalized_weight(), self.bias)
