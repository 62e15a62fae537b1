"""The composable restoration pipeline: mask detector -> inpainter -> colorizer.

This module holds the pipeline only: its stages, their losses and the one inference method,
:meth:`Restorer.restore`, with the one rule for the damage mask. Building and loading stages is in
:mod:`.stage_init`, freezing in :mod:`.freezing`, adversarial training in :mod:`.adversarial`.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict

from restorekit.registry import COLORIZERS, INPAINTERS, MASK_DETECTORS, MODELS
from restorekit.structures import RestorationDataSample
from restorekit.utils.padding import pad_bottom_right
from restorekit.utils.value_range import unit_range_to_uint8
from ..outputs import MultiStageInpainter, run_stages
from ..step_seeded import StepSeededStage
from .freezing import check_frozen_stages, keep_frozen_in_eval, set_frozen_stages
from .stage_init import (STAGE_TARGETS, ModuleConfig, build_losses, build_module, check_stage_init,
                         load_stage_init, unwrap)

_MODES = ('tensor', 'loss', 'predict')
_MASK_SOURCES = ('gt', 'detected')
#: What evaluation (``predict``) uses for images with neither a given mask nor a detector.
EVAL_MASKS = ('gt', 'fill_rule')
#: Keys of the training counters in the state dict (``{prefix}_train_state.{name}``).
TRAIN_STATE_PREFIX = '_train_state.'
#: The Restorer arguments inference needs; the others (losses, discriminator, freezing) train.
INFERENCE_KEYS = ('data_preprocessor', 'mask_detector', 'inpainter', 'colorizer', 'eval_mask',
                  'fill_rule', 'stage_init', 'init_cfg')


def inference_config(model_cfg: dict) -> dict:
    """The config of the plain pipeline (``type='Restorer'``) of a Restorer or
    AdversarialRestorer config: the stages and the mask rule, without what only trains."""
    model_cfg = model_cfg.to_dict() if hasattr(model_cfg, 'to_dict') else dict(model_cfg)
    return dict(type='Restorer', **{key: model_cfg[key] for key in INFERENCE_KEYS
                                    if key in model_cfg})


@MODELS.register_module()
class Restorer(BaseModel):
    """Restores damaged grey photographs: detect the damage, inpaint it, colorize the result.

    Each stage is optional and built from its own registry (or given as a module):

    1. ``mask_detector`` (:data:`MASK_DETECTORS`): ``logits = detector(x)``; the damage mask is
       ``sigmoid(logits) > 0.5``.
    2. ``inpainter`` (:data:`INPAINTERS`): ``raw = inpainter(x, mask)``; the known pixels are put
       back exactly, ``composite = raw * mask + x * (1 - mask)``, clamped to ``[-1, 1]``. Without
       an inpainter ``composite = x``. An inpainter with intermediate outputs (a
       :class:`~restorekit.models.outputs.MultiStageInpainter`: MAT's ``stage1``, DeepFill's
       ``coarse``) reports them through :func:`~restorekit.models.outputs.run_stages`; training
       can put losses on them (``inpainter_stage_losses``) and a discriminator can judge them
       (:class:`~.adversarial.AdversarialRestorer`).
    3. ``colorizer`` (:data:`COLORIZERS`): ``rgb = colorizer(composite)``; without one, ``rgb`` is
       the grey composite replicated to three channels.

    **The damage mask at inference** (:meth:`restore`, used by ``'predict'``, ``'tensor'``, the
    :class:`~restorekit.apis.RestorationInferencer`, tiling and the web app), per image: a given
    mask; else the detector's; else, in evaluation with ``eval_mask='gt'``, the sample's
    ground-truth mask; else the constant-grey-fill rule
    (:func:`~restorekit.models.detectors.constant_fill.detect_constant_fill`, which is what the
    DACON damage is). While training the inpainter gets the ground-truth mask
    (``train_mask_source='gt'``) or the detected one (``'detected'``).

    Losses are lists of configs built from :data:`LOSSES`, one list per stage, each loss carrying
    its own ``loss_weight``; every loss is called as ``loss(pred, target, mask)`` with the
    ground-truth mask (``None`` if the samples have none): ``detector_losses`` on ``(logits, gt
    mask)``, ``inpainter_losses`` on ``(raw, gt_gray)``, ``inpainter_stage_losses[name]`` on
    ``(intermediate output name, gt_gray)``, ``colorizer_losses`` on ``(rgb, gt_img)``. The loss
    dict keys are ``f'loss_{stage}_{name}'`` (``loss_inpainter_l1``, ``loss_inpainter_coarse_l1``).
    The design follows mmagic's one-model-per-task restorers (``mmagic/models/base_models``), with
    the fixed loss keywords replaced by lists of configs.

    **Two-phase training.** ``frozen_stages`` stay fixed (see :mod:`.freezing`) and ``stage_init``
    loads single stages from checkpoints (see :mod:`.stage_init`).

    Args:
        mask_detector: Config or module of the mask detector, or ``None``.
        inpainter: Config or module of the inpainter, or ``None``.
        colorizer: Config or module of the colorizer, or ``None``.
        detector_losses: Loss configs of the detector.
        inpainter_losses: Loss configs of the inpainter.
        colorizer_losses: Loss configs of the colorizer.
        inpainter_stage_losses: ``{intermediate stage name: loss configs}`` of a
            ``MultiStageInpainter`` (e.g. ``{'coarse': [dict(type='L1Loss')]}`` for DeepFill).
        data_preprocessor: Config or module; defaults to ``RestorationDataPreprocessor``.
        train_mask_source: ``'gt'`` or ``'detected'``: the mask the inpainter gets in training.
        detach_between_stages: Stop gradients between stages (the colorizer's losses then do not
            train the inpainter).
        eval_mask: What ``predict`` (evaluation) uses where there is no given mask nor a
            detector: ``'gt'`` (the samples' ground-truth mask, the rule where they have none)
            or ``'fill_rule'`` (the rule, as restoring photographs does).
        fill_rule: Keyword arguments of the constant-fill rule
            (:class:`~restorekit.models.detectors.constant_fill.ConstantFillDetector`'s).
        frozen_stages: Stages to keep fixed, among ``'mask_detector'``, ``'inpainter'``,
            ``'colorizer'``.
        stage_init: ``{stage: checkpoint path}``: stages (or ``'discriminator'``) to load from a
            checkpoint (see :func:`~.stage_init.load_stage_state_dict`), when built and again
            after :meth:`init_weights`, so no initialisation overwrites them.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 mask_detector: ModuleConfig = None,
                 inpainter: ModuleConfig = None,
                 colorizer: ModuleConfig = None,
                 detector_losses: Optional[Sequence[dict]] = None,
                 inpainter_losses: Optional[Sequence[dict]] = None,
                 colorizer_losses: Optional[Sequence[dict]] = None,
                 inpainter_stage_losses: Optional[Dict[str, Sequence[dict]]] = None,
                 data_preprocessor: ModuleConfig = None,
                 train_mask_source: str = 'gt',
                 detach_between_stages: bool = False,
                 eval_mask: str = 'gt',
                 fill_rule: Optional[dict] = None,
                 frozen_stages: Sequence[str] = (),
                 stage_init: Optional[Dict[str, str]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='RestorationDataPreprocessor')
        super().__init__(
            data_preprocessor=build_module(data_preprocessor, MODELS, 'data_preprocessor'),
            init_cfg=init_cfg)
        if train_mask_source not in _MASK_SOURCES:
            raise ValueError(f'Restorer: train_mask_source must be one of {_MASK_SOURCES}, got '
                             f'{train_mask_source!r}.')
        if eval_mask not in EVAL_MASKS:
            raise ValueError(f'Restorer: eval_mask must be one of {EVAL_MASKS}, got '
                             f'{eval_mask!r}.')
        self.mask_detector = build_module(mask_detector, MASK_DETECTORS, 'mask_detector')
        self.inpainter = build_module(inpainter, INPAINTERS, 'inpainter')
        self.colorizer = build_module(colorizer, COLORIZERS, 'colorizer')
        if train_mask_source == 'detected' and self.mask_detector is None:
            raise ValueError("Restorer: train_mask_source='detected' needs a mask_detector.")
        self.train_mask_source = train_mask_source
        self.detach_between_stages = bool(detach_between_stages)
        self.eval_mask = eval_mask
        from restorekit.models.detectors.constant_fill import ConstantFillDetector
        self.fill_rule_kwargs = ConstantFillDetector(**(fill_rule or {})).rule_kwargs

        self.detector_losses, self._detector_loss_names = build_losses(detector_losses, 'detector')
        self.inpainter_losses, self._inpainter_loss_names = build_losses(
            inpainter_losses, 'inpainter')
        self.colorizer_losses, self._colorizer_loss_names = build_losses(
            colorizer_losses, 'colorizer')
        self._build_stage_losses(inpainter_stage_losses or {})
        for stage, module in (('detector', self.mask_detector), ('inpainter', self.inpainter),
                              ('colorizer', self.colorizer)):
            if self.has_losses(stage) and module is None:
                raise ValueError(f'Restorer: {stage}_losses are configured but there is no '
                                 f'{"mask_detector" if stage == "detector" else stage}.')
        #: Training forward passes so far; numbers the noise of step-seeded stages (MAT).
        self.train_forward_calls = 0

        self.frozen_stages: Tuple[str, ...] = ()
        set_frozen_stages(self, check_frozen_stages(self, frozen_stages))
        self.stage_init = check_stage_init(self, stage_init)
        load_stage_init(self, self.stage_init)

    def _build_stage_losses(self, configs: Dict[str, Sequence[dict]]) -> None:
        """The losses of the inpainter's intermediate stages, checked against its stage names."""
        if not isinstance(configs, dict):
            raise TypeError(f'Restorer: inpainter_stage_losses must be a dict {{stage name: loss '
                            f'configs}}, got {type(configs).__name__}.')
        self.inpainter_stage_losses = nn.ModuleDict()
        self._inpainter_stage_loss_names: Dict[str, List[str]] = {}
        for name, stage_configs in configs.items():
            self.check_inpainter_stage(name, 'inpainter_stage_losses')
            losses, names = build_losses(stage_configs, f'inpainter_stage_losses.{name}')
            self.inpainter_stage_losses[name] = losses
            self._inpainter_stage_loss_names[name] = names

    def check_inpainter_stage(self, name: str, key: str) -> None:
        """Raise unless the inpainter reports the intermediate output ``name``."""
        inpainter = None if self.inpainter is None else unwrap(self.inpainter)
        stages = inpainter.stage_names if isinstance(inpainter, MultiStageInpainter) else ()
        if name not in stages:
            raise ValueError(
                f'Restorer: {key} names the inpainter stage {name!r}, but the inpainter '
                f'({type(inpainter).__name__}) reports {list(stages)}; a coarse-to-fine '
                'inpainter subclasses MultiStageInpainter and lists its stage_names.')

    def has_losses(self, stage: str) -> bool:
        """Whether ``stage`` (``'detector'``, ``'inpainter'``, ``'colorizer'``) has losses."""
        if stage == 'inpainter' and any(len(losses) for losses in
                                        self.inpainter_stage_losses.values()):
            return True
        return bool(len(getattr(self, f'{stage}_losses')))

    def init_weights(self) -> None:
        """mmengine's initialisation, then the ``stage_init`` checkpoints on top of it."""
        super().init_weights()
        load_stage_init(self, self.stage_init)

    def train(self, mode: bool = True) -> 'Restorer':
        """Set the training mode; frozen stages always stay in eval mode (BN statistics fixed)."""
        super().train(mode)
        keep_frozen_in_eval(self)
        return self

    # --- training state kept in the checkpoint ----------------------------------------------------
    def train_counters(self) -> Dict[str, int]:
        """Counters that drive training and must survive a resume, saved in the state dict."""
        return {'train_forward_calls': self.train_forward_calls}

    def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        for name, value in self.train_counters().items():
            destination[prefix + TRAIN_STATE_PREFIX + name] = torch.tensor(value)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        # Checkpoints from before the counters were saved have none: the counters stay.
        counters = self.train_counters()
        for key in [key for key in state_dict if key.startswith(prefix + TRAIN_STATE_PREFIX)]:
            name = key[len(prefix + TRAIN_STATE_PREFIX):]
            value = state_dict.pop(key)
            if name in counters:
                setattr(self, name, int(value))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    # --- the pipeline -----------------------------------------------------------------------------
    @staticmethod
    def detected_mask(logits: torch.Tensor) -> torch.Tensor:
        """The float {0, 1} damage mask of detector logits (``sigmoid(logits) > 0.5``)."""
        return (logits > 0).to(logits.dtype)

    def _maybe_detach(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.detach() if self.detach_between_stages else tensor

    @staticmethod
    def composite(raw: torch.Tensor, inputs: torch.Tensor,
                  mask: Optional[torch.Tensor]) -> torch.Tensor:
        """``raw`` with the known pixels of ``inputs`` put back, clamped to ``[-1, 1]``."""
        if raw.shape != inputs.shape:
            raise ValueError(f'Restorer: the inpainter must return the shape of its input '
                             f'{tuple(inputs.shape)}, got {tuple(raw.shape)}.')
        composite = raw if mask is None else raw * mask + inputs * (1.0 - mask)
        return composite.clamp(-1.0, 1.0)

    def inpaint(self, inputs: torch.Tensor,
                mask: Optional[torch.Tensor]) -> Tuple[Optional[torch.Tensor], torch.Tensor]:
        """Run the inpainter and composite: returns ``(raw or None, composite)``."""
        if self.inpainter is None:
            return None, inputs
        raw = self.inpainter(inputs, mask)
        return raw, self.composite(raw, inputs, mask)

    def colorize(self, grey: torch.Tensor) -> torch.Tensor:
        """RGB (N, 3, H, W) of the grey composite; replicated grey without a colorizer."""
        if self.colorizer is None:
            return grey.expand(-1, 3, -1, -1)
        rgb = self.colorizer(self._maybe_detach(grey))
        if rgb.shape != (grey.shape[0], 3, *grey.shape[2:]):
            raise ValueError(f'Restorer: the colorizer must return (N, 3, H, W) = '
                             f'{(grey.shape[0], 3, *grey.shape[2:])}, got {tuple(rgb.shape)}.')
        return rgb

    # --- inference: the one mask rule -------------------------------------------------------------
    @property
    def detector_works_on_tiles(self) -> bool:
        """Whether the detector may run tile by tile on a large image: a learned detector does;
        the constant-fill rule (with or without a learned fallback) measures whole regions, so it
        sees the whole image, and so does the rule used without a detector."""
        from restorekit.models.detectors.constant_fill import ConstantFillDetector
        return self.mask_detector is not None and not isinstance(
            unwrap(self.mask_detector), ConstantFillDetector)

    def detector_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """The detector's float32 logits (autocast off: the mask is a threshold of the logits,
        and bfloat16 flips the pixels whose logits are near 0, turning known pixels into
        inpainted ones; the detector is a small share of the time, docs/benchmarks.md)."""
        with torch.autocast(device_type=inputs.device.type, enabled=False):
            return self.mask_detector(inputs.float()).float()

    def _fill_rule_mask(self, image: torch.Tensor, shape: Tuple[int, int]) -> torch.Tensor:
        """The rule's float {0, 1} mask (1, Hp, Wp) of one padded image, found in its unpadded
        ``shape`` part and padded with 0 (known)."""
        from restorekit.models.detectors.constant_fill import detect_constant_fill
        height, width = shape
        grey = unit_range_to_uint8(image[0, :height, :width]).cpu().numpy()
        mask = torch.from_numpy(detect_constant_fill(grey, **self.fill_rule_kwargs).mask)
        return pad_bottom_right(
            mask.to(device=image.device, dtype=torch.float32)[None, None], *image.shape[-2:],
            'zeros')[0]

    def damage_mask(self,
                    inputs: torch.Tensor,
                    data_samples: Optional[Sequence[RestorationDataSample]] = None,
                    given_masks: Optional[Sequence[Optional[torch.Tensor]]] = None,
                    use_gt_masks: bool = False) -> Dict[str, torch.Tensor]:
        """The damage mask of a preprocessed batch: the one mask rule of restorekit.

        Per image, the first that exists: ``given_masks[i]`` (a (1, H, W) tensor, nonzero =
        damaged, the size of the unpadded image); the detector's; with ``use_gt_masks``, the
        sample's ground-truth ``mask``; the constant-fill rule. The detector's mask keeps the
        padding it finds (as it did in every release); the others are 0 there.

        Returns:
            ``dict(mask=(N, 1, Hp, Wp) float {0, 1})``, plus ``mask_logits`` when the detector
            ran.
        """
        count = inputs.shape[0]
        given = list(given_masks) if given_masks is not None else [None] * count
        if len(given) != count:
            raise ValueError(f'Restorer: {count} images but {len(given)} given masks.')
        shapes = [
            tuple(sample.metainfo['img_shape']) if sample is not None
            and 'img_shape' in sample.metainfo else tuple(inputs.shape[-2:])
            for sample in (data_samples or [None] * count)
        ]
        outputs: Dict[str, torch.Tensor] = {}
        missing = [index for index, mask in enumerate(given) if mask is None]
        found: Dict[int, torch.Tensor] = {}
        if missing and self.mask_detector is not None:
            outputs['mask_logits'] = self.detector_logits(inputs)
            detected = self.detected_mask(outputs['mask_logits'])
            found = {index: detected[index] for index in missing}
        elif missing and use_gt_masks:
            gt = self.data_preprocessor.stack_targets(data_samples, keys=('mask', ))['mask']
            if gt is not None:
                found = {index: gt[index] for index in missing}
        masks = []
        for index, mask in enumerate(given):
            if mask is not None:
                masks.append(self._pad_given_mask(mask, shapes[index], inputs))
            elif index in found:
                masks.append(found[index].float())
            else:
                masks.append(self._fill_rule_mask(inputs[index], shapes[index]))
        outputs['mask'] = torch.stack(masks)
        return outputs

    @staticmethod
    def _pad_given_mask(mask: torch.Tensor, shape: Tuple[int, int],
                        inputs: torch.Tensor) -> torch.Tensor:
        mask = torch.as_tensor(mask, device=inputs.device)
        if mask.dim() == 2:
            mask = mask[None]
        if tuple(mask.shape) != (1, *shape):
            raise ValueError(f'Restorer: a given mask must be (1, H, W) = {(1, *shape)}, the size '
                             f'of its image, got {tuple(mask.shape)}.')
        return pad_bottom_right((mask != 0).float()[None], *inputs.shape[-2:], 'zeros')[0]

    def restore(self,
                inputs: torch.Tensor,
                data_samples: Optional[Sequence[RestorationDataSample]] = None,
                given_masks: Optional[Sequence[Optional[torch.Tensor]]] = None,
                use_gt_masks: bool = False) -> Dict[str, torch.Tensor]:
        """Restore a preprocessed batch: the only inference path of restorekit.

        ``predict`` (tools/test.py, validation), ``'tensor'`` mode, the
        :class:`~restorekit.apis.RestorationInferencer` (tools/restore.py, the web app) and its
        tiles all call this. The mask follows :meth:`damage_mask`; the detector runs in float32,
        the other stages in whatever autocast the caller set.

        Returns:
            Float32 padded (N, C, Hp, Wp) tensors: ``mask``, ``mask_logits`` (when the detector
            ran), ``inpainted`` (the raw inpainting, when there is an inpainter), ``composite``
            (the grey image with the known pixels exact; the input without inpainter) and
            ``rgb``, all in ``[-1, 1]`` except the mask and logits.
        """
        outputs = self.damage_mask(inputs, data_samples, given_masks, use_gt_masks)
        mask = outputs['mask'].to(inputs.dtype)
        raw, composite = self.inpaint(inputs, mask)
        if raw is not None:
            outputs['inpainted'] = raw
        outputs['composite'] = composite
        outputs['rgb'] = self.colorize(composite)
        # Under bf16 autocast a stage may return bfloat16; the way back to uint8 is float32.
        return {name: value.float() for name, value in outputs.items()}

    def stage_networks(self) -> Dict[str, nn.Module]:
        """The networks that restore, by stage: ``detector`` (of a ``ConstantFillDetector``, its
        learned fallback: the rule itself is numpy), ``inpainter``, ``colorizer``; absent stages
        are left out. For the speed switches (channels-last, ``torch.compile``)."""
        from restorekit.models.detectors.constant_fill import ConstantFillDetector
        detector = self.mask_detector
        if isinstance(detector, ConstantFillDetector):
            detector = detector.fallback
        networks = dict(detector=detector, inpainter=self.inpainter, colorizer=self.colorizer)
        return {stage: network for stage, network in networks.items() if network is not None}

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
            mode: ``'tensor'`` -> :meth:`restore`'s dict; ``'loss'`` -> dict of losses;
                ``'predict'`` -> the data samples with ``pred_img``, ``pred_gray`` and
                ``pred_mask``.
        """
        if mode == 'tensor':
            return self.restore(inputs, data_samples, use_gt_masks=self.eval_mask == 'gt')
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        raise ValueError(f'Restorer: mode must be one of {_MODES}, got {mode!r}.')

    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[RestorationDataSample]] = None
                ) -> List[RestorationDataSample]:
        """Restore the batch (:meth:`restore`, evaluation's mask rule ``eval_mask``); returns the
        samples with uint8 ``pred_img`` (3, H, W), ``pred_gray`` (1, H, W) and ``pred_mask``
        (1, H, W), 1 = damaged, cropped to the input size; ground-truth fields stay."""
        if data_samples is None:
            data_samples = [
                RestorationDataSample(metainfo=dict(img_shape=tuple(inputs.shape[-2:])))
                for _ in range(inputs.shape[0])
            ]
        outputs = self.restore(inputs, data_samples, use_gt_masks=self.eval_mask == 'gt')
        destruct = self.data_preprocessor.destruct
        pred_imgs = destruct(outputs['rgb'], data_samples)
        pred_grays = destruct(outputs['composite'], data_samples)
        pred_masks = self.data_preprocessor.crop(outputs['mask'].to(torch.uint8), data_samples)
        for sample, pred_img, pred_gray, pred_mask in zip(data_samples, pred_imgs, pred_grays,
                                                          pred_masks):
            sample.pred_img = pred_img
            sample.pred_gray = pred_gray
            sample.pred_mask = pred_mask
        return list(data_samples)

    # --- training ---------------------------------------------------------------------------------
    def loss(self, inputs: torch.Tensor,
             data_samples: Optional[List[RestorationDataSample]]) -> Dict[str, torch.Tensor]:
        """The training losses of every stage, keyed ``loss_{stage}_{name}``."""
        if not any(self.has_losses(stage) for stage in STAGE_TARGETS):
            raise ValueError('Restorer: no losses configured; set detector_losses, '
                             'inpainter_losses and/or colorizer_losses to train.')
        targets = self.data_preprocessor.stack_targets(data_samples)
        return self.pipeline_losses(self.train_forward(inputs, targets), targets)

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        """mmengine's default step; an ``OptimWrapperDict`` with only a ``generator`` works too."""
        if isinstance(optim_wrapper, OptimWrapperDict):
            if set(optim_wrapper.keys()) != {'generator'}:
                raise ValueError(f"Restorer: the OptimWrapperDict must have the keys "
                                 f"('generator',), got {sorted(optim_wrapper.keys())}.")
            optim_wrapper = optim_wrapper['generator']
        return super().train_step(data, optim_wrapper)

    def pipeline_losses(self, outputs: Dict[str, torch.Tensor],
                        targets: Dict[str, Optional[torch.Tensor]]) -> Dict[str, torch.Tensor]:
        """The stage losses of :meth:`train_forward` outputs, keyed ``loss_{stage}_{name}``."""
        losses: Dict[str, torch.Tensor] = {}
        for stage, pred_key in (('detector', 'mask_logits'), ('inpainter', 'inpainted'),
                                ('colorizer', 'rgb')):
            if pred_key in outputs:
                losses.update(
                    self.stage_losses(stage, outputs[pred_key], targets,
                                      getattr(self, f'{stage}_losses'),
                                      getattr(self, f'_{stage}_loss_names')))
        for name, stage_losses in self.inpainter_stage_losses.items():
            losses.update(
                self.stage_losses(f'inpainter_{name}', outputs['stages'][name], targets,
                                  stage_losses, self._inpainter_stage_loss_names[name],
                                  target_key='gt_gray'))
        return losses

    @staticmethod
    def stage_losses(stage: str,
                     pred: torch.Tensor,
                     targets: Dict[str, Optional[torch.Tensor]],
                     losses: Sequence[nn.Module],
                     names: Sequence[str],
                     target_key: Optional[str] = None) -> Dict[str, torch.Tensor]:
        """Apply ``losses`` to ``(pred, targets[target], targets['mask'])``, keyed
        ``loss_{stage}_{name}``; a missing target is an error that names the field and stage."""
        if not len(losses):
            return {}
        target_key = target_key or STAGE_TARGETS[stage]
        target = targets.get(target_key)
        if target is None:
            raise ValueError(f'Restorer: the {stage} losses {list(names)} need the data '
                             f'samples\' `{target_key}`, but the samples have none.')
        mask = targets.get('mask')
        return {
            f'loss_{stage}_{name}': loss(pred, target, mask)
            for loss, name in zip(losses, names)
        }

    def _number_train_forward(self) -> None:
        """Tell the step-seeded stages (MAT) the number of this training pass; count it."""
        for module in self.modules():
            if isinstance(module, StepSeededStage):
                module.set_train_step(self.train_forward_calls)
        self.train_forward_calls += 1

    def train_forward(self, inputs: torch.Tensor,
                      targets: Dict[str, Optional[torch.Tensor]]) -> Dict[str, torch.Tensor]:
        """Run the stages for training, with the training mask rule (``train_mask_source``).

        The detector runs when it has losses or provides the training mask; the inpainter runs
        through :func:`~restorekit.models.outputs.run_stages` (its intermediate outputs land in
        ``outputs['stages']``); the colorizer runs when it exists.
        """
        self._number_train_forward()
        outputs: Dict[str, torch.Tensor] = {}
        if self.mask_detector is not None and (self.has_losses('detector')
                                               or self.train_mask_source == 'detected'):
            outputs['mask_logits'] = self.mask_detector(inputs)
        if self.train_mask_source == 'detected':
            mask = self.detected_mask(outputs['mask_logits'].detach())
        else:
            # Without ground-truth masks the inpainter gets None.
            mask = targets['mask']
        if mask is not None:
            outputs['mask'] = mask
        composite = inputs
        if self.inpainter is not None:
            stage_output = run_stages(self.inpainter, inputs, mask)
            outputs['inpainted'] = stage_output.final
            outputs['stages'] = dict(stage_output.stages)
            composite = self.composite(stage_output.final, inputs, mask)
        outputs['composite'] = composite
        if self.colorizer is not None:
            outputs['rgb'] = self.colorize(composite)
        return outputs
