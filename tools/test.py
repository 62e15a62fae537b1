"""Test a trained restorekit model: ``python tools/test.py CONFIG CHECKPOINT [options]``.

Runs the config's ``test_dataloader`` and ``test_evaluator`` (the DACON score, PSNR, SSIM) and,
with ``--out DIR``, writes every restored image as a PNG named like its input.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction

from restorekit.engine.runner_utils import build_runner


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a restorekit model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument('--out', help='folder to write the restored images (PNG) into')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. test_dataloader.batch_size=4')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.resume = False

    if args.out:
        hooks = list(cfg.get('custom_hooks', None) or [])
        hooks.append(dict(type='SavePredictionsHook', out_dir=args.out))
        cfg.custom_hooks = hooks

    runner = build_runner(cfg)
    return runner.test()


if __name__ == '__main__':
    main()
    sys.exit(0)
