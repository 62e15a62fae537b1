"""Says in the training log where the starting weights of chosen stages come from."""
import logging
from typing import Sequence

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from restorekit.registry import HOOKS


@HOOKS.register_module()
class StageInitReportHook(Hook):
    """Before training, logs for each of ``stages`` whether it starts from given weights.

    A stage starts from the checkpoint of ``model.stage_init.<stage>`` (the Restorer loads it),
    else from the run's ``load_from`` or resumed checkpoint, else from its random initialisation:
    that last case is logged as a warning that the stage trains from scratch, with the page that
    says where published weights come from. Configs that can start from converted published
    weights (``configs/mat_gan.py``) add it, so a run without them says so.

    Args:
        stages: The Restorer stages to report (``'inpainter'``...).
        weights_doc: The documentation page named in the from-scratch warning.
    """

    def __init__(self,
                 stages: Sequence[str] = ('inpainter', ),
                 weights_doc: str = 'docs/pretrained.md') -> None:
        if isinstance(stages, str):
            stages = (stages, )
        self.stages = tuple(stages)
        self.weights_doc = weights_doc

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        stage_init = getattr(model, 'stage_init', None) or {}
        load_from = getattr(runner, '_load_from', None)
        resume = getattr(runner, '_resume', False)
        for stage in self.stages:
            if getattr(model, stage, None) is None:
                raise ValueError(f'StageInitReportHook: the model has no {stage}; stages may '
                                 f'name the stages it has.')
            if stage in stage_init:
                message, level = (f'{stage}: starts from {stage_init[stage]} '
                                  f'(model.stage_init.{stage})'), logging.INFO
            elif resume or load_from:
                source = load_from or 'the last checkpoint of the work_dir'
                message, level = (f'{stage}: starts from {source} '
                                  f'({"resume" if resume else "load_from"})'), logging.INFO
            else:
                message, level = (
                    f'{stage}: no weights given (model.stage_init.{stage} or load_from), so it '
                    f'trains from scratch. Published weights and how to convert them: '
                    f'{self.weights_doc}'), logging.WARNING
            print_log(f'StageInitReportHook: {message}', logger='current', level=level)
