"""A segmentation_models_pytorch network usable as mask detector, inpainter or colorizer."""
import inspect
import os
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn

from restorekit.registry import COLORIZERS, INPAINTERS, MASK_DETECTORS
from restorekit.utils.state_dict import read_state_dict, strip_prefix

_ACTIVATIONS = (None, 'tanh')


def _adapt_input_channels(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Adapt a first-conv weight (O, I, k, k) to ``in_channels`` inputs.

    Follows segmentation_models_pytorch's ``patch_first_conv``: one input channel sums the
    pretrained ones (a grey image is their average colour); otherwise the pretrained channels are
    cycled and rescaled so the response keeps its magnitude.
    """
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    old_channels = weight.shape[1]
    index = torch.arange(in_channels) % old_channels
    return weight[:, index] * (old_channels / in_channels)


def _check_local_weights_path(encoder_weights) -> None:
    """Refuse anything but ``None`` or a local path, with a message on what to do instead.

    A value that is neither an existing file nor looks like a path (no directory separator, no
    file extension) is a hub name such as ``'imagenet'``: smp would download it.
    """
    if encoder_weights is None:
        return
    is_path_like = isinstance(encoder_weights,
                              (str, os.PathLike)) and not isinstance(encoder_weights, bool)
    if is_path_like:
        path = os.fspath(encoder_weights)
        if os.path.isfile(path) or '/' in path or os.sep in path or os.path.splitext(path)[1]:
            return
    raise ValueError(
        f'SmpUNet: encoder_weights={encoder_weights!r} is not a local file. restorekit never '
        'downloads weights (no hub names such as "imagenet", no True); get the encoder weights '
        'yourself, save its state dict with torch.save(model.encoder.state_dict(), '
        '"path/encoder.pth") and pass encoder_weights="path/encoder.pth".')


def drop_unused_encoder_modules(encoder: nn.Module, in_channels: int, depth: int) -> List[str]:
    """Replace the encoder's children whose parameters a forward pass never uses by
    ``nn.Identity``; return their names.

    smp builds the whole backbone whatever ``encoder_depth`` is (a ResNet of depth 4 keeps its
    ``layer4``, 8.4M of resnet18's 11.2M parameters) and only skips it in ``forward``. Parameters
    that never get a gradient waste memory and make DDP fail unless
    ``find_unused_parameters=True`` (which costs a graph traversal every iteration). One forward
    and backward pass on a small random input finds the children none of whose parameters
    receive a gradient (a gradient, not a forward hook: encoders such as VGG run slices of a
    child, which hooks on the child would not see). An encoder whose dry run fails is kept whole.
    """
    size = 2**max(depth, 1) * 2
    generator = torch.Generator().manual_seed(0)
    was_training = encoder.training
    params = list(encoder.parameters())
    saved_grads = [param.grad for param in params]
    try:
        encoder.eval()
        for param in params:
            param.grad = None
        with torch.enable_grad():
            features = encoder(torch.randn(1, in_channels, size, size, generator=generator))
            sum(feature.float().sum() for feature in features
                if isinstance(feature, torch.Tensor) and feature.requires_grad).backward()
        used = {name for name, child in encoder.named_children()
                if any(param.grad is not None for param in child.parameters())}
    except Exception:  # an encoder that needs other input sizes: keep every module
        return []
    finally:
        encoder.train(was_training)
        for param, grad in zip(params, saved_grads):
            param.grad = grad
    unused = [name for name, child in encoder.named_children()
              if name not in used and any(True for _ in child.parameters())]
    for name in unused:
        setattr(encoder, name, nn.Identity())
    return unused


def load_encoder_state_dict(encoder: nn.Module, path: str,
                            ignore_prefixes: Sequence[str] = ()) -> None:
    """Load a local state dict file into ``encoder``, strictly.

    Keys under ``ignore_prefixes`` (the modules :func:`drop_unused_encoder_modules` removed, e.g.
    ``layer4`` of a depth-4 ResNet) are skipped, so a full backbone's weights load into a
    shallower encoder.

    The file is read by the safe loader (:func:`~restorekit.utils.state_dict.read_state_dict`).
    Accepts a plain state dict or one under a ``'state_dict'`` key, with or without an
    ``'encoder.'`` prefix on every key. A first-conv weight saved for a different number of input
    channels (an RGB ImageNet encoder for our grey input) is adapted by
    :func:`_adapt_input_channels`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file's keys or shapes do not match the encoder.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f'SmpUNet: encoder_weights file {path!r} does not exist. Pass the path of a local '
            'state dict file saved with torch.save(encoder.state_dict(), path).')
    state = strip_prefix(read_state_dict(path, 'SmpUNet: encoder_weights file'), 'encoder.')
    state = {key: value for key, value in state.items()
             if not any(key.startswith(f'{prefix}.') for prefix in ignore_prefixes)}

    own = encoder.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(
            f'SmpUNet: encoder_weights file {path!r} does not match the encoder: missing keys '
            f'{missing[:5]}{" ..." if len(missing) > 5 else ""} ({len(missing)}), unexpected keys '
            f'{unexpected[:5]}{" ..." if len(unexpected) > 5 else ""} ({len(unexpected)}). Is it '
            'the state dict of the same encoder_name and encoder_depth?')
    adapted: Dict[str, torch.Tensor] = {}
    for key, value in state.items():
        target_shape = own[key].shape
        if (value.shape != target_shape and value.dim() == 4 and len(target_shape) == 4
                and value.shape[0] == target_shape[0] and value.shape[2:] == target_shape[2:]):
            value = _adapt_input_channels(value, target_shape[1])
        if value.shape != target_shape:
            raise ValueError(f'SmpUNet: encoder_weights file {path!r}: `{key}` has shape '
                             f'{tuple(value.shape)}, the encoder expects {tuple(target_shape)}.')
        adapted[key] = value
    encoder.load_state_dict(adapted, strict=True)


@MASK_DETECTORS.register_module()
@INPAINTERS.register_module()
@COLORIZERS.register_module()
class SmpUNet(nn.Module):
    """A segmentation_models_pytorch model (U-Net by default) in any role of the pipeline.

    Wraps :func:`segmentation_models_pytorch.create_model` (Iakubovskii, "Segmentation Models
    Pytorch", 2019; U-Net: Ronneberger et al., MICCAI 2015) behind the module interfaces of
    ``docs/conventions.md``: ``forward(image, mask=None)`` for every role. As a mask detector it
    returns logits (1 output channel); as an inpainter it returns the filled grey image; as a
    colorizer RGB (``out_channels=3``).

    Weights are never downloaded: smp gets ``encoder_weights=None`` (and timm ``pretrained=False``);
    pretrained encoder weights come from a local file.

    Args:
        arch: smp architecture name (``'Unet'``, ``'UnetPlusPlus'``, ``'FPN'``...).
        encoder_name: smp encoder (``'resnet34'``, ``'efficientnet-b0'``...) or timm encoder
            with the ``'tu-'`` prefix (``'tu-resnet10t'``).
        encoder_depth: Number of encoder stages (3 to 5 for most encoders).
        decoder_channels: Decoder widths; ``None`` keeps smp's default, trimmed to the last
            ``encoder_depth`` entries for decoders that need one width per stage.
        in_channels: Channels of ``image`` (1 for grey).
        out_channels: Channels of the output (1 for a grey image or mask logits, 3 for RGB).
        use_mask: Concatenate ``mask`` (1 = damaged) to the image as one more input channel; then
            ``forward`` requires a mask.
        residual: Predict a correction added to the input: ``output = image + net(x)``, a grey
            image broadcast to ``out_channels``.
        activation: ``None`` (linear output, e.g. logits) or ``'tanh'`` (output in ``(-1, 1)``,
            applied after the residual sum).
        encoder_weights: ``None`` (random initialisation) or the path of a local file holding
            the encoder's state dict (``torch.save(model.encoder.state_dict(), path)``).
        **smp_kwargs: Further keyword arguments of the smp architecture (e.g.
            ``decoder_attention_type='scse'``).
    """

    def __init__(self,
                 arch: str = 'Unet',
                 encoder_name: str = 'resnet34',
                 encoder_depth: int = 5,
                 decoder_channels: Optional[Sequence[int]] = None,
                 in_channels: int = 1,
                 out_channels: int = 1,
                 use_mask: bool = False,
                 residual: bool = False,
                 activation: Optional[str] = None,
                 encoder_weights: Optional[str] = None,
                 **smp_kwargs) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f'SmpUNet: activation must be one of {_ACTIVATIONS}, got '
                             f'{activation!r}.')
        _check_local_weights_path(encoder_weights)
        for key in ('encoder_weights', 'in_channels', 'classes', 'pretrained'):
            if key in smp_kwargs:
                raise ValueError(f'SmpUNet: do not pass `{key}` through smp keyword arguments; '
                                 'use the SmpUNet arguments instead.')
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.use_mask = bool(use_mask)
        self.residual = bool(residual)
        self.activation = activation
        self.encoder_depth = int(encoder_depth)
        if self.residual and self.in_channels not in (1, self.out_channels):
            raise ValueError(f'SmpUNet: residual=True adds the input to the output, so '
                             f'in_channels ({in_channels}) must be 1 or out_channels '
                             f'({out_channels}).')
        self.model = self._create_smp_model(arch, encoder_name, encoder_depth, decoder_channels,
                                            smp_kwargs)
        #: Encoder children that ``encoder_depth`` never runs, replaced by ``nn.Identity``.
        self.unused_encoder_modules = drop_unused_encoder_modules(
            self.model.encoder, self.in_channels + int(self.use_mask), self.encoder_depth)
        if encoder_weights is not None:
            load_encoder_state_dict(self.model.encoder, str(encoder_weights),
                                    ignore_prefixes=self.unused_encoder_modules)

    def _create_smp_model(self, arch: str, encoder_name: str, encoder_depth: int,
                          decoder_channels: Optional[Sequence[int]], smp_kwargs: dict) -> nn.Module:
        """Build the smp model offline (smp is imported here, not at module import)."""
        import segmentation_models_pytorch as smp

        architecture = smp.MODEL_ARCHITECTURES_MAPPING.get(arch.lower())
        if architecture is None:
            raise ValueError(f'SmpUNet: unknown arch {arch!r}; segmentation_models_pytorch has '
                             f'{sorted(smp.MODEL_ARCHITECTURES_MAPPING)}.')
        kwargs = dict(smp_kwargs)
        parameters = inspect.signature(architecture.__init__).parameters
        if decoder_channels is not None:
            kwargs['decoder_channels'] = list(decoder_channels)
        elif 'decoder_channels' in parameters:
            default = parameters['decoder_channels'].default
            # Decoders with one width per stage (Unet, UnetPlusPlus, MAnet) default to 5 widths;
            # a shallower encoder keeps the widths of the stages it has (the finest ones).
            if isinstance(default, (tuple, list)) and len(default) != encoder_depth:
                kwargs['decoder_channels'] = list(default[-encoder_depth:])
        return smp.create_model(
            arch,
            encoder_name=encoder_name,
            encoder_weights=None,
            encoder_depth=encoder_depth,
            in_channels=self.in_channels + int(self.use_mask),
            classes=self.out_channels,
            **kwargs)

    @property
    def encoder(self) -> nn.Module:
        """The smp encoder (whose state dict ``encoder_weights`` files hold)."""
        return self.model.encoder

    def forward(self, image: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Run the network.

        Args:
            image: (N, in_channels, H, W) in ``[-1, 1]``.
            mask: (N, 1, H, W), 1 = damaged; required when ``use_mask``, otherwise ignored.

        Returns:
            (N, out_channels, H, W): logits, a grey image or RGB depending on the role.
        """
        if image.dim() != 4 or image.shape[1] != self.in_channels:
            raise ValueError(f'SmpUNet: image must be (N, {self.in_channels}, H, W), got '
                             f'{tuple(image.shape)}.')
        net_input = image
        if self.use_mask:
            if mask is None:
                raise ValueError('SmpUNet: use_mask=True needs the damage mask, got mask=None. '
                                 'Give the Restorer a mask detector or samples with a `mask`, or '
                                 'set use_mask=False.')
            if mask.shape != (image.shape[0], 1, *image.shape[2:]):
                raise ValueError(f'SmpUNet: mask must be (N, 1, H, W) = '
                                 f'{(image.shape[0], 1, *image.shape[2:])}, got '
                                 f'{tuple(mask.shape)}.')
            net_input = torch.cat([image, mask.to(image.dtype)], dim=1)
        output = self.model(net_input)
        if output.shape[2:] != image.shape[2:]:
            # e.g. smp's FPN with encoder_depth < 5 upsamples by a fixed factor.
            raise ValueError(f'SmpUNet: the {type(self.model).__name__} with encoder_depth '
                             f'{self.encoder_depth} returned size {tuple(output.shape[2:])} for '
                             f'an input of size {tuple(image.shape[2:])}; choose an '
                             'encoder_depth this architecture supports (FPN needs 5).')
        if self.residual:
            output = output + image
        if self.activation == 'tanh':
            output = torch.tanh(output)
        return output
