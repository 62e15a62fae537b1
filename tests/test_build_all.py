"""Every component registered in restorekit's registries builds from a config dict.

A component with required arguments gets them from ``BUILD_ARGS``; a newly registered component
that cannot be built from ``dict(type=name, **BUILD_ARGS.get(name, {}))`` fails here, so every
registered name stays usable from a config.
"""
import pytest

from restorekit import registry

BUILD_ARGS = {
    'TRANSFORMS': {
        'LoadImageFromFile': dict(key='gt'),
        'LoadMaskFromFile': dict(),
        'RandomCrop': dict(crop_size=32),
        'CenterCrop': dict(crop_size=32),
        'Resize': dict(scale=(32, 32)),
        'SynthesizeDamage': dict(mask_generator=dict(type='BoxMask')),
    },
    'MASK_GENERATORS': {
        'MixedMask': dict(generators=[dict(type='BoxMask'), dict(type='PolygonMask')]),
    },
    'DATASETS': None,  # need files on disk: built in tests/datasets
    'METRICS': {},
    'HOOKS': {'SavePredictionsHook': dict(out_dir='unused')},
    'MODELS': {},
}
SMALL_NETWORK = dict(encoder_name='resnet18', encoder_depth=3)
for name in ('INPAINTERS', 'COLORIZERS', 'MASK_DETECTORS', 'DISCRIMINATORS', 'LOSSES'):
    BUILD_ARGS.setdefault(name, {})
BUILD_ARGS['INPAINTERS']['SmpUNet'] = SMALL_NETWORK
BUILD_ARGS['COLORIZERS']['SmpUNet'] = dict(SMALL_NETWORK, out_channels=3)
BUILD_ARGS['MASK_DETECTORS']['SmpUNet'] = SMALL_NETWORK
BUILD_ARGS['MODELS']['Restorer'] = dict(inpainter=dict(type='SmpUNet', **SMALL_NETWORK))
BUILD_ARGS['MODELS']['AdversarialRestorer'] = dict(
    colorizer=dict(type='SmpUNet', out_channels=3, **SMALL_NETWORK),
    discriminator=dict(type='PatchDiscriminator', in_channels=4), gan_loss=dict(type='GANLoss'))
BUILD_ARGS['HOOKS']['PhaseSwitchHook'] = dict(phases=[dict(begin=0)])
BUILD_ARGS['INPAINTERS']['PriorResidualInpainter'] = dict(
    inpainter=dict(type='SmpUNet', use_mask=True, **SMALL_NETWORK))
BUILD_ARGS['COLORIZERS']['LabColorizer'] = dict(
    colorizer=dict(type='SmpUNet', out_channels=2, activation='tanh', **SMALL_NETWORK))
BUILD_ARGS['MASK_DETECTORS']['UNetDetector'] = dict(encoder_depth=3)
BUILD_ARGS['INPAINTERS']['TestTimeAugmentation'] = dict(
    model=dict(type='SmpUNet', use_mask=True, **SMALL_NETWORK))
BUILD_ARGS['COLORIZERS']['TestTimeAugmentation'] = dict(
    model=dict(type='Pix2PixUNet', in_channels=1, out_channels=3, ngf=4, num_downs=3))
BUILD_ARGS['INPAINTERS']['RGBInpainterAdapter'] = dict(
    inpainter=dict(type='MAT', preset='mat_tiny', in_channels=3))
# The smallest published DDColor (ConvNeXt-T) with a short colour decoder.
BUILD_ARGS['COLORIZERS']['DDColor'] = dict(size='tiny', num_queries=4, dec_layers=3)
# Random weights are refused unless asked for explicitly (tests/models/losses/test_perceptual.py
# covers loading a local weight file).
BUILD_ARGS['LOSSES']['PerceptualLoss'] = dict(backbone='resnet10t', allow_random_weights=True)


def _cases():
    for reg_name, args in BUILD_ARGS.items():
        if args is None:
            continue
        reg = getattr(registry, reg_name)
        reg.import_from_location()
        for name in sorted(reg.module_dict):
            yield pytest.param(reg_name, name, id=f'{reg_name}.{name}')


@pytest.mark.parametrize('reg_name,name', list(_cases()))
def test_registered_component_builds_from_a_config(reg_name, name):
    reg = getattr(registry, reg_name)
    obj = reg.build(dict(type=name, **BUILD_ARGS[reg_name].get(name, {})))
    assert isinstance(obj, reg.get(name))
