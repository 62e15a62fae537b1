"""Test a trained restorekit model: ``python tools/test.py CONFIG CHECKPOINT [options]``.

Runs the config's ``test_dataloader`` and ``test_evaluator`` (the DACON score, PSNR, SSIM) and,
with ``--out DIR``, writes every restored image as a PNG named like its input.
"""
import argparse

from restorekit.engine.dist import exit_distributed_process, shutdown_distributed
from restorekit.engine.runner_utils import add_runner_arguments, build_runner, load_config


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a restorekit model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='folder to write the restored images (PNG) into')
    parser.add_argument('--tta', help='test-time augmentation, e.g. six (see tools/restore.py)')
    add_runner_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.tta:
        from restorekit.models.tta import tta_model_config
        cfg.model = tta_model_config(cfg.model, args.tta)

    if args.out:
        hooks = list(cfg.get('custom_hooks', None) or [])
        hooks.append(dict(type='SavePredictionsHook', out_dir=args.out))
        cfg.custom_hooks = hooks

    runner = build_runner(cfg)
    metrics = runner.test()
    if shutdown_distributed() and __name__ == '__main__':
        exit_distributed_process(0)  # a launcher's process: skip the racy C++ teardown
    return metrics


if __name__ == '__main__':
    main()
