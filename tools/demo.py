"""The README demo: build data from bundled photos, train, restore held-out photos, score them.

1. Writes scikit-image's bundled colour photographs to OUT/photos (nothing is downloaded).
2. ``tools/make_dataset.py`` turns them into a DACON-layout set of 128 px tiles with polygon
   damage; whole photos are held out as the test split.
3. Trains ``configs/restorekit_default_demo.py`` (the default design on the demo data) on the CPU.
4. Restores the held-out tiles (``tools/test.py``'s route), prints the DACON score next to two
   references that need no learning (the damaged input copied to RGB, and OpenCV Telea inpainting
   of it), and writes OUT/comparison.png: damaged | restored | original.
"""
import argparse
import csv
import os
import os.path as osp
import sys
from typing import Dict, List

import numpy as np
import skimage.data
from mmengine.config import Config
from PIL import Image

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import make_dataset  # noqa: E402

from restorekit.engine.runner_utils import build_runner  # noqa: E402
from restorekit.evaluation.dacon import dacon_scores  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CONFIG = osp.join(ROOT, 'configs', 'restorekit_default_demo.py')
# scikit-image's bundled colour photographs (no download). motorcycle_right is left out: it is
# the same scene as motorcycle_left and would leak between the splits.
PHOTOS = ('astronaut', 'chelsea', 'coffee', 'hubble_deep_field', 'immunohistochemistry',
          'rocket', 'stereo_motorcycle')


def export_photos(out_dir: str) -> None:
    """Write the bundled photographs as PNGs into ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    for name in PHOTOS:
        image = getattr(skimage.data, name)()
        if name == 'stereo_motorcycle':
            image = image[0]
        Image.fromarray(np.ascontiguousarray(image[..., :3])).save(osp.join(out_dir, f'{name}.png'))


def read_rows(csv_path: str) -> List[Dict[str, str]]:
    with open(csv_path, newline='') as f:
        return list(csv.DictReader(f))


def load(data_root: str, rel_path: str) -> np.ndarray:
    return np.asarray(Image.open(osp.join(data_root, rel_path)))


def reference_scores(data_root: str, rows: List[Dict[str, str]],
                     telea: bool = False) -> float:
    """The mean DACON score of a reference that needs no learning: the damaged input copied to
    RGB, or (``telea``) OpenCV's Telea inpainting (radius 3) of it inside the mask, as RGB."""
    import cv2

    scores = []
    for row in rows:
        damaged = load(data_root, row['input_image_path'])
        mask = load(data_root, row['mask_path'])
        if telea:
            damaged = cv2.inpaint(damaged, (mask > 0).astype(np.uint8) * 255, 3,
                                  cv2.INPAINT_TELEA)
        pred = np.repeat(damaged[..., None], 3, axis=2)
        scores.append(dacon_scores(load(data_root, row['gt_image_path']), pred, mask)['score'])
    return float(np.mean(scores))


def write_comparison(data_root: str, rows: List[Dict[str, str]], restored_dir: str, path: str,
                     num_rows: int) -> None:
    """A grid with one sample per row: damaged | restored | original."""
    lines = []
    for row in rows[:num_rows]:
        name = osp.basename(row['input_image_path'])
        damaged = np.repeat(load(data_root, row['input_image_path'])[..., None], 3, axis=2)
        restored = np.asarray(Image.open(osp.join(restored_dir, name)))
        original = load(data_root, row['gt_image_path'])
        gap = np.full((damaged.shape[0], 4, 3), 255, np.uint8)
        lines.append(np.concatenate([damaged, gap, restored, gap, original], axis=1))
        lines.append(np.full((4, lines[-1].shape[1], 3), 255, np.uint8))
    Image.fromarray(np.concatenate(lines[:-1], axis=0)).save(path)


def main(argv=None) -> Dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out-dir', default='demo_out', help='where everything is written')
    parser.add_argument('--iters', type=int, default=None,
                        help='training iterations (default: the demo config\'s)')
    parser.add_argument('--size', type=int, default=128, help='tile size of the dataset')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--grid-rows', type=int, default=6)
    args = parser.parse_args(argv)

    out_dir = osp.abspath(args.out_dir)
    photos, data_root = osp.join(out_dir, 'photos'), osp.join(out_dir, 'data')
    export_photos(photos)
    make_dataset.main([photos, data_root, '--size', str(args.size), '--seed', str(args.seed),
                       '--test-fraction', '0.15', '--overwrite', '--quiet'])

    cfg = Config.fromfile(DEMO_CONFIG)
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = data_root
    cfg.work_dir = osp.join(out_dir, 'work_dir')
    cfg.randomness = dict(seed=args.seed)
    if args.iters is not None:
        cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = args.iters
        cfg.param_scheduler = [dict(type='CosineAnnealingLR', T_max=args.iters, eta_min=1e-5,
                                    by_epoch=False, begin=0, end=args.iters)]
        cfg.default_hooks.checkpoint.interval = args.iters
    restored_dir = osp.join(out_dir, 'restored')
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='SavePredictionsHook', out_dir=restored_dir)]

    runner = build_runner(cfg)
    runner.train()
    metrics = runner.test()

    rows = read_rows(osp.join(data_root, 'test.csv'))
    reference = reference_scores(data_root, rows)
    telea = reference_scores(data_root, rows, telea=True)
    grid_path = osp.join(out_dir, 'comparison.png')
    write_comparison(data_root, rows, restored_dir, grid_path, args.grid_rows)

    print(f'\nrestorekit demo: {len(rows)} held-out {args.size}px tiles')
    print(f'{"method":<28}{"DACON score":>12}')
    print(f'{"damaged input copied to RGB":<32}{reference:>12.4f}')
    print(f'{"OpenCV Telea, copied to RGB":<32}{telea:>12.4f}')
    print(f'{osp.splitext(osp.basename(DEMO_CONFIG))[0]:<32}{metrics["dacon/score"]:>12.4f}')
    print(f'comparison grid (damaged | restored | original): {grid_path}')
    return dict(reference=reference, telea=telea, score=metrics['dacon/score'])


if __name__ == '__main__':
    main()
