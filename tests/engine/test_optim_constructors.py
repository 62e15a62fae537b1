"""RestorerOptimWrapperConstructor's log: one summary line instead of one line per parameter."""
import logging

import torch.nn as nn
from mmengine.logging import MMLogger

from restorekit.engine.optim_constructors import RestorerOptimWrapperConstructor


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append((record.levelname, record.getMessage()))


class _TwoStages(nn.Module):
    def __init__(self):
        super().__init__()
        self.inpainter = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(4, 1, 3))
        self.colorizer = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 3, 3))


def test_paramwise_options_are_one_info_line_and_per_parameter_lines_are_debug():
    logger = MMLogger.get_instance('test_paramwise_summary', log_level='INFO')
    records = _Records()
    logger.addHandler(records)
    try:
        constructor = RestorerOptimWrapperConstructor(
            dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3)),
            paramwise_cfg=dict(custom_keys={'colorizer': dict(lr_mult=0.1)}))
        wrapper = constructor(_TwoStages())
    finally:
        logger.removeHandler(records)
    lrs = sorted(group['lr'] for group in wrapper.optimizer.param_groups)
    assert lrs == [1e-4] * 6 + [1e-3] * 4  # the options still apply
    info = [message for level, message in records.messages if level == 'INFO']
    assert not any(message.startswith('paramwise_options') for message in info)
    summary = [message for message in info if 'paramwise_cfg set' in message]
    assert len(summary) == 1
    assert summary[0].startswith('generator optimizer: paramwise_cfg set lr=0.0001, lr_mult=0.1 '
                                 'for 6 parameters (one line per parameter at')
