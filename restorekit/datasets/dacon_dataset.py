"""The DACON 236420 layout: CSV files listing damaged grey inputs and their colour originals.

::

    data_root/
      train.csv       ID,input_image_path,gt_image_path   (./train_input/TRAIN_00000.png, ...)
      test.csv        ID,input_image_path                  (./test_input/TEST_000.png, ...)
      train_input/ train_gt/ test_input/
      masks/          optional damage masks (PNG, > 0 = damaged)

Paths in the CSV are relative to ``data_root`` (absolute paths are kept). Masks come from a
``mask_path`` column or from ``mask_dir`` (a file of the input's name in that folder); without
either, ``DeriveDamageMask`` derives them from each pair.
"""
import csv
import os
from typing import List, Optional, Sequence, Tuple

from restorekit.registry import DATASETS
from .base import BaseRestorationDataset

INPUT_COLUMN = 'input_image_path'
GT_COLUMN = 'gt_image_path'
MASK_COLUMN = 'mask_path'
#: How many missing files an error lists before it summarises the rest.
MAX_LISTED_MISSING = 10


def read_csv_rows(csv_path: str) -> Tuple[List[str], List[Tuple[int, dict]]]:
    """The header and the ``(line number, row)`` pairs of a CSV file (blank lines skipped)."""
    if not os.path.isfile(csv_path):
        raise FileNotFoundError(f'annotation file not found: {csv_path}')
    with open(csv_path, newline='', encoding='utf-8-sig') as file:
        reader = csv.DictReader(file)
        header = [name.strip() for name in reader.fieldnames or []]
        reader.fieldnames = header
        rows = [(reader.line_num, row) for row in reader
                if any((value or '').strip() for value in row.values())]
    if not header:
        raise ValueError(f'annotation file {csv_path} is empty: expected a header with '
                         f'{INPUT_COLUMN!r} (and {GT_COLUMN!r} for training) and one row per image')
    if not rows:
        raise ValueError(f'annotation file {csv_path} has a header ({header}) but no rows')
    return header, rows


@DATASETS.register_module()
class DaconDataset(BaseRestorationDataset):
    """Pairs of damaged grey inputs and colour originals listed in a DACON 236420 CSV.

    Each data info has ``img_path`` (the damaged input), ``gt_path`` (the original, or None) and
    ``mask_path`` (or None), all absolute or relative to the working directory. The annotation file
    is validated when loaded: a missing CSV, missing columns, no rows, or listed files that do not
    exist each raise one error that names the CSV, the columns or the files (with their CSV line
    numbers).

    Args:
        data_root: The dataset folder; CSV paths are relative to it.
        ann_file: The CSV, relative to ``data_root`` (``train.csv`` or ``test.csv``).
        pipeline: Transform configs or callables.
        mask_dir: Folder (relative to ``data_root``, or absolute) holding one mask per input, named
            like the input. Overrides a ``mask_path`` column.
        with_gt: Whether ``gt_image_path`` is required. None (default): required for training
            (``test_mode=False``), used when present otherwise.
        gt_only: Train on the colour originals alone (DDColor's colorizer recipe): only the
            ``gt_image_path`` column is read and checked, ``img_path`` is the original too and no
            mask is listed, so the damaged inputs are never used; the pipeline makes the grey
            input from the photo (``ToGray`` + ``UndamagedInput``).
        **kwargs: ``test_mode``, ``indices``, ``seed``, ``deterministic``... (see
            :class:`BaseRestorationDataset`).
    """

    def __init__(self,
                 data_root: str,
                 ann_file: str = 'train.csv',
                 pipeline: Sequence = (),
                 mask_dir: Optional[str] = None,
                 with_gt: Optional[bool] = None,
                 gt_only: bool = False,
                 **kwargs) -> None:
        if gt_only and (with_gt is False or mask_dir is not None):
            raise ValueError(f'DaconDataset: gt_only=True reads the originals alone; it cannot '
                             f'go with with_gt={with_gt!r} or mask_dir={mask_dir!r}')
        self.mask_dir = mask_dir
        self.with_gt = with_gt
        self.gt_only = bool(gt_only)
        super().__init__(data_root=data_root, ann_file=ann_file, pipeline=pipeline, **kwargs)

    def _resolve(self, path: str) -> str:
        path = path.strip()
        if os.path.isabs(path):
            return os.path.normpath(path)
        return os.path.normpath(os.path.join(self.data_root or '', path))

    def load_data_list(self) -> List[dict]:
        """Read and validate the CSV; one data info per row."""
        header, rows = read_csv_rows(self.ann_file)
        if self.gt_only:
            return self._load_gt_only(header, rows)
        gt_required = (not self.test_mode) if self.with_gt is None else self.with_gt
        required = [INPUT_COLUMN] + ([GT_COLUMN] if gt_required else [])
        absent = [column for column in required if column not in header]
        if absent:
            raise ValueError(f'annotation file {self.ann_file} lacks the column(s) {absent}: '
                             f'found columns {header}, expected {required} (optional: '
                             f'{GT_COLUMN!r} for test data, {MASK_COLUMN!r})')
        use_gt = GT_COLUMN in header and self.with_gt is not False
        use_mask_column = self.mask_dir is None and MASK_COLUMN in header
        mask_dir = None if self.mask_dir is None else self._resolve(self.mask_dir)

        columns = {'img_path': INPUT_COLUMN}
        if use_gt:
            columns['gt_path'] = GT_COLUMN
        if use_mask_column:
            columns['mask_path'] = MASK_COLUMN

        data_list, missing = [], []
        for line, row in rows:
            info = dict(img_path=None, gt_path=None, mask_path=None)
            for key, column in columns.items():
                value = (row.get(column) or '').strip()
                if value:
                    info[key] = self._resolve(value)
                elif key != 'mask_path':  # an empty mask cell just means: no mask file
                    missing.append(f'line {line}: empty {column}')
            if mask_dir is not None and info['img_path'] is not None:
                info['mask_path'] = os.path.join(mask_dir, os.path.basename(info['img_path']))
            for key in ('img_path', 'gt_path', 'mask_path'):
                if info[key] is not None and not os.path.isfile(info[key]):
                    missing.append(f'line {line}: {info[key]}')
            data_list.append(info)
        self._raise_on_missing(missing)
        return data_list

    def _load_gt_only(self, header: List[str], rows: List[Tuple[int, dict]]) -> List[dict]:
        """One data info per row from the ``gt_image_path`` column alone."""
        if GT_COLUMN not in header:
            raise ValueError(f'annotation file {self.ann_file} lacks the column {GT_COLUMN!r} '
                             f'that gt_only=True reads: found columns {header}')
        data_list, missing = [], []
        for line, row in rows:
            value = (row.get(GT_COLUMN) or '').strip()
            if not value:
                missing.append(f'line {line}: empty {GT_COLUMN}')
                continue
            path = self._resolve(value)
            if not os.path.isfile(path):
                missing.append(f'line {line}: {path}')
            data_list.append(dict(img_path=path, gt_path=path, mask_path=None))
        self._raise_on_missing(missing)
        return data_list

    def _raise_on_missing(self, missing: List[str]) -> None:
        """One error listing the missing files and empty entries, if any."""
        if missing:
            listed = '\n  '.join(missing[:MAX_LISTED_MISSING])
            more = len(missing) - MAX_LISTED_MISSING
            raise FileNotFoundError(
                f'annotation file {self.ann_file} lists {len(missing)} file(s) that are missing '
                f'or empty entries (paths are relative to data_root={self.data_root}):\n  {listed}'
                + (f'\n  ... and {more} more' if more > 0 else ''))
