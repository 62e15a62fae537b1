"""The non-finite guard's checkpoint checks: nothing non-finite is saved or loaded."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from restorekit.engine.nan_guard import (NonFiniteCheckpointError, NonFiniteLossHook,
                                         checkpoint_non_finite_tensors, non_finite_tensors)


def _model() -> nn.Module:
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    model[1].running_var.fill_(float('inf'))  # a buffer: not a parameter, may hold inf
    return model


def _checkpoint(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    return dict(meta=dict(iter=7), state_dict=model.state_dict(),
                optimizer=optimizer.state_dict())


def _stepped_adam(model: nn.Module) -> torch.optim.Optimizer:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    model(torch.randn(5, 3, generator=torch.Generator().manual_seed(0))).sum().backward()
    optimizer.step()
    return optimizer


def test_non_finite_tensors_names_nan_and_inf_of_every_float_dtype_and_skips_integers():
    named = [('ok', torch.ones(3)), ('nan', torch.tensor([0.0, float('nan')])),
             ('neg_inf', torch.tensor([float('-inf')], dtype=torch.float16)),
             ('int', torch.tensor([1, 2])), ('empty', torch.empty(0)),
             ('ok16', torch.ones(2, dtype=torch.bfloat16))]
    assert non_finite_tensors(named) == ['nan', 'neg_inf']
    assert non_finite_tensors([('a', torch.zeros(2, 2))]) == []


def test_checkpoint_check_covers_parameters_and_optimizer_state_not_buffers():
    model = _model()
    optimizer = _stepped_adam(model)
    names = {name for name, _ in model.named_parameters()}
    assert checkpoint_non_finite_tensors(_checkpoint(model, optimizer), names)[0] == []

    with torch.no_grad():
        model[2].weight[0, 0] = float('nan')
    bad, checked = checkpoint_non_finite_tensors(_checkpoint(model, optimizer), names)
    assert bad == ['2.weight'] and checked == 6 + 3 * 6  # 6 params; exp_avg, exp_avg_sq, step each

    with torch.no_grad():
        model[2].weight[0, 0] = 0.0
    optimizer.state[model[0].bias]['exp_avg_sq'][1] = float('inf')
    bad, _ = checkpoint_non_finite_tensors(_checkpoint(model, optimizer), names)
    assert bad == ['optimizer.state.1.exp_avg_sq']
    # one wrapper per network (OptimWrapperDict) nests the state dicts one level deeper
    nested = dict(state_dict={}, optimizer=dict(generator=optimizer.state_dict()))
    assert checkpoint_non_finite_tensors(nested, names)[0] == [
        'optimizer.generator.state.1.exp_avg_sq']


def test_hook_refuses_to_save_a_checkpoint_with_non_finite_parameters(tmp_path):
    model = _model()
    optimizer = _stepped_adam(model)
    runner = SimpleNamespace(model=model, iter=6, work_dir=str(tmp_path))
    hook = NonFiniteLossHook()
    hook.before_save_checkpoint(runner, _checkpoint(model, optimizer))  # finite: no error
    with torch.no_grad():
        model[0].weight.fill_(float('inf'))
    with pytest.raises(NonFiniteCheckpointError,
                       match=r'refusing to save the checkpoint of iteration 7: 1 of 24 .*'
                             r'first: 0\.weight'):
        hook.before_save_checkpoint(runner, _checkpoint(model, optimizer))
    # skip mode tolerates a bad loss term, never a bad checkpoint
    with pytest.raises(NonFiniteCheckpointError):
        NonFiniteLossHook(action='skip').before_save_checkpoint(
            runner, _checkpoint(model, optimizer))


def test_hook_refuses_to_load_a_non_finite_checkpoint_and_names_the_file():
    model = _model()
    wrapped = SimpleNamespace(module=model)  # a DDP-style wrapper
    checkpoint = dict(state_dict={f'module.{k}': v.clone() for k, v in model.state_dict().items()})
    runner = SimpleNamespace(model=wrapped, _load_from='work/iter_1.pth')
    NonFiniteLossHook().after_load_checkpoint(runner, checkpoint)
    checkpoint['state_dict']['module.0.bias'][0] = float('nan')
    with pytest.raises(NonFiniteCheckpointError,
                       match=r'refusing to load work/iter_1\.pth: .*first: module\.0\.bias'):
        NonFiniteLossHook().after_load_checkpoint(runner, checkpoint)
