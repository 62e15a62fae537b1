"""Train a restorekit model: ``python tools/train.py CONFIG [options]``.

Follows the layout of mmagic's / mmengine's ``tools/train.py``: the config wires the pipeline,
command-line options only override it.
"""
import argparse
import sys

from restorekit.engine.checkpoint_hook import newest_complete_checkpoint
from restorekit.engine.dist import exit_distributed_process, shutdown_distributed
from restorekit.engine.runner_utils import (add_runner_arguments, build_runner, load_config,
                                            setup_amp)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a restorekit model')
    parser.add_argument('config', help='config file path, e.g. configs/unet_two_stage.py')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from a checkpoint; without a path, from the newest one in the work dir')
    parser.add_argument(
        '--amp', action='store_true',
        help='automatic mixed precision (float16 with loss scaling on CUDA, bfloat16 on CPU)')
    add_runner_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = load_config(args)

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
    if shutdown_distributed() and __name__ == '__main__':
        exit_distributed_process(0)  # a launcher's process: skip the racy C++ teardown


if __name__ == '__main__':
    sys.exit(main())
