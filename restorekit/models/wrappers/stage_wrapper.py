"""The base of modules that wrap one stage network and change how it is called, not its weights.

:class:`~restorekit.models.inpainters.rgb_adapter.RGBInpainterAdapter` (grey in, an RGB
inpainter inside, grey out) and :class:`~restorekit.models.wrappers.tta.TestTimeAugmentation` (the
average over flips and rotations) are such wrappers. They share three rules:

* **Transparent weights.** A wrapper's ``state_dict`` has exactly the keys of the network it
  wraps (no ``inner.`` prefix), and ``load_state_dict`` takes those keys. So converted published
  weights (``{'inpainter.<key>': ...}``, docs/pretrained.md) load into a wrapped stage through
  ``stage_init``, ``load_from`` or ``RestorationInferencer(checkpoint)`` unchanged, and a
  checkpoint trained without test-time augmentation loads into a model with it (and back). Both
  ``torch`` and mmengine's checkpoint functions honour the hooks that do this.
* **The stage-output protocol** (:mod:`restorekit.models.outputs`): every wrapper is a
  :class:`~restorekit.models.outputs.MultiStageInpainter` whose ``stage_names`` are the wrapped
  network's (none for a one-stage network), so :func:`~restorekit.models.outputs.run_stages`
  gets the intermediate outputs through any number of wrappers.
* **Injected randomness.** ``forward(..., generator=g)`` passes ``g`` to the wrapped network when
  it takes one (:func:`takes_generator`, e.g. MAT) and refuses it otherwise.
"""
import inspect
from typing import Optional

import torch
from torch import nn

from ..outputs import MultiStageInpainter, StageOutput, unwrap


def takes_generator(module: nn.Module) -> bool:
    """Whether ``module``'s forward takes a ``generator`` (a ``torch.Generator`` for its draws).

    A module may say so with a ``takes_generator`` attribute (wrappers forward the question to
    the network they wrap); otherwise its ``forward`` signature is read.
    """
    module = unwrap(module)
    declared = getattr(module, 'takes_generator', None)
    if isinstance(declared, bool):
        return declared
    try:
        return 'generator' in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


def _drop_child_prefix(module: 'StageWrapper', state_dict: dict, prefix: str,
                       local_metadata: dict) -> None:
    """``state_dict`` post-hook: ``<prefix><child>.<key>`` -> ``<prefix><key>``."""
    inner = f'{prefix}{module.wrapped_name}.'
    for key in [key for key in state_dict if key.startswith(inner)]:
        state_dict[prefix + key[len(inner):]] = state_dict.pop(key)


def _add_child_prefix(module: 'StageWrapper', state_dict: dict, prefix: str, *args) -> None:
    """``load_state_dict`` pre-hook: ``<prefix><key>`` -> ``<prefix><child>.<key>``."""
    inner = f'{prefix}{module.wrapped_name}.'
    for key in [key for key in state_dict if key.startswith(prefix)]:
        state_dict[inner + key[len(prefix):]] = state_dict.pop(key)


class StageWrapper(MultiStageInpainter):
    """Wraps one stage network (inpainter or colorizer); weights stay the wrapped network's.

    Subclasses store the network with :meth:`wrap` and implement :meth:`forward_stages`, calling
    the network through :meth:`call_wrapped`. See the module docstring for the rules.
    """

    #: Attribute name of the wrapped network (its parameters are ``<name>.<key>`` in
    #: ``named_parameters``, but plain ``<key>`` in ``state_dict``).
    wrapped_name = 'wrapped'

    def wrap(self, network: nn.Module) -> None:
        """Store ``network`` as the wrapped stage and make the state dict transparent."""
        if not isinstance(network, nn.Module):
            raise TypeError(f'{type(self).__name__}: the wrapped stage must be an nn.Module (or '
                            f'a config dict), got {type(network).__name__}')
        setattr(self, self.wrapped_name, network)
        self.train(network.training)  # the wrapper starts in the network's mode
        #: The intermediate outputs, those of the wrapped network.
        self.stage_names = tuple(getattr(unwrap(network), 'stage_names', ()))
        self.register_state_dict_post_hook(_drop_child_prefix)
        self.register_load_state_dict_pre_hook(_add_child_prefix)

    @property
    def wrapped(self) -> nn.Module:
        return getattr(self, self.wrapped_name)

    @property
    def takes_generator(self) -> bool:
        """Whether a ``generator`` given to ``forward`` reaches a network that draws from it."""
        return takes_generator(self.wrapped)

    def call_wrapped(self,
                     image: torch.Tensor,
                     mask: Optional[torch.Tensor],
                     generator: Optional[torch.Generator] = None) -> StageOutput:
        """The wrapped network's :class:`StageOutput` of ``(image, mask)``.

        A colorizer (``forward(grey)``) is called without the mask, which must then be ``None``.
        """
        network = self.wrapped
        kwargs = {}
        if generator is not None:
            if not takes_generator(network):
                raise TypeError(f'{type(self).__name__}: a generator was given but the wrapped '
                                f'{type(unwrap(network)).__name__} takes none (it draws nothing '
                                f'at random); call it without generator=.')
            kwargs['generator'] = generator
        args = (image, ) if mask is None else (image, mask)
        if isinstance(unwrap(network), MultiStageInpainter):
            return network(*args, return_stages=True, **kwargs)
        return StageOutput(final=network(*args, **kwargs))

    def forward(self,
                image: torch.Tensor,
                mask: Optional[torch.Tensor] = None,
                return_stages: bool = False,
                generator: Optional[torch.Generator] = None):
        """``forward_stages(image, mask, generator).final``, or the whole output with
        ``return_stages=True`` (see :class:`~restorekit.models.outputs.MultiStageInpainter`)."""
        output = self.forward_stages(image, mask, generator=generator)
        return output if return_stages else output.final

    def forward_stages(self,
                       image: torch.Tensor,
                       mask: Optional[torch.Tensor] = None,
                       generator: Optional[torch.Generator] = None) -> StageOutput:
        raise NotImplementedError
