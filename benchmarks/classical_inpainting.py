"""Classical inpainting priors: held-out DACON score of each, and time per image against hole size.

The evidence behind ``configs/restorekit_default.py``'s inpainter
(``PriorResidualInpainter(priors=('telea', 'navier_stokes', 'biharmonic'))``), no learning:

* **quality**: for every seed x tile size, ``tools/make_dataset.py`` builds the demo split from
  scikit-image's photographs (as ``make demo`` and ``tools/benchmark_quality.py`` do); each prior
  fills the damaged grey test tiles inside the ground-truth mask (``classical_inpaint``, the
  model's own code), and the grey result copied to RGB is scored with the DACON formula. Telea
  alone is ``tools/benchmark_quality.py``'s Telea-grey reference.
* **time**: CPU time of each method on a 512x512 grey photograph with a ``PolygonMask`` hole (the
  DACON damage) and with larger ``BrushStrokeMask`` holes, one thread, interleaved.

    python benchmarks/classical_inpainting.py              # seeds 0-2 x 64, 128, 256 px
    python benchmarks/classical_inpainting.py --quick      # a smoke run

Prints tables and, last, one JSON line.
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import sys
import tempfile
import time
from typing import Dict, List, Sequence, Tuple

import numpy as np

ROOT = osp.join(osp.dirname(osp.abspath(__file__)), '..')
PRIORS: Dict[str, Tuple[str, ...]] = {
    'telea (reference)': ('telea', ),
    'navier_stokes': ('navier_stokes', ),
    'biharmonic': ('biharmonic', ),
    'telea + biharmonic': ('telea', 'biharmonic'),
    'all three (default)': ('telea', 'navier_stokes', 'biharmonic'),
}


def split_scores(data_root: str, limit: int = None) -> Dict[str, List[float]]:
    """The DACON score of every prior on every test tile of a demo split."""
    import torch

    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import demo  # noqa: E402

    from restorekit.evaluation.dacon import dacon_scores
    from restorekit.models.inpainters.prior_residual import classical_inpaint
    from restorekit.utils.value_range import uint8_to_unit_range, unit_range_to_uint8

    scores: Dict[str, List[float]] = {name: [] for name in PRIORS}
    for row in demo.read_rows(osp.join(data_root, 'test.csv'))[:limit]:
        grey = demo.load(data_root, row['input_image_path'])
        mask = demo.load(data_root, row['mask_path']) > 0
        truth = demo.load(data_root, row['gt_image_path'])
        image = uint8_to_unit_range(torch.from_numpy(grey.copy())[None, None])
        mask_tensor = torch.from_numpy(mask).float()[None, None]
        for name, methods in PRIORS.items():
            filled = classical_inpaint(image, mask_tensor, methods, max_biharmonic_pixels=None)
            filled = unit_range_to_uint8(filled[0, 0]).numpy()
            scores[name].append(
                dacon_scores(truth, np.dstack([filled] * 3), mask.astype(np.uint8))['score'])
    return scores


def quality(seeds: Sequence[int], sizes: Sequence[int], limit: int) -> List[dict]:
    """One row per split: tiles, mean score per prior, tiles where each prior >= Telea."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import demo  # noqa: E402
    import make_dataset  # noqa: E402

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        photos = osp.join(folder, 'photos')
        demo.export_photos(photos)
        for seed in seeds:
            for size in sizes:
                data_root = osp.join(folder, f'data_{seed}_{size}')
                make_dataset.main([photos, data_root, '--size', str(size), '--seed', str(seed),
                                   '--test-fraction', '0.15', '--overwrite', '--quiet'])
                scores = split_scores(data_root, limit)
                telea = scores['telea (reference)']
                rows.append(dict(
                    seed=seed, size=size, tiles=len(telea),
                    mean={name: round(float(np.mean(values)), 4)
                          for name, values in scores.items()},
                    tiles_at_least_telea={
                        name: round(float(np.mean([a >= b for a, b in zip(values, telea)])), 2)
                        for name, values in scores.items()}))
    return rows


def timing(size: int, repeats: int, seed: int) -> List[dict]:
    """Median CPU seconds per method and hole kind on a ``size`` photograph."""
    import cv2
    import torch
    from PIL import Image
    from skimage import data

    from restorekit.models.inpainters.prior_residual import CLASSICAL_INPAINTERS
    from restorekit.registry import MASK_GENERATORS

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    grey = np.asarray(Image.fromarray(data.astronaut()).convert('L').resize((size, size)))
    rng = np.random.default_rng(seed)
    rows = []
    for kind in ('PolygonMask', 'BrushStrokeMask'):
        generator = MASK_GENERATORS.build(dict(type=kind))
        holes = [generator(size, size, rng) for _ in range(repeats)]
        seconds: Dict[str, List[float]] = {name: [] for name in CLASSICAL_INPAINTERS}
        for index, hole in enumerate(holes):
            names = list(CLASSICAL_INPAINTERS)
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.process_time()
                CLASSICAL_INPAINTERS[name](grey, hole, 3)
                seconds[name].append(time.process_time() - start)
        rows.append(dict(holes=kind, hole_fraction=round(float(np.mean([h.mean() for h in holes])),
                                                         3),
                         seconds={name: round(statistics.median(values), 4)
                                  for name, values in seconds.items()}))
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--sizes', type=int, nargs='+', default=[64, 128, 256])
    parser.add_argument('--max-tiles', type=int, default=None, help='test tiles per split')
    parser.add_argument('--time-size', type=int, default=512, help='side of the timed photograph')
    parser.add_argument('--repeats', type=int, default=6, help='timed holes per kind')
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: seed 0, 64 px, 4 tiles; 128 px timing, 2 holes')
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.sizes, args.max_tiles = [0], [64], 4
        args.time_size, args.repeats = 128, 2
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    quality_rows = quality(args.seeds, args.sizes, args.max_tiles)
    timing_rows = timing(args.time_size, args.repeats, seed=0)
    print('DACON score of the grey fill copied to RGB, held-out tiles of the demo splits '
          '(mean; in brackets the fraction of tiles >= Telea)\n')
    print('| seed, tile | tiles | ' + ' | '.join(PRIORS) + ' |')
    print('| --- | ---: |' + ' ---: |' * len(PRIORS))
    for row in quality_rows:
        cells = [f"{row['mean'][name]:.4f} ({row['tiles_at_least_telea'][name]:.2f})"
                 for name in PRIORS]
        print(f"| {row['seed']}, {row['size']} | {row['tiles']} | " + ' | '.join(cells) + ' |')
    print(f'\nCPU seconds per {args.time_size}x{args.time_size} image (median of '
          f'{args.repeats} holes), 1 thread\n')
    names = list(timing_rows[0]['seconds'])
    print('| holes | hole fraction | ' + ' | '.join(names) + ' |')
    print('| --- | ---: |' + ' ---: |' * len(names))
    for row in timing_rows:
        print(f"| {row['holes']} | {row['hole_fraction']:.3f} | "
              + ' | '.join(f"{row['seconds'][name]:.4f}" for name in names) + ' |')
    sys.stdout.flush()
    print(json.dumps(dict(quality=quality_rows, timing=timing_rows, time_size=args.time_size,
                          python=platform.python_version())))


if __name__ == '__main__':
    main()
