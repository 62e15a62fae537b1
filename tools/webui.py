"""A browser app that restores one damaged photograph: upload, check the damage, restore, download.

Usage::

    python tools/webui.py CONFIG CHECKPOINT [--device cpu] [--host 127.0.0.1] [--port 7860]
                          [--tile 512] [--share]

``CHECKPOINT`` may be ``none`` (random weights: only useful to try the app). The page (Gradio):

1. Upload a photo into the editor.
2. "Detect damage" paints the damage the model finds (given to it as no mask) as a red layer over
   the photo.
3. Paint more damage with the brush or erase false alarms with the eraser: whatever is painted on
   any layer when "Restore" is pressed is the damage mask (True = damaged, ``docs/conventions.md``).
   With nothing painted, the model detects the damage itself.
4. "Restore" shows the photo before and after (a slider where the Gradio version has
   ``gr.ImageSlider``, else two images side by side), the mask that was used and a PNG to download.

The server listens on localhost only unless ``--host`` says otherwise, makes no share link unless
``--share`` is given, and sends no analytics: it runs with no network at all. The callbacks are
plain functions of an inferencer (``RestorationInferencer``'s ``restore``) so tests can drive them
with a fake one; :func:`build_app` wires them to the page.
"""
import argparse
import atexit
import os
import shutil
import sys
import tempfile
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

# Gradio reads these when it is imported: no usage statistics, no version check, no hub telemetry.
os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
os.environ.setdefault('HF_HUB_DISABLE_TELEMETRY', '1')

#: The colour and opacity (alpha, 0-255) of the damage layer painted over the photo.
MASK_RGB = (255, 0, 0)
MASK_ALPHA = 128
#: The brush the user paints damage with: the same colour as detected damage, half opaque.
BRUSH_COLOUR = ('#ff0000', MASK_ALPHA / 255)
RESTORED_FILE_NAME = 'restored.png'
#: The value of ``gr.ImageEditor``: ``background`` (the photo), ``layers`` (paint), ``composite``.
EditorValue = Dict[str, Any]


class RestoreOutputs(NamedTuple):
    """What "Restore" shows: the photo before and after, the mask used, the PNG and a message."""
    before: np.ndarray
    after: np.ndarray
    mask_overlay: np.ndarray
    png_path: str
    status: str


class UserInputError(ValueError):
    """A problem with what the user gave the page (shown to them as is)."""


def to_rgb(image: np.ndarray) -> np.ndarray:
    """A uint8 (H, W, 3) RGB copy of a grey (H, W), RGB or RGBA image; alpha is composited on
    white, as Gradio flattens transparent uploads."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise UserInputError(f'expected a uint8 image, got dtype {image.dtype}')
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise UserInputError(
            f'expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {image.shape}')
    if image.shape[2] == 3:
        return image.copy()
    alpha = image[..., 3:].astype(np.float32) / 255.0
    flat = image[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
    return np.clip(np.rint(flat), 0, 255).astype(np.uint8)


def mask_to_layer(mask: np.ndarray) -> np.ndarray:
    """An RGBA (H, W, 4) editor layer: :data:`MASK_RGB` at :data:`MASK_ALPHA` on damaged pixels,
    fully transparent elsewhere."""
    mask = np.asarray(mask, dtype=bool)
    layer = np.zeros(mask.shape + (4, ), dtype=np.uint8)
    layer[mask] = MASK_RGB + (MASK_ALPHA, )
    return layer


def layers_to_mask(layers: Sequence[np.ndarray], shape: Tuple[int, int]) -> Optional[np.ndarray]:
    """The damage mask painted on the editor's layers: bool (H, W), True where any layer has a
    visible (alpha > 0) pixel; ``None`` when nothing is painted.

    Raises:
        UserInputError: a layer's size differs from the photo's ``shape``.
    """
    mask = np.zeros(shape, dtype=bool)
    for index, layer in enumerate(layers):
        layer = np.asarray(layer)
        if layer.shape[:2] != tuple(shape):
            raise UserInputError(f'mask layer {index} is {layer.shape[1]}x{layer.shape[0]} px '
                                 f'but the photo is {shape[1]}x{shape[0]} px; paint on the photo '
                                 'without resizing or cropping it')
        if layer.ndim == 3 and layer.shape[2] == 4:
            mask |= layer[..., 3] > 0
        else:
            # A layer without alpha (an editor not in RGBA mode): any non-black pixel is paint.
            mask |= (layer.reshape(shape + (-1, )) > 0).any(axis=2)
    return mask if mask.any() else None


def overlay_mask(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3): ``image`` with the damaged pixels tinted by the damage layer's colour."""
    rgb = to_rgb(image)
    layer = mask_to_layer(mask)
    alpha = layer[..., 3:].astype(np.float32) / 255.0
    blended = rgb.astype(np.float32) * (1.0 - alpha) + layer[..., :3].astype(np.float32) * alpha
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def _photo_of(editor_value: Optional[EditorValue],
              max_pixels: Optional[int] = None) -> np.ndarray:
    """The uploaded photo (RGB) in an editor value; :class:`UserInputError` if there is none or
    it is over the pixel limit (``max_pixels``: None = restorekit's default, 0 = none)."""
    background = None if editor_value is None else editor_value.get('background')
    if background is None:
        raise UserInputError('upload a photo first')
    check_photo_size(np.asarray(background).shape[:2], max_pixels)
    return to_rgb(background)


