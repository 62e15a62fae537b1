"""The composable restoration pipeline: mask detector -> inpainter -> colorizer.

Trained with one optimizer wrapper (mmengine's default ``train_step``), or adversarially with a
discriminator and an ``OptimWrapperDict`` keyed ``generator`` and ``discriminator``.
"""
from contextlib import ExitStack, contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel, is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.registry import Registry

from restorekit.engine.checkpoint import safe_torch_load
from restorekit.models.outputs import run_stages
from restorekit.registry import (COLORIZERS, DISCRIMINATORS, INPAINTERS, LOSSES, MASK_DETECTORS,
                                 MODELS)
from restorekit.structures import RestorationDataSample
from ..losses.utils import default_loss_name

ModuleConfig = Optional[Union[dict, nn.Module]]
_MODES = ('tensor', 'loss', 'predict')
_MASK_SOURCES = ('gt', 'detected')
#: The target each stage's losses compare against (besides the ground-truth mask).
_STAGE_TARGETS = {'detector': 'mask', 'inpainter': 'gt_gray', 'colorizer': 'gt_img'}
#: The generator stages: module attribute -> name of its losses (``{name}_losses``).
_STAGE_MODULES = {'mask_detector': 'detector', 'inpainter': 'inpainter', 'colorizer': 'colorizer'}
#: The stage the discriminator judges -> (its output in ``train_forward``, its real target).
#: The inpainter is judged on its composite, as DeepFill's discriminator is.
_ADVERSARIAL_STAGES = {'colorizer': ('rgb', 'gt_img'), 'inpainter': ('composite', 'gt_gray')}
#: The networks of GAN training, the keys of its ``OptimWrapperDict``.
_NETWORKS = ('generator', 'discriminator')


def _build_module(config: ModuleConfig, registry: Registry, role: str) -> Optional[nn.Module]:
    """Build a stage from a config dict, or take an already built module; ``None`` stays."""
    if config is None or isinstance(config, nn.Module):
        return config
    if isinstance(config, dict):
        return registry.build(config)
    raise TypeError(f'Restorer: {role} must be a config dict, an nn.Module or None, got '
                    f'{type(config).__name__}.')


def _unwrap(module: nn.Module) -> nn.Module:
    """The module inside a model wrapper (DDP), or the module itself."""
    return module.module if is_model_wrapper(module) else module


def load_stage_state_dict(path: str, stage: str) -> Dict[str, torch.Tensor]:
    """One stage's state dict from a checkpoint file, for ``Restorer(stage_init=...)``.

    The file is read with ``torch.load(weights_only=True)`` (restorekit's
    :func:`~restorekit.engine.checkpoint.safe_torch_load`). It may be a restorekit/mmengine
    checkpoint (the model's state dict under ``'state_dict'``, the stage's keys prefixed
    ``f'{stage}.'``, e.g. ``inpainter.encoder...``) or the stage's own state dict (saved with
    ``torch.save(restorer.inpainter.state_dict(), path)``).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file holds a model state dict without ``stage``'s weights, or no dict.
    """
    checkpoint = safe_torch_load(path, map_location='cpu')
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f'Restorer: stage_init.{stage}={path!r} holds a '
                         f'{type(checkpoint).__name__}, not a state dict.')
    prefix = f'{stage}.'
    stage_state = {
        key[len(prefix):]: value
        for key, value in state.items() if key.startswith(prefix)
    }
    if stage_state:
        return stage_state
    model_prefixes = sorted({key.split('.', 1)[0]
                             for key in state} & {*_STAGE_MODULES, 'discriminator'})
    if model_prefixes:
        raise ValueError(f'Restorer: stage_init.{stage}={path!r} is a model checkpoint without '
                         f'`{prefix}` weights; it holds {model_prefixes}.')
    return state


def _build_losses(configs: Optional[Sequence[Union[dict, nn.Module]]],
                  stage: str) -> Tuple[nn.ModuleList, List[str]]:
    """Build one stage's losses and their unique names (``l1``, ``l1_2``... on duplicates)."""
    if configs is None:
        configs = []
    if isinstance(configs, (dict, nn.Module)):
        raise TypeError(f'Restorer: {stage}_losses must be a list of loss configs, got a single '
                        f'{type(configs).__name__}; wrap it in a list.')
    losses = nn.ModuleList(_build_module(config, LOSSES, f'{stage}_losses') for config in configs)
    names: List[str] = []
    for loss in losses:
        base = getattr(loss, 'name', None) or default_loss_name(type(loss))
        name, count = base, 1
        while name in names:
            count += 1
            name = f'{base}_{count}'
        names.append(name)
    return losses, names


