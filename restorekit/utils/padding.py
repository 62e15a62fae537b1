"""Padding of image batches at the bottom and right, the only side restorekit pads.

Padding only the bottom and right keeps pixel ``(0, 0)`` in place, so cropping back to the
original size is ``[..., :h, :w]`` (the data preprocessor's ``img_shape``).
"""
import torch
import torch.nn.functional as F

#: The modes :func:`pad_bottom_right` accepts.
PAD_MODES = ('reflect', 'zeros')


def pad_bottom_right(image: torch.Tensor, height: int, width: int, mode: str) -> torch.Tensor:
    """Pad a float (N, C, h, w) tensor at the bottom and right to (N, C, height, width).

    ``mode='reflect'`` mirrors the image, falling back to ``'replicate'`` where the image is too
    small to mirror (a reflect pad must be shorter than the side it mirrors); ``mode='zeros'``
    pads with 0 (masks: padding is known, undamaged).
    """
    pad_h, pad_w = height - image.shape[-2], width - image.shape[-1]
    if pad_h < 0 or pad_w < 0:
        raise ValueError(f'cannot pad an image of size {tuple(image.shape[-2:])} to the smaller '
                         f'size {(height, width)}.')
    if mode not in PAD_MODES:
        raise ValueError(f'pad mode must be one of {PAD_MODES}, got {mode!r}.')
    if pad_h == 0 and pad_w == 0:
        return image
    padding = (0, pad_w, 0, pad_h)
    if mode == 'zeros':
        return F.pad(image, padding, mode='constant', value=0.0)
    if pad_h < image.shape[-2] and pad_w < image.shape[-1]:
        return F.pad(image, padding, mode='reflect')
    return F.pad(image, padding, mode='replicate')


def padded_size(size: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is at least ``size``."""
    return size + (-size % multiple)


def pad_to_multiple(image: torch.Tensor, multiple: int, mode: str = 'reflect') -> torch.Tensor:
    """Pad (N, C, H, W) at the bottom and right to sides that are multiples of ``multiple``
    (see :func:`pad_bottom_right` for the modes)."""
    height, width = image.shape[-2:]
    return pad_bottom_right(image, padded_size(height, multiple), padded_size(width, multiple),
                            mode)
