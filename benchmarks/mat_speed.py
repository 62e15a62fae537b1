"""Time MAT's inference on the CPU: one grey image, eval mode, no autograd.

Usage (the figure recorded in docs/mat.md)::

    python benchmarks/mat_speed.py                      # mat_base, 512x512, 2 threads
    python benchmarks/mat_speed.py --preset mat_tiny --size 256 --threads 1

Prints a table of the timed repetitions and, last, one JSON line with the seconds per image
(median of the repetitions), the parameter count and the settings. The reference point is the
issue's anchor: the original MAT with its pure-PyTorch fallback ops takes about 7.2 s per 512x512
image on 2 CPU cores.
"""
import argparse
import json
import statistics
import time

import torch

from restorekit.models.inpainters.mat import MAT, MAT_PRESETS

from machine_info import cpu_name

ORIGINAL_SECONDS_PER_512_IMAGE = 7.2


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--preset', default='mat_base', choices=sorted(MAT_PRESETS))
    parser.add_argument('--size', type=int, default=512, help='image side in pixels')
    parser.add_argument('--threads', type=int, default=2, help='torch.set_num_threads')
    parser.add_argument('--repeats', type=int, default=5, help='timed runs after the warm-up')
    parser.add_argument('--warmup', type=int, default=1, help='untimed runs first')
    parser.add_argument('--seed', type=int, default=0, help='seed of the model and the noise')
    parser.add_argument('--device', default='cpu', help="'cpu' (the recorded figure) or 'cuda'")
    return parser.parse_args()


def benchmark(args: argparse.Namespace) -> dict:
    """Build the model and time ``args.repeats`` forward passes; return the summary."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # weights only; the forward pass gets its own generator
    device = torch.device(args.device)
    model = MAT(preset=args.preset, in_channels=1).eval().to(device)
    params = sum(p.numel() for p in model.parameters())
    inputs = torch.Generator().manual_seed(args.seed)
    image = torch.rand(1, 1, args.size, args.size, generator=inputs) * 2 - 1
    mask = torch.zeros(1, 1, args.size, args.size)
    mask[..., args.size // 4:args.size * 3 // 4, args.size // 3:args.size * 2 // 3] = 1
    image, mask = image.to(device), mask.to(device)

    times = []
    with torch.inference_mode():
        for run in range(args.warmup + args.repeats):
            start = time.perf_counter()
            model(image, mask, generator=torch.Generator().manual_seed(args.seed))
            if device.type == 'cuda':
                torch.cuda.synchronize(device)
            elapsed = time.perf_counter() - start
            if run >= args.warmup:
                times.append(elapsed)
    return dict(
        preset=args.preset,
        size=args.size,
        threads=args.threads,
        device=args.device,
        seconds_per_image=round(statistics.median(times), 3),
        min_seconds=round(min(times), 3),
        params=params,
        repeats=args.repeats,
        torch=torch.__version__,
        cpu=cpu_name(),
        times=[round(t, 3) for t in times])


def main() -> None:
    args = parse_args()
    result = benchmark(args)
    print(f"MAT inference on {result['device']}, preset {result['preset']}, "
          f"{result['size']}x{result['size']} grey, {result['threads']} CPU threads, "
          f"{result['params'] / 1e6:.1f}M parameters")
    print(f"{'run':>6} | {'seconds':>8}")
    print('-' * 17)
    for index, seconds in enumerate(result['times'], 1):
        print(f'{index:>6} | {seconds:>8.3f}')
    print('-' * 17)
    print(f"{'median':>6} | {result['seconds_per_image']:>8.3f}")
    if (result['preset'], result['size'], result['threads'], result['device']) == \
            ('mat_base', 512, 2, 'cpu'):
        ratio = ORIGINAL_SECONDS_PER_512_IMAGE / result['seconds_per_image']
        print(f'original MAT anchor: {ORIGINAL_SECONDS_PER_512_IMAGE:.1f} s -> {ratio:.2f}x')
    print(json.dumps({key: value for key, value in result.items() if key != 'times'}))


if __name__ == '__main__':
    main()