@MODELS.register_module()
class Restorer(BaseModel):
    """Restores damaged grey photographs: detect the damage, inpaint it, colorize the result.

    Each stage is optional and built from its own registry (or given as a module):

    1. ``mask_detector`` (:data:`MASK_DETECTORS`): ``logits = detector(x)``; the damage mask is
       ``sigmoid(logits) > 0.5``.
    2. ``inpainter`` (:data:`INPAINTERS`): ``raw = inpainter(x, mask)``; where the mask is known
       the known pixels are put back exactly, ``composite = raw * mask + x * (1 - mask)``, clamped
       to ``[-1, 1]``. Without an inpainter ``composite = x``.
    3. ``colorizer`` (:data:`COLORIZERS`): ``rgb = colorizer(composite)``; without one, ``rgb`` is
       the grey composite replicated to three channels.

    The mask at inference (``'predict'`` and ``'tensor'``) is the detector's if there is one, else
    the samples' ground-truth ``mask`` if they have one, else ``None`` (the inpainter gets
    ``mask=None`` and nothing is composited). While training, the inpainter gets the ground-truth
    mask (``train_mask_source='gt'``) or the detected one (``'detected'``).

    Losses are lists of configs built from :data:`LOSSES`, one list per stage, each loss carrying
    its own ``loss_weight``; every loss is called as ``loss(pred, target, mask)`` with the
    ground-truth mask (``None`` if the samples have none):

    * ``detector_losses`` on ``(logits, gt mask)``,
    * ``inpainter_losses`` on ``(raw, gt_gray)``,
    * ``colorizer_losses`` on ``(rgb, gt_img)``.

    The loss dict keys are ``f'loss_{stage}_{name}'`` (``loss_inpainter_l1``). The design follows
    mmagic's one-model-per-task restorers (``mmagic/models/base_models``), with the fixed loss
    keywords replaced by lists of configs.

    **Adversarial training.** With a ``discriminator`` (:data:`DISCRIMINATORS`) and a
    ``gan_loss``, :meth:`train_step` trains the generator (every stage) and the discriminator
    alternately with an ``OptimWrapperDict`` keyed ``generator`` and ``discriminator`` (built by
    :class:`~restorekit.engine.optim_constructors.RestorerOptimWrapperConstructor`), following
    pix2pix's ``optimize_parameters`` and mmagic's ``BaseGAN.train_step``: the discriminator
    judges the output of ``adversarial_stage`` against its real target, conditioned on the damaged
    input when ``conditional_discriminator`` (pix2pix's ``cat(condition, image)``), and the
    generator's adversarial term ``loss_{stage}_{gan name}`` joins its stage losses. A
    discriminator with ``takes_mask = True`` is also given the training mask (MAT's
    ``concat(mask - 0.5, image)``); one with ``judges_stage1 = True`` also judges the inpainter's
    stage-1 output (:meth:`judge`, :meth:`inpaint_with_stage1`; MAT's half-width discriminator).

    **Two-phase training.** ``frozen_stages`` stay fixed (no gradients, eval mode, left out of the
    optimizers) and ``stage_init`` loads single stages from checkpoints.

    Args:
        mask_detector: Config or module of the mask detector, or ``None``.
        inpainter: Config or module of the inpainter, or ``None``.
        colorizer: Config or module of the colorizer, or ``None``.
        detector_losses: Loss configs of the detector.
        inpainter_losses: Loss configs of the inpainter.
        colorizer_losses: Loss configs of the colorizer.
        data_preprocessor: Config or module; defaults to ``RestorationDataPreprocessor``.
        train_mask_source: ``'gt'`` or ``'detected'``: the mask the inpainter gets in training.
        detach_between_stages: Stop gradients between stages (the colorizer's losses then do not
            train the inpainter).
        discriminator: Config or module of the discriminator, or ``None`` (no adversarial
            training).
        gan_loss: Config of the :class:`~restorekit.models.losses.gan.GANLoss`; required with a
            discriminator.
        r1_penalty: Optional config of the discriminator's
            :class:`~restorekit.models.losses.gan.R1GradientPenalty`.
        adversarial_stage: ``'colorizer'`` (judge ``rgb`` against ``gt_img``) or ``'inpainter'``
            (judge the grey composite against ``gt_gray``).
        conditional_discriminator: Concatenate the damaged input before the judged image, as
            pix2pix does; the discriminator's ``in_channels`` then counts both.
        disc_steps: Discriminator updates per iteration (on the same batch).
        gen_steps: Generator updates per iteration, after the discriminator's.
        frozen_stages: Stages to keep fixed, among ``'mask_detector'``, ``'inpainter'``,
            ``'colorizer'``.
        stage_init: ``{stage: checkpoint path}``: stages (or ``'discriminator'``) to load from a
            checkpoint (see :func:`load_stage_state_dict`), when built and again after
            :meth:`init_weights`, so no initialisation overwrites them.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 mask_detector: ModuleConfig = None,
                 inpainter: ModuleConfig = None,
                 colorizer: ModuleConfig = None,
                 detector_losses: Optional[Sequence[dict]] = None,
                 inpainter_losses: Optional[Sequence[dict]] = None,
                 colorizer_losses: Optional[Sequence[dict]] = None,
                 data_preprocessor: ModuleConfig = None,
                 train_mask_source: str = 'gt',
                 detach_between_stages: bool = False,
                 discriminator: ModuleConfig = None,
                 gan_loss: ModuleConfig = None,
                 r1_penalty: ModuleConfig = None,
                 adversarial_stage: str = 'colorizer',
                 conditional_discriminator: bool = True,
                 disc_steps: int = 1,
                 gen_steps: int = 1,
                 frozen_stages: Sequence[str] = (),
                 stage_init: Optional[Dict[str, str]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='RestorationDataPreprocessor')
        super().__init__(
            data_preprocessor=_build_module(data_preprocessor, MODELS, 'data_preprocessor'),
            init_cfg=init_cfg)
        if train_mask_source not in _MASK_SOURCES:
            raise ValueError(f'Restorer: train_mask_source must be one of {_MASK_SOURCES}, got '
                             f'{train_mask_source!r}.')
        self.mask_detector = _build_module(mask_detector, MASK_DETECTORS, 'mask_detector')
        self.inpainter = _build_module(inpainter, INPAINTERS, 'inpainter')
        self.colorizer = _build_module(colorizer, COLORIZERS, 'colorizer')
        if train_mask_source == 'detected' and self.mask_detector is None:
            raise ValueError("Restorer: train_mask_source='detected' needs a mask_detector.")
        self.train_mask_source = train_mask_source
        self.detach_between_stages = bool(detach_between_stages)

        self.detector_losses, self._detector_loss_names = _build_losses(detector_losses, 'detector')
        self.inpainter_losses, self._inpainter_loss_names = _build_losses(
            inpainter_losses, 'inpainter')
        self.colorizer_losses, self._colorizer_loss_names = _build_losses(
            colorizer_losses, 'colorizer')
        for stage, module in (('detector', self.mask_detector), ('inpainter', self.inpainter),
                              ('colorizer', self.colorizer)):
            if len(self._stage_loss_list(stage)[0]) and module is None:
                raise ValueError(f'Restorer: {stage}_losses are configured but there is no '
                                 f'{"mask_detector" if stage == "detector" else stage}.')

        self._init_adversarial(discriminator, gan_loss, r1_penalty, adversarial_stage,
                               conditional_discriminator, disc_steps, gen_steps)
        self._init_frozen_stages(frozen_stages)
        self.stage_init = self._check_stage_init(stage_init)
        self._load_stage_init()

    def _init_adversarial(self, discriminator: ModuleConfig, gan_loss: ModuleConfig,
                          r1_penalty: ModuleConfig, adversarial_stage: str,
                          conditional_discriminator: bool, disc_steps: int, gen_steps: int) -> None:
        """Build and check the discriminator, its losses and the step counts."""
        self.discriminator = _build_module(discriminator, DISCRIMINATORS, 'discriminator')
        self.gan_loss = _build_module(gan_loss, LOSSES, 'gan_loss')
        self.r1_penalty = _build_module(r1_penalty, LOSSES, 'r1_penalty')
        if self.discriminator is None:
            for key, value in (('gan_loss', self.gan_loss), ('r1_penalty', self.r1_penalty)):
                if value is not None:
                    raise ValueError(f'Restorer: {key} is configured but there is no '
                                     f'discriminator.')
        elif self.gan_loss is None:
            raise ValueError("Restorer: a discriminator needs a gan_loss, e.g. "
                             "gan_loss=dict(type='GANLoss', gan_type='vanilla').")
        if adversarial_stage not in _ADVERSARIAL_STAGES:
            raise ValueError(f'Restorer: adversarial_stage must be one of '
                             f'{tuple(_ADVERSARIAL_STAGES)}, got {adversarial_stage!r}.')
        if self.discriminator is not None and getattr(self, adversarial_stage) is None:
            raise ValueError(f'Restorer: adversarial_stage={adversarial_stage!r} but there is no '
                             f'{adversarial_stage} for the discriminator to judge.')
        if (self.gan_loss is not None
                and self.gan_loss.name in self._stage_loss_list(adversarial_stage)[1]):
            raise ValueError(f'Restorer: the gan_loss and a {adversarial_stage} loss are both '
                             f'named {self.gan_loss.name!r}; rename one (name=...).')
        for key, value in (('disc_steps', disc_steps), ('gen_steps', gen_steps)):
            if int(value) != value or value < 1:
                raise ValueError(f'Restorer: {key} must be a positive integer, got {value!r}.')
        self.adversarial_stage = adversarial_stage
        self.conditional_discriminator = bool(conditional_discriminator)
        self.disc_steps = int(disc_steps)
        self.gen_steps = int(gen_steps)
        self._disc_step_count = 0  # numbers the discriminator steps for lazy R1
        # The discriminator's call protocol, read from the module (before any DDP wrapping).
        self.disc_takes_mask = bool(getattr(self.discriminator, 'takes_mask', False))
        self.disc_judges_stage1 = bool(getattr(self.discriminator, 'judges_stage1', False))
        if self.disc_judges_stage1 and adversarial_stage != 'inpainter':
            raise ValueError(f'Restorer: the discriminator judges the inpainter\'s stage-1 output '
                             f'(judges_stage1=True), so adversarial_stage must be \'inpainter\', '
                             f'got {adversarial_stage!r}.')
        expected = (3 if adversarial_stage == 'colorizer' else 1) + int(
            self.conditional_discriminator)
        actual = getattr(self.discriminator, 'in_channels', expected)
        if isinstance(actual, int) and actual != expected:
            raise ValueError(
                f'Restorer: the discriminator takes {actual} channels but gets {expected}: the '
                f'{adversarial_stage} output ({expected - int(self.conditional_discriminator)})' +
                (' plus the grey condition (1)' if self.conditional_discriminator else '') +
                f'; set discriminator in_channels={expected}.')

    def _init_frozen_stages(self, frozen_stages: Sequence[str]) -> None:
        """Freeze the named stages: no gradients, eval mode (see :meth:`train`)."""
        if isinstance(frozen_stages, str):
            raise TypeError(f'Restorer: frozen_stages must be a list of stage names, got the '
                            f'string {frozen_stages!r}; write [{frozen_stages!r}].')
        self.frozen_stages = tuple(frozen_stages)
        for name in self.frozen_stages:
            if name not in _STAGE_MODULES:
                raise ValueError(f'Restorer: frozen_stages may name {tuple(_STAGE_MODULES)}, got '
                                 f'{name!r}.')
            module = getattr(self, name)
            if module is None:
                raise ValueError(f'Restorer: frozen_stages names {name!r} but there is no {name}.')
            loss_stage = _STAGE_MODULES[name]
            if len(self._stage_loss_list(loss_stage)[0]):
                raise ValueError(
                    f'Restorer: {name} is frozen but has {loss_stage}_losses; a frozen '
                    f'stage does not train, so set {loss_stage}_losses=[].')
            if self.discriminator is not None and name == self.adversarial_stage:
                raise ValueError(f'Restorer: {name} is frozen but is the adversarial_stage; the '
                                 f'discriminator can only train a stage that trains.')
            module.requires_grad_(False)
            module.eval()
        trains = [
            name for name in _STAGE_MODULES
            if getattr(self, name) is not None and name not in self.frozen_stages
        ]
        if self.frozen_stages and not trains:
            raise ValueError(f'Restorer: every stage is frozen ({list(self.frozen_stages)}); '
                             f'nothing would train.')

    def _check_stage_init(self, stage_init: Optional[Dict[str, str]]) -> Dict[str, str]:
        if stage_init is None:
            return {}
        if not isinstance(stage_init, dict):
            raise TypeError(f'Restorer: stage_init must be a dict {{stage: checkpoint path}}, got '
                            f'{type(stage_init).__name__}.')
        for name, path in stage_init.items():
            if name not in (*_STAGE_MODULES, 'discriminator'):
                raise ValueError(f'Restorer: stage_init may name '
                                 f'{(*_STAGE_MODULES, "discriminator")}, got {name!r}.')
            if getattr(self, name) is None:
                raise ValueError(f'Restorer: stage_init names {name!r} but there is no {name}.')
            if not isinstance(path, str):
                raise TypeError(f'Restorer: stage_init.{name} must be a checkpoint path, got '
                                f'{path!r}.')
        return dict(stage_init)

    def _load_stage_init(self) -> None:
        """Load every ``stage_init`` checkpoint into its stage, strictly."""
        for name, path in self.stage_init.items():
            module = _unwrap(getattr(self, name))
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

    def init_weights(self) -> None:
        """mmengine's initialisation, then the ``stage_init`` checkpoints on top of it."""
        super().init_weights()
        self._load_stage_init()

    def train(self, mode: bool = True) -> 'Restorer':
        """Set the training mode; frozen stages always stay in eval mode (BN statistics fixed)."""
        super().train(mode)
        for name in self.frozen_stages:
            getattr(self, name).eval()
        return self

    def _stage_loss_list(self, stage: str) -> Tuple[nn.ModuleList, List[str]]:
        """The losses of ``stage`` and their names."""
        return getattr(self, f'{stage}_losses'), getattr(self, f'_{stage}_loss_names')

    # --- the pipeline -----------------------------------------------------------------------------
    @staticmethod
    def detected_mask(logits: torch.Tensor) -> torch.Tensor:
        """The float {0, 1} damage mask of detector logits (``sigmoid(logits) > 0.5``)."""
        return (logits > 0).to(logits.dtype)

    def _maybe_detach(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.detach() if self.detach_between_stages else tensor

    def inpaint(self, inputs: torch.Tensor,
                mask: Optional[torch.Tensor]) -> Tuple[Optional[torch.Tensor], torch.Tensor]:
        """Run the inpainter and composite: returns ``(raw or None, composite)``.

        The known pixels of ``composite`` are exactly ``inputs`` wherever ``mask`` is 0; without a
        mask the raw output is used as is. ``composite`` is clamped to ``[-1, 1]``.
        """
        if self.inpainter is None:
            return None, inputs
        raw = self.inpainter(inputs, mask)
        return raw, self._composite(raw, inputs, mask)

    @staticmethod
    def _composite(raw: torch.Tensor, inputs: torch.Tensor,
                   mask: Optional[torch.Tensor]) -> torch.Tensor:
        """``raw`` with the known pixels of ``inputs`` put back, clamped to ``[-1, 1]``."""
        if raw.shape != inputs.shape:
            raise ValueError(f'Restorer: the inpainter must return the shape of its input '
                             f'{tuple(inputs.shape)}, got {tuple(raw.shape)}.')
        composite = raw if mask is None else raw * mask + inputs * (1.0 - mask)
        return composite.clamp(-1.0, 1.0)

    def inpaint_with_stage1(
            self, inputs: torch.Tensor,
            mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(raw, composite, stage-1 composite)`` of a two-stage inpainter (MAT).

        The inpainter must be a :class:`MultiStageInpainter` with a ``'stage1'`` stage; used while
        training against a discriminator that ``judges_stage1``.
        """
        result = run_stages(self.inpainter, inputs, mask)
        if 'stage1' not in result.stages:
            raise TypeError(f'Restorer: the discriminator judges the stage-1 output, so the '
                            f'inpainter ({type(self.inpainter).__name__}) must be a '
                            f"MultiStageInpainter with a 'stage1' stage (e.g. MAT); the "
                            f'return_stage1 flag is gone.')
        raw, stage1 = result.final, result.stages['stage1']
        return raw, self._composite(raw, inputs, mask), self._composite(stage1, inputs, mask)

    def colorize(self, grey: torch.Tensor) -> torch.Tensor:
        """RGB (N, 3, H, W) of the grey composite; replicated grey without a colorizer."""
        if self.colorizer is None:
            return grey.expand(-1, 3, -1, -1)
        rgb = self.colorizer(self._maybe_detach(grey))
        if rgb.shape != (grey.shape[0], 3, *grey.shape[2:]):
            raise ValueError(f'Restorer: the colorizer must return (N, 3, H, W) = '
                             f'{(grey.shape[0], 3, *grey.shape[2:])}, got {tuple(rgb.shape)}.')
        return rgb

    def _inference(
            self, inputs: torch.Tensor,
            data_samples: Optional[Sequence[RestorationDataSample]]) -> Dict[str, torch.Tensor]:
        """Run every stage with the inference mask rule; returns the tensors that exist."""
        outputs: Dict[str, torch.Tensor] = {}
        if self.mask_detector is not None:
            outputs['mask_logits'] = self.mask_detector(inputs)
            mask = self.detected_mask(outputs['mask_logits'])
        else:
            mask = self.data_preprocessor.stack_targets(data_samples, keys=('mask', ))['mask']
        if mask is not None:
            outputs['mask'] = mask
        raw, composite = self.inpaint(inputs, mask)
        if raw is not None:
            outputs['inpainted'] = raw
        outputs['composite'] = composite
        outputs['rgb'] = self.colorize(composite)
        return outputs

    # --- modes ------------------------------------------------------------------------------------
    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[RestorationDataSample]] = None,
                mode: str = 'tensor') -> Union[Dict[str, torch.Tensor], List]:
        """Run the pipeline on a preprocessed batch.

        Args:
            inputs: (N, 1, Hp, Wp) grey images in ``[-1, 1]`` from the data preprocessor.
            data_samples: The batch's samples (targets, ``img_shape``); optional for
                ``'tensor'`` and ``'predict'``.
            mode: ``'tensor'`` -> dict of the stage outputs (``mask_logits``, ``mask``,
                ``inpainted``, ``composite``, ``rgb``, those that exist); ``'loss'`` -> dict of
                losses; ``'predict'`` -> the data samples with ``pred_img``, ``pred_gray`` and
                ``pred_mask``.
        """
        if mode == 'tensor':
            return self._inference(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        raise ValueError(f'Restorer: mode must be one of {_MODES}, got {mode!r}.')

    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[RestorationDataSample]] = None
                ) -> List[RestorationDataSample]:
        """Restore the batch; returns the samples with uint8 predictions cropped to input size.

        Each sample gets ``pred_img`` (3, H, W), ``pred_gray`` (1, H, W) and, when a mask was used,
        ``pred_mask`` (1, H, W) with 1 = damaged; its ground-truth fields are left as they are.
        """
        if data_samples is None:
            data_samples = [
                RestorationDataSample(metainfo=dict(img_shape=tuple(inputs.shape[-2:])))
                for _ in range(inputs.shape[0])
            ]
        outputs = self._inference(inputs, data_samples)
        destruct = self.data_preprocessor.destruct
        pred_imgs = destruct(outputs['rgb'], data_samples)
        pred_grays = destruct(outputs['composite'], data_samples)
        pred_masks = (
            self.data_preprocessor.crop(outputs['mask'].to(torch.uint8), data_samples)
            if 'mask' in outputs else [None] * len(data_samples))
        for sample, pred_img, pred_gray, pred_mask in zip(data_samples, pred_imgs, pred_grays,
                                                          pred_masks):
            sample.pred_img = pred_img
            sample.pred_gray = pred_gray
            if pred_mask is not None:
                sample.pred_mask = pred_mask
        return list(data_samples)

    def loss(self, inputs: torch.Tensor,
             data_samples: Optional[List[RestorationDataSample]]) -> Dict[str, torch.Tensor]:
        """The training losses of every stage, keyed ``loss_{stage}_{name}``."""
        if not any(len(self._stage_loss_list(stage)[0]) for stage in _STAGE_TARGETS):
            raise ValueError('Restorer: no losses configured; set detector_losses, '
                             'inpainter_losses and/or colorizer_losses to train.')
        targets = self.data_preprocessor.stack_targets(data_samples)
        return self.pipeline_losses(self.train_forward(inputs, targets), targets)

    def pipeline_losses(self, outputs: Dict[str, torch.Tensor],
                        targets: Dict[str, Optional[torch.Tensor]]) -> Dict[str, torch.Tensor]:
        """The stage losses of :meth:`train_forward` outputs, keyed ``loss_{stage}_{name}``."""
        losses: Dict[str, torch.Tensor] = {}
        for stage, pred_key in (('detector', 'mask_logits'), ('inpainter', 'inpainted'),
                                ('colorizer', 'rgb')):
            if pred_key in outputs:
                losses.update(self.stage_losses(stage, outputs[pred_key], targets))
        return losses

    def train_forward(self, inputs: torch.Tensor,
                      targets: Dict[str, Optional[torch.Tensor]]) -> Dict[str, torch.Tensor]:
        """Run the stages for training, with the training mask rule (``train_mask_source``).

        The detector runs when it has losses or provides the training mask; the inpainter and
        colorizer run when they exist.
        """
        outputs: Dict[str, torch.Tensor] = {}
        if self.mask_detector is not None and (len(self.detector_losses)
                                               or self.train_mask_source == 'detected'):
            outputs['mask_logits'] = self.mask_detector(inputs)
        if self.train_mask_source == 'detected':
            mask = self.detected_mask(outputs['mask_logits'].detach())
        else:
            # Without ground-truth masks the inpainter gets None, as at inference.
            mask = targets['mask']
        if mask is not None:
            outputs['mask'] = mask
        if self.disc_judges_stage1:
            raw, composite, outputs['stage1'] = self.inpaint_with_stage1(inputs, mask)
        else:
            raw, composite = self.inpaint(inputs, mask)
        if raw is not None:
            outputs['inpainted'] = raw
        outputs['composite'] = composite
        if self.colorizer is not None:
            outputs['rgb'] = self.colorize(composite)
        return outputs

    def stage_losses(self, stage: str, pred: torch.Tensor,
                     targets: Dict[str, Optional[torch.Tensor]]) -> Dict[str, torch.Tensor]:
        """Apply the losses of ``stage`` (``'detector'``, ``'inpainter'``, ``'colorizer'``).

        Each loss gets ``(pred, targets[stage target], targets['mask'])``; a missing target is an
        error that names the field and the stage.
        """
        losses, names = self._stage_loss_list(stage)
        if not len(losses):
            return {}
        target_key = _STAGE_TARGETS[stage]
        target = targets.get(target_key)
        if target is None:
            raise ValueError(f'Restorer: the {stage} losses {names} need the data samples\' '
                             f'`{target_key}`, but the samples have none.')
        mask = targets.get('mask')
        return {
            f'loss_{stage}_{name}': loss(pred, target, mask)
            for loss, name in zip(losses, names)
        }

    # --- adversarial training ---------------------------------------------------------------------
    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        """One training iteration; returns the loss terms (tensors) for logging.

        Without a discriminator: mmengine's default step (forward in
        ``optim_wrapper.optim_context``, ``update_params`` of the summed losses); an
        ``OptimWrapperDict`` with only a ``generator`` entry works as well.

        With a discriminator (``optim_wrapper`` an ``OptimWrapperDict`` keyed ``generator`` and
        ``discriminator``), as pix2pix's ``optimize_parameters``:

        1. the generator runs once (inside the generator wrapper's ``optim_context``, so AMP
           autocasts and gradient accumulation skips DDP synchronisation);
        2. ``disc_steps`` discriminator updates on the detached output against the real target
           (``loss_disc_fake``, ``loss_disc_real`` and, when due, the R1 penalty), inside the
           discriminator wrapper's ``optim_context``;
        3. ``gen_steps`` generator updates with the discriminator's parameters frozen
           (``requires_grad=False``): the stage losses plus the adversarial term
           ``loss_{adversarial_stage}_{gan_loss.name}``; the first reuses step 1's forward pass.

        Every update goes through ``update_params``, so each wrapper's ``accumulative_counts``
        applies: with ``k``, a network's optimizer steps every ``k``-th iteration. Steps within one
        iteration see the same batch, so ``disc_steps``/``gen_steps`` > 1 cannot be combined with
        accumulation of the same network. No tensor is copied to the CPU; the returned terms are
        detached and averaged over the steps.
        """
        if self.discriminator is None:
            if isinstance(optim_wrapper, OptimWrapperDict):
                optim_wrapper = self._network_wrappers(optim_wrapper)['generator']
            return super().train_step(data, optim_wrapper)
        wrappers = self._network_wrappers(optim_wrapper)
        gen_wrapper, disc_wrapper = wrappers['generator'], wrappers['discriminator']

        data = self.data_preprocessor(data, True)
        inputs = data['inputs']
        targets = self.data_preprocessor.stack_targets(data['data_samples'])
        output_key, target_key = _ADVERSARIAL_STAGES[self.adversarial_stage]
        real = targets[target_key]
        if real is None:
            raise ValueError(f'Restorer: the discriminator judges the {self.adversarial_stage} '
                             f'against the `{target_key}` of the data samples, but the samples '
                             f'have none.')

        with self._generator_context(gen_wrapper):
            outputs = self.train_forward(inputs, targets)
        if self.disc_takes_mask and 'mask' not in outputs:
            raise ValueError('Restorer: the discriminator judges (image, mask) (takes_mask=True), '
                             'but the batch has no damage mask; give the samples a `mask` or use '
                             "train_mask_source='detected'.")
        mask = outputs.get('mask')
        # In the discriminator's precision, whatever the generator's autocast produced.
        fake = outputs[output_key].detach().to(real.dtype)
        fake_stage1 = (
            outputs['stage1'].detach().to(real.dtype) if self.disc_judges_stage1 else None)
        disc_logs = [
            self._train_discriminator(inputs, real, fake, disc_wrapper, mask, fake_stage1)
            for _ in range(self.disc_steps)
        ]
        gen_logs = []
        with self._frozen_discriminator():
            for step in range(self.gen_steps):
                gen_logs.append(
                    self._train_generator(inputs, targets, outputs if step == 0 else None,
                                          gen_wrapper))
        return {**_mean_logs(disc_logs), **_mean_logs(gen_logs)}

    def _network_wrappers(self, optim_wrapper: OptimWrapper) -> Dict[str, OptimWrapper]:
        """The wrappers keyed by network, checked against this model and the step counts."""
        if not isinstance(optim_wrapper, OptimWrapperDict):
            raise TypeError(
                'Restorer: a Restorer with a discriminator trains with an OptimWrapperDict keyed '
                f'{_NETWORKS}, got a {type(optim_wrapper).__name__}; build it with '
                "optim_wrapper=dict(constructor='RestorerOptimWrapperConstructor', "
                'generator=dict(...), discriminator=dict(...)).')
        needed = _NETWORKS if self.discriminator is not None else _NETWORKS[:1]
        if set(optim_wrapper.keys()) != set(needed):
            raise ValueError(f'Restorer: the OptimWrapperDict must have the keys {needed}, got '
                             f'{sorted(optim_wrapper.keys())}.')
        wrappers = {network: optim_wrapper[network] for network in needed}
        for network, steps in (('generator', self.gen_steps), ('discriminator', self.disc_steps)):
            if network in wrappers and steps > 1 and wrappers[network]._accumulative_counts > 1:
                raise ValueError(
                    f'Restorer: {network} has {steps} steps per iteration and '
                    f'accumulative_counts={wrappers[network]._accumulative_counts}; the steps of '
                    f'one iteration see the same batch, so accumulating them adds nothing. Use '
                    f'either.')
        return wrappers

    def _generator_stages(self) -> List[nn.Module]:
        return [
            getattr(self, name) for name in _STAGE_MODULES
            if getattr(self, name) is not None and name not in self.frozen_stages
        ]

    @contextmanager
    def _generator_context(self, wrapper: OptimWrapper) -> Iterator[None]:
        """``wrapper.optim_context`` of every trained generator stage (each may be a DDP)."""
        with ExitStack() as stack:
            for stage in self._generator_stages():
                stack.enter_context(wrapper.optim_context(stage))
            yield

    @contextmanager
    def _frozen_discriminator(self) -> Iterator[None]:
        """Stop gradients into the discriminator's parameters; restore them afterwards."""
        params = [param for param in self.discriminator.parameters() if param.requires_grad]
        for param in params:
            param.requires_grad_(False)
        try:
            yield
        finally:
            for param in params:
                param.requires_grad_(True)

    def discriminator_input(self, image: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """What the discriminator sees: ``cat(condition, image)`` if conditional, else ``image``."""
        if not self.conditional_discriminator:
            return image
        return torch.cat([condition.to(image.dtype), image], dim=1)

    def judge(self,
              discriminator: nn.Module,
              image: torch.Tensor,
              condition: torch.Tensor,
              mask: Optional[torch.Tensor] = None,
              stage1: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """The discriminator's logits of ``image``, keyed by the judged output.

        The call follows the discriminator's class attributes: ``discriminator(x)`` by default,
        ``discriminator(x, mask)`` when it ``takes_mask`` (MAT's ``concat(mask - 0.5, image)``),
        ``discriminator(x, mask, x_stage1)`` when it also ``judges_stage1``, where ``x`` is
        :meth:`discriminator_input`. Returns ``{'': logits}``, plus ``{'stage1_': logits}`` for a
        stage-1 discriminator; the keys are the infixes of the loss names.
        """
        args = [self.discriminator_input(image, condition)]
        if self.disc_takes_mask:
            args.append(mask)
        if self.disc_judges_stage1:
            args.append(self.discriminator_input(stage1, condition))
        preds = discriminator(*args)
        if self.disc_judges_stage1:
            return {'': preds[0], 'stage1_': preds[1]}
        return {'': preds}

    def _train_discriminator(self,
                             inputs: torch.Tensor,
                             real: torch.Tensor,
                             fake: torch.Tensor,
                             wrapper: OptimWrapper,
                             mask: Optional[torch.Tensor] = None,
                             fake_stage1: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """One discriminator update on detached ``fake`` (and ``fake_stage1``) and ``real``.

        A stage-1 discriminator sees the stage-1 output as its fake and the same real image; each
        discriminator gets its own terms (``loss_disc_stage1_fake``...) and its own R1 penalty.
        """
        step, self._disc_step_count = self._disc_step_count, self._disc_step_count + 1
        with_r1 = self.r1_penalty is not None and self.r1_penalty.is_due(step)
        with wrapper.optim_context(self.discriminator):
            preds_fake = self.judge(self.discriminator, fake, inputs, mask, fake_stage1)
            real = real.detach().requires_grad_(with_r1)
            preds_real = self.judge(self.discriminator, real, inputs, mask, real)
            losses = {}
            for infix, pred_fake in preds_fake.items():
                pred_real = preds_real[infix]
                losses[f'loss_disc_{infix}fake'] = self.gan_loss(
                    pred_fake, target_is_real=False, is_disc=True)
                losses[f'loss_disc_{infix}real'] = self.gan_loss(
                    pred_real, target_is_real=True, is_disc=True)
                if with_r1:
                    losses[f'loss_disc_{infix}{self.r1_penalty.name}'] = self.r1_penalty(
                        pred_real, real)
        loss, logs = self.parse_losses(losses)
        wrapper.update_params(loss)
        return logs

    def _train_generator(self, inputs: torch.Tensor, targets: Dict[str, Optional[torch.Tensor]],
                         outputs: Optional[Dict[str, torch.Tensor]],
                         wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        """One generator update: stage losses plus the adversarial term (``outputs`` reused)."""
        with self._generator_context(wrapper):
            if outputs is None:
                outputs = self.train_forward(inputs, targets)
            losses = self.pipeline_losses(outputs, targets)
            fake = outputs[_ADVERSARIAL_STAGES[self.adversarial_stage][0]]
            # The plain module, not its DDP wrapper: its parameters take no gradient here, so
            # DDP has nothing to prepare (nor, with find_unused_parameters, zeros to all-reduce).
            preds_fake = self.judge(
                _unwrap(self.discriminator), fake, inputs, outputs.get('mask'),
                outputs.get('stage1'))
            for infix, pred_fake in preds_fake.items():
                losses[f'loss_{self.adversarial_stage}_{infix}{self.gan_loss.name}'] = (
                    self.gan_loss(pred_fake, target_is_real=True, is_disc=False))
        loss, logs = self.parse_losses(losses)
        wrapper.update_params(loss)
        return logs


def _mean_logs(logs: Sequence[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Each term averaged over the steps that logged it, detached; parse_losses' total dropped."""
    keys = dict.fromkeys(key for log in logs for key in log if key != 'loss')
    return {
        key: torch.stack([log[key].detach() for log in logs if key in log]).mean()
        for key in keys
    }
