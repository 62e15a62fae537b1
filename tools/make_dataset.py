"""Make a DACON-layout dataset from any folder of colour photos.

``python tools/make_dataset.py SRC_DIR OUT_DIR [--size 512] [--mode tile|resize] ...``

Every photo under ``SRC_DIR`` (recursively, sorted) is loaded by ``ImageFolderDataset`` and cut
into ``--size`` squares: ``tile`` takes the non-overlapping tiles of a centred grid (photos smaller
than ``--size`` on a side are skipped and counted), ``resize`` resizes the shorter side to
``--size`` (up or down) and takes the centre square. Each square is damaged by the registered
``ToGray`` and ``SynthesizeDamage`` transforms with the chosen mask generator. A random
``--test-fraction`` of the photos (whole photos, so no photo has tiles on both sides) is held out.

Output (see ``docs/data.md``)::

    OUT_DIR/train.csv    ID,input_image_path,gt_image_path,mask_path
    OUT_DIR/test.csv     the same columns, for the held-out photos (only if there are any)
    OUT_DIR/sources.csv  ID,split,source,tile_row,tile_col: where each square came from
    OUT_DIR/train_input/ train_gt/ test_input/ test_gt/ masks/   PNG files, masks 255 = damaged

The same arguments give byte-identical files. ``SRC_DIR`` is only read.
"""
import argparse
import csv
import json
import os
import shutil
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

#: What this tool writes into OUT_DIR (and what --overwrite removes first).
OUTPUT_ENTRIES = ('train_input', 'train_gt', 'test_input', 'test_gt', 'masks', 'train.csv',
                  'test.csv', 'sources.csv')
CSV_COLUMNS = ('ID', 'input_image_path', 'gt_image_path', 'mask_path')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Make a DACON-layout dataset (damaged grey inputs, colour originals, masks) '
        'from a folder of colour photos.')
    parser.add_argument('src_dir', help='folder of photos (searched recursively; only read)')
    parser.add_argument('out_dir', help='output folder (created; must be empty unless --overwrite)')
    parser.add_argument('--size', type=int, default=512, help='side of the square samples')
    parser.add_argument(
        '--mode',
        choices=('tile', 'resize'),
        default='tile',
        help='tile: non-overlapping size x size tiles (smaller photos skipped); resize: shorter '
        'side resized to size, centre square')
    parser.add_argument(
        '--mask-generator',
        default='PolygonMask',
        help='type of a restorekit MASK_GENERATORS entry (default PolygonMask)')
    parser.add_argument(
        '--mask-cfg',
        default='{}',
        help='JSON object of keyword arguments for the mask generator, e.g. '
        '\'{"min_box_size": 20}\'')
    parser.add_argument(
        '--fill',
        default='random_gray',
        help='grey value of the damage: random_gray (per sample) or an int 0-255')
    parser.add_argument('--seed', type=int, default=0, help='seed of the split and the damage')
    parser.add_argument(
        '--test-fraction',
        '--val-fraction',
        dest='test_fraction',
        type=float,
        default=0.1,
        help='fraction of the photos held out as test_input/')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace the outputs of an earlier run in a non-empty OUT_DIR')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def _check_args(args: argparse.Namespace) -> None:
    if args.size <= 0:
        raise ValueError(f'--size must be a positive int, got {args.size}')
    if not 0.0 <= args.test_fraction < 1.0:
        raise ValueError(f'--test-fraction must be in [0, 1), got {args.test_fraction}')
    if args.seed < 0:
        raise ValueError(f'--seed must be a non-negative int, got {args.seed}')
    if args.fill != 'random_gray':
        try:
            args.fill = int(args.fill)
        except ValueError:
            raise ValueError(f'--fill must be random_gray or an int 0-255, got {args.fill!r}') \
                from None
    try:
        args.mask_cfg = json.loads(args.mask_cfg)
    except json.JSONDecodeError as error:
        raise ValueError(f'--mask-cfg is not valid JSON ({error}): {args.mask_cfg!r}') from None
    if not isinstance(args.mask_cfg, dict):
        raise ValueError(f'--mask-cfg must be a JSON object, got {args.mask_cfg!r}')


