"""Every registry of restorekit, in one place.

The generic registries are children of mmengine's root registries (as in mmagic's
``mmagic/registry.py``), so that with ``default_scope = 'restorekit'`` a config can name both
restorekit's components and mmengine's own (``type='Adam'``, ``type='CheckpointHook'``).

Each registry lists the modules that define its components in ``locations``. mmengine imports
those modules the first time the registry is searched, so ``import restorekit`` stays light and
importing one model never imports every other one (nor its heavy dependencies).

The domain registries are roots of their own (mmengine lets a parent hold one child per scope, and
:data:`MODELS` already is restorekit's child of the root ``MODELS``); the :class:`Restorer` builds
each stage from its registry:

* :data:`MASK_GENERATORS` - damage shapes for training data (``PolygonMask``, ``BrushStrokeMask``...).
* :data:`MASK_DETECTORS` - networks or rules that find the damage in a damaged image.
* :data:`INPAINTERS` - ``(image, mask) -> image`` networks that fill the damage.
* :data:`COLORIZERS` - ``grey -> RGB`` networks.
* :data:`DISCRIMINATORS` - adversarial critics.
* :data:`LOSSES` - loss terms, always built from a list of configs with weights.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
# Every registry below is a PluginRegistry: mmengine's Registry that also loads the plugins of the
# `restorekit.plugins` entry point group on its first search (restorekit/plugins.py).
from restorekit.plugins import PluginRegistry as Registry

SCOPE = 'restorekit'

# Modules that register components, per registry. Listed module by module (not whole packages)
# so that the first build imports what that registry needs and nothing else.
_DATASET_MODULES = ['restorekit.datasets.dacon_dataset', 'restorekit.datasets.image_folder_dataset']
_TRANSFORM_MODULES = [
    'restorekit.datasets.transforms.loading',
    'restorekit.datasets.transforms.geometric',
    'restorekit.datasets.transforms.color',
    'restorekit.datasets.transforms.damage',
    'restorekit.datasets.transforms.formatting',
]
_MASK_MODULES = [
    'restorekit.masks.polygon',
    'restorekit.masks.brush_stroke',
    'restorekit.masks.box',
    'restorekit.masks.large',
    'restorekit.masks.mixed',
    'restorekit.masks.mat',
]
_MODEL_MODULES = [
    'restorekit.models.restorers.restorer',
    'restorekit.models.restorers.adversarial',
    'restorekit.models.restorers.data_preprocessor',
]
_INPAINTER_MODULES = [
    'restorekit.models.inpainters.smp_unet',
    'restorekit.models.inpainters.context_encoder',
    'restorekit.models.inpainters.gated_conv',
    'restorekit.models.inpainters.mat',
    'restorekit.models.inpainters.prior_residual',
]
_COLORIZER_MODULES = [
    'restorekit.models.inpainters.smp_unet',
    'restorekit.models.colorizers.pix2pix_unet',
    'restorekit.models.colorizers.lab_colorizer',
]
_DETECTOR_MODULES = [
    'restorekit.models.inpainters.smp_unet',
    'restorekit.models.detectors.constant_fill',
    'restorekit.models.detectors.unet_detector',
]
_LOSS_MODULES = [
    'restorekit.models.losses.pixel',
    'restorekit.models.losses.gan',
    'restorekit.models.losses.ssim',
    'restorekit.models.losses.tv',
    'restorekit.models.losses.color',
    'restorekit.models.losses.dice',
    'restorekit.models.losses.perceptual',
]
_METRIC_MODULES = ['restorekit.evaluation.dacon', 'restorekit.evaluation.psnr_ssim']
_ENGINE_MODULES = [
    'restorekit.engine.hooks', 'restorekit.engine.checkpoint_hook', 'restorekit.engine.nan_guard',
    'restorekit.engine.bad_input_hook', 'restorekit.engine.visualization_hook',
    'restorekit.engine.malloc_tuning', 'restorekit.engine.phase_switch',
    'restorekit.engine.random_state'
]
_OPTIM_WRAPPER_MODULES = [
    'restorekit.engine.optim_wrappers', 'restorekit.engine.optim_constructors'
]

# --- generic registries, children of mmengine's roots -------------------------------------------
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, locations=_DATASET_MODULES)
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, locations=['restorekit.datasets'])
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, locations=_TRANSFORM_MODULES)
MODELS = Registry('model', parent=MMENGINE_MODELS, locations=_MODEL_MODULES)
MODEL_WRAPPERS = Registry(
    'model wrapper', parent=MMENGINE_MODEL_WRAPPERS, locations=['restorekit.models'])
OPTIM_WRAPPERS = Registry(
    'optim wrapper', parent=MMENGINE_OPTIM_WRAPPERS, locations=_OPTIM_WRAPPER_MODULES)
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=_OPTIM_WRAPPER_MODULES)
# These locations import mmengine.optim, which registers torch's optimizers and schedulers.
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, locations=_OPTIM_WRAPPER_MODULES)
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS, locations=_OPTIM_WRAPPER_MODULES)
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, locations=_ENGINE_MODULES)
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=['restorekit.engine'])
METRICS = Registry('metric', parent=MMENGINE_METRICS, locations=_METRIC_MODULES)
EVALUATORS = Registry('evaluator', parent=MMENGINE_EVALUATOR, locations=['restorekit.evaluation'])
VISUALIZERS = Registry(
    'visualizer',
    parent=MMENGINE_VISUALIZERS,
    locations=['restorekit.visualization.restoration_visualizer'])
VISBACKENDS = Registry('vis backend', parent=MMENGINE_VISBACKENDS, locations=['restorekit.engine'])

# --- domain registries ----------------------------------------------------------------------------
#: Damage shapes: ``generator(height, width, rng) -> bool array (H, W)``, True = damaged.
MASK_GENERATORS = Registry('mask generator', scope=SCOPE, locations=_MASK_MODULES)
#: ``detector(image) -> logits (N, 1, H, W)`` of the damage mask.
MASK_DETECTORS = Registry('mask detector', scope=SCOPE, locations=_DETECTOR_MODULES)
#: ``inpainter(image, mask) -> image``; mask 1 = damaged, see docs/conventions.md.
INPAINTERS = Registry('inpainter', scope=SCOPE, locations=_INPAINTER_MODULES)
#: ``colorizer(grey) -> RGB`` in [-1, 1].
COLORIZERS = Registry('colorizer', scope=SCOPE, locations=_COLORIZER_MODULES)
#: Adversarial critics.
DISCRIMINATORS = Registry(
    'discriminator',
    scope=SCOPE,
    locations=[
        'restorekit.models.discriminators.patch_gan',
        'restorekit.models.discriminators.stylegan_disc',
    ])
#: Loss terms: ``loss(pred, target, mask=None) -> scalar``, weighted by ``loss_weight``.
LOSSES = Registry('loss', scope=SCOPE, locations=_LOSS_MODULES)
