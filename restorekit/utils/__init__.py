"""Small helpers shared across restorekit, one job per module.

* :mod:`.value_range` - the ``[-1, 1]`` <-> uint8 mapping of images (docs/conventions.md);
* :mod:`.padding` - bottom/right padding of image batches (reflect, or zeros for masks);
* :mod:`.fileio` - atomic file writes (temporary file, ``fsync``, ``os.replace``);
* :mod:`.state_dict` - reading state dicts from checkpoint files through the safe loader,
  unwrapping and prefix stripping;
* :mod:`.networks` - the names of the networks a GAN-trained model has.

Importing this package imports none of them.
"""
