"""BadInputReportHook counts files, not hits: a file met many times is listed once."""
from types import SimpleNamespace

from mmengine.structures import BaseDataElement

from restorekit.engine.bad_input_hook import BadInputReportHook


class _Logger:

    def __init__(self):
        self.lines = []

    def warning(self, message):
        self.lines.append(message)


def _batch(*skipped):
    sample = BaseDataElement(metainfo=dict(skipped_inputs=list(skipped)))
    return dict(data_samples=[sample])


def test_each_bad_file_is_counted_once_with_its_hits():
    dataset = SimpleNamespace(precheck_skipped=[('zero.png', 'empty file (0 bytes)')])
    runner = SimpleNamespace(train_dataloader=SimpleNamespace(dataset=dataset), logger=_Logger())
    hook = BadInputReportHook()
    hook.before_train(runner)
    # 5 hits of 2 files: a.png met three times (epochs, workers), b.png twice in one batch.
    for batch in (_batch('a.png: truncated'), _batch('a.png: truncated', 'b.png: text'),
                  _batch('b.png: text'), _batch('a.png: truncated'), {}):
        hook.after_train_iter(runner, 0, batch)
    hook.after_train(runner)
    assert hook.report['train'] == ['zero.png: empty file (0 bytes)',
                                    'a.png: truncated (met 3 times)', 'b.png: text (met 2 times)']
    (message, ) = runner.logger.lines
    assert message.startswith('train: 3 bad input file(s) were skipped (1 by the pre-check, 2 '
                              'while loading)')
    assert message.count('a.png') == 1
