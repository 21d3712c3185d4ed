"""``theano.sandbox.cuda.dnn`` without a GPU: ``dnn_available()`` is False, with its ``msg``."""
from ...gpuarray.dnn import NO_GPU


def dnn_available() -> bool:
    """Whether cuDNN can be used: never with cgraph."""
    return False


dnn_available.msg = NO_GPU
dnn_available.avail = False
