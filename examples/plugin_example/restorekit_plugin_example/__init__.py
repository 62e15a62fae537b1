"""An example restorekit plugin (docs/plugins.md).

Importing this package registers

* ``DilatedResidualInpainter`` in restorekit's ``INPAINTERS``,
* ``GradientDifferenceLoss`` in restorekit's ``LOSSES``.

restorekit imports it through the ``restorekit.plugins`` entry point declared in pyproject.toml;
a config can import it explicitly instead with
``custom_imports = dict(imports=['restorekit_plugin_example'], allow_failed_imports=False)``.
"""
from .dilated_inpainter import DilatedResidualInpainter
from .gradient_loss import GradientDifferenceLoss

__all__ = ['DilatedResidualInpainter', 'GradientDifferenceLoss']
__version__ = '0.1.0'
