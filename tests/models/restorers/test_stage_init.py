"""Loading single stages from checkpoints (restorekit/models/restorers/stage_init.py)."""
import pytest
import torch
import torch.nn as nn
from mmengine.logging import MessageHub

from restorekit.engine.checkpoint import install_safe_checkpoint_loader
from restorekit.models.restorers.restorer import Restorer
from test_adversarial import TinyColorizer, TinyInpainter, gan_restorer


def test_stage_init_loads_exactly_the_stage(tmp_path):
    torch.manual_seed(1)
    source = Restorer(inpainter=TinyInpainter(), colorizer=TinyColorizer())
    # A checkpoint as restorekit's runner writes it (with a non-tensor message hub).
    install_safe_checkpoint_loader()
    hub = MessageHub('stage_init_test')
    hub.update_scalar('train/loss', 0.5)
    path = str(tmp_path / 'iter_100.pth')
    torch.save(
        dict(meta=dict(iter=100), state_dict=source.state_dict(), message_hub=hub.state_dict()),
        path)
    model = gan_restorer(stage_init=dict(inpainter=path))
    fresh = gan_restorer()

    def equal(a, b):
        return all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())

    assert equal(model.inpainter, source.inpainter)
    assert not equal(model.colorizer, source.colorizer)
    assert equal(model.colorizer, fresh.colorizer)
    assert equal(model.discriminator, fresh.discriminator)
    # Initialisation (the Runner calls init_weights) does not overwrite the loaded stage.
    with torch.no_grad():
        model.inpainter.net[0].weight.zero_()
    model.init_weights()
    assert equal(model.inpainter, source.inpainter)

    bare = str(tmp_path / 'inpainter.pth')
    torch.save(source.inpainter.state_dict(), bare)
    assert equal(gan_restorer(stage_init=dict(inpainter=bare)).inpainter, source.inpainter)


def test_stage_init_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        gan_restorer(stage_init=dict(inpainter=str(tmp_path / 'missing.pth')))
    colorizer_only = str(tmp_path / 'colorizer_only.pth')
    torch.save(dict(state_dict=Restorer(colorizer=TinyColorizer()).state_dict()), colorizer_only)
    with pytest.raises(ValueError, match=r"without `inpainter.` weights; it holds \['colorizer'\]"):
        gan_restorer(stage_init=dict(inpainter=colorizer_only))
    wrong_shape = str(tmp_path / 'wrong.pth')
    torch.save(nn.Sequential(nn.Conv2d(2, 8, 3)).state_dict(), wrong_shape)
    with pytest.raises(ValueError, match='does not fit the inpainter'):
        gan_restorer(stage_init=dict(inpainter=wrong_shape))
    with pytest.raises(ValueError, match='stage_init may name'):
        gan_restorer(stage_init=dict(decoder=wrong_shape))
