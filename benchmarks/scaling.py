"""Restore time and peak memory against image size: detect + inpaint + colorize, batch 1.

The model is ``configs/unet_two_stage.py``'s (two ResNet-34 U-Nets, random weights from
``--seed``) with the rule-based ``ConstantFillDetector`` as its mask detector, so the restore is
the whole pipeline: the data preprocessor, detection, inpainting, colorization and the way back to
uint8 (``Restorer.predict``), in eval mode under ``torch.inference_mode``. The input is
scikit-image's astronaut resized to the size, in grey, with one ``PolygonMask`` polygon filled
with a constant grey (DACON damage).

Each size runs in a fresh subprocess, so each peak resident memory (``VmHWM`` of
``/proc/self/status``) is its own; the child also reports the peak before the restore (model and
input built), so the restore's own share is the difference. A size whose predicted time (the last
time times the pixel ratio) would overrun ``--budget`` seconds is skipped, and printed so.

    python benchmarks/scaling.py                       # 256, 512, 1024, 2048, 4096
    python benchmarks/scaling.py --quick                # size 64, resnet18: a smoke run

Prints a table and, last, one JSON line.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'configs',
                      'unet_two_stage.py')


def peak_rss_mib() -> Optional[float]:
    """This process's peak resident memory (``VmHWM``) in MiB, or None where /proc is absent."""
    try:
        with open('/proc/self/status') as status:
            for line in status:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def damaged_input(size: int, seed: int):
    """uint8 tensor (1, size, size): the astronaut in grey with one constant-grey polygon."""
    import numpy as np
    import torch
    from PIL import Image
    from skimage import data

    from restorekit.masks.polygon import PolygonMask

    grey = np.array(Image.fromarray(data.astronaut()).resize((size, size)).convert('L'))
    rng = np.random.default_rng(seed)
    mask = PolygonMask(min_box_size=max(4, size // 10))(size, size, rng)
    grey[mask] = int(rng.integers(0, 256))
    return torch.from_numpy(grey)[None]


def build_model(config: str, seed: int, encoder: Optional[str]):
    """The config's Restorer with a ConstantFillDetector, random weights, eval mode."""
    import torch
    from mmengine.config import Config

    from restorekit.registry import MODELS

    cfg = Config.fromfile(config)
    model_cfg = cfg.model
    model_cfg.mask_detector = dict(type='ConstantFillDetector')
    if encoder:
        model_cfg.inpainter.encoder_name = encoder
        model_cfg.colorizer.encoder_name = encoder
    torch.manual_seed(seed)
    return MODELS.build(model_cfg).eval()


def restore_once(model, image) -> float:
    """Seconds of one full restore of a uint8 (1, H, W) image."""
    import torch

    start = time.perf_counter()
    with torch.inference_mode():
        data = model.data_preprocessor(dict(inputs=[image]), False)
        samples = model(**data, mode='predict')
    elapsed = time.perf_counter() - start
    if samples[0].pred_img.shape[-2:] != image.shape[-2:]:
        raise RuntimeError(f'restored image is {tuple(samples[0].pred_img.shape)}, expected the '
                           f'input size {tuple(image.shape[-2:])}')
    return elapsed


def child(args: argparse.Namespace) -> None:
    """Measure one size in this (fresh) process; print one JSON line."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    model = build_model(args.config, args.seed, args.encoder)
    restore_once(model, damaged_input(64, args.seed))  # warm the kernels on a tiny image
    image = damaged_input(args.child, args.seed)
    before = peak_rss_mib()
    times = [restore_once(model, image) for _ in range(args.repeats)]
    print(json.dumps(dict(size=args.child, seconds=times, peak_rss_mib=peak_rss_mib(),
                          peak_rss_before_mib=before, threads=torch.get_num_threads())))


def run_size(args: argparse.Namespace, size: int, timeout: float) -> Dict:
    """Run one size in a subprocess and parse its JSON line."""
    command = [sys.executable, os.path.abspath(__file__), '--child', str(size), '--config',
               args.config, '--seed', str(args.seed), '--repeats', str(args.repeats)]
    if args.threads:
        command += ['--threads', str(args.threads)]
    if args.encoder:
        command += ['--encoder', args.encoder]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f'size {size} failed (exit {done.returncode}):\n{done.stderr[-2000:]}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[256, 512, 1024, 2048, 4096])
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--repeats', type=int, default=1, help='timed restores per size')
    parser.add_argument('--threads', type=int, default=None, help='torch.set_num_threads')
    parser.add_argument('--encoder', default=None, help="override both stages' encoder_name")
    parser.add_argument('--budget', type=float, default=600.0,
                        help='seconds for all sizes; a size predicted to overrun is skipped')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: size 64 only, resnet18')
    parser.add_argument('--child', type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = [64]
        args.encoder = args.encoder or 'resnet18'
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child is not None:
        child(args)
        return
    import torch

    start = time.perf_counter()
    rows: List[Dict] = []
    skipped: List[Dict] = []
    last = None
    for size in sorted(args.sizes):
        left = args.budget - (time.perf_counter() - start)
        predicted = None if last is None else \
            statistics.median(last['seconds']) * (size / last['size']) ** 2 * (args.repeats + 1)
        if predicted is not None and predicted > left:
            skipped.append(dict(size=size, reason=f'predicted {predicted:.0f} s > {left:.0f} s '
                                f'left of --budget {args.budget:.0f}'))
            continue
        try:
            last = run_size(args, size, timeout=max(left, 1.0))
        except subprocess.TimeoutExpired:
            skipped.append(dict(size=size, reason=f'ran past the {left:.0f} s left of --budget'))
            continue
        last['median_s'] = round(statistics.median(last['seconds']), 3)
        rows.append(last)
    print(f'Full restore (ConstantFillDetector + {os.path.basename(args.config)}, '
          f'{args.encoder or "config encoders"}, random weights), batch 1, eval, '
          f'inference_mode; one subprocess per size\n')
    print('| size | seconds (median) | megapixels/s | peak RSS MiB | before restore MiB |')
    print('| ---: | ---: | ---: | ---: | ---: |')
    for row in rows:
        print(f"| {row['size']} | {row['median_s']:.3f} | "
              f"{row['size'] ** 2 / 1e6 / row['median_s']:.2f} | {row['peak_rss_mib']:.0f} | "
              f"{row['peak_rss_before_mib']:.0f} |")
    for row in skipped:
        print(f"skipped {row['size']}: {row['reason']}")
    sys.stdout.flush()
    print(json.dumps(dict(
        config=os.path.relpath(args.config), encoder=args.encoder, repeats=args.repeats,
        results=[{key: row[key] for key in ('size', 'median_s', 'seconds', 'peak_rss_mib',
                                            'peak_rss_before_mib', 'threads')} for row in rows],
        skipped=skipped, torch=torch.__version__, python=platform.python_version())))


if __name__ == '__main__':
    main()
