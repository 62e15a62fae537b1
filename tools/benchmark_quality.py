"""Train model-zoo configs for the same small budget and score them on the same held-out images.

1. Builds a DACON-layout dataset from scikit-image's bundled photographs (``tools/demo.py``'s
   photos, ``tools/make_dataset.py``); whole photos are held out as the test split.
2. For each config: trains ``--iters`` iterations (``tools/train.py`` in a subprocess, batch
   ``--batch-size``, whole tiles, no learning-rate schedule, no validation), then restores the
   held-out tiles (``tools/test.py --out``). A two-phase design is written ``phase1+phase2``:
   phase 1 trains half the budget, phase 2 the rest, starting (``stage_init``) from every stage
   phase 1 trained.
3. Scores every restored tile with the DACON score and its terms (SSIM, masked SSIM, hue
   histogram correlation) and PSNR, next to two references without learning: the damaged grey
   input copied to RGB, and OpenCV's Telea inpainting (``cv2.INPAINT_TELEA``, radius 3) of the
   grey input inside the ground-truth mask, copied to RGB.

Prints a table and, last, one JSON line ``{"rows": [...], ...}``.
"""
import argparse
import copy
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.config import Config

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import demo  # noqa: E402
import make_dataset  # noqa: E402

from restorekit.evaluation.dacon import dacon_scores  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: Every model-zoo design; ``a+b`` is a two-phase design (phase 2 starts from phase 1).
DEFAULT_CONFIGS = ('gan_unet', 'unet_two_stage', 'full_pipeline',
                   'context_encoder_unet+context_encoder_unet_phase2',
                   'mat_tiny_gan+mat_tiny_gan_phase2', 'restorekit_default')
STAGES = ('mask_detector', 'inpainter', 'colorizer')
METRICS = ('score', 'ssim', 'masked_ssim', 'hue_corr', 'psnr')


