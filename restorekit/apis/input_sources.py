"""The images of an INPUT (a file, a folder, a DACON CSV, a zip), each readable as a local file.

Used by ``tools/restore.py``. Every image-named entry of INPUT becomes one :class:`InputItem`,
also those that cannot be read (a broken or looping symbolic link, no permission, a FIFO, a zip
member over the size cap, an encrypted member): those carry the reason in ``error``, so the
tool reports them with the other failures instead of leaving them out silently.

Zip members are never extracted under their own names, nor all at once: :meth:`InputSet.local_file`
streams one member at a time into a numbered file in the temporary folder (so no member can write
outside it), counting the bytes it inflates against two caps, and removes it after use:

* ``max_member_bytes`` (default :data:`DEFAULT_ZIP_MAX_MEMBER_BYTES`, 256 MiB): larger members
  are refused, from their declared size before anything is inflated, and while inflating if the
  declared size lies;
* ``max_total_bytes`` (default :data:`DEFAULT_ZIP_MAX_TOTAL_BYTES`, 4 GiB): once the members
  inflated so far reach it, the remaining members are refused.

Messages name a member by its path in the archive, ``archive.zip:folder/name.png``.
"""
import errno
import os
import os.path as osp
import re
import stat
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, List, Optional

from restorekit.datasets.transforms.image_header import describe_os_error
from .image_io import IMAGE_EXTENSIONS

DEFAULT_ZIP_MAX_MEMBER_BYTES = 256 * 2**20
DEFAULT_ZIP_MAX_TOTAL_BYTES = 4 * 2**30
_CHUNK_BYTES = 2**20
_SIZE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$', re.IGNORECASE)


class InputError(ValueError):
    """INPUT as a whole cannot be used (missing, not a zip, a CSV without its column...)."""


class InputReadError(ValueError):
    """One input cannot be read; ``label`` names it as messages do, ``reason`` says why."""

    def __init__(self, label: str, reason: str) -> None:
        self.label, self.reason = label, reason
        super().__init__(f'{label}: {reason}')


@dataclass
class InputItem:
    """One image of INPUT.

    Attributes:
        name: The output's stem (``<name>.png``), the input's stem.
        path: The file to read; ``''`` for a zip member (see :meth:`InputSet.local_file`) or an
            entry that cannot be read.
        label: How messages name the input (its path, ``archive.zip:member`` or a CSV line).
        filename: The input's own file name (a ``--mask`` folder holds masks of that name).
        error: Why the input cannot be read, found while listing INPUT; ``''`` if nothing is
            known against it.
        member: The zip member's name in the archive (``''`` for other inputs).
    """
    name: str
    path: str
    label: str
    filename: str = ''
    error: str = ''
    member: str = ''


def parse_size(text: str) -> int:
    """Bytes of a size written ``1048576``, ``512K``, ``256M``, ``256MiB``, ``4G``, ``1.5GB``
    (binary multiples: K = 1024).

    Raises:
        ValueError: not a size.
    """
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f'{text!r} is not a size (e.g. 1048576, 512K, 256M, 4G)')
    number, unit = float(match.group(1)), match.group(2).lower()
    return int(number * 1024**' kmgt'.index(unit or ' '))


def is_image_name(name: str) -> bool:
    """Whether a file name has one of :data:`~restorekit.apis.image_io.IMAGE_EXTENSIONS`."""
    return osp.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _stem(path: str) -> str:
    return osp.splitext(osp.basename(path))[0]


