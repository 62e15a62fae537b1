"""Switch the training phase of a Restorer at given iterations, inside one run.

A two-phase recipe (train the inpainter, then freeze it and train the colorizer) is two configs
and two runs (``configs/context_encoder_unet.py`` then ``..._phase2.py``), or one config with a
:class:`PhaseSwitchHook` (``configs/context_encoder_unet_one_run.py``).
"""
from typing import Dict, List, Optional, Sequence

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict

from restorekit.models.restorers.freezing import check_frozen_stages, set_frozen_stages
from restorekit.models.restorers.stage_init import STAGE_MODULES, build_losses
from restorekit.registry import HOOKS

#: What a phase may set.
PHASE_KEYS = ('begin', 'frozen_stages', 'detector_losses', 'inpainter_losses', 'colorizer_losses')


@HOOKS.register_module()
class PhaseSwitchHook(Hook):
    """At the first iteration of each phase, freeze/unfreeze stages and replace stage losses.

    ``phases`` is a list of dicts, each with ``begin`` (the iteration the phase starts at, 0-based
    as ``runner.iter``) and any of ``frozen_stages`` (the stages frozen from then on, see
    :mod:`restorekit.models.restorers.freezing`) and ``{stage}_losses`` (loss configs that
    replace that stage's losses; loss weights change by giving the list again with new
    ``loss_weight``\\ s). A phase only changes what it names.

    Each optimizer is built over every parameter of its network at the start of the run, so a
    stage that becomes trainable later is already in it: freezing only stops its gradients (a
    parameter without gradient is not moved by Adam or SGD). The phase in force is derived from
    ``runner.iter`` alone, so a resumed run (``--resume``) applies the phases up to its iteration
    before its first step, and continues the same run.

    The stages' losses must keep their parameters unchanged (losses with weights, such as a
    perceptual network, are rebuilt fresh).

    Args:
        phases: The phases, in order of ``begin``; the model's own config is the phase before
            the first.
    """

    priority = 'HIGH'  # before the optimizer steps of the iteration (train_step runs after hooks)

    def __init__(self, phases: Sequence[dict]) -> None:
        if not isinstance(phases, (list, tuple)) or not phases:
            raise TypeError(f'PhaseSwitchHook: phases must be a non-empty list of dicts, got '
                            f'{phases!r}.')
        self.phases: List[dict] = []
        previous = -1
        for index, phase in enumerate(phases):
            if not isinstance(phase, dict) or 'begin' not in phase:
                raise ValueError(f'PhaseSwitchHook: phases[{index}] must be a dict with `begin`, '
                                 f'got {phase!r}.')
            unknown = sorted(set(phase) - set(PHASE_KEYS))
            if unknown:
                raise ValueError(f'PhaseSwitchHook: phases[{index}] has unknown keys {unknown}; '
                                 f'a phase may set {list(PHASE_KEYS)}.')
            begin = phase['begin']
            if int(begin) != begin or begin <= previous:
                raise ValueError(f'PhaseSwitchHook: phases[{index}].begin={begin!r} must be an '
                                 f'integer after the previous phase\'s ({previous}).')
            previous = int(begin)
            self.phases.append(dict(phase))
        #: Index of the phase in force, -1 before the first (the model's own config).
        self.current = -1

    @staticmethod
    def _model(runner) -> nn.Module:
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        """Check the phases against the model; on resume, apply those already begun."""
        model = self._model(runner)
        for index, phase in enumerate(self.phases):
            for name in phase.get('frozen_stages', ()):
                if name not in STAGE_MODULES or getattr(model, name, None) is None:
                    raise ValueError(f'PhaseSwitchHook: phases[{index}].frozen_stages names '
                                     f'{name!r}, which the model does not have.')
        self._switch_to(runner, self.phase_at(runner.iter))

    def before_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None) -> None:
        self._switch_to(runner, self.phase_at(runner.iter))

    def phase_at(self, iteration: int) -> int:
        """Index of the phase in force at ``iteration`` (-1: none has begun)."""
        current = -1
        for index, phase in enumerate(self.phases):
            if phase['begin'] <= iteration:
                current = index
        return current

    def _switch_to(self, runner, index: int) -> None:
        """Apply every phase after the one in force up to ``index``."""
        while self.current < index:
            self.current += 1
            self._apply(runner, self.phases[self.current])

    def _apply(self, runner, phase: dict) -> None:
        model = self._model(runner)
        changes: Dict[str, object] = {}
        for stage in ('detector', 'inpainter', 'colorizer'):
            key = f'{stage}_losses'
            if key in phase:
                losses, names = build_losses(phase[key], stage)
                device = next(iter(model.parameters())).device
                setattr(model, key, losses.to(device))
                setattr(model, f'_{stage}_loss_names', names)
                changes[key] = names
        if 'frozen_stages' in phase:
            frozen = check_frozen_stages(model, phase['frozen_stages'])
            set_frozen_stages(model, frozen)
            changes['frozen_stages'] = list(frozen)
            self._check_optimizers(runner, model)
        runner.logger.info(f'PhaseSwitchHook: phase {self.current} from iteration '
                           f'{phase["begin"]} (now {runner.iter}): {changes}')

    @staticmethod
    def _check_optimizers(runner, model: nn.Module) -> None:
        """Every trainable parameter must be in an optimizer (built at the start of the run)."""
        wrapper = runner.optim_wrapper
        wrappers = wrapper.values() if isinstance(wrapper, OptimWrapperDict) else [wrapper]
        in_optimizers = {
            id(param)
            for each in wrappers for group in each.optimizer.param_groups
            for param in group['params']
        }
        missing = [
            name for name, param in model.named_parameters()
            if param.requires_grad and id(param) not in in_optimizers
        ]
        if missing:
            raise ValueError(
                f'PhaseSwitchHook: the parameters {missing[:3]}... train from this phase but are '
                'in no optimizer: the run started with their stage frozen. Start the run with '
                'every stage the phases train unfrozen and freeze it in a phase with begin=0.')
