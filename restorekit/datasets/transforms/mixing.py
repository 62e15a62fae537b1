"""Mixed-sample augmentation of colour photos: CutMix and FMix with a partner photo.

DDColor (Kang et al., ICCV 2023; ``basicsr/data/lab_dataset.py`` of ``piddnad/DDColor``) mixes
every training photo with other photos of the set, FMix then CutMix, each with probability 0.5,
before the L channel is taken, so the colorizer sees images whose regions come from different
photos. The partner photo is another sample of the dataset: ``mix_partners=n`` on a restorekit
dataset puts the paths of ``n`` random other samples in ``results['partner1_path']``...
(:class:`~restorekit.datasets.base.BaseRestorationDataset`), ``LoadImageFromFile(key='partner1',
color_type='color', out_key='partner1_img')`` reads one and a ``Resize`` with
``keys=('partner1_img',)`` brings it to the sample's size. Random draws come only from
``results['rng']``.
"""
import math
from typing import Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from restorekit.registry import TRANSFORMS
from ..base import require_rng


def _check_probability(owner: str, prob: float) -> float:
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f'{owner}: prob must be in [0, 1], got {prob!r}')
    return float(prob)


def _image_and_partner(owner: str, results: dict, key: str,
                       partner_key: str) -> Tuple[np.ndarray, np.ndarray]:
    """The image and its partner, checked to be uint8 arrays of one shape."""
    image, partner = results.get(key), results.get(partner_key)
    if image is None:
        raise KeyError(f"{owner} needs results['{key}']; found keys {sorted(results)}")
    if partner is None:
        raise KeyError(
            f"{owner} needs the partner photo results['{partner_key}']: give the dataset "
            f"mix_partners=... and load it with LoadImageFromFile(key='{partner_key[:-4]}', "
            f"color_type='color', out_key='{partner_key}') and a Resize to the image's size; "
            f'found keys {sorted(results)}')
    if partner.shape != image.shape or partner.dtype != image.dtype:
        raise ValueError(f"{owner}: results['{partner_key}'] is {partner.dtype} {partner.shape} "
                         f"but results['{key}'] is {image.dtype} {image.shape} "
                         f'({results.get("gt_path")}); resize the partner to the image\'s size '
                         f"with Resize(keys=('{partner_key}',))")
    return image, partner


