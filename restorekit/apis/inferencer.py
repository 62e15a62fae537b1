"""Restore photographs with a trained :class:`~restorekit.models.restorers.Restorer`, from Python.

::

    from restorekit.apis import RestorationInferencer

    inferencer = RestorationInferencer('configs/unet_two_stage.py', 'work_dirs/iter_200000.pth')
    rgb = inferencer('damaged.png')                      # uint8 (H, W, 3)
    results = inferencer.restore(['a.png', 'b.jpg'])     # RestorationResult per image

The inferencer builds the config's plain pipeline (a ``Restorer``, training-only parts left out),
loads the checkpoint with :func:`~restorekit.engine.checkpoint.safe_torch_load` and is
pre-processing, the Restorer's one inference method, tiling and post-processing: images are read
and converted to grey, the model's data preprocessor pads and normalises them,
:meth:`Restorer.restore` finds the damage (with the one mask rule, the same as ``tools/test.py``)
and restores it, large images go tile by tile (:mod:`restorekit.apis.tiling`), and the outputs
are cropped back to uint8 images. The design follows mmagic's
``mmagic/apis/inferencers`` (one object that owns the model and takes images in any form).

Three speed switches change how the stage networks run, not what they compute (up to rounding):
``channels_last`` (NHWC memory format, which oneDNN's and cuDNN's convolutions prefer),
``compile`` (``torch.compile`` of each stage network, the PyTorch 2 compiler) and ``amp='bf16'``
(bfloat16 autocast, PyTorch's automatic mixed precision). Their measured effect is in
docs/benchmarks.md.
"""
import contextlib
import logging
import os
import shutil
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import print_log

from restorekit.utils.state_dict import read_state_dict, strip_prefix
from restorekit.utils.value_range import unit_range_to_uint8
from .image_io import ImageLike, read_gray, read_mask
from .tiling import Tile, batched, check_tile_options, run_tiled

OUTPUT_TYPES = ('numpy', 'pil')
#: ``amp`` values: the autocast dtype of each.
AMP_DTYPES = {'bf16': torch.bfloat16}
#: C++ compilers torch.compile's CPU backend (inductor) can use; ``CXX`` names another.
CPU_COMPILERS = ('g++', 'c++', 'clang++')


@dataclass
class RestorationResult:
    """The restoration of one image.

    Attributes:
        output: uint8 (H, W, 3) RGB, the restored photograph, the size of the input.
        mask: bool (H, W), the damage used (True = damaged): the given mask, or the detected one.
        gray: uint8 (H, W), the grey input the model saw.
        inpainted_gray: uint8 (H, W), the inpainted grey image (equal to ``gray`` wherever
            ``mask`` is False), when the model has an inpainter; else ``None``.
        input_mode: The original mode of the input (``'L'``, ``'RGB'``, ``'I;16'``...; see
            :func:`~restorekit.apis.image_io.read_gray`).
    """
    output: np.ndarray
    mask: np.ndarray
    gray: np.ndarray
    inpainted_gray: Optional[np.ndarray]
    input_mode: Optional[str] = None


def _inference_model_config(model_cfg: dict, with_checkpoint: bool) -> dict:
    """The model config of the plain pipeline (see :func:`inference_config`).

    With a checkpoint, every weight comes from it: ``stage_init`` and local ``encoder_weights``
    files (which need not exist where the model is deployed) are dropped too.
    """
    from restorekit.models.restorers.restorer import inference_config

    model_cfg = inference_config(model_cfg)
    if with_checkpoint:
        model_cfg.pop('stage_init', None)
        model_cfg = _without_encoder_weights(model_cfg)
    return model_cfg


def _without_encoder_weights(node):
    """A copy of a config tree with every ``encoder_weights`` set to ``None``."""
    if isinstance(node, dict):
        return {
            key: (None if key == 'encoder_weights' else _without_encoder_weights(value))
            for key, value in node.items()
        }
    if isinstance(node, (list, tuple)):
        return type(node)(_without_encoder_weights(value) for value in node)
    return node


