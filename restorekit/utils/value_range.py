"""Images as models see them (float in ``[-1, 1]``) and as files hold them (uint8 ``[0, 255]``).

The one mapping of docs/conventions.md, ``x / 127.5 - 1`` and its inverse ``round((x + 1) *
127.5)`` clamped to ``[0, 255]``: uint8 -> :func:`uint8_to_unit_range` ->
:func:`unit_range_to_uint8` is exact.
"""
import torch


def uint8_to_unit_range(image: torch.Tensor) -> torch.Tensor:
    """Map uint8 (or float) ``[0, 255]`` to float ``[-1, 1]`` (``x / 127.5 - 1``)."""
    return image.float() / 127.5 - 1.0


def unit_range_to_uint8(image: torch.Tensor) -> torch.Tensor:
    """Map float ``[-1, 1]`` back to uint8 ``[0, 255]`` (round, clamp), on ``image``'s device and
    detached; the inverse of :func:`uint8_to_unit_range`."""
    return ((image.detach().float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
