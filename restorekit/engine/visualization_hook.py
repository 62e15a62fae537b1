"""Draw restoration grids while training and validating (docs/visualization.md)."""
from contextlib import contextmanager
from typing import Iterator, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from restorekit.registry import HOOKS
from restorekit.visualization.restoration_visualizer import (RestorationVisualizer,
                                                             compose_restoration_grid)

DataBatch = Optional[Union[dict, tuple, list]]


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode (BatchNorm running statistics, no dropout) and no autograd, then back."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _first_samples(data_batch: dict, count: int) -> dict:
    """The first ``count`` samples of a collated batch (lists or stacked tensors)."""
    return {key: value[:count] for key, value in data_batch.items()}


@HOOKS.register_module()
class RestorationVisualizationHook(Hook):
    """Record grids of damaged | mask | inpainted grey | output | ground truth on the visualizer.

    * Training: every ``interval`` iterations, the first ``train_samples`` samples of the current
      batch are restored with the model in eval mode under ``torch.no_grad`` (one small extra
      forward pass; the model's training state is restored) and drawn as ``train_{i}``.
    * Validation: the first ``val_samples`` samples of every validation are drawn from the
      predictions the validation computed anyway, as ``val_{sample_idx}`` (the same images every
      time, so a backend shows their progress). The step is the training iteration.

    The grids go to ``runner.visualizer``: with a
    :class:`~restorekit.visualization.RestorationVisualizer` through its ``add_datasample``, with
    any other mmengine ``Visualizer`` through ``add_image``; its ``vis_backends`` decide where
    they end up (``LocalVisBackend``: ``<work_dir>/<timestamp>/vis_data/vis_image/*.png``).
    Only rank 0 draws (every rank runs the training forward pass, which a sharded model needs).
    Follows mmdet's ``DetVisualizationHook`` and mmagic's
    ``BasicVisualizationHook``.

    Args:
        interval: Draw every ``interval`` training iterations; 0 draws nothing in training.
        train_samples: Samples of the batch to draw in training.
        val_samples: Samples to draw per validation; 0 draws nothing in validation.
    """

    def __init__(self, interval: int = 1000, train_samples: int = 2, val_samples: int = 8) -> None:
        for key, value in (('interval', interval), ('train_samples', train_samples),
                           ('val_samples', val_samples)):
            if int(value) != value or value < 0:
                raise ValueError(f'RestorationVisualizationHook: {key} must be an integer >= 0, '
                                 f'got {value!r}.')
        self.interval = int(interval)
        self.train_samples = int(train_samples)
        self.val_samples = int(val_samples)
        self._val_drawn = 0

    def draw(self, runner, name: str, image: torch.Tensor, data_sample, step: int) -> None:
        """Record the grid of one sample on ``runner.visualizer``."""
        visualizer = runner.visualizer
        if isinstance(visualizer, RestorationVisualizer):
            visualizer.add_datasample(name, image, data_sample, step=step)
        else:
            visualizer.add_image(name, compose_restoration_grid(image, data_sample), step=step)

    def after_train_iter(self, runner, batch_idx: int, data_batch: DataBatch = None,
                         outputs: Optional[dict] = None) -> None:
        """Every ``interval`` iterations, restore and draw the first samples of the batch."""
        if (not self.interval or not self.train_samples or not isinstance(data_batch, dict)
                or not self.every_n_train_iters(runner, self.interval)):
            return
        batch = _first_samples(data_batch, self.train_samples)
        # Every rank runs the forward pass: a sharded model (FSDP) gathers its parameters from all
        # ranks in every forward, so rank 0 alone would wait forever.
        with _eval_mode(runner.model):
            predictions = runner.model.val_step(batch)
        if not is_main_process():
            return
        for index, (image, sample) in enumerate(zip(batch['inputs'], predictions)):
            self.draw(runner, f'train_{index}', image, sample, step=runner.iter + 1)

    def before_val_epoch(self, runner) -> None:
        self._val_drawn = 0

    def after_val_iter(self, runner, batch_idx: int, data_batch: DataBatch = None,
                       outputs: Optional[Sequence] = None) -> None:
        """Draw the validation's predictions until ``val_samples`` are drawn."""
        if self._val_drawn >= self.val_samples or not isinstance(data_batch, dict) \
                or not outputs or not is_main_process():
            return
        for image, sample in zip(data_batch['inputs'], outputs):
            if self._val_drawn >= self.val_samples:
                break
            index = sample.metainfo.get('sample_idx', self._val_drawn)
            self.draw(runner, f'val_{index}', image, sample, step=runner.iter)
            self._val_drawn += 1
