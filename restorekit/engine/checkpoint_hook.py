"""Checkpoints that are never left half-written, and a resume that finds the newest complete one.

mmengine 0.10.7's ``CheckpointHook`` writes ``iter_N.pth`` in place, deletes the oldest kept
checkpoint *before* writing the new one and then rewrites ``last_checkpoint`` in place: a process
killed meanwhile can leave a truncated newest checkpoint, or a ``last_checkpoint`` that names a
deleted file. :class:`AtomicCheckpointHook` writes each checkpoint to a temporary file in the same
folder, flushes it to disk (``fsync``), renames it into place (``os.replace``, atomic on POSIX),
then replaces ``last_checkpoint`` the same way, and only then deletes checkpoints beyond
``max_keep_ckpts``. :func:`newest_complete_checkpoint` is what ``tools/train.py --resume`` uses.
"""
import glob
import os
import os.path as osp
import re
import zipfile
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from restorekit.registry import HOOKS
from restorekit.utils.fileio import replace_atomically, write_text_atomically

TMP_SUFFIX = '.tmp'
_STEP_PATTERN = re.compile(r'(?:iter|epoch)_(\d+)\.pth$')


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole ``torch.save`` archive (a truncated zip has no end record)."""
    if not osp.isfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return len(archive.namelist()) > 0
    except (zipfile.BadZipFile, OSError):
        return False


def newest_complete_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint to resume from in ``work_dir``, or None when there is none.

    The one named by ``last_checkpoint`` when it is complete; otherwise the complete
    ``iter_N.pth``/``epoch_N.pth`` with the largest N.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as file:
            named = file.read().strip()
        if named and is_complete_checkpoint(named):
            return named
        print_log(f'{pointer} names {named!r}, which is missing or incomplete; looking for the '
                  'newest complete checkpoint instead', logger='current', level=30)
    candidates = []
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        match = _STEP_PATTERN.search(osp.basename(path))
        if match:
            candidates.append((int(match.group(1)), path))
    for _, path in sorted(candidates, reverse=True):
        if is_complete_checkpoint(path):
            return path
    return None


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with atomic, crash-safe writes on a local file system.

    Same arguments as ``CheckpointHook``. The order per save is: write ``<name>.tmp``, fsync,
    rename to ``<name>``, atomically replace ``last_checkpoint``, delete the oldest kept
    checkpoint. Stale ``*.tmp`` files of a killed run are removed before training. Remote
    backends (``backend_args`` naming one) fall back to mmengine's behaviour.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process() and self._is_local():
            for stale in glob.glob(osp.join(self.out_dir, f'*.pth{TMP_SUFFIX}')):
                os.remove(stale)

    def _is_local(self) -> bool:
        return type(self.file_backend).__name__ == 'LocalBackend'

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not self._is_local():
            return super()._save_checkpoint_with_step(runner, step, meta)
        dropped_step = self._update_kept_steps(runner, step)
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename + TMP_SUFFIX,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if is_main_process():
            replace_atomically(self.last_ckpt + TMP_SUFFIX, self.last_ckpt)
            write_text_atomically(self.last_ckpt, osp.join(runner.work_dir, 'last_checkpoint'))
            # Only now, with the new checkpoint complete, may the oldest kept one go.
            if dropped_step is not None:
                old_path = osp.join(self.out_dir, self.filename_tmpl.format(dropped_step))
                if osp.isfile(old_path):
                    os.remove(old_path)

    def _update_kept_steps(self, runner, step: int) -> Optional[int]:
        """Record ``step`` among the kept checkpoints; return the step that falls out, if any."""
        if self.max_keep_ckpts <= 0:
            return None
        if self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step:
            return None  # saved twice in one step (e.g. last and best)
        dropped = None
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            dropped = self.keep_ckpt_ids.popleft()
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        return dropped
