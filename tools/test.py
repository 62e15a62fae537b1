"""Test a trained restorekit model: ``python tools/test.py CONFIG CHECKPOINT [options]``.

Runs the config's ``test_dataloader`` and ``test_evaluator`` (the DACON score, PSNR, SSIM) and,
with ``--out DIR``, writes every restored image as a PNG named like its input.
"""
import argparse
import sys

from restorekit.engine.dist import exit_distributed_process, shutdown_distributed
from restorekit.datasets.transforms.image_header import default_max_pixels_set_to
from restorekit.engine.runner_utils import add_runner_arguments, build_runner, load_config


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a restorekit model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='folder to write the restored images (PNG) into')
    parser.add_argument(
        '--max-pixels', type=int, default=None,
        help='largest image (width x height) the datasets read, checked from the header; larger '
        'files are bad inputs (default 100,000,000 or $RESTOREKIT_MAX_PIXELS; 0 = no limit)')
    parser.add_argument('--tta', help='test-time augmentation, e.g. six (see tools/restore.py)')
    add_runner_arguments(parser)
    return parser.parse_args(argv)


def check_out_folder(out: str) -> None:
    """Create ``--out`` and check it can be written before the model is built: a read-only, full
    or uncreatable folder is a usage error (exit status 2), not a failure after the test."""
    from restorekit.apis.output_folder import OutputFolderError, prepare_output_folders

    try:
        prepare_output_folders([out], '--out')
    except OutputFolderError as error:
        print(f'error: {error}', file=sys.stderr)
        raise SystemExit(2) from None


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.out:
        check_out_folder(args.out)
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.tta:
        from restorekit.models.wrappers.tta import tta_model_config
        cfg.model = tta_model_config(cfg.model, args.tta)

    if args.out:
        hooks = list(cfg.get('custom_hooks', None) or [])
        hooks.append(dict(type='SavePredictionsHook', out_dir=args.out))
        cfg.custom_hooks = hooks

    with default_max_pixels_set_to(args.max_pixels):  # reaches the DataLoader workers too
        runner = build_runner(cfg)
        metrics = runner.test()
    if shutdown_distributed() and __name__ == '__main__':
        exit_distributed_process(0)  # a launcher's process: skip the racy C++ teardown
    return metrics


if __name__ == '__main__':
    main()
