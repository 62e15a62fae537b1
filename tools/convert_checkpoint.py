"""Convert a published checkpoint (MAT, DDColor) into a restorekit checkpoint.

    python tools/convert_checkpoint.py SOURCE OUTPUT.pth [--format mat|ddcolor]

The format is recognised from the file's content. Nothing embedded in SOURCE is executed: pickles
are read with restricted unpicklers that know only tensor types. OUTPUT is written atomically and
loads with ``load_from``, ``stage_init`` or an ``init_cfg`` of type ``Pretrained``. See
``docs/pretrained.md``.

Exit status: 0 on success, 2 when SOURCE is missing, unreadable or of an unknown format.
"""
import argparse
import sys
from typing import List, Optional

EXIT_OK, EXIT_USAGE = 0, 2


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('source', help='the published checkpoint file')
    parser.add_argument('output', help='the restorekit checkpoint to write (.pth)')
    parser.add_argument('--format', default=None,
                        help='the source format (default: recognised from the content)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import torch

    from restorekit.converters import convert_file
    from restorekit.apis.image_io import atomic_write
    try:
        converted = convert_file(args.source, args.format)
    except (OSError, ValueError) as err:
        print(f'convert_checkpoint: {err}', file=sys.stderr)
        return EXIT_USAGE
    with atomic_write(args.output) as handle:
        torch.save(converted.checkpoint(), handle)
    print(f'convert_checkpoint: wrote {args.output}: {len(converted.state_dict)} tensors for the '
          f'{converted.stage} ({converted.model}), from {converted.meta}')
    return EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
