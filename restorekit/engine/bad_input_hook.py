"""Report the bad input files that datasets left out (``bad_inputs='skip'``) in the run's log."""
from collections import Counter
from typing import Dict, List, Optional, Sequence

from mmengine.dist import all_gather_object, is_distributed
from mmengine.hooks import Hook

from restorekit.registry import HOOKS


def _dataset_of(loader) -> Optional[object]:
    """The dataset behind a DataLoader (or a dataloader config not built yet: None)."""
    dataset = getattr(loader, 'dataset', None)
    while dataset is not None and hasattr(dataset, 'dataset') and not hasattr(
            dataset, 'precheck_skipped'):
        dataset = dataset.dataset  # wrappers such as RepeatDataset
    return dataset


@HOOKS.register_module()
class BadInputReportHook(Hook):
    """Collect every skipped bad input and log the count and the files at the end of each phase.

    Two sources (see :mod:`restorekit.datasets.bad_inputs`): files the dataset's pre-check left
    out (read from the dataset when the phase starts) and training samples replaced while
    loading, which travel with the batch as ``data_sample.skipped_inputs`` (so those found in
    DataLoader workers and on other ranks reach the report too; ranks are gathered at the end).
    After the phase, :attr:`report` holds ``{phase: [file: reason, ...]}``, one entry per file
    (a file met several times while loading is listed once, with ``(met N times)``).
    """

    priority = 'BELOW_NORMAL'

    def __init__(self) -> None:
        self.report: Dict[str, List[str]] = {}
        self._loading: Dict[str, List[str]] = {}
        self._precheck: Dict[str, List[str]] = {}

    def _start(self, runner, phase: str) -> None:
        self._loading[phase] = []
        # Only this phase's loader: a runner without a val or test loop raises on the others.
        dataset = _dataset_of(getattr(runner, f'{phase}_dataloader'))
        self._precheck[phase] = [f'{path}: {reason}'
                                 for path, reason in getattr(dataset, 'precheck_skipped', [])]

    def _collect(self, phase: str, data_batch) -> None:
        if not isinstance(data_batch, dict):
            return
        for sample in data_batch.get('data_samples', None) or ():
            skipped = sample.metainfo.get('skipped_inputs') if hasattr(sample, 'metainfo') \
                else None
            if skipped:
                self._loading[phase].extend(skipped)

    def _finish(self, runner, phase: str) -> None:
        loading: Sequence[str] = self._loading.pop(phase, [])
        if is_distributed():
            loading = [entry for part in all_gather_object(list(loading)) for entry in part]
        precheck = self._precheck.pop(phase, [])
        # One entry per file, however often it was met (each epoch, each worker, each rank).
        hits = Counter(loading)
        loading = [entry if count == 1 else f'{entry} (met {count} times)'
                   for entry, count in hits.items()]
        entries = precheck + loading
        self.report[phase] = entries
        if not entries:
            return
        lines = '\n'.join(f'  {entry}' for entry in entries[:50])
        more = f'\n  ... and {len(entries) - 50} more' if len(entries) > 50 else ''
        runner.logger.warning(
            f'{phase}: {len(entries)} bad input file(s) were skipped ({len(precheck)} by '
            f'the pre-check, {len(loading)} while loading):\n{lines}{more}')

    def before_train(self, runner) -> None:
        self._start(runner, 'train')

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._collect('train', data_batch)

    def after_train(self, runner) -> None:
        self._finish(runner, 'train')

    def before_test(self, runner) -> None:
        self._start(runner, 'test')

    def after_test(self, runner) -> None:
        self._finish(runner, 'test')