def psnr(gt: np.ndarray, pred: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (inf when equal)."""
    mse = np.mean((gt.astype(np.float64) - pred.astype(np.float64))**2)
    return float('inf') if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def score_images(data_root: str, rows: Sequence[Dict[str, str]],
                 predict) -> Dict[str, float]:
    """Mean DACON terms and PSNR of ``predict(row) -> uint8 RGB`` over the test ``rows``."""
    totals: Dict[str, List[float]] = {name: [] for name in METRICS}
    for row in rows:
        gt = demo.load(data_root, row['gt_image_path'])
        mask = demo.load(data_root, row['mask_path'])
        pred = predict(row)
        if pred.shape != gt.shape:
            raise ValueError(f'benchmark_quality: the prediction for {row["ID"]} is '
                             f'{pred.shape}, the original {gt.shape}.')
        for name, value in dacon_scores(gt, pred, mask).items():
            totals[name].append(value)
        totals['psnr'].append(psnr(gt, pred))
    return {name: float(np.mean(values)) for name, values in totals.items()}


def grey_reference(data_root: str):
    """The damaged grey input copied to RGB."""
    return lambda row: np.repeat(demo.load(data_root, row['input_image_path'])[..., None], 3, 2)


def telea_reference(data_root: str):
    """OpenCV's Telea inpainting of the grey input inside the ground-truth mask, as RGB."""
    import cv2

    def predict(row):
        grey = demo.load(data_root, row['input_image_path'])
        mask = (demo.load(data_root, row['mask_path']) > 0).astype(np.uint8) * 255
        filled = cv2.inpaint(grey, mask, 3, cv2.INPAINT_TELEA)
        return np.repeat(filled[..., None], 3, 2)

    return predict


def restored_images(restored_dir: str):
    """The PNGs ``tools/test.py --out`` wrote, by the input's file name."""
    return lambda row: demo.load(restored_dir, osp.basename(row['input_image_path']))


def _run(args: Sequence[str], log_path: str) -> None:
    """Run a tool in a subprocess; its output goes to ``log_path``; raise on failure."""
    with open(log_path, 'w') as log:
        proc = subprocess.run([sys.executable, *args], cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT)
    if proc.returncode:
        with open(log_path) as log:
            tail = log.read()[-3000:]
        raise RuntimeError(f'benchmark_quality: {" ".join(args[:2])} failed '
                           f'(exit {proc.returncode}); see {log_path}:\n{tail}')


def budget_config(name: str, data_root: str, work_dir: str, iters: int, batch_size: int,
                  seed: int, stage_init: Optional[Dict[str, str]] = None,
                  num_test: Optional[int] = None) -> str:
    """``configs/{name}.py`` set to train ``iters`` iterations on ``data_root``; its path."""
    path = osp.join(ROOT, 'configs', f'{name}.py')
    if not osp.isfile(path):
        raise FileNotFoundError(f'benchmark_quality: no config {path}; --configs takes names '
                                f'of configs/*.py without .py, e.g. unet_two_stage.')
    cfg = Config.fromfile(path)
    for key in ('train_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.update(num_workers=0, persistent_workers=False)
        loader.dataset.data_root = data_root
        loader.dataset.ann_file = 'train.csv' if key == 'train_dataloader' else 'test.csv'
    cfg.train_dataloader.batch_size = batch_size
    cfg.test_dataloader.dataset.indices = num_test  # None: every held-out tile
    cfg.test_dataloader.batch_size = 4
    for transform in cfg.train_dataloader.dataset.pipeline:
        if transform.get('type') == 'RandomCrop':
            transform.crop_size = make_dataset_size(data_root)
    # mmengine validates after the last iteration anyway; one tile keeps that cheap (and hooks
    # that expect a validation loader find one).
    cfg.val_dataloader = copy.deepcopy(cfg.test_dataloader)
    cfg.val_dataloader.dataset.indices = 1
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters)
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = max(1, iters // 5)
    cfg.default_hooks.checkpoint.update(interval=iters, max_keep_ckpts=1)
    cfg.randomness = dict(seed=seed)
    cfg.work_dir = work_dir
    if stage_init:
        cfg.model.stage_init = stage_init
    os.makedirs(work_dir, exist_ok=True)
    out = osp.join(work_dir, f'{name}_budget.py')
    cfg.dump(out)
    return out


def make_dataset_size(data_root: str) -> int:
    """Side of the dataset's square tiles (from its first training image)."""
    rows = demo.read_rows(osp.join(data_root, 'train.csv'))
    return int(demo.load(data_root, rows[0]['gt_image_path']).shape[0])


def trained_stages(checkpoint: str) -> List[str]:
    """The stages with weights in ``checkpoint`` (what a later phase can start from)."""
    from restorekit.engine.checkpoint import safe_torch_load
    state = safe_torch_load(checkpoint, map_location='cpu')['state_dict']
    return [stage for stage in STAGES if any(key.startswith(f'{stage}.') for key in state)]


def train_and_restore(entry: str, data_root: str, out_dir: str, iters: int, batch_size: int,
                      seed: int, num_test: Optional[int] = None) -> str:
    """Train the phases of ``entry`` and restore the test split; returns the restored folder."""
    phases = entry.split('+')
    budgets = [iters // len(phases)] * len(phases)
    budgets[-1] += iters - sum(budgets)
    stage_init, config = None, None
    for index, (name, budget) in enumerate(zip(phases, budgets)):
        work_dir = osp.join(out_dir, 'work', entry.replace('+', '__'), f'phase{index + 1}')
        config = budget_config(name, data_root, work_dir, max(budget, 1), batch_size, seed,
                               stage_init, num_test)
        _run(['tools/train.py', config], osp.join(work_dir, 'train.log'))
        checkpoint = osp.join(work_dir, f'iter_{max(budget, 1)}.pth')
        stage_init = {stage: checkpoint for stage in trained_stages(checkpoint)}
    restored = osp.join(out_dir, 'restored', entry.replace('+', '__'))
    _run(['tools/test.py', config, checkpoint, '--out', restored],
         osp.join(work_dir, 'test.log'))
    return restored


def format_table(rows: Sequence[Dict]) -> str:
    """A Markdown table of the rows' metrics."""
    lines = [
        '| method | DACON score | SSIM | masked SSIM | hue corr. | PSNR (dB) | train+test (s) |',
        '| --- | --- | --- | --- | --- | --- | --- |'
    ]
    for row in rows:
        seconds = '' if row.get('seconds') is None else f'{row["seconds"]:.0f}'
        lines.append(f'| {row["method"]} | {row["score"]:.4f} | {row["ssim"]:.4f} | '
                     f'{row["masked_ssim"]:.4f} | {row["hue_corr"]:.4f} | {row["psnr"]:.2f} | '
                     f'{seconds} |')
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', nargs='+', default=list(DEFAULT_CONFIGS),
                        help='config names (configs/NAME.py); a+b = two phases')
    parser.add_argument('--iters', type=int, default=200, help='training iterations per design')
    parser.add_argument('--size', type=int, default=64, help='tile size of the dataset')
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-test', type=int, default=None,
                        help='score only the first N held-out tiles (default: all)')
    parser.add_argument('--out-dir', default='benchmark_quality_out',
                        help='where data, checkpoints, logs and restored images go')
    parser.add_argument('--keep-going', action='store_true',
                        help='report a failing config and continue with the next')
    args = parser.parse_args(argv)
    if args.iters < 1 or args.size < 32 or args.batch_size < 1:
        parser.error(f'--iters >= 1, --size >= 32 and --batch-size >= 1 are needed, got '
                     f'{args.iters}, {args.size}, {args.batch_size}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    """Run the benchmark; returns the JSON-able result that is printed last."""
    args = parse_args(argv)
    out_dir = osp.abspath(args.out_dir)
    photos, data_root = osp.join(out_dir, 'photos'), osp.join(out_dir, 'data')
    demo.export_photos(photos)
    make_dataset.main([photos, data_root, '--size', str(args.size), '--seed', str(args.seed),
                       '--test-fraction', '0.15', '--overwrite', '--quiet'])
    test_rows = demo.read_rows(osp.join(data_root, 'test.csv'))[:args.num_test]

    rows = [
        dict(method='grey input (reference)', seconds=None,
             **score_images(data_root, test_rows, grey_reference(data_root))),
        dict(method='OpenCV Telea, grey (reference)', seconds=None,
             **score_images(data_root, test_rows, telea_reference(data_root))),
    ]
    failures = {}
    for entry in args.configs:
        start = time.perf_counter()
        try:
            restored = train_and_restore(entry, data_root, out_dir, args.iters, args.batch_size,
                                         args.seed, args.num_test)
        except RuntimeError as err:
            if not args.keep_going:
                raise
            failures[entry] = str(err).splitlines()[0]
            print(f'FAILED {entry}: {failures[entry]}', flush=True)
            continue
        metrics = score_images(data_root, test_rows, restored_images(restored))
        rows.append(dict(method=entry, seconds=time.perf_counter() - start, **metrics))
        print(f'{entry}: score {metrics["score"]:.4f} ({rows[-1]["seconds"]:.0f} s)', flush=True)

    print(f'\n{len(test_rows)} held-out {args.size}px tiles, {args.iters} iterations of batch '
          f'{args.batch_size} per design:')
    print(format_table(rows))
    result = dict(rows=rows, iters=args.iters, size=args.size, batch_size=args.batch_size,
                  num_test=len(test_rows), failures=failures)
    print(json.dumps(result))
    return result


if __name__ == '__main__':
    main()
