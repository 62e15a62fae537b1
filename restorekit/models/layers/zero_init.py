"""Zero-initialised output layers: a network that starts by adding nothing to an estimate."""
import torch.nn as nn


def zero_init_last_conv(module: nn.Module, owner: str) -> nn.Conv2d:
    """Zero the weight and bias of the last ``nn.Conv2d`` of ``module`` (in registration order,
    the output layer of the networks of restorekit) and return it.

    With a zero output layer (followed by nothing, or by Tanh) the network's initial output is 0,
    so a wrapper that adds it to a known estimate starts exactly at that estimate (ReZero,
    Bachlechner et al. 2020; ControlNet's zero convolutions, Zhang et al. ICCV 2023). The layer's
    own gradient is not zero, so the network still learns from the first step. ``owner`` names
    the caller in the error raised when ``module`` has no convolution.
    """
    convs = [layer for layer in module.modules() if isinstance(layer, nn.Conv2d)]
    if not convs:
        raise ValueError(f'{owner}: zero_init needs an nn.Conv2d output layer in the inner '
                         f'network {type(module).__name__}, found none; set zero_init=False.')
    last = convs[-1]
    nn.init.zeros_(last.weight)
    if last.bias is not None:
        nn.init.zeros_(last.bias)
    return last
