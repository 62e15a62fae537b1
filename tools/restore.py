"""Restore damaged black-and-white photographs with a trained model.

    python tools/restore.py CONFIG CHECKPOINT INPUT OUTPUT [options]

INPUT is an image file, a folder (the images directly in it, sorted by name), a DACON ``test.csv``
(its ``input_image_path`` column, relative to the CSV's folder) or a ``.zip`` of images. OUTPUT is
a folder that gets one PNG per input, named like the input (``<stem>.png``). CHECKPOINT may be the
word ``none``: random weights, for testing the tool only. See ``docs/inference.md``.

Exit status: 0 when every image was restored, 1 when some failed (each is listed with its reason
and the others are still written), 2 for usage errors (nothing is written).
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
NO_CHECKPOINT = 'none'
MASKS_DIR, COMPARE_DIR = 'masks', 'compare'
#: Gap in pixels between the panels of a --compare grid.
COMPARE_GAP = 4


class UsageError(Exception):
    """A wrong command line: reported and exit status 2, nothing written."""


@dataclass
class InputItem:
    """One image to restore.

    Attributes:
        name: The output's stem (``<name>.png``), the input's stem.
        path: The file to read (for a zip, the member extracted to a temporary folder).
        label: How messages name the input (its path, or ``archive.zip:member``).
        filename: The input's own file name (a ``--mask`` folder holds masks of that name).
    """
    name: str
    path: str
    label: str
    filename: str = ''


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(
        description='Restore damaged black-and-white photographs with a restorekit model.',
        epilog='Exit status: 0 all restored, 1 some failed, 2 usage error.')
    parser.add_argument('config', help='config file (the model of this config is built)')
    parser.add_argument(
        'checkpoint',
        help=f'checkpoint file, or "{NO_CHECKPOINT}" for random weights (testing only)')
    parser.add_argument(
        'input', help='an image, a folder of images, a DACON test.csv or a .zip of images')
    parser.add_argument('output', help='folder for the restored PNGs (created if needed)')
    parser.add_argument(
        '--mask',
        help='damage mask file (used for every input) or folder of masks named like '
        'the inputs (same name, <stem>.png or <stem>_mask.png); nonzero = damaged. Default: the '
        "model's detector, or the constant-fill rule")
    parser.add_argument(
        '--device', default='auto', help='cpu, cuda, cuda:1... (default: cuda if available)')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=1,
        help='images of equal size restored together (default 1)')
    parser.add_argument(
        '--tile',
        type=int,
        default=None,
        help='restore images larger than N px in overlapping N x N tiles')
    parser.add_argument(
        '--tile-overlap',
        type=int,
        default=32,
        help='least overlap of neighbouring tiles in px (default 32)')
    parser.add_argument(
        '--channels-last',
        action='store_true',
        help='run the networks in the channels-last (NHWC) memory format')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='torch.compile the networks (the first image of each size compiles; needs a C++ '
        'compiler on the CPU)')
    parser.add_argument(
        '--bf16',
        action='store_true',
        help='run the networks under bfloat16 autocast (faster on CPUs with bf16 support and on '
        'GPUs; outputs differ by a few grey levels)')
    parser.add_argument(
        '--tta',
        help='test-time augmentation: average the inpainting over flips/rotations, a preset '
        '(six, d4, flip), names (identity,hflip,vflip,rot90,rot180,rot270,transpose,'
        'antitranspose) and optionally @stages (six@inpainter,colorizer); see docs/inference.md')
    parser.add_argument(
        '--save-mask',
        action='store_true',
        help=f'also write the damage mask used, OUTPUT/{MASKS_DIR}/<stem>_mask.png')
    parser.add_argument(
        '--compare',
        action='store_true',
        help=f'also write OUTPUT/{COMPARE_DIR}/<stem>_compare.png: damaged | mask | restored')
    parser.add_argument(
        '--zip',
        dest='zip_path',
        metavar='PATH',
        help='also write a submission archive: the restored PNGs, flat')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. model.colorizer.encoder_depth=4')
    parser.add_argument('--quiet', action='store_true', help='no progress output')
    return parser.parse_args(argv)


# --- inputs ---------------------------------------------------------------------------------------
def _is_image_file(name: str) -> bool:
    from restorekit.apis.image_io import IMAGE_EXTENSIONS
    return osp.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _stem(path: str) -> str:
    return osp.splitext(osp.basename(path))[0]


def folder_inputs(folder: str) -> List[InputItem]:
    """The image files directly in ``folder``, sorted by name (sub-folders are not searched)."""
    names = sorted(
        name for name in os.listdir(folder)
        if _is_image_file(name) and osp.isfile(osp.join(folder, name)))
    return [
        InputItem(_stem(name), osp.join(folder, name), osp.join(folder, name), name)
        for name in names
    ]


def csv_inputs(csv_path: str) -> List[InputItem]:
    """The ``input_image_path`` of every row of a DACON CSV, relative to the CSV's folder."""
    from restorekit.datasets.dacon_dataset import INPUT_COLUMN, read_csv_rows

    try:
        header, rows = read_csv_rows(csv_path)
    except (ValueError, UnicodeDecodeError) as error:
        raise UsageError(f'cannot read {csv_path}: {error}') from None
    if INPUT_COLUMN not in header:
        raise UsageError(f'{csv_path} has no {INPUT_COLUMN!r} column (columns: {header}); a '
                         f'DACON test.csv has ID,{INPUT_COLUMN}')
    root = osp.dirname(osp.abspath(csv_path))
    items = []
    for line, row in rows:
        value = (row.get(INPUT_COLUMN) or '').strip()
        label = f'{csv_path} line {line}'
        if not value:
            items.append(InputItem(f'<line {line}>', '', f'{label}: empty {INPUT_COLUMN}'))
            continue
        path = value if osp.isabs(value) else osp.normpath(osp.join(root, value))
        items.append(InputItem(_stem(value), path, path, osp.basename(value)))
    return items


