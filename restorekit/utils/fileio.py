"""Atomic file writes: readers see the old file or the complete new one, never a partial file.

Every write goes to a temporary file in the destination's folder, is flushed to disk
(``fsync``), renamed onto the destination (``os.replace``, atomic on POSIX and Windows) and the
folder is flushed too, so the rename itself survives a power cut. Used for checkpoints
(:class:`~restorekit.engine.checkpoint_hook.AtomicCheckpointHook`), ``last_checkpoint``, restored
images and converted checkpoints.
"""
import os
import uuid
from contextlib import contextmanager
from typing import BinaryIO, Iterator, Union

PathLike = Union[str, os.PathLike]


def fsync_file(path: PathLike) -> None:
    """Flush a written file's data to disk."""
    with open(path, 'rb') as file:
        os.fsync(file.fileno())


def fsync_dir(path: PathLike) -> None:
    """Flush a folder's entries (a rename into it) to disk, where the system allows it."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:  # some file systems (and Windows) cannot open folders
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def replace_atomically(tmp_path: PathLike, path: PathLike) -> None:
    """Flush the finished ``tmp_path`` to disk and rename it to ``path`` in one atomic step.

    For files another library writes (mmengine's ``save_checkpoint``); code that writes the file
    itself uses :func:`atomic_write`.
    """
    fsync_file(tmp_path)
    os.replace(tmp_path, path)
    fsync_dir(os.path.dirname(os.path.abspath(path)))


@contextmanager
def atomic_write(path: PathLike) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``path`` for binary writing; move it onto ``path`` on success.

    The temporary file (``.<name>.<random>.tmp``, in the same folder so that the rename is atomic)
    is flushed to disk before the rename and removed if the block raises: readers see either the
    old file or the complete new one. Created with the process's umask like any new file.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(folder, f'.{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp')
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, 'wb') as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise
    fsync_dir(folder)


def write_text_atomically(text: str, path: PathLike) -> None:
    """Write ``text`` (UTF-8) to ``path`` with :func:`atomic_write`."""
    with atomic_write(path) as file:
        file.write(text.encode('utf-8'))
