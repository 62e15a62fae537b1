"""Config validation: every key nothing reads is reported before anything is built."""
import glob
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config
from mmengine.hooks import Hook

from restorekit.engine.config_validation import (ConfigValidationError, accepted_keywords,
                                                 check_config, check_config_file,
                                                 validate_config, _registries)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '*.py')))
DEMO = osp.join(ROOT, 'configs', 'unet_two_stage_demo.py')


def _problems(options: dict, config: str = DEMO) -> dict:
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    return {problem.path: problem for problem in validate_config(cfg)}


@pytest.mark.parametrize('config', CONFIGS, ids=[osp.basename(c) for c in CONFIGS])
def test_every_shipped_config_validates_clean(config):
    assert [str(problem) for problem in validate_config(Config.fromfile(config))] == []


@pytest.mark.parametrize('key, value, path, hint', [
    # top-level typos of Runner keys
    ('train_cfgg', dict(max_iters=3), 'train_cfgg', 'train_cfg'),
    ('default_hookz', dict(), 'default_hookz', 'default_hooks'),
    # the Runner's plain dicts
    ('env_cfg.cudnn_benchmrk', True, 'env_cfg.cudnn_benchmrk', 'cudnn_benchmark'),
    ('env_cfg.mp_cfg.mp_start_methd', 'fork', 'env_cfg.mp_cfg.mp_start_methd', 'mp_start_method'),
    ('randomness.sed', 1, 'randomness.sed', 'seed'),
    ('train_dataloader.batch_sise', 2, 'train_dataloader.batch_sise', 'batch_size'),
    ('train_cfg.max_iter', 3, 'train_cfg.max_iter', 'max_iters'),
    ('optim_wrapper.paramwise_cfg', dict(bias_lr_mul=2.0),
     'optim_wrapper.paramwise_cfg.bias_lr_mul', 'bias_lr_mult'),
    # keywords of components (a class signature; **kwargs forwarded to a base; no extras)
    ('default_hooks.checkpoint.intervall', 1, 'default_hooks.checkpoint.intervall', 'interval'),
    ('model.colorizer.encoder_dept', 2, 'model.colorizer.encoder_dept', 'encoder_depth'),
    ('model.inpainter_losses.0.hole_weigth', 1.0, 'model.inpainter_losses.0.hole_weigth',
     'hole_weight'),
    ('model.detach_between_stage', True, 'model.detach_between_stage', 'detach_between_stages'),
    ('train_dataloader.dataset.indice', 3, 'train_dataloader.dataset.indice', 'indices'),
    ('train_dataloader.dataset.pipeline.5.crop_sise', 8,
     'train_dataloader.dataset.pipeline.5.crop_sise', 'crop_size'),
    ('train_dataloader.sampler.shufle', True, 'train_dataloader.sampler.shufle', 'shuffle'),
    ('optim_wrapper.optimizer.betaz', (0.5, 0.9), 'optim_wrapper.optimizer.betaz', 'betas'),
    ('param_scheduler.0.T_mx', 5, 'param_scheduler.0.T_mx', 'T_max'),
    ('val_evaluator.0.prefx', 'x', 'val_evaluator.0.prefx', 'prefix'),
    ('visualizer.vis_backend', [], 'visualizer.vis_backend', 'vis_backends'),
])
def test_each_unknown_key_is_an_error_with_its_path_and_nearest_name(key, value, path, hint):
    problems = _problems({key: value})
    assert list(problems) == [path]
    assert problems[path].level == 'error'
    assert f'did you mean `{hint}`?' in problems[path].message


def test_an_unknown_smp_keyword_lists_the_valid_ones():
    problem = _problems({'model.inpainter.typo': 1})['model.inpainter.typo']
    assert problem.level == 'error' and 'SmpUNet' in problem.message
    assert 'decoder_attention_type' in problem.message and 'encoder_depth' in problem.message
    # smp's named arguments of the architecture are valid
    assert _problems({'model.inpainter.decoder_attention_type': 'scse'}) == {}


