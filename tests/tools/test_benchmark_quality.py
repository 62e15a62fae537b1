"""tools/benchmark_quality.py: two configs (one in two phases) for 2 iterations, scored."""
import json

import numpy as np
import pytest

import benchmark_quality


@pytest.mark.slow  # about 70 s: four training runs and two restorations
def test_smoke_two_configs_two_iterations(tmp_path, capsys):
    result = benchmark_quality.main([  # restorekit_default is GAN-trained, the other two-phase
        '--configs', 'restorekit_default', 'context_encoder_unet+context_encoder_unet_phase2',
        '--iters', '2', '--size', '64', '--batch-size', '2', '--num-test', '4',
        '--out-dir', str(tmp_path)
    ])
    assert result['num_test'] == 4
    methods = [row['method'] for row in result['rows']]
    assert methods == ['grey input (reference)', 'OpenCV Telea, grey (reference)',
                       'restorekit_default', 'context_encoder_unet+context_encoder_unet_phase2']
    for row in result['rows']:
        for key in ('score', 'ssim', 'masked_ssim', 'hue_corr'):
            assert -1.0 <= row[key] <= 1.0  # SSIM and correlation may be negative
        weighted = 0.2 * row['ssim'] + 0.4 * row['masked_ssim'] + 0.4 * row['hue_corr']
        assert np.isclose(row['score'], weighted)
    grey, telea = result['rows'][:2]
    assert telea['psnr'] > grey['psnr']  # filling the hole from its border beats a flat grey
    assert grey['hue_corr'] == telea['hue_corr']  # both grey: same (hue 0) histogram
    # Phase 2 started from phase 1's inpainter.
    phase2_config = (tmp_path / 'work' / 'context_encoder_unet__context_encoder_unet_phase2' /
                     'phase2' / 'context_encoder_unet_phase2_budget.py').read_text()
    assert 'phase1/iter_1.pth' in phase2_config
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last_line)['rows'][2]['method'] == 'restorekit_default'


def test_telea_reference_changes_only_the_hole(tiny_dacon_root):
    rows = benchmark_quality.demo.read_rows(f'{tiny_dacon_root}/test.csv')[:3]
    for row in rows:
        grey = benchmark_quality.demo.load(tiny_dacon_root, row['input_image_path'])
        mask = benchmark_quality.demo.load(tiny_dacon_root, row['mask_path']) > 0
        filled = benchmark_quality.telea_reference(tiny_dacon_root)(row)
        assert filled.shape == grey.shape + (3, )
        assert (filled[..., 0] == filled[..., 2]).all()
        assert (filled[~mask, 0] == grey[~mask]).all()
        assert (filled[mask, 0] != grey[mask]).any()


def test_psnr_of_known_errors():
    a = np.zeros((4, 4, 3), np.uint8)
    assert benchmark_quality.psnr(a, a) == float('inf')
    assert np.isclose(benchmark_quality.psnr(a, a + 1), 20 * np.log10(255.0))
