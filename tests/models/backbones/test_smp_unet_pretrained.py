"""SmpUNet(encoder_weights='imagenet'): smp's and timm's own loading from a (fake) Hugging Face
cache, and the build-time error naming the files offline. No test opens a network connection:
sockets are blocked and the hub is in offline mode."""
import json
import os
import socket
import sys

import pytest
import torch
import torch.nn as nn

from restorekit.registry import INPAINTERS

# SmpUNet's module, wherever it lives (restorekit/models/inpainters/ or backbones/).
SmpUNet = INPAINTERS.get('SmpUNet')
smp_unet = sys.modules[SmpUNet.__module__]
fetch_pretrained_encoder_files = smp_unet.fetch_pretrained_encoder_files
hf_cache_path = smp_unet.hf_cache_path

smp = pytest.importorskip('segmentation_models_pytorch')
huggingface_hub = pytest.importorskip('huggingface_hub')
from safetensors.torch import save_file  # noqa: E402  (after the importorskip)

SMP_ENCODER = 'resnet18'
TIMM_ENCODER = 'tu-resnet10t'
FAKE_COMMIT = '0123456789abcdef0123456789abcdef01234567'


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty Hugging Face cache in tmp_path, offline mode, and sockets that refuse to open."""
    from huggingface_hub import constants

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError('network access is blocked in this test')

    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setattr(socket.socket, 'connect_ex', refuse)
    monkeypatch.setattr(socket, 'create_connection', refuse)
    monkeypatch.setattr(socket, 'getaddrinfo', refuse)
    cache = tmp_path / 'hub'
    cache.mkdir()
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(cache))
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', True)
    yield cache
    assert attempts == [], 'a test tried to open a network connection'


def _random_state(module: nn.Module, seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {key: torch.randn(value.shape, generator=generator).to(value.dtype)
            if value.is_floating_point() else value.clone()
            for key, value in module.state_dict().items()}


def _fill_smp_cache(encoder_name: str = SMP_ENCODER) -> dict:
    """smp's files for encoder_name's 'imagenet' weights, random tensors, where smp looks."""
    settings = smp.encoders.encoders[encoder_name]['pretrained_settings']['imagenet']
    encoder = smp.encoders.get_encoder(encoder_name, in_channels=3, weights=None)
    state = _random_state(encoder, seed=1)
    folder = os.path.dirname(hf_cache_path(settings['repo_id'], settings['revision'], 'x'))
    os.makedirs(folder)
    save_file(state, os.path.join(folder, 'model.safetensors'))
    with open(os.path.join(folder, 'config.json'), 'w') as file:
        json.dump(dict(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]), file)
    return state


def test_imagenet_weights_load_from_smps_cache_with_the_grey_first_conv(offline_hub):
    state = _fill_smp_cache()
    net = SmpUNet(encoder_name=SMP_ENCODER, encoder_depth=5, encoder_weights='imagenet')
    loaded = net.encoder.state_dict()
    for key, value in state.items():
        if key == 'conv1.weight':  # smp's patch_first_conv: one grey channel sums the RGB ones
            torch.testing.assert_close(loaded[key], value.sum(dim=1, keepdim=True))
        else:
            assert torch.equal(loaded[key], value), key
    # The decoder is randomly initialised, and the network runs.
    assert net(torch.zeros(1, 1, 64, 64)).shape == (1, 1, 64, 64)


def test_a_shallower_encoder_keeps_the_weights_of_the_stages_it_runs(offline_hub):
    state = _fill_smp_cache()
    net = SmpUNet(encoder_name=SMP_ENCODER, encoder_depth=3, in_channels=2, use_mask=False,
                  encoder_weights='imagenet')
    assert {'layer3', 'layer4'} <= set(net.unused_encoder_modules)
    assert torch.equal(net.encoder.state_dict()['layer2.0.conv1.weight'],
                       state['layer2.0.conv1.weight'])


def test_offline_and_uncached_fails_at_build_naming_the_files_and_cache_paths(offline_hub):
    settings = smp.encoders.encoders['resnet34']['pretrained_settings']['imagenet']
    with pytest.raises(OSError) as error:
        SmpUNet(encoder_name='resnet34', encoder_weights='imagenet')
    message = str(error.value)
    for filename in ('model.safetensors', 'config.json'):
        path = hf_cache_path(settings['repo_id'], settings['revision'], filename)
        assert path.startswith(str(offline_hub))
        assert path in message
    assert settings['repo_id'] in message and 'encoder_weights="path/encoder.pth"' in message


def test_unknown_pretrained_names_are_refused_with_the_choices(offline_hub):
    with pytest.raises(ValueError, match=r"\['imagenet', 'ssl', 'swsl'\]"):
        SmpUNet(encoder_name=SMP_ENCODER, encoder_weights='imagenet21k')
    with pytest.raises(ValueError, match='tag goes into the name'):
        SmpUNet(encoder_name=TIMM_ENCODER, encoder_depth=3, encoder_weights='ssl')


def _fill_timm_cache(model_name: str) -> dict:
    """timm's model.safetensors for the model's default pretrained tag, behind refs/main."""
    import timm

    cfg = timm.models.get_pretrained_cfg(model_name)
    # <cache>/models--timm--<name>/snapshots/<commit>/<file>: the repository folder is 3 up.
    repo_folder = hf_cache_path(cfg.hf_hub_id, FAKE_COMMIT, 'model.safetensors')
    for _ in range(3):
        repo_folder = os.path.dirname(repo_folder)
    os.makedirs(os.path.join(repo_folder, 'refs'))
    with open(os.path.join(repo_folder, 'refs', 'main'), 'w') as file:
        file.write(FAKE_COMMIT)
    snapshot = os.path.join(repo_folder, 'snapshots', FAKE_COMMIT)
    os.makedirs(snapshot)
    with torch.random.fork_rng():
        model = timm.create_model(model_name, pretrained=False)
    state = _random_state(model, seed=2)
    save_file(state, os.path.join(snapshot, 'model.safetensors'))
    return state


@pytest.mark.parametrize('weights', [True, 'imagenet'])
def test_timm_encoder_weights_load_from_timms_cache(offline_hub, weights):
    state = _fill_timm_cache('resnet10t')
    net = SmpUNet(encoder_name=TIMM_ENCODER, encoder_depth=3, encoder_weights=weights)
    loaded = net.encoder.model.state_dict()
    assert torch.equal(loaded['layer1.0.conv1.weight'], state['layer1.0.conv1.weight'])
    # timm's adapt_input_conv: a grey input sums the RGB filters of the stem.
    torch.testing.assert_close(loaded['conv1.0.weight'],
                               state['conv1.0.weight'].sum(dim=1, keepdim=True))


def test_timm_offline_error_names_the_snapshot_and_ref(offline_hub):
    with pytest.raises(OSError) as error:
        fetch_pretrained_encoder_files(TIMM_ENCODER, True)
    message = str(error.value)
    repo = os.path.join(str(offline_hub), 'models--timm--resnet10t.c3_in1k')
    assert os.path.join(repo, 'snapshots', '<commit>', 'model.safetensors') in message
    assert os.path.join(repo, 'refs', 'main') in message


def test_local_paths_and_none_never_touch_the_hub(offline_hub, tmp_path):
    net = SmpUNet(encoder_name=SMP_ENCODER, encoder_depth=3)
    path = tmp_path / 'encoder.pth'
    torch.save(net.encoder.state_dict(), path)
    again = SmpUNet(encoder_name=SMP_ENCODER, encoder_depth=3, encoder_weights=str(path))
    assert torch.equal(again.encoder.state_dict()['conv1.weight'],
                       net.encoder.state_dict()['conv1.weight'])
    assert os.listdir(offline_hub) == []


def test_deprecated_timm_encoders_ask_for_timms_files(offline_hub):
    # smp 0.6 builds 'timm-regnetx_002' as 'tu-regnetx_002', whose weights are timm's.
    with pytest.raises(OSError, match='models--timm--regnetx_002'):
        fetch_pretrained_encoder_files('timm-regnetx_002', 'imagenet')
