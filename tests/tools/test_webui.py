"""The web app's callbacks (tools/webui.py) with a fake inferencer: upload, detect, edit, restore."""
import os
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import pytest
from PIL import Image

import webui

FILL = 128  # the grey the fake's "damage" is painted with


@dataclass
class FakeResult:
    output: np.ndarray
    mask: np.ndarray
    gray: np.ndarray
    inpainted_gray: Optional[np.ndarray] = None


class FakeInferencer:
    """``RestorationInferencer.restore``'s interface: detects pixels equal to :data:`FILL`,
    "restores" to a colour image computed from the grey and the mask, and records its calls."""

    def __init__(self) -> None:
        self.calls: List[dict] = []

    @staticmethod
    def restored(grey: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.stack([grey, 255 - grey, mask.astype(np.uint8) * 255], axis=2)

    def restore(self, images, masks=None):
        self.calls.append(
            dict(
                images=[np.array(image) for image in images],
                masks=None if masks is None else [np.array(m) for m in masks]))
        results = []
        for index, image in enumerate(images):
            grey = image[..., 0]
            mask = grey == FILL if masks is None else np.asarray(masks[index], bool)
            results.append(FakeResult(self.restored(grey, mask), mask, grey))
        return results


def damaged_photo(height: int = 40, width: int = 48) -> np.ndarray:
    """An RGBA upload as the editor gives it: a grey ramp with a FILL rectangle, opaque."""
    grey = np.tile(np.linspace(0, 255, width).astype(np.uint8), (height, 1))
    grey[grey == FILL] = FILL + 1  # the only FILL pixels are the damage
    grey[10:20, 5:30] = FILL
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    return rgba


def uploaded(photo: np.ndarray) -> dict:
    return dict(background=photo, layers=[], composite=photo)


def test_to_rgb_repeats_grey_and_flattens_alpha_on_white():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert np.array_equal(webui.to_rgb(grey), np.dstack([grey] * 3))
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3] = 100
    rgba[0, 0, 3] = 255  # opaque: kept
    rgba[0, 1, 3] = 0  # transparent: white
    rgba[1, :, 3] = 128  # half: between
    rgb = webui.to_rgb(rgba)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert (rgb[0, 0] == 100).all() and (rgb[0, 1] == 255).all()
    assert (rgb[1] == round(100 * 128 / 255 + 255 * 127 / 255)).all()
    with pytest.raises(webui.UserInputError, match=r'\(2, 2, 2\)'):
        webui.to_rgb(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(webui.UserInputError, match='float32'):
        webui.to_rgb(np.zeros((2, 2), np.float32))


def test_mask_layer_round_trip_erase_and_union():
    rng = np.random.default_rng(0)
    mask = rng.random((9, 7)) < 0.3
    layer = webui.mask_to_layer(mask)
    assert layer.shape == (9, 7, 4) and layer.dtype == np.uint8
    assert (layer[mask] == webui.MASK_RGB + (webui.MASK_ALPHA, )).all()
    assert (layer[~mask] == 0).all()
    assert np.array_equal(webui.layers_to_mask([layer], mask.shape), mask)

    erased = layer.copy()
    erased[:, :3, 3] = 0  # the eraser makes pixels transparent, whatever their colour
    expected = mask.copy()
    expected[:, :3] = False
    assert np.array_equal(webui.layers_to_mask([erased], mask.shape), expected)

    painted = np.zeros_like(layer)
    painted[0, 0] = (10, 20, 30, 1)  # any visible paint, even faint, is damage
    union = webui.layers_to_mask([erased, painted], mask.shape)
    assert union[0, 0] and np.array_equal(union[1:], expected[1:])


def test_layers_to_mask_nothing_painted_is_none_and_size_mismatch_is_named():
    assert webui.layers_to_mask([], (5, 6)) is None
    assert webui.layers_to_mask([np.zeros((5, 6, 4), np.uint8)], (5, 6)) is None
    with pytest.raises(webui.UserInputError, match=r'layer 0 is 4x5 px but the photo is 6x5'):
        webui.layers_to_mask([np.zeros((5, 4, 4), np.uint8)], (5, 6))


def test_overlay_tints_only_damaged_pixels():
    photo = np.full((4, 4, 3), 200, np.uint8)
    mask = np.zeros((4, 4), bool)
    mask[1, 2] = True
    overlay = webui.overlay_mask(photo, mask)
    assert np.array_equal(overlay[~mask], photo[~mask])
    alpha = webui.MASK_ALPHA / 255
    expected = np.rint(200 * (1 - alpha) + np.array(webui.MASK_RGB) * alpha)
    assert np.array_equal(overlay[1, 2], expected.astype(np.uint8))


def test_detect_paints_the_detected_mask_as_a_layer():
    fake, photo = FakeInferencer(), damaged_photo()
    value, status = webui.detect_damage(fake, uploaded(photo))
    assert fake.calls[0]['masks'] is None  # the model finds the damage
    assert np.array_equal(fake.calls[0]['images'][0], photo[..., :3])
    assert np.array_equal(value['background'], photo[..., :3])
    detected = photo[..., 0] == FILL
    assert np.array_equal(webui.layers_to_mask(value['layers'], detected.shape), detected)
    assert np.array_equal(value['composite'], webui.overlay_mask(photo, detected))
    assert f'{detected.sum()} damaged pixels' in status


def test_detect_with_no_damage_found_says_so():
    fake = FakeInferencer()
    photo = damaged_photo()
    photo[photo == FILL] = 0
    value, status = webui.detect_damage(fake, uploaded(photo))
    assert webui.layers_to_mask(value['layers'], photo.shape[:2]) is None
    assert 'no damage' in status


@pytest.mark.parametrize('editor_value', [None, dict(background=None, layers=[], composite=None)])
def test_callbacks_ask_for_an_upload_first(tmp_path, editor_value):
    with pytest.raises(webui.UserInputError, match='upload a photo'):
        webui.detect_damage(FakeInferencer(), editor_value)
    with pytest.raises(webui.UserInputError, match='upload a photo'):
        webui.restore_photo(FakeInferencer(), editor_value, str(tmp_path))


def test_upload_detect_edit_restore_download(tmp_path):
    """The user's path: the edited mask (painted and erased) is exactly what the model gets, and
    the downloadable PNG is the model's output."""
    fake, photo = FakeInferencer(), damaged_photo()
    value, _ = webui.detect_damage(fake, uploaded(photo))
    layer = value['layers'][0].copy()
    layer[30:35, 40:45] = (255, 0, 0, 128)  # brush: more damage
    layer[10:20, 5:10, 3] = 0  # eraser: a false alarm
    value = dict(value, layers=[layer])
    expected_mask = photo[..., 0] == FILL
    expected_mask[30:35, 40:45] = True
    expected_mask[10:20, 5:10] = False

    out = webui.restore_photo(fake, value, str(tmp_path))
    assert np.array_equal(fake.calls[-1]['masks'][0], expected_mask)
    expected_output = FakeInferencer.restored(photo[..., 0], expected_mask)
    assert np.array_equal(out.before, photo[..., :3])
    assert np.array_equal(out.after, expected_output)
    assert np.array_equal(out.mask_overlay, webui.overlay_mask(photo, expected_mask))
    assert os.path.basename(out.png_path) == webui.RESTORED_FILE_NAME
    assert os.path.dirname(os.path.dirname(out.png_path)) == str(tmp_path)
    with Image.open(out.png_path) as png:
        assert png.format == 'PNG' and png.mode == 'RGB'
        assert np.array_equal(np.asarray(png), expected_output)
    assert f'{expected_mask.sum()} damaged pixels' in out.status and 'painted' in out.status

    again = webui.restore_photo(fake, value, str(tmp_path))
    assert again.png_path != out.png_path  # each restoration gets its own file


def test_restore_with_nothing_painted_lets_the_model_detect(tmp_path):
    fake, photo = FakeInferencer(), damaged_photo()
    out = webui.restore_photo(fake, uploaded(photo), str(tmp_path))
    assert fake.calls[-1]['masks'] is None
    assert np.array_equal(out.after, FakeInferencer.restored(photo[..., 0], photo[..., 0] == FILL))
    assert 'detected' in out.status


def test_restore_rejects_an_output_of_the_wrong_size(tmp_path):

    class Cropping(FakeInferencer):

        def restore(self, images, masks=None):
            results = super().restore(images, masks)
            for result in results:
                result.output = result.output[1:]
            return results

    with pytest.raises(RuntimeError, match=r'shape \(39, 48, 3\).*expected \(40, 48, 3\)'):
        webui.restore_photo(Cropping(), uploaded(damaged_photo()), str(tmp_path))


def test_parse_args_defaults_are_local_and_private():
    args = webui.parse_args(['configs/unet_two_stage_demo.py', 'none'])
    assert args.host == '127.0.0.1' and args.share is False and args.port == 7860
    assert args.device == 'cpu' and args.tile is None and args.tile_overlap == 32
    args = webui.parse_args(['c.py', 'w.pth', '--tile', '256', '--share', '--host', '0.0.0.0'])
    assert args.tile == 256 and args.share and args.host == '0.0.0.0'


def test_main_names_a_missing_checkpoint(tmp_path):
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(SystemExit, match='nope.pth'):
        webui.main(['configs/unet_two_stage_demo.py', missing])


@pytest.mark.parametrize('with_slider', [True, False])
def test_build_app_wires_the_callbacks(tmp_path, monkeypatch, with_slider):
    gr = pytest.importorskip('gradio')
    if not with_slider:  # a Gradio without ImageSlider: before and after side by side
        monkeypatch.delattr(gr, 'ImageSlider', raising=False)
    elif not hasattr(gr, 'ImageSlider'):
        pytest.skip('this Gradio has no ImageSlider')
    fake, photo = FakeInferencer(), damaged_photo()
    app = webui.build_app(fake, output_dir=str(tmp_path))
    assert isinstance(app, gr.Blocks)
    by_id = {block.elem_id: block for block in app.blocks.values() if block.elem_id}
    assert isinstance(by_id['photo_editor'], gr.ImageEditor)
    assert by_id['photo_editor'].image_mode == 'RGBA'  # the layers' alpha is the mask
    fns = {fn.name: fn for fn in app.fns.values()}
    on_detect, on_restore = fns['on_detect'], fns['on_restore']
    assert [block.elem_id for block in on_detect.outputs] == ['photo_editor', 'status']

    value, _ = on_detect.fn(uploaded(photo))
    outputs = on_restore.fn(value)
    assert len(outputs) == len(on_restore.outputs)
    if with_slider:
        assert isinstance(on_restore.outputs[0], gr.ImageSlider)
        before, after = outputs[0]
    else:
        assert [type(block) for block in on_restore.outputs[:2]] == [gr.Image, gr.Image]
        before, after = outputs[:2]
    assert np.array_equal(before, photo[..., :3])
    assert np.array_equal(after, FakeInferencer.restored(photo[..., 0], photo[..., 0] == FILL))
    assert outputs[-2].startswith(str(tmp_path)) and outputs[-2].endswith('.png')
    with pytest.raises(gr.Error, match='Upload a photo first'):
        on_restore.fn(None)


def test_a_photo_over_the_pixel_limit_is_refused_before_the_model(tmp_path, monkeypatch):
    from restorekit.datasets.transforms.image_header import MAX_PIXELS_ENV

    fake, photo = FakeInferencer(), damaged_photo()  # 48 x 40 = 1920 pixels
    with pytest.raises(webui.UserInputError, match=r'48 x 40 = 1,920 pixels, over the limit of '
                       r'1,919.*--max-pixels'):
        webui.restore_photo(fake, uploaded(photo), str(tmp_path), max_pixels=1919)
    with pytest.raises(webui.UserInputError, match='over the limit of 1,000'):
        monkeypatch.setenv(MAX_PIXELS_ENV, '1000')  # the default every reader uses
        webui.detect_damage(fake, uploaded(photo))
    assert fake.calls == []
    assert webui.restore_photo(fake, uploaded(photo), str(tmp_path), max_pixels=1920).status
    assert webui.parse_args(['c.py', 'none', '--max-pixels', '5']).max_pixels == 5


def test_a_png_that_cannot_be_written_is_a_message_not_a_traceback(tmp_path):
    (tmp_path / 'file').write_text('x')  # an output "folder" that is a file
    with pytest.raises(webui.UserInputError, match='restored but the PNG could not be written'):
        webui.restore_photo(FakeInferencer(), uploaded(damaged_photo()), str(tmp_path / 'file'))
