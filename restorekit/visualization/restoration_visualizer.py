"""A side-by-side grid of one restoration: damaged | mask | inpainted grey | output | ground truth.

The grid goes through mmengine's ``Visualizer`` backends (``LocalVisBackend`` writes PNGs,
``TensorboardVisBackend`` and ``WandbVisBackend`` log to their services), as the task visualizers
of OpenMMLab do (mmagic's ``ConcatImageVisualizer``, mmdet's ``DetLocalVisualizer``).
"""
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.structures import BaseDataElement
from mmengine.visualization import Visualizer

from restorekit.registry import VISUALIZERS

ImageLike = Union[torch.Tensor, np.ndarray]

#: The panels of the grid, left to right: (label, data sample field or ``None`` for the input).
PANELS: Tuple[Tuple[str, Optional[str]], ...] = (
    ('damaged', None),
    ('mask', 'pred_mask'),
    ('inpainted', 'pred_gray'),
    ('output', 'pred_img'),
    ('truth', 'gt_img'),
)
#: Fields drawn only with ``draw_pred`` / ``draw_gt``.
_PRED_FIELDS = ('pred_mask', 'pred_gray', 'pred_img')
_GT_FIELDS = ('gt_img', )


def to_rgb_uint8(image: ImageLike, field: str = 'image') -> np.ndarray:
    """An (H, W, 3) uint8 RGB array from a CHW tensor or an HW / HWC array (grey is replicated).

    Masks (values in {0, 1}) become white (255) where damaged; ``field`` names the input in errors.
    """
    if isinstance(image, torch.Tensor):
        array = image.detach().cpu().numpy()
        if array.ndim == 3:  # CHW, as in the data samples
            array = array.transpose(1, 2, 0)
    else:
        array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if field.endswith('mask') or array.dtype == bool:
        array = (array > 0).astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise TypeError(f'RestorationVisualizer: {field} must be uint8 (docs/conventions.md), got '
                        f'{array.dtype}.')
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f'RestorationVisualizer: {field} must be (H, W), (H, W, 1), (H, W, 3) or '
                         f'a (C, H, W) tensor with C in (1, 3); got shape {image.shape}.')
    return np.ascontiguousarray(array)


def restoration_panels(image: ImageLike,
                       data_sample: Optional[BaseDataElement] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True) -> List[Tuple[str, Optional[np.ndarray]]]:
    """The grid's panels as ``(label, RGB uint8 array or None)``; ``None`` where a field is absent.

    Args:
        image: The damaged input, (1, H, W) tensor or (H, W) array, uint8.
        data_sample: A :class:`~restorekit.structures.RestorationDataSample` with the predictions
            of ``Restorer.predict`` (``pred_mask``, ``pred_gray``, ``pred_img``) and ``gt_img``.
        draw_gt: Draw the ground-truth panel (else it is left empty).
        draw_pred: Draw the prediction panels (else they are left empty).
    """
    panels = []
    for label, field in PANELS:
        if field is None:
            panels.append((label, to_rgb_uint8(image, 'image')))
            continue
        wanted = (draw_pred or field not in _PRED_FIELDS) and (draw_gt or field not in _GT_FIELDS)
        value = data_sample.get(field) if (data_sample is not None and wanted) else None
        panels.append((label, None if value is None else to_rgb_uint8(value, field)))
    return panels


