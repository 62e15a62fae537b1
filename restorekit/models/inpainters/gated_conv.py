"""Gated-convolution inpainter (Yu et al., "Free-Form Image Inpainting with Gated Convolution",
ICCV 2019, "DeepFill v2"), after the reference code ``JiahuiYu/generative_inpainting``
(``inpaint_model.py``, ``inpaint_ops.py``), without contextual attention."""
import math
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from restorekit.models.outputs import MultiStageInpainter, StageOutput
from restorekit.registry import INPAINTERS

_DILATIONS = (2, 4, 8, 16)


#: E[sigmoid(z)^2] for z ~ N(0, 1): the mean square of a gate at initialisation.
_GATE_MEAN_SQUARE = 0.2933


class GatedConv2d(nn.Module):
    """Gated convolution: ``out = ELU(feature) * sigmoid(gate)``.

    One convolution yields ``2 * out_channels`` maps, split into features and soft gates, so the
    network learns per pixel and per channel which inputs are valid (Yu et al. 2019, Eq. 2-3),
    where a partial convolution would use a fixed rule. Zero padding keeps the size at stride 1.

    Initialisation keeps the mean square of the activations through the unit (He et al., ICCV
    2015, extended to the gate): gate weights ``N(0, 1 / fan_in)``, feature weights
    ``N(0, 2 / (fan_in * E[sigmoid(z)^2]))``, zero biases. PyTorch's default initialisation shrinks
    the signal about tenfold per gated layer, and through DeepFill's 16 layers per stage the
    gradients vanish (below 1e-20 at the first layer).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.out_channels = out_channels
        self.conv = nn.Conv2d(in_channels, 2 * out_channels, kernel_size, stride, padding,
                              dilation)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Variance-preserving initialisation of the feature and gate halves (see class doc)."""
        fan_in = self.conv.in_channels * self.conv.kernel_size[0] * self.conv.kernel_size[1]
        feature, gate = self.conv.weight.data.chunk(2, dim=0)
        nn.init.normal_(feature, std=math.sqrt(2.0 / (fan_in * _GATE_MEAN_SQUARE)))
        nn.init.normal_(gate, std=math.sqrt(1.0 / fan_in))
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feature, gate = self.conv(x).chunk(2, dim=1)
        return F.elu(feature) * torch.sigmoid(gate)


