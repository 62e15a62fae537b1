"""RestorationVisualizer grids and RestorationVisualizationHook in training and validation."""
import glob
import os.path as osp
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.visualization import Visualizer
from PIL import Image

from restorekit.engine.visualization_hook import RestorationVisualizationHook
from restorekit.registry import DATASETS, HOOKS, MODELS, VISUALIZERS
from restorekit.structures import RestorationDataSample
from restorekit.visualization import PANELS, RestorationVisualizer, compose_restoration_grid

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# shrink_config lives with the tools' tests (tests/tools/config_utils.py).
sys.path.insert(0, osp.join(ROOT, 'tests', 'tools'))
from config_utils import shrink_config  # noqa: E402
SIZE = 32


def _sample(rng: np.random.Generator, with_pred: bool = True) -> tuple:
    """A damaged input (1, H, W) and a data sample with random uint8 fields."""
    def rand(channels):
        return torch.from_numpy(rng.integers(0, 256, (channels, SIZE, SIZE), dtype=np.uint8))

    mask = torch.from_numpy(rng.integers(0, 2, (1, SIZE, SIZE), dtype=np.uint8))
    sample = RestorationDataSample(gt_img=rand(3), gt_gray=rand(1), mask=mask)
    if with_pred:
        sample.pred_img, sample.pred_gray, sample.pred_mask = rand(3), rand(1), mask.clone()
    return rand(1), sample


def _panels(grid: np.ndarray, width: int) -> list:
    """The five panels of a grid (label strip cut off)."""
    strip = grid.shape[0] - width
    return [grid[strip:, i * width:(i + 1) * width] for i in range(len(PANELS))]


def _hwc(tensor: torch.Tensor) -> np.ndarray:
    array = tensor.numpy().transpose(1, 2, 0)
    return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array


def test_grid_panels_are_the_sample_fields_pixel_for_pixel():
    image, sample = _sample(np.random.default_rng(0))
    grid = compose_restoration_grid(image, sample, label_height=12)
    assert grid.shape == (12 + SIZE, 5 * SIZE, 3) and grid.dtype == np.uint8
    damaged, mask, inpainted, output, truth = _panels(grid, SIZE)
    np.testing.assert_array_equal(damaged, _hwc(image))
    np.testing.assert_array_equal(mask, _hwc(sample.pred_mask * 255))
    np.testing.assert_array_equal(inpainted, _hwc(sample.pred_gray))
    np.testing.assert_array_equal(output, _hwc(sample.pred_img))
    np.testing.assert_array_equal(truth, _hwc(sample.gt_img))
    assert grid[:12].any()  # the labels are written


def test_absent_fields_give_black_panels_and_the_same_layout():
    image, sample = _sample(np.random.default_rng(1), with_pred=False)
    grid = compose_restoration_grid(image, sample, label_height=0)
    assert grid.shape == (SIZE, 5 * SIZE, 3)
    damaged, mask, inpainted, output, truth = _panels(grid, SIZE)
    assert not mask.any() and not inpainted.any() and not output.any()
    np.testing.assert_array_equal(truth, _hwc(sample.gt_img))
    no_gt = compose_restoration_grid(image, sample, label_height=0, draw_gt=False)
    assert not _panels(no_gt, SIZE)[4].any()


def test_grid_rejects_float_images_and_negative_label_height():
    image, sample = _sample(np.random.default_rng(2))
    sample.pred_img = sample.pred_img.float()
    with pytest.raises(TypeError, match='pred_img must be uint8'):
        compose_restoration_grid(image, sample)
    with pytest.raises(ValueError, match='label_height'):
        compose_restoration_grid(image, None, label_height=-1)


def test_visualizer_writes_the_grid_through_local_vis_backend(tmp_path):
    visualizer = VISUALIZERS.build(
        dict(type='RestorationVisualizer', name='test_local_backend',
             vis_backends=[dict(type='LocalVisBackend')], save_dir=str(tmp_path), label_height=0))
    assert isinstance(visualizer, RestorationVisualizer)
    image, sample = _sample(np.random.default_rng(3))
    grid = visualizer.add_datasample('val_7', image, sample, step=5)
    written = np.asarray(Image.open(tmp_path / 'vis_data' / 'vis_image' / 'val_7_5.png'))
    np.testing.assert_array_equal(written, grid)
    out_file = tmp_path / 'grid.png'
    visualizer.add_datasample('ignored', image, sample, out_file=str(out_file))
    np.testing.assert_array_equal(np.asarray(Image.open(out_file)), grid)


