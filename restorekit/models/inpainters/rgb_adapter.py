"""Run an RGB inpainter on grey photographs: grey repeated to three channels in, luma out."""
from typing import Optional, Union

import torch
from torch import nn

from restorekit.registry import INPAINTERS
from ..colorizers.lab_colorizer import luma
from ..outputs import StageOutput, unwrap
from ..wrappers.stage_wrapper import StageWrapper


@INPAINTERS.register_module()
class RGBInpainterAdapter(StageWrapper):
    """A grey inpainter made of an RGB one: the input's grey repeated to R, G and B, the
    output's BT.601 luma back.

    The published inpainting weights (MAT's Places, CelebA-HQ and FFHQ files, docs/pretrained.md)
    are RGB; the DACON photographs are grey. This is how the best DACON 236420 entry ran MAT's
    Places weights on them: the grey image as three equal channels (MAT's own
    ``generate_image.py`` reads grey files the same way) and the grey of the result. The luma uses
    restorekit's grey convention, PIL's ``convert('L')`` weights
    (:func:`~restorekit.models.colorizers.lab_colorizer.luma`), so a grey output is returned
    unchanged and an RGB output becomes the grey its uint8 image would have (up to the rounding
    of exact ties). The weights sum to one, so the luma of ``[-1, 1]``
    values is the ``[-1, 1]`` value of the uint8 luma.

    Every output of the wrapped inpainter becomes grey: its ``final`` and, for a
    :class:`~restorekit.models.outputs.MultiStageInpainter` (MAT's stage 1), each named stage,
    so the adapter keeps the stage-output protocol. ``forward(..., generator=g)`` reaches the
    wrapped inpainter (MAT's seeded draws).

    **Weights.** The adapter has none of its own and its state dict is the wrapped inpainter's,
    key for key (:mod:`restorekit.models.wrappers.stage_wrapper`): a converted MAT checkpoint
    (``{'inpainter.<MAT key>': ...}``, ``tools/convert_checkpoint.py``) loads into
    ``Restorer(inpainter=dict(type='RGBInpainterAdapter', inpainter=dict(type='MAT', ...)))`` with
    ``stage_init=dict(inpainter=path)`` or as the inferencer's checkpoint, with no missing or
    unexpected keys.

    Args:
        inpainter: Config (built from :data:`~restorekit.registry.INPAINTERS`) or module of an
            inpainter with three input channels, e.g.
            ``dict(type='MAT', preset='mat_base', in_channels=3)``.
    """

    wrapped_name = 'inpainter'

    def __init__(self, inpainter: Union[dict, nn.Module]) -> None:
        super().__init__()
        if isinstance(inpainter, dict):
            inpainter = INPAINTERS.build(inpainter)
        channels = getattr(unwrap(inpainter), 'in_channels', 3)
        if isinstance(channels, int) and channels != 3:
            raise ValueError(f'RGBInpainterAdapter: the wrapped {type(unwrap(inpainter)).__name__} '
                             f'takes {channels} channels; it must take RGB (in_channels=3). A '
                             f'grey inpainter needs no adapter.')
        self.wrap(inpainter)
        #: The adapter takes grey images.
        self.in_channels = 1

    def forward_stages(self,
                       image: torch.Tensor,
                       mask: Optional[torch.Tensor] = None,
                       generator: Optional[torch.Generator] = None) -> StageOutput:
        """Grey ``final`` and stages (N, 1, H, W) of the grey ``image`` (N, 1, H, W)."""
        if image.dim() != 4 or image.shape[1] != 1:
            raise ValueError(f'RGBInpainterAdapter: image must be grey (N, 1, H, W), got '
                             f'{tuple(image.shape)}')
        output = self.call_wrapped(image.expand(-1, 3, -1, -1).contiguous(), mask, generator)
        return StageOutput(
            final=self._to_grey(output.final, 'final'),
            stages={
                name: self._to_grey(value, name)
                for name, value in output.stages.items()
            })

    def _to_grey(self, rgb: torch.Tensor, name: str) -> torch.Tensor:
        if rgb.dim() != 4 or rgb.shape[1] != 3:
            raise ValueError(f'RGBInpainterAdapter: the wrapped inpainter\'s {name} output must '
                             f'be RGB (N, 3, H, W), got {tuple(rgb.shape)}')
        return luma(rgb)
