"""Perceptual loss: distance between the features of a frozen, pretrained timm backbone.

Johnson et al., "Perceptual losses for real-time style transfer and super-resolution", ECCV 2016
(VGG features, as mmagic's ``PerceptualLoss``), generalised to any timm backbone. Weights are
never downloaded: they come from a local file, and a backbone with random weights is refused
unless explicitly allowed.
"""
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from restorekit.registry import LOSSES
from restorekit.utils.state_dict import read_state_dict, strip_prefix
from .pixel import MaskWeightedPixelLoss
from .utils import check_loss_inputs, mask_weighted_mean

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CRITERIA = ('l1', 'mse')


def _normalised_key(key: str) -> str:
    """A state-dict key with ``_`` read as ``.``: timm's feature wrappers flatten
    ``features.0.weight`` to ``features_0.weight``, so both spellings meet here."""
    return key.replace('_', '.')


def _read_state_dict(weights_path: Union[str, Path]) -> Dict[str, torch.Tensor]:
    """The tensors of a local weights file (read by the safe loader,
    :func:`~restorekit.utils.state_dict.read_state_dict`), unwrapped from a ``'state_dict'`` or
    ``'model'`` entry if nested, without a DDP ``module.`` prefix."""
    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(
            f'PerceptualLoss: weights_path {str(path)!r} does not exist. Give the path of a local '
            'state dict of the backbone (restorekit never downloads weights).')
    state = read_state_dict(path, 'PerceptualLoss: weights_path',
                            nested_keys=('state_dict', 'model'))
    if not all(torch.is_tensor(value) for value in state.values()):
        raise ValueError(f'PerceptualLoss: {str(path)!r} is not a state dict (a dict of tensors, '
                         'optionally under "state_dict" or "model").')
    return strip_prefix(state, 'module.')


def load_backbone_weights(backbone: nn.Module,
                          weights_path: Union[str, Path],
                          backbone_name: str = 'backbone') -> None:
    """Load a local state dict into a timm feature extractor, checking every key and shape.

    The file may hold the feature extractor's own state dict or the whole classification
    model's (timm or torchvision key names, e.g. ``features.0.weight`` of a VGG): keys are
    matched with ``_`` and ``.`` treated alike, and keys the extractor does not use (the
    classifier) are ignored. A missing key or a wrong shape raises a ``ValueError`` naming them.
    """
    state = _read_state_dict(weights_path)
    available = {_normalised_key(key): value for key, value in state.items()}
    expected = backbone.state_dict()
    loaded, missing, mismatched = {}, [], []
    for key, reference in expected.items():
        value = state.get(key, available.get(_normalised_key(key)))
        if value is None:
            missing.append(key)
        elif value.shape != reference.shape:
            mismatched.append(f'{key}: file {tuple(value.shape)}, model {tuple(reference.shape)}')
        else:
            loaded[key] = value
    if missing or mismatched:
        details = []
        if missing:
            details.append(f'{len(missing)} of {len(expected)} keys missing (e.g. '
                           f'{", ".join(missing[:5])})')
        if mismatched:
            details.append(f'shapes differ: {"; ".join(mismatched[:5])}')
        raise ValueError(f'PerceptualLoss: {str(weights_path)!r} does not fit timm '
                         f'{backbone_name!r}: {". ".join(details)}. Save the state dict of '
                         f'timm.create_model({backbone_name!r}) (or its torchvision twin).')
    backbone.load_state_dict(loaded)


