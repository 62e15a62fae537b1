"""SSIM loss ``1 - SSIM``, computed as scikit-image's ``structural_similarity``.

SSIM is Wang et al., "Image quality assessment: from error visibility to structural similarity",
IEEE TIP 2004. The DACON score uses scikit-image's default (7x7 uniform window, sample covariance,
``K1 = 0.01``, ``K2 = 0.03``, mean over the map cropped by the window radius, channel mean) with
``data_range`` the prediction's range; :class:`SSIMLoss` reproduces it on ``[-1, 1]`` tensors, both
the whole-image term and the score's masked term (SSIM along the list of damaged pixels).
"""
from typing import Optional, Union

import torch
import torch.nn.functional as F

from restorekit.registry import LOSSES
from .pixel import MaskWeightedPixelLoss
from .utils import check_loss_inputs, mask_weighted_mean

#: Window name -> (taps, Gaussian sigma or None for uniform). ``gaussian11`` is scikit-image's
#: ``gaussian_weights=True``: sigma 1.5 truncated at 3.5 sigma, 11 taps, as Wang et al. 2004.
SSIM_WINDOWS = {'uniform7': (7, None), 'gaussian11': (11, 1.5)}
MASK_MODES = ('weighted_map', 'pixel_list')


def ssim_window_1d(window: str,
                   dtype: torch.dtype = torch.float32,
                   device: Optional[torch.device] = None) -> torch.Tensor:
    """The normalised 1-D taps of an SSIM window (``'uniform7'`` or ``'gaussian11'``).

    Both windows are separable, so the 2-D window is the outer product of these taps.
    """
    if window not in SSIM_WINDOWS:
        raise ValueError(f'SSIM window must be one of {sorted(SSIM_WINDOWS)}, got {window!r}')
    taps, sigma = SSIM_WINDOWS[window]
    if sigma is None:
        weights = torch.ones(taps, dtype=torch.float64)
    else:
        offsets = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
        weights = torch.exp(-offsets.square() / (2 * sigma**2))
    return (weights / weights.sum()).to(dtype=dtype, device=device)


def _filter_valid(images: torch.Tensor, taps: torch.Tensor, dims: int) -> torch.Tensor:
    """Separable window filter of (N, C, *spatial) over its last ``dims`` axes, 'valid' only."""
    channels = images.shape[1]
    if dims == 1:
        kernel = taps.view(1, 1, -1).expand(channels, 1, -1)
        return F.conv1d(images, kernel, groups=channels)
    rows = taps.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    cols = taps.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    return F.conv2d(F.conv2d(images, rows, groups=channels), cols, groups=channels)


def ssim_map(x: torch.Tensor,
             y: torch.Tensor,
             data_range: torch.Tensor,
             window: str = 'uniform7',
             k1: float = 0.01,
             k2: float = 0.03,
             sample_covariance: bool = True) -> torch.Tensor:
    """The SSIM map of ``x`` and ``y`` where the window fits entirely (scikit-image's cropped map).

    Args:
        x, y: (N, C, H, W) images, or (N, C, L) signals (1-D windows), in the same units as
            ``data_range``.
        data_range: Scalar or (N,) range of the data (``C1 = (k1 * range) ** 2``...).
        window: ``'uniform7'`` or ``'gaussian11'``.
        k1, k2: SSIM's stabilising constants.
        sample_covariance: Normalise the (co)variances by ``P - 1`` instead of ``P`` (``P`` the
            number of window taps, 49 for a 7x7 window); scikit-image's default, Wang et al. use
            ``False``.

    Returns:
        (N, C, H - 2r, W - 2r) (or (N, C, L - 2r)), ``r`` the window radius.
    """
    dims = x.dim() - 2
    taps = ssim_window_1d(window, dtype=x.dtype, device=x.device)
    data_range = torch.as_tensor(data_range, dtype=x.dtype, device=x.device)
    data_range = data_range.reshape(-1, *([1] * (dims + 1)))
    num_taps = taps.numel()**dims
    cov_norm = num_taps / (num_taps - 1) if sample_covariance else 1.0
    # One filter pass over the five moments, stacked on the channel axis.
    moments = _filter_valid(torch.cat([x, y, x * x, y * y, x * y], dim=1), taps, dims)
    mu_x, mu_y, xx, yy, xy = moments.chunk(5, dim=1)
    var_x = cov_norm * (xx - mu_x * mu_x)
    var_y = cov_norm * (yy - mu_y * mu_y)
    cov_xy = cov_norm * (xy - mu_x * mu_y)
    c1 = (k1 * data_range)**2
    c2 = (k2 * data_range)**2
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
    denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return numerator / denominator


