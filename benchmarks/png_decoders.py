"""PNG decoders side by side: CPU time per decode of one 512x512 RGB photograph, as ratios.

The decoders ``restorekit.datasets.transforms.loading`` can use (libspng through
``imagecodecs``, its default; OpenCV, its fallback) next to the alternatives (PIL, libpng through
``imagecodecs``, ``torchvision.io.decode_png`` and ``pyspng``, where installed). One process, one
thread, interleaved in blocks (each block runs every decoder, in a rotated order), process CPU
time; the robust figure is the median over blocks of each decoder's time over PIL's. Every decoder's
pixels are checked against PIL's first.

    python benchmarks/png_decoders.py                  # 512x512, 10 blocks of 40 decodes
    python benchmarks/png_decoders.py --quick          # a smoke run

Prints a table and, last, one JSON line.
"""
import argparse
import io
import json
import platform
import statistics
import sys
import time
from typing import Callable, Dict, List

import numpy as np


def decoders(encoded: bytes) -> Dict[str, Callable[[], np.ndarray]]:
    """Name -> a call that decodes ``encoded`` to (H, W, 3) uint8; only what is installed."""
    import cv2
    from PIL import Image

    buffer = np.frombuffer(encoded, dtype=np.uint8)
    found: Dict[str, Callable[[], np.ndarray]] = {
        'PIL': lambda: np.asarray(Image.open(io.BytesIO(encoded)).convert('RGB')),
        'opencv (restorekit fallback)': lambda: cv2.imdecode(buffer, cv2.IMREAD_COLOR_RGB),
    }
    try:
        import imagecodecs
        found['libspng via imagecodecs (restorekit default)'] = \
            lambda: imagecodecs.spng_decode(buffer)
        found['libpng via imagecodecs'] = lambda: imagecodecs.png_decode(buffer)
    except ImportError:
        pass
    try:
        import torch
        from torchvision.io import decode_png
        tensor = torch.frombuffer(bytearray(encoded), dtype=torch.uint8)
        found['torchvision.io.decode_png'] = lambda: decode_png(tensor).permute(1, 2, 0).numpy()
    except ImportError:
        pass
    try:
        import pyspng
        found['pyspng'] = lambda: pyspng.load(encoded)
    except ImportError:
        pass
    return found


def measure(calls: Dict[str, Callable[[], np.ndarray]], blocks: int,
            per_block: int) -> Dict[str, List[float]]:
    """Seconds (process CPU time) per decode of each decoder, one figure per block."""
    names = list(calls)
    times: Dict[str, List[float]] = {name: [] for name in names}
    for block in range(blocks):
        shift = block % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.process_time()
            for _ in range(per_block):
                calls[name]()
            times[name].append((time.process_time() - start) / per_block)
    return times


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=int, default=512, help='side of the square photograph')
    parser.add_argument('--blocks', type=int, default=10)
    parser.add_argument('--per-block', type=int, default=40, help='decodes per block')
    parser.add_argument('--quick', action='store_true', help='smoke run: 2 blocks of 3 decodes')
    args = parser.parse_args(argv)
    if args.quick:
        args.blocks, args.per_block = 2, 3
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    import cv2
    import torch
    from PIL import Image
    from skimage import data

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    photo = np.array(Image.fromarray(data.astronaut()).resize((args.size, args.size)))
    stream = io.BytesIO()
    Image.fromarray(photo).save(stream, format='PNG')
    encoded = stream.getvalue()
    calls = decoders(encoded)
    for name, call in calls.items():
        if not np.array_equal(call(), photo):
            raise SystemExit(f'png_decoders: {name} decodes other pixels than PIL')
    times = measure(calls, args.blocks, args.per_block)
    reference = times['PIL']
    rows = {
        name: dict(ms=round(1000 * statistics.median(values), 3),
                   ratio_to_pil=round(statistics.median(
                       [value / base for value, base in zip(values, reference)]), 3))
        for name, values in times.items()
    }
    print(f'PNG decode of one {args.size}x{args.size} RGB photograph ({len(encoded)} bytes), '
          f'1 thread, {args.blocks} interleaved blocks of {args.per_block} decodes\n')
    print('| decoder | ms per decode (median block) | time / PIL (median block) |')
    print('| --- | ---: | ---: |')
    for name, row in sorted(rows.items(), key=lambda item: item[1]['ms']):
        print(f"| {name} | {row['ms']:.2f} | {row['ratio_to_pil']:.2f} |")
    sys.stdout.flush()
    print(json.dumps(dict(size=args.size, bytes=len(encoded), blocks=args.blocks,
                          per_block=args.per_block, decoders=rows,
                          python=platform.python_version())))


if __name__ == '__main__':
    main()
