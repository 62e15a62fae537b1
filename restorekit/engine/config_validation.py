"""Check a config against what its components read, before anything is built or trained.

mmengine passes a config's dicts to constructors and ignores what it does not look up: a typo in a
top-level key (``train_cfgg``), in ``env_cfg`` (``cudnn_benchmrk``) or in a keyword that a class
swallows with ``**kwargs`` (``CheckpointHook(intervall=1)`` fails only at the first save,
``SmpUNet(typo=1)`` was dropped by smp) goes unnoticed. :func:`check_config` walks the config tree
once, before the Runner or the inferencer is built, and reports every key nothing reads, with its
dotted path and the nearest valid name (:mod:`difflib`).

How a key is known to be valid:

* a component (a dict with ``type``): the keyword names of its class's signature
  (``inspect.signature``; a builder function likewise). A class that takes ``**kwargs`` is checked
  only when that is known to be safe: its own ``accepted_config_keywords(cfg)`` classmethod
  (``SmpUNet``: smp's architecture arguments), or an entry of :data:`FORWARDS_KWARGS` (the
  ``**kwargs`` go to the base class's ``__init__``, whose names are added) or of
  :data:`NO_EXTRA_KWARGS`; any other ``**kwargs`` class (e.g. from a plugin) is not checked.
  The registry of a nested component follows its key (``inpainter`` -> ``INPAINTERS``,
  ``pipeline`` -> ``TRANSFORMS``...), else every registry is searched.
* the parts of a config that are plain dicts read by mmengine's Runner: the dataloaders
  (``torch.utils.data.DataLoader``'s arguments plus mmengine's), ``train_cfg``/``val_cfg``/
  ``test_cfg`` (the loop's arguments), ``env_cfg``, ``randomness``, ``auto_scale_lr``,
  ``optim_wrapper`` (with ``constructor``, ``paramwise_cfg`` and one wrapper per network).
* top-level keys: those mmengine's Runner (or restorekit's tools) read, and config variables
  (``data_root``, ``crop_size``, pipelines... that the config itself uses when it is loaded).

Levels (docs/config.md): an unknown keyword of a component, an unknown key of the Runner's plain
dicts, and an unknown top-level key within typo distance of a Runner key are **errors**
(:class:`ConfigValidationError`, listing all of them). An unknown top-level key that is not close
to any Runner key and whose value nothing else in the config uses is a **warning** (it may be a
variable of your own). ``strict_config = False`` at the top level turns the errors into warnings.
"""
import difflib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set

from mmengine.config import Config
from mmengine.logging import print_log

ERROR = 'error'
WARNING = 'warning'

#: Top-level keys that mmengine's Runner/FlexibleRunner or restorekit's tools read.
RUNNER_KEYS = frozenset({
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
    'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler', 'val_evaluator',
    'test_evaluator', 'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from', 'resume',
    'launcher', 'env_cfg', 'log_processor', 'log_level', 'visualizer', 'default_scope',
    'randomness', 'experiment_name', 'cfg', 'runner_type', 'strategy', 'compile',
    'model_wrapper_cfg', 'find_unused_parameters', 'custom_imports', 'gpu_ids', 'strict_config',
})
#: Variables of restorekit's base configs: read by the config files themselves when loaded.
CONFIG_VARIABLES = frozenset({
    'data_root', 'crop_size', 'num_train_rows', 'train_pipeline', 'val_pipeline', 'test_pipeline',
    'vis_backends', 'image_size', 'mat_weights', 'ddcolor_weights', 'vgg_weights',
    'detector_weights',
})
#: Classes (``module.QualName`` of the class that defines ``__init__``) whose ``**kwargs`` are
#: passed on to the next base class's ``__init__``.
FORWARDS_KWARGS = frozenset({
    'restorekit.datasets.base.BaseRestorationDataset',
    'restorekit.datasets.dacon_dataset.DaconDataset',
    'restorekit.datasets.image_folder_dataset.ImageFolderDataset',
    'restorekit.models.losses.pixel.CharbonnierLoss',
    'restorekit.models.losses.ssim.SSIMLoss',
    'restorekit.models.losses.tv.TotalVariationLoss',
    'restorekit.models.losses.perceptual.PerceptualLoss',
    'restorekit.visualization.restoration_visualizer.RestorationVisualizer',
    'restorekit.engine.optim_wrappers.CPUAutocastOptimWrapper',
    'mmengine.optim.optimizer.amp_optimizer_wrapper.AmpOptimWrapper',
    'mmengine.optim.scheduler.lr_scheduler.LRSchedulerMixin',
    'mmengine.optim.scheduler.momentum_scheduler.MomentumSchedulerMixin',
    'mmengine.model.wrappers.distributed.MMDistributedDataParallel',
    'restorekit.models.restorers.adversarial.AdversarialRestorer',
})
#: Classes whose ``**kwargs`` accept nothing a config could give: ``CheckpointHook`` hands them
#: to ``Runner.save_checkpoint``, whose every argument the hook already sets.
NO_EXTRA_KWARGS = frozenset({'mmengine.hooks.checkpoint_hook.CheckpointHook'})

