"""Optimizer wrappers that mmengine lacks."""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper

from restorekit.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """Mixed precision on the CPU: the forward pass autocasts to bfloat16.

    mmengine's ``AmpOptimWrapper`` requires a GPU (it asserts CUDA/NPU/MLU/MUSA). On the CPU,
    ``torch.autocast(device_type='cpu')`` supports bfloat16, whose exponent range equals float32's,
    so no loss scaling is needed; everything else is the plain :class:`OptimWrapper`.

    Args:
        dtype: the autocast dtype, ``'bfloat16'`` (default) or ``'float16'``.
    """

    def __init__(self, *args, dtype: str = 'bfloat16', **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if dtype not in ('bfloat16', 'float16'):
            raise ValueError(f"CPUAutocastOptimWrapper: dtype must be 'bfloat16' or 'float16', "
                             f'got {dtype!r}')
        self.cast_dtype = getattr(torch, dtype)

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        with super().optim_context(model), torch.autocast(
                device_type='cpu', dtype=self.cast_dtype):
            yield
