"""The networks an adversarially trained model has, by the names used everywhere.

They key the model's ``OptimWrapperDict`` (``RestorerOptimWrapperConstructor``), the
``optim_wrapper`` block of GAN configs (``generator=dict(...)``, ``discriminator=dict(...)``) and
the separate DDP wrappers: one name per network, never ``disc`` in one place and
``discriminator`` in another.
"""
#: The generator (every restoring stage) and the discriminator, in the order they are built.
NETWORKS = ('generator', 'discriminator')
