"""Hole-ratio statistics of the mask generators, for the table in docs/masks.md.

Draws ``--draws`` masks of ``--height`` x ``--width`` from each generator (one
``numpy.random.default_rng(seed)`` per generator, so a row does not depend on the others), prints a
Markdown table of the hole ratio (fraction of damaged pixels) and the time per mask, and ends with
one JSON line holding the same figures.

    python benchmarks/mask_statistics.py --height 512 --width 512 --draws 500 --seed 0
"""
import argparse
import json
import time
from typing import Dict, List, Tuple

import numpy as np

from restorekit.registry import MASK_GENERATORS

#: (row name, config) of the generators measured.
GENERATORS: List[Tuple[str, dict]] = [
    ('PolygonMask', dict(type='PolygonMask')),
    ('PolygonMask random', dict(type='PolygonMask', kind_weights=dict(random=1))),
    ('PolygonMask star', dict(type='PolygonMask', kind_weights=dict(star=1))),
    ('PolygonMask convex', dict(type='PolygonMask', kind_weights=dict(convex=1))),
    ('BrushStrokeMask', dict(type='BrushStrokeMask')),
    ('BoxMask', dict(type='BoxMask')),
    ('LargeMask', dict(type='LargeMask')),
    ('LargeMask strokes', dict(type='LargeMask', stroke_probability=1.0)),
    ('LargeMask boxes', dict(type='LargeMask', stroke_probability=0.0)),
    ('MixedMask 2:1:1', dict(type='MixedMask',
                             generators=[dict(type='PolygonMask'), dict(type='BrushStrokeMask'),
                                         dict(type='LargeMask')],
                             weights=[2, 1, 1])),
]


def measure(config: dict, height: int, width: int, draws: int, seed: int) -> Dict[str, float]:
    """Hole-ratio mean, std, percentiles and milliseconds per mask of one generator."""
    generator = MASK_GENERATORS.build(dict(config))
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    ratios = np.array([generator(height, width, rng).mean() for _ in range(draws)])
    elapsed = time.perf_counter() - start
    p5, p50, p95 = np.percentile(ratios, [5, 50, 95])
    return dict(mean=float(ratios.mean()), std=float(ratios.std()), p5=float(p5),
                median=float(p50), p95=float(p95), min=float(ratios.min()),
                max=float(ratios.max()), ms_per_mask=1000 * elapsed / draws)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--height', type=int, default=512)
    parser.add_argument('--width', type=int, default=512)
    parser.add_argument('--draws', type=int, default=500)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()

    results = {name: measure(config, args.height, args.width, args.draws, args.seed)
               for name, config in GENERATORS}
    print(f'Hole ratio over {args.draws} masks of {args.height}x{args.width} (seed {args.seed})\n')
    print('| generator | mean | std | 5th pct | median | 95th pct | min | max | ms/mask |')
    print('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
    for name, row in results.items():
        figures = ' | '.join(f'{row[key]:.3f}' for key in
                             ('mean', 'std', 'p5', 'median', 'p95', 'min', 'max'))
        print(f"| {name} | {figures} | {row['ms_per_mask']:.2f} |")
    print(json.dumps(dict(height=args.height, width=args.width, draws=args.draws, seed=args.seed,
                          results=results)))


if __name__ == '__main__':
    main()