def zip_inputs(zip_path: str, extract_dir: str) -> List[InputItem]:
    """The image members of a zip (any folder inside it), extracted under ``extract_dir``.

    Members are written under numbered names, never under their own paths, so no member can
    write outside ``extract_dir``. Folders, macOS metadata and non-image files are skipped.
    """
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise UsageError(f'cannot open {zip_path}: {error}') from None
    items = []
    with archive:
        members = sorted((info for info in archive.infolist() if not info.is_dir()),
                         key=lambda info: info.filename)
        for index, info in enumerate(members):
            base = osp.basename(info.filename)
            if (info.filename.startswith('__MACOSX/') or base.startswith('.')
                    or not _is_image_file(base)):
                continue
            target = osp.join(extract_dir, f'{index:06d}{osp.splitext(base)[1].lower()}')
            label = f'{zip_path}:{info.filename}'
            try:
                with archive.open(info) as source, open(target, 'wb') as destination:
                    destination.write(source.read())
            except (zipfile.BadZipFile, OSError, EOFError) as error:  # a corrupt member
                target = ''
                label = f'{label} (cannot extract: {error})'
            items.append(InputItem(_stem(base), target, label, base))
    return items


def collect_inputs(input_path: str, extract_dir: str) -> List[InputItem]:
    """The images of INPUT: a folder, a CSV, a zip or a single image file."""
    if osp.isdir(input_path):
        return folder_inputs(input_path)
    if not osp.isfile(input_path):
        raise UsageError(f'INPUT {input_path} does not exist')
    extension = osp.splitext(input_path)[1].lower()
    if extension == '.csv':
        return csv_inputs(input_path)
    if extension == '.zip':
        return zip_inputs(input_path, extract_dir)
    return [InputItem(_stem(input_path), input_path, input_path, osp.basename(input_path))]


def mask_for(mask_option: Optional[str], item: InputItem) -> Optional[str]:
    """The mask file of an input: ``--mask`` itself, or its file named like the input.

    Raises:
        FileNotFoundError: ``--mask`` is a folder without a mask for this input.
    """
    if mask_option is None:
        return None
    if osp.isfile(mask_option):
        return mask_option
    candidates = list(dict.fromkeys([item.filename, f'{item.name}.png', f'{item.name}_mask.png']))
    for name in candidates:
        path = osp.join(mask_option, name)
        if osp.isfile(path):
            return path
    raise FileNotFoundError(f'no mask in {mask_option} (looked for {", ".join(candidates)})')


# --- outputs --------------------------------------------------------------------------------------
def _real(path: str) -> str:
    return osp.normcase(osp.realpath(path))


def check_outputs(args: argparse.Namespace, items: Sequence[InputItem]) -> None:
    """Refuse an OUTPUT that is INPUT or a file, and any output path that is an input file."""
    if osp.exists(args.output) and not osp.isdir(args.output):
        raise UsageError(f'OUTPUT {args.output} exists and is not a folder')
    if _real(args.output) == _real(args.input):
        raise UsageError(f'OUTPUT {args.output} is INPUT; write the restored images to another '
                         'folder (inputs are never overwritten)')
    inputs = {_real(item.path) for item in items if item.path}
    inputs.add(_real(args.input))
    if args.mask:
        inputs.add(_real(args.mask))
        if osp.isdir(args.mask):
            inputs.update(_real(osp.join(args.mask, name)) for name in os.listdir(args.mask))
    outputs = []
    for item in items:
        outputs.append(osp.join(args.output, f'{item.name}.png'))
        if args.save_mask:
            outputs.append(osp.join(args.output, MASKS_DIR, f'{item.name}_mask.png'))
        if args.compare:
            outputs.append(osp.join(args.output, COMPARE_DIR, f'{item.name}_compare.png'))
    if args.zip_path:
        outputs.append(args.zip_path)
    clashes = [path for path in outputs if _real(path) in inputs]
    if clashes:
        raise UsageError(f'refusing to overwrite input files: {clashes[:5]}'
                         f'{" ..." if len(clashes) > 5 else ""}; choose another OUTPUT (or --zip)')