def prepare_out_dir(src_dir: str, out_dir: str, overwrite: bool) -> None:
    """Refuse an ``out_dir`` that overlaps ``src_dir`` or holds files (unless ``overwrite``)."""
    if not os.path.isdir(src_dir):
        raise FileNotFoundError(f'SRC_DIR not found: {src_dir}')
    src, out = os.path.realpath(src_dir), os.path.realpath(out_dir)
    if out == src or out.startswith(src + os.sep):
        raise ValueError(f'OUT_DIR {out_dir} is SRC_DIR {src_dir} or inside it; SRC_DIR is never '
                         'written to (and a later run would take the outputs for photos)')
    if src.startswith(out + os.sep):
        raise ValueError(f'SRC_DIR {src_dir} is inside OUT_DIR {out_dir}; choose an OUT_DIR '
                         'outside the photos')
    if os.path.isdir(out) and os.listdir(out):
        if not overwrite:
            raise FileExistsError(f'OUT_DIR {out_dir} is not empty; pass --overwrite to replace '
                                  f'the outputs of an earlier run ({", ".join(OUTPUT_ENTRIES)})')
        for entry in OUTPUT_ENTRIES:
            path = os.path.join(out, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.remove(path)
    os.makedirs(out, exist_ok=True)


def held_out_sources(num_sources: int, fraction: float, seed: int) -> set:
    """Indices of the photos held out for testing: a seeded random ``fraction`` of them.

    At least one photo is held out when ``fraction > 0`` and there are two or more, and at
    least one is always kept for training.
    """
    count = int(round(fraction * num_sources))
    if fraction > 0 and num_sources >= 2:
        count = min(max(count, 1), num_sources - 1)
    else:
        count = 0
    # A stream apart from the samples' SeedSequence((seed, idx)) streams.
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, )))
    return set(rng.permutation(num_sources)[:count].tolist())


def tile_origins(height: int, width: int, size: int) -> List[tuple]:
    """Top-left corners of the non-overlapping ``size`` tiles of a grid centred in the image."""
    rows, cols = height // size, width // size
    top0, left0 = (height - rows * size) // 2, (width - cols * size) // 2
    return [(row, col, top0 + row * size, left0 + col * size) for row in range(rows)
            for col in range(cols)]


def _save_png(array: np.ndarray, path: str) -> None:
    from PIL import Image

    Image.fromarray(array).save(path, format='PNG', compress_level=6)


def _write_csv(path: str, columns: Sequence[str], rows: List[Sequence]) -> None:
    with open(path, 'w', newline='', encoding='utf-8') as file:
        writer = csv.writer(file, lineterminator='\n')
        writer.writerow(columns)
        writer.writerows(rows)


