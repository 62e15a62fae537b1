"""Building the Restorer's stages and losses, and loading single stages from checkpoints.

The stage names, the registries they are built from and the checks between them live here, so the
pipeline (:mod:`.restorer`), freezing (:mod:`.freezing`) and adversarial training
(:mod:`.adversarial`) share one definition.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import is_model_wrapper
from mmengine.registry import Registry

from restorekit.registry import LOSSES
from restorekit.utils.state_dict import read_state_dict, select_prefix
from ..losses.utils import default_loss_name

ModuleConfig = Optional[Union[dict, nn.Module]]
#: The generator stages: module attribute -> name of its losses (``{name}_losses``).
STAGE_MODULES = {'mask_detector': 'detector', 'inpainter': 'inpainter', 'colorizer': 'colorizer'}
#: The target each stage's losses compare against (besides the ground-truth mask).
STAGE_TARGETS = {'detector': 'mask', 'inpainter': 'gt_gray', 'colorizer': 'gt_img'}


def build_module(config: ModuleConfig, registry: Registry, role: str) -> Optional[nn.Module]:
    """Build a stage from a config dict, or take an already built module; ``None`` stays."""
    if config is None or isinstance(config, nn.Module):
        return config
    if isinstance(config, dict):
        return registry.build(config)
    raise TypeError(f'Restorer: {role} must be a config dict, an nn.Module or None, got '
                    f'{type(config).__name__}.')


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a model wrapper (DDP), or the module itself."""
    return module.module if is_model_wrapper(module) else module


def build_losses(configs: Optional[Sequence[Union[dict, nn.Module]]],
                 stage: str) -> Tuple[nn.ModuleList, List[str]]:
    """Build one stage's losses and their unique names (``l1``, ``l1_2``... on duplicates)."""
    if configs is None:
        configs = []
    if isinstance(configs, (dict, nn.Module)):
        raise TypeError(f'Restorer: {stage}_losses must be a list of loss configs, got a single '
                        f'{type(configs).__name__}; wrap it in a list.')
    losses = nn.ModuleList(build_module(config, LOSSES, f'{stage}_losses') for config in configs)
    return losses, unique_loss_names(losses)


def unique_loss_names(losses: Sequence[nn.Module]) -> List[str]:
    """Each loss's ``name`` (or its class's default name), numbered on duplicates."""
    names: List[str] = []
    for loss in losses:
        base = getattr(loss, 'name', None) or default_loss_name(type(loss))
        name, count = base, 1
        while name in names:
            count += 1
            name = f'{base}_{count}'
        names.append(name)
    return names


def load_stage_state_dict(path: str, stage: str) -> Dict[str, torch.Tensor]:
    """One stage's state dict from a checkpoint file, for ``Restorer(stage_init=...)``.

    The file is read with :func:`~restorekit.utils.state_dict.read_state_dict` (restorekit's
    safe ``torch.load(weights_only=True)``). It may be a restorekit/mmengine
    checkpoint (the model's state dict under ``'state_dict'``, the stage's keys prefixed
    ``f'{stage}.'``, e.g. ``inpainter.encoder...``) or the stage's own state dict (saved with
    ``torch.save(restorer.inpainter.state_dict(), path)``).

    Raises:
        FileNotFoundError: no file at ``path`` (the message names it and docs/pretrained.md).
        ValueError: the file holds a model state dict without ``stage``'s weights, or no dict.
    """
    if not osp.isfile(osp.expanduser(path)):
        raise FileNotFoundError(f'Restorer: stage_init.{stage}={path!r} does not exist; give a '
                                f'checkpoint of an earlier phase or converted published weights '
                                f'(tools/convert_checkpoint.py, see docs/pretrained.md).')
    state = read_state_dict(path, f'Restorer: stage_init.{stage}=')
    prefix = f'{stage}.'
    stage_state = select_prefix(state, prefix)
    if stage_state:
        return stage_state
    model_prefixes = sorted({key.split('.', 1)[0]
                             for key in state} & {*STAGE_MODULES, 'discriminator'})
    if model_prefixes:
        raise ValueError(f'Restorer: stage_init.{stage}={path!r} is a model checkpoint without '
                         f'`{prefix}` weights; it holds {model_prefixes}.')
    return state


def check_stage_init(model: nn.Module, stage_init: Optional[Dict[str, str]]) -> Dict[str, str]:
    """``stage_init`` checked against ``model``'s stages (and its discriminator, if any)."""
    if stage_init is None:
        return {}
    if not isinstance(stage_init, dict):
        raise TypeError(f'Restorer: stage_init must be a dict {{stage: checkpoint path}}, got '
                        f'{type(stage_init).__name__}.')
    for name, path in stage_init.items():
        if name not in (*STAGE_MODULES, 'discriminator'):
            raise ValueError(f'Restorer: stage_init may name '
                             f'{(*STAGE_MODULES, "discriminator")}, got {name!r}.')
        if getattr(model, name, None) is None:
            raise ValueError(f'Restorer: stage_init names {name!r} but there is no {name}.')
        if not isinstance(path, str):
            raise TypeError(f'Restorer: stage_init.{name} must be a checkpoint path, got '
                            f'{path!r}.')
    return dict(stage_init)


def load_stage_init(model: nn.Module, stage_init: Dict[str, str]) -> None:
    """Load every ``stage_init`` checkpoint into its stage of ``model``, strictly."""
    for name, path in stage_init.items():
        module = unwrap(getattr(model, name))
        state = load_stage_state_dict(path, name)
        try:
            missing, unexpected = module.load_state_dict(state, strict=False)
        except RuntimeError as err:  # shape mismatches
            raise ValueError(f'Restorer: stage_init.{name}={path!r} does not fit the {name}: '
                             f'{err}') from None
        if missing or unexpected:
            raise ValueError(f'Restorer: stage_init.{name}={path!r} does not fit the {name}: '
                             f'missing keys {missing[:5]}{"..." if len(missing) > 5 else ""}, '
                             f'unexpected keys {unexpected[:5]}'
                             f'{"..." if len(unexpected) > 5 else ""}.')
