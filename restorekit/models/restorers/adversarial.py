"""Adversarial training of the Restorer's pipeline: the discriminator, what it judges, R1.

:class:`AdversarialRestorer` is the pipeline (:class:`~.restorer.Restorer`) plus the GAN protocol,
kept apart from it as mmagic's ``BaseGAN`` keeps the generator/discriminator alternation and LaMa's
adversarial loss objects (``saicinpainting/training/losses/adversarial.py``) keep what the
discriminator sees: everything about the discriminator is declared in this class's arguments
(which output it judges, the inpainter's intermediate stages it also judges, whether it gets the
mask, whether it is conditioned on the damaged input), none of it is read from the discriminator.
"""
from contextlib import ExitStack, contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper, OptimWrapperDict

from restorekit.registry import DISCRIMINATORS, LOSSES, MODELS
from restorekit.utils.networks import NETWORKS
from .restorer import Restorer
from .stage_init import (STAGE_MODULES, ModuleConfig, build_module, check_stage_init,
                         load_stage_init, unwrap)

#: The stage the discriminator judges -> (its output in ``train_forward``, its real target).
#: The inpainter is judged on its composite, as DeepFill's discriminator is.
ADVERSARIAL_STAGES = {'colorizer': ('rgb', 'gt_img'), 'inpainter': ('composite', 'gt_gray')}