_DATALOADER_EXTRA = frozenset({'num_batch_per_epoch', 'disable_subprocess_warning'})
_ENV_KEYS = {'cudnn_benchmark': None, 'mp_cfg': {'mp_start_method', 'opencv_num_threads'},
             'dist_cfg': None, 'resource_limit': None}
_PARAMWISE_KEYS = frozenset({
    'custom_keys', 'bias_lr_mult', 'bias_decay_mult', 'norm_decay_mult', 'dwconv_decay_mult',
    'flat_decay_mult', 'dcn_offset_lr_mult', 'bypass_duplicate'})
_AUTO_SCALE_LR_KEYS = frozenset({'enable', 'base_batch_size'})
#: Keys whose dicts carry a ``type`` that is no registry name (``clip_grad=dict(type='norm')``)
#: or that mmengine builds from another registry we do not check.
_NOT_COMPONENTS = frozenset({'clip_grad', 'collate_fn', 'worker_init_fn', 'dist_cfg',
                             'custom_keys', 'custom_imports'})
_RESERVED = frozenset({'type', '_scope_', '_delete_'})
#: Top-level keys within this difflib ratio of a Runner key are taken for its typo.
TYPO_CUTOFF = 0.8


@dataclass(frozen=True)
class ConfigProblem:
    """One unknown key: its dotted path, what is wrong, and ``'error'`` or ``'warning'``."""

    path: str
    message: str
    level: str = ERROR

    def __str__(self) -> str:
        return f'{self.path}: {self.message}'


class ConfigValidationError(ValueError):
    """The config has keys nothing reads; the message lists each with its path and a hint."""

    def __init__(self, problems: Sequence[ConfigProblem], source: Optional[str] = None) -> None:
        self.problems = list(problems)
        where = f' in {source}' if source else ''
        lines = '\n'.join(f'  {problem}' for problem in self.problems)
        super().__init__(f'{len(self.problems)} config key(s) that nothing reads{where}:\n{lines}\n'
                         'Fix the names (or remove the keys); see docs/config.md#config-validation.')


def nearest_name(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> Optional[str]:
    """The candidate closest to ``name`` (difflib ratio >= ``cutoff``), or None."""
    matches = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=cutoff)
    return matches[0] if matches else None


def _unknown(path: str, key: str, valid: Iterable[str], what: str,
             level: str = ERROR) -> ConfigProblem:
    valid = sorted(set(valid) - _RESERVED)
    hint = nearest_name(key, valid)
    if hint:
        detail = f'did you mean `{hint}`?'
    else:
        detail = f'valid keys: {", ".join(valid[:25])}{" ..." if len(valid) > 25 else ""}'
    return ConfigProblem(f'{path}.{key}' if path else key,
                         f'unknown key of {what}; {detail}', level)


# --- what a class accepts ----------------------------------------------------------------------

def _qualname(cls: type) -> str:
    return f'{cls.__module__}.{cls.__qualname__}'


