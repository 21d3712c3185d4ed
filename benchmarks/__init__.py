"""Benchmarks: cgraph against numpy and, where installed, PyTensor, JAX and torch.compile."""
