"""tools/restore.py against hostile inputs and outputs (issue 14): every case ends with a message
that names the file, the documented exit status, the other images restored and the summary printed.

Every hostile input is built here, small on disk: the PNG bombs are 110 KB and 140 KB files that
declare 900 and 144 million pixels. Read-only and full disks are simulated in-process (an
``OSError`` with ``EROFS`` / ``ENOSPC`` from the functions that create or write), so the tests need
no root tricks and behave the same as root and as a user.
"""
import errno
import os
import os.path as osp
import struct
import time
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

import restore  # tools/ is on sys.path (tests/conftest.py)

TINY_CONFIG = """
def tiny_unet(**kwargs):
    return dict(type='SmpUNet', encoder_name='tu-mobilenetv3_small_050', encoder_depth=3,
                decoder_channels=(8, 8, 8), **kwargs)

model = dict(
    type='Restorer',
    data_preprocessor=dict(type='RestorationDataPreprocessor', pad_size_divisor=8),
    inpainter=tiny_unet(use_mask=True, residual=True),
    colorizer=tiny_unet(out_channels=3, activation='tanh'))
"""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def png_bomb(width: int, height: int, bit_depth: int = 1) -> bytes:
    """A valid grey PNG of zeros: tiny on disk, ``width x height`` pixels once decoded."""
    compressor = zlib.compressobj(9)
    row = bytes(1 + (width * bit_depth + 7) // 8)  # filter byte + the row's bytes
    data = b''.join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack('>IIBBBBB', width, height, bit_depth, 0, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', header) + _chunk(b'IDAT', data) +
            _chunk(b'IEND', b''))


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp('config') / 'tiny.py'
    path.write_text(TINY_CONFIG)
    return str(path)


@pytest.fixture(scope='module')
def bombs(tmp_path_factory):
    """``{'pil': 30000 x 30000 1-bit PNG, 'spng': 12000 x 12000 8-bit grey PNG}`` as bytes.

    The 1-bit bomb goes to PIL; the 8-bit grey one is a file of the libspng fast path, over the
    default limit (100 million) and under PIL's own (179 million): before the fix it was decoded
    whole (144 MB) before anything complained.
    """
    made = {'pil': png_bomb(30000, 30000, 1), 'spng': png_bomb(12000, 12000, 8)}
    assert all(len(data) < 1_000_000 for data in made.values())
    return made


def _photo(seed: int, height: int = 24, width: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    gray = rng.integers(0, 200, (height, width)).astype(np.uint8)
    gray[4:12, 6:20] = 200
    return gray


def _good_images(folder, names=('a_good', 'z_good')):
    folder.mkdir(exist_ok=True)
    for seed, name in enumerate(names):
        Image.fromarray(_photo(seed)).save(folder / f'{name}.png')


def _run(config, *args):
    return restore.main([config, 'none', *map(str, args), '--quiet'])


def _failures(printed: str) -> dict:
    """``{label: reason}`` of the summary's ``FAILED`` lines."""
    lines = [line.strip()[len('FAILED '):] for line in printed.splitlines()
             if line.strip().startswith('FAILED ')]
    return dict(line.split(': ', 1) for line in lines)


# --- 1. decompression bombs -----------------------------------------------------------------------
@pytest.mark.parametrize('kind', ['pil', 'spng'])
def test_a_png_bomb_in_a_folder_fails_alone_from_its_header(config, bombs, tmp_path, capsys,
                                                            monkeypatch, kind):
    from restorekit.datasets.transforms import loading

    folder = tmp_path / 'in'
    _good_images(folder)
    (folder / 'm_bomb.png').write_bytes(bombs[kind])
    # No decoder may run on the bomb: libspng would allocate 144 MB, PIL 900 MB.
    real_spng = loading._spng_decode()

    def guarded_spng(encoded, *args, **kwargs):
        assert len(encoded) != len(bombs[kind]), 'the bomb reached libspng'
        return real_spng(encoded, *args, **kwargs)

    monkeypatch.setattr(loading, '_spng_decode', lambda: guarded_spng if real_spng else None)
    out = tmp_path / 'out'
    assert _run(config, folder, out) == restore.EXIT_SOME_FAILED
    printed = capsys.readouterr().out
    assert sorted(os.listdir(out)) == ['a_good.png', 'z_good.png']
    assert '2 restored' in printed and '1 failed (of 3)' in printed
    reason = _failures(printed)[str(folder / 'm_bomb.png')]
    pixels = '900,000,000' if kind == 'pil' else '144,000,000'
    assert reason.startswith('cannot read image: ') and pixels in reason
    assert 'over the limit of 100,000,000' in reason


def test_a_png_bomb_in_a_zip_is_named_by_its_archive_path(config, bombs, tmp_path, capsys):
    archive = tmp_path / 'inputs.zip'
    with zipfile.ZipFile(archive, 'w', zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr('photos/bomb.png', bombs['pil'])
        zipped.writestr('photos/empty.png', b'')
        for seed in range(2):
            image = Image.fromarray(_photo(seed))
            with zipped.open(f'photos/good{seed}.png', 'w') as member:
                image.save(member, format='PNG')
    out = tmp_path / 'out'
    assert _run(config, archive, out, '--zip', tmp_path / 'sub.zip') == restore.EXIT_SOME_FAILED
    printed = capsys.readouterr().out
    failures = _failures(printed)
    assert set(failures) == {f'{archive}:photos/bomb.png', f'{archive}:photos/empty.png'}
    assert 'over the limit' in failures[f'{archive}:photos/bomb.png']
    assert 'restorekit_restore_' not in printed  # never the temporary extraction path
    assert sorted(os.listdir(out)) == ['good0.png', 'good1.png']
    with zipfile.ZipFile(tmp_path / 'sub.zip') as zipped:
        assert sorted(zipped.namelist()) == ['good0.png', 'good1.png']


def test_max_pixels_option_sets_the_limit(config, tmp_path, capsys):
    folder = tmp_path / 'in'
    _good_images(folder)  # 24 x 32 = 768 pixels each
    Image.fromarray(_photo(5, 10, 10)).save(folder / 'small.png')
    out = tmp_path / 'out'
    assert _run(config, folder, out, '--max-pixels', '500') == restore.EXIT_SOME_FAILED
    failures = _failures(capsys.readouterr().out)
    assert sorted(failures) == [str(folder / 'a_good.png'), str(folder / 'z_good.png')]
    assert 'over the limit of 500' in failures[str(folder / 'a_good.png')]
    assert os.listdir(out) == ['small.png']


# --- 2. zip bombs ---------------------------------------------------------------------------------
def _zip_of_zeros(path, sizes):
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as zipped:
        for name, size in sizes.items():
            zipped.writestr(name, bytes(size))


def test_a_zip_member_over_the_member_cap_is_not_extracted(config, tmp_path, capsys,
                                                           monkeypatch):
    from restorekit.apis import input_sources

    archive = tmp_path / 'bomb.zip'
    _zip_of_zeros(archive, {'deep/big.png': 3 * 2**20})
    with zipfile.ZipFile(archive, 'a') as zipped:
        buffer = Image.fromarray(_photo(0))
        with zipped.open('ok.png', 'w') as member:
            buffer.save(member, format='PNG')
    inflated = []
    original = input_sources.InputSet._inflate
    monkeypatch.setattr(input_sources.InputSet, '_inflate',
                        lambda self, item, target: (inflated.append(item.member),
                                                    original(self, item, target))[1])
    out = tmp_path / 'out'
    assert _run(config, archive, out, '--zip-member-limit', '1M') == restore.EXIT_SOME_FAILED
    failures = _failures(capsys.readouterr().out)
    reason = failures[f'{archive}:deep/big.png']
    assert '3,145,728 bytes uncompressed' in reason and 'per-member cap of 1,048,576' in reason
    assert inflated == ['ok.png']  # refused from its declared size, nothing inflated
    assert os.listdir(out) == ['ok.png']


def test_a_member_whose_declared_size_lies_is_stopped_while_streaming(tmp_path):
    from restorekit.apis.input_sources import InputReadError, InputSet

    archive = tmp_path / 'liar.zip'
    _zip_of_zeros(archive, {'liar.png': 3 * 2**20})
    with InputSet(str(archive), str(tmp_path), max_member_bytes=2**20) as inputs:
        (item, ) = inputs.items
        item.error = ''  # as if the central directory had declared a small size
        with pytest.raises(InputReadError, match=r'liar.zip:liar.png: more than 1,048,576 bytes'):
            with inputs.local_file(item):
                pass
        assert inputs.inflated_bytes <= 2**20 + 2**20  # stopped within one chunk of the cap
    assert os.listdir(tmp_path) == ['liar.zip']  # the partial member was removed


def test_the_total_cap_stops_extraction_and_names_each_member(config, tmp_path, capsys):
    archive = tmp_path / 'many.zip'
    with zipfile.ZipFile(archive, 'w', zipfile.ZIP_DEFLATED) as zipped:
        for seed in range(4):
            image = Image.fromarray(np.random.default_rng(seed).integers(
                0, 256, (64, 64), dtype=np.uint8))
            with zipped.open(f'n{seed}.png', 'w') as member:
                image.save(member, format='PNG', compress_level=0)
    size = zipfile.ZipFile(archive).getinfo('n0.png').file_size
    out = tmp_path / 'out'
    limit = str(int(2.5 * size))
    assert _run(config, archive, out, '--zip-total-limit', limit) == restore.EXIT_SOME_FAILED
    failures = _failures(capsys.readouterr().out)
    assert sorted(failures) == [f'{archive}:n2.png', f'{archive}:n3.png']
    assert all('total cap' in reason for reason in failures.values())
    assert sorted(os.listdir(out)) == ['n0.png', 'n1.png']


def test_zip_caps_are_usage_checked(config, tmp_path, capsys):
    assert _run(config, tmp_path, tmp_path / 'o', '--zip-member-limit', 'lots') == 2
    assert 'not a size' in capsys.readouterr().err


# --- 3. unreadable folder entries -----------------------------------------------------------------
def test_unreadable_folder_entries_are_listed_as_failures(config, tmp_path, capsys, monkeypatch):
    folder = tmp_path / 'in'
    _good_images(folder)
    os.symlink('loop_b.png', folder / 'loop_a.png')
    os.symlink('loop_a.png', folder / 'loop_b.png')
    os.symlink(tmp_path / 'gone.png', folder / 'broken.png')
    os.mkfifo(folder / 'fifo.png')
    Image.fromarray(_photo(3)).save(folder / 'secret.png')
    (folder / 'folder.png').mkdir()  # a sub-folder named like an image: not searched
    real_access = os.access
    # Root reads everything: deny secret.png through os.access, as a user without permission
    # would see it.
    monkeypatch.setattr(os, 'access', lambda path, mode, **kw: False if str(path).endswith(
        'secret.png') else real_access(path, mode, **kw))
    out = tmp_path / 'out'
    assert _run(config, folder, out) == restore.EXIT_SOME_FAILED
    printed = capsys.readouterr().out
    failures = _failures(printed)
    assert failures == {
        str(folder / 'broken.png'):
            f"broken symbolic link (its target '{tmp_path / 'gone.png'}' does not exist)",
        str(folder / 'fifo.png'): 'not a regular file (a FIFO, socket or device)',
        str(folder / 'loop_a.png'): 'symbolic link loop (too many levels of symbolic links)',
        str(folder / 'loop_b.png'): 'symbolic link loop (too many levels of symbolic links)',
        str(folder / 'secret.png'): 'permission denied',
    }
    assert '2 restored' in printed and '5 failed (of 7)' in printed
    assert sorted(os.listdir(out)) == ['a_good.png', 'z_good.png']


# --- 4. unwritable outputs ------------------------------------------------------------------------
def _refuse(monkeypatch, module, name, code, when=lambda path: True):
    """Make ``module.name(path, ...)`` raise ``OSError(code)`` for the paths ``when`` picks."""
    real = getattr(module, name)

    def refusing(path, *args, **kwargs):
        if when(os.fspath(path)):
            raise OSError(code, os.strerror(code), os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(module, name, refusing)


def test_output_on_a_read_only_file_system_is_a_usage_error_before_the_model(
        config, tmp_path, capsys, monkeypatch):
    folder = tmp_path / 'in'
    _good_images(folder)
    monkeypatch.setattr(restore, '_setup', lambda args: pytest.fail('the model was built'))
    readonly = tmp_path / 'readonly'
    _refuse(monkeypatch, os, 'mkdir', errno.EROFS, lambda path: path.startswith(str(readonly)))
    assert _run(config, folder, readonly / 'out') == restore.EXIT_USAGE
    assert (f'cannot create OUTPUT {readonly / "out"}: read-only file system'
            in capsys.readouterr().err)
    assert not readonly.exists()


def test_output_that_exists_but_cannot_be_written_is_a_usage_error(config, tmp_path, capsys,
                                                                   monkeypatch):
    folder, out = tmp_path / 'in', tmp_path / 'out'
    _good_images(folder)
    out.mkdir()
    monkeypatch.setattr(restore, '_setup', lambda args: pytest.fail('the model was built'))
    _refuse(monkeypatch, os, 'open', errno.ENOSPC, lambda path: path.startswith(str(out)))
    assert _run(config, folder, out) == restore.EXIT_USAGE
    assert f'cannot write to OUTPUT {out}: no space left on the device' in capsys.readouterr().err
    assert os.listdir(out) == []


def test_output_below_a_file_or_in_sys_is_a_usage_error(config, tmp_path, capsys):
    folder = tmp_path / 'in'
    _good_images(folder)
    (tmp_path / 'a_file').write_text('x')
    assert _run(config, folder, tmp_path / 'a_file' / 'out') == restore.EXIT_USAGE
    assert 'cannot create OUTPUT' in capsys.readouterr().err
    if osp.isdir('/sys/kernel'):  # sysfs refuses new folders, even to root
        assert _run(config, folder, '/sys/restorekit_out') == restore.EXIT_USAGE
        assert 'cannot create OUTPUT /sys/restorekit_out' in capsys.readouterr().err


def test_zip_on_a_read_only_folder_is_a_usage_error(config, tmp_path, capsys, monkeypatch):
    folder = tmp_path / 'in'
    _good_images(folder)
    readonly = tmp_path / 'readonly'
    _refuse(monkeypatch, os, 'mkdir', errno.EROFS, lambda path: path.startswith(str(readonly)))
    assert _run(config, folder, tmp_path / 'out', '--zip', readonly / 'sub.zip') == 2
    assert 'cannot create --zip folder' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()  # the OUTPUT it had created is removed again


def test_zip_failing_at_the_end_still_prints_the_summary(config, tmp_path, capsys, monkeypatch):
    from restorekit.apis import image_io

    folder, out, archive = tmp_path / 'in', tmp_path / 'out', tmp_path / 'sub.zip'
    _good_images(folder)
    real = image_io.atomic_write

    def full_for_zips(path):
        if os.fspath(path).endswith('.zip'):
            raise OSError(errno.ENOSPC, 'No space left on device', os.fspath(path))
        return real(path)

    monkeypatch.setattr(image_io, 'atomic_write', full_for_zips)
    assert _run(config, folder, out, '--zip', archive) == restore.EXIT_SOME_FAILED
    printed = capsys.readouterr().out
    assert '2 restored' in printed and '0 failed' in printed
    assert f'submission archive NOT written: {archive}: no space left on the device' in printed
    assert sorted(os.listdir(out)) == ['a_good.png', 'z_good.png'] and not archive.exists()


def test_a_full_disk_for_comparisons_counts_exactly_what_exists(config, tmp_path, capsys,
                                                                monkeypatch):
    from restorekit.apis import image_io

    folder, out = tmp_path / 'in', tmp_path / 'out'
    _good_images(folder, ('a', 'b', 'c'))
    real = image_io.atomic_write

    def full_disk(path):
        path = os.fspath(path)
        if f'{os.sep}compare{os.sep}' in path or path.endswith(f'{os.sep}c.png'):
            raise OSError(errno.ENOSPC, 'No space left on device', path)
        return real(path)

    monkeypatch.setattr(image_io, 'atomic_write', full_disk)
    status = _run(config, folder, out, '--compare', '--save-mask', '--zip', tmp_path / 's.zip')
    assert status == restore.EXIT_SOME_FAILED
    printed = capsys.readouterr().out
    assert '2 restored into' in printed
    assert '(2 without all their extra outputs), 1 failed (of 3)' in printed
    assert 'cannot write' in _failures(printed)[str(folder / 'c.png')]
    incomplete = [line for line in printed.splitlines() if 'INCOMPLETE' in line]
    assert len(incomplete) == 2 and all('compare.png not written: no space left' in line
                                        for line in incomplete)
    assert sorted(os.listdir(out)) == ['a.png', 'b.png', 'compare', 'masks']
    assert sorted(os.listdir(out / 'masks')) == ['a_mask.png', 'b_mask.png']
    assert os.listdir(out / 'compare') == []
    with zipfile.ZipFile(tmp_path / 's.zip') as zipped:
        assert sorted(zipped.namelist()) == ['a.png', 'b.png']


def test_temporary_files_of_a_killed_run_are_cleaned_or_reported(config, tmp_path, capsys):
    folder, out = tmp_path / 'in', tmp_path / 'out'
    _good_images(folder)
    out.mkdir()
    stale, young = out / '.a_good.png.0123456789ab.tmp', out / '.z_good.png.ba9876543210.tmp'
    stale.write_bytes(b'half a png')
    young.write_bytes(b'being written')
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    (out / '.keep.tmp').write_text('not ours: kept')
    assert _run(config, folder, out) == restore.EXIT_OK
    printed = capsys.readouterr().out
    assert not stale.exists() and young.exists() and (out / '.keep.tmp').exists()
    assert ('removed 1 temporary file(s) left by an interrupted earlier run: '
            '.a_good.png.0123456789ab.tmp') in printed
    assert 'left 1 temporary file(s) younger than 60 s' in printed


# --- 9. smaller ones ------------------------------------------------------------------------------
def test_a_multi_page_tiff_says_only_page_one_was_restored(config, tmp_path, capsys):
    folder, out = tmp_path / 'in', tmp_path / 'out'
    folder.mkdir()
    pages = [Image.fromarray(_photo(seed)) for seed in range(3)]
    pages[0].save(folder / 'scan.tif', save_all=True, append_images=pages[1:])
    assert _run(config, folder, out) == restore.EXIT_OK  # restored: a note, not a failure
    printed = capsys.readouterr().out
    assert f'NOTE {folder / "scan.tif"}: 3 pages (a multi-page file): only page 1 was restored' \
        in printed
    assert os.listdir(out) == ['scan.png']


# --- tools/test.py: the datasets apply the same limit ---------------------------------------------
def test_tools_test_skips_an_image_over_max_pixels_and_reports_it(tiny_dacon_root, tmp_path):
    """A test image over ``--max-pixels`` is a bad input: with ``bad_inputs='skip'`` the header
    pre-check leaves it out by name, the others are scored, and the limit does not outlive the
    run."""
    import csv
    import shutil

    import test as test_tool  # tools/test.py (tools/ comes first on sys.path)
    import train
    from mmengine.config import Config

    from config_utils import shrink_config
    from restorekit.datasets.transforms.image_header import MAX_PIXELS_ENV

    data_root = str(tmp_path / 'data')
    shutil.copytree(tiny_dacon_root, data_root)
    with open(osp.join(data_root, 'test.csv'), newline='') as file:
        row = next(csv.DictReader(file))
    bomb = osp.normpath(osp.join(data_root, row['input_image_path']))
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg = Config.fromfile(osp.join(root, 'configs/unet_two_stage_demo.py'))
    cfg = shrink_config(cfg, data_root, str(tmp_path / 'work'), iters=1, num_eval=3)
    cfg.test_dataloader.dataset.update(bad_inputs='skip', precheck='header')
    config = str(tmp_path / 'small.py')
    cfg.dump(config)
    train.main([config])
    Image.new('L', (3000, 2000)).save(bomb)  # 6 million pixels, 6 KB
    metrics = test_tool.main([config, str(tmp_path / 'work' / 'iter_1.pth'), '--max-pixels',
                              '1000000', '--work-dir', str(tmp_path / 'test_work')])
    assert 0.0 <= metrics['dacon/score'] <= 1.0
    assert MAX_PIXELS_ENV not in os.environ
    log = open(next((tmp_path / 'test_work').rglob('*.log'))).read()
    assert f'{bomb}: not a readable image (3000 x 2000 = 6,000,000 pixels is over the limit ' \
        'of 1,000,000' in log
    assert 'test: 1 bad input file(s) were skipped (1 by the pre-check, 0 while loading)' in log
