"""Shape ops. (stub)"""


def _todo(*args, **kwargs):
    raise NotImplementedError("shape ops are not implemented yet")


alloc = arange = concatenate = fill = flatten = ones = ones_like = reshape = second = shape = \
    stack = zeros = zeros_like = _todo