@TRANSFORMS.register_module()
class CutMix(BaseTransform):
    """Paste a random box of the partner photo into ``results[key]`` with probability ``prob``.

    CutMix (Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with
    Localizable Features", ICCV 2019) as DDColor draws it: ``lam = clip(Beta(alpha, alpha),
    lam_range)`` (DDColor: alpha 1, [0.3, 0.4]); the box has sides ``int(H * sqrt(1 - lam))`` by
    ``int(W * sqrt(1 - lam))`` (60-70 % of the area), centred on a uniformly drawn pixel and clipped
    to the image. DDColor's code slices its (H, W, C) array as ``img[:, x1:x2, y1:y2]``, which cuts
    along the width and the *channels* (so it mostly pastes nothing, sometimes a full-height band of
    one or two channels); this transform pastes the box the paper and DDColor's comments describe.
    The partner is dropped from ``results`` afterwards.

    Args:
        prob: Probability of mixing (DDColor: 0.5).
        alpha: Beta distribution parameter of ``lam``.
        lam_range: Inclusive clip range of ``lam``; the box covers about ``1 - lam`` of the
            image before it is clipped to the borders.
        key: The uint8 image to mix.
        partner_key: The partner photo, same shape.
    """

    def __init__(self,
                 prob: float = 0.5,
                 alpha: float = 1.0,
                 lam_range: Tuple[float, float] = (0.3, 0.4),
                 key: str = 'gt_img',
                 partner_key: str = 'partner2_img') -> None:
        name = type(self).__name__
        self.prob = _check_probability(name, prob)
        if alpha <= 0:
            raise ValueError(f'{name}: alpha must be > 0, got {alpha!r}')
        low, high = lam_range
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f'{name}: lam_range must satisfy 0 <= low <= high <= 1, got '
                             f'{tuple(lam_range)!r}')
        self.alpha = float(alpha)
        self.lam_range = (float(low), float(high))
        self.key = key
        self.partner_key = partner_key

    def box(self, height: int, width: int,
            rng: np.random.Generator) -> Tuple[int, int, int, int]:
        """Draw ``(top, bottom, left, right)`` of the pasted box (bottom/right exclusive)."""
        lam = float(np.clip(rng.beta(self.alpha, self.alpha), *self.lam_range))
        ratio = math.sqrt(1.0 - lam)
        cut_h, cut_w = int(height * ratio), int(width * ratio)
        centre_y, centre_x = int(rng.integers(height)), int(rng.integers(width))
        top, bottom = np.clip([centre_y - cut_h // 2, centre_y + cut_h // 2], 0, height)
        left, right = np.clip([centre_x - cut_w // 2, centre_x + cut_w // 2], 0, width)
        return int(top), int(bottom), int(left), int(right)

    def transform(self, results: dict) -> dict:
        """Mix (or not) and drop the partner."""
        name = type(self).__name__
        rng = require_rng(results, name)
        image, partner = _image_and_partner(name, results, self.key, self.partner_key)
        if rng.random() < self.prob:
            top, bottom, left, right = self.box(image.shape[0], image.shape[1], rng)
            mixed = image.copy()
            mixed[top:bottom, left:right] = partner[top:bottom, left:right]
            results[self.key] = mixed
        results.pop(self.partner_key)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, alpha={self.alpha}, '
                f'lam_range={self.lam_range}, key={self.key!r}, '
                f'partner_key={self.partner_key!r})')


def low_frequency_image(height: int, width: int, decay_power: float,
                        rng: np.random.Generator) -> np.ndarray:
    """A random (H, W) image with a ``1 / f ** decay_power`` amplitude spectrum, in ``[0, 1]``.

    FMix's grey-noise image (Harris et al., "FMix: Enhancing Mixed Sample Data Augmentation",
    2020): complex Gaussian Fourier coefficients scaled by ``1 / max(f, 1 / max(H, W)) ** d``
    (``f`` the radial frequency of ``numpy.fft.fftfreq``), inverted with a real 2-D FFT.
    """
    freq_y = np.fft.fftfreq(height)[:, None]
    freq_x = np.fft.fftfreq(width)[:width // 2 + 1]
    frequencies = np.sqrt(freq_x**2 + freq_y**2)
    scale = 1.0 / np.maximum(frequencies, 1.0 / max(height, width))**decay_power
    coefficients = rng.standard_normal(frequencies.shape + (2, ))
    spectrum = scale * (coefficients[..., 0] + 1j * coefficients[..., 1])
    image = np.fft.irfft2(spectrum, s=(height, width))
    image = image - image.min()
    return image / max(image.max(), np.finfo(np.float64).tiny)


@TRANSFORMS.register_module()
class FMix(BaseTransform):
    """Mix ``results[key]`` with the partner photo through a random low-frequency binary mask.

    FMix (Harris et al., 2020) as DDColor uses it (``basicsr/data/fmix.py``, ``alpha=1``,
    ``decay_power=3``, ``max_soft=0``): ``lam ~ Beta(alpha, alpha)``; the ``ceil`` or (with
    probability 1/2) ``floor`` of ``lam * H * W`` highest pixels of :func:`low_frequency_image`
    form the mask; ``image = mask * image + (1 - mask) * partner``, so about ``lam`` of the image
    stays. The mask is drawn at the image's size (DDColor's is fixed at 256x256, its training size).
    The partner is dropped from ``results`` afterwards.

    Args:
        prob: Probability of mixing (DDColor: 0.5).
        alpha: Beta distribution parameter of ``lam``.
        decay_power: Frequency decay of the mask's spectrum (larger: smoother regions).
        key: The uint8 image to mix.
        partner_key: The partner photo, same shape.
    """

    def __init__(self,
                 prob: float = 0.5,
                 alpha: float = 1.0,
                 decay_power: float = 3.0,
                 key: str = 'gt_img',
                 partner_key: str = 'partner1_img') -> None:
        name = type(self).__name__
        self.prob = _check_probability(name, prob)
        if alpha <= 0:
            raise ValueError(f'{name}: alpha must be > 0, got {alpha!r}')
        if decay_power <= 0:
            raise ValueError(f'{name}: decay_power must be > 0, got {decay_power!r}')
        self.alpha = float(alpha)
        self.decay_power = float(decay_power)
        self.key = key
        self.partner_key = partner_key

    def mask(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """Draw the bool (H, W) mask of the pixels kept from the image."""
        lam = rng.beta(self.alpha, self.alpha)
        noise = low_frequency_image(height, width, self.decay_power, rng).reshape(-1)
        count = math.ceil(lam * noise.size) if rng.random() > 0.5 else math.floor(lam * noise.size)
        keep = np.zeros(noise.size, dtype=bool)
        keep[np.argsort(-noise, kind='stable')[:count]] = True
        return keep.reshape(height, width)

    def transform(self, results: dict) -> dict:
        """Mix (or not) and drop the partner."""
        name = type(self).__name__
        rng = require_rng(results, name)
        image, partner = _image_and_partner(name, results, self.key, self.partner_key)
        if rng.random() < self.prob:
            keep = self.mask(image.shape[0], image.shape[1], rng)
            if image.ndim == 3:
                keep = keep[..., None]
            results[self.key] = np.where(keep, image, partner)
        results.pop(self.partner_key)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, alpha={self.alpha}, '
                f'decay_power={self.decay_power}, key={self.key!r}, '
                f'partner_key={self.partner_key!r})')
