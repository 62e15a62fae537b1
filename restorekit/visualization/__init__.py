"""Visualisation of restorations through mmengine's Visualizer backends (docs/visualization.md)."""
from .restoration_visualizer import (PANELS, RestorationVisualizer, compose_restoration_grid,
                                     restoration_panels, to_rgb_uint8)

__all__ = [
    'PANELS', 'RestorationVisualizer', 'compose_restoration_grid', 'restoration_panels',
    'to_rgb_uint8'
]
