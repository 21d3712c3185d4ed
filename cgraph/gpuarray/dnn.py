"""``theano.gpuarray.dnn`` without a GPU: cuDNN is never present.

As in Theano, each check returns False and leaves its reason in the function's ``msg``
attribute (programs print ``dnn_available.msg`` when they give up on cuDNN).
"""
NO_GPU = "cgraph runs on the CPU only (no GPU backend, so no cuDNN)"


def dnn_present() -> bool:
    """Whether cuDNN can be used at all: never with cgraph."""
    return False


def dnn_available(context_name=None) -> bool:
    """Whether cuDNN can be used on the GPU context ``context_name``: never with cgraph."""
    return False


dnn_present.msg = NO_GPU
dnn_present.avail = False
dnn_available.msg = NO_GPU
dnn_available.avail = False
