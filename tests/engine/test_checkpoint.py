"""Safe checkpoint loading: restorekit's own checkpoints load, anything executable is refused."""
import os

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.runner.checkpoint import CheckpointLoader

from restorekit.engine.checkpoint import (UnsafeCheckpointError, install_safe_checkpoint_loader,
                                          safe_torch_load)


class _Payload:
    """Pickles as a call to os.system: what a malicious checkpoint would hold."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def test_message_hub_with_history_buffers_round_trips(tmp_path):
    install_safe_checkpoint_loader()
    hub = MessageHub('test_round_trip')
    for step in range(5):
        hub.update_scalar('train/loss', 1.0 / (step + 1))
    hub.update_info('seed', 3)
    path = tmp_path / 'ckpt.pth'
    torch.save({'message_hub': hub.state_dict(), 'state_dict': {'w': torch.ones(2)},
                'meta': {'iter': 5, 'array': np.arange(3)}}, path)
    loaded = safe_torch_load(str(path))
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    np.testing.assert_allclose(buffer.data[0], [1.0, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    assert buffer.mean(window_size=2) == pytest.approx((1 / 4 + 1 / 5) / 2)
    np.testing.assert_array_equal(loaded['meta']['array'], np.arange(3))


def test_a_checkpoint_that_would_run_code_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / 'executed'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': _Payload(str(marker))}, path)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        safe_torch_load(str(path))
    assert not marker.exists()


def test_mmengine_loads_local_files_through_the_safe_loader(tmp_path):
    install_safe_checkpoint_loader()
    path = tmp_path / 'evil.pth'
    torch.save({'meta': _Payload(str(tmp_path / 'executed'))}, path)
    with pytest.raises(UnsafeCheckpointError):
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert not (tmp_path / 'executed').exists()


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        safe_torch_load(str(tmp_path / 'nothing.pth'))
