"""The base of restorekit's datasets: per-sample random generators and registry-built pipelines.

Randomness rules (see ``docs/data.md`` and ``docs/conventions.md``): every sample gets its own
:class:`numpy.random.Generator` in ``results['rng']`` and random transforms draw only from it.

* deterministic (validation, test): seeded from ``(seed, idx)`` so the damage of sample ``idx``
  is the same in every run, every process and every DataLoader worker;
* training: seeded from ``(seed, idx, n, rank, worker_seed)``, where ``n`` counts how often this
  dataset object has served ``idx``, ``rank`` is the distributed rank and ``worker_seed`` the
  DataLoader worker's seed (0 outside workers). ``n`` makes each epoch draw new damage; the
  worker seed and the rank keep that true where ``n`` alone would repeat: non-persistent workers
  get a fresh copy of the dataset (so ``n`` restarts at 0) every epoch, and with a shuffling
  sampler one index is served by different workers or ranks in different epochs. PyTorch derives
  worker seeds from its generator, which mmengine seeds from the run's seed, so a run is
  reproducible for a given seed.
"""
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.dist import get_rank
from torch.utils.data import get_worker_info

TransformConfig = Union[Mapping, Callable]


def sample_rng(seed: int, idx: int, *stream: int) -> np.random.Generator:
    """A generator seeded from ``SeedSequence((seed, idx, *stream))``, free of global state."""
    return np.random.default_rng(np.random.SeedSequence((seed, idx) + tuple(stream)))


def require_rng(results: dict, owner: str) -> np.random.Generator:
    """Return ``results['rng']`` or raise an error that says where it should come from.

    Random transforms call this instead of touching numpy's global random state.
    """
    rng = results.get('rng')
    if not isinstance(rng, np.random.Generator):
        found = 'nothing' if rng is None else type(rng).__name__
        raise KeyError(
            f"{owner} draws its randomness from results['rng'], a numpy.random.Generator that "
            f'restorekit datasets set for every sample, but found {found}. Use a '
            "BaseRestorationDataset or set results['rng'] = numpy.random.default_rng(seed).")
    return rng


def _worker_seed() -> int:
    """The DataLoader worker's seed inside a worker, 0 in the main process."""
    info = get_worker_info()
    return 0 if info is None else int(info.seed)


def build_pipeline(pipeline: Sequence[TransformConfig]) -> List[Callable]:
    """Build transform configs from ``restorekit.registry.TRANSFORMS``; keep callables as they are.

    Building here (rather than in mmengine's ``Compose``, which searches the root registry) makes
    datasets work without ``default_scope='restorekit'``.
    """
    from restorekit.registry import TRANSFORMS

    built = []
    for transform in pipeline:
        if isinstance(transform, Mapping):
            built.append(TRANSFORMS.build(dict(transform)))
        elif callable(transform):
            built.append(transform)
        else:
            raise TypeError('pipeline entries must be transform configs (dicts) or callables, got '
                            f'{type(transform).__name__} {transform!r}')
    return built


class BaseRestorationDataset(BaseDataset):
    """An mmengine :class:`~mmengine.dataset.BaseDataset` that gives every sample its own RNG.

    Subclasses implement ``load_data_list``; each data info holds ``img_path``, ``gt_path`` and
    ``mask_path`` (any may be None). :meth:`prepare_data` adds ``results['rng']`` (see the module
    docstring for the seeding rules) and ``results['sample_idx']`` before running the pipeline.

    Args:
        seed: Non-negative base seed of every sample's generator.
        deterministic: Draw the same damage for a sample every time. None (default) means
            ``test_mode``: validation and test are deterministic, training is not.
        pipeline: Transform configs (built from ``restorekit.registry.TRANSFORMS``) or callables.
        **kwargs: Passed to :class:`~mmengine.dataset.BaseDataset` (``data_root``, ``ann_file``,
            ``indices``, ``test_mode``, ``serialize_data``, ``lazy_init``...).
    """

    def __init__(self,
                 pipeline: Sequence[TransformConfig] = (),
                 seed: int = 0,
                 deterministic: Optional[bool] = None,
                 **kwargs) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f'{type(self).__name__}: seed must be a non-negative int, got '
                             f'{seed!r}')
        self.seed = int(seed)
        self._deterministic = deterministic
        self._serve_counts: Dict[int, int] = {}
        self._refetch_rng = np.random.default_rng(self.seed)
        super().__init__(pipeline=build_pipeline(pipeline), **kwargs)

    @property
    def deterministic(self) -> bool:
        """Whether sample ``idx`` always gets the same generator (defaults to ``test_mode``)."""
        return self.test_mode if self._deterministic is None else bool(self._deterministic)

    def sample_rng(self, idx: int) -> np.random.Generator:
        """The generator for serving ``idx`` now; in training this advances ``idx``'s counter."""
        if self.deterministic:
            return sample_rng(self.seed, idx)
        served = self._serve_counts.get(idx, 0)
        self._serve_counts[idx] = served + 1
        return sample_rng(self.seed, idx, served, int(get_rank()), _worker_seed())

    def prepare_data(self, idx: int) -> dict:
        """Run the pipeline on data info ``idx`` with ``rng`` and ``sample_idx`` added."""
        data_info = self.get_data_info(idx)
        sample_idx = data_info['sample_idx']  # set by get_data_info, non-negative
        data_info['rng'] = self.sample_rng(sample_idx)
        return self.pipeline(data_info)

    def _rand_another(self) -> int:
        """Another index when a pipeline returned None; drawn without global random state."""
        return int(self._refetch_rng.integers(0, len(self)))
