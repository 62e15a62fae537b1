"""Read restorekit's source with ``ast`` (nothing imported): registered classes, lazy export maps.

Shared by the tests that keep hand-written or discovered lists honest (tests/test_registry.py,
tests/test_lazy_exports.py).
"""
import ast
import os.path as osp
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Tuple

ROOT = Path(osp.dirname(osp.dirname(osp.abspath(__file__))))
PACKAGE = ROOT / 'restorekit'


class RegisteredClass(NamedTuple):
    """A class decorated with ``@REGISTRY.register_module(...)``, as read from the source."""

    module: str  # dotted module name, e.g. 'restorekit.masks.mat'
    name: str  # the name it is registered under
    registry: str  # the registry's variable name in restorekit.registry, e.g. 'MASK_GENERATORS'


def module_name(path: Path) -> str:
    """``restorekit/masks/mat.py`` -> ``restorekit.masks.mat`` (a package's ``__init__`` -> the
    package)."""
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def python_files(*folders: str) -> Iterator[Path]:
    """Every ``.py`` file under the folders (relative to the repository root), sorted."""
    for folder in folders:
        yield from sorted((ROOT / folder).rglob('*.py'))


def _registered_name(decorator: ast.Call, default: str) -> str:
    for keyword in decorator.keywords:
        if keyword.arg == 'name' and isinstance(keyword.value, ast.Constant):
            return keyword.value.value
    if decorator.args and isinstance(decorator.args[0], ast.Constant):
        return decorator.args[0].value
    return default


def registered_classes(folder: str = 'restorekit') -> List[RegisteredClass]:
    """Every ``@X.register_module(...)``-decorated class under ``folder``, one entry per
    decorator (a class registered in three registries appears three times)."""
    found = []
    for path in python_files(folder):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for decorator in node.decorator_list:
                if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                        and decorator.func.attr == 'register_module'
                        and isinstance(decorator.func.value, ast.Name)):
                    found.append(RegisteredClass(module_name(path),
                                                 _registered_name(decorator, node.name),
                                                 decorator.func.value.id))
    return found


def lazy_export_maps() -> Dict[str, Tuple[str, Dict[str, str]]]:
    """Packages whose ``__init__`` maps exported names to modules (PEP 562 ``__getattr__``):
    ``{package: (map variable, {name: module as written})}``."""
    maps = {}
    for path in PACKAGE.rglob('__init__.py'):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and isinstance(node.value, ast.Dict)):
                try:
                    value = ast.literal_eval(node.value)
                except ValueError:
                    continue
                if value and all(isinstance(k, str) and isinstance(v, str)
                                 for k, v in value.items()):
                    maps[module_name(path)] = (node.targets[0].id, value)
    return maps
