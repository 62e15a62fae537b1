"""Framework overhead: one training iteration through mmengine's Runner vs a plain PyTorch loop.

Both sides train their own copy of the same model (``configs/unet_two_stage.py``: inpainter and
colorizer, their losses, the config's optimizer) on the same in-memory batch (scikit-image's
photographs, damaged by ``PolygonMask``, packed by restorekit's pipeline), in one process:

* **restorekit**: ``runner.train()`` with every hook of the config active (iteration timer,
  logger every ``--log-interval`` iterations, parameter scheduler, atomic checkpoint hook (not
  due, so nothing is saved), sampler seed, the non-finite loss guard); the train loop is replaced
  by one that, instead of reading the data loader, calls ``IterBasedTrainLoop.run_iter`` on the
  in-memory batch (so ``before_train_iter``, ``Restorer.train_step`` with the data preprocessor
  and ``parse_losses``, and ``after_train_iter`` all run).
* **plain**: ``uint8 -> [-1, 1]``, inpainter, composite, colorizer, the same loss modules,
  ``zero_grad`` / ``backward`` / ``step`` of a ``torch.optim`` optimizer.

The two are interleaved (A B, then B A, ...) after warm-up, so load from elsewhere hits both
alike; the robust figure is the median of the per-pair ratios restorekit / plain. The config's
``MallocTuningHook`` (``default_hooks.malloc``) tunes glibc's allocator for the whole process, so
for the plain loop too; ``--glibc-defaults`` drops it, to see what it changes. Minor page faults
per iteration are reported for both sides.

    python benchmarks/framework_overhead.py                     # crop 128, batch 4, 20 pairs
    python benchmarks/framework_overhead.py --quick             # a smoke run of a few seconds

Prints a table and, last, one JSON line.
"""
import argparse
import copy
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from typing import Dict, List

import numpy as np
import torch

from machine_info import cpu_name
from restorekit.utils.value_range import uint8_to_unit_range

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'configs',
                      'unet_two_stage.py')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--crop-size', type=int, default=128, help='side of the training crops')
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--pairs', type=int, default=20, help='timed (restorekit, plain) pairs')
    parser.add_argument('--warmup', type=int, default=2, help='untimed pairs first')
    parser.add_argument('--log-interval', type=int, default=None,
                        help="the logger hook's interval (default: the config's)")
    parser.add_argument('--threads', type=int, default=None, help='torch.set_num_threads')
    parser.add_argument('--encoder', default=None,
                        help='override both stages\' encoder_name (e.g. resnet18 for a smoke run)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--glibc-defaults', action='store_true',
                        help="drop the config's MallocTuningHook: glibc's own mmap/trim thresholds")
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: crop 64, batch 2, resnet18, 2 pairs, 1 warm-up')
    args = parser.parse_args(argv)
    if args.quick:
        args.crop_size, args.batch_size, args.pairs, args.warmup = 64, 2, 2, 1
        args.encoder = args.encoder or 'resnet18'
    return args


