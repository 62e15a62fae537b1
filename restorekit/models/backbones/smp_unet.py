"""A segmentation_models_pytorch network usable as mask detector, inpainter or colorizer."""
import difflib
import inspect
import os
from typing import Dict, List, Optional, Sequence, Set, Union

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


def _weights_kind(encoder_weights) -> str:
    """``'none'``, ``'path'`` (a local state-dict file) or ``'hub'`` (a pretrained name such as
    ``'imagenet'``, or ``True`` for a ``tu-`` encoder's default timm weights).

    A string that is an existing file or looks like a path (a directory separator or a file
    extension) is a path; any other string is a hub name.
    """
    if encoder_weights is None:
        return 'none'
    if encoder_weights is True:
        return 'hub'
    if isinstance(encoder_weights, (str, os.PathLike)) and not isinstance(encoder_weights, bool):
        path = os.fspath(encoder_weights)
        if os.path.isfile(path) or '/' in path or os.sep in path or os.path.splitext(path)[1]:
            return 'path'
        return 'hub'
    raise ValueError(f'SmpUNet: encoder_weights must be None, a local file path, a pretrained '
                     f"name such as 'imagenet', or True (tu- encoders); got {encoder_weights!r}.")


#: Arguments of smp's architectures that SmpUNet sets itself (from its own arguments).
_SMP_ARGUMENTS_SET_BY_WRAPPER = ('encoder_name', 'encoder_depth', 'encoder_weights', 'in_channels',
                                 'classes', 'decoder_channels', 'activation')


def _is_timm_encoder(encoder_name: str) -> bool:
    """Whether smp hands ``encoder_name``'s extra keyword arguments to ``timm.create_model``."""
    if encoder_name.startswith('tu-'):
        return True
    from segmentation_models_pytorch.encoders import is_equivalent_to_timm_universal
    return is_equivalent_to_timm_universal(encoder_name)


def smp_keyword_names(arch: str, encoder_name: str) -> Optional[Set[str]]:
    """The extra keyword arguments smp actually uses for ``arch`` with ``encoder_name``.

    smp's architectures take their named arguments (``decoder_attention_type``, ``aux_params``...)
    and hand any other keyword to the encoder: a timm encoder (``tu-...``) passes them to
    ``timm.create_model``, which rejects unknown ones itself (None is returned: no fixed list);
    smp's own encoders silently drop them, so only the named arguments are valid. An unknown
    ``arch`` gives the empty set (SmpUNet reports the arch itself).
    """
    import segmentation_models_pytorch as smp

    architecture = smp.MODEL_ARCHITECTURES_MAPPING.get(str(arch).lower())
    if architecture is None:
        return set()
    if _is_timm_encoder(str(encoder_name)):
        return None
    parameters = inspect.signature(architecture.__init__).parameters
    return {name for name, parameter in parameters.items()
            if name != 'self' and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD,
                                                     parameter.KEYWORD_ONLY)
            and name not in _SMP_ARGUMENTS_SET_BY_WRAPPER}


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


def hf_cache_path(repo_id: str, revision: str, filename: str) -> str:
    """Where ``huggingface_hub`` keeps ``filename`` of model repository ``repo_id`` at
    ``revision`` (a commit hash): ``<HF_HUB_CACHE>/models--<org>--<name>/snapshots/<revision>/``.
    """
    from huggingface_hub import constants

    return os.path.join(constants.HF_HUB_CACHE, 'models--' + repo_id.replace('/', '--'),
                        'snapshots', revision, filename)


def _offline_error(encoder_name: str, encoder_weights, files: List[str], repo_id: str,
                   revision: str, how_to_fill: str, err: Optional[BaseException]) -> OSError:
    reason = f' ({type(err).__name__}: {err})' if err is not None else ''
    listed = '\n  '.join(files)
    return OSError(
        f'SmpUNet: encoder_weights={encoder_weights!r} for encoder {encoder_name!r} needs the '
        f'file(s) of the Hugging Face repository {repo_id!r} (revision {revision!r}), which are '
        f'neither in the cache nor downloadable here (offline?){reason}. Place them at:\n  '
        f'{listed}\n{how_to_fill} The cache folder is HF_HUB_CACHE (or HF_HOME/hub). Or save the '
        'encoder\'s state dict on a machine that has it and pass its path: '
        'encoder_weights="path/encoder.pth"; or encoder_weights=None for random weights.')


