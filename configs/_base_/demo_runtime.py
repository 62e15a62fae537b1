# The runtime of the README demo's runs of a few hundred iterations: ./default_runtime.py with a
# log line every 50 iterations and one checkpoint, at iteration 400.
_base_ = ['./default_runtime.py']

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=400, max_keep_ckpts=1))
