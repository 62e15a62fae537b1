"""Third-party plugins: packages that register components into restorekit's registries.

A plugin is an installed distribution that declares an entry point in the group
``restorekit.plugins`` (``pyproject.toml``: ``[project.entry-points."restorekit.plugins"]``,
``my_plugin = "my_plugin_module"``). The entry point names a module, whose import registers the
plugin's components (``@INPAINTERS.register_module()``...), or a callable ``"module:register"``,
which is called once with no arguments after the import.

The plugins are loaded once, the first time any restorekit registry is searched: every registry of
:mod:`restorekit.registry` is a :class:`PluginRegistry`, mmengine's ``Registry`` whose lazy import
of its ``locations`` also calls :func:`load_plugins`. So ``type='MyInpainter'`` works in a config
without an import anywhere, as with pytest's ``pytest11`` and flake8's entry point plugins. The
config-level alternative, ``custom_imports = dict(imports=['my_plugin_module'])``, is mmengine's
own (applied by ``Config.fromfile``); see ``docs/plugins.md``.

Set the environment variable ``RESTOREKIT_DISABLE_PLUGINS=1`` to load no entry point plugins (for
example to find out whether a plugin breaks a run).
"""
import os
import threading
from importlib import metadata
from typing import Dict, List, Set

from mmengine.registry import Registry

#: The entry point group restorekit loads plugins from.
PLUGIN_GROUP = 'restorekit.plugins'
#: Environment variable that turns entry point plugins off when set to a non-empty value.
DISABLE_ENV_VAR = 'RESTOREKIT_DISABLE_PLUGINS'

# Loading state per group. The lock is re-entrant because a plugin's import may itself search a
# registry (e.g. subclass a component it gets from one), which calls load_plugins again.
_LOCK = threading.RLock()
_LOADED: Dict[str, List[str]] = {}  # group -> names of the entry points loaded, in order
_COMPLETE: Set[str] = set()  # groups whose every entry point has loaded
_IN_PROGRESS: Set[str] = set()  # groups being loaded (by the thread holding the lock)


class PluginLoadError(ImportError):
    """A plugin's entry point failed to import (or its register callable failed)."""


def _entry_points(group: str) -> List[metadata.EntryPoint]:
    """The installed entry points of ``group``, sorted by name (a stable loading order)."""
    found = metadata.entry_points()
    if hasattr(found, 'select'):  # Python >= 3.10
        points = found.select(group=group)
    else:  # Python 3.9: a dict of group -> entry points
        points = found.get(group, [])
    return sorted(points, key=lambda point: point.name)


def describe_entry_point(point: metadata.EntryPoint) -> str:
    """``'name = value'`` of an entry point and the distribution that declares it."""
    dist = getattr(point, 'dist', None)
    dist_name = dist.metadata['Name'] if dist is not None else 'an unknown distribution'
    return f'{point.name} = {point.value} (group {point.group!r}, from {dist_name})'


def _load_entry_point(point: metadata.EntryPoint) -> None:
    """Import the plugin's module and call its register function if the entry point names one."""
    try:
        loaded = point.load()
        if point.attr is not None:
            if not callable(loaded):
                raise TypeError(f'{point.value} is a {type(loaded).__name__}, not a callable; an '
                                'entry point names a module or a register function.')
            loaded()
    except Exception as err:
        raise PluginLoadError(
            f'restorekit plugin {point.name!r} failed to load: entry point '
            f'{describe_entry_point(point)} raised {type(err).__name__}: {err}. Fix or uninstall '
            f'the distribution, or set {DISABLE_ENV_VAR}=1 to run without plugins.') from err


def load_plugins(group: str = PLUGIN_GROUP) -> List[str]:
    """Load every plugin of the entry point ``group`` once; returns the names loaded so far.

    Idempotent: an entry point that loaded is never loaded again, so later calls are cheap. A
    failing entry point raises :class:`PluginLoadError` naming it and its module; it is retried
    (and fails again) on the next call, so a broken plugin never goes unnoticed. Thread-safe:
    concurrent callers wait for the first to finish. A call made while the group is loading (a
    plugin's import searching a registry) returns at once with the plugins loaded so far.

    Args:
        group: The entry point group (tests use their own).

    Returns:
        The names of the loaded entry points, sorted by name.
    """
    if group in _COMPLETE:  # the fast path, taken on every registry search after the first
        return list(_LOADED[group])
    with _LOCK:
        if group in _COMPLETE or group in _IN_PROGRESS:
            return list(_LOADED.get(group, []))
        loaded = _LOADED.setdefault(group, [])
        if os.environ.get(DISABLE_ENV_VAR):
            _COMPLETE.add(group)
            return []
        _IN_PROGRESS.add(group)
        try:
            for point in _entry_points(group):
                if point.name not in loaded:
                    _load_entry_point(point)
                    loaded.append(point.name)
            _COMPLETE.add(group)
        finally:
            _IN_PROGRESS.discard(group)
    if loaded:
        from mmengine.logging import print_log
        print_log(f'restorekit plugins loaded from {group!r}: {", ".join(loaded)}',
                  logger='current')
    return list(loaded)


class PluginRegistry(Registry):
    """mmengine's ``Registry`` that also loads restorekit's plugins when it is first searched.

    mmengine imports a registry's ``locations`` in :meth:`import_from_location` on every
    ``get``/``build`` (a no-op after the first); this class then calls :func:`load_plugins`, so
    plugin components are found by name like restorekit's own. A plugin must use names of its own:
    registering a name restorekit (or another plugin) registers in the same registry raises
    mmengine's ``KeyError`` (``... is already registered``) whichever module comes second.
    """

    def import_from_location(self) -> None:
        """Import this registry's own modules, then load the plugins (once for all registries)."""
        super().import_from_location()
        load_plugins()
