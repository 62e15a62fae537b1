"""Data pipeline throughput per worker: restorekit's damage synthesis vs the DACON community recipe.

One process, one thread (a DataLoader worker's budget). Two measurements, each side by side:

* **damage**: from the grey image in memory to (damaged grey, mask): restorekit's
  ``SynthesizeDamage(PolygonMask)`` vs the recipe's ``get_input_image`` mask and fill.
* **sample**: the whole training sample from a 512x512 colour PNG on disk: load, grey,
  damage, pack to uint8 tensors ``img`` (1, H, W), ``gt_img`` (3, H, W), ``gt_gray`` (1, H, W),
  ``mask`` (1, H, W). restorekit: ``LoadImageFromFile`` -> ``ToGray`` -> ``SynthesizeDamage`` ->
  ``PackRestorationInputs``; the recipe: PIL ``open().convert('RGB')``, ``convert('L')``, its
  damage, ``torch.from_numpy``.

The community recipe is the DACON 236420 baseline's damage (``get_input_image``): a box with both
sides >= 50 px drawn by rejection, ``polygenerator`` 0.2.0's ``random_polygon``,
``random_star_shaped_polygon`` or ``random_convex_polygon`` (equally likely) with 3-20 vertices,
scaled to the box and rounded, ``skimage.draw.polygon2mask``, kept when it fills more than
``(50 // 2) ** 2`` pixels, then filled with one random grey. ``polygenerator`` draws from Python's
global ``random``, so the recipe is seeded with ``random.seed`` (benchmark only).

The sides are interleaved in blocks (A B, B A, ...) and timed with the process CPU clock, so load
from other processes affects both alike; the robust figure is the median of the per-block ratios.

    python benchmarks/data_pipeline.py                  # 512x512, 12 blocks of 50 samples
    python benchmarks/data_pipeline.py --quick          # a smoke run of a few seconds

Prints a table and, last, one JSON line.
"""
import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, Tuple

import numpy as np

MIN_POLYGON_BBOX_SIZE = 50