def test_visualizer_logs_to_tensorboard(tmp_path):
    pytest.importorskip('tensorboard')
    visualizer = RestorationVisualizer(
        name='test_tensorboard_backend', vis_backends=[dict(type='TensorboardVisBackend')],
        save_dir=str(tmp_path))
    image, sample = _sample(np.random.default_rng(4))
    visualizer.add_datasample('train_0', image, sample, step=1)
    visualizer.close()
    assert glob.glob(str(tmp_path / 'vis_data' / '**' / 'events.out.tfevents.*'), recursive=True)


def _tiny_restorer():
    return MODELS.build(
        dict(type='Restorer',
             inpainter=dict(type='ContextEncoder', base_channels=4),
             inpainter_losses=[dict(type='L1Loss')]))


def _batch(rng: np.random.Generator, count: int) -> dict:
    images, samples = zip(*(_sample(rng, with_pred=False) for _ in range(count)))
    return dict(inputs=list(images), data_samples=list(samples))


@pytest.mark.parametrize('visualizer_type', [RestorationVisualizer, Visualizer])
def test_training_draw_restores_train_mode_and_leaves_batchnorm_statistics(
        tmp_path, visualizer_type):
    model = _tiny_restorer().train()
    visualizer = visualizer_type(
        name=f'test_train_draw_{visualizer_type.__name__}',
        vis_backends=[dict(type='LocalVisBackend')], save_dir=str(tmp_path))
    runner = SimpleNamespace(model=model, iter=3, visualizer=visualizer)
    hook = HOOKS.build(dict(type='RestorationVisualizationHook', interval=2, train_samples=2))
    stats = {k: v.clone() for k, v in model.state_dict().items() if 'running' in k}
    batch = _batch(np.random.default_rng(5), 3)

    hook.after_train_iter(runner, 0, batch)  # iteration 4: drawn
    runner.iter = 4
    hook.after_train_iter(runner, 0, batch)  # iteration 5: not drawn
    written = sorted(p.name for p in (tmp_path / 'vis_data' / 'vis_image').iterdir())
    assert written == ['train_0_4.png', 'train_1_4.png']
    assert model.training and model.inpainter.training
    for key, value in stats.items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)
    grid = np.asarray(Image.open(tmp_path / 'vis_data' / 'vis_image' / 'train_1_4.png'))
    assert grid.shape[1] == 5 * SIZE
    np.testing.assert_array_equal(_panels(grid, SIZE)[0], _hwc(batch['inputs'][1]))
    # The batch given to the training step is left as it was.
    assert 'pred_img' not in batch['data_samples'][0]


def test_hook_rejects_bad_arguments():
    with pytest.raises(ValueError, match='interval must be an integer >= 0'):
        RestorationVisualizationHook(interval=-1)
    with pytest.raises(ValueError, match='val_samples'):
        RestorationVisualizationHook(val_samples=1.5)


def test_training_run_writes_train_and_validation_grids(tiny_dacon_root, tmp_path):
    from restorekit.engine.runner_utils import build_runner
    cfg = shrink_config(
        Config.fromfile(osp.join(ROOT, 'configs', 'unet_two_stage_demo.py')), tiny_dacon_root,
        str(tmp_path / 'work'), iters=2, num_eval=4)
    cfg.default_hooks.visualization = dict(
        type='RestorationVisualizationHook', interval=1, train_samples=2, val_samples=3)
    cfg.visualizer.label_height = 10
    cfg.default_hooks.checkpoint = None
    runner = build_runner(cfg)
    runner.train()

    image_dirs = glob.glob(str(tmp_path / 'work' / '*' / 'vis_data' / 'vis_image'))
    assert len(image_dirs) == 1
    written = sorted(osp.basename(p) for p in glob.glob(osp.join(image_dirs[0], '*.png')))
    val_dataset = DATASETS.build(cfg.val_dataloader.dataset)
    val_names = [f'val_{val_dataset[i]["data_samples"].sample_idx}_2.png' for i in range(3)]
    assert written == sorted(['train_0_1.png', 'train_1_1.png', 'train_0_2.png', 'train_1_2.png']
                             + val_names)

    size = 64
    for name in written:
        grid = np.asarray(Image.open(osp.join(image_dirs[0], name)))
        assert grid.shape == (10 + size, 5 * size, 3), name
        damaged, mask, inpainted, output, truth = _panels(grid, size)
        known = mask[..., 0] == 0
        assert mask.any() and known.any(), name
        # The Restorer composites the known pixels back: inpainted == damaged outside the mask.
        np.testing.assert_array_equal(inpainted[known], damaged[known])
    for index, name in enumerate(val_names):
        packed = val_dataset[index]
        damaged, mask, _, _, truth = _panels(
            np.asarray(Image.open(osp.join(image_dirs[0], name))), size)
        np.testing.assert_array_equal(damaged, _hwc(packed['inputs']))
        np.testing.assert_array_equal(mask, _hwc(packed['data_samples'].mask * 255))
        np.testing.assert_array_equal(truth, _hwc(packed['data_samples'].gt_img))
