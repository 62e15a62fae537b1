"""Every registry of restorekit, in one place.

The generic registries are children of mmengine's root registries (as in mmagic's
``mmagic/registry.py``), so that with ``default_scope = 'restorekit'`` a config can name both
restorekit's components and mmengine's own (``type='Adam'``, ``type='CheckpointHook'``).

Registration needs no bookkeeping: each registry names in ``locations`` the packages where its
components live, and the first time it is searched (``get``/``build``) it imports every module
under them that registers something (:func:`discover_modules`: a walk of the package, importing
the modules whose source calls ``register_module``). So a new component file is found by name as
soon as it exists, ``import restorekit`` stays light, and building a loss never imports the
inpainters (nor their heavy dependencies). ``tests/test_registry.py`` checks that every class
decorated with ``register_module`` anywhere in restorekit is found in its registry by name.

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
import importlib
import importlib.util
import pkgutil
from typing import List

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
from restorekit.plugins import PluginRegistry

SCOPE = 'restorekit'


def _registers_components(module_name: str) -> bool:
    """Whether the module's source calls ``register_module`` (True when there is no source)."""
    spec = importlib.util.find_spec(module_name)
    origin = getattr(spec, 'origin', None)
    if not origin or not origin.endswith('.py'):
        return True
    with open(origin, encoding='utf-8') as file:
        return 'register_module' in file.read()


def discover_modules(location: str) -> List[str]:
    """``location`` and, when it is a package, every module below it that registers components.

    Subpackages are walked too (``pkgutil.walk_packages``, sorted by name). A module whose source
    never mentions ``register_module`` is left out, so helpers (``restorekit.engine.dist``...) are
    not imported on a registry search. Importing the returned modules registers every component
    that lives under ``location``.
    """
    package = importlib.import_module(location)
    found = [location]
    for info in pkgutil.walk_packages(getattr(package, '__path__', []), prefix=f'{location}.'):
        if info.ispkg or _registers_components(info.name):
            found.append(info.name)
    return found


class Registry(PluginRegistry):
    """The registry class of restorekit: its ``locations`` are packages, discovered lazily.

    On the first search, every module under each location that registers components is imported
    (:func:`discover_modules`), then the entry point plugins are loaded (
    :class:`~restorekit.plugins.PluginRegistry`).
    """

    def import_from_location(self) -> None:
        """Import every registering module under this registry's packages, once; then plugins."""
        if not self._imported:
            for location in self._locations:
                for module in discover_modules(location):
                    importlib.import_module(module)
        super().import_from_location()


# The packages where each registry's components live. SmpUNet (models/backbones/) serves as
# detector, inpainter and colorizer, so those three registries search it too.
_ENGINE = ['restorekit.engine']
_BACKBONES = 'restorekit.models.backbones'

# --- generic registries, children of mmengine's roots -------------------------------------------
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, locations=['restorekit.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, locations=['restorekit.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, locations=['restorekit.datasets.transforms'])
MODELS = Registry('model', parent=MMENGINE_MODELS, locations=['restorekit.models.restorers'])
MODEL_WRAPPERS = Registry('model wrapper', parent=MMENGINE_MODEL_WRAPPERS, locations=_ENGINE)
OPTIM_WRAPPERS = Registry('optim wrapper', parent=MMENGINE_OPTIM_WRAPPERS, locations=_ENGINE)
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=_ENGINE)
# restorekit.engine's optimizer modules import mmengine.optim, which registers torch's optimizers
# and schedulers.
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, locations=_ENGINE)
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS, locations=_ENGINE)
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, locations=_ENGINE)
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=_ENGINE)
METRICS = Registry('metric', parent=MMENGINE_METRICS, locations=['restorekit.evaluation'])
EVALUATORS = Registry('evaluator', parent=MMENGINE_EVALUATOR, locations=['restorekit.evaluation'])
VISUALIZERS = Registry(
    'visualizer', parent=MMENGINE_VISUALIZERS, locations=['restorekit.visualization'])
VISBACKENDS = Registry('vis backend', parent=MMENGINE_VISBACKENDS, locations=_ENGINE)

# --- domain registries ----------------------------------------------------------------------------
#: Damage shapes: ``generator(height, width, rng) -> bool array (H, W)``, True = damaged.
MASK_GENERATORS = Registry('mask generator', scope=SCOPE, locations=['restorekit.masks'])
#: ``detector(image) -> logits (N, 1, H, W)`` of the damage mask.
MASK_DETECTORS = Registry(
    'mask detector', scope=SCOPE, locations=['restorekit.models.detectors', _BACKBONES])
#: ``inpainter(image, mask) -> image``; mask 1 = damaged, see docs/conventions.md.
INPAINTERS = Registry(
    'inpainter', scope=SCOPE, locations=['restorekit.models.inpainters', _BACKBONES])
#: ``colorizer(grey) -> RGB`` in [-1, 1].
COLORIZERS = Registry(
    'colorizer', scope=SCOPE, locations=['restorekit.models.colorizers', _BACKBONES])
#: Adversarial critics.
DISCRIMINATORS = Registry(
    'discriminator', scope=SCOPE, locations=['restorekit.models.discriminators'])
#: Loss terms: ``loss(pred, target, mask=None) -> scalar``, weighted by ``loss_weight``.
LOSSES = Registry('loss', scope=SCOPE, locations=['restorekit.models.losses'])
