"""Stop (or flag) training the moment a loss term becomes NaN or infinite, and never write or
load a checkpoint whose parameters or optimizer state are not finite."""
import math
from collections import defaultdict
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

import torch
import torch.distributed as torch_dist
from mmengine.hooks import Hook

from restorekit.registry import HOOKS

ACTIONS = ('stop', 'skip')


class NonFiniteLossError(RuntimeError):
    """A loss term was NaN or infinite; the message names the iteration and the terms."""


class NonFiniteCheckpointError(RuntimeError):
    """A checkpoint to save or load holds NaN/inf parameters or optimizer state; the message
    names the checkpoint and the first bad tensor."""


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


def non_finite_tensors(named_tensors: Iterable[Tuple[str, torch.Tensor]]) -> List[str]:
    """Names of the floating-point tensors of ``named_tensors`` that hold a NaN or an inf.

    Cheap when everything is finite: one fused ``torch._foreach_norm(..., inf)`` per device and
    dtype (the inf-norm of a tensor is NaN/inf exactly when an element is), one ``isfinite``
    reduction and one host sync per group; the names are only looked up when something is wrong.
    """
    groups: Dict[tuple, List[Tuple[str, torch.Tensor]]] = defaultdict(list)
    for name, tensor in named_tensors:
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and tensor.numel():
            groups[(tensor.device, tensor.dtype)].append((name, tensor.detach()))
    bad: List[str] = []
    for group in groups.values():
        norms = torch.stack(torch._foreach_norm([tensor for _, tensor in group], float('inf')))
        finite = torch.isfinite(norms)
        if not bool(finite.all().item()):
            bad += [name for (name, _), ok in zip(group, finite.tolist()) if not ok]
    return bad


def _optimizer_tensors(state: Mapping, prefix: str = 'optimizer') -> Iterable[Tuple[str, torch.Tensor]]:
    """(name, tensor) of every tensor of an optimizer state dict (or a dict of them, one per
    network), e.g. ``optimizer.generator.state.3.exp_avg``."""
    for key, value in state.items():
        name = f'{prefix}.{key}'
        if isinstance(value, torch.Tensor):
            yield name, value
        elif isinstance(value, Mapping):
            yield from _optimizer_tensors(value, name)


def _model_parameter_names(model: torch.nn.Module) -> set:
    module = getattr(model, 'module', model)  # a DDP/FSDP wrapper's model
    return {name for name, _ in module.named_parameters()}


def _state_dict_parameters(state_dict: Mapping, parameter_names: set
                           ) -> Iterable[Tuple[str, torch.Tensor]]:
    """The entries of ``state_dict`` that are parameters of the model (buffers may legitimately
    hold inf, e.g. masks); ``module.`` prefixes of wrapped models are ignored."""
    for key, value in state_dict.items():
        name = key[len('module.'):] if key.startswith('module.') else key
        if name in parameter_names:
            yield key, value


def checkpoint_non_finite_tensors(checkpoint: Mapping, parameter_names: set) -> Tuple[List[str], int]:
    """Names of the non-finite model parameters and optimizer-state tensors of an mmengine
    checkpoint dict, and how many tensors were checked."""
    named = list(_state_dict_parameters(checkpoint.get('state_dict') or {}, parameter_names))
    optimizer = checkpoint.get('optimizer')
    if isinstance(optimizer, Mapping):
        named += list(_optimizer_tensors(optimizer))
    return non_finite_tensors(named), len(named)


def _describe_bad(bad: List[str], checked: int) -> str:
    more = f'; then {", ".join(bad[1:3])}{" ..." if len(bad) > 3 else ""}' if len(bad) > 1 else ''
    return (f'{len(bad)} of {checked} parameter/optimizer tensors are NaN or inf (first: '
            f'{bad[0]}{more})')


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
    disk stays the last good one. A finite loss does not prove finite weights (an optimizer step
    with ``lr=inf`` turns them non-finite after the loss was computed), so before any checkpoint
    is written the hook also checks the model's parameters and the optimizer state (one fused
    reduction, :func:`non_finite_tensors`) and raises :class:`NonFiniteCheckpointError` instead of
    saving, in both actions. Loading a checkpoint (``load_from``, ``--resume``, ``tools/test.py``)
    whose parameters or optimizer state are not finite is refused the same way, naming the file
    and the first bad tensor. With ``action='skip'`` the iteration is logged as a warning and
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

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        bad, checked = checkpoint_non_finite_tensors(
            checkpoint, _model_parameter_names(runner.model))
        if bad:
            iteration = (checkpoint.get('meta') or {}).get('iter', runner.iter)
            raise NonFiniteCheckpointError(
                f'refusing to save the checkpoint of iteration {iteration}: '
                f'{_describe_bad(bad, checked)}. Nothing was written; the last checkpoint in '
                f'{runner.work_dir} is from before this. Lower the learning rate or enable '
                'gradient clipping (optim_wrapper.clip_grad), then resume with --resume.')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        bad, checked = checkpoint_non_finite_tensors(
            checkpoint, _model_parameter_names(runner.model))
        if bad:
            filename = getattr(runner, '_load_from', None) or 'the checkpoint'
            raise NonFiniteCheckpointError(
                f'refusing to load {filename}: {_describe_bad(bad, checked)}. Training from it '
                'would go on with NaN weights; load an earlier checkpoint of the run.')

    def after_train(self, runner) -> None:
        if self.skipped_iters:
            runner.logger.warning(f'{len(self.skipped_iters)} training iterations had a '
                                  f'non-finite loss: {self.skipped_iters}')