def _label_strip(labels: Sequence[str], panel_width: int, height: int) -> np.ndarray:
    """A black strip with each label written in white at the left of its panel."""
    strip = np.zeros((height, panel_width * len(labels), 3), np.uint8)
    font_scale = height / 40
    for index, label in enumerate(labels):
        origin = (index * panel_width + 2, height - max(2, height // 4))
        cv2.putText(strip, label, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return strip


def compose_restoration_grid(image: ImageLike,
                             data_sample: Optional[BaseDataElement] = None,
                             label_height: Optional[int] = None,
                             draw_gt: bool = True,
                             draw_pred: bool = True) -> np.ndarray:
    """The grid of :data:`PANELS` side by side, with a strip of labels on top.

    Every panel has the damaged image's size (another size is resized with nearest neighbours);
    an absent field (no detector and no mask, no ground truth) gives a black panel, so grids of a
    run always have the same layout: width ``5 * W``, height ``label_height + H``, the panels
    below the strip pixel-exact copies of the images.

    Args:
        image: The damaged input, (1, H, W) tensor or (H, W) array, uint8.
        data_sample: The sample with predictions and ground truth (see :func:`restoration_panels`).
        label_height: Height of the label strip in pixels; ``None``: ``max(12, W // 16)``; 0: no
            labels.
        draw_gt: Draw the ground-truth panel.
        draw_pred: Draw the prediction panels.

    Returns:
        An RGB uint8 array (label_height + H, 5 * W, 3).
    """
    panels = restoration_panels(image, data_sample, draw_gt=draw_gt, draw_pred=draw_pred)
    height, width = panels[0][1].shape[:2]
    row = []
    for _, panel in panels:
        if panel is None:
            panel = np.zeros((height, width, 3), np.uint8)
        elif panel.shape[:2] != (height, width):
            panel = cv2.resize(panel, (width, height), interpolation=cv2.INTER_NEAREST)
        row.append(panel)
    grid = np.concatenate(row, axis=1)
    if label_height is None:
        label_height = max(12, width // 16)
    if label_height < 0:
        raise ValueError(
            f'compose_restoration_grid: label_height must be >= 0, got {label_height}.')
    if label_height:
        labels = [label if panel is not None else f'{label} (none)' for label, panel in panels]
        grid = np.concatenate([_label_strip(labels, width, label_height), grid], axis=0)
    return grid


@VISUALIZERS.register_module()
class RestorationVisualizer(Visualizer):
    """mmengine ``Visualizer`` that records grids of restorations on its backends.

    :meth:`add_datasample` composes :func:`compose_restoration_grid` (damaged | mask | inpainted
    grey | output | ground truth) and hands it to every backend with ``add_image(name, grid,
    step)``: ``LocalVisBackend`` writes ``<save_dir>/vis_data/vis_image/{name}_{step}.png``,
    ``TensorboardVisBackend`` an image summary, ``WandbVisBackend`` a ``wandb.Image``. Follows
    mmagic's ``ConcatImageVisualizer``, without its matplotlib canvas (grids are plain arrays).

    Args:
        name: Name of the instance (mmengine's ``ManagerMixin``).
        vis_backends: Backend configs, e.g. ``[dict(type='LocalVisBackend')]``.
        save_dir: Root of the backends' files (the Runner sets the log dir).
        label_height: Height of the label strip; ``None`` scales it with the image, 0 turns it off.
        **kwargs: Further arguments of :class:`mmengine.visualization.Visualizer`.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 vis_backends: Optional[Sequence[dict]] = None,
                 save_dir: Optional[str] = None,
                 label_height: Optional[int] = None,
                 **kwargs) -> None:
        super().__init__(name=name, vis_backends=vis_backends, save_dir=save_dir, **kwargs)
        self.label_height = label_height

    @master_only
    def add_datasample(self,
                       name: str,
                       image: ImageLike,
                       data_sample: Optional[BaseDataElement] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0) -> np.ndarray:
        """Compose the grid of one sample and record it as ``name`` at ``step``.

        Args:
            name: Image name on the backends (``LocalVisBackend``: file ``{name}_{step}.png``).
            image: The damaged input, (1, H, W) tensor or (H, W) array, uint8.
            data_sample: The sample with predictions and ground truth.
            draw_gt: Draw the ground-truth panel.
            draw_pred: Draw the prediction panels.
            show: Show the grid in a window (matplotlib) as well.
            wait_time: Seconds the window stays open, as in ``Visualizer.show``.
            out_file: Write the grid to this PNG file instead of the backends.
            step: Global step (the training iteration).

        Returns:
            The grid, RGB uint8 (see :func:`compose_restoration_grid`); ``None`` on ranks other
            than 0 (``master_only``).
        """
        grid = compose_restoration_grid(
            image, data_sample, self.label_height, draw_gt=draw_gt, draw_pred=draw_pred)
        if show:
            self.show(grid, win_name=name, wait_time=wait_time)
        if out_file is not None:
            if not cv2.imwrite(out_file, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
                raise OSError(f'RestorationVisualizer: could not write {out_file!r}.')
        else:
            self.add_image(name, grid, step)
        return grid
