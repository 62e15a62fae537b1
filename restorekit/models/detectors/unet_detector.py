"""A learned mask detector: a U-Net that segments the damage of a damaged grey image."""
from typing import Optional, Sequence

import torch

from restorekit.registry import MASK_DETECTORS
from ..backbones.smp_unet import SmpUNet

#: SmpUNet arguments a detector fixes: grey in, one logit map out, nothing added to it.
_FIXED = ('in_channels', 'out_channels', 'use_mask', 'residual', 'activation')


@MASK_DETECTORS.register_module()
class UNetDetector(SmpUNet):
    """U-Net (Ronneberger et al., MICCAI 2015) predicting damage logits from the damaged input.

    :class:`SmpUNet` with the detector's settings fixed: one grey input channel, one output
    channel of logits (no activation; the Restorer thresholds ``sigmoid(logits) > 0.5``), no mask
    input, no residual. Train it with ``BCEWithLogitsLoss`` plus ``DiceLoss`` (the Dice term keeps
    small holes from vanishing in the pixel average; Milletari et al., "V-Net", 3DV 2016)::

        mask_detector=dict(type='UNetDetector', encoder_name='resnet18'),
        detector_losses=[dict(type='BCEWithLogitsLoss'), dict(type='DiceLoss', loss_weight=1.0)],

    Args:
        encoder_name: smp or timm (``'tu-'``) encoder; ResNet-18 suffices for this segmentation.
        encoder_depth: Encoder stages (3-5).
        decoder_channels: Decoder widths (``None``: smp's default for ``encoder_depth``).
        arch: smp architecture (``'Unet'``, ``'UnetPlusPlus'``...).
        encoder_weights: ``None`` or the path of a local encoder state dict (never downloaded).
        **smp_kwargs: Further smp arguments (``decoder_attention_type='scse'``).
    """

    def __init__(self,
                 encoder_name: str = 'resnet18',
                 encoder_depth: int = 5,
                 decoder_channels: Optional[Sequence[int]] = None,
                 arch: str = 'Unet',
                 encoder_weights: Optional[str] = None,
                 **smp_kwargs) -> None:
        fixed = sorted(key for key in _FIXED if key in smp_kwargs)
        if fixed:
            raise ValueError(f'UNetDetector: {fixed} are fixed for a detector (grey in, logits '
                             'out); use SmpUNet for other settings.')
        super().__init__(
            arch=arch,
            encoder_name=encoder_name,
            encoder_depth=encoder_depth,
            decoder_channels=decoder_channels,
            in_channels=1,
            out_channels=1,
            use_mask=False,
            residual=False,
            activation=None,
            encoder_weights=encoder_weights,
            **smp_kwargs)

    def forward(self, image: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Damage logits (N, 1, H, W) of the damaged grey batch (N, 1, H, W) in [-1, 1];
        ``mask`` is ignored (accepted for the shared SmpUNet signature)."""
        return super().forward(image)