def _named_parameters(obj: Callable) -> Optional[tuple]:
    """(keyword names, takes **kwargs) of ``obj``'s signature, or None when it has none."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    names = {name for name, parameter in signature.parameters.items()
             if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)}
    var_keyword = any(parameter.kind == parameter.VAR_KEYWORD
                      for parameter in signature.parameters.values())
    return names - {'self'}, var_keyword


def _init_owner(cls: type, start: int = 0) -> Optional[type]:
    """The first class of ``cls.__mro__[start:]`` that defines ``__init__``."""
    for klass in cls.__mro__[start:]:
        if '__init__' in vars(klass):
            return klass
    return None


def _accepted_by_init(cls: type, owner: type) -> Optional[Set[str]]:
    named = _named_parameters(owner.__init__) if owner is not object else (set(), False)
    if named is None:
        return None
    names, var_keyword = named
    if not var_keyword:
        return names
    qualname = _qualname(owner)
    if qualname in NO_EXTRA_KWARGS:
        return names
    if qualname in FORWARDS_KWARGS:
        base = _init_owner(cls, cls.__mro__.index(owner) + 1)
        if base is None or base is object:
            return names
        rest = _accepted_by_init(cls, base)
        return None if rest is None else names | rest
    return None


def accepted_keywords(obj: Any, cfg: Optional[Mapping] = None) -> Optional[Set[str]]:
    """The keyword names a config may give ``obj`` (a class or builder function), or None when
    that cannot be known (a ``**kwargs`` that no rule covers)."""
    if inspect.isclass(obj):
        own_check = getattr(obj, 'accepted_config_keywords', None)
        if callable(own_check):
            return own_check(dict(cfg or {}))
        owner = _init_owner(obj)
        if owner is None or owner is object:
            return set()
        return _accepted_by_init(obj, owner)
    named = _named_parameters(obj)
    if named is None or named[1]:
        return None
    return named[0]


# --- registries ---------------------------------------------------------------------------------

def _registries() -> Dict[str, Any]:
    from mmengine import registry as mm
    from restorekit import registry as rk
    return dict(
        model=rk.MODELS, inpainter=rk.INPAINTERS, colorizer=rk.COLORIZERS,
        mask_detector=rk.MASK_DETECTORS, detector=rk.MASK_DETECTORS,
        discriminator=rk.DISCRIMINATORS, loss=rk.LOSSES, dataset=rk.DATASETS,
        transform=rk.TRANSFORMS, sampler=rk.DATA_SAMPLERS, optimizer=rk.OPTIMIZERS,
        optim_wrapper=rk.OPTIM_WRAPPERS, param_scheduler=rk.PARAM_SCHEDULERS, hook=rk.HOOKS,
        loop=rk.LOOPS, metric=rk.METRICS, evaluator=rk.EVALUATORS, visualizer=rk.VISUALIZERS,
        vis_backend=rk.VISBACKENDS, model_wrapper=rk.MODEL_WRAPPERS,
        mask_generator=rk.MASK_GENERATORS, init=mm.WEIGHT_INITIALIZERS,
        log_processor=mm.LOG_PROCESSORS)


def _registry_for_key(key: str) -> Optional[str]:
    """The registry a component under ``key`` is built from, by the key's name."""
    key = key.lower()
    direct = {'model': 'model', 'data_preprocessor': 'model', 'inpainter': 'inpainter',
              'colorizer': 'colorizer', 'mask_detector': 'mask_detector',
              'detector': 'mask_detector', 'discriminator': 'discriminator',
              'gan_loss': 'loss', 'r1_penalty': 'loss', 'dataset': 'dataset',
              'datasets': 'dataset', 'pipeline': 'transform', 'transforms': 'transform',
              'sampler': 'sampler', 'batch_sampler': 'sampler', 'optimizer': 'optimizer',
              'param_scheduler': 'param_scheduler', 'custom_hooks': 'hook',
              'default_hooks': 'hook', 'metrics': 'metric', 'val_evaluator': 'metric',
              'test_evaluator': 'metric', 'visualizer': 'visualizer',
              'vis_backends': 'vis_backend', 'model_wrapper_cfg': 'model_wrapper',
              'init_cfg': 'init', 'log_processor': 'log_processor'}
    if key in direct:
        return direct[key]
    if key.endswith('losses') or key.endswith('_loss'):
        return 'loss'
    if 'mask' in key and ('generator' in key or key == 'masks'):
        return 'mask_generator'
    return None


def _get(registry, name: str):
    try:
        return registry.get(name)
    except Exception:  # a registry whose lazy imports fail: the build will say why
        return None


def resolve_type(type_: Any, key: str) -> Optional[Any]:
    """The class or function a component's ``type`` names, looked up in the registry of its key,
    else in every registry (None when not found or ambiguous)."""
    if not isinstance(type_, str):
        return type_ if callable(type_) else None
    registries = _registries()
    name = _registry_for_key(key)
    if name is not None:
        found = _get(registries[name], type_)
        if found is not None:
            return found
    candidates = {id(obj): obj for obj in (_get(reg, type_) for reg in registries.values())
                  if obj is not None}
    return next(iter(candidates.values())) if len(candidates) == 1 else None


# --- the walk -----------------------------------------------------------------------------------