def community_polygon_mask(height: int, width: int,
                           min_polygon_bbox_size: int = MIN_POLYGON_BBOX_SIZE
                           ) -> Tuple[np.ndarray, int]:
    """The DACON baseline's damage mask (uint8 (H, W), 1 = damaged) and its vertex count.

    Written as the competition's baseline ``get_input_image`` draws it; randomness from the global
    ``random`` module, as ``polygenerator`` uses it.
    """
    from polygenerator import (random_convex_polygon, random_polygon,
                               random_star_shaped_polygon)
    from skimage.draw import polygon2mask

    while True:
        bbox_x1 = random.randint(0, width - min_polygon_bbox_size)
        bbox_y1 = random.randint(0, height - min_polygon_bbox_size)
        bbox_x2 = random.randint(bbox_x1, width)
        bbox_y2 = random.randint(bbox_y1, height)
        if (bbox_x2 - bbox_x1) < min_polygon_bbox_size or \
                (bbox_y2 - bbox_y1) < min_polygon_bbox_size:
            continue
        mask_width = bbox_x2 - bbox_x1
        mask_height = bbox_y2 - bbox_y1
        num_points = random.randint(3, 20)
        polygon_func = random.choice(
            [random_polygon, random_star_shaped_polygon, random_convex_polygon])
        polygon = polygon_func(num_points=num_points)
        polygon = [(round(r * mask_height), round(c * mask_width)) for r, c in polygon]
        polygon_mask = polygon2mask((mask_height, mask_width), polygon)
        if np.sum(polygon_mask) > (min_polygon_bbox_size // 2) ** 2:
            break
    full_image_mask = np.zeros((height, width), dtype=np.uint8)
    full_image_mask[bbox_y1:bbox_y2, bbox_x1:bbox_x2] = polygon_mask
    return full_image_mask, num_points


def community_damage(image_gray) -> Tuple[np.ndarray, np.ndarray]:
    """The recipe's damage of a PIL grey image: (damaged grey uint8 (H, W), mask uint8 (H, W))."""
    width, height = image_gray.size
    full_image_mask, _ = community_polygon_mask(height, width)
    image_gray_array = np.array(image_gray)
    random_color = random.randint(0, 255)
    image_gray_array[full_image_mask == 1] = random_color
    return image_gray_array, full_image_mask


def community_sample(path: str) -> Dict[str, 'torch.Tensor']:
    """The recipe's whole sample: PIL load, ``convert('L')``, damage, uint8 tensors."""
    import torch
    from PIL import Image

    image = Image.open(path).convert('RGB')
    image_gray = image.convert('L')
    damaged, mask = community_damage(image_gray)
    return dict(img=torch.from_numpy(damaged)[None],
                gt_img=torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous(),
                gt_gray=torch.from_numpy(np.array(image_gray))[None],
                mask=torch.from_numpy(mask)[None])


def restorekit_steps(seed: int):
    """restorekit's transforms: (damage(gray) -> results, sample(path) -> packed)."""
    from restorekit.datasets.transforms.color import ToGray
    from restorekit.datasets.transforms.damage import SynthesizeDamage
    from restorekit.datasets.transforms.formatting import PackRestorationInputs
    from restorekit.datasets.transforms.loading import LoadImageFromFile

    rng = np.random.default_rng(seed)
    load, to_gray = LoadImageFromFile(key='gt'), ToGray()
    damage = SynthesizeDamage(dict(type='PolygonMask'))
    pack = PackRestorationInputs()

    def damage_only(gray: np.ndarray) -> dict:
        return damage(dict(gt_gray=gray, rng=rng))

    def sample(path: str) -> dict:
        return pack(damage(to_gray(load(dict(gt_path=path, rng=rng, sample_idx=0)))))

    return damage_only, sample


def interleaved(sides: Dict[str, Callable[[], object]], blocks: int, per_block: int,
                warmup: int) -> Dict[str, List[float]]:
    """Seconds (process CPU time) per call of each side, one figure per block, ABBA order."""
    names = list(sides)
    for name in names:
        for _ in range(warmup):
            sides[name]()
    times: Dict[str, List[float]] = {name: [] for name in names}
    for block in range(blocks):
        for name in (names if block % 2 == 0 else names[::-1]):
            call = sides[name]
            start = time.process_time()
            for _ in range(per_block):
                call()
            times[name].append((time.process_time() - start) / per_block)
    return times


def summarise(times: Dict[str, List[float]]) -> dict:
    """Images per second (median block), spread and the per-block ratio restorekit / recipe."""
    ours, theirs = times['restorekit'], times['community']
    ratios = [b / a for a, b in zip(ours, theirs)]  # speed-up: their time over ours
    return dict(
        restorekit_img_per_s=round(1 / statistics.median(ours), 1),
        community_img_per_s=round(1 / statistics.median(theirs), 1),
        restorekit_ms=round(1000 * statistics.median(ours), 3),
        community_ms=round(1000 * statistics.median(theirs), 3),
        speedup_median=round(statistics.median(ratios), 3),
        speedup_min_max=[round(min(ratios), 3), round(max(ratios), 3)])


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=int, default=512, help='side of the square PNG')
    parser.add_argument('--blocks', type=int, default=12, help='interleaved blocks per side')
    parser.add_argument('--per-block', type=int, default=50, help='samples per block')
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--png-decoder', choices=('auto', 'opencv'), default='auto',
                        help="restorekit's PNG decoder: auto = libspng (imagecodecs) when "
                        'installed, else OpenCV; opencv = force the fallback')
    parser.add_argument('--quick', action='store_true', help='smoke run: 4 blocks of 5 samples')
    args = parser.parse_args(argv)
    if args.quick:
        args.blocks, args.per_block, args.warmup = 4, 5, 1
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    import cv2
    import torch
    from PIL import Image
    from skimage import data
    import polygenerator

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    random.seed(args.seed)
    photo = np.array(Image.fromarray(data.astronaut()).resize((args.size, args.size)))
    gray = np.array(Image.fromarray(photo).convert('L'))
    gray_pil = Image.fromarray(gray)
    from restorekit.datasets.transforms import loading
    if args.png_decoder == 'opencv':
        loading._spng_decode = lambda: None
    png_decoder = 'libspng' if loading._spng_decode() is not None else 'opencv'
    damage_only, sample = restorekit_steps(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, 'gt.png')
        Image.fromarray(photo).save(path)
        results = dict(
            damage=summarise(interleaved(
                dict(restorekit=lambda: damage_only(gray),
                     community=lambda: community_damage(gray_pil)),
                args.blocks, args.per_block, args.warmup)),
            sample=summarise(interleaved(
                dict(restorekit=lambda: sample(path), community=lambda: community_sample(path)),
                args.blocks, args.per_block, args.warmup)))
    print(f'Data pipeline per worker (1 process, 1 thread), {args.size}x{args.size} PNG, '
          f'{args.blocks} interleaved blocks of {args.per_block} samples per side, restorekit '
          f'decodes PNG with {png_decoder}\n')
    print('| measurement | restorekit img/s | community img/s | restorekit ms | community ms '
          '| speed-up (median block) | min-max |')
    print('| --- | ---: | ---: | ---: | ---: | ---: | --- |')
    for name, row in results.items():
        print(f"| {name} | {row['restorekit_img_per_s']:.1f} | {row['community_img_per_s']:.1f} | "
              f"{row['restorekit_ms']:.2f} | {row['community_ms']:.2f} | "
              f"{row['speedup_median']:.2f}x | {row['speedup_min_max'][0]:.2f}-"
              f"{row['speedup_min_max'][1]:.2f} |")
    sys.stdout.flush()
    print(json.dumps(dict(size=args.size, blocks=args.blocks, per_block=args.per_block,
                          seed=args.seed, png_decoder=png_decoder, results=results,
                          numpy=np.__version__,
                          opencv=cv2.__version__, pillow=Image.__version__,
                          polygenerator=polygenerator.__version__,
                          python=platform.python_version())))


if __name__ == '__main__':
    main()
