"""newest_complete_checkpoint: resume never picks a truncated or missing checkpoint."""
import torch

from restorekit.engine.checkpoint_hook import is_complete_checkpoint, newest_complete_checkpoint
from restorekit.utils.fileio import write_text_atomically


def _save(path, value):
    torch.save({'state_dict': {'w': torch.tensor([float(value)])}}, str(path))


def test_last_checkpoint_pointer_is_used_when_complete(tmp_path):
    _save(tmp_path / 'iter_2.pth', 2)
    _save(tmp_path / 'iter_4.pth', 4)
    write_text_atomically(str(tmp_path / 'iter_2.pth'), str(tmp_path / 'last_checkpoint'))
    assert newest_complete_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')
    assert not list(tmp_path.glob('*.tmp'))


def test_truncated_newest_checkpoint_falls_back_to_the_newest_complete_one(tmp_path):
    _save(tmp_path / 'iter_2.pth', 2)
    _save(tmp_path / 'iter_10.pth', 10)
    _save(tmp_path / 'iter_12.pth', 12)
    data = (tmp_path / 'iter_12.pth').read_bytes()
    (tmp_path / 'iter_12.pth').write_bytes(data[:len(data) // 2])  # killed while writing
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_12.pth'))
    assert not is_complete_checkpoint(str(tmp_path / 'iter_12.pth'))
    # numeric order, not string order: iter_10 is newer than iter_2
    assert newest_complete_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_10.pth')


def test_pointer_to_a_deleted_checkpoint_and_empty_dir(tmp_path):
    assert newest_complete_checkpoint(str(tmp_path)) is None
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_8.pth'))
    (tmp_path / 'iter_6.pth').write_bytes(b'')
    assert newest_complete_checkpoint(str(tmp_path)) is None