def entry_problem(path: str) -> Optional[str]:
    """Why a folder entry named like an image cannot be read as one, ``'folder'`` for a
    sub-folder (not searched), or None for a readable regular file."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if osp.islink(path):
            return f'broken symbolic link (its target {os.readlink(path)!r} does not exist)'
        return 'no such file (removed while listing?)'
    except OSError as error:  # ELOOP, EACCES on a folder of the link's target...
        return describe_os_error(error)
    if stat.S_ISDIR(info.st_mode):
        return 'folder'
    if not stat.S_ISREG(info.st_mode):
        return 'not a regular file (a FIFO, socket or device)'
    if not os.access(path, os.R_OK):
        return describe_os_error(OSError(errno.EACCES, 'permission denied'))
    return None


def folder_inputs(folder: str) -> List[InputItem]:
    """The image-named entries directly in ``folder``, sorted by name (sub-folders are not
    searched; other names are skipped). Unreadable entries come with their ``error``.

    Raises:
        InputError: the folder cannot be listed.
    """
    try:
        names = sorted(os.listdir(folder))
    except OSError as error:
        raise InputError(f'cannot list INPUT {folder}: {describe_os_error(error)}') from None
    items = []
    for name in names:
        if not is_image_name(name):
            continue
        path = osp.join(folder, name)
        problem = entry_problem(path)
        if problem == 'folder':
            continue
        items.append(InputItem(_stem(name), path if problem is None else '', path, name,
                               problem or ''))
    return items


def csv_inputs(csv_path: str) -> List[InputItem]:
    """The ``input_image_path`` of every row of a DACON CSV, relative to the CSV's folder.

    Raises:
        InputError: the CSV cannot be read or has no ``input_image_path`` column.
    """
    from restorekit.datasets.dacon_dataset import INPUT_COLUMN, read_csv_rows

    try:
        header, rows = read_csv_rows(csv_path)
    except (ValueError, UnicodeDecodeError, OSError) as error:
        raise InputError(f'cannot read {csv_path}: {error}') from None
    if INPUT_COLUMN not in header:
        raise InputError(f'{csv_path} has no {INPUT_COLUMN!r} column (columns: {header}); a '
                         f'DACON test.csv has ID,{INPUT_COLUMN}')
    root = osp.dirname(osp.abspath(csv_path))
    items = []
    for line, row in rows:
        value = (row.get(INPUT_COLUMN) or '').strip()
        if not value:
            items.append(InputItem(f'<line {line}>', '', f'{csv_path} line {line}', '',
                                   f'empty {INPUT_COLUMN}'))
            continue
        path = value if osp.isabs(value) else osp.normpath(osp.join(root, value))
        items.append(InputItem(_stem(value), path, path, osp.basename(value)))
    return items


class InputSet:
    """The images of INPUT (:attr:`items`) and the way to read each one as a local file.

    Args:
        input_path: An image file, a folder, a DACON ``.csv`` or a ``.zip``.
        temp_dir: Where zip members are inflated, one at a time (an empty folder of the caller's).
        max_member_bytes, max_total_bytes: The zip caps (uncompressed bytes; ``0`` = none).

    Raises:
        InputError: INPUT does not exist or cannot be listed, opened or parsed.
    """

    def __init__(self,
                 input_path: str,
                 temp_dir: str,
                 max_member_bytes: int = DEFAULT_ZIP_MAX_MEMBER_BYTES,
                 max_total_bytes: int = DEFAULT_ZIP_MAX_TOTAL_BYTES) -> None:
        self.input_path, self.temp_dir = input_path, temp_dir
        self.max_member_bytes, self.max_total_bytes = max_member_bytes, max_total_bytes
        self.inflated_bytes = 0
        self._archive: Optional[zipfile.ZipFile] = None
        self._counter = 0
        self.items = self._collect()

    @classmethod
    def of_items(cls, items: List[InputItem]) -> 'InputSet':
        """A set of plain files already listed (no zip)."""
        inputs = cls.__new__(cls)
        inputs.input_path, inputs.temp_dir = '', ''
        inputs.max_member_bytes = inputs.max_total_bytes = inputs.inflated_bytes = 0
        inputs._archive, inputs._counter, inputs.items = None, 0, list(items)
        return inputs

    # --- listing ----------------------------------------------------------------------------------
    def _collect(self) -> List[InputItem]:
        path = self.input_path
        if osp.isdir(path):
            return folder_inputs(path)
        if not osp.exists(path):
            problem = entry_problem(path) if osp.lexists(path) else None
            raise InputError(f'INPUT {path} ' + (f'cannot be read: {problem}' if problem else
                                                 'does not exist'))
        extension = osp.splitext(path)[1].lower()
        if extension == '.csv':
            return csv_inputs(path)
        if extension == '.zip':
            return self._zip_inputs()
        problem = entry_problem(path)
        return [InputItem(_stem(path), path if problem is None else '', path, osp.basename(path),
                          problem or '')]

    def _zip_inputs(self) -> List[InputItem]:
        try:
            self._archive = zipfile.ZipFile(self.input_path)
            infos = self._archive.infolist()
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            raise InputError(f'cannot open {self.input_path}: {error}') from None
        items = []
        for info in sorted((info for info in infos if not info.is_dir()),
                           key=lambda info: info.filename):
            base = osp.basename(info.filename)
            if info.filename.startswith('__MACOSX/') or base.startswith('.') or \
                    not is_image_name(base):
                continue
            error = ''
            if info.flag_bits & 0x1:
                error = 'encrypted member (not supported)'
            elif self.max_member_bytes and info.file_size > self.max_member_bytes:
                error = (f'{info.file_size:,} bytes uncompressed, over the per-member cap of '
                         f'{self.max_member_bytes:,} (--zip-member-limit); not extracted')
            items.append(InputItem(_stem(base), '', f'{self.input_path}:{info.filename}', base,
                                   error, info.filename))
        return items

    # --- reading ----------------------------------------------------------------------------------
    @contextmanager
    def local_file(self, item: InputItem) -> Iterator[str]:
        """A local file of the item (a zip member inflated for the block, then removed).

        Raises:
            InputReadError: the item cannot be read (its ``error``, or inflating it failed).
        """
        if item.error:
            raise InputReadError(item.label, item.error)
        if not item.member:
            yield item.path
            return
        self._counter += 1
        target = osp.join(self.temp_dir, f'{self._counter:06d}{osp.splitext(item.filename)[1]}')
        try:
            self._inflate(item, target)
            yield target
        finally:
            if osp.lexists(target):
                os.remove(target)

    def _inflate(self, item: InputItem, target: str) -> None:
        """Stream a member into ``target``, counting bytes against the caps."""
        member_cap, total_cap = self.max_member_bytes, self.max_total_bytes
        if total_cap and self.inflated_bytes >= total_cap:
            raise InputReadError(item.label, f'not extracted: the members extracted so far reached '
                                 f'the total cap of {total_cap:,} bytes (--zip-total-limit)')
        written = 0
        try:
            with self._archive.open(item.member) as source, open(target, 'xb') as destination:
                while True:
                    chunk = source.read(_CHUNK_BYTES)
                    if not chunk:
                        break
                    written += len(chunk)
                    self.inflated_bytes += len(chunk)
                    if member_cap and written > member_cap:
                        raise InputReadError(item.label, f'more than {member_cap:,} bytes '
                                             'uncompressed, over the per-member cap '
                                             '(--zip-member-limit); not extracted')
                    if total_cap and self.inflated_bytes > total_cap:
                        raise InputReadError(item.label, f'not extracted: the archive went over '
                                             f'the total cap of {total_cap:,} uncompressed bytes '
                                             '(--zip-total-limit)')
                    destination.write(chunk)
        except InputReadError:
            raise
        except (zipfile.BadZipFile, EOFError, RuntimeError, NotImplementedError,
                ValueError) as error:  # a corrupt, encrypted or unsupported member
            raise InputReadError(item.label, f'cannot extract: {error}') from None
        except OSError as error:  # the temporary folder is full or gone
            raise InputReadError(item.label, 'cannot extract to the temporary folder: '
                                 f'{describe_os_error(error)}') from None

    def close(self) -> None:
        """Close the archive (if INPUT is a zip)."""
        if self._archive is not None:
            self._archive.close()
            self._archive = None

    def __enter__(self) -> 'InputSet':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
