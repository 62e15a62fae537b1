"""Stage wrappers: a wrapped stage plus behaviour around it (test-time augmentation)."""
