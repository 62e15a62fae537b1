"""Optimizer wrapper constructors for restorekit's models."""
import copy
from typing import Dict, Optional

import torch.nn as nn
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper, OptimWrapperDict

from restorekit.registry import OPTIM_WRAPPER_CONSTRUCTORS
from restorekit.utils.networks import NETWORKS


def _is_trainable(module: nn.Module) -> bool:
    return any(param.requires_grad for param in module.parameters())


def network_modules(model: nn.Module) -> Dict[str, nn.ModuleDict]:
    """The trainable child modules of ``model``, grouped by the network they belong to.

    ``'discriminator'`` is the child named ``discriminator`` (absent when the model has none);
    ``'generator'`` is every other child with at least one parameter that requires gradients:
    the restorer's stages (``mask_detector``, ``inpainter``, ``colorizer``), without frozen
    stages, whose parameters require none. Each group is an ``nn.ModuleDict`` keyed by the
    children's names, so parameter names (and ``paramwise_cfg`` ``custom_keys``) keep the
    model's prefixes (``colorizer.encoder...``).
    """
    if is_model_wrapper(model):
        model = model.module
    generator = nn.ModuleDict()
    discriminator = nn.ModuleDict()
    for name, child in model.named_children():
        if name == 'discriminator':
            if child is not None and _is_trainable(child):
                discriminator[name] = child
        elif _is_trainable(child):
            generator[name] = child
    groups = dict(generator=generator)
    if len(discriminator):
        groups['discriminator'] = discriminator
    return groups


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class RestorerOptimWrapperConstructor:
    """Builds a Restorer's optimizer wrappers over its trainable parameters only.

    Two forms of the config's ``optim_wrapper``:

    * one wrapper (a model without discriminator)::

        optim_wrapper = dict(constructor='RestorerOptimWrapperConstructor',
                             type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4))

    * one wrapper per network, an :class:`~mmengine.optim.OptimWrapperDict` keyed
      ``generator`` and ``discriminator`` (GAN training)::

        optim_wrapper = dict(
            constructor='RestorerOptimWrapperConstructor',
            generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4)),
            discriminator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4)))

    ``generator`` optimizes every child module except the discriminator that has a trainable
    parameter (all generator stages at once; see :func:`network_modules`), ``discriminator``
    the ``discriminator`` child. Frozen stages (``Restorer(frozen_stages=...)``) have no
    trainable parameter and are left out of every optimizer. Each entry is built by mmengine's
    :class:`~mmengine.optim.DefaultOptimWrapperConstructor` and may carry its own
    ``paramwise_cfg``, ``accumulative_counts``, ``clip_grad`` and wrapper ``type``
    (``AmpOptimWrapper``, ``CPUAutocastOptimWrapper``).

    mmengine has no constructor for several optimizers (mmagic's ``MultiOptimWrapperConstructor``
    builds one per child module, which cannot gather several stages into one ``generator``), so
    this one maps the two names to parameter groups instead.

    Args:
        optim_wrapper_cfg: The ``optim_wrapper`` config without ``constructor``.
        paramwise_cfg: Parameter-wise options of the one-wrapper form; the dict form takes them
            inside each network's entry.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        if not isinstance(optim_wrapper_cfg, dict):
            raise TypeError(f'RestorerOptimWrapperConstructor: optim_wrapper must be a dict, got '
                            f'{type(optim_wrapper_cfg).__name__}.')
        optim_wrapper_cfg = copy.deepcopy(dict(optim_wrapper_cfg))
        self.single = 'optimizer' in optim_wrapper_cfg
        if self.single:
            self.constructors = dict(
                generator=DefaultOptimWrapperConstructor(optim_wrapper_cfg, paramwise_cfg))
            return
        unknown = sorted(set(optim_wrapper_cfg) - set(NETWORKS))
        if unknown or 'generator' not in optim_wrapper_cfg:
            raise ValueError(
                f'RestorerOptimWrapperConstructor: optim_wrapper must have an `optimizer` (one '
                f'wrapper) or one entry per network, keys {NETWORKS} (generator required); got '
                f'the keys {sorted(optim_wrapper_cfg)}.')
        if paramwise_cfg is not None:
            raise ValueError('RestorerOptimWrapperConstructor: with one wrapper per network, put '
                             'paramwise_cfg inside the generator/discriminator entries.')
        self.constructors = {}
        for network, cfg in optim_wrapper_cfg.items():
            if not isinstance(cfg, dict) or 'optimizer' not in cfg:
                raise ValueError(f'RestorerOptimWrapperConstructor: optim_wrapper.{network} must '
                                 f'be a wrapper config with an `optimizer`, got {cfg!r}.')
            cfg = dict(cfg)
            network_paramwise = cfg.pop('paramwise_cfg', None)
            self.constructors[network] = DefaultOptimWrapperConstructor(cfg, network_paramwise)

    def __call__(self, model: nn.Module) -> OptimWrapper:
        """The wrapper (one-wrapper form) or :class:`OptimWrapperDict` of ``model``."""
        groups = network_modules(model)
        if not len(groups['generator']):
            raise ValueError('RestorerOptimWrapperConstructor: the model has no trainable '
                             'generator parameters (every stage is frozen or missing).')
        if self.single:
            if 'discriminator' in groups:
                raise ValueError(
                    'RestorerOptimWrapperConstructor: the model has a discriminator, so '
                    'optim_wrapper needs one wrapper per network: generator=dict(...), '
                    'discriminator=dict(...) instead of a single `optimizer`.')
            return self.constructors['generator'](groups['generator'])
        if set(self.constructors) != set(groups):
            raise ValueError(f'RestorerOptimWrapperConstructor: optim_wrapper has entries for '
                             f'{sorted(self.constructors)} but the model has trainable networks '
                             f'{sorted(groups)}; give exactly one entry per network.')
        return OptimWrapperDict(**{
            network: constructor(groups[network])
            for network, constructor in self.constructors.items()
        })
