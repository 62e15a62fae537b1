"""padding: bottom/right padding, reflect (replicate when too small) or zeros."""
import pytest
import torch

from restorekit.utils.padding import pad_bottom_right, pad_to_multiple, padded_size


def test_reflect_mirrors_and_zeros_pads_with_zero():
    image = torch.arange(12.0).view(1, 1, 3, 4)
    reflected = pad_bottom_right(image, 5, 6, 'reflect')
    assert reflected.shape == (1, 1, 5, 6)
    assert torch.equal(reflected[..., :3, :4], image)
    assert torch.equal(reflected[0, 0, :3, 4], image[0, 0, :, 2])  # mirrored about column 3
    assert torch.equal(reflected[0, 0, 3, :4], image[0, 0, 1])  # mirrored about row 2
    zeros = pad_bottom_right(image, 5, 6, 'zeros')
    assert torch.equal(zeros[..., :3, :4], image) and zeros[..., 3:, :].abs().sum() == 0


def test_an_image_too_small_to_reflect_is_replicated():
    image = torch.arange(4.0).view(1, 1, 2, 2)
    padded = pad_bottom_right(image, 2, 6, 'reflect')
    assert torch.equal(padded[0, 0, :, 2:], image[0, 0, :, 1:].expand(2, 4))


def test_errors_name_the_sizes_and_the_mode():
    image = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match=r'\(4, 4\).*\(3, 4\)'):
        pad_bottom_right(image, 3, 4, 'reflect')
    with pytest.raises(ValueError, match="'circular'"):
        pad_bottom_right(image, 8, 8, 'circular')


def test_pad_to_multiple():
    assert [padded_size(size, 8) for size in (1, 8, 9, 16)] == [8, 8, 16, 16]
    image = torch.rand(2, 3, 9, 16)
    padded = pad_to_multiple(image, 8)
    assert padded.shape == (2, 3, 16, 16) and torch.equal(padded[..., :9, :], image)
    assert pad_to_multiple(image[..., :8, :], 8) is not None
    assert torch.equal(pad_to_multiple(image[..., :8, :], 8), image[..., :8, :])
