"""The data preprocessor of the :class:`Restorer`: batching, padding, normalisation and back."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseDataPreprocessor

from restorekit.registry import MODELS
from restorekit.structures import RestorationDataSample
from restorekit.utils.padding import pad_bottom_right
from restorekit.utils.value_range import uint8_to_unit_range, unit_range_to_uint8

#: Target fields of a data sample, the channels each must have, and whether it is a mask.
_TARGET_FIELDS = {'gt_img': (3, False), 'gt_gray': (1, False), 'mask': (1, True)}


@MODELS.register_module()
class RestorationDataPreprocessor(BaseDataPreprocessor):
    """Stacks a batch of grey uint8 images, pads it and maps it to ``[-1, 1]``; and back.

    Owns the normalisation and its inverse so that models only see tensors (the design of mmagic's
    ``mmagic/models/data_preprocessors/data_preprocessor.py``), following ``docs/conventions.md``:

    * :meth:`forward` moves the batch to the device, pads every image at the bottom and right up
      to a common size that is a multiple of ``pad_size_divisor`` (reflection padding, or
      replication for images too small to reflect) and maps ``[0, 255]`` to ``[-1, 1]``. Each data
      sample gets metainfo ``img_shape`` (its unpadded ``(H, W)``) and ``pad_shape`` (the batch's
      padded size). Images of different sizes in a batch are padded to the largest.
    * :meth:`stack_targets` stacks and pads the samples' ``gt_img``, ``gt_gray`` and ``mask`` the
      same way (masks padded with 0 = known).
    * :meth:`destruct` maps model outputs back to uint8 and crops each to its ``img_shape``.

    Args:
        pad_size_divisor: Padded height and width are multiples of this (32 suits 5-level
            encoders).
        non_blocking: Passed to :class:`~mmengine.model.BaseDataPreprocessor`.
    """

    def __init__(self, pad_size_divisor: int = 32, non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        if int(pad_size_divisor) < 1:
            raise ValueError(
                f'pad_size_divisor must be a positive integer, got {pad_size_divisor!r}.')
        self.pad_size_divisor = int(pad_size_divisor)

    # --- forward ----------------------------------------------------------------------------------
    def forward(self, data: dict, training: bool = False) -> dict:
        """Batch, pad and normalise ``data['inputs']``; annotate ``data['data_samples']``.

        Args:
            data: ``inputs`` - a list of uint8 (1, H, W) tensors or a uint8 (N, 1, H, W) tensor;
                ``data_samples`` (optional) - a list of :class:`RestorationDataSample`. Without
                samples (pure inference) fresh empty samples are created to carry the shapes.
            training: Unused (no training-time augmentation here).

        Returns:
            ``dict(inputs=float (N, 1, Hp, Wp) in [-1, 1], data_samples=list)``.
        """
        data = self.cast_data(data)
        images = self._as_image_list(data['inputs'])
        data_samples = data.get('data_samples')
        if data_samples is None:
            data_samples = [RestorationDataSample() for _ in images]
        elif len(data_samples) != len(images):
            raise ValueError(f'RestorationDataPreprocessor: got {len(images)} inputs but '
                             f'{len(data_samples)} data_samples; they must match one to one.')

        pad_shape = self._padded_shape([tuple(image.shape[-2:]) for image in images])
        padded = []
        for image, sample in zip(images, data_samples):
            sample.set_metainfo(dict(img_shape=tuple(image.shape[-2:]), pad_shape=pad_shape))
            padded.append(pad_bottom_right(uint8_to_unit_range(image[None]), *pad_shape, 'reflect'))
        return dict(inputs=torch.cat(padded, dim=0), data_samples=list(data_samples))

    def _as_image_list(self, inputs: Union[torch.Tensor,
                                           Sequence[torch.Tensor]]) -> List[torch.Tensor]:
        """Check the inputs and return them as a list of (1, H, W) tensors."""
        if isinstance(inputs, torch.Tensor):
            if inputs.dim() != 4:
                raise ValueError('RestorationDataPreprocessor: a stacked `inputs` tensor must be '
                                 f'(N, 1, H, W), got shape {tuple(inputs.shape)}.')
            images = list(inputs)
        else:
            images = list(inputs)
        if not images:
            raise ValueError('RestorationDataPreprocessor: `inputs` is empty.')
        for index, image in enumerate(images):
            if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] != 1:
                shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image)
                raise ValueError(f'RestorationDataPreprocessor: inputs[{index}] must be a grey '
                                 f'uint8 tensor (1, H, W), got {shape}.')
            if image.dtype != torch.uint8:
                raise TypeError(f'RestorationDataPreprocessor: inputs[{index}] must be uint8 '
                                f'in [0, 255], got {image.dtype}.')
        return images

    def _padded_shape(self, shapes: Sequence[Tuple[int, int]]) -> Tuple[int, int]:
        """The smallest multiple of ``pad_size_divisor`` that holds every shape."""
        divisor = self.pad_size_divisor
        height = max(shape[0] for shape in shapes)
        width = max(shape[1] for shape in shapes)
        return (-(-height // divisor) * divisor, -(-width // divisor) * divisor)

    # --- targets ----------------------------------------------------------------------------------
    def stack_targets(
        self,
        data_samples: Optional[Sequence[RestorationDataSample]],
        keys: Sequence[str] = tuple(_TARGET_FIELDS)
    ) -> Dict[str, Optional[torch.Tensor]]:
        """Stack the samples' targets, padded like the inputs, on the preprocessor's device.

        Args:
            data_samples: Samples that went through :meth:`forward` (or ``None``).
            keys: The fields to stack, a subset of ``('gt_img', 'gt_gray', 'mask')``.

        Returns:
            ``dict(gt_img=(N, 3, Hp, Wp), gt_gray=(N, 1, Hp, Wp))`` float in ``[-1, 1]`` and
            ``mask=(N, 1, Hp, Wp)`` float in ``{0, 1}`` (padding 0 = known). A field is ``None``
            when the samples do not have it (or there are no samples); it is an error when only
            some samples have it.
        """
        unknown = set(keys) - set(_TARGET_FIELDS)
        if unknown:
            raise KeyError(f'RestorationDataPreprocessor.stack_targets: unknown keys '
                           f'{sorted(unknown)}; the targets are {list(_TARGET_FIELDS)}.')
        targets: Dict[str, Optional[torch.Tensor]] = {key: None for key in keys}
        if not data_samples:
            return targets
        for key in keys:
            channels, is_mask = _TARGET_FIELDS[key]
            present = [key in sample for sample in data_samples]
            if not any(present):
                continue
            if not all(present):
                missing = [index for index, has in enumerate(present) if not has]
                raise ValueError(f'RestorationDataPreprocessor.stack_targets: data samples '
                                 f'{missing} have no `{key}` while others do; a batch must be '
                                 'uniform.')
            targets[key] = torch.cat(
                [self._pad_target(sample, key, channels, is_mask) for sample in data_samples],
                dim=0)
        return targets

    def _pad_target(self, sample: RestorationDataSample, key: str, channels: int,
                    is_mask: bool) -> torch.Tensor:
        """One sample's target field as a padded float (1, C, Hp, Wp) tensor."""
        for meta in ('img_shape', 'pad_shape'):
            if meta not in sample.metainfo:
                raise KeyError(f'RestorationDataPreprocessor.stack_targets: a data sample has no '
                               f'metainfo `{meta}`; pass the samples through forward() first.')
        value = sample.get(key)
        expected = (channels, *sample.metainfo['img_shape'])
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != expected:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value)
            raise ValueError(f'RestorationDataPreprocessor.stack_targets: `{key}` must be a '
                             f'tensor of shape {expected} (C, H, W) matching the input, got '
                             f'{shape}.')
        value = value.to(self.device)[None]
        if is_mask:
            return pad_bottom_right((value != 0).float(), *sample.metainfo['pad_shape'], 'zeros')
        if value.dtype != torch.uint8:
            raise TypeError(f'RestorationDataPreprocessor.stack_targets: `{key}` must be uint8, '
                            f'got {value.dtype}.')
        return pad_bottom_right(
            uint8_to_unit_range(value), *sample.metainfo['pad_shape'], 'reflect')

    # --- back to images ---------------------------------------------------------------------------
    def destruct(
            self,
            batch: torch.Tensor,
            data_samples: Optional[Sequence[RestorationDataSample]] = None) -> List[torch.Tensor]:
        """Map a float ``[-1, 1]`` batch (N, C, Hp, Wp) back to uint8 images cropped to size.

        Args:
            batch: Model output in ``[-1, 1]``.
            data_samples: Samples carrying metainfo ``img_shape``; without them nothing is
                cropped.

        Returns:
            A list of N uint8 tensors (C, H, W), each cropped to its sample's ``img_shape``.
        """
        if batch.dim() != 4:
            raise ValueError(f'RestorationDataPreprocessor.destruct: batch must be (N, C, H, W), '
                             f'got {tuple(batch.shape)}.')
        return self.crop(unit_range_to_uint8(batch), data_samples)

    @staticmethod
    def crop(batch: torch.Tensor,
             data_samples: Optional[Sequence[RestorationDataSample]] = None) -> List[torch.Tensor]:
        """Split a padded batch (N, C, Hp, Wp) into N tensors cropped to their ``img_shape``.

        Without data samples nothing is cropped.
        """
        if data_samples is None:
            return list(batch)
        if len(data_samples) != len(batch):
            raise ValueError(f'RestorationDataPreprocessor: batch has {len(batch)} images but '
                             f'{len(data_samples)} data samples.')
        cropped = []
        for image, sample in zip(batch, data_samples):
            if 'img_shape' not in sample.metainfo:
                raise KeyError('RestorationDataPreprocessor: a data sample has no metainfo '
                               '`img_shape`; pass the samples through forward() first.')
            height, width = sample.metainfo['img_shape']
            cropped.append(image[:, :height, :width])
        return cropped
