"""Train a restorekit model: ``python tools/train.py CONFIG [options]``.

Follows the layout of mmagic's / mmengine's ``tools/train.py``: the config wires the pipeline,
command-line options only override it.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction

from restorekit.engine.checkpoint_hook import newest_complete_checkpoint
from restorekit.engine.runner_utils import build_runner, setup_amp


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a restorekit model')
    parser.add_argument('config', help='config file path, e.g. configs/unet_two_stage.py')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from a checkpoint; without a path, from the newest one in the work dir')
    parser.add_argument(
        '--amp', action='store_true',
        help='automatic mixed precision (float16 with loss scaling on CUDA, bfloat16 on CPU)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. train_cfg.max_iters=100 '
        'train_dataloader.batch_size=4 (nested keys with dots, lists as [a,b])')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
        help='job launcher for distributed training')
    # torchrun passes the rank through the environment; older launchers pass --local-rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        setup_amp(cfg)

    if args.resume == 'auto':
        # The newest *complete* checkpoint: a run killed while saving leaves no usable
        # `last_checkpoint` pointer to a truncated file behind (see AtomicCheckpointHook).
        resume_from = newest_complete_checkpoint(cfg.work_dir)
        cfg.resume = resume_from is not None
        cfg.load_from = resume_from
        if resume_from is None:
            print(f'--resume: no complete checkpoint in {cfg.work_dir}; training from scratch')
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    sys.exit(main())
