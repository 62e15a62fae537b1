"""The Python API applies the same input rules as the tools: the pixel limit from the header and
one error naming the file (issue 14)."""
import pytest
from PIL import Image

from restorekit.apis import RestorationInferencer
from restorekit.apis.image_io import UnreadableImageError
from restorekit.datasets.transforms.image_header import MAX_PIXELS_ENV


def test_a_file_over_the_pixel_limit_or_unreadable_raises_the_one_error(tiny_config, tmp_path,
                                                                        monkeypatch):
    inferencer = RestorationInferencer(tiny_config())
    Image.new('L', (40, 30), 90).save(tmp_path / 'photo.png')
    monkeypatch.setenv(MAX_PIXELS_ENV, '1000')
    with pytest.raises(UnreadableImageError, match=r'photo.png: 40 x 30 = 1,200 pixels is over '
                       r'the limit of 1,000'):
        inferencer(str(tmp_path / 'photo.png'))
    monkeypatch.setenv(MAX_PIXELS_ENV, '1200')
    assert inferencer(str(tmp_path / 'photo.png')).shape == (30, 40, 3)
    (tmp_path / 'loop.png').symlink_to('loop.png')
    with pytest.raises(UnreadableImageError, match='loop.png: symbolic link loop'):
        inferencer(str(tmp_path / 'loop.png'))