class GatedUpsample(nn.Module):
    """DeepFill's ``gen_deconv``: nearest upsampling to a given size, then a gated 3x3 conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = GatedConv2d(in_channels, out_channels, 3)

    def forward(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=tuple(size), mode='nearest'))


class GatedEncoderDecoder(nn.Module):
    """One DeepFill v2 stage: gated encoder to 1/4 resolution, dilated gated convs, decoder.

    Layers of the coarse network (``cnum = base_channels``): gconv 5x5 cnum; gconv s2 2cnum;
    gconv 2cnum; gconv s2 4cnum; 2 x gconv 4cnum; gconv 4cnum dilated 2, 4, 8, 16; 2 x gconv 4cnum;
    up + gconv 2cnum; gconv 2cnum; up + gconv cnum; gconv cnum/2; conv to ``out_channels`` and
    Tanh. Upsampling restores the exact size of the matching encoder level, so any input size
    works.
    """

    def __init__(self, in_channels: int, out_channels: int, base_channels: int) -> None:
        super().__init__()
        c1, c2, c4 = base_channels, 2 * base_channels, 4 * base_channels
        self.stem = GatedConv2d(in_channels, c1, 5)
        self.down1 = nn.Sequential(GatedConv2d(c1, c2, 3, stride=2), GatedConv2d(c2, c2, 3))
        self.down2 = nn.Sequential(
            GatedConv2d(c2, c4, 3, stride=2), GatedConv2d(c4, c4, 3), GatedConv2d(c4, c4, 3))
        self.dilated = nn.Sequential(*(GatedConv2d(c4, c4, 3, dilation=rate)
                                       for rate in _DILATIONS))
        self.middle = nn.Sequential(GatedConv2d(c4, c4, 3), GatedConv2d(c4, c4, 3))
        self.up1 = GatedUpsample(c4, c2)
        self.after_up1 = GatedConv2d(c2, c2, 3)
        self.up2 = GatedUpsample(c2, c1)
        self.head = nn.Sequential(
            GatedConv2d(c1, max(c1 // 2, 1), 3),
            nn.Conv2d(max(c1 // 2, 1), out_channels, 3, padding=1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        full = self.stem(x)
        half = self.down1(full)
        quarter = self.middle(self.dilated(self.down2(half)))
        x = self.after_up1(self.up1(quarter, half.shape[2:]))
        return self.head(self.up2(x, full.shape[2:]))


@INPAINTERS.register_module()
class GatedConvInpainter(MultiStageInpainter):
    """DeepFill v2 generator (Yu et al., ICCV 2019): gated convolutions, coarse-to-fine.

    The input is ``concat(image * (1 - mask), mask)`` (mask 1 = damaged): the hole is blanked, so
    its fill grey carries no information, and the mask tells the gates where it is. The coarse
    stage (:class:`GatedEncoderDecoder`) predicts the whole image; with ``refine=True`` its
    prediction is pasted into the hole, ``coarse * mask + image * (1 - mask)``, and a second stage
    of the same layout refines it, as in the paper. Outputs are Tanh, in (-1, 1).

    Differences from the paper, on purpose: the refinement stage has only the dilated-convolution
    branch; the contextual-attention branch (patch matching between hole and background) is not
    implemented, which DeepFill v2's ablation shows costs some texture detail on large holes. The
    reference code's extra all-ones input channel is dropped (zero padding already marks the
    border). The paper's width is ``base_channels=48``; the default 16 (about 1.4 M parameters for
    both stages, 0.7 M without refinement) keeps CPU training practical.

    ``forward`` returns the final (refined, or coarse) prediction; :meth:`forward_stages` returns
    it with the coarse prediction as the intermediate stage ``'coarse'`` (when there is a
    refinement stage), so the Restorer can put a loss on it (``inpainter_stage_losses``) and a
    discriminator can judge it (``judged_stages``), as DeepFill does.

    Args:
        in_channels: Channels of ``image`` and of the output (1: grey).
        base_channels: ``cnum`` of the reference code; stage widths are cnum, 2 cnum and 4 cnum.
        refine: Add the refinement stage.
    """

    def __init__(self, in_channels: int = 1, base_channels: int = 16, refine: bool = True) -> None:
        super().__init__()
        if int(in_channels) < 1 or int(base_channels) < 1:
            raise ValueError(f'GatedConvInpainter: in_channels and base_channels must be >= 1, '
                             f'got {in_channels!r} and {base_channels!r}.')
        self.in_channels = int(in_channels)
        self.base_channels = int(base_channels)
        self.refine = bool(refine)
        #: The intermediate output: the coarse prediction, when a refinement stage follows it.
        self.stage_names = ('coarse', ) if self.refine else ()
        self.coarse = GatedEncoderDecoder(self.in_channels + 1, self.in_channels,
                                          self.base_channels)
        self.refinement = (
            GatedEncoderDecoder(self.in_channels + 1, self.in_channels, self.base_channels)
            if self.refine else None)

    def _check_input(self, image: torch.Tensor, mask: Optional[torch.Tensor]) -> None:
        if image.dim() != 4 or image.shape[1] != self.in_channels:
            raise ValueError(f'GatedConvInpainter: image must be (N, {self.in_channels}, H, W), '
                             f'got {tuple(image.shape)}.')
        if mask is None:
            raise ValueError('GatedConvInpainter needs the damage mask, got mask=None. Give the '
                             'Restorer a mask detector or samples with a `mask`.')
        if mask.shape != (image.shape[0], 1, *image.shape[2:]):
            raise ValueError(f'GatedConvInpainter: mask must be (N, 1, H, W) = '
                             f'{(image.shape[0], 1, *image.shape[2:])}, got {tuple(mask.shape)}.')

    def forward_stages(self, image: torch.Tensor, mask: Optional[torch.Tensor]) -> StageOutput:
        """The final prediction of the whole image and, with refinement, the coarse one as stage
        ``'coarse'``. ``image`` (N, C, H, W) in [-1, 1], ``mask`` (N, 1, H, W), 1 = damaged."""
        self._check_input(image, mask)
        mask = mask.to(image.dtype)
        known = image * (1.0 - mask)
        coarse = self.coarse(torch.cat([known, mask], dim=1))
        if self.refinement is None:
            return StageOutput(coarse)
        pasted = coarse * mask + known
        refined = self.refinement(torch.cat([pasted, mask], dim=1))
        return StageOutput(refined, {'coarse': coarse})
