"""Check that outputs can be written before any work is done, and describe why a write failed.

``tools/restore.py`` calls :func:`prepare_output_folders` before it builds the model: a folder
that cannot be created or written (a read-only file system, a path through a file, a full disk,
no permission) is a usage error found in a second, not after the model is built. Problems that
appear later (the disk fills up while writing) are reported per file by the caller.
"""
import os
import os.path as osp
import uuid
from typing import List, Sequence

from restorekit.datasets.transforms.image_header import describe_os_error


class OutputFolderError(OSError):
    """An output folder cannot be created or written; the message names it and says why."""


def _missing_ancestors(folder: str) -> List[str]:
    """``folder`` and its parents that do not exist yet, the outermost first."""
    missing = []
    folder = osp.abspath(folder)
    while not osp.lexists(folder) and osp.dirname(folder) != folder:
        missing.append(folder)
        folder = osp.dirname(folder)
    return missing[::-1]


def probe_writable(folder: str) -> None:
    """Write one byte to a new hidden file in ``folder``, flush it to disk and remove it.

    The file is named like :func:`~restorekit.apis.image_io.atomic_write`'s temporary files, so a
    kill at the wrong moment leaves one that the next run cleans.

    Raises:
        OSError: the folder cannot be written (read-only, full, no permission...).
    """
    probe = osp.join(folder, f'.write-test.{uuid.uuid4().hex[:12]}.tmp')
    descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, b'\0')
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
        os.remove(probe)


def prepare_output_folders(folders: Sequence[str], role: str = 'OUTPUT') -> List[str]:
    """Create the folders (and parents) and check each one can be written.

    Args:
        folders: The folders outputs will be written into.
        role: How messages name them (``'OUTPUT'``, ``'--zip folder'``).

    Returns:
        The folders this call created, outermost first (see :func:`remove_created_folders`).

    Raises:
        OutputFolderError: a folder cannot be created or written; the folders created before
            the failure are removed again.
    """
    created: List[str] = []
    for folder in folders:
        missing = _missing_ancestors(folder)
        try:
            if osp.lexists(folder) and not osp.isdir(folder):
                raise NotADirectoryError(20, 'exists and is not a folder')
            for path in missing:
                os.mkdir(path)
                created.append(path)
            probe_writable(folder)
        except OSError as error:
            remove_created_folders(created)
            action = 'create' if missing else 'write to'
            raise OutputFolderError(f'cannot {action} {role} {folder}: '
                                    f'{describe_os_error(error)}') from None
    return created


def remove_created_folders(created: Sequence[str]) -> None:
    """Remove the (empty) folders :func:`prepare_output_folders` created, innermost first."""
    for path in reversed(list(created)):
        try:
            os.rmdir(path)
        except OSError:
            pass  # not empty, or gone: leave it