class _Walker:

    def __init__(self) -> None:
        self.problems: List[ConfigProblem] = []

    def keys(self, node: Any, path: str, valid: Iterable[str], what: str) -> None:
        if not isinstance(node, Mapping):
            return
        valid = set(valid)
        for key in node:
            if key not in valid and key not in _RESERVED:
                self.problems.append(_unknown(path, key, valid, what))

    def component(self, node: Any, path: str, key: str, default_type: Any = None,
                  extra: Iterable[str] = ()) -> None:
        """A dict built from a registry: its keys against the class, then its children."""
        if not isinstance(node, Mapping):
            return
        type_ = node.get('type', default_type)
        obj = resolve_type(type_, key) if type_ is not None else None
        if obj is not None:
            accepted = accepted_keywords(obj, node)
            if accepted is not None:
                name = getattr(obj, '__name__', str(type_))
                self.keys(node, path, accepted | set(extra), f'{name} ({path})')
        for child_key, value in node.items():
            if child_key not in _RESERVED:
                self.child(value, f'{path}.{child_key}', child_key)

    def child(self, value: Any, path: str, key: str) -> None:
        if key in _NOT_COMPONENTS:
            return
        if isinstance(value, Mapping):
            if 'type' in value:
                self.component(value, path, key)
            else:
                for child_key, item in value.items():
                    self.child(item, f'{path}.{child_key}', child_key)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                self.child(item, f'{path}.{index}', key)

    def dataloader(self, node: Any, path: str) -> None:
        from torch.utils.data import DataLoader
        if not isinstance(node, Mapping):
            return
        self.keys(node, path, _named_parameters(DataLoader)[0] | _DATALOADER_EXTRA,
                  f'a dataloader ({path}: torch DataLoader arguments and mmengine\'s)')
        for key in ('dataset', 'sampler', 'batch_sampler'):
            if isinstance(node.get(key), Mapping):
                self.component(node[key], f'{path}.{key}', key)

    def loop(self, node: Any, path: str, default: str) -> None:
        from mmengine.runner import loops
        if not isinstance(node, Mapping):
            return
        if 'type' in node:
            self.component(node, path, 'loop')
            return
        if default == 'train':
            cls = loops.EpochBasedTrainLoop if node.get('by_epoch') else loops.IterBasedTrainLoop
            extra = {'by_epoch'}
        else:
            cls, extra = (loops.ValLoop if default == 'val' else loops.TestLoop), set()
        accepted = (accepted_keywords(cls) or set()) - {'runner', 'dataloader', 'evaluator'}
        self.keys(node, path, accepted | extra, f'{cls.__name__} ({path})')

    def optim_wrapper(self, node: Any, path: str) -> None:
        if not isinstance(node, Mapping):
            return
        node = dict(node)
        node.pop('constructor', None)
        paramwise = node.pop('paramwise_cfg', None)
        if isinstance(paramwise, Mapping):
            self.keys(paramwise, f'{path}.paramwise_cfg', _PARAMWISE_KEYS, 'paramwise_cfg')
        if 'optimizer' in node or 'type' in node:
            self.component(node, path, 'optim_wrapper', default_type='OptimWrapper',
                           extra={'paramwise_cfg', 'constructor'})
        else:  # one wrapper per network (RestorerOptimWrapperConstructor checks the names)
            for network, wrapper in node.items():
                self.optim_wrapper(wrapper, f'{path}.{network}')

    def evaluator(self, node: Any, path: str) -> None:
        if isinstance(node, (list, tuple)):
            for index, metric in enumerate(node):
                self.component(metric, f'{path}.{index}', 'metrics')
        elif isinstance(node, Mapping):
            if 'metrics' in node:
                self.component(node, path, 'evaluator', default_type='Evaluator')
            else:
                self.component(node, path, 'metrics')

    def top_level(self, tree: Mapping) -> None:
        others = {key: value for key, value in tree.items()}
        for key, value in tree.items():
            if key in RUNNER_KEYS or key in CONFIG_VARIABLES or key.startswith('_'):
                continue
            if inspect.isfunction(value) or inspect.isclass(value) or inspect.ismodule(value):
                continue  # a helper the config file defines or imports
            hint = nearest_name(key, RUNNER_KEYS, cutoff=TYPO_CUTOFF)
            if hint:
                self.problems.append(ConfigProblem(
                    key, f'unknown top-level key; did you mean `{hint}`? (nothing reads '
                    f'`{key}`, so the config\'s `{hint}` is used unchanged)'))
            elif not _used_elsewhere(key, others):
                self.problems.append(ConfigProblem(
                    key, 'top-level key that neither the Runner nor the rest of the config '
                    'reads; remove it, or ignore this if it is a variable of your own', WARNING))


