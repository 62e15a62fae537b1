"""Lazy export lists of restorekit's packages (PEP 562 ``__getattr__``) cannot drift from the code.

A package such as ``restorekit.masks`` maps each exported name to the module that defines it, so
that importing the package imports nothing heavy. Every registered class of the package must be
in its map (``from restorekit.masks import MATMask`` once failed because it was not), and every
name of the map must resolve to an object of that name.
"""
import importlib

import pytest

from source_scan import lazy_export_maps, registered_classes

MAPS = lazy_export_maps()


def test_the_lazy_packages_are_found():
    assert {'restorekit.masks', 'restorekit.datasets', 'restorekit.datasets.transforms',
            'restorekit.evaluation', 'restorekit.apis'} <= set(MAPS)


@pytest.mark.parametrize('package', sorted(MAPS))
def test_every_registered_class_of_the_package_is_exported(package):
    variable, exports = MAPS[package]
    # Only classes defined in the package's own modules: a subpackage with its own map (e.g.
    # restorekit.datasets.transforms inside restorekit.datasets) answers for its classes.
    own = [found for found in registered_classes(package.replace('.', '/'))
           if not any(found.module.startswith(f'{other}.') for other in MAPS
                      if other.startswith(f'{package}.'))]
    missing = sorted({found.name for found in own} - set(exports))
    assert not missing, (f'{package}.__init__.{variable} lacks {missing}: add them so that '
                         f'`from {package} import {missing[0]}` works.')


@pytest.mark.parametrize('package', sorted(MAPS))
def test_every_exported_name_resolves(package):
    module = importlib.import_module(package)
    for name in MAPS[package][1]:
        assert getattr(module, name).__name__ == name
        assert name in module.__all__


def test_matmask_is_importable_from_the_package():
    from restorekit.masks import MATMask
    from restorekit.masks.mat import MATMask as defined
    assert MATMask is defined
