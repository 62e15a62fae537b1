"""The registries: scopes, lazy imports, discovery, and that every registered component builds."""
import json
import subprocess
import sys

import pytest
from mmengine.registry import MODELS as MMENGINE_MODELS

from restorekit import registry
from restorekit.registry import discover_modules
from source_scan import registered_classes

DOMAIN_REGISTRIES = ['MASK_GENERATORS', 'MASK_DETECTORS', 'INPAINTERS', 'COLORIZERS',
                     'DISCRIMINATORS', 'LOSSES']
GENERIC_REGISTRIES = ['DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS',
                      'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'OPTIMIZERS',
                      'PARAM_SCHEDULERS', 'HOOKS', 'LOOPS', 'METRICS', 'EVALUATORS', 'VISUALIZERS',
                      'VISBACKENDS']


@pytest.mark.parametrize('name', GENERIC_REGISTRIES + DOMAIN_REGISTRIES)
def test_every_registry_has_the_restorekit_scope(name):
    assert getattr(registry, name).scope == 'restorekit'


@pytest.mark.parametrize('name', GENERIC_REGISTRIES)
def test_generic_registries_are_children_of_mmengine_roots(name):
    reg = getattr(registry, name)
    assert reg.parent is not None and reg.parent.scope == 'mmengine'
    assert reg.parent.children['restorekit'] is reg


def test_mmengine_components_are_reachable_through_restorekit_registries():
    assert registry.OPTIMIZERS.get('Adam') is not None
    assert registry.HOOKS.get('CheckpointHook') is not None
    assert MMENGINE_MODELS.get('restorekit.Restorer') is registry.MODELS.get('Restorer')


def _python(code: str) -> str:
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_importing_restorekit_is_light():
    loaded = _python('import sys, restorekit, restorekit.registry; '
                     "print(sorted(m for m in sys.modules if m.startswith(('torch', "
                     "'segmentation_models_pytorch', 'timm', 'restorekit.models'))))")
    assert 'segmentation_models_pytorch' not in loaded
    assert 'timm' not in loaded
    assert 'restorekit.models' not in loaded


def test_importing_one_component_does_not_import_the_others():
    loaded = _python('import sys; import restorekit.models.losses.pixel; '
                     "print([m for m in sys.modules if m.startswith(('restorekit.models', "
                     "'segmentation_models_pytorch', 'restorekit.datasets'))])")
    assert 'restorekit.models.losses.pixel' in loaded
    assert 'segmentation_models_pytorch' not in loaded
    assert 'restorekit.models.backbones.smp_unet' not in loaded
    assert 'restorekit.datasets' not in loaded


def test_registry_imports_its_locations_on_first_use():
    loaded = _python('import sys; from restorekit.registry import LOSSES; '
                     "LOSSES.build(dict(type='L1Loss')); "
                     "print([m for m in sys.modules if m.startswith('restorekit.')])")
    assert 'restorekit.models.losses.pixel' in loaded
    assert 'restorekit.models.backbones.smp_unet' not in loaded


def _registered(reg):
    reg.import_from_location()
    return sorted(reg.module_dict)


@pytest.mark.parametrize('name', DOMAIN_REGISTRIES + ['DATASETS', 'TRANSFORMS', 'METRICS', 'HOOKS'])
def test_every_location_imports(name):
    reg = getattr(registry, name)
    for location in reg._locations:
        __import__(location)


EXPECTED = {
    'MASK_GENERATORS': {'PolygonMask', 'BrushStrokeMask', 'BoxMask', 'LargeMask', 'MixedMask',
                        'MATMask'},
    'INPAINTERS': {'SmpUNet', 'MAT'},
    'DISCRIMINATORS': {'PatchDiscriminator', 'MATDiscriminator'},
    'COLORIZERS': {'SmpUNet'},
    'MASK_DETECTORS': {'SmpUNet'},
    'LOSSES': {'L1Loss', 'MSELoss', 'CharbonnierLoss', 'BCEWithLogitsLoss'},
    'DATASETS': {'DaconDataset', 'ImageFolderDataset'},
    'TRANSFORMS': {'LoadImageFromFile', 'RandomCrop', 'Resize', 'RandomFlip', 'ToGray',
                   'SynthesizeDamage', 'DeriveDamageMask', 'PackRestorationInputs'},
    'METRICS': {'DaconMetric', 'PSNR', 'SSIM'},
    'MODELS': {'Restorer', 'RestorationDataPreprocessor'},
    'HOOKS': {'SavePredictionsHook'},
    'OPTIM_WRAPPERS': {'CPUAutocastOptimWrapper'},
}


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_registries_hold_the_documented_components(name):
    assert EXPECTED[name] <= set(_registered(getattr(registry, name)))


def test_every_registered_class_is_found_by_name_in_its_registry():
    """No hand-kept list: every class decorated with ``register_module`` anywhere in restorekit/
    (read from the source with ast) is found by its registry, in a fresh process that imported
    nothing but the registry module."""
    classes = registered_classes('restorekit')
    assert len(classes) > 40 and {c.registry for c in classes} >= set(DOMAIN_REGISTRIES)
    code = ('import json\n'
            'from restorekit import registry\n'
            f'classes = json.loads({json.dumps(json.dumps(classes))})\n'
            'missing = []\n'
            'for module, name, reg in classes:\n'
            '    # Found by name, and by this registry\'s own discovery (not because another\n'
            '    # registry happened to import the module first).\n'
            '    found = getattr(registry, reg).get(name)\n'
            '    discovered = {m for location in getattr(registry, reg)._locations\n'
            '                  for m in registry.discover_modules(location)}\n'
            '    if found is None or found.__module__ != module or module not in discovered:\n'
            '        missing.append(f"{reg}.{name} (defined in {module}) found {found}")\n'
            'print(json.dumps(missing))\n')
    missing = json.loads(_python(code).splitlines()[-1])
    assert not missing, (f'not found by name: {missing}; add the package of the module to the '
                         'registry\'s locations in restorekit/registry.py')


def test_discovery_imports_the_registering_modules_of_a_package(tmp_path, monkeypatch):
    package = tmp_path / 'discovered_pkg'
    (package / 'sub').mkdir(parents=True)
    (package / '__init__.py').write_text('')
    (package / 'helpers.py').write_text('VALUE = 1\n')
    (package / 'sub' / '__init__.py').write_text('')
    (package / 'sub' / 'widget.py').write_text(
        'from restorekit.registry import LOSSES\n'
        '@LOSSES.register_module(force=True)\nclass DiscoveredWidget:\n    pass\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert discover_modules('discovered_pkg') == [
        'discovered_pkg', 'discovered_pkg.sub', 'discovered_pkg.sub.widget']
    assert discover_modules('restorekit.models.losses.pixel') == ['restorekit.models.losses.pixel']