def load_inference_weights(model: torch.nn.Module, checkpoint: str) -> List[str]:
    """Load a checkpoint's weights of the restoring stages into ``model``, strictly.

    Reads the file with :func:`~restorekit.engine.checkpoint.safe_torch_load` (``weights_only``
    allow-list, nothing executed). Accepts an mmengine checkpoint (``{'state_dict': ...}``) or a
    bare state dict, with or without a DDP ``module.`` prefix. Weights of training-only parts
    (discriminator, losses) are skipped; their top-level names are returned.

    Raises:
        ValueError: the file holds no state dict, or its weights do not fit the model (missing or
            unexpected keys, wrong shapes), with the keys named.
    """
    state = strip_prefix(read_state_dict(checkpoint, 'checkpoint'), 'module.')
    own_prefixes = {key.split('.', 1)[0] for key in model.state_dict()}
    kept = {key: value for key, value in state.items() if key.split('.', 1)[0] in own_prefixes}
    checkpoint_prefixes = {key.split('.', 1)[0] for key in state}
    skipped = sorted(checkpoint_prefixes - own_prefixes)
    try:
        missing, unexpected = model.load_state_dict(kept, strict=False)
    except RuntimeError as error:  # shape mismatches
        raise ValueError(f'checkpoint {checkpoint} does not fit the config\'s model: {error}') \
            from None
    if missing or unexpected:
        raise ValueError(
            f'checkpoint {checkpoint} does not fit the config\'s model: missing keys '
            f'{missing[:5]}{" ..." if len(missing) > 5 else ""} ({len(missing)}), unexpected keys '
            f'{unexpected[:5]}{" ..." if len(unexpected) > 5 else ""} ({len(unexpected)}). Is it '
            f'a checkpoint of this config? (it holds the parts {sorted(checkpoint_prefixes)})')
    return skipped


