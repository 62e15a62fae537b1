"""The protocol of stages whose training-time randomness is numbered by training step.

A stage that draws noise in training from seeds it numbers itself (MAT: ``train_seed + k`` for
its ``k``-th training call) subclasses :class:`StepSeededStage`. The Restorer numbers its training
forward passes, keeps that number in its checkpoint (see ``Restorer.train_counters``) and tells
every such stage the number before each pass, so a resumed run draws the noise the uninterrupted
run would have drawn.
"""


class StepSeededStage:
    """Mixin of stages whose training noise depends on the number of the training step."""

    def set_train_step(self, step: int) -> None:
        """Draw the next training call's noise for training forward pass number ``step``."""
        raise NotImplementedError
