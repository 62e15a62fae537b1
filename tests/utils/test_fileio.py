"""fileio: atomic writes leave the old file or the complete new one, and no temporary file."""
import os

import pytest

from restorekit.utils.fileio import atomic_write, replace_atomically, write_text_atomically


def test_atomic_write_replaces_the_file_and_leaves_nothing_else(tmp_path):
    path = tmp_path / 'out.bin'
    path.write_bytes(b'old')
    with atomic_write(path) as file:
        file.write(b'new')
        assert path.read_bytes() == b'old'  # not visible before the block ends
    assert path.read_bytes() == b'new'
    assert os.listdir(tmp_path) == ['out.bin']


def test_an_interrupted_write_keeps_the_old_file(tmp_path):
    path = tmp_path / 'out.bin'
    path.write_bytes(b'old')
    with pytest.raises(RuntimeError, match='interrupted'):
        with atomic_write(path) as file:
            file.write(b'partial')
            raise RuntimeError('interrupted')
    assert path.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['out.bin']


def test_text_and_replace(tmp_path):
    write_text_atomically('iter_2.pth', tmp_path / 'last_checkpoint')
    assert (tmp_path / 'last_checkpoint').read_text() == 'iter_2.pth'
    (tmp_path / 'x.tmp').write_bytes(b'done')
    replace_atomically(tmp_path / 'x.tmp', tmp_path / 'x')
    assert sorted(os.listdir(tmp_path)) == ['last_checkpoint', 'x']
    assert (tmp_path / 'x').read_bytes() == b'done'
