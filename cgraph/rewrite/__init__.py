"""Graph rewrites run by ``function`` before lowering."""


def optimize(inputs, outputs):
    """Return the outputs of a graph equivalent to ``outputs`` (currently unchanged)."""
    return list(outputs)