def make_batch(crop_size: int, batch_size: int, seed: int) -> dict:
    """A collated batch of damaged crops of scikit-image's photographs, as the data loader gives."""
    from mmengine.dataset import pseudo_collate
    from skimage import data

    from restorekit.datasets.transforms.color import ToGray
    from restorekit.datasets.transforms.damage import SynthesizeDamage
    from restorekit.datasets.transforms.formatting import PackRestorationInputs

    photos = [data.astronaut(), data.chelsea(), data.coffee()]
    rng = np.random.default_rng(seed)
    to_gray = ToGray()
    damage = SynthesizeDamage(dict(type='PolygonMask', min_box_size=max(4, crop_size // 10)))
    pack = PackRestorationInputs()
    samples = []
    for index in range(batch_size):
        photo = photos[index % len(photos)]
        top = int(rng.integers(0, photo.shape[0] - crop_size + 1))
        left = int(rng.integers(0, photo.shape[1] - crop_size + 1))
        results = dict(gt_img=np.ascontiguousarray(photo[top:top + crop_size,
                                                         left:left + crop_size]),
                       rng=rng, sample_idx=index)
        samples.append(pack(damage(to_gray(results))))
    return pseudo_collate(samples)


class PlainStep:
    """The hand-written loop: the same modules, losses and optimizer type, no framework."""

    def __init__(self, restorer: torch.nn.Module, optimizer_cfg: dict) -> None:
        model = copy.deepcopy(restorer)
        self.model = model
        self.inpainter, self.colorizer = model.inpainter, model.colorizer
        self.inpainter_losses, self.colorizer_losses = model.inpainter_losses, \
            model.colorizer_losses
        optimizer_cfg = dict(optimizer_cfg)
        optimizer_type = getattr(torch.optim, optimizer_cfg.pop('type'))
        self.optimizer = optimizer_type(model.parameters(), **optimizer_cfg)

    def prepare(self, batch: dict) -> Dict[str, torch.Tensor]:
        """Stack the batch's uint8 tensors once (a plain loop's data loader would)."""
        samples = batch['data_samples']
        return dict(inputs=torch.stack(batch['inputs']),
                    gt_gray=torch.stack([s.gt_gray for s in samples]),
                    gt_img=torch.stack([s.gt_img for s in samples]),
                    mask=torch.stack([s.mask for s in samples]))

    def __call__(self, tensors: Dict[str, torch.Tensor]) -> float:
        self.model.train()
        inputs = uint8_to_unit_range(tensors['inputs'])
        gt_gray = uint8_to_unit_range(tensors['gt_gray'])
        gt_img = uint8_to_unit_range(tensors['gt_img'])
        mask = tensors['mask'].float()
        raw = self.inpainter(inputs, mask)
        composite = (raw * mask + inputs * (1 - mask)).clamp(-1, 1)
        rgb = self.colorizer(composite)
        loss = sum(loss(raw, gt_gray, mask) for loss in self.inpainter_losses) + \
            sum(loss(rgb, gt_img, mask) for loss in self.colorizer_losses)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


def build_interleaved_loop(batch: dict, args: argparse.Namespace, optimizer_cfg: dict,
                           record: dict):
    """An ``IterBasedTrainLoop`` whose ``run`` interleaves its own ``run_iter`` with PlainStep."""
    from mmengine.runner import IterBasedTrainLoop

    class InterleavedTimingLoop(IterBasedTrainLoop):
        """Times ``run_iter`` (hooks + train_step) against the plain step, pair by pair."""

        def run(self):
            runner = self.runner
            runner.call_hook('before_train')
            runner.call_hook('before_train_epoch')
            model = runner.model.module if hasattr(runner.model, 'module') else runner.model
            plain = PlainStep(model, optimizer_cfg)
            tensors = plain.prepare(batch)

            def framework() -> None:
                runner.model.train()
                self.run_iter(batch)

            def hand_written() -> None:
                plain(tensors)

            times: Dict[str, List[float]] = dict(restorekit=[], plain=[], restorekit_cpu=[],
                                                 plain_cpu=[], restorekit_faults=[],
                                                 plain_faults=[])
            for index in range(args.warmup + args.pairs):
                order = [('restorekit', framework), ('plain', hand_written)]
                if index % 2:
                    order.reverse()
                for name, step in order:
                    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                    start, start_cpu = time.perf_counter(), time.process_time()
                    step()
                    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
                    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
                    if index >= args.warmup:
                        times[name].append(elapsed)
                        times[f'{name}_cpu'].append(cpu)
                        times[f'{name}_faults'].append(faults)
            record.update(times)
            return runner.model

    return InterleavedTimingLoop


def measure(args: argparse.Namespace) -> dict:
    """Build the runner from the config, run the interleaved loop, summarise the times."""
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.runner import Runner
    from torch.utils.data import DataLoader

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    if args.encoder:
        cfg.model.inpainter.encoder_name = args.encoder
        cfg.model.colorizer.encoder_name = args.encoder
    if args.log_interval:
        cfg.default_hooks.logger.interval = args.log_interval
    if args.glibc_defaults:
        cfg.default_hooks.pop('malloc', None)
    malloc_hook = cfg.default_hooks.get('malloc')
    batch = make_batch(args.crop_size, args.batch_size, args.seed)
    record: dict = {}
    loop = build_interleaved_loop(batch, args, cfg.optim_wrapper.optimizer, record)
    # The loop needs a data loader to be built; it never reads it.
    loader = DataLoader([0], batch_size=1, collate_fn=lambda items: items)
    with tempfile.TemporaryDirectory() as work_dir:
        runner = Runner(
            model=cfg.model, work_dir=work_dir, train_dataloader=loader,
            train_cfg=dict(type=loop, max_iters=cfg.train_cfg.max_iters),
            # Never run; built because hooks may read runner.val/test_dataloader.
            val_dataloader=loader, val_cfg=dict(type='ValLoop'),
            val_evaluator=cfg.val_evaluator, test_dataloader=loader,
            test_cfg=dict(type='TestLoop'), test_evaluator=cfg.test_evaluator,
            optim_wrapper=cfg.optim_wrapper, param_scheduler=cfg.param_scheduler,
            default_hooks=cfg.default_hooks, custom_hooks=cfg.get('custom_hooks'),
            env_cfg=cfg.env_cfg, log_processor=cfg.log_processor, log_level='WARNING',
            visualizer=dict(cfg.visualizer, name=f'overhead_{os.getpid()}'),
            default_scope=cfg.default_scope, randomness=dict(seed=args.seed),
            experiment_name=f'overhead_{os.getpid()}_{time.time_ns()}')
        runner.logger.setLevel('WARNING')
        runner.train()
        MMLogger.get_current_instance().handlers.clear()
    ours, plain = record['restorekit'], record['plain']
    pair_ratios = [a / b for a, b in zip(ours, plain)]
    cpu_ratios = [a / b for a, b in zip(record['restorekit_cpu'], record['plain_cpu'])]
    return dict(
        config=os.path.relpath(args.config), crop_size=args.crop_size,
        batch_size=args.batch_size, encoder=args.encoder or cfg.model.inpainter.encoder_name,
        pairs=args.pairs, warmup=args.warmup, log_interval=cfg.default_hooks.logger.interval,
        malloc_tuning=dict(malloc_hook) if malloc_hook else None,
        threads=torch.get_num_threads(),
        restorekit_median_s=round(statistics.median(ours), 4),
        plain_median_s=round(statistics.median(plain), 4),
        restorekit_mean_s=round(statistics.fmean(ours), 4),
        plain_mean_s=round(statistics.fmean(plain), 4),
        ratio_of_medians=round(statistics.median(ours) / statistics.median(plain), 4),
        ratio_of_means=round(statistics.fmean(ours) / statistics.fmean(plain), 4),
        median_pair_ratio=round(statistics.median(pair_ratios), 4),
        pair_ratio_p10_p90=[round(float(v), 4) for v in np.percentile(pair_ratios, [10, 90])],
        restorekit_cpu_median_s=round(statistics.median(record['restorekit_cpu']), 4),
        plain_cpu_median_s=round(statistics.median(record['plain_cpu']), 4),
        median_pair_cpu_ratio=round(statistics.median(cpu_ratios), 4),
        ratio_of_cpu_sums=round(sum(record['restorekit_cpu']) / sum(record['plain_cpu']), 4),
        restorekit_minor_faults_median=statistics.median(record['restorekit_faults']),
        plain_minor_faults_median=statistics.median(record['plain_faults']),
        torch=torch.__version__, python=platform.python_version(), cpu=cpu_name(),
        restorekit_s=[round(t, 4) for t in ours], plain_s=[round(t, 4) for t in plain])


def main(argv=None) -> None:
    args = parse_args(argv)
    result = measure(args)
    print(f"Training iteration of {result['config']} ({result['encoder']}), batch "
          f"{result['batch_size']} x {result['crop_size']}^2, {result['threads']} threads, "
          f"{result['pairs']} interleaved pairs after {result['warmup']} warm-up")
    print(f"{'pair':>4} | {'restorekit s':>12} | {'plain s':>8} | {'ratio':>6}")
    print('-' * 40)
    for index, (ours, plain) in enumerate(zip(result['restorekit_s'], result['plain_s']), 1):
        print(f'{index:>4} | {ours:>12.3f} | {plain:>8.3f} | {ours / plain:>6.3f}')
    print('-' * 40)
    print(f"median: restorekit {result['restorekit_median_s']:.3f} s, plain "
          f"{result['plain_median_s']:.3f} s; median pair ratio {result['median_pair_ratio']:.3f} "
          f"(p10-p90 {result['pair_ratio_p10_p90'][0]:.3f}-{result['pair_ratio_p10_p90'][1]:.3f}),"
          f" ratio of means {result['ratio_of_means']:.3f}")
    print(f"CPU time (process): median pair ratio {result['median_pair_cpu_ratio']:.3f}, ratio of "
          f"sums {result['ratio_of_cpu_sums']:.3f}")
    print(f"minor page faults per iteration (median): restorekit "
          f"{result['restorekit_minor_faults_median']:.0f}, plain "
          f"{result['plain_minor_faults_median']:.0f}; glibc malloc "
          f"{'tuned by MallocTuningHook' if result['malloc_tuning'] else 'defaults'}")
    sys.stdout.flush()
    print(json.dumps({k: v for k, v in result.items() if k not in ('restorekit_s', 'plain_s')}))


if __name__ == '__main__':
    main()