@LOSSES.register_module()
class PerceptualLoss(MaskWeightedPixelLoss):
    """Weighted L1 (or MSE) distance of frozen timm backbone features of prediction and target.

    Images in ``[-1, 1]`` are mapped to ``[0, 1]``, normalised with ImageNet's mean and std; grey
    images (one channel) are repeated to three. The backbone is
    ``timm.create_model(backbone, pretrained=False, features_only=True, out_indices=layers)``,
    frozen (no gradients to its weights, always in eval mode, even after ``.train()``); the
    target's features are computed without gradient, so gradients reach ``pred`` only.

    ``loss = loss_weight * sum_i layer_weights[i] * mean |f_i(pred) - f_i(target)|``. With a mask
    (1 = damaged) each layer's mean is weighted by ``hole_weight`` / ``valid_weight`` on the mask
    area-averaged to the feature resolution.

    **Weights.** Perceptual features of a randomly initialised network measure nothing useful, so
    without ``weights_path`` the loss refuses to be built, unless ``allow_random_weights=True``
    (for tests and smoke runs only; a warning is issued). Nothing is ever downloaded. Save the
    weights yourself on a machine that has them, e.g.
    ``torch.save(timm.create_model('vgg16', pretrained=True).state_dict(), 'weights/vgg16.pth')``
    or a torchvision ``vgg16(weights=...).state_dict()``. The backbone is left out of the loss's
    ``state_dict`` (checkpoints do not carry a frozen copy of it) and is restored from
    ``weights_path`` when the loss is built.

    Args:
        backbone: Any timm model name that supports ``features_only`` (``'vgg16'``, ``'vgg19'``,
            ``'resnet50'``, ``'convnext_tiny'``...).
        layers: ``out_indices`` of timm's feature extractor. For ``vgg16`` indices 0-4 are
            relu1_2, relu2_2, relu3_3, relu4_3, relu5_3; the default (1, 2, 3) is
            relu2_2 - relu4_3. For other backbones index ``i`` is the ``i``-th stage
            (``feature_info``).
        layer_weights: One weight per layer; all 1 by default.
        weights_path: Local state dict of the backbone (read by the safe loader).
        allow_random_weights: Accept running without ``weights_path``.
        criterion: ``'l1'`` or ``'mse'``.
        **kwargs: ``loss_weight``, ``hole_weight``, ``valid_weight``, ``name`` as in
            :class:`~restorekit.models.losses.pixel.MaskWeightedPixelLoss`.
    """

    def __init__(self,
                 backbone: str = 'vgg16',
                 layers: Sequence[int] = (1, 2, 3),
                 layer_weights: Optional[Sequence[float]] = None,
                 weights_path: Optional[Union[str, Path]] = None,
                 allow_random_weights: bool = False,
                 criterion: str = 'l1',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        layers = [int(layer) for layer in layers]
        if not layers:
            raise ValueError('PerceptualLoss: layers must name at least one feature index')
        if layer_weights is None:
            layer_weights = [1.0] * len(layers)
        if len(layer_weights) != len(layers):
            raise ValueError(f'PerceptualLoss: layer_weights {list(layer_weights)} must have one '
                             f'weight per layer in {layers}')
        if criterion not in CRITERIA:
            raise ValueError(f'PerceptualLoss: criterion must be one of {CRITERIA}, '
                             f'got {criterion!r}')
        if weights_path is None and not allow_random_weights:
            raise ValueError(
                f'PerceptualLoss: no weights_path given for backbone {backbone!r}. A perceptual '
                'loss on randomly initialised features is meaningless, and restorekit never '
                'downloads weights. Save the pretrained state dict to a local file, e.g. '
                f'torch.save(timm.create_model({backbone!r}, pretrained=True).state_dict(), '
                f"'weights/{backbone}.pth'), and pass weights_path='weights/{backbone}.pth' "
                '(or allow_random_weights=True for tests only).')
        self.backbone_name = backbone
        self.layers = layers
        self.layer_weights = [float(weight) for weight in layer_weights]
        self.weights_path = None if weights_path is None else str(weights_path)
        self.criterion = criterion
        self.backbone = self._build_backbone()
        self.register_buffer(
            'imagenet_mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer(
            'imagenet_std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.register_state_dict_post_hook(_drop_backbone_from_state_dict)
        self.register_load_state_dict_pre_hook(_keep_backbone_on_load)

    def _build_backbone(self) -> nn.Module:
        import timm  # heavy; only when a perceptual loss is built

        try:
            # The random initialisation is overwritten by the weights; fork the generator so that
            # building the loss leaves torch's global random state as it was.
            with torch.random.fork_rng(devices=[]):
                backbone = timm.create_model(
                    self.backbone_name,
                    pretrained=False,
                    features_only=True,
                    out_indices=tuple(self.layers))
        except (RuntimeError, ValueError, IndexError, KeyError, AssertionError) as err:
            raise ValueError(f'PerceptualLoss: cannot build timm backbone {self.backbone_name!r} '
                             f'with features_only=True and out_indices={self.layers}: '
                             f'{err}') from err
        if self.weights_path is None:
            warnings.warn(
                f'PerceptualLoss: {self.backbone_name!r} runs with RANDOM weights '
                '(allow_random_weights=True); its value is meaningless for training.',
                stacklevel=3)
        else:
            load_backbone_weights(backbone, self.weights_path, self.backbone_name)
        backbone.eval()
        backbone.requires_grad_(False)
        return backbone

    def train(self, mode: bool = True) -> 'PerceptualLoss':
        """Set the training mode of the module; the backbone always stays in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    def features(self, images: torch.Tensor) -> List[torch.Tensor]:
        """The backbone's features of (N, 1 or 3, H, W) images in ``[-1, 1]``."""
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        normalised = (((images + 1) / 2 - self.imagenet_mean.to(images.dtype)) /
                      self.imagenet_std.to(images.dtype))
        return self.backbone(normalised)

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``loss_weight`` times the weighted feature distance of (N, 1 or 3, H, W) images."""
        check_loss_inputs(pred, target, mask, loss_name=type(self).__name__)
        if pred.dim() != 4 or pred.shape[1] not in (1, 3):
            raise ValueError(f'PerceptualLoss: pred must be (N, 1 or 3, H, W) in [-1, 1], '
                             f'got {tuple(pred.shape)}')
        pred_features = self.features(pred)
        with torch.no_grad():
            target_features = self.features(target.to(pred.dtype))
        total = pred.new_zeros(())
        for weight, pred_map, target_map in zip(self.layer_weights, pred_features, target_features):
            if self.criterion == 'l1':
                distance = (pred_map - target_map).abs()
            else:
                distance = (pred_map - target_map).square()
            layer_mask = None
            if mask is not None:
                layer_mask = F.adaptive_avg_pool2d(mask[:, :1].to(pred_map.dtype),
                                                   pred_map.shape[-2:])
            total = total + weight * mask_weighted_mean(distance, layer_mask, self.hole_weight,
                                                        self.valid_weight)
        return total * self.loss_weight

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, backbone={self.backbone_name!r}, layers={self.layers}, '
                f'layer_weights={self.layer_weights}, weights_path={self.weights_path!r}, '
                f'criterion={self.criterion!r}')


def _drop_backbone_from_state_dict(module: PerceptualLoss, state_dict: dict, prefix: str,
                                   local_metadata: dict) -> None:
    """State-dict hook: leave the frozen backbone (restored from ``weights_path``) out."""
    for key in [key for key in state_dict if key.startswith(prefix + 'backbone.')]:
        del state_dict[key]


def _keep_backbone_on_load(module: PerceptualLoss, state_dict: dict, prefix: str, *args) -> None:
    """Load pre-hook: a state dict without the backbone keeps the backbone's current weights."""
    for key, value in module.backbone.state_dict().items():
        state_dict.setdefault(prefix + 'backbone.' + key, value)