def check_photo_size(shape: Tuple[int, int], max_pixels: Optional[int] = None) -> None:
    """Refuse a photo larger than the pixel limit every restorekit reader applies (see
    ``restorekit/datasets/transforms/image_header.py``), with the size and the limit."""
    from restorekit.datasets.transforms.image_header import resolve_max_pixels

    limit = resolve_max_pixels(max_pixels)
    height, width = shape
    if limit is not None and height * width > limit:
        raise UserInputError(f'the photo is {width} x {height} = {height * width:,} pixels, over '
                             f'the limit of {limit:,}; restore a smaller photo, or start the app '
                             'with a larger --max-pixels')


def _describe(mask: np.ndarray) -> str:
    return f'{int(mask.sum())} damaged pixels ({100.0 * mask.mean():.1f}% of the photo)'


def detect_damage(inferencer: Any,
                  editor_value: Optional[EditorValue],
                  max_pixels: Optional[int] = None) -> Tuple[EditorValue, str]:
    """Run the model on the uploaded photo without a mask and paint the damage it found.

    Returns:
        The editor's new value (the photo, one layer with the detected mask, the overlay as the
        composite) and a status message.
    """
    photo = _photo_of(editor_value, max_pixels)
    result = inferencer.restore([photo])[0]
    mask = np.asarray(result.mask, dtype=bool)
    value = dict(
        background=photo, layers=[mask_to_layer(mask)], composite=overlay_mask(photo, mask))
    if not mask.any():
        return value, 'Detected no damage. Paint the damaged region with the brush, then restore.'
    return value, (f'Detected {_describe(mask)}. Paint or erase to correct the red mask, '
                   'then press "Restore".')


def restore_photo(inferencer: Any,
                  editor_value: Optional[EditorValue],
                  output_dir: str,
                  max_pixels: Optional[int] = None) -> RestoreOutputs:
    """Restore the uploaded photo with the painted mask (or the detected one when nothing is
    painted) and write the result as a PNG in a new folder under ``output_dir``."""
    from PIL import Image

    photo = _photo_of(editor_value, max_pixels)
    painted = layers_to_mask(editor_value.get('layers') or [], photo.shape[:2])
    masks = None if painted is None else [painted]
    result = inferencer.restore([photo], masks=masks)[0]
    restored = np.asarray(result.output)
    if restored.shape != photo.shape or restored.dtype != np.uint8:
        raise RuntimeError(f'the inferencer returned an image of shape {restored.shape} and dtype '
                           f'{restored.dtype}; expected {photo.shape} uint8 RGB')
    mask = np.asarray(result.mask, dtype=bool)
    try:
        png_path = os.path.join(tempfile.mkdtemp(dir=output_dir), RESTORED_FILE_NAME)
        Image.fromarray(restored).save(png_path)
    except OSError as error:
        from restorekit.datasets.transforms.image_header import describe_os_error
        raise UserInputError(f'the photo was restored but the PNG could not be written to '
                             f'{output_dir}: {describe_os_error(error)}') from None
    source = 'the painted mask' if painted is not None else 'the detected mask (nothing was painted)'
    status = f'Restored {_describe(mask)} using {source}.'
    return RestoreOutputs(photo, restored, overlay_mask(photo, mask), png_path, status)


def _user_errors_to_gradio(func):
    """Show :class:`UserInputError` in the page as a Gradio error message."""
    import functools

    import gradio as gr

    @functools.wraps(func)
    def wrapper(*args):
        try:
            return func(*args)
        except UserInputError as error:
            raise gr.Error(str(error)[:1].upper() + str(error)[1:] + '.') from error

    return wrapper


