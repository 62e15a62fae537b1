"""Checkpoint files are read only through the safe loader.

``restorekit.engine.checkpoint.safe_torch_load`` loads with ``weights_only=True`` and restorekit's
allow-list (nothing in a file is executed); every other reader goes through it
(``restorekit.utils.state_dict.read_state_dict``). This scans restorekit/ and tools/ (with
``ast``: calls, not docstrings) for any other ``torch.load``.
"""
import ast

from source_scan import ROOT, python_files

#: The one function allowed to call torch.load, as (file, function).
SAFE_LOADER = ('restorekit/engine/checkpoint.py', 'safe_torch_load')


def _torch_load_calls(tree: ast.AST):
    """(line, enclosing function) of every ``torch.load(...)`` / ``load(...)`` imported from
    torch, and of ``torch.load`` passed around as a value."""
    aliases = {alias.asname or alias.name
               for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               and node.module in ('torch', 'torch.serialization')
               for alias in node.names if alias.name == 'load'}
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef,
                                                     ast.AsyncFunctionDef)) else function
            if (isinstance(child, ast.Attribute) and child.attr == 'load'
                    and isinstance(child.value, ast.Name) and child.value.id == 'torch'):
                found.append((child.lineno, function))
            elif isinstance(child, ast.Name) and child.id in aliases:
                found.append((child.lineno, function))
            visit(child, inner)

    visit(tree, None)
    return found


def test_no_torch_load_outside_the_safe_loader():
    offenders = []
    for path in python_files('restorekit', 'tools'):
        relative = path.relative_to(ROOT).as_posix()
        for line, function in _torch_load_calls(ast.parse(path.read_text())):
            if (relative, function) != SAFE_LOADER:
                offenders.append(f'{relative}:{line} (in {function})')
    assert not offenders, ('torch.load outside restorekit.engine.checkpoint.safe_torch_load; '
                           'read checkpoints with restorekit.utils.state_dict.read_state_dict '
                           f'or safe_torch_load instead: {offenders}')


def test_the_scan_finds_a_bare_torch_load():
    code = ('import torch\nfrom torch import load as read\n'
            'def f(p):\n    return torch.load(p)\n'
            'def g(p):\n    return read(p, weights_only=True)\n')
    assert _torch_load_calls(ast.parse(code)) == [(4, 'f'), (6, 'g')]
