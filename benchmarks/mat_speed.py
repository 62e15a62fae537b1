"""Time MAT's inference on the CPU: eval mode, no autograd, batches of RGB images.

Usage (restorekit's side of the side-by-side run in docs/benchmarks.md, section "MAT: the
original and restorekit side by side")::

    python benchmarks/mat_speed.py                      # mat_base RGB, 512x512, batch 1 and 4
    python benchmarks/mat_speed.py --preset mat_tiny --size 256 --batch 1 --threads 1

The model is the published generator's layout (``MAT(preset='mat_base', in_channels=3)``) with
random weights; the forward pass is :meth:`MAT.synthesize` with constant noise, the computation
the original's ``G(img, mask, z, None, noise_mode='const')`` performs. Prints a table of the timed
repetitions per batch size and, last, one JSON line with the median seconds per batch.
"""
import argparse
import json
import statistics
import time

import torch

from restorekit.models.inpainters.mat import MAT, MAT_PRESETS

from machine_info import cpu_name


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--preset', default='mat_base', choices=sorted(MAT_PRESETS))
    parser.add_argument('--size', type=int, default=512, help='image side in pixels')
    parser.add_argument('--batch', type=int, nargs='+', default=[1, 4], help='batch sizes')
    parser.add_argument('--channels', type=int, default=3, choices=[1, 3], help='in_channels')
    parser.add_argument('--threads', type=int, default=2, help='torch.set_num_threads')
    parser.add_argument('--repeats', type=int, default=5, help='timed runs after the warm-up')
    parser.add_argument('--warmup', type=int, default=1, help='untimed runs first')
    parser.add_argument('--seed', type=int, default=0, help='seed of the model and the noise')
    parser.add_argument('--device', default='cpu', help="'cpu' (the recorded figure) or 'cuda'")
    return parser.parse_args()


def benchmark(args: argparse.Namespace) -> dict:
    """Build the model and time ``args.repeats`` forward passes per batch size."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # weights only; the forward pass gets its own generator
    device = torch.device(args.device)
    model = MAT(preset=args.preset, in_channels=args.channels).eval().to(device)
    params = sum(p.numel() for p in model.parameters())
    side = max(args.size, model.resolution)  # synthesize() takes at least the nominal size
    side = -(-side // model.size_divisor) * model.size_divisor
    times = {}
    with torch.inference_mode():
        for batch in args.batch:
            inputs = torch.Generator().manual_seed(args.seed)
            image = torch.rand(batch, args.channels, side, side, generator=inputs) * 2 - 1
            known = torch.ones(batch, 1, side, side)
            known[..., side // 4:side * 3 // 4, side // 3:side * 2 // 3] = 0
            z = torch.randn(batch, model.mapping.z_dim, generator=inputs)
            image, known, z = image.to(device), known.to(device), z.to(device)
            times[batch] = []
            for run in range(args.warmup + args.repeats):
                start = time.perf_counter()
                model.synthesize(image, known, z, torch.Generator().manual_seed(args.seed),
                                 noise_mode='const')
                if device.type == 'cuda':
                    torch.cuda.synchronize(device)
                if run >= args.warmup:
                    times[batch].append(time.perf_counter() - start)
    first = args.batch[0]
    return dict(
        preset=args.preset,
        size=side,
        channels=args.channels,
        threads=args.threads,
        device=args.device,
        seconds_per_image=round(statistics.median(times[first]) / first, 3),
        seconds_per_batch={str(b): round(statistics.median(t), 3) for b, t in times.items()},
        params=params,
        repeats=args.repeats,
        torch=torch.__version__,
        cpu=cpu_name(),
        times={str(b): [round(x, 3) for x in t] for b, t in times.items()})


def main() -> None:
    args = parse_args()
    result = benchmark(args)
    print(f"MAT inference on {result['device']}, preset {result['preset']}, "
          f"{result['size']}x{result['size']}, {result['channels']} channels, "
          f"{result['threads']} CPU threads, {result['params'] / 1e6:.1f}M parameters")
    print(f"{'batch':>6} | {'run':>4} | {'seconds':>8}")
    print('-' * 24)
    for batch, runs in result['times'].items():
        for index, seconds in enumerate(runs, 1):
            print(f'{batch:>6} | {index:>4} | {seconds:>8.3f}')
        print(f"{batch:>6} | {'med':>4} | {result['seconds_per_batch'][batch]:>8.3f}")
    print(json.dumps({key: value for key, value in result.items() if key != 'times'}))


if __name__ == '__main__':
    main()
