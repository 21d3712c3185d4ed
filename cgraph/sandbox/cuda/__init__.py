"""``theano.sandbox.cuda`` (Theano's old GPU backend) on a machine without a GPU.

Programs written for Theano <= 0.9 import it and test ``cuda_available`` / ``cuda_enabled``
and ``dnn.dnn_available()`` to choose a CPU path; here all of them say no, as Theano 0.9
without a GPU does. Asking for a GPU raises.
"""
from . import dnn  # noqa: F401

cuda_available = False   # a CUDA device and compiler were found
cuda_enabled = False     # the backend was activated (device=gpu)


def use(device: str, *args, **kwargs) -> None:
    """Theano's ``theano.sandbox.cuda.use``: there is no GPU backend to switch to."""
    raise ValueError(f"cgraph.sandbox.cuda.use({device!r}): cgraph runs on the CPU only "
                     f"(no GPU backend)")
