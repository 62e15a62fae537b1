"""Data structures that travel between datasets, models and metrics."""
from .data_sample import RestorationDataSample

__all__ = ['RestorationDataSample']
