"""Fixtures of the inference API tests: tiny Restorer configs and damaged sample photographs."""
import functools

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config

FILL = 200  # the constant grey the damage is painted with


def tiny_unet(**kwargs) -> dict:
    """A tiny SmpUNet config (about 0.3 M parameters, built offline)."""
    return dict(
        type='SmpUNet',
        encoder_name='tu-mobilenetv3_small_050',
        encoder_depth=3,
        decoder_channels=(8, 8, 8),
        **kwargs)


class BlurNet(nn.Module):
    """A fixed Gaussian blur (zero padded) of radius ``radius``: a network whose receptive field
    is exactly ``radius`` pixels, and which darkens towards 0 near a tile's edge as a conv net
    with zero padding does. ``out_channels=3`` gives three differently scaled channels."""

    def __init__(self, radius: int = 3, out_channels: int = 1) -> None:
        super().__init__()
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
        kernel = torch.exp(-offsets**2 / (2 * (radius / 2)**2))
        kernel = torch.outer(kernel, kernel)
        self.register_buffer('kernel', (kernel / kernel.sum())[None, None])
        self.register_buffer('scales', torch.tensor([1.0, 0.8, 0.6][:out_channels]))
        self.radius = radius

    def forward(self, image: torch.Tensor, mask=None) -> torch.Tensor:
        blurred = F.conv2d(image, self.kernel, padding=self.radius)
        return blurred * self.scales[None, :, None, None]


def restorer_config(pad_size_divisor: int = 8, **stages) -> Config:
    """A Config whose model is a Restorer with the given stages (module configs)."""
    return Config(
        dict(
            model=dict(
                type='Restorer',
                data_preprocessor=dict(
                    type='RestorationDataPreprocessor', pad_size_divisor=pad_size_divisor),
                **stages)))


@pytest.fixture(scope='session')
def tiny_config():
    """Factory: a tiny two-stage Restorer config (``detector=True`` adds a U-Net detector)."""

    def make(detector: bool = False, colorizer: bool = True, inpainter: bool = True) -> Config:
        stages = {}
        if detector:
            stages['mask_detector'] = tiny_unet()
        if inpainter:
            stages['inpainter'] = tiny_unet(use_mask=True, residual=True)
        if colorizer:
            stages['colorizer'] = tiny_unet(out_channels=3, activation='tanh')
        return restorer_config(**stages)

    return make


@pytest.fixture(scope='session')
def blur_config():
    """Factory: a Restorer of two BlurNets (no padding to a divisor), receptive field 2 radius."""

    def make(radius: int = 3) -> Config:
        return restorer_config(
            pad_size_divisor=1,
            inpainter=dict(type=BlurNet, radius=radius),
            colorizer=dict(type=BlurNet, radius=radius, out_channels=3))

    return make


@functools.lru_cache(maxsize=None)
def _photo_gray(height: int, width: int) -> np.ndarray:
    from PIL import Image
    from skimage import data

    image = Image.fromarray(data.astronaut()).resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(image.convert('L'))


@pytest.fixture(scope='session')
def damaged_photo():
    """Factory: ``(damaged grey, bool mask)`` of the astronaut photo with a box of FILL grey."""

    def make(height: int = 96, width: int = 128, box=(20, 30, 40, 50)) -> tuple:
        gray = _photo_gray(height, width).copy()
        mask = np.zeros((height, width), dtype=bool)
        top, left, box_h, box_w = box
        mask[top:top + box_h, left:left + box_w] = True
        gray[mask] = FILL
        return gray, mask

    return make
