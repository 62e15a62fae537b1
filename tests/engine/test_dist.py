"""The backend rule and argument checks of restorekit.engine.dist (no process group started)."""
import os
import socket

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


def test_gloo_binds_to_loopback_only_when_all_processes_are_local(monkeypatch):
    monkeypatch.setattr(dist, '_loopback_interface', lambda: 'lo')
    monkeypatch.delenv('GLOO_SOCKET_IFNAME', raising=False)
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '2')
    dist._bind_gloo_to_loopback_on_one_machine(world_size=4)  # two machines
    assert 'GLOO_SOCKET_IFNAME' not in os.environ
    dist._bind_gloo_to_loopback_on_one_machine(world_size=2)  # one machine
    assert os.environ['GLOO_SOCKET_IFNAME'] == 'lo'
    monkeypatch.setenv('GLOO_SOCKET_IFNAME', 'eth7')  # the user's choice wins
    dist._bind_gloo_to_loopback_on_one_machine(world_size=2)
    assert os.environ['GLOO_SOCKET_IFNAME'] == 'eth7'


def test_loopback_interface_is_found_on_linux():
    if not any(name == 'lo' for _, name in socket.if_nameindex()):
        pytest.skip('no interface named lo on this machine')
    assert dist._loopback_interface() == 'lo'


def test_shutdown_without_a_process_group_does_nothing():
    assert not torch.distributed.is_initialized()
    dist.shutdown_distributed()


def test_exit_distributed_process_flushes_output_and_keeps_the_code(tmp_path):
    import subprocess
    import sys
    script = ('import logging, sys\n'
              f'logging.basicConfig(filename={str(tmp_path / "run.log")!r}, level=logging.INFO)\n'
              'logging.info("logged before exit")\n'
              'print("printed before exit")\n'
              'from restorekit.engine.dist import exit_distributed_process\n'
              'exit_distributed_process(3)\n'
              'print("never printed")\n')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 3
    assert proc.stdout == 'printed before exit\n'  # buffered output reached the pipe
    assert 'logged before exit' in (tmp_path / 'run.log').read_text()