def build_app(inferencer: Any,
              output_dir: Optional[str] = None,
              max_pixels: Optional[int] = None) -> 'gradio.Blocks':  # noqa: F821
    """The Gradio page around ``inferencer`` (anything with ``RestorationInferencer.restore``).

    Args:
        inferencer: Restores photos: ``restore(images, masks=None)`` returns one result per image
            with ``output`` (H, W, 3) uint8 RGB and ``mask`` (H, W) bool, True = damaged.
        output_dir: Where restored PNGs are written for download; a temporary folder that is
            removed at exit when ``None``.
        max_pixels: Largest photo (width x height) restored; ``None``: restorekit's default
            (100 million, or ``$RESTOREKIT_MAX_PIXELS``), ``0``: no limit.
    """
    import gradio as gr

    if output_dir is None:
        output_dir = tempfile.mkdtemp(prefix='restorekit_webui_')
        atexit.register(shutil.rmtree, output_dir, ignore_errors=True)
    has_slider = hasattr(gr, 'ImageSlider')

    @_user_errors_to_gradio
    def on_detect(editor_value):
        return detect_damage(inferencer, editor_value, max_pixels)

    @_user_errors_to_gradio
    def on_restore(editor_value):
        out = restore_photo(inferencer, editor_value, output_dir, max_pixels)
        comparison = [(out.before, out.after)] if has_slider else [out.before, out.after]
        return comparison + [out.mask_overlay, out.png_path, out.status]

    # Delete files the app cached (uploads, results) an hour after they were made.
    with gr.Blocks(
            title='restorekit: restore a damaged photo',
            analytics_enabled=False,
            delete_cache=(3600, 3600)) as app:
        gr.Markdown('## Restore a damaged black-and-white photograph\n'
                    'Upload a photo, press **Detect damage**, correct the red mask with the brush '
                    'and the eraser if needed, then press **Restore**.')
        with gr.Row():
            with gr.Column():
                editor = gr.ImageEditor(
                    label='Photo and damage mask (red = damaged)',
                    elem_id='photo_editor',
                    type='numpy',
                    image_mode='RGBA',
                    format='png',
                    sources=('upload', 'clipboard'),
                    transforms=(),
                    layers=False,
                    brush=gr.Brush(colors=[BRUSH_COLOUR], color_mode='fixed'),
                    eraser=gr.Eraser())
                with gr.Row():
                    detect_button = gr.Button('Detect damage', elem_id='detect_button')
                    restore_button = gr.Button(
                        'Restore', variant='primary', elem_id='restore_button')
                status = gr.Markdown(elem_id='status')
            with gr.Column():
                if has_slider:
                    comparison = [
                        gr.ImageSlider(
                            label='Before / after',
                            elem_id='comparison',
                            type='numpy',
                            format='png',
                            interactive=False)
                    ]
                else:
                    with gr.Row(elem_id='comparison'):
                        comparison = [
                            gr.Image(label='Before', format='png', interactive=False),
                            gr.Image(label='After', format='png', interactive=False)
                        ]
                mask_used = gr.Image(
                    label='Damage restored', elem_id='mask_used', format='png', interactive=False)
                download = gr.File(label='Restored PNG', elem_id='download', interactive=False)
        detect_button.click(on_detect, inputs=editor, outputs=[editor, status])
        restore_button.click(
            on_restore, inputs=editor, outputs=comparison + [mask_used, download, status])
    # One request at a time: the model runs on all cores and is not meant to be shared by threads.
    app.queue(default_concurrency_limit=1)
    return app


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Serve a web page that restores damaged photographs (Gradio).')
    parser.add_argument('config', help='model config file, e.g. configs/unet_two_stage.py')
    parser.add_argument('checkpoint', help="checkpoint file, or 'none' for random weights")
    parser.add_argument('--device', default='cpu', help="torch device, e.g. 'cpu' or 'cuda:0'")
    parser.add_argument(
        '--host',
        default='127.0.0.1',
        help='address to listen on (default: localhost only; 0.0.0.0 = everyone)')
    parser.add_argument('--port', type=int, default=7860, help='port to listen on')
    parser.add_argument(
        '--tile',
        type=int,
        default=None,
        help='restore large photos in tiles of this size (px) to bound memory')
    parser.add_argument('--tile-overlap', type=int, default=32, help='overlap of tiles (px)')
    parser.add_argument(
        '--max-pixels',
        type=int,
        default=None,
        help='largest photo (width x height) restored (default 100,000,000 or '
        '$RESTOREKIT_MAX_PIXELS; 0 = no limit)')
    parser.add_argument(
        '--share',
        action='store_true',
        help="also make a public gradio.live link (needs internet; off by default)")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Load the model and serve the page until interrupted."""
    args = parse_args(argv)
    checkpoint = None if args.checkpoint.lower() == 'none' else args.checkpoint
    if checkpoint is not None and not os.path.isfile(checkpoint):
        raise SystemExit(f'checkpoint file not found: {checkpoint!r} (give a file, or none)')
    from restorekit.apis.inferencer import RestorationInferencer
    from restorekit.engine.config_validation import check_config_file

    check_config_file(args.config)  # unknown config keys, before the model is built
    inferencer = RestorationInferencer(
        args.config, checkpoint, device=args.device, tile=args.tile, tile_overlap=args.tile_overlap)
    app = build_app(inferencer, max_pixels=args.max_pixels)
    # The default theme's fonts are served by the app itself: the page loads with no network.
    app.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        inbrowser=False,
        show_error=True)


if __name__ == '__main__':
    main(sys.argv[1:])
