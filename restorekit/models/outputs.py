"""The one typed protocol by which a stage reports its outputs.

A single-output stage (every colorizer, most inpainters) returns a tensor from ``forward``. A stage
with intermediate outputs that training uses (MAT's first stage, DeepFill's coarse network)
subclasses :class:`MultiStageInpainter`: its ``forward_stages`` returns a :class:`StageOutput`
with the ``final`` tensor and the named intermediate ``stages`` (same shape and range as
``final``), and its plain ``forward`` returns ``final``. The Restorer asks for stages with
:func:`run_stages`; nothing reads flags with ``getattr``.
"""
from dataclasses import dataclass, field
from typing import Dict, Optional, Union

import torch
from torch import nn


@dataclass
class StageOutput:
    """A stage's final output and its named intermediate outputs (e.g. ``{'stage1': ...}``)."""

    final: torch.Tensor
    stages: Dict[str, torch.Tensor] = field(default_factory=dict)


class MultiStageInpainter(nn.Module):
    """Base class of inpainters with intermediate outputs (coarse-to-fine designs).

    Subclasses implement :meth:`forward_stages` and list the names it returns in
    ``stage_names``. ``forward(image, mask)`` returns the final output only, so the inpainter
    convention (``(image, mask) -> image``) holds; ``forward(image, mask, return_stages=True)``
    returns the whole :class:`StageOutput`, which also works through DDP/FSDP wrappers.
    """

    #: Names of the intermediate outputs :meth:`forward_stages` returns, in pipeline order.
    stage_names: tuple = ()

    def forward_stages(self, image: torch.Tensor,
                       mask: Optional[torch.Tensor] = None) -> StageOutput:
        raise NotImplementedError

    def forward(self, image: torch.Tensor, mask: Optional[torch.Tensor] = None,
                return_stages: bool = False) -> Union[torch.Tensor, StageOutput]:
        output = self.forward_stages(image, mask)
        return output if return_stages else output.final


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DDP/FSDP wrapper (the module itself otherwise)."""
    return getattr(module, 'module', module)


def run_stages(inpainter: nn.Module, image: torch.Tensor,
               mask: Optional[torch.Tensor]) -> StageOutput:
    """Run ``inpainter`` (wrapped or not) and return its :class:`StageOutput`; one-stage
    inpainters get no intermediates."""
    if isinstance(unwrap(inpainter), MultiStageInpainter):
        return inpainter(image, mask, return_stages=True)
    return StageOutput(final=inpainter(image, mask))
