"""Start ``torch.distributed`` for a launcher, on machines with or without GPUs.

mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device`` unconditionally and defaults to
NCCL, so the ``pytorch`` launcher fails on a CPU-only machine. :func:`init_distributed` starts the
process group itself before the Runner is built; the Runner's ``setup_env`` then sees
``torch.distributed`` initialised and skips its own ``init_dist``.

Backend rule: ``backend=None`` (the default of ``configs/_base_/default_runtime.py``) means NCCL
when CUDA is available and gloo otherwise; a backend named in ``env_cfg.dist_cfg.backend`` wins.
"""
import datetime
import os
import socket
import subprocess
from typing import Optional

import torch
import torch.distributed as torch_dist

LAUNCHERS = ('pytorch', 'slurm', 'mpi')


def default_backend() -> str:
    """``'nccl'`` when CUDA is available, ``'gloo'`` otherwise."""
    return 'nccl' if torch.cuda.is_available() else 'gloo'


def _required_env(name: str, launcher: str) -> int:
    if name not in os.environ:
        raise RuntimeError(f'launcher {launcher!r} needs the environment variable {name}; start '
                           'the job with tools/dist_train.sh (torchrun) or tools/slurm_train.sh.')
    return int(os.environ[name])


def _export_slurm_env(port: Optional[int]) -> None:
    """Translate Slurm's variables into torchrun's (as mmengine's ``_init_dist_slurm`` does)."""
    proc_id = _required_env('SLURM_PROCID', 'slurm')
    ntasks = _required_env('SLURM_NTASKS', 'slurm')
    node_list = os.environ['SLURM_NODELIST']
    local_id = os.environ.get('SLURM_LOCALID')
    if local_id is None:
        local_id = str(proc_id % max(torch.cuda.device_count(), 1))
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {node_list} | head -n1')
    os.environ['WORLD_SIZE'] = str(ntasks)
    os.environ['LOCAL_WORLD_SIZE'] = str(max(torch.cuda.device_count(), 1))
    os.environ['LOCAL_RANK'] = local_id
    os.environ['RANK'] = str(proc_id)


def init_distributed(launcher: str, backend: Optional[str] = None, **kwargs) -> str:
    """Initialise the default process group for ``launcher``; return the backend used.

    Args:
        launcher: ``'pytorch'`` (torchrun's ``RANK``/``LOCAL_RANK``/``WORLD_SIZE``), ``'slurm'``
            (``SLURM_*`` variables, translated to torchrun's) or ``'mpi'`` (delegated to mmengine).
        backend: ``'nccl'``, ``'gloo'``, ``'mpi'``...; ``None`` picks :func:`default_backend`.
        **kwargs: ``timeout`` in seconds, ``port`` (Slurm only), and anything else
            ``torch.distributed.init_process_group`` takes.

    Does nothing (but returns the backend in use) when the process group already exists.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f'launcher must be one of {LAUNCHERS}, got {launcher!r}.')
    if torch_dist.is_available() and torch_dist.is_initialized():
        return torch_dist.get_backend()
    backend = backend or default_backend()
    kwargs.pop('init_backend', None)  # mmengine's switch between torch and colossalai
    if launcher == 'mpi':
        from mmengine.dist import init_dist
        init_dist('mpi', backend=backend, **kwargs)
        return backend
    if launcher == 'slurm':
        _export_slurm_env(kwargs.pop('port', None))
    timeout = kwargs.pop('timeout', None)
    if timeout is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    rank = _required_env('RANK', launcher)
    world_size = _required_env('WORLD_SIZE', launcher)
    local_rank = _required_env('LOCAL_RANK', launcher)
    if backend == 'gloo':
        _bind_gloo_to_loopback_on_one_machine(world_size)
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    torch_dist.init_process_group(backend=backend, rank=rank, world_size=world_size, **kwargs)
    return backend


def _loopback_interface() -> Optional[str]:
    """The name of the loopback network interface (``lo`` on Linux), or ``None``."""
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        return None
    for name in names:
        if name == 'lo' or name.startswith('lo0'):
            return name
    return None


def _bind_gloo_to_loopback_on_one_machine(world_size: int) -> None:
    """Let gloo talk over loopback when every process runs on this machine.

    Without ``GLOO_SOCKET_IFNAME`` gloo binds to the address the host name resolves to, which on
    containers and sandboxes may be an interface the processes cannot reach each other on. A job
    whose processes all run here (``LOCAL_WORLD_SIZE == WORLD_SIZE``) needs only loopback; a
    multi-machine job, or a user who set the variable, is left alone.
    """
    if 'GLOO_SOCKET_IFNAME' in os.environ:
        return
    if int(os.environ.get('LOCAL_WORLD_SIZE', -1)) != world_size:
        return
    interface = _loopback_interface()
    if interface is not None:
        os.environ['GLOO_SOCKET_IFNAME'] = interface


def shutdown_distributed() -> bool:
    """Synchronise the processes and destroy the default process group, if one was started;
    return whether there was one.

    Called by ``tools/train.py`` and ``tools/test.py`` when their work succeeded (after a failure
    the launcher stops the other processes, and a barrier would wait for them): a process that
    exits while its peers still talk to it over gloo can be aborted by gloo's background thread,
    and torch warns about process groups left for the interpreter to tear down.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return False
    try:
        torch_dist.barrier()
    finally:
        torch_dist.destroy_process_group()
    return True


def exit_distributed_process(code: int = 0) -> None:
    """End a launcher-started process now, with ``code``, once its work is done and saved.

    The interpreter's normal exit runs the destructors of torch's C++ thread pools and
    communication threads; on CPU machines with gloo that teardown intermittently aborts with
    ``terminate called without an active exception`` (seen in about 1 of 12 two-process runs of
    ``tools/dist_test.sh``), which torchrun reports as a failed job although every result was
    written. After :func:`shutdown_distributed`, logs and standard streams are flushed and the
    process exits without that teardown (``os._exit``). Only for processes a launcher started:
    ``tools/train.py`` and ``tools/test.py`` call it from ``__main__`` when their run was
    distributed, never when their ``main`` is called in-process.
    """
    import logging
    import sys
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed stream: nothing left to flush
            pass
    logging.shutdown()
    os._exit(code)
