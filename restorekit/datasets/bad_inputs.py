"""What datasets do with corrupt, unreadable or unusable input images.

Two policies (``bad_inputs=`` of every :class:`~restorekit.datasets.base.BaseRestorationDataset`):

* ``'error'`` (default): the first bad file stops the run with an error that names it. A
  pre-check when the dataset is built catches what it can before training or testing starts.
* ``'skip'``: bad files are logged with their name and reason and left out; the count and the
  list reach the final log through :class:`~restorekit.engine.bad_input_hook.BadInputReportHook`.
  A training sample whose file turns out bad while loading is replaced by another sample; the
  replaced file travels with the batch (``data_sample.skipped_inputs``) so the report holds it
  whichever DataLoader worker or rank met it. Test and validation sets cannot replace a sample
  (every one must be scored once), so their bad files must be found by the pre-check.

Pre-check levels (``precheck=``): ``'none'``; ``'exists'`` (the file exists and is not empty);
``'header'`` (PIL reads the header: catches zero bytes, text and other non-images, and images over
the pixel limit of :mod:`~restorekit.datasets.transforms.image_header`; cheap);
``'decode'`` (every file is decoded: also catches truncated files, at the cost of reading the
whole set once).
"""
import os
from typing import List, Optional, Sequence, Tuple

BAD_INPUT_POLICIES = ('error', 'skip')
PRECHECK_LEVELS = ('none', 'exists', 'header', 'decode')
#: The data-info keys that name input files.
PATH_KEYS = ('img_path', 'gt_path', 'mask_path')


class BadInputError(ValueError):
    """An input file that cannot be used: missing, unreadable, truncated or too small.

    Args:
        path: The file.
        reason: What is wrong with it, in words.
        message: The full message; default ``'bad input <path>: <reason>'``.
    """

    def __init__(self, path: str, reason: str, message: Optional[str] = None) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(message or f'bad input {self.path}: {reason}')


def as_bad_input(error: BaseException, path_hint: Optional[str] = None) -> Optional[BadInputError]:
    """The :class:`BadInputError` that ``error`` stands for, or None if it is another failure.

    Image readers raise :class:`BadInputError` directly; a missing file's ``FileNotFoundError``
    counts too. Anything else (a bug, a wrong config) is not a bad input and is never skipped.
    """
    if isinstance(error, BadInputError):
        return error
    if isinstance(error, FileNotFoundError):
        return BadInputError(error.filename or path_hint or '?', 'file not found')
    return None


def check_file(path: str, level: str) -> Optional[str]:
    """Why ``path`` fails the pre-check ``level``, or None if it passes."""
    if level not in PRECHECK_LEVELS:
        raise ValueError(f'precheck must be one of {PRECHECK_LEVELS}, got {level!r}')
    if level == 'none':
        return None
    from restorekit.datasets.transforms.image_header import check_file_access
    try:  # a symbolic link loop, a broken link, a folder, a FIFO, no permission: said as such
        check_file_access(path)
    except FileNotFoundError:
        return 'file not found'
    except BadInputError as error:
        return error.reason
    if os.path.getsize(path) == 0:
        return 'empty file (0 bytes)'
    if level == 'exists':
        return None
    if level == 'header':
        # The header check every reader of images shares: also refuses images over the pixel
        # limit (decompression bombs) without decoding them.
        from restorekit.datasets.transforms.image_header import read_image_header
        try:
            read_image_header(path)
        except BadInputError as error:
            return f'not a readable image ({error.reason})'
        except FileNotFoundError:
            return 'file not found'
        return None
    from restorekit.datasets.transforms.loading import decode_image
    try:
        decode_image(path)
    except (BadInputError, FileNotFoundError, ValueError) as error:
        return str(getattr(error, 'reason', error))
    return None


def precheck_data_list(data_list: Sequence[dict], level: str,
                       path_keys: Sequence[str] = PATH_KEYS
                       ) -> Tuple[List[dict], List[Tuple[str, str]]]:
    """Split ``data_list`` into the infos whose files pass ``level`` and the ``(path, reason)``
    of every failing file (each file is checked once, however many infos name it)."""
    verdicts = {}
    kept, bad = [], []
    for info in data_list:
        passed = True
        for key in path_keys:
            path = info.get(key)
            if path is None:
                continue
            if path not in verdicts:
                verdicts[path] = check_file(path, level)
                if verdicts[path] is not None:
                    bad.append((path, verdicts[path]))
            passed = passed and verdicts[path] is None
        if passed:
            kept.append(info)
    return kept, bad


def describe_bad_inputs(bad: Sequence[Tuple[str, str]], limit: int = 20) -> str:
    """One line per bad file (the first ``limit``), then how many more."""
    lines = [f'  {path}: {reason}' for path, reason in bad[:limit]]
    if len(bad) > limit:
        lines.append(f'  ... and {len(bad) - limit} more')
    return '\n'.join(lines)
