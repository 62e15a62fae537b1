"""Freezing and unfreezing the Restorer's stages (two-phase training, phase switches).

A frozen stage takes no gradients, stays in eval mode (batch-norm statistics fixed, see
``Restorer.train``) and is left out of the optimizers (they only see parameters that require
gradients when they are built). :class:`~restorekit.engine.phase_switch.PhaseSwitchHook` uses
:func:`set_frozen_stages` to change the frozen set in the middle of a run.
"""
from typing import Sequence, Tuple

import torch.nn as nn

from .stage_init import STAGE_MODULES


def check_frozen_stages(model: nn.Module, frozen_stages: Sequence[str]) -> Tuple[str, ...]:
    """``frozen_stages`` as a tuple, checked against ``model``'s stages and losses."""
    if isinstance(frozen_stages, str):
        raise TypeError(f'Restorer: frozen_stages must be a list of stage names, got the '
                        f'string {frozen_stages!r}; write [{frozen_stages!r}].')
    frozen_stages = tuple(frozen_stages)
    for name in frozen_stages:
        if name not in STAGE_MODULES:
            raise ValueError(f'Restorer: frozen_stages may name {tuple(STAGE_MODULES)}, got '
                             f'{name!r}.')
        if getattr(model, name) is None:
            raise ValueError(f'Restorer: frozen_stages names {name!r} but there is no {name}.')
        loss_stage = STAGE_MODULES[name]
        if model.has_losses(loss_stage):
            raise ValueError(
                f'Restorer: {name} is frozen but has {loss_stage}_losses; a frozen '
                f'stage does not train, so set {loss_stage}_losses=[].')
    trains = [
        name for name in STAGE_MODULES
        if getattr(model, name) is not None and name not in frozen_stages
    ]
    if frozen_stages and not trains:
        raise ValueError(f'Restorer: every stage is frozen ({list(frozen_stages)}); '
                         f'nothing would train.')
    return frozen_stages


def set_frozen_stages(model: nn.Module, frozen_stages: Sequence[str]) -> None:
    """Freeze exactly ``frozen_stages`` of ``model``: a stage that becomes frozen loses its
    gradients and goes to eval mode; one that becomes unfrozen gets gradients back and the
    model's training mode. Stages whose state does not change are left as they are."""
    frozen_stages = tuple(frozen_stages)
    was_frozen = tuple(getattr(model, 'frozen_stages', ()))
    for name in STAGE_MODULES:
        module = getattr(model, name)
        if module is None or (name in frozen_stages) == (name in was_frozen):
            continue
        frozen = name in frozen_stages
        module.requires_grad_(not frozen)
        module.train(model.training and not frozen)
    model.frozen_stages = frozen_stages


def keep_frozen_in_eval(model: nn.Module) -> None:
    """Put the frozen stages of ``model`` back in eval mode (after ``model.train()``)."""
    for name in model.frozen_stages:
        getattr(model, name).eval()