def comparison_grid(gray: np.ndarray, mask: np.ndarray, output: np.ndarray) -> np.ndarray:
    """uint8 (H, 3W + 2 gaps, 3): the damaged grey | the mask (white = damaged) | the output."""
    height = gray.shape[0]
    gap = np.full((height, COMPARE_GAP, 3), 255, np.uint8)
    damaged = np.repeat(gray[..., None], 3, axis=2)
    mask_rgb = np.repeat((mask.astype(np.uint8) * 255)[..., None], 3, axis=2)
    return np.concatenate([damaged, gap, mask_rgb, gap, output], axis=1)


def write_submission_zip(zip_path: str, files: Sequence[Tuple[str, str]]) -> None:
    """Write ``(archive name, file)`` pairs, flat and uncompressed PNGs, atomically."""
    from restorekit.apis.image_io import atomic_write

    folder = osp.dirname(osp.abspath(zip_path))
    os.makedirs(folder, exist_ok=True)
    with atomic_write(zip_path) as file, zipfile.ZipFile(file, 'w', zipfile.ZIP_STORED) as archive:
        for name, path in files:
            archive.write(path, arcname=name)


class Progress:
    """Progress of the run: a bar on a terminal, a line every 10% otherwise, nothing if quiet.

    The bar is tqdm's when installed, else mmengine's ``ProgressBar``. A log file (no terminal)
    gets at most about eleven lines instead of a redrawn bar.
    """

    def __init__(self, total: int, quiet: bool = False, stream=None) -> None:
        self.total, self.done = total, 0
        self.stream = sys.stderr if stream is None else stream
        self.bar = None
        self.mode = 'off' if quiet or total == 0 else 'lines'
        if self.mode == 'lines' and getattr(self.stream, 'isatty', lambda: False)():
            try:
                from tqdm import tqdm
                self.bar, self.mode = tqdm(total=total, file=self.stream, unit='img'), 'tqdm'
            except ImportError:
                from mmengine.utils import ProgressBar
                self.bar, self.mode = ProgressBar(total, file=self.stream), 'mmengine'

    def update(self, count: int = 1) -> None:
        before, self.done = self.done, self.done + count
        if self.mode == 'tqdm':
            self.bar.update(count)
        elif self.mode == 'mmengine':
            for _ in range(count):
                self.bar.update()
        elif self.mode == 'lines' and (self.done * 10 // self.total > before * 10 // self.total
                                       or self.done == self.total):
            print(f'processed {self.done}/{self.total}', file=self.stream, flush=True)

    def close(self) -> None:
        if self.mode == 'tqdm':
            self.bar.close()
        elif self.mode == 'mmengine':
            self.stream.write('\n')


# --- the run --------------------------------------------------------------------------------------
def _setup(args: argparse.Namespace):
    """Check the options and build the inferencer; raise UsageError on any problem."""
    import torch

    from restorekit.apis.inferencer import RestorationInferencer

    if args.batch_size < 1:
        raise UsageError(f'--batch-size must be >= 1, got {args.batch_size}')
    if args.tile is not None and not 0 <= args.tile_overlap < args.tile:
        raise UsageError(f'--tile-overlap must be in [0, --tile) = [0, {args.tile}), got '
                         f'{args.tile_overlap}')
    if args.tile is not None and args.tile < 1:
        raise UsageError(f'--tile must be >= 1, got {args.tile}')
    if not osp.isfile(args.config):
        raise UsageError(f'CONFIG {args.config} does not exist')
    checkpoint = None if args.checkpoint.lower() == NO_CHECKPOINT else args.checkpoint
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise UsageError(f'CHECKPOINT {checkpoint} does not exist (use "{NO_CHECKPOINT}" for '
                         'random weights, for testing only)')
    if args.mask is not None and not osp.exists(args.mask):
        raise UsageError(f'--mask {args.mask} does not exist')
    device = args.device
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    try:
        return RestorationInferencer(
            args.config,
            checkpoint,
            device=device,
            batch_size=args.batch_size,
            tile=args.tile,
            tile_overlap=args.tile_overlap,
            cfg_options=args.cfg_options,
            channels_last=args.channels_last,
            compile=args.compile,
            amp='bf16' if args.bf16 else None,
            tta=args.tta)
    except Exception as error:  # a config or checkpoint that does not build or load
        raise UsageError(f'cannot build the model of {args.config} with {args.checkpoint}: '
                         f'{type(error).__name__}: {error}') from error


