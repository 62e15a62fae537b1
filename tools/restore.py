"""Restore damaged black-and-white photographs with a trained model.

    python tools/restore.py CONFIG CHECKPOINT INPUT OUTPUT [options]

INPUT is an image file, a folder (the images directly in it, sorted by name), a DACON ``test.csv``
(its ``input_image_path`` column, relative to the CSV's folder) or a ``.zip`` of images. OUTPUT is
a folder that gets one PNG per input, named like the input (``<stem>.png``). CHECKPOINT may be the
word ``none``: random weights, for testing the tool only. See ``docs/inference.md``.

Exit status: 0 when every image was restored, 1 when some failed or an output could not be
written (each is listed with its reason and the others are still written), 2 for usage errors,
OUTPUT not writable included (nothing is written).
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
import zipfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
NO_CHECKPOINT = 'none'
MASKS_DIR, COMPARE_DIR = 'masks', 'compare'
#: Gap in pixels between the panels of a --compare grid.
COMPARE_GAP = 4


class UsageError(Exception):
    """A wrong command line: reported and exit status 2, nothing written."""


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    from mmengine.config import DictAction

    from restorekit.apis.input_sources import (DEFAULT_ZIP_MAX_MEMBER_BYTES,
                                               DEFAULT_ZIP_MAX_TOTAL_BYTES, parse_size)
    from restorekit.datasets.transforms.image_header import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV

    def size(text: str) -> int:
        try:
            return parse_size(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

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
    parser.add_argument(
        '--max-pixels',
        type=int,
        default=None,
        help=f'largest image (width x height) read, checked from the file header before '
        f'decoding; larger files fail (default {DEFAULT_MAX_PIXELS:,}, or ${MAX_PIXELS_ENV}; '
        '0 = no limit)')
    parser.add_argument(
        '--zip-member-limit',
        type=size,
        default=DEFAULT_ZIP_MAX_MEMBER_BYTES,
        metavar='SIZE',
        help='zip INPUT: largest member, uncompressed (e.g. 64M; default 256M; 0 = none)')
    parser.add_argument(
        '--zip-total-limit',
        type=size,
        default=DEFAULT_ZIP_MAX_TOTAL_BYTES,
        metavar='SIZE',
        help='zip INPUT: most bytes inflated from all members together (default 4G; 0 = none)')
    parser.add_argument('--quiet', action='store_true', help='no progress output')
    return parser.parse_args(argv)


# --- inputs ---------------------------------------------------------------------------------------
# Listing INPUT (folder, CSV, zip) lives in restorekit/apis/input_sources.py.
def open_inputs(args: argparse.Namespace, temp_dir: str):
    """The :class:`~restorekit.apis.input_sources.InputSet` of INPUT; UsageError if unusable."""
    from restorekit.apis.image_io import IMAGE_EXTENSIONS
    from restorekit.apis.input_sources import InputError, InputSet

    try:
        inputs = InputSet(args.input, temp_dir, args.zip_member_limit, args.zip_total_limit)
    except InputError as error:
        raise UsageError(str(error)) from None
    if not inputs.items:
        inputs.close()
        raise UsageError(f'INPUT {args.input} holds no images (extensions: '
                         f'{", ".join(IMAGE_EXTENSIONS)})')
    return inputs


def mask_for(mask_option: Optional[str], item) -> Optional[str]:
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


def check_outputs(args: argparse.Namespace, items: Sequence) -> None:
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
    from restorekit.engine.config_validation import check_config_file

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
        # Unknown config keys are reported before anything is built (docs/config.md).
        check_config_file(args.config, args.cfg_options)
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


class _Report:
    """What the run did to each input, for the summary and the exit status."""

    def __init__(self) -> None:
        self.failures: Dict[str, str] = {}      # label -> why nothing was written
        self.incomplete: Dict[str, str] = {}    # label -> which extra output is missing, why
        self.notes: List[Tuple[str, str]] = []  # (label, something the user should know)
        self.written: List[Tuple[str, str]] = []  # (archive name, restored PNG)


def _read(item, mask_option: Optional[str], inputs, max_pixels: Optional[int], report: _Report):
    """``(grey, mask or None)`` of an input; raises ``InputReadError`` naming it and the reason.

    Every reading failure (an unreadable entry, a zip member over its cap, any decoder's error, a
    file over the pixel limit, a bad mask) becomes one ``InputReadError`` whose message names the
    input as the user knows it (``archive.zip:member``, never the temporary file).
    """
    from restorekit.apis.image_io import read_gray_file, read_mask
    from restorekit.apis.input_sources import InputReadError
    from restorekit.datasets.bad_inputs import BadInputError

    try:
        with inputs.local_file(item) as path:
            try:
                gray, _, pages = read_gray_file(path, max_pixels)
            except BadInputError as error:  # UnreadableImageError: the reason without the path
                # Decoders may quote the file: a zip member's is a temporary one, named as its
                # member instead.
                reason = error.reason.replace(path, item.label)
                raise InputReadError(item.label, f'cannot read image: {reason}') from None
            except FileNotFoundError:
                raise InputReadError(item.label, 'file not found') from None
            except Exception as error:  # noqa: BLE001 - any failure is this input's alone
                raise InputReadError(item.label,
                                     _describe(error).replace(path, item.label)) from None
        if pages > 1:
            report.notes.append((item.label, f'{pages} pages (a multi-page file): only page 1 '
                                 'was restored'))
        mask_path = mask_for(mask_option, item)
        mask = None if mask_path is None else read_mask(mask_path, gray.shape, max_pixels)
    except InputReadError:
        raise
    except Exception as error:  # noqa: BLE001 - the mask: a missing or unreadable file
        raise InputReadError(item.label, _describe(error)) from None
    return gray, mask


def _describe(error: BaseException) -> str:
    from restorekit.datasets.transforms.image_header import describe_os_error

    if isinstance(error, OSError) and error.errno is not None:
        where = f' ({error.filename})' if error.filename else ''
        return f'{describe_os_error(error)}{where}'
    text = str(error) or type(error).__name__
    return text if isinstance(error, (ValueError, OSError)) else f'{type(error).__name__}: {text}'


def _restore_chunk(inferencer, items: Sequence, grays, masks, failures: Dict[str, str]):
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


def _write(args: argparse.Namespace, item, result, report: _Report) -> None:
    """Write an image's outputs and record exactly what exists afterwards.

    The restored PNG failing is a failure of the input; an extra output (``--save-mask``,
    ``--compare``) failing after the PNG was written leaves the input restored but incomplete.
    """
    from restorekit.apis.image_io import write_png

    path = osp.join(args.output, f'{item.name}.png')
    try:
        write_png(path, result.output)
    except (OSError, ValueError) as error:
        report.failures[item.label] = f'cannot write {path}: {_describe(error)}'
        return
    report.written.append((f'{item.name}.png', path))
    extras = []
    if args.save_mask:
        extras.append((osp.join(args.output, MASKS_DIR, f'{item.name}_mask.png'), result.mask))
    if args.compare:
        extras.append((osp.join(args.output, COMPARE_DIR, f'{item.name}_compare.png'),
                       lambda: comparison_grid(result.gray, result.mask, result.output)))
    missing = []
    for extra_path, image in extras:
        try:
            write_png(extra_path, image() if callable(image) else image)
        except (OSError, ValueError) as error:
            missing.append(f'{extra_path} not written: {_describe(error)}')
    if missing:
        report.incomplete[item.label] = f'{path} written, but ' + '; '.join(missing)


def clean_leftover_temp_files(args: argparse.Namespace, report: _Report) -> None:
    """Remove the hidden ``.<name>.<hex>.tmp`` files an interrupted earlier run left in the
    output folders (those idle for a minute; younger ones may be another run's and are named)."""
    from restorekit.apis.image_io import STALE_TEMP_AGE_S, clean_stale_temp_files

    folders = [args.output, osp.join(args.output, MASKS_DIR), osp.join(args.output, COMPARE_DIR)]
    if args.zip_path:
        folders.append(osp.dirname(osp.abspath(args.zip_path)))
    for folder in dict.fromkeys(osp.abspath(folder) for folder in folders):
        removed, kept = clean_stale_temp_files(folder)
        if removed:
            names = ', '.join(map(osp.basename, removed))
            report.notes.append((folder, f'removed {len(removed)} temporary file(s) left by an '
                                 f'interrupted earlier run: {names}'))
        if kept:
            names = ', '.join(map(osp.basename, kept))
            report.notes.append((folder, f'left {len(kept)} temporary file(s) younger than '
                                 f'{STALE_TEMP_AGE_S:.0f} s (another run writing here?): {names}'))


def run(args: argparse.Namespace, items: List, inferencer, inputs=None) -> int:
    """Restore every input, write the outputs, print the summary; returns the exit status.

    ``inputs`` (an :class:`~restorekit.apis.input_sources.InputSet`) reads zip members; without
    it every item is read from its ``path``.
    """
    from restorekit.apis.input_sources import InputReadError, InputSet

    if inputs is None:
        inputs = InputSet.of_items(items)
    report = _Report()
    seen: Dict[str, str] = {}
    max_pixels = getattr(args, 'max_pixels', None)
    clean_leftover_temp_files(args, report)
    progress = Progress(len(items), args.quiet)
    chunk: List[Tuple[object, np.ndarray, Optional[np.ndarray]]] = []

    def flush() -> None:
        if not chunk:
            return
        restored = _restore_chunk(inferencer, *zip(*chunk), report.failures)
        for item, result in restored:
            _write(args, item, result, report)
        progress.update(len(chunk))
        chunk.clear()

    for item in items:
        if item.name in seen:
            report.failures[item.label] = (f'its output {item.name}.png is already taken by '
                                           f'{seen[item.name]}; rename one of them')
            progress.update()
            continue
        seen[item.name] = item.label
        try:
            gray, mask = _read(item, args.mask, inputs, max_pixels, report)
        except InputReadError as error:
            report.failures[item.label] = error.reason
            progress.update()
            continue
        chunk.append((item, gray, mask))
        if len(chunk) >= args.batch_size:
            flush()
    flush()
    progress.close()
    return summarize(args, items, report)


def summarize(args: argparse.Namespace, items: Sequence, report: _Report) -> int:
    """Write the ``--zip`` archive, print the summary and return the exit status."""
    zip_error = None
    if args.zip_path:
        try:
            write_submission_zip(args.zip_path, report.written)
        except (OSError, ValueError, zipfile.LargeZipFile) as error:
            zip_error = _describe(error)
    failed, incomplete = len(report.failures), len(report.incomplete)
    extra = f' ({incomplete} without all their extra outputs)' if incomplete else ''
    print(f'{len(report.written)} restored into {args.output}{extra}, {failed} failed '
          f'(of {len(items)})')
    for label, reason in report.failures.items():
        print(f'  FAILED {label}: {reason}')
    for label, reason in report.incomplete.items():
        print(f'  INCOMPLETE {label}: {reason}')
    for label, note in report.notes:
        print(f'  NOTE {label}: {note}')
    if args.zip_path:
        if zip_error:
            print(f'submission archive NOT written: {args.zip_path}: {zip_error} (the restored '
                  f'PNGs are in {args.output})')
        else:
            missing = ' (incomplete: failed images are missing)' if report.failures else ''
            print(f'submission archive: {args.zip_path}, {len(report.written)} images{missing}')
    ok = not (report.failures or report.incomplete or zip_error)
    return EXIT_OK if ok else EXIT_SOME_FAILED


def prepare_outputs(args: argparse.Namespace) -> List[str]:
    """Create the output folders and check they can be written, before the model is built.

    Returns the folders created (removed again if the run stops with a usage error).
    """
    from restorekit.apis.output_folder import OutputFolderError, prepare_output_folders

    folders = [args.output]
    folders += [osp.join(args.output, sub) for sub, wanted in
                ((MASKS_DIR, args.save_mask), (COMPARE_DIR, args.compare)) if wanted]
    created: List[str] = []
    try:
        created += prepare_output_folders(folders)
        if args.zip_path:
            created += prepare_output_folders([osp.dirname(osp.abspath(args.zip_path))],
                                              '--zip folder')
    except OutputFolderError as error:
        from restorekit.apis.output_folder import remove_created_folders
        remove_created_folders(created)
        raise UsageError(str(error)) from None
    return created


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; returns the exit status (0 all restored, 1 some failed, 2 usage error)."""
    try:
        args = parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        return EXIT_USAGE if exit_.code not in (0, None) else EXIT_OK
    with tempfile.TemporaryDirectory(prefix='restorekit_restore_') as extract_dir:
        created: List[str] = []
        inputs = None
        try:
            inputs = open_inputs(args, extract_dir)
            check_outputs(args, inputs.items)
            created = prepare_outputs(args)
            inferencer = _setup(args)
        except UsageError as error:
            from restorekit.apis.output_folder import remove_created_folders
            remove_created_folders(created)
            if inputs is not None:
                inputs.close()
            print(f'error: {error}', file=sys.stderr)
            return EXIT_USAGE
        with inputs:
            return run(args, inputs.items, inferencer, inputs)


if __name__ == '__main__':
    sys.exit(main())
