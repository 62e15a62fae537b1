"""Test-time augmentation of any inpainter or colorizer: the average over flips and rotations.

The eight symmetries of the square (the dihedral group D4) act on the last two dimensions of
(N, C, H, W) tensors:

============== ====================================== ===========
name           what it does                           inverse
============== ====================================== ===========
identity       nothing                                identity
hflip          mirror left-right                      hflip
vflip          mirror top-bottom                      vflip
rot90          rotate 90 degrees counter-clockwise    rot270
rot180         rotate 180 degrees                     rot180
rot270         rotate 270 degrees counter-clockwise   rot90
transpose      swap rows and columns                  transpose
antitranspose  mirror about the anti-diagonal         antitranspose
============== ====================================== ===========

(``rot90`` is ``torch.rot90(x, 1, dims=(-2, -1))``, numpy's and torch's direction.)
:class:`TestTimeAugmentation` runs the wrapped stage on every chosen transform of the image (and
of the mask, the same way), maps each output back with the inverse and averages; for a
:class:`~restorekit.models.outputs.MultiStageInpainter` every stage is averaged the same way.
Named subsets (:data:`TTA_PRESETS`): ``'six'`` is the set of the best DACON 236420 entry
(identity, both flips, the three rotations), ``'d4'`` all eight, ``'flip'`` identity and hflip.

**Sizes.** ``rot90``, ``rot270``, ``transpose`` and ``antitranspose`` turn an H x W image into a
W x H one, so the wrapped stage must accept both shapes. In a Restorer the data preprocessor pads
H and W to multiples of ``pad_size_divisor``, so both sides of the turned image are multiples too;
MAT pads any size itself.

**Randomness.** A stage that draws at random (MAT: latent, noise and dropout maps) takes a
``torch.Generator`` (:func:`~restorekit.models.wrappers.stage_wrapper.takes_generator`). With ``seed``
set, the draw of each transform comes from its own CPU generator seeded ``seed + index`` where
``index`` is the transform's place in :data:`D4_TRANSFORMS` (identity 0 ... antitranspose 7): the
result is the same at every run and on every device, and each transform's draw does not depend on
which others are chosen. A ``generator`` given to ``forward`` is used instead, by every transform
in turn. ``seed=None``, and training mode, leave the stage to its own default (MAT: its
``eval_seed`` in eval mode, a fresh seed per call in training).

**Weights.** The wrapper has no weights; its state dict is the wrapped stage's
(:mod:`restorekit.models.wrappers.stage_wrapper`), so a checkpoint loads with or without TTA.

:func:`apply_test_time_augmentation` wraps the stages of a built Restorer in place and
:func:`tta_model_config` rewrites a model config; ``RestorationInferencer(tta=...)``,
``tools/restore.py --tta`` and ``tools/test.py --tta`` use them. A TTA spec is a preset name, a
list of transform names, ``'NAMES@STAGES'`` (``'six@inpainter,colorizer'``) or a dict
``dict(transforms=..., stages=('inpainter', ), seed=0)``; see :func:`parse_tta_spec`.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from restorekit.registry import COLORIZERS, INPAINTERS
from ..outputs import StageOutput
from .stage_wrapper import StageWrapper, takes_generator


def _rot(k: int) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: torch.rot90(x, k, dims=(-2, -1))


def _transpose(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(-2, -1)


def _antitranspose(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-2, -1).transpose(-2, -1)


#: Each transform of D4 as ``(forward, inverse)`` on the last two dimensions, in index order.
D4_TRANSFORMS: Dict[str, Tuple[Callable, Callable]] = {
    'identity': (lambda x: x, lambda x: x),
    'hflip': (lambda x: x.flip(-1), lambda x: x.flip(-1)),
    'vflip': (lambda x: x.flip(-2), lambda x: x.flip(-2)),
    'rot90': (_rot(1), _rot(3)),
    'rot180': (_rot(2), _rot(2)),
    'rot270': (_rot(3), _rot(1)),
    'transpose': (_transpose, _transpose),
    'antitranspose': (_antitranspose, _antitranspose),
}
#: Named subsets of :data:`D4_TRANSFORMS`.
TTA_PRESETS: Dict[str, Tuple[str, ...]] = {
    'flip': ('identity', 'hflip'),
    'six': ('identity', 'hflip', 'vflip', 'rot90', 'rot180', 'rot270'),
    'd4': tuple(D4_TRANSFORMS),
}
#: The Restorer stages test-time augmentation can wrap.
TTA_STAGES = ('inpainter', 'colorizer')
TransformsSpec = Union[str, Sequence[str]]


def resolve_transforms(transforms: TransformsSpec) -> Tuple[str, ...]:
    """Transform names of a preset name, a comma-separated string or a list of names.

    Raises:
        ValueError: an unknown name, a repeated one, or none at all; the message lists the
            known names and presets.
    """
    if isinstance(transforms, str):
        transforms = (
            TTA_PRESETS[transforms] if transforms in TTA_PRESETS else
            [name.strip() for name in transforms.split(',') if name.strip()])
    names = tuple(transforms)
    unknown = [name for name in names if name not in D4_TRANSFORMS]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(f'test-time augmentation: transforms must be a preset '
                         f'{sorted(TTA_PRESETS)} or distinct names among {list(D4_TRANSFORMS)}, '
                         f'got {transforms!r}')
    return names


def _build_stage(config: Union[dict, nn.Module]) -> nn.Module:
    """A built stage: the module itself, or the config built from the registry that knows its
    type (inpainters first, then colorizers)."""
    if isinstance(config, nn.Module):
        return config
    if not isinstance(config, dict) or 'type' not in config:
        raise TypeError(f'TestTimeAugmentation: model must be an nn.Module or a config dict with '
                        f'a type, got {config!r}')
    for registry in (INPAINTERS, COLORIZERS):
        if isinstance(config['type'], type) or registry.get(config['type']) is not None:
            return registry.build(config)
    raise KeyError(f'TestTimeAugmentation: {config["type"]!r} is neither a registered inpainter '
                   f'nor a registered colorizer')


@INPAINTERS.register_module()
@COLORIZERS.register_module()
class TestTimeAugmentation(StageWrapper):
    """The average of a stage's outputs over flips and rotations of its input (see the module
    docstring for the transforms, sizes, randomness and weights).

    ``forward(image, mask=None)`` runs the wrapped inpainter (or, with ``mask=None``, colorizer)
    once per transform on the transformed image and mask, maps every output back with the
    inverse transform and returns the mean (for a multi-stage inpainter, of every stage). A
    transform-equivariant stage gives its own output (up to float rounding). Sums are taken in
    float32 and returned in the dtype of the stage's output.

    Args:
        model: Config or module of the inpainter or colorizer to augment.
        transforms: A preset of :data:`TTA_PRESETS` (``'six'``), a comma-separated string or a
            list of names of :data:`D4_TRANSFORMS`.
        seed: Seed of each transform's generator (``seed + transform index``) for a stage that
            draws at random; ``None`` leaves the stage to its own default. Ignored by stages
            that draw nothing.
    """

    __test__ = False  # not a pytest test class, whatever its name
    wrapped_name = 'model'

    def __init__(self,
                 model: Union[dict, nn.Module],
                 transforms: TransformsSpec = 'six',
                 seed: Optional[int] = 0) -> None:
        super().__init__()
        self.wrap(_build_stage(model))
        self.transforms = resolve_transforms(transforms)
        if seed is not None and int(seed) != seed:
            raise ValueError(f'TestTimeAugmentation: seed must be an integer or None, got {seed!r}')
        self.seed = None if seed is None else int(seed)
        for attribute in ('in_channels', 'out_channels'):
            if hasattr(self.model, attribute):
                setattr(self, attribute, getattr(self.model, attribute))

    def transform_generator(self, name: str) -> Optional[torch.Generator]:
        """The generator of transform ``name``'s draws: ``None`` without a seed, for a stage
        that draws nothing, and in training mode (where fixed draws would repeat every step)."""
        if self.seed is None or self.model.training or not takes_generator(self.model):
            return None
        return torch.Generator().manual_seed(self.seed + list(D4_TRANSFORMS).index(name))

    def forward_stages(self,
                       image: torch.Tensor,
                       mask: Optional[torch.Tensor] = None,
                       generator: Optional[torch.Generator] = None) -> StageOutput:
        """The mean over the transforms of the inverse-transformed outputs."""
        sums: Dict[str, torch.Tensor] = {}
        dtype = None
        for name in self.transforms:
            forward, inverse = D4_TRANSFORMS[name]
            output = self.call_wrapped(
                forward(image), None if mask is None else forward(mask),
                generator if generator is not None else self.transform_generator(name))
            dtype = output.final.dtype
            for key, value in (('', output.final), *output.stages.items()):
                value = inverse(value).float()
                sums[key] = value if key not in sums else sums[key] + value
        count = len(self.transforms)
        means = {key: (value / count).to(dtype) for key, value in sums.items()}
        return StageOutput(final=means.pop(''), stages=means)

    def extra_repr(self) -> str:
        return f'transforms={list(self.transforms)}, seed={self.seed}'


@dataclass
class TTASpec:
    """What test-time augmentation to apply: which transforms, to which stages, which seed."""

    transforms: Tuple[str, ...]
    stages: Tuple[str, ...] = ('inpainter', )
    seed: Optional[int] = 0


#: What the entry points accept as a TTA spec (see :func:`parse_tta_spec`).
TTASpecLike = Union[None, str, Sequence[str], dict, TTASpec]


def parse_tta_spec(spec: TTASpecLike) -> Optional[TTASpec]:
    """A :class:`TTASpec` from the forms the entry points accept; ``None`` for no TTA.

    * ``'six'``, ``'d4'``, ``'flip'``: a preset, for the inpainter;
    * ``'identity,hflip'`` or ``['identity', 'hflip']``: those transforms, for the inpainter;
    * ``'six@inpainter,colorizer'``: the transforms for the stages after ``@``;
    * ``dict(transforms='six', stages=('inpainter', ), seed=0)``.

    Raises:
        ValueError: unknown transforms or stages, with the known ones.
    """
    if spec is None or isinstance(spec, TTASpec):
        return spec
    stages: Sequence[str] = ('inpainter', )
    seed: Optional[int] = 0
    if isinstance(spec, dict):
        unknown = set(spec) - {'transforms', 'stages', 'seed'}
        if unknown or 'transforms' not in spec:
            raise ValueError(f'test-time augmentation: a dict spec has the keys transforms '
                             f'(required), stages and seed; got {sorted(spec)}')
        transforms = spec['transforms']
        stages = spec.get('stages', stages)
        seed = spec.get('seed', seed)
    elif isinstance(spec, str) and '@' in spec:
        transforms, stage_text = spec.split('@', 1)
        stages = [stage.strip() for stage in stage_text.split(',') if stage.strip()]
    else:
        transforms = spec
    stages = (stages, ) if isinstance(stages, str) else tuple(stages)
    if not stages or any(stage not in TTA_STAGES for stage in stages):
        raise ValueError(f'test-time augmentation: stages must be among {TTA_STAGES}, got '
                         f'{list(stages)} (from {spec!r})')
    return TTASpec(resolve_transforms(transforms), stages, seed)


def apply_test_time_augmentation(model: nn.Module, spec: TTASpecLike) -> List[str]:
    """Wrap the ``spec``'s stages of a built Restorer (``model.inpainter``...) in place.

    A stage that already is a :class:`TestTimeAugmentation` gets the new transforms and seed
    instead of a second wrapper. Weights are untouched (the wrapper's state dict is the stage's),
    so this may come before or after loading a checkpoint. Returns the stages wrapped.

    Raises:
        ValueError: the spec is invalid, or names a stage the model does not have.
    """
    spec = parse_tta_spec(spec)
    if spec is None:
        return []
    for stage in spec.stages:
        network = getattr(model, stage, None)
        if network is None:
            raise ValueError(f'test-time augmentation of the {stage}: the model has no {stage}')
        if isinstance(network, TestTimeAugmentation):
            network.transforms, network.seed = spec.transforms, spec.seed
        else:
            setattr(model, stage, TestTimeAugmentation(network, spec.transforms, spec.seed))
    return list(spec.stages)


def tta_model_config(model_cfg: dict, spec: TTASpecLike) -> dict:
    """A copy of a Restorer config whose ``spec`` stages are wrapped in ``TestTimeAugmentation``.

    A stage already configured as ``TestTimeAugmentation`` gets the spec's transforms and seed.

    Raises:
        ValueError: the spec is invalid, or names a stage the config does not have.
    """
    spec = parse_tta_spec(spec)
    model_cfg = dict(model_cfg)
    if spec is None:
        return model_cfg
    for stage in spec.stages:
        stage_cfg = model_cfg.get(stage)
        if stage_cfg is None:
            raise ValueError(f'test-time augmentation of the {stage}: the config\'s model has no '
                             f'{stage}')
        options = dict(transforms=list(spec.transforms), seed=spec.seed)
        if isinstance(stage_cfg, dict) and stage_cfg.get('type') == 'TestTimeAugmentation':
            model_cfg[stage] = dict(stage_cfg, **options)
        else:
            model_cfg[stage] = dict(type='TestTimeAugmentation', model=stage_cfg, **options)
    return model_cfg
