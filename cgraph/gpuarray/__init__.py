"""``theano.gpuarray`` on a machine without a GPU: cgraph runs on the CPU only.

Theano 1.0.5 imports this module without pygpu and reports ``pygpu_activated = False``;
programs (Lasagne's dnn and corrmm layers, for one) test that flag and ``dnn.dnn_present()``
to choose a CPU path, so both exist here and say no. Asking for a GPU raises.
"""
from . import dnn  # noqa: F401

pygpu = None              # Theano sets this to the pygpu module when it can import it
pygpu_activated = False   # True in Theano once a GPU context is initialised; never here


def use(device: str, *args, **kwargs) -> None:
    """Theano's ``theano.gpuarray.use``: there is no GPU backend to switch to."""
    raise ValueError(f"cgraph.gpuarray.use({device!r}): cgraph runs on the CPU only "
                     f"(no GPU backend)")


init_dev = use
