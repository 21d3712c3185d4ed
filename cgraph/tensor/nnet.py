"""``T.nnet``: neural-network functions. (partial; softmax and relu come with their ops)"""
from .basic import sigmoid, softplus  # noqa: F401