def fetch_pretrained_encoder_files(encoder_name: str, encoder_weights) -> List[str]:
    """Make sure the pretrained files of an smp/timm encoder are in the Hugging Face cache.

    Calls ``huggingface_hub.hf_hub_download`` for exactly the files smp (0.6) or timm (1.0) load
    for ``encoder_weights``: for smp's own encoders ``config.json`` and ``model.safetensors`` of
    ``pretrained_settings[encoder_weights]``'s ``repo_id`` at its pinned ``revision``; for ``tu-``
    encoders timm's ``model.safetensors`` (else ``pytorch_model.bin``) of the model's
    ``hf_hub_id``. A cached file is used without any network access; a missing one is downloaded
    if the network allows (unless ``HF_HUB_OFFLINE=1``). Returns the cached paths.

    Raises:
        ValueError: ``encoder_weights`` is no pretrained name of ``encoder_name``.
        OSError: a file is neither cached nor downloadable; the message names every file and
            its exact cache path.
    """
    from huggingface_hub import hf_hub_download

    if encoder_name.startswith('tu-'):
        return _fetch_timm_files(encoder_name, encoder_weights, hf_hub_download)
    import segmentation_models_pytorch as smp
    from segmentation_models_pytorch.encoders import is_equivalent_to_timm_universal

    if is_equivalent_to_timm_universal(encoder_name):
        # smp 0.6 builds its deprecated `timm-` encoders as `tu-` ones (timm's weights).
        timm_name = encoder_name.replace('timm-', 'tu-')
        if 'mobilenetv3' in timm_name:
            timm_name = timm_name.replace('tu-', 'tu-tf_')
        return _fetch_timm_files(timm_name, 'imagenet' if encoder_weights else None,
                                 hf_hub_download)
    if encoder_name not in smp.encoders.encoders:
        raise ValueError(f'SmpUNet: unknown encoder_name {encoder_name!r}.')
    settings = smp.encoders.encoders[encoder_name].get('pretrained_settings', {})
    if encoder_weights not in settings:
        raise ValueError(
            f'SmpUNet: encoder_weights={encoder_weights!r} is neither a local file nor one of '
            f'the pretrained weights of {encoder_name!r}: {sorted(settings)} (or None, or the path '
            'of a local state dict: a path needs a directory separator or a file extension).')
    repo_id, revision = settings[encoder_weights]['repo_id'], settings[encoder_weights]['revision']
    filenames = ('config.json', 'model.safetensors')  # what smp's get_encoder downloads
    paths = []
    try:
        for filename in filenames:
            paths.append(hf_hub_download(repo_id, filename=filename, revision=revision))
    except Exception as err:  # offline, blocked, hub down: one clear error at build time
        raise _offline_error(
            encoder_name, encoder_weights,
            [hf_cache_path(repo_id, revision, filename) for filename in filenames], repo_id,
            revision, 'E.g. run `hf download '
            f'{repo_id} {" ".join(filenames)} --revision {revision}` on a machine with internet and '
            'copy the folder models--' + repo_id.replace('/', '--') + ' into this machine\'s cache.',
            err) from err
    return paths


