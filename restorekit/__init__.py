"""restorekit: restore damaged black-and-white photographs (detect damage, inpaint, colorize).

Importing the package is light: components are imported by the registries in
:mod:`restorekit.registry` the first time they are built.
"""
__version__ = '0.1.0'
