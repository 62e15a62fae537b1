"""Frozen stages (restorekit/models/restorers/freezing.py): no gradients, eval mode, in no
optimizer; and unfreezing (the phase switch)."""
import pytest
import torch

from restorekit.engine.optim_constructors import RestorerOptimWrapperConstructor
from restorekit.models.restorers.freezing import set_frozen_stages
from restorekit.models.restorers.restorer import Restorer
from test_adversarial import (TinyColorizer, TinyInpainter, build_wrappers, changed, gan_restorer,
                              make_batch, snapshot, wrapper_cfg)


def test_frozen_stage_never_changes_and_is_in_no_optimizer(monkeypatch):
    model = gan_restorer(frozen_stages=['inpainter'], inpainter_losses=[])
    assert not model.inpainter.training  # eval mode from the start...
    model.train()
    assert not model.inpainter.training and model.colorizer.training  # ...and after train()
    assert not any(p.requires_grad for p in model.inpainter.parameters())
    wrappers = build_wrappers(model)
    optimized = {
        id(p)
        for key in wrappers.keys()
        for group in wrappers[key].optimizer.param_groups
        for p in group['params']
    }
    assert optimized.isdisjoint(id(p) for p in model.inpainter.parameters())
    assert optimized == {id(p)
                         for p in model.colorizer.parameters()
                         } | {id(p)
                              for p in model.discriminator.parameters()}
    before = snapshot(model.inpainter)
    colorizer_before = snapshot(model.colorizer)
    for seed in range(2):
        model.train_step(make_batch(seed=seed), wrappers)
    # Weights and BN running statistics (and num_batches_tracked) are untouched.
    assert all(
        torch.equal(before[name], value) for name, value in model.inpainter.state_dict().items())
    assert changed(colorizer_before, model.colorizer)

    single = Restorer(
        inpainter=TinyInpainter(),
        colorizer=TinyColorizer(),
        colorizer_losses=[dict(type='L1Loss')],
        frozen_stages=['inpainter'])
    wrapper = RestorerOptimWrapperConstructor(wrapper_cfg())(single)
    assert {id(p)
            for p in wrapper.optimizer.param_groups[0]['params']
            } == {id(p)
                  for p in single.colorizer.parameters()}


def test_frozen_stage_errors():
    with pytest.raises(ValueError, match='inpainter is frozen but has inpainter_losses'):
        gan_restorer(frozen_stages=['inpainter'])
    with pytest.raises(ValueError, match='colorizer is frozen but is the adversarial_stage'):
        gan_restorer(frozen_stages=['colorizer'], colorizer_losses=[])
    with pytest.raises(ValueError, match="frozen_stages may name"):
        gan_restorer(frozen_stages=['encoder'])
    with pytest.raises(TypeError, match=r"write \['inpainter'\]"):
        gan_restorer(frozen_stages='inpainter')


def test_set_frozen_stages_unfreezes_what_it_no_longer_names():
    model = Restorer(inpainter=TinyInpainter(), colorizer=TinyColorizer(),
                     colorizer_losses=[dict(type='L1Loss')], frozen_stages=['inpainter']).train()
    set_frozen_stages(model, ['colorizer'])
    assert model.frozen_stages == ('colorizer', )
    assert all(p.requires_grad for p in model.inpainter.parameters()) and model.inpainter.training
    assert not any(p.requires_grad for p in model.colorizer.parameters())
    assert not model.colorizer.training
    model.train()
    assert not model.colorizer.training and model.inpainter.training
