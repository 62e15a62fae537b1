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
import logging
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.dist import get_rank
from mmengine.logging import print_log
from torch.utils.data import get_worker_info

from .bad_inputs import (BAD_INPUT_POLICIES, PRECHECK_LEVELS, BadInputError, as_bad_input,
                         describe_bad_inputs, precheck_data_list)

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
        bad_inputs: ``'error'`` (default) stops at the first corrupt, unreadable or too small
            file and names it; ``'skip'`` leaves such files out, logged and counted (see
            :mod:`restorekit.datasets.bad_inputs`).
        precheck: How the files are checked when the dataset is built: ``'none'``, ``'exists'``,
            ``'header'`` (default; zero-byte and non-image files) or ``'decode'`` (everything,
            truncated files included; reads the whole set once).
        mix_partners: How many partner photos each sample gets for mixed-sample augmentation
            (``CutMix``, ``FMix``): ``results['partner1_path']``, ``'partner2_path'``... are the
            ``gt_path`` of other samples, drawn uniformly (never the sample itself when there is
            another) from the sample's generator. 0 (default) draws nothing.
        **kwargs: Passed to :class:`~mmengine.dataset.BaseDataset` (``data_root``, ``ann_file``,
            ``indices``, ``test_mode``, ``serialize_data``, ``lazy_init``...).
    """

    def __init__(self,
                 pipeline: Sequence[TransformConfig] = (),
                 seed: int = 0,
                 deterministic: Optional[bool] = None,
                 bad_inputs: str = 'error',
                 precheck: str = 'header',
                 mix_partners: int = 0,
                 **kwargs) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f'{type(self).__name__}: seed must be a non-negative int, got '
                             f'{seed!r}')
        if bad_inputs not in BAD_INPUT_POLICIES:
            raise ValueError(f'{type(self).__name__}: bad_inputs must be one of '
                             f'{BAD_INPUT_POLICIES}, got {bad_inputs!r}')
        if precheck not in PRECHECK_LEVELS:
            raise ValueError(f'{type(self).__name__}: precheck must be one of {PRECHECK_LEVELS}, '
                             f'got {precheck!r}')
        if isinstance(mix_partners, bool) or not isinstance(mix_partners,
                                                            (int, np.integer)) or mix_partners < 0:
            raise ValueError(f'{type(self).__name__}: mix_partners must be a non-negative int, '
                             f'got {mix_partners!r}')
        self.mix_partners = int(mix_partners)
        self.bad_inputs = bad_inputs
        self.precheck = precheck
        #: ``(path, reason)`` of the files the pre-check left out (policy ``'skip'``).
        self.precheck_skipped: List[Tuple[str, str]] = []
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

    def full_init(self) -> None:
        """mmengine's ``full_init`` (load, filter, subset, serialise) with the pre-check of the
        selected files between subset and serialisation."""
        if self._fully_initialized:
            return
        self.data_list = self.load_data_list()
        self.data_list = self.filter_data()
        if self._indices is not None:
            self.data_list = self._get_unserialized_subset(self._indices)
        self.data_list = self._precheck_files(self.data_list)
        if self.serialize_data:
            self.data_bytes, self.data_address = self._serialize_data()
        self._fully_initialized = True

    def _precheck_files(self, data_list: List[dict]) -> List[dict]:
        """Apply the pre-check; raise (``'error'``) or drop and log (``'skip'``) bad files."""
        kept, bad = precheck_data_list(data_list, self.precheck)
        if not bad:
            return kept
        name = type(self).__name__
        if self.bad_inputs == 'error':
            others = (f'\n{len(bad)} files failed it:\n{describe_bad_inputs(bad)}'
                      if len(bad) > 1 else '')
            raise BadInputError(
                bad[0][0], f'{bad[0][1]} (pre-check {self.precheck!r} of {name}){others}\nFix '
                "or remove the file(s), or set bad_inputs='skip' in the dataset config to leave "
                'them out.')
        self.precheck_skipped = list(bad)
        print_log(f'{name}: skipping {len(data_list) - len(kept)} of {len(data_list)} samples: '
                  f'{len(bad)} file(s) failed the pre-check {self.precheck!r}:\n'
                  f'{describe_bad_inputs(bad)}', logger='current', level=logging.WARNING)
        return kept

    def prepare_data(self, idx: int) -> Optional[dict]:
        """Run the pipeline on data info ``idx`` with ``rng`` and ``sample_idx`` added.

        A bad input file raises under ``bad_inputs='error'``; under ``'skip'`` a training
        sample is replaced by another one (``data_sample.skipped_inputs`` lists what was
        replaced) and a test sample raises, since every test sample must be scored.
        """
        skipped: List[BadInputError] = []
        for _ in range(self.max_refetch + 1):
            data_info = self.get_data_info(idx)
            sample_idx = data_info['sample_idx']  # set by get_data_info, non-negative
            data_info['rng'] = self.sample_rng(sample_idx)
            self._add_partner_paths(data_info, idx)
            try:
                results = self.pipeline(data_info)
            except Exception as error:
                bad = as_bad_input(error, data_info.get('img_path'))
                if bad is None:
                    raise
                if self.bad_inputs == 'error' or self.test_mode:
                    if self.test_mode:
                        hint = ("test and validation sets leave bad files out only at the "
                                "pre-check: set bad_inputs='skip' and precheck='decode'")
                    else:
                        hint = "set bad_inputs='skip' to leave such files out"
                    raise BadInputError(bad.path, bad.reason, f'{bad} (sample {sample_idx} of '
                                        f'{type(self).__name__}; {hint})') from error
                skipped.append(bad)
                print_log(f'{type(self).__name__}: skipped sample {sample_idx}: {bad}',
                          logger='current', level=logging.WARNING)
                idx = self._rand_another()
                continue
            if skipped and results is not None and 'data_samples' in results:
                results['data_samples'].set_metainfo(
                    dict(skipped_inputs=[f'{bad.path}: {bad.reason}' for bad in skipped]))
            return results
        raise BadInputError(skipped[-1].path, f'{skipped[-1].reason}; {len(skipped)} samples in '
                            'a row were bad inputs')

    def _add_partner_paths(self, data_info: dict, idx: int) -> None:
        """Set ``partner{i}_path`` (``mix_partners`` of them), drawn from the sample's rng."""
        for number in range(1, self.mix_partners + 1):
            other = idx
            if len(self) > 1:
                other = int(data_info['rng'].integers(0, len(self) - 1))
                other += int(other >= idx)  # every index but idx, uniformly
            partner_path = self.get_data_info(other).get('gt_path')
            if partner_path is None:
                raise ValueError(f'{type(self).__name__}: mix_partners needs the ground-truth '
                                 f'photo of every sample, but sample {other} has no gt_path')
            data_info[f'partner{number}_path'] = partner_path

    def _rand_another(self) -> int:
        """Another index when a pipeline returned None; drawn without global random state."""
        return int(self._refetch_rng.integers(0, len(self)))
