"""Inference latency and peak memory of every restoring config, and of the inferencer's switches.

Three measurements, all through :class:`restorekit.apis.RestorationInferencer` with random weights
(``checkpoint=None``; the architecture, not the weights, sets the cost), on damaged photographs
(scikit-image's astronaut, chelsea and coffee in grey, each with one ``PolygonMask`` polygon
filled with a constant grey: DACON damage), restored whole (detect + inpaint + colorize, and the
way back to uint8):

* **configs**: every ``configs/*.py`` whose model is a ``Restorer`` (or ``--configs``), at batch 1
  and batch 8. Each (config, batch) runs in a fresh subprocess, so its peak resident memory
  (``VmHWM`` of ``/proc/self/status``) is its own; the child also reports the peak once the model
  is built, before any restore. A warm-up restore first, then the median of ``--runs`` restores
  (seconds per image = batch time / batch), the spread (min, max), the CPU seconds per image, and
  each stage's time (forward hooks on the detector, inpainter and colorizer).
* **switches**: ``channels_last``, ``amp='bf16'`` and ``compile`` against the float32 baseline on
  one config (``--switch-config``, the default config), one subprocess per batch size, all
  variants built in that process and run in rounds whose order rotates (so load from elsewhere
  hits them alike). The robust figure is the median over rounds of each variant's time divided
  by the baseline's time of the same round. The outputs are compared with the baseline's: the
  largest absolute difference in grey levels of the RGB output and of the inpainted grey.
* **tile** (``--tile 512``): one ``--tile-image`` x ``--tile-image`` photograph (default 4096)
  restored in tiles of ``--tile`` with the default config: time and peak memory.

    python benchmarks/inference.py                                   # everything but the tiles
    python benchmarks/inference.py --configs configs/restorekit_default.py --runs 5
    python benchmarks/inference.py --skip-configs --skip-switches --tile 512
    python benchmarks/inference.py --size 64 --runs 1 --configs configs/unet_two_stage_demo.py \\
        --switch-config configs/unet_two_stage_demo.py --switches channels_last bf16   # smoke

Prints tables and, last, one JSON line.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

from machine_info import cpu_name

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
DEFAULT_CONFIG = os.path.join(ROOT, 'configs', 'restorekit_default.py')
FALLBACK_CONFIG = os.path.join(ROOT, 'configs', 'unet_two_stage.py')
#: The switches of RestorationInferencer and the keyword arguments of each.
SWITCHES = {
    'channels_last': dict(channels_last=True),
    'bf16': dict(amp='bf16'),
    'channels_last+bf16': dict(channels_last=True, amp='bf16'),
    'compile': dict(compile=True),
}
STAGES = ('mask_detector', 'inpainter', 'colorizer')
#: The issue's anchors, seconds per 512x512 image on 2 CPU cores (measured by the issue's author).
ANCHORS = {'original MAT generator': 7.2, 'big-LaMa (inpainting only)': 3.2}
TARGET_SECONDS, TARGET_RSS_MIB, TARGET_TILED_RSS_MIB = 1.0, 2048, 4096


def peak_rss_mib() -> Optional[float]:
    """This process's peak resident memory (``VmHWM``) in MiB, or None where /proc is absent."""
    try:
        with open('/proc/self/status') as status:
            for line in status:
                if line.startswith('VmHWM:'):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def default_config() -> str:
    """configs/restorekit_default.py, or configs/unet_two_stage.py where it does not exist."""
    return DEFAULT_CONFIG if os.path.isfile(DEFAULT_CONFIG) else FALLBACK_CONFIG