def test_top_level_keys_that_are_not_typos():
    # a variable the config uses (its value appears elsewhere) is fine; an unused one is a warning
    cfg = Config.fromfile(DEMO)
    cfg.merge_from_dict(dict(my_batch=8, unused_note='hello'))
    problems = {problem.path: problem for problem in validate_config(cfg)}
    assert list(problems) == ['unused_note'] and problems['unused_note'].level == 'warning'
    assert 'my_batch' not in problems  # train_dataloader.batch_size is 8


def test_check_config_raises_all_errors_at_once_and_strict_false_warns():
    cfg = Config.fromfile(DEMO)
    cfg.merge_from_dict({'train_cfgg': dict(max_iters=1), 'env_cfg.cudnn_benchmrk': True})
    with pytest.raises(ConfigValidationError) as info:
        check_config(cfg)
    message = str(info.value)
    assert message.startswith('2 config key(s) that nothing reads in ')
    assert 'train_cfgg: unknown top-level key; did you mean `train_cfg`?' in message
    assert 'env_cfg.cudnn_benchmrk: unknown key of env_cfg' in message
    cfg.strict_config = False
    assert len(check_config(cfg)) == 2


class _KwargsHook(Hook):
    def __init__(self, interval=1, **kwargs):
        self.kwargs = kwargs


class _OwnCheck(_KwargsHook):
    @classmethod
    def accepted_config_keywords(cls, cfg):
        return {'interval', 'when'}


def test_kwargs_rules():
    # **kwargs nobody knows about: not checked (None), rather than a false error
    assert accepted_keywords(_KwargsHook) is None
    assert accepted_keywords(_OwnCheck) == {'interval', 'when'}
    registries = _registries()
    checkpoint_hook = registries['hook'].get('AtomicCheckpointHook')
    assert 'interval' in accepted_keywords(checkpoint_hook)  # its **kwargs accept nothing
    assert {'indices', 'test_mode', 'serialize_data', 'mask_dir', 'seed'} <= accepted_keywords(
        registries['dataset'].get('DaconDataset'))
    assert {'T_max', 'eta_min', 'begin', 'end'} <= accepted_keywords(
        registries['param_scheduler'].get('CosineAnnealingLR'))


def test_every_registered_restorekit_class_taking_kwargs_is_checked():
    unchecked = []
    for name, registry in _registries().items():
        registry.import_from_location()
        for key, obj in registry.module_dict.items():
            if obj.__module__.startswith('restorekit.') and accepted_keywords(obj, {}) is None:
                unchecked.append(f'{name}:{key}')
    assert unchecked == [], ('add their **kwargs rule to restorekit/engine/config_validation.py '
                             '(FORWARDS_KWARGS / NO_EXTRA_KWARGS) or an accepted_config_keywords '
                             f'classmethod: {unchecked}')


def test_train_reports_a_hook_typo_before_the_first_iteration(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', DEMO, '--work-dir', str(tmp_path / 'w'),
         '--cfg-options', 'default_hooks.checkpoint.intervall=1', 'train_cfgg.max_iters=1'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert 'ConfigValidationError: 2 config key(s) that nothing reads' in log, log[-3000:]
    assert 'default_hooks.checkpoint.intervall: unknown key of AtomicCheckpointHook' in log
    assert 'did you mean `interval`?' in log and 'did you mean `train_cfg`?' in log
    assert 'Iter(train)' not in log and not list(tmp_path.glob('w/*.pth'))


def test_restore_and_webui_refuse_an_unknown_model_key(tmp_path, capsys):
    import restore
    import webui
    image = tmp_path / 'in.png'
    from PIL import Image
    Image.new('L', (16, 16), 128).save(image)
    status = restore.main([DEMO, 'none', str(image), str(tmp_path / 'out'), '--cfg-options',
                           'model.inpainter.typo=1'])
    assert status == 2
    assert 'model.inpainter.typo: unknown key of SmpUNet' in capsys.readouterr().err
    bad = tmp_path / 'bad.py'
    bad.write_text(f"_base_ = ['{DEMO}']\nmodel = dict(colorizer=dict(encoder_dept=2))\n")
    with pytest.raises(ConfigValidationError, match='model.colorizer.encoder_dept'):
        webui.main([str(bad), 'none'])
    with pytest.raises(ConfigValidationError, match='did you mean `encoder_depth`'):
        check_config_file(str(bad))
