# restorekit's README demo (configs/unet_two_stage_demo.py) with the example plugin's inpainter
# and an extra gradient difference loss. Install the plugin first:
#   pip install examples/plugin_example
# restorekit then finds `DilatedResidualInpainter` and `GradientDifferenceLoss` through the
# plugin's `restorekit.plugins` entry point; no import is needed here.
#
# `_base_` is relative to this file, so this config works from a restorekit checkout wherever the
# plugin is installed. A plugin kept outside the checkout points `_base_` at the checkout's
# configs (an absolute path or one relative to the plugin's config).
_base_ = ['../../../configs/unet_two_stage_demo.py']

# Without installing the plugin (e.g. the package is only on PYTHONPATH), import it explicitly;
# mmengine's Config.fromfile imports the modules listed here before anything is built:
# custom_imports = dict(imports=['restorekit_plugin_example'], allow_failed_imports=False)

model = dict(
    # _delete_: the plugin inpainter takes none of SmpUNet's arguments.
    inpainter=dict(
        _delete_=True, type='DilatedResidualInpainter', in_channels=1, out_channels=1,
        base_channels=32, dilations=(2, 4, 8, 16)),
    inpainter_losses=[
        dict(type='L1Loss', loss_weight=1.0, hole_weight=6.0, valid_weight=1.0),
        dict(type='GradientDifferenceLoss', loss_weight=0.5, hole_weight=6.0, valid_weight=1.0),
    ],
)
