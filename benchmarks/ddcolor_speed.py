"""Time restorekit's DDColor network: one image, eval mode, no autograd.

Usage (the figures in docs/benchmarks.md, section "DDColor")::

    python benchmarks/ddcolor_speed.py --size tiny --res 256 512
    python benchmarks/ddcolor_speed.py --size large --res 512 --bf16 --channels-last

Times ``DDColorNet`` on a normalised RGB image of ``res`` x ``res`` (the published pipeline runs
the network at 512 x 512 whatever the photo's size), with random weights (the time does not
depend on their values). Prints one line per setting and, last, one JSON line with the median
seconds per image and the peak memory of each setting (CUDA: ``max_memory_allocated``; CPU: the
peak resident set during the timed runs above the resident set before them, the peak mark reset
through ``/proc/self/clear_refs``: the activations' peak).

:func:`time_forward` is the timing method; the side-by-side comparison with the official network
(run outside this repository, see docs/benchmarks.md) interleaves it with the same calls on the
official model.
"""
import argparse
import json
import resource
import statistics
import sys
import time
from contextlib import nullcontext
from typing import Callable, Dict, List

import torch

from restorekit.models.colorizers.ddcolor import DDColorNet

from machine_info import cpu_name


def parse_args(argv: List[str] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', default='tiny', choices=['tiny', 'large'])
    parser.add_argument('--res', type=int, nargs='+', default=[256, 512],
                        help='image sides (multiples of 32)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch.set_num_threads (1: CPU time measures the work)')
    parser.add_argument('--repeats', type=int, default=3, help='timed runs after the warm-up')
    parser.add_argument('--warmup', type=int, default=1, help='untimed runs first')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--bf16', action='store_true', help='autocast to bfloat16')
    parser.add_argument('--channels-last', action='store_true', help='channels_last model/input')
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: 64 px, one repeat, a 2-layer colour decoder')
    return parser.parse_args(argv)


def _status_kib(field: str) -> int:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ``/proc/self/clear_refs``); False if unsupported."""
    try:
        with open('/proc/self/clear_refs', 'w') as handle:
            handle.write('5')
        return True
    except OSError:
        return False


def current_rss_bytes() -> int:
    """The resident set size now (Linux), else the peak so far."""
    try:
        return _status_kib('VmRSS') * 1024
    except (OSError, KeyError):
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """The process's peak resident set size since the last :func:`reset_peak_rss`."""
    try:
        return _status_kib('VmHWM') * 1024
    except (OSError, KeyError):
        scale = 1 if sys.platform == 'darwin' else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def time_forward(forward: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor,
                 repeats: int, warmup: int, bf16: bool = False) -> Dict[str, float]:
    """Median and minimum wall seconds of ``forward(image)`` over ``repeats`` runs after
    ``warmup``, the median CPU seconds of the process (``time.process_time``: on a shared
    machine the robust measure of the work done, with 1 thread), and the peak memory growth
    during the runs (bytes)."""
    device = image.device
    cuda = device.type == 'cuda'
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        reset_peak_rss()
        base = current_rss_bytes()
    times, cpu_times = [], []
    with torch.inference_mode(), autocast:
        for run in range(warmup + repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            forward(image)
            if cuda:
                torch.cuda.synchronize(device)
            if run >= warmup:
                times.append(time.perf_counter() - start)
                cpu_times.append(time.process_time() - cpu_start)
    peak = (torch.cuda.max_memory_allocated(device) if cuda else peak_rss_bytes()) - base
    return dict(seconds=statistics.median(times), min_seconds=min(times),
                cpu_seconds=statistics.median(cpu_times), peak_bytes=peak)


def main(argv: List[str] = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    layers = 2 if args.quick else 9
    resolutions = [64] if args.quick else args.res
    repeats, warmup = (1, 0) if args.quick else (args.repeats, args.warmup)
    net = DDColorNet(args.size, dec_layers=layers).eval().to(device)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    net = net.to(memory_format=memory_format)
    results = []
    for res in resolutions:
        image = DDColorNet.normalize(torch.rand(1, 3, res, res,
                                                generator=torch.Generator().manual_seed(res)))
        image = image.to(device).contiguous(memory_format=memory_format)
        timing = time_forward(net, image, repeats, warmup, args.bf16)
        results.append(dict(res=res, seconds=round(timing['seconds'], 3),
                            min_seconds=round(timing['min_seconds'], 3),
                            cpu_seconds=round(timing['cpu_seconds'], 3),
                            peak_mib=round(timing['peak_bytes'] / 2**20, 1)))
        print(f"DDColor-{args.size} {res}x{res} on {args.device} ({args.threads} threads"
              f"{', bf16' if args.bf16 else ''}{', channels_last' if args.channels_last else ''}"
              f"): {timing['seconds']:.3f} s ({timing['cpu_seconds']:.3f} s CPU), "
              f"peak +{timing['peak_bytes'] / 2**20:.0f} MiB")
    print(json.dumps(dict(size=args.size, device=args.device, threads=args.threads,
                          bf16=args.bf16, channels_last=args.channels_last,
                          dec_layers=layers, results=results, torch=torch.__version__,
                          cpu=cpu_name())))


if __name__ == '__main__':
    main()