def _read(item: InputItem, mask_option: Optional[str]):
    """``(grey, mask or None)`` of an input; raises with the reason when it cannot be read."""
    from restorekit.apis.image_io import read_gray, read_mask

    if not item.path:
        raise ValueError(item.label)
    gray, _ = read_gray(item.path)
    mask_path = mask_for(mask_option, item)
    mask = None if mask_path is None else read_mask(mask_path, gray.shape)
    return gray, mask


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if isinstance(error, (ValueError, OSError)) else f'{type(error).__name__}: {text}'


def _restore_chunk(inferencer, items: Sequence[InputItem], grays, masks, failures: Dict[str, str]):
    """Restore a chunk; on an error retry each image alone so one bad image fails alone."""
    try:
        return list(zip(items, inferencer.restore(list(grays), list(masks))))
    except Exception as error:  # noqa: BLE001 - reported per image below
        if len(items) == 1:
            failures[items[0].label] = f'restoring failed: {_describe(error)}'
            return []
    done = []
    for item, gray, mask in zip(items, grays, masks):
        done.extend(_restore_chunk(inferencer, [item], [gray], [mask], failures))
    return done


def _write(args: argparse.Namespace, item: InputItem, result) -> str:
    """Write an image's outputs; returns the restored PNG's path."""
    from restorekit.apis.image_io import write_png

    path = osp.join(args.output, f'{item.name}.png')
    write_png(path, result.output)
    if args.save_mask:
        write_png(osp.join(args.output, MASKS_DIR, f'{item.name}_mask.png'), result.mask)
    if args.compare:
        write_png(
            osp.join(args.output, COMPARE_DIR, f'{item.name}_compare.png'),
            comparison_grid(result.gray, result.mask, result.output))
    return path


def run(args: argparse.Namespace, items: List[InputItem], inferencer) -> int:
    """Restore every input, write the outputs, print the summary; returns the exit status."""
    failures: Dict[str, str] = {}
    written: List[Tuple[str, str]] = []
    seen: Dict[str, str] = {}
    os.makedirs(args.output, exist_ok=True)
    for sub, wanted in ((MASKS_DIR, args.save_mask), (COMPARE_DIR, args.compare)):
        if wanted:
            os.makedirs(osp.join(args.output, sub), exist_ok=True)
    progress = Progress(len(items), args.quiet)
    chunk: List[Tuple[InputItem, np.ndarray, Optional[np.ndarray]]] = []

    def flush() -> None:
        if not chunk:
            return
        restored = _restore_chunk(inferencer, *zip(*chunk), failures)
        for item, result in restored:
            try:
                written.append((f'{item.name}.png', _write(args, item, result)))
            except (OSError, ValueError) as error:
                failures[item.label] = f'cannot write the output: {_describe(error)}'
        progress.update(len(chunk))
        chunk.clear()

    for item in items:
        if item.name in seen:
            failures[item.label] = (f'its output {item.name}.png is already taken by '
                                    f'{seen[item.name]}; rename one of them')
            progress.update()
            continue
        seen[item.name] = item.label
        try:
            gray, mask = _read(item, args.mask)
        except (OSError, ValueError) as error:
            failures[item.label] = _describe(error)
            progress.update()
            continue
        chunk.append((item, gray, mask))
        if len(chunk) >= args.batch_size:
            flush()
    flush()
    progress.close()

    if args.zip_path:
        write_submission_zip(args.zip_path, written)
    print(f'{len(written)} restored into {args.output}, {len(failures)} failed (of {len(items)})')
    for label, reason in failures.items():
        print(f'  FAILED {label}: {reason}')
    if args.zip_path:
        incomplete = ' (incomplete: failed images are missing)' if failures else ''
        print(f'submission archive: {args.zip_path}, {len(written)} images{incomplete}')
    return EXIT_OK if not failures else EXIT_SOME_FAILED


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; returns the exit status (0 all restored, 1 some failed, 2 usage error)."""
    try:
        args = parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        return EXIT_USAGE if exit_.code not in (0, None) else EXIT_OK
    with tempfile.TemporaryDirectory(prefix='restorekit_restore_') as extract_dir:
        try:
            items = collect_inputs(args.input, extract_dir)
            if not items:
                raise UsageError(f'INPUT {args.input} holds no images (extensions: .png, .jpg, '
                                 '.jpeg, .bmp, .tif, .tiff, .webp)')
            check_outputs(args, items)
            inferencer = _setup(args)
        except UsageError as error:
            print(f'error: {error}', file=sys.stderr)
            return EXIT_USAGE
        return run(args, items, inferencer)


if __name__ == '__main__':
    sys.exit(main())