@MODELS.register_module()
class AdversarialRestorer(Restorer):
    """A :class:`~.restorer.Restorer` trained adversarially with a discriminator.

    :meth:`train_step` trains the generator (every trained stage) and the discriminator
    alternately with an ``OptimWrapperDict`` keyed ``generator`` and ``discriminator`` (built by
    :class:`~restorekit.engine.optim_constructors.RestorerOptimWrapperConstructor`), following
    pix2pix's ``optimize_parameters`` and mmagic's ``BaseGAN.train_step``. Inference is the
    Restorer's: the discriminator takes no part in it.

    What the discriminator judges is declared here:

    * ``adversarial_stage='colorizer'``: ``rgb`` against ``gt_img``; ``'inpainter'``: the grey
      composite against ``gt_gray``;
    * ``judged_stages``: intermediate outputs of the inpainter (a
      :class:`~restorekit.models.outputs.MultiStageInpainter`: MAT's ``'stage1'``, DeepFill's
      ``'coarse'``), composited like the final output and judged against the same real image;
      the discriminator is then called ``D(x, [mask,] x_stage...)`` and returns one logits
      tensor per judged image (MAT's ``MATTwoStageDiscriminator``);
    * ``disc_takes_mask``: the discriminator also gets the training mask, ``D(x, mask)`` (MAT's
      ``concat(mask - 0.5, image)``);
    * ``conditional_discriminator``: ``x = cat(damaged input, image)``, pix2pix's conditional
      discriminator; else ``x = image``.

    The generator's adversarial terms ``loss_{stage}_{gan name}`` (and
    ``loss_{stage}_{judged stage}_{gan name}``) join its stage losses; the discriminator's are
    ``loss_disc_fake``, ``loss_disc_real``, ``loss_disc_{judged stage}_fake``... and, when due,
    ``loss_disc_{r1 name}``. The lazy R1 schedule counts discriminator steps in
    ``disc_step_count``, which the checkpoint keeps (see :meth:`train_counters`), so a resumed run
    applies R1 on the steps the uninterrupted run would.

    Args:
        discriminator: Config or module of the discriminator (:data:`DISCRIMINATORS`).
        gan_loss: Config of the :class:`~restorekit.models.losses.gan.GANLoss`.
        r1_penalty: Optional config of the
            :class:`~restorekit.models.losses.gan.R1GradientPenalty`.
        adversarial_stage: ``'colorizer'`` or ``'inpainter'``, see above.
        judged_stages: Names of the inpainter's intermediate outputs also judged.
        disc_takes_mask: Pass the training mask to the discriminator.
        conditional_discriminator: Concatenate the damaged input before the judged image.
        disc_steps: Discriminator updates per iteration (on the same batch).
        gen_steps: Generator updates per iteration, after the discriminator's.
        **kwargs: The :class:`~.restorer.Restorer`'s arguments (stages, losses, ...).
    """

    def __init__(self,
                 discriminator: ModuleConfig = None,
                 gan_loss: ModuleConfig = None,
                 r1_penalty: ModuleConfig = None,
                 adversarial_stage: str = 'colorizer',
                 judged_stages: Sequence[str] = (),
                 disc_takes_mask: bool = False,
                 conditional_discriminator: bool = True,
                 disc_steps: int = 1,
                 gen_steps: int = 1,
                 **kwargs) -> None:
        # The discriminator's stage_init is checked and loaded once it is built.
        stage_init = kwargs.pop('stage_init', None)
        super().__init__(**kwargs)
        if discriminator is None:
            raise ValueError('AdversarialRestorer: needs a discriminator (a Restorer without one '
                             "is type='Restorer').")
        if gan_loss is None:
            raise ValueError("AdversarialRestorer: a discriminator needs a gan_loss, e.g. "
                             "gan_loss=dict(type='GANLoss', gan_type='vanilla').")
        if adversarial_stage not in ADVERSARIAL_STAGES:
            raise ValueError(f'AdversarialRestorer: adversarial_stage must be one of '
                             f'{tuple(ADVERSARIAL_STAGES)}, got {adversarial_stage!r}.')
        if getattr(self, adversarial_stage) is None:
            raise ValueError(f'AdversarialRestorer: adversarial_stage={adversarial_stage!r} but '
                             f'there is no {adversarial_stage} for the discriminator to judge.')
        if adversarial_stage in self.frozen_stages:
            raise ValueError(f'AdversarialRestorer: {adversarial_stage} is frozen but is the '
                             f'adversarial_stage; the discriminator can only train a stage that '
                             f'trains.')
        if isinstance(judged_stages, str):
            raise TypeError(f'AdversarialRestorer: judged_stages must be a list of stage names, '
                            f'got the string {judged_stages!r}; write [{judged_stages!r}].')
        self.judged_stages = tuple(judged_stages)
        if self.judged_stages and adversarial_stage != 'inpainter':
            raise ValueError(f'AdversarialRestorer: judged_stages={list(self.judged_stages)} are '
                             f"the inpainter's, so adversarial_stage must be 'inpainter', got "
                             f'{adversarial_stage!r}.')
        for name in self.judged_stages:
            self.check_inpainter_stage(name, 'judged_stages')
        for key, value in (('disc_steps', disc_steps), ('gen_steps', gen_steps)):
            if int(value) != value or value < 1:
                raise ValueError(f'AdversarialRestorer: {key} must be a positive integer, got '
                                 f'{value!r}.')
        self.discriminator = build_module(discriminator, DISCRIMINATORS, 'discriminator')
        self.gan_loss = build_module(gan_loss, LOSSES, 'gan_loss')
        self.r1_penalty = build_module(r1_penalty, LOSSES, 'r1_penalty')
        if self.gan_loss.name in getattr(self, f'_{adversarial_stage}_loss_names'):
            raise ValueError(f'AdversarialRestorer: the gan_loss and a {adversarial_stage} loss '
                             f'are both named {self.gan_loss.name!r}; rename one (name=...).')
        self.adversarial_stage = adversarial_stage
        self.disc_takes_mask = bool(disc_takes_mask)
        self.conditional_discriminator = bool(conditional_discriminator)
        self.disc_steps = int(disc_steps)
        self.gen_steps = int(gen_steps)
        #: Discriminator steps so far: numbers them for the lazy R1 schedule.
        self.disc_step_count = 0
        self.stage_init = check_stage_init(self, stage_init)
        load_stage_init(self, self.stage_init)

    def train_counters(self) -> Dict[str, int]:
        """The Restorer's counters and the discriminator step count (the R1 schedule)."""
        return {**super().train_counters(), 'disc_step_count': self.disc_step_count}

    # --- what the discriminator sees --------------------------------------------------------------
    def discriminator_input(self, image: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """What the discriminator sees: ``cat(condition, image)`` if conditional, else ``image``."""
        if not self.conditional_discriminator:
            return image
        return torch.cat([condition.to(image.dtype), image], dim=1)

    def judged_images(self, outputs: Dict[str, torch.Tensor],
                      inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The generator's images the discriminator judges, keyed by loss-name infix: ``''`` the
        judged stage's output, ``'{name}_'`` each judged intermediate stage (composited)."""
        images = {'': outputs[ADVERSARIAL_STAGES[self.adversarial_stage][0]]}
        mask = outputs.get('mask')
        for name in self.judged_stages:
            images[f'{name}_'] = self.composite(outputs['stages'][name], inputs, mask)
        return images

    def judge(self, discriminator: nn.Module, images: Dict[str, torch.Tensor],
              condition: torch.Tensor,
              mask: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The discriminator's logits of each judged image (keyed as :meth:`judged_images`)."""
        args = [self.discriminator_input(images[''], condition)]
        if self.disc_takes_mask:
            args.append(mask)
        for name in self.judged_stages:
            args.append(self.discriminator_input(images[f'{name}_'], condition))
        preds = discriminator(*args)
        if not self.judged_stages:
            return {'': preds}
        if not isinstance(preds, (tuple, list)) or len(preds) != 1 + len(self.judged_stages):
            raise TypeError(f'AdversarialRestorer: with judged_stages={list(self.judged_stages)} '
                            f'the discriminator ({type(unwrap(discriminator)).__name__}) must '
                            f'return {1 + len(self.judged_stages)} logits tensors, one per judged '
                            f'image.')
        return dict(zip(images, preds))

    # --- the GAN step -----------------------------------------------------------------------------
    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        """One training iteration; returns the loss terms (tensors) for logging.

        ``optim_wrapper`` is an ``OptimWrapperDict`` keyed ``generator`` and ``discriminator``.
        As pix2pix's ``optimize_parameters``:

        1. the generator runs once (inside the generator wrapper's ``optim_context``, so AMP
           autocasts and gradient accumulation skips DDP synchronisation);
        2. ``disc_steps`` discriminator updates on the detached outputs against the real target
           (and, when due, the R1 penalty), inside the discriminator wrapper's ``optim_context``;
        3. ``gen_steps`` generator updates with the discriminator's parameters frozen
           (``requires_grad=False``): the stage losses plus the adversarial terms; the first
           reuses step 1's forward pass.

        Every update goes through ``update_params``, so each wrapper's ``accumulative_counts``
        applies. Steps within one iteration see the same batch, so ``disc_steps``/``gen_steps`` >
        1 cannot be combined with accumulation of the same network. No tensor is copied to the
        CPU; the returned terms are detached and averaged over the steps.
        """
        wrappers = self._network_wrappers(optim_wrapper)
        gen_wrapper, disc_wrapper = wrappers['generator'], wrappers['discriminator']

        data = self.data_preprocessor(data, True)
        inputs = data['inputs']
        targets = self.data_preprocessor.stack_targets(data['data_samples'])
        target_key = ADVERSARIAL_STAGES[self.adversarial_stage][1]
        real = targets[target_key]
        if real is None:
            raise ValueError(f'AdversarialRestorer: the discriminator judges the '
                             f'{self.adversarial_stage} against the `{target_key}` of the data '
                             f'samples, but the samples have none.')

        with self._generator_context(gen_wrapper):
            outputs = self.train_forward(inputs, targets)
        if self.disc_takes_mask and 'mask' not in outputs:
            raise ValueError('AdversarialRestorer: the discriminator judges (image, mask) '
                             '(disc_takes_mask=True), but the batch has no damage mask; give the '
                             "samples a `mask` or use train_mask_source='detected'.")
        mask = outputs.get('mask')
        # In the discriminator's precision, whatever the generator's autocast produced.
        fakes = {
            key: image.detach().to(real.dtype)
            for key, image in self.judged_images(outputs, inputs).items()
        }
        disc_logs = [
            self._train_discriminator(inputs, real, fakes, disc_wrapper, mask)
            for _ in range(self.disc_steps)
        ]
        gen_logs = []
        with self._frozen_discriminator():
            for step in range(self.gen_steps):
                gen_logs.append(
                    self._train_generator(inputs, targets, outputs if step == 0 else None,
                                          gen_wrapper))
        return {**_mean_logs(disc_logs), **_mean_logs(gen_logs)}

    def _network_wrappers(self, optim_wrapper: OptimWrapper) -> Dict[str, OptimWrapper]:
        """The wrappers keyed by network, checked against the step counts."""
        if not isinstance(optim_wrapper, OptimWrapperDict):
            raise TypeError(
                'AdversarialRestorer: trains with an OptimWrapperDict keyed '
                f'{NETWORKS}, got a {type(optim_wrapper).__name__}; build it with '
                "optim_wrapper=dict(constructor='RestorerOptimWrapperConstructor', "
                'generator=dict(...), discriminator=dict(...)).')
        if set(optim_wrapper.keys()) != set(NETWORKS):
            raise ValueError(f'AdversarialRestorer: the OptimWrapperDict must have the keys '
                             f'{NETWORKS}, got {sorted(optim_wrapper.keys())}.')
        wrappers = {network: optim_wrapper[network] for network in NETWORKS}
        for network, steps in (('generator', self.gen_steps), ('discriminator', self.disc_steps)):
            if steps > 1 and wrappers[network]._accumulative_counts > 1:
                raise ValueError(
                    f'AdversarialRestorer: {network} has {steps} steps per iteration and '
                    f'accumulative_counts={wrappers[network]._accumulative_counts}; the steps of '
                    f'one iteration see the same batch, so accumulating them adds nothing. Use '
                    f'either.')
        return wrappers

    def _generator_stages(self) -> List[nn.Module]:
        return [
            getattr(self, name) for name in STAGE_MODULES
            if getattr(self, name) is not None and name not in self.frozen_stages
        ]

    @contextmanager
    def _generator_context(self, wrapper: OptimWrapper) -> Iterator[None]:
        """``wrapper.optim_context`` of every trained generator stage (each may be a DDP)."""
        with ExitStack() as stack:
            for stage in self._generator_stages():
                stack.enter_context(wrapper.optim_context(stage))
            yield

    @contextmanager
    def _frozen_discriminator(self) -> Iterator[None]:
        """Stop gradients into the discriminator's parameters; restore them afterwards."""
        params = [param for param in self.discriminator.parameters() if param.requires_grad]
        for param in params:
            param.requires_grad_(False)
        try:
            yield
        finally:
            for param in params:
                param.requires_grad_(True)

    def _train_discriminator(self, inputs: torch.Tensor, real: torch.Tensor,
                             fakes: Dict[str, torch.Tensor], wrapper: OptimWrapper,
                             mask: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """One discriminator update on the detached ``fakes`` and ``real``.

        Each judged image is a fake against the same real image and gets its own terms
        (``loss_disc_stage1_fake``...) and its own R1 penalty.
        """
        step, self.disc_step_count = self.disc_step_count, self.disc_step_count + 1
        with_r1 = self.r1_penalty is not None and self.r1_penalty.is_due(step)
        with wrapper.optim_context(self.discriminator):
            preds_fake = self.judge(self.discriminator, fakes, inputs, mask)
            real = real.detach().requires_grad_(with_r1)
            preds_real = self.judge(self.discriminator, {key: real for key in fakes}, inputs, mask)
            losses = {}
            for infix, pred_fake in preds_fake.items():
                pred_real = preds_real[infix]
                losses[f'loss_disc_{infix}fake'] = self.gan_loss(
                    pred_fake, target_is_real=False, is_disc=True)
                losses[f'loss_disc_{infix}real'] = self.gan_loss(
                    pred_real, target_is_real=True, is_disc=True)
                if with_r1:
                    losses[f'loss_disc_{infix}{self.r1_penalty.name}'] = self.r1_penalty(
                        pred_real, real)
        loss, logs = self.parse_losses(losses)
        wrapper.update_params(loss)
        return logs

    def _train_generator(self, inputs: torch.Tensor, targets: Dict[str, Optional[torch.Tensor]],
                         outputs: Optional[Dict[str, torch.Tensor]],
                         wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        """One generator update: stage losses plus the adversarial terms (``outputs`` reused)."""
        with self._generator_context(wrapper):
            if outputs is None:
                outputs = self.train_forward(inputs, targets)
            losses = self.pipeline_losses(outputs, targets)
            # The plain module, not its DDP wrapper: its parameters take no gradient here, so
            # DDP has nothing to prepare (nor, with find_unused_parameters, zeros to all-reduce).
            preds_fake = self.judge(
                unwrap(self.discriminator), self.judged_images(outputs, inputs), inputs,
                outputs.get('mask'))
            for infix, pred_fake in preds_fake.items():
                losses[f'loss_{self.adversarial_stage}_{infix}{self.gan_loss.name}'] = (
                    self.gan_loss(pred_fake, target_is_real=True, is_disc=False))
        loss, logs = self.parse_losses(losses)
        wrapper.update_params(loss)
        return logs


def _mean_logs(logs: Sequence[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Each term averaged over the steps that logged it, detached; parse_losses' total dropped."""
    keys = dict.fromkeys(key for log in logs for key in log if key != 'loss')
    return {
        key: torch.stack([log[key].detach() for log in logs if key in log]).mean()
        for key in keys
    }
