"""dot through BLAS. (stub)"""


def dot(a, b):
    raise NotImplementedError("dot is not implemented yet")


outer = dot
