"""Adversarial losses: the GAN objectives and the R1 gradient penalty.

These do not follow the pixel-loss interface ``loss(pred, target, mask)`` of
``docs/conventions.md``; their interfaces are documented in ``docs/models.md`` ("GAN training"):

* :class:`GANLoss` ``(pred, target_is_real, is_disc) -> scalar`` on discriminator logits;
* :class:`R1GradientPenalty` ``(pred_real, real) -> scalar`` on the logits of real images and
  the real images they were computed from.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from restorekit.registry import LOSSES
from .utils import default_loss_name

_GAN_TYPES = ('vanilla', 'lsgan', 'hinge', 'nonsaturating')
#: The GAN types whose targets are the labels ``real_label`` / ``fake_label``.
_LABELLED_TYPES = ('vanilla', 'lsgan')


@LOSSES.register_module()
class GANLoss(nn.Module):
    """The adversarial objective of a discriminator's logits, for either network.

    ``pred`` are raw logits (any shape, e.g. a PatchGAN map); every element is one decision and
    the loss is their mean. With ``t`` the label (``real_label`` if ``target_is_real`` else
    ``fake_label``):

    ============== ================================== ==========================================
    ``gan_type``   discriminator (``is_disc=True``)   generator (``is_disc=False``)
    ============== ================================== ==========================================
    vanilla        ``BCE(sigmoid(pred), t)``          same, called with ``target_is_real=True``
    lsgan          ``(pred - t)^2``                   same, called with ``target_is_real=True``
    hinge          real ``relu(1 - pred)``,           ``-pred`` (needs ``target_is_real=True``)
                   fake ``relu(1 + pred)``
    nonsaturating  real ``softplus(-pred)``,          real ``softplus(-pred)``
                   fake ``softplus(pred)``
    ============== ================================== ==========================================

    ``vanilla`` is pix2pix's binary cross-entropy (Goodfellow et al. 2014 with the generator's
    non-saturating target, as pix2pix and mmagic use it) and supports label smoothing through
    ``real_label``/``fake_label``; ``nonsaturating`` is the same objective in StyleGAN's softplus
    form with fixed labels (numerically equal to ``vanilla`` at the default labels); ``lsgan`` is
    Mao et al. 2017; ``hinge`` is the hinge loss of Lim & Ye 2017 / SAGAN / BigGAN, whose
    generator term differs from its discriminator term. The design follows mmagic's
    ``GANLoss(gan_type, real_label_val, fake_label_val, loss_weight)``.

    ``loss_weight`` scales the generator's loss only (its weight against the generator's other
    losses); the discriminator's loss is returned unweighted.

    Args:
        gan_type: ``'vanilla'``, ``'lsgan'``, ``'hinge'`` or ``'nonsaturating'``.
        real_label: Target of real samples for ``vanilla`` and ``lsgan``.
        fake_label: Target of fake samples for ``vanilla`` and ``lsgan``.
        loss_weight: Weight of the generator's loss.
        name: Name of the term in the model's loss dict (default ``'gan'``).
    """

    def __init__(self,
                 gan_type: str = 'vanilla',
                 real_label: float = 1.0,
                 fake_label: float = 0.0,
                 loss_weight: float = 1.0,
                 name: Optional[str] = None) -> None:
        super().__init__()
        if gan_type not in _GAN_TYPES:
            raise ValueError(f'GANLoss: gan_type must be one of {_GAN_TYPES}, got {gan_type!r}.')
        if gan_type not in _LABELLED_TYPES and (real_label, fake_label) != (1.0, 0.0):
            raise ValueError(f'GANLoss: real_label/fake_label are only used by {_LABELLED_TYPES}; '
                             f'gan_type={gan_type!r} ignores them, so leave them at 1.0/0.0.')
        self.gan_type = gan_type
        self.real_label = float(real_label)
        self.fake_label = float(fake_label)
        self.loss_weight = float(loss_weight)
        self.name = name if name is not None else default_loss_name(type(self))

    def forward(self,
                pred: torch.Tensor,
                target_is_real: bool,
                is_disc: bool = False) -> torch.Tensor:
        """The loss of the logits ``pred``.

        Args:
            pred: Discriminator logits, any shape.
            target_is_real: Whether ``pred`` should be judged real: ``True`` for real images in
                the discriminator's loss and for fake images in the generator's loss.
            is_disc: ``True`` for the discriminator's loss, ``False`` for the generator's.

        Returns:
            A scalar tensor; the generator's is multiplied by ``loss_weight``.
        """
        pred = pred.float()  # the logits' loss in float32, also under autocast
        if self.gan_type == 'hinge':
            if is_disc:
                loss = F.relu(1.0 - pred if target_is_real else 1.0 + pred).mean()
            elif not target_is_real:
                raise ValueError('GANLoss: the hinge generator loss is -mean(pred) of fake '
                                 'images judged real; call it with target_is_real=True.')
            else:
                loss = -pred.mean()
        elif self.gan_type == 'nonsaturating':
            loss = F.softplus(-pred if target_is_real else pred).mean()
        else:
            label = self.real_label if target_is_real else self.fake_label
            target = torch.full_like(pred, label)
            if self.gan_type == 'vanilla':
                loss = F.binary_cross_entropy_with_logits(pred, target)
            else:
                loss = F.mse_loss(pred, target)
        return loss if is_disc else loss * self.loss_weight

    def extra_repr(self) -> str:
        return (f'name={self.name!r}, gan_type={self.gan_type!r}, real_label={self.real_label}, '
                f'fake_label={self.fake_label}, loss_weight={self.loss_weight}')


@LOSSES.register_module()
class R1GradientPenalty(nn.Module):
    """R1 regularisation of the discriminator: the squared gradient norm on real images.

    ``R1 = gamma / 2 * E_x[ ||grad_x D(x)||^2 ]`` over real images ``x`` (Mescheder et al.,
    "Which Training Methods for GANs do actually Converge?", ICML 2018). As in StyleGAN2 and
    mmagic, ``loss_weight`` is ``gamma / 2`` (``gamma = 10`` -> ``loss_weight=5``); the squared
    norm is summed over channels and pixels of each image and averaged over the batch; for a map
    of logits (PatchGAN) the gradient is that of the sum of the map.

    Lazy regularisation (Karras et al., StyleGAN2, CVPR 2020): with ``interval=k`` the caller
    applies the penalty only every k-th discriminator step (:meth:`is_due`), and the penalty is
    multiplied by ``k`` so its expected strength is unchanged.

    Args:
        loss_weight: ``gamma / 2``.
        interval: Apply every ``interval``-th discriminator step (1 = every step).
        name: Name of the term in the model's loss dict (default ``'r1'``).
    """

    def __init__(self,
                 loss_weight: float = 5.0,
                 interval: int = 1,
                 name: Optional[str] = None) -> None:
        super().__init__()
        if int(interval) != interval or interval < 1:
            raise ValueError(f'R1GradientPenalty: interval must be a positive integer, got '
                             f'{interval!r}.')
        self.loss_weight = float(loss_weight)
        self.interval = int(interval)
        self.name = name if name is not None else 'r1'

    def is_due(self, step: int) -> bool:
        """Whether the discriminator step number ``step`` (0, 1, 2...) gets the penalty."""
        return step % self.interval == 0

    def forward(self, pred_real: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """The penalty of the logits ``pred_real`` computed from ``real``.

        Args:
            pred_real: Discriminator logits of ``real``, any shape with the batch first.
            real: The real images (N, C, H, W), with ``requires_grad=True`` set before the
                discriminator's forward pass.

        Returns:
            ``loss_weight * interval * mean_n(sum_chw(grad^2))``, a scalar with a graph, so its
            backward trains the discriminator.
        """
        if not real.requires_grad:
            raise ValueError('R1GradientPenalty: real must require gradients; call '
                             'real.requires_grad_(True) before the discriminator forward pass.')
        (grad, ) = torch.autograd.grad(
            outputs=pred_real.float().sum(), inputs=real, create_graph=True)
        penalty = grad.float().square().flatten(1).sum(1).mean()
        return penalty * (self.loss_weight * self.interval)

    def extra_repr(self) -> str:
        return f'name={self.name!r}, loss_weight={self.loss_weight}, interval={self.interval}'