class RestorationInferencer:
    """Restores damaged grey photographs (paths, PIL images or arrays) with a Restorer config.

    Args:
        config: A config file path or an mmengine ``Config`` with a ``model`` (a ``Restorer``).
        checkpoint: A checkpoint file (loaded with ``weights_only=True``); ``None`` gives random
            weights, for tests only (a warning is logged). Random weights are drawn from
            ``seed`` without touching torch's global random state.
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``...
        batch_size: Images of equal size restored together (and tiles of one image).
        tile: Restore images larger than ``tile`` pixels (height or width) in overlapping tiles
            of ``tile x tile`` (see :mod:`restorekit.apis.tiling`); ``None`` restores every image
            whole. A multiple of the preprocessor's ``pad_size_divisor`` wastes no padding.
        tile_overlap: Least overlap of neighbouring tiles, in pixels.
        cfg_options: Overrides merged into the config (``{'model.colorizer.encoder_depth': 3}``).
        seed: Seed of the random weights when ``checkpoint`` is ``None``.
        channels_last: Keep the stage networks' weights and activations in the channels-last
            (NHWC) memory format. Same results up to float rounding.
        compile: ``torch.compile`` each stage network (the detector's network, the inpainter, the
            colorizer; a rule-based detector is not compiled). The first restore of each input
            size compiles (seconds to minutes); needs a C++ compiler on the CPU (``g++``,
            ``clang++`` or ``$CXX``), else a ``RuntimeError`` says so.
        amp: ``None`` (float32) or ``'bf16'``: run the inpainter and the colorizer under bfloat16
            autocast (CPU or CUDA); the detector stays float32, so the damage mask is float32's.
            Outputs differ from float32 by a few grey levels; the known pixels stay exact.
        tta: Test-time augmentation (:mod:`restorekit.models.wrappers.tta`): ``None``, a preset
            (``'six'``: identity, flips, three rotations), transform names, ``'six@inpainter,
            colorizer'`` or ``dict(transforms=..., stages=..., seed=...)``; the stages' outputs
            are averaged over the transforms (default stage: the inpainter).

    Masks follow :meth:`Restorer.damage_mask`: a given mask is used as it is (the model's detector
    is not run for that image); without one, the model's ``mask_detector`` finds the damage, as in
    :meth:`Restorer.predict`; a model without a detector gets the mask of the constant-grey-fill
    rule (:func:`~restorekit.models.detectors.constant_fill.detect_constant_fill`), which is what
    the DACON damage is.
    """

    def __init__(self,
                 config: Union[str, Config],
                 checkpoint: Optional[str] = None,
                 device: str = 'cpu',
                 batch_size: int = 1,
                 tile: Optional[int] = None,
                 tile_overlap: int = 32,
                 cfg_options: Optional[dict] = None,
                 seed: int = 0,
                 channels_last: bool = False,
                 compile: bool = False,
                 amp: Optional[str] = None,
                 tta: Optional[Union[str, Sequence[str], dict]] = None) -> None:
        from mmengine.registry import init_default_scope

        from restorekit.registry import MODELS

        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f'batch_size must be a positive integer, got {batch_size!r}')
        if tile is not None:
            check_tile_options(tile, tile_overlap)
        if amp is not None and amp not in AMP_DTYPES:
            raise ValueError(f'amp must be None or one of {sorted(AMP_DTYPES)}, got {amp!r}')
        self.channels_last = bool(channels_last)
        self.compile = bool(compile)
        self.amp = amp
        self.batch_size = int(batch_size)
        self.tile = None if tile is None else int(tile)
        self.tile_overlap = int(tile_overlap)

        cfg = Config.fromfile(config) if isinstance(config, str) else config.copy()
        if not isinstance(cfg, Config):
            raise TypeError(f'config must be a file path or an mmengine Config, got '
                            f'{type(config).__name__}')
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        if 'model' not in cfg:
            raise KeyError(f'config {getattr(cfg, "filename", None) or config!r} has no `model`')
        self.cfg = cfg
        init_default_scope('restorekit')
        model_cfg = _inference_model_config(cfg.model, with_checkpoint=checkpoint is not None)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = MODELS.build(model_cfg)
        if checkpoint is None:
            print_log(
                'RestorationInferencer: no checkpoint, the model has RANDOM weights; its outputs '
                'are meaningless (use this for tests only).',
                logger='current',
                level=logging.WARNING)
        else:
            skipped = load_inference_weights(model, checkpoint)
            if skipped:
                print_log(
                    f'RestorationInferencer: skipped the training-only weights {skipped} '
                    f'of {checkpoint}',
                    logger='current')
        from restorekit.models.wrappers.tta import apply_test_time_augmentation
        apply_test_time_augmentation(model, tta)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if self.compile:
            self._compile_stage_networks()

    # --- public API -------------------------------------------------------------------------------
    def __call__(self,
                 images: Union[ImageLike, Sequence[ImageLike]],
                 masks=None,
                 output_type: str = 'numpy'):
        """Restore one image or a list; returns the RGB output(s) (uint8 (H, W, 3) or PIL).

        Args:
            images: One image or a list (tuple) of images: paths, PIL images or numpy arrays
                ((H, W) or (H, W, 3/4), uint8 or uint16), see :func:`~.image_io.read_gray`.
            masks: ``None`` (find the damage), one mask (for one image, or used for every image of
                a list), or a list with one mask (or ``None``) per image; nonzero/True = damaged.
            output_type: ``'numpy'`` or ``'pil'``.
        """
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f'output_type must be one of {OUTPUT_TYPES}, got {output_type!r}')
        single = not isinstance(images, (list, tuple))
        outputs = [result.output for result in self.restore(images, masks)]
        if output_type == 'pil':
            from PIL import Image
            outputs = [Image.fromarray(output) for output in outputs]
        return outputs[0] if single else outputs

    def restore(self,
                images: Union[ImageLike, Sequence[ImageLike]],
                masks=None) -> List[RestorationResult]:
        """Restore images; one :class:`RestorationResult` per image, in order.

        Images of equal size are batched (up to ``batch_size``); images larger than ``tile`` are
        restored in tiles. See :meth:`__call__` for ``images`` and ``masks``.
        """
        image_list = list(images) if isinstance(images, (list, tuple)) else [images]
        if not image_list:
            return []
        mask_list = self._mask_list(masks, len(image_list), isinstance(images, (list, tuple)))
        grays, modes = zip(*(read_gray(image) for image in image_list))
        given = [
            None if mask is None else read_mask(mask, gray.shape)
            for mask, gray in zip(mask_list, grays)
        ]
        results: List[Optional[RestorationResult]] = [None] * len(grays)
        groups: Dict[Tuple[int, int], List[int]] = OrderedDict()
        for index, gray in enumerate(grays):
            if self._needs_tiling(gray.shape):
                results[index] = self._restore_tiled(gray, given[index])
            else:
                groups.setdefault(gray.shape, []).append(index)
        for indices in groups.values():
            for chunk in batched(indices, self.batch_size):
                restored = self._restore_batch([grays[i] for i in chunk], [given[i] for i in chunk])
                for index, result in zip(chunk, restored):
                    results[index] = result
        for result, mode in zip(results, modes):
            result.input_mode = mode
        return results

    # --- speed switches ---------------------------------------------------------------------------
    def stage_networks(self) -> Dict[str, torch.nn.Module]:
        """The networks that restore, by stage (see :meth:`Restorer.stage_networks`)."""
        return self.model.stage_networks()

    def _compile_stage_networks(self) -> None:
        """``torch.compile`` each stage network in place (its state dict keeps its keys)."""
        if self.device.type == 'cpu' and not (os.environ.get('CXX') or any(
                shutil.which(compiler) for compiler in CPU_COMPILERS)):
            raise RuntimeError(
                'RestorationInferencer(compile=True): torch.compile on the CPU needs a C++ '
                f'compiler, and none of {list(CPU_COMPILERS)} is on the PATH (nor is $CXX set). '
                'Install one (e.g. apt-get install g++) or restore without compile=True (the '
                '--compile option).')
        for network in self.stage_networks().values():
            network.compile()

    @contextlib.contextmanager
    def _inference_context(self):
        """``torch.inference_mode``, autocast when ``amp`` is set, and a clear error when a
        compiled network fails to compile."""
        autocast = (
            torch.autocast(device_type=self.device.type, dtype=AMP_DTYPES[self.amp])
            if self.amp else contextlib.nullcontext())
        try:
            with torch.inference_mode(), autocast:
                yield
        except Exception as error:
            if self.compile and type(error).__module__.startswith(
                ('torch._dynamo', 'torch._inductor')):
                raise RuntimeError(
                    f'RestorationInferencer(compile=True): torch.compile of the stage networks '
                    f'failed ({type(error).__name__}: {str(error)[:500]}); restore without '
                    'compile=True (the --compile option)') from error
            raise

    # --- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _mask_list(masks, count: int, is_list: bool) -> list:
        if masks is None:
            return [None] * count
        if isinstance(masks, (list, tuple)):
            if not is_list:
                raise ValueError('masks is a list but images is one image; pass one mask, or '
                                 'a list of images')
            if len(masks) != count:
                raise ValueError(f'got {count} images but {len(masks)} masks; pass one mask (or '
                                 'None) per image')
            return list(masks)
        return [masks] * count

    def _needs_tiling(self, shape: Tuple[int, int]) -> bool:
        return self.tile is not None and (shape[0] > self.tile or shape[1] > self.tile)

    def _preprocess(self, grays: Sequence[np.ndarray]):
        """The model's preprocessed batch: ``(inputs (N, 1, Hp, Wp), data samples)``."""
        from restorekit.structures import RestorationDataSample

        inputs = [torch.from_numpy(np.ascontiguousarray(gray))[None] for gray in grays]
        data = self.model.data_preprocessor(
            dict(inputs=inputs, data_samples=[RestorationDataSample() for _ in grays]))
        inputs = data['inputs']
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return inputs, data['data_samples']

    @staticmethod
    def _mask_tensors(masks: Sequence[Optional[np.ndarray]]) -> List[Optional[torch.Tensor]]:
        """bool (H, W) masks as (1, H, W) tensors, the Restorer's given masks."""
        return [
            None if mask is None else torch.from_numpy(np.ascontiguousarray(mask))[None]
            for mask in masks
        ]

    def _restore_batch(self, grays: Sequence[np.ndarray],
                       given: Sequence[Optional[np.ndarray]]) -> List[RestorationResult]:
        """Restore images of one size together: preprocess, :meth:`Restorer.restore`, back to
        uint8 images of the input size."""
        preprocessor = self.model.data_preprocessor
        with self._inference_context():
            inputs, samples = self._preprocess(grays)
            outputs = self.model.restore(inputs, samples, self._mask_tensors(given))
            rgbs = preprocessor.destruct(outputs['rgb'], samples)
            masks = preprocessor.crop(outputs['mask'] > 0.5, samples)
            composites = (
                preprocessor.destruct(outputs['composite'], samples)
                if 'inpainted' in outputs else [None] * len(grays))
        results = []
        for gray, rgb, mask_, composite in zip(grays, rgbs, masks, composites):
            results.append(
                RestorationResult(
                    output=np.ascontiguousarray(rgb.permute(1, 2, 0).cpu().numpy()),
                    mask=mask_[0].cpu().numpy(),
                    gray=gray,
                    inpainted_gray=None if composite is None else composite[0].cpu().numpy()))
        return results

    # --- tiles ------------------------------------------------------------------------------------
    def _tiled_mask(self, gray: np.ndarray, given: Optional[np.ndarray]) -> np.ndarray:
        """The damage mask of a tiled image: given; the learned detector's logits blended over
        the tiles; else (the constant-fill rule, which measures whole regions) the Restorer's
        mask of the whole image."""
        if given is not None:
            return given
        with self._inference_context():
            if not self.model.detector_works_on_tiles:
                inputs, samples = self._preprocess([gray])
                mask = self.model.damage_mask(inputs, samples)['mask']
                return self.model.data_preprocessor.crop(mask > 0.5, samples)[0][0].cpu().numpy()

            def detect(tiles: List[Tile]) -> List[Dict[str, torch.Tensor]]:
                inputs, samples = self._preprocess([gray[tile.slices] for tile in tiles])
                logits = self.model.data_preprocessor.crop(
                    self.model.detector_logits(inputs), samples)
                return [dict(logits=value) for value in logits]

            blended = run_tiled(detect, *gray.shape, self.tile, self.tile_overlap, self.batch_size)
        return (blended['logits'][0] > 0).numpy()

    def _restore_tiled(self, gray: np.ndarray, given: Optional[np.ndarray]) -> RestorationResult:
        """Restore one large image tile by tile and blend (see :mod:`restorekit.apis.tiling`):
        the mask of the whole image first, then :meth:`Restorer.restore` of each tile with its
        part of that mask given."""
        mask = self._tiled_mask(gray, given)

        def restore(tiles: List[Tile]) -> List[Dict[str, torch.Tensor]]:
            inputs, samples = self._preprocess([gray[tile.slices] for tile in tiles])
            outputs = self.model.restore(inputs, samples,
                                         self._mask_tensors([mask[tile.slices] for tile in tiles]))
            names = ['rgb', 'composite'] if 'inpainted' in outputs else ['rgb']
            crops = {
                name: self.model.data_preprocessor.crop(outputs[name], samples)
                for name in names
            }
            return [{name: crops[name][i] for name in crops} for i in range(len(tiles))]

        with self._inference_context():
            blended = run_tiled(restore, *gray.shape, self.tile, self.tile_overlap, self.batch_size)
        output = unit_range_to_uint8(blended['rgb']).permute(1, 2, 0).numpy()
        inpainted = None
        if 'composite' in blended:
            inpainted = unit_range_to_uint8(blended['composite'])[0].numpy()
            # The blend of exact known pixels is exact up to float rounding; make it exact.
            inpainted = np.where(mask, inpainted, gray)
        return RestorationResult(
            output=np.ascontiguousarray(output), mask=mask, gray=gray, inpainted_gray=inpainted)
