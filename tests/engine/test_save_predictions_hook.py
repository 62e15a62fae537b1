"""SavePredictionsHook (tools/test.py --out) on a full disk and after a killed run."""
import errno
import os
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement
from PIL import Image

from restorekit.apis import image_io
from restorekit.engine.hooks import SavePredictionsHook


class _Logger:

    def __init__(self):
        self.errors, self.warnings = [], []

    def error(self, message):
        self.errors.append(message)

    def warning(self, message):
        self.warnings.append(message)


def _sample(name):
    sample = BaseDataElement(metainfo=dict(img_path=f'/inputs/{name}.png'))
    sample.pred_img = torch.zeros(3, 4, 5, dtype=torch.uint8)
    return sample


def test_a_full_disk_fails_each_png_by_name_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    out = tmp_path / 'out'
    out.mkdir()
    stale = out / '.old.png.0123456789ab.tmp'
    stale.write_bytes(b'x')
    os.utime(stale, (time.time() - 3600, ) * 2)
    runner = SimpleNamespace(logger=_Logger())
    hook = SavePredictionsHook(str(out))
    hook.before_test(runner)
    assert not stale.exists() and 'removed 1 temporary file(s)' in runner.logger.warnings[0]
    real = image_io.atomic_write

    def full(path):
        if 'b.png' in os.fspath(path):
            raise OSError(errno.ENOSPC, 'No space left on device', os.fspath(path))
        return real(path)

    monkeypatch.setattr(image_io, 'atomic_write', full)
    hook.after_test_iter(runner, 0, outputs=[_sample('a'), _sample('b')])
    hook.after_test(runner)
    assert sorted(os.listdir(out)) == ['a.png']
    assert np.asarray(Image.open(out / 'a.png')).shape == (4, 5, 3)
    full_disk = 'no space left on the device (disk full)'
    assert runner.logger.errors[0] == f'cannot write {out / "b.png"}: {full_disk}'
    assert runner.logger.errors[-1].startswith(f'1 restored image(s) could not be written to '
                                               f'{out}')


def test_tools_test_refuses_an_unwritable_out_folder_before_the_model(tmp_path, capsys):
    import test as test_tool  # tools/test.py

    (tmp_path / 'file').write_text('x')
    with pytest.raises(SystemExit) as exit_:
        test_tool.main(['no_config.py', 'no.pth', '--out', str(tmp_path / 'file' / 'out')])
    assert exit_.value.code == 2
    assert f'cannot create --out {tmp_path / "file" / "out"}' in capsys.readouterr().err