def _fetch_timm_files(encoder_name: str, encoder_weights, hf_hub_download) -> List[str]:
    """:func:`fetch_pretrained_encoder_files` for a ``tu-`` (timm) encoder."""
    import timm

    if encoder_weights not in (True, 'imagenet'):
        raise ValueError(f'SmpUNet: a tu- encoder takes encoder_weights=True or \'imagenet\' (the '
                         'pretrained tag goes into the name, e.g. "tu-resnet18.a1_in1k"), a local '
                         f'file path or None; got {encoder_weights!r}.')
    model_name = encoder_name[len('tu-'):]
    try:
        cfg = timm.models.get_pretrained_cfg(model_name, allow_unregistered=False)
    except RuntimeError as err:
        raise ValueError(f'SmpUNet: timm has no pretrained weights for {model_name!r}: {err}') \
            from err
    if not cfg.hf_hub_id:
        return []  # a URL-only timm model: timm's own torch.hub download and cache apply
    repo_id, _, revision = cfg.hf_hub_id.partition('@')
    revision = revision or 'main'
    filename = cfg.hf_hub_filename or 'model.safetensors'
    try:
        try:
            return [hf_hub_download(repo_id, filename=filename, revision=revision)]
        except Exception as err:
            from huggingface_hub.errors import RemoteEntryNotFoundError

            if cfg.hf_hub_filename or not isinstance(err, RemoteEntryNotFoundError):
                raise
            # The hub has no safetensors file: timm then loads pytorch_model.bin.
            return [hf_hub_download(repo_id, filename='pytorch_model.bin', revision=revision)]
    except Exception as err:
        snapshot = hf_cache_path(repo_id, '<commit>', filename)
        refs = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(snapshot))), 'refs',
                            revision)
        raise _offline_error(
            encoder_name, encoder_weights, [snapshot, f'{refs} (a text file holding <commit>)'],
            repo_id, revision, f'E.g. run `hf download {repo_id} {filename}` on a machine with '
            'internet (or timm.create_model(' + repr(model_name) + ', pretrained=True)) and copy '
            'the folder models--' + repo_id.replace('/', '--') + ' into this machine\'s cache.',
            err) from err


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

    **Encoder weights.** ``encoder_weights=None`` (the default) initialises randomly and never
    touches the network. A local file path loads that state dict (:func:`load_encoder_state_dict`).
    A pretrained name (``'imagenet'``, or any name smp lists for the encoder; ``'imagenet'`` or
    ``True`` for a ``tu-`` timm encoder) behaves as in smp and timm: the files are fetched into the
    Hugging Face cache (``HF_HUB_CACHE``, default ``~/.cache/huggingface/hub``) on a machine with
    internet, read from that cache when they are already there, and loaded by smp's (timm's) own
    code; offline without them the build fails with an error that names each missing file and its
    exact path in the cache (:func:`fetch_pretrained_encoder_files`).

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
        encoder_weights: ``None`` (random initialisation), the path of a local file holding
            the encoder's state dict (``torch.save(model.encoder.state_dict(), path)``), or a
            pretrained name (``'imagenet'``; ``True`` for ``tu-`` encoders), see above.
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
        weights_kind = _weights_kind(encoder_weights)
        if weights_kind == 'hub':
            # Fails here, at build time, naming the files and their cache paths when offline.
            fetch_pretrained_encoder_files(encoder_name, encoder_weights)
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
        self._check_smp_kwargs(arch, encoder_name, smp_kwargs)
        hub_weights = None
        if weights_kind == 'hub':
            hub_weights = True if encoder_name.startswith('tu-') else encoder_weights
        self.model = self._create_smp_model(arch, encoder_name, encoder_depth, decoder_channels,
                                            smp_kwargs, hub_weights)
        #: Encoder children that ``encoder_depth`` never runs, replaced by ``nn.Identity``.
        self.unused_encoder_modules = drop_unused_encoder_modules(
            self.model.encoder, self.in_channels + int(self.use_mask), self.encoder_depth)
        if weights_kind == 'path':
            load_encoder_state_dict(self.model.encoder, str(encoder_weights),
                                    ignore_prefixes=self.unused_encoder_modules)

    @classmethod
    def accepted_config_keywords(cls, cfg: dict) -> Optional[Set[str]]:
        """The keywords a config may give this class (used by restorekit's config validation):
        the named arguments of its ``__init__`` and of its bases up to ``SmpUNet``, plus the smp
        arguments of the configured ``arch``/``encoder_name`` (:func:`smp_keyword_names`; None,
        i.e. not checkable here, for timm encoders, whose keywords timm checks)."""
        names: Set[str] = set()
        defaults = {}
        for klass in cls.__mro__:
            if '__init__' in vars(klass):
                parameters = inspect.signature(klass.__init__).parameters
                names |= {name for name, parameter in parameters.items()
                          if name != 'self' and parameter.kind in (
                              parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)}
                for name in ('arch', 'encoder_name'):
                    if name in parameters and name not in defaults:
                        defaults[name] = parameters[name].default
            if klass is SmpUNet:
                break
        smp_names = smp_keyword_names(cfg.get('arch', defaults.get('arch')),
                                      cfg.get('encoder_name', defaults.get('encoder_name')))
        return None if smp_names is None else names | smp_names

    @staticmethod
    def _check_smp_kwargs(arch: str, encoder_name: str, smp_kwargs: dict) -> None:
        """Reject keywords smp would silently drop (see :func:`smp_keyword_names`)."""
        valid = smp_keyword_names(arch, encoder_name)
        if valid is None or not smp_kwargs:
            return
        unknown = sorted(set(smp_kwargs) - valid)
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.6)
                hints.append(f'`{key}`' + (f' (did you mean `{close[0]}`?)' if close else ''))
            raise ValueError(
                f'SmpUNet: unknown keyword(s) {", ".join(hints)} for arch={arch!r} with '
                f'encoder_name={encoder_name!r}: smp would drop them. SmpUNet takes '
                f'arch, encoder_name, encoder_depth, decoder_channels, in_channels, out_channels, '
                f'use_mask, residual, activation, encoder_weights; smp\'s {arch} also takes '
                f'{sorted(valid)}.')

    def _create_smp_model(self,
                          arch: str,
                          encoder_name: str,
                          encoder_depth: int,
                          decoder_channels: Optional[Sequence[int]],
                          smp_kwargs: dict,
                          hub_weights: Union[None, bool, str] = None) -> nn.Module:
        """Build the smp model (smp is imported here, not at module import); ``hub_weights`` is
        smp's ``encoder_weights``, whose files :func:`fetch_pretrained_encoder_files` has put in
        the cache."""
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
        try:
            return smp.create_model(
                arch,
                encoder_name=encoder_name,
                encoder_weights=hub_weights,
                encoder_depth=encoder_depth,
                in_channels=self.in_channels + int(self.use_mask),
                classes=self.out_channels,
                **kwargs)
        except TypeError as error:  # timm rejects a keyword of a tu- encoder
            if not smp_kwargs:
                raise
            raise ValueError(f'SmpUNet: encoder {encoder_name!r} does not take the keyword(s) '
                             f'{sorted(smp_kwargs)}: {error}') from error

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
