"""Stop (or flag) training the moment a loss term becomes NaN or infinite."""
import math
from typing import Dict, List, Optional

import torch
import torch.distributed as torch_dist
from mmengine.hooks import Hook

from restorekit.registry import HOOKS

ACTIONS = ('stop', 'skip')


class NonFiniteLossError(RuntimeError):
    """A loss term was NaN or infinite; the message names the iteration and the terms."""


def non_finite_terms(log_vars: Dict[str, torch.Tensor]) -> List[str]:
    """Names of the loss terms in ``log_vars`` that are not finite.

    Tensor terms are checked together (one ``torch.isfinite`` on a stacked tensor and one host
    sync); the names are only looked up when something is wrong.
    """
    names = [name for name, value in log_vars.items()
             if 'loss' in name and isinstance(value, torch.Tensor)]
    bad = [name for name, value in log_vars.items()
           if 'loss' in name and isinstance(value, float) and not math.isfinite(value)]
    if not names:
        return bad
    values = torch.stack([log_vars[name].detach().float().reshape(()) for name in names])
    finite = torch.isfinite(values)
    if bool(finite.all().item()):
        return bad
    return bad + [name for name, ok in zip(names, finite.tolist()) if not ok]


def _any_rank(flag: bool, device: torch.device) -> bool:
    """``flag`` OR-ed over the process group, so every rank stops together (no hung all-reduce)."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0], device=device)
    torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.MAX)
    return bool(tensor.item() > 0)


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """After each training iteration, check every loss term for NaN/inf.

    Runs before every other ``after_train_iter`` hook (priority ``VERY_HIGH``), so with
    ``action='stop'`` the run raises :class:`NonFiniteLossError` (naming the 1-based iteration and
    the bad terms) before the checkpoint hook could save the bad state: the last checkpoint on
    disk stays the last good one. With ``action='skip'`` the iteration is logged as a warning and
    counted, and training goes on. Note what skip means: mmengine's ``train_step`` has already
    taken the optimizer step when hooks run, so a non-finite *gradient* has reached the weights
    unless the optimizer wrapper skipped the step itself (``AmpOptimWrapper``'s loss scaler
    does); skip is for a transient bad term under AMP, not a cure for diverged weights.
    In distributed runs the verdict is shared by all ranks (one tiny all-reduce per iteration).
    """

    priority = 'VERY_HIGH'

    def __init__(self, action: str = 'stop') -> None:
        if action not in ACTIONS:
            raise ValueError(f'NonFiniteLossHook: action must be one of {ACTIONS}, got '
                             f'{action!r}.')
        self.action = action
        self.skipped_iters: List[int] = []

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[Dict[str, torch.Tensor]] = None) -> None:
        if not isinstance(outputs, dict):
            return
        bad = non_finite_terms(outputs)
        device = next((v.device for v in outputs.values() if isinstance(v, torch.Tensor)),
                      torch.device('cpu'))
        if not _any_rank(bool(bad), device):
            return
        iteration = runner.iter + 1
        values = {name: float(outputs[name]) for name in bad}
        where = f'iteration {iteration}' + (
            f' on rank {torch_dist.get_rank()}' if torch_dist.is_initialized() else '')
        if self.action == 'stop':
            raise NonFiniteLossError(
                f'non-finite loss at {where}: {values or "on another rank"}. Training stopped; '
                'the last checkpoint in the work dir is from before this iteration. Lower the '
                'learning rate, enable gradient clipping (optim_wrapper.clip_grad) or check the '
                'data, then resume with --resume.')
        self.skipped_iters.append(iteration)
        runner.logger.warning(
            f'non-finite loss at {where}: {values or "on another rank"}; skipped '
            f'({len(self.skipped_iters)} so far: {self.skipped_iters}).')

    def after_train(self, runner) -> None:
        if self.skipped_iters:
            runner.logger.warning(f'{len(self.skipped_iters)} training iterations had a '
                                  f'non-finite loss: {self.skipped_iters}')