@LOSSES.register_module()
class SSIMLoss(MaskWeightedPixelLoss):
    """``1 - SSIM`` of prediction and target in ``[-1, 1]``, as the DACON score computes SSIM.

    The images are mapped to ``[0, 1]`` first (SSIM is not shift-invariant, so this makes the
    value equal to scikit-image's on the uint8 images with ``data_range * 127.5``). The SSIM map
    is scikit-image's: a window filter without padding, i.e. the map cropped by the window radius
    (3 pixels for ``uniform7``, 5 for ``gaussian11``), averaged over pixels and channels.

    With a mask (1 = damaged) two reductions are offered:

    * ``mask_mode='weighted_map'``: the SSIM map is averaged with the weights
      ``hole_weight * mask + valid_weight * (1 - mask)`` (mask taken at each window's centre);
      ``valid_weight=0`` gives the mean SSIM of the windows centred in the hole. Equal weights
      give the whole-image SSIM, the score's ``S``.
    * ``mask_mode='pixel_list'``: the score's masked SSIM ``M`` exactly: the damaged pixels of
      each image in raster order form a (C, n) signal, compared with 1-D windows of the same taps
      (scikit-image on ``gt[mask > 0]``). The weights are not used. Images with fewer damaged
      pixels than the window has taps are left out of the batch mean (the loss is 0 when none has
      enough). Without a mask it falls back to the whole-image SSIM.

    ``0.2 * S + 0.4 * M`` of the score is thus
    ``[dict(type='SSIMLoss', loss_weight=0.2),
    dict(type='SSIMLoss', loss_weight=0.4, mask_mode='pixel_list', name='masked_ssim')]``.

    Args:
        window: ``'uniform7'`` (scikit-image's default and the score's) or ``'gaussian11'``
            (sigma 1.5, Wang et al. 2004; scikit-image's ``gaussian_weights=True``).
        data_range: Range of the data in the units of the inputs: ``2.0`` for the full
            ``[-1, 1]`` range (the fixed ``data_range=255`` of uint8 images), or ``'prediction'``
            for each image's ``pred.max() - pred.min()`` (the score's choice; detached, and
            clamped to ``>= 1e-6``).
        mask_mode: ``'weighted_map'`` or ``'pixel_list'``, see above.
        sample_covariance: See :func:`ssim_map`; ``True`` as scikit-image's default.
        k1, k2: SSIM's stabilising constants.
        **kwargs: ``loss_weight``, ``hole_weight``, ``valid_weight``, ``name`` as in
            :class:`~restorekit.models.losses.pixel.MaskWeightedPixelLoss`.
    """

    def __init__(self,
                 window: str = 'uniform7',
                 data_range: Union[float, str] = 2.0,
                 mask_mode: str = 'weighted_map',
                 sample_covariance: bool = True,
                 k1: float = 0.01,
                 k2: float = 0.03,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if window not in SSIM_WINDOWS:
            raise ValueError(f'SSIMLoss: window must be one of {sorted(SSIM_WINDOWS)}, '
                             f'got {window!r}')
        if mask_mode not in MASK_MODES:
            raise ValueError(f'SSIMLoss: mask_mode must be one of {MASK_MODES}, got {mask_mode!r}')
        if isinstance(data_range, str):
            if data_range != 'prediction':
                raise ValueError("SSIMLoss: data_range must be a positive number (2.0 for "
                                 f"[-1, 1] images) or 'prediction', got {data_range!r}")
        elif data_range <= 0:
            raise ValueError(f'SSIMLoss: data_range must be > 0, got {data_range}')
        self.window = window
        self.data_range = data_range
        self.mask_mode = mask_mode
        self.sample_covariance = bool(sample_covariance)
        self.k1 = float(k1)
        self.k2 = float(k2)

    @property
    def radius(self) -> int:
        """Pixels cropped on each side of the SSIM map (the window radius)."""
        return (SSIM_WINDOWS[self.window][0] - 1) // 2

    def _unit_range(self, pred: torch.Tensor) -> torch.Tensor:
        """The data range in ``[0, 1]`` units: a scalar or one value per image."""
        if self.data_range == 'prediction':
            flat = pred.detach().flatten(1)
            return ((flat.amax(dim=1) - flat.amin(dim=1)) / 2).clamp_min(1e-6)
        return torch.tensor(self.data_range / 2, dtype=pred.dtype, device=pred.device)

    def _ssim_map(self, x: torch.Tensor, y: torch.Tensor, data_range: torch.Tensor) -> torch.Tensor:
        return ssim_map(x, y, data_range, self.window, self.k1, self.k2, self.sample_covariance)

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``loss_weight * (1 - SSIM)`` of (N, C, H, W) images in ``[-1, 1]``; see the class doc.

        Images must be larger than the window (7 or 11 pixels) in both directions.
        """
        check_loss_inputs(pred, target, mask, loss_name=type(self).__name__)
        if pred.dim() != 4 or min(pred.shape[-2:]) < 2 * self.radius + 1:
            raise ValueError(f'SSIMLoss: pred must be (N, C, H, W) with H and W >= '
                             f'{2 * self.radius + 1} (window {self.window!r}), got '
                             f'{tuple(pred.shape)}')
        # At least float32: the variances are differences of nearly equal moments.
        dtype = torch.promote_types(pred.dtype, torch.float32)
        x = (pred.to(dtype) + 1) / 2
        y = (target.to(dtype) + 1) / 2
        data_range = self._unit_range(pred)
        with torch.autocast(device_type=pred.device.type, enabled=False):  # no fp16 convs
            if mask is not None and self.mask_mode == 'pixel_list':
                ssim = self._pixel_list_ssim(x, y, mask, data_range)
            else:
                ssim_values = self._ssim_map(x, y, data_range)
                if mask is not None:
                    r = self.radius
                    mask = mask[..., r:mask.shape[-2] - r, r:mask.shape[-1] - r]
                ssim = mask_weighted_mean(ssim_values, mask, self.hole_weight, self.valid_weight)
        return (1 - ssim).to(pred.dtype) * self.loss_weight

    def _pixel_list_ssim(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                         data_range: torch.Tensor) -> torch.Tensor:
        """Mean over the images of the SSIM along each image's list of damaged pixels."""
        taps = SSIM_WINDOWS[self.window][0]
        ranges = data_range.expand(x.shape[0])
        damaged = mask[:, 0] > 0.5
        per_image = []
        for index in range(x.shape[0]):
            if int(damaged[index].sum()) < taps:
                continue
            x_list = x[index][:, damaged[index]].unsqueeze(0)  # (1, C, n), raster order
            y_list = y[index][:, damaged[index]].unsqueeze(0)
            per_image.append(self._ssim_map(x_list, y_list, ranges[index:index + 1]).mean())
        if not per_image:
            return x.sum() * 0 + 1  # no image has a masked SSIM: loss 0, graph kept
        return torch.stack(per_image).mean()

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, window={self.window!r}, data_range={self.data_range!r}, '
                f'mask_mode={self.mask_mode!r}')
