"""The backend rule and argument checks of restorekit.engine.dist (no process group started)."""
import os

import pytest
import torch

from restorekit.engine import dist


def test_default_backend_follows_the_hardware(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert dist.default_backend() == 'gloo'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert dist.default_backend() == 'nccl'


def test_unknown_launcher_and_missing_environment_are_named(monkeypatch):
    with pytest.raises(ValueError, match="'torchrun'"):
        dist.init_distributed('torchrun')
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK'):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match='RANK'):
        dist.init_distributed('pytorch')


def test_slurm_variables_become_torchrun_variables(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 0)
    for key, value in dict(SLURM_PROCID='3', SLURM_NTASKS='4', SLURM_NODELIST='node1',
                           SLURM_LOCALID='1', MASTER_ADDR='10.0.0.1').items():
        monkeypatch.setenv(key, value)
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_PORT', 'LOCAL_WORLD_SIZE'):
        monkeypatch.delenv(name, raising=False)
    dist._export_slurm_env(port=29555)
    assert (os.environ['RANK'], os.environ['WORLD_SIZE'], os.environ['LOCAL_RANK'],
            os.environ['MASTER_PORT'], os.environ['MASTER_ADDR']) == (
                '3', '4', '1', '29555', '10.0.0.1')