class _SplitWriter:
    """Writes one split's PNGs and collects its CSV rows."""

    def __init__(self, out_dir: str, split: str) -> None:
        self.out_dir, self.split = out_dir, split
        self.prefix = split.upper()
        self.rows: List[tuple] = []
        self.sources: List[tuple] = []

    def write(self, sample: Dict, source: str, tile_row: int, tile_col: int) -> None:
        name = f'{self.prefix}_{len(self.rows):05d}.png'
        relative = {
            'input': f'{self.split}_input/{name}',
            'gt': f'{self.split}_gt/{name}',
            'mask': f'masks/{name}'
        }
        for folder in ('input', 'gt', 'mask'):
            os.makedirs(
                os.path.dirname(os.path.join(self.out_dir, relative[folder])), exist_ok=True)
        _save_png(sample['img'], os.path.join(self.out_dir, relative['input']))
        _save_png(sample['gt_img'], os.path.join(self.out_dir, relative['gt']))
        _save_png(sample['mask'].astype(np.uint8) * 255, os.path.join(self.out_dir,
                                                                      relative['mask']))
        sample_id = name[:-len('.png')]
        self.rows.append(
            (sample_id, './' + relative['input'], './' + relative['gt'], './' + relative['mask']))
        self.sources.append((sample_id, self.split, source, tile_row, tile_col))


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, int]:
    """Run the tool; return counts (train, test, photos used, photos skipped)."""
    from mmengine.dataset import Compose
    from mmengine.utils import ProgressBar

    from restorekit.datasets.image_folder_dataset import ImageFolderDataset
    from restorekit.registry import TRANSFORMS

    args = parse_args(argv)
    _check_args(args)
    prepare_out_dir(args.src_dir, args.out_dir, args.overwrite)

    load = [dict(type='LoadImageFromFile', key='gt')]
    if args.mode == 'resize':
        load += [dict(type='Resize', scale=args.size), dict(type='CenterCrop', crop_size=args.size)]
    photos = ImageFolderDataset(
        data_root=args.src_dir,
        pipeline=load,
        seed=args.seed,
        deterministic=True,
        test_mode=True,
        serialize_data=False)
    damage = Compose([
        TRANSFORMS.build(dict(type='ToGray')),
        TRANSFORMS.build(
            dict(
                type='SynthesizeDamage',
                fill=args.fill,
                mask_generator=dict(type=args.mask_generator, **args.mask_cfg))),
    ])
    test_sources = held_out_sources(len(photos), args.test_fraction, args.seed)
    writers = {split: _SplitWriter(args.out_dir, split) for split in ('train', 'test')}
    skipped = 0
    progress = None if args.quiet else ProgressBar(len(photos), file=sys.stderr)
    for idx in range(len(photos)):
        photo = photos[idx]  # gt_img, gt_path and rng = SeedSequence((seed, idx))
        image = photo['gt_img']
        source = os.path.relpath(photo['gt_path'], args.src_dir).replace(os.sep, '/')
        if args.mode == 'resize':
            origins = [(0, 0, 0, 0)]
        else:
            origins = tile_origins(image.shape[0], image.shape[1], args.size)
            if not origins:
                skipped += 1
        writer = writers['test' if idx in test_sources else 'train']
        for tile_row, tile_col, top, left in origins:
            tile = np.ascontiguousarray(image[top:top + args.size, left:left + args.size])
            # Tiles of a photo draw their damage one after another from the photo's generator.
            sample = damage(dict(gt_img=tile, rng=photo['rng'], gt_path=photo['gt_path']))
            writer.write(sample, source, tile_row, tile_col)
        if progress is not None:
            progress.update()
    if progress is not None:
        sys.stderr.write('\n')

    train, test = writers['train'], writers['test']
    if not train.rows:
        raise ValueError(f'no training samples: all {len(photos)} photos in {args.src_dir} are '
                         f'held out or smaller than --size {args.size} (try --mode resize)')
    _write_csv(os.path.join(args.out_dir, 'train.csv'), CSV_COLUMNS, train.rows)
    if test.rows:
        _write_csv(os.path.join(args.out_dir, 'test.csv'), CSV_COLUMNS, test.rows)
    _write_csv(
        os.path.join(args.out_dir, 'sources.csv'),
        ('ID', 'split', 'source', 'tile_row', 'tile_col'), train.sources + test.sources)
    summary = dict(
        train=len(train.rows), test=len(test.rows), photos=len(photos) - skipped, skipped=skipped)
    note = f'; skipped {skipped} photos smaller than {args.size}' if skipped else ''
    print(f'make_dataset: wrote {summary["train"]} training and {summary["test"]} test samples '
          f'({args.size}x{args.size}, {args.mode}) from {summary["photos"]} of {len(photos)} '
          f'photos in {args.src_dir} to {args.out_dir}{note}')
    return summary


def cli() -> int:
    """Command-line entry: run :func:`main`, print errors in one line."""
    try:
        main()
    except (ValueError, FileNotFoundError, FileExistsError, KeyError) as error:
        print(f'make_dataset: error: {error}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(cli())