def _contains_value(node: Any, value: Any) -> bool:
    try:
        if node == value:
            return True
    except Exception:  # exotic objects that cannot be compared
        return False
    if isinstance(node, Mapping):
        return any(_contains_value(item, value) for item in node.values())
    if isinstance(node, (list, tuple)):
        return any(_contains_value(item, value) for item in node)
    return False


def _used_elsewhere(key: str, tree: Mapping) -> bool:
    """Whether the value of top-level ``key`` appears under another top-level key (a variable
    the config used while it was loaded)."""
    value = tree[key]
    if value is None or isinstance(value, bool):
        return False
    return any(_contains_value(item, value) for other, item in tree.items() if other != key)


def validate_config(cfg: Any) -> List[ConfigProblem]:
    """Every unknown key of ``cfg`` (a ``Config`` or a dict), errors and warnings."""
    tree = cfg.to_dict() if isinstance(cfg, Config) else dict(cfg)
    walker = _Walker()
    walker.top_level(tree)
    if tree.get('model') is not None:
        walker.component(tree['model'], 'model', 'model')
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        walker.dataloader(tree.get(name), name)
    for name, default in (('train_cfg', 'train'), ('val_cfg', 'val'), ('test_cfg', 'test')):
        walker.loop(tree.get(name), name, default)
    walker.optim_wrapper(tree.get('optim_wrapper'), 'optim_wrapper')
    schedulers = tree.get('param_scheduler')
    for index, scheduler in enumerate(
            schedulers if isinstance(schedulers, (list, tuple)) else [schedulers]):
        path = f'param_scheduler.{index}' if isinstance(schedulers, (list, tuple)) \
            else 'param_scheduler'
        walker.component(scheduler, path, 'param_scheduler', extra={'convert_to_iter_based'})
    for name, hook in (tree.get('default_hooks') or {}).items():
        walker.component(hook, f'default_hooks.{name}', 'default_hooks')
    for index, hook in enumerate(tree.get('custom_hooks') or []):
        walker.component(hook, f'custom_hooks.{index}', 'custom_hooks')
    env_cfg = tree.get('env_cfg')
    walker.keys(env_cfg, 'env_cfg', _ENV_KEYS, 'env_cfg')
    if isinstance(env_cfg, Mapping):
        walker.keys(env_cfg.get('mp_cfg'), 'env_cfg.mp_cfg', _ENV_KEYS['mp_cfg'], 'env_cfg.mp_cfg')
    from mmengine.runner import Runner
    walker.keys(tree.get('randomness'), 'randomness', _named_parameters(Runner.set_randomness)[0],
                'randomness (Runner.set_randomness)')
    walker.keys(tree.get('auto_scale_lr'), 'auto_scale_lr', _AUTO_SCALE_LR_KEYS, 'auto_scale_lr')
    walker.component(tree.get('log_processor'), 'log_processor', 'log_processor',
                     default_type='LogProcessor')
    walker.component(tree.get('visualizer'), 'visualizer', 'visualizer', default_type='Visualizer')
    walker.component(tree.get('model_wrapper_cfg'), 'model_wrapper_cfg', 'model_wrapper_cfg')
    for name in ('val_evaluator', 'test_evaluator'):
        walker.evaluator(tree.get(name), name)
    return walker.problems


def check_config(cfg: Any, source: Optional[str] = None) -> List[ConfigProblem]:
    """Validate ``cfg``: log each warning, raise :class:`ConfigValidationError` listing every
    error (as warnings instead when the config sets ``strict_config = False``).

    Returns:
        The problems found (warnings only, unless ``strict_config`` is False).
    """
    problems = validate_config(cfg)
    source = source or getattr(cfg, 'filename', None)
    strict = cfg.get('strict_config', True) if hasattr(cfg, 'get') else True
    errors = [problem for problem in problems if problem.level == ERROR]
    if errors and strict:
        raise ConfigValidationError(errors, source)
    for problem in problems:
        print_log(f'config{f" {source}" if source else ""}: {problem}', logger='current',
                  level=30)
    return problems


def check_config_file(config: str, cfg_options: Optional[dict] = None) -> List[ConfigProblem]:
    """Load ``config`` with ``cfg_options`` merged (``data_root`` moves the datasets, see
    :mod:`restorekit.engine.data_root`) and :func:`check_config` it."""
    from restorekit.engine.data_root import merge_cfg_options
    cfg = merge_cfg_options(Config.fromfile(config), cfg_options)
    return check_config(cfg, config)