def restoring_configs() -> List[str]:
    """Every ``configs/*.py`` (not ``_base_``) whose model is a ``Restorer`` (or an
    ``AdversarialRestorer``, whose inference is the Restorer's), sorted; configs whose
    ``stage_init`` files are missing are skipped (and named)."""
    from mmengine.config import Config

    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, 'configs', '*.py'))):
        try:
            model = Config.fromfile(path).get('model')
        except Exception:  # a config another helper is still writing; reported, not measured
            print(f'skipping {os.path.relpath(path, ROOT)}: it does not load', file=sys.stderr)
            continue
        if model is None or model.get('type') not in ('Restorer', 'AdversarialRestorer'):
            continue
        missing = [f for f in (model.get('stage_init') or {}).values() if not os.path.isfile(f)]
        if missing:  # e.g. converted published weights (docs/pretrained.md) not converted here
            print(f'skipping {os.path.relpath(path, ROOT)}: its weights {missing} do not exist',
                  file=sys.stderr)
            continue
        found.append(path)
    return found


def damaged_photos(size: int, count: int, seed: int) -> list:
    """``count`` uint8 (size, size) grey photographs, each with one constant-grey polygon."""
    import numpy as np
    from PIL import Image
    from skimage import data

    from restorekit.masks.polygon import PolygonMask

    rng = np.random.default_rng(seed)
    photos = [data.astronaut(), data.chelsea(), data.coffee()]
    images = []
    for index in range(count):
        grey = np.array(
            Image.fromarray(photos[index % len(photos)]).convert('L').resize((size, size)))
        mask = PolygonMask(min_box_size=max(4, size // 10))(size, size, rng)
        grey[mask] = int(rng.integers(0, 256))
        images.append(grey)
    return images


class StageTimer:
    """Wall time of each stage's forward pass (hooks on the Restorer's stage modules), summed
    over the calls since :meth:`reset`."""

    def __init__(self, model) -> None:
        self.seconds: Dict[str, float] = {}
        self._started: Dict[str, float] = {}
        for name in STAGES:
            module = getattr(model, name, None)
            if module is not None:
                module.register_forward_pre_hook(self._pre(name))
                module.register_forward_hook(self._post(name))

    def _pre(self, name: str):

        def hook(module, args):
            self._started[name] = time.perf_counter()

        return hook

    def _post(self, name: str):

        def hook(module, args, output):
            elapsed = time.perf_counter() - self._started.pop(name)
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed

        return hook

    def reset(self) -> None:
        self.seconds = {}


def build_inferencer(config: str, batch: int, seed: int, **switches):
    """A RestorationInferencer with random weights, the logger's random-weights warning muted."""
    import logging

    from mmengine.logging import MMLogger

    from restorekit.apis import RestorationInferencer

    MMLogger.get_current_instance().setLevel(logging.ERROR)
    return RestorationInferencer(config, None, batch_size=batch, seed=seed, **switches)


def timed_restore(inferencer, images) -> tuple:
    """``(wall seconds, CPU seconds, results)`` of one ``inferencer.restore(images)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    results = inferencer.restore(images)
    return time.perf_counter() - wall, time.process_time() - cpu, results


def child_config(job: dict) -> dict:
    """One config at one batch size: warm-up, then ``runs`` timed restores."""
    images = damaged_photos(job['size'], job['batch'], job['seed'])
    inferencer = build_inferencer(job['config'], job['batch'], job['seed'])
    params = sum(p.numel() for p in inferencer.model.parameters())
    rss_built = peak_rss_mib()
    timer = StageTimer(inferencer.model)
    for _ in range(job['warmup']):
        timed_restore(inferencer, images)
    walls, cpus, stages = [], [], []
    for _ in range(job['runs']):
        timer.reset()
        wall, cpu, _ = timed_restore(inferencer, images)
        walls.append(wall / job['batch'])
        cpus.append(cpu / job['batch'])
        stages.append({name: seconds / job['batch'] for name, seconds in timer.seconds.items()})
    stage_medians = {
        name: round(statistics.median(run.get(name, 0.0) for run in stages), 4)
        for name in STAGES if any(name in run for run in stages)
    }
    return dict(
        seconds_per_image=round(statistics.median(walls), 4),
        min_s=round(min(walls), 4),
        max_s=round(max(walls), 4),
        cpu_seconds_per_image=round(statistics.median(cpus), 4),
        stage_seconds_per_image=stage_medians,
        params_m=round(params / 1e6, 2),
        peak_rss_built_mib=rss_built,
        peak_rss_mib=peak_rss_mib())


def grey_level_difference(results, baseline) -> Dict[str, Optional[float]]:
    """Absolute differences in grey levels to the baseline: of the RGB outputs the largest, the
    99.9th percentile and the mean; of the inpainted greys the largest; and the count of pixels
    whose damage mask differs."""
    import numpy as np

    rgb = np.concatenate([
        np.abs(a.output.astype(int) - b.output.astype(int)).ravel()
        for a, b in zip(results, baseline)
    ])
    inpainted = [
        int(np.abs(a.inpainted_gray.astype(int) - b.inpainted_gray.astype(int)).max())
        for a, b in zip(results, baseline) if a.inpainted_gray is not None
    ]
    return dict(
        max_abs_diff_rgb=int(rgb.max()),
        p999_abs_diff_rgb=float(np.percentile(rgb, 99.9)),
        mean_abs_diff_rgb=round(float(rgb.mean()), 3),
        max_abs_diff_inpainted=max(inpainted) if inpainted else None,
        mask_pixels_differing=int(sum((a.mask != b.mask).sum() for a, b in zip(results, baseline))))


def child_switches(job: dict) -> dict:
    """The baseline and each switch on one config and batch, in rotating rounds."""
    images = damaged_photos(job['size'], job['batch'], job['seed'])
    names = ['baseline'] + list(job['switches'])
    inferencers, first_call, differences = {}, {}, {}
    baseline_results = None
    for name in names:
        inferencers[name] = build_inferencer(job['config'], job['batch'], job['seed'],
                                             **SWITCHES.get(name, {}))
        # The warm-up (where compile compiles); restoring is deterministic, so its outputs are
        # the ones compared with the baseline's.
        seconds, _, results = timed_restore(inferencers[name], images)
        first_call[name] = round(seconds, 2)
        baseline_results = baseline_results or results
        differences[name] = grey_level_difference(results, baseline_results)
    walls: Dict[str, List[float]] = {name: [] for name in names}
    for round_ in range(job['runs']):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            walls[name].append(timed_restore(inferencers[name], images)[0] / job['batch'])
    variants = {}
    for name in names:
        ratios = [mine / base for mine, base in zip(walls[name], walls['baseline'])]
        variants[name] = dict(
            seconds_per_image=round(statistics.median(walls[name]), 4),
            min_s=round(min(walls[name]), 4),
            max_s=round(max(walls[name]), 4),
            ratio_to_baseline=round(statistics.median(ratios), 3),
            ratio_min_max=[round(min(ratios), 3), round(max(ratios), 3)],
            first_call_s=first_call[name],
            **differences[name])
    return dict(variants=variants, peak_rss_mib=peak_rss_mib())


def child_tile(job: dict) -> dict:
    """One large photograph restored in tiles (no warm-up: one restore is the figure)."""
    image = damaged_photos(job['size'], 1, job['seed'])[0]
    inferencer = build_inferencer(
        job['config'], job['batch'], job['seed'], tile=job['tile'], tile_overlap=job['overlap'])
    rss_built = peak_rss_mib()
    wall, cpu, results = timed_restore(inferencer, [image])
    from restorekit.apis.tiling import plan_tiles

    return dict(
        seconds=round(wall, 2),
        cpu_seconds=round(cpu, 2),
        tiles=len(plan_tiles(job['size'], job['size'], job['tile'], job['overlap'])),
        output_shape=list(results[0].output.shape),
        peak_rss_built_mib=rss_built,
        peak_rss_mib=peak_rss_mib())


CHILDREN = dict(config=child_config, switches=child_switches, tile=child_tile)


def run_child(job: dict, threads: Optional[int], timeout: float) -> dict:
    """Run one job in a fresh interpreter; its JSON result, or ``{'error': ...}``."""
    command = [sys.executable, os.path.abspath(__file__), '--child', json.dumps(job)]
    if threads:
        command += ['--threads', str(threads)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return dict(error=f'timed out after {timeout:.0f} s')
    if done.returncode != 0:
        last_line = done.stderr.strip().splitlines()[-1:] or [f'exit status {done.returncode}']
        return dict(error=last_line[0])
    return json.loads(done.stdout.strip().splitlines()[-1])


def relative(path: str) -> str:
    return os.path.relpath(os.path.abspath(path), ROOT)


def print_configs(rows: Sequence[dict], size: int) -> None:
    print(f'\nRestore (detect + inpaint + colorize) of {size}x{size} grey photos, random weights; '
          'seconds per image: median of the runs [min-max]; stages: median seconds per image')
    header = (f"{'config':<36} {'batch':>5} {'params':>7} {'s/img':>7} {'[min-max]':>15} "
              f"{'cpu s':>6} {'detect':>7} {'inpaint':>7} {'color':>7} {'RSS MiB':>8} "
              f"{'built':>6}")
    print(header)
    print('-' * len(header))
    for row in rows:
        if 'error' in row:
            print(f"{row['config']:<36} {row['batch']:>5}  failed: {row['error']}")
            continue
        stages = row['stage_seconds_per_image']
        cells = [f"{stages[name]:>7.3f}" if name in stages else f"{'-':>7}" for name in STAGES]
        spread = f"[{row['min_s']:.3f}-{row['max_s']:.3f}]"
        print(f"{row['config']:<36} {row['batch']:>5} {row['params_m']:>6.1f}M "
              f"{row['seconds_per_image']:>7.3f} {spread:>15} {row['cpu_seconds_per_image']:>6.2f} "
              f"{' '.join(cells)} {row['peak_rss_mib']:>8.0f} {row['peak_rss_built_mib']:>6.0f}")


def print_switches(config: str, results: Dict[str, dict]) -> None:
    print(f'\nSwitches on {config}: seconds per image (median of rounds), ratio = median over '
          'rounds of switch / baseline (< 1 is faster), max abs difference to the float32 '
          'baseline in grey levels')
    header = (f"{'switch':<20} {'batch':>5} {'s/img':>7} {'ratio':>6} {'[min-max]':>13} "
              f"{'1st call s':>10} {'rgb max':>7} {'p99.9':>5} {'mean':>5} {'inp max':>7} "
              f"{'mask px':>7}")
    print(header)
    print('-' * len(header))
    for batch, result in results.items():
        if 'error' in result:
            print(f"{'all':<20} {batch:>5}  failed: {result['error']}")
            continue
        for name, row in result['variants'].items():
            spread = f"[{row['ratio_min_max'][0]:.2f}-{row['ratio_min_max'][1]:.2f}]"
            inpainted = row['max_abs_diff_inpainted']
            print(f"{name:<20} {batch:>5} {row['seconds_per_image']:>7.3f} "
                  f"{row['ratio_to_baseline']:>6.2f} {spread:>13} {row['first_call_s']:>10.1f} "
                  f"{row['max_abs_diff_rgb']:>7} {row['p999_abs_diff_rgb']:>5.0f} "
                  f"{row['mean_abs_diff_rgb']:>5.2f} {'-' if inpainted is None else inpainted:>7} "
                  f"{row['mask_pixels_differing']:>7}")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--configs',
        nargs='+',
        default=None,
        help='configs to measure (default: every restoring configs/*.py)')
    parser.add_argument('--size', type=int, default=512, help='image side in pixels')
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 8])
    parser.add_argument('--runs', type=int, default=5, help='timed restores (rounds) per setting')
    parser.add_argument('--warmup', type=int, default=1, help='untimed restores first')
    parser.add_argument(
        '--switch-config',
        default=None,
        help='config of the switch comparison (default: the default config)')
    parser.add_argument(
        '--switches',
        nargs='+',
        default=['channels_last', 'bf16', 'compile'],
        choices=sorted(SWITCHES))
    parser.add_argument('--skip-configs', action='store_true', help='no per-config table')
    parser.add_argument('--skip-switches', action='store_true', help='no switch comparison')
    parser.add_argument(
        '--tile',
        type=int,
        default=None,
        help='also restore one --tile-image photo in tiles of this size')
    parser.add_argument('--tile-image', type=int, default=4096, help='side of the tiled photo')
    parser.add_argument('--tile-overlap', type=int, default=32)
    parser.add_argument('--threads', type=int, default=None, help='torch.set_num_threads')
    parser.add_argument('--timeout', type=float, default=3600, help='seconds per subprocess')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        job = json.loads(args.child)
        print(json.dumps(CHILDREN[job['kind']](job)))
        return

    started = time.time()
    load_before = os.getloadavg()
    common = dict(size=args.size, runs=args.runs, warmup=args.warmup, seed=args.seed)
    summary = dict(
        size=args.size,
        runs=args.runs,
        warmup=args.warmup,
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        cpu=cpu_name(),
        cpu_count=os.cpu_count(),
        date=time.strftime('%Y-%m-%d'),
        targets=dict(
            seconds_per_image=TARGET_SECONDS,
            peak_rss_mib=TARGET_RSS_MIB,
            tiled_peak_rss_mib=TARGET_TILED_RSS_MIB),
        anchors_s=ANCHORS)

    configs = [] if args.skip_configs else (args.configs or restoring_configs())
    rows = []
    for config in configs:
        for batch in args.batches:
            result = run_child(
                dict(kind='config', config=os.path.abspath(config), batch=batch, **common),
                args.threads, args.timeout)
            rows.append(dict(config=relative(config), batch=batch, **result))
            print(f'measured {relative(config)} batch {batch}', file=sys.stderr, flush=True)
    if rows:
        print_configs(rows, args.size)
    summary['configs'] = rows

    switch_config = args.switch_config or default_config()
    switches = {}
    if not args.skip_switches:
        for batch in args.batches:
            switches[batch] = run_child(
                dict(
                    kind='switches',
                    config=os.path.abspath(switch_config),
                    batch=batch,
                    switches=args.switches,
                    **common), args.threads, args.timeout)
        print_switches(relative(switch_config), switches)
    summary['switch_config'] = relative(switch_config)
    summary['switches'] = {str(batch): result for batch, result in switches.items()}

    tiled = None
    if args.tile:
        job = dict(
            kind='tile',
            config=os.path.abspath(default_config()),
            batch=1,
            size=args.tile_image,
            tile=args.tile,
            overlap=args.tile_overlap,
            seed=args.seed)
        tiled = run_child(job, args.threads, args.timeout)
        tiled.update(
            config=relative(default_config()),
            image=args.tile_image,
            tile=args.tile,
            overlap=args.tile_overlap)
        print(f"\nTiled: {args.tile_image}x{args.tile_image} in {args.tile} px tiles (overlap "
              f"{args.tile_overlap}), {tiled['config']}: " +
              (f"failed: {tiled['error']}" if 'error' in
               tiled else f"{tiled['tiles']} tiles, {tiled['seconds']:.1f} s, peak RSS "
               f"{tiled['peak_rss_mib']:.0f} MiB (target {TARGET_TILED_RSS_MIB} MiB)"))
    summary['tiled'] = tiled

    summary['load_average_before_after'] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    summary['wall_s'] = round(time.time() - started, 1)
    print(f"\nload average (1 min) before / after: {summary['load_average_before_after']}; "
          f"{summary['wall_s']} s in all")
    print(json.dumps(summary))


if __name__ == '__main__':
    main()
