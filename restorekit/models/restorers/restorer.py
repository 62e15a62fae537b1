"""The composable restoration pipeline: mask detector -> inpainter -> colorizer."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.registry import Registry

from restorekit.registry import COLORIZERS, INPAINTERS, LOSSES, MASK_DETECTORS, MODELS
from restorekit.structures import RestorationDataSample
from ..losses.utils import default_loss_name

ModuleConfig = Optional[Union[dict, nn.Module]]
_MODES = ('tensor', 'loss', 'predict')
_MASK_SOURCES = ('gt', 'detected')
#: The target each stage's losses compare against (besides the ground-truth mask).
_STAGE_TARGETS = {'detector': 'mask', 'inpainter': 'gt_gray', 'colorizer': 'gt_img'}


def _build_module(config: ModuleConfig, registry: Registry, role: str) -> Optional[nn.Module]:
    """Build a stage from a config dict, or take an already built module; ``None`` stays."""
    if config is None or isinstance(config, nn.Module):
        return config
    if isinstance(config, dict):
        return registry.build(config)
    raise TypeError(f'Restorer: {role} must be a config dict, an nn.Module or None, got '
                    f'{type(config).__name__}.')


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
    keywords replaced by lists of configs. The losses of the three stages are computed by
    :meth:`stage_losses`, so a GAN trainer with an ``OptimWrapperDict`` can reuse it per stage.

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
        if raw.shape != inputs.shape:
            raise ValueError(f'Restorer: the inpainter must return the shape of its input '
                             f'{tuple(inputs.shape)}, got {tuple(raw.shape)}.')
        composite = raw if mask is None else raw * mask + inputs * (1.0 - mask)
        return raw, composite.clamp(-1.0, 1.0)

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
        outputs = self.train_forward(inputs, targets)
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
