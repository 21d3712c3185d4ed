"""Indexing. (stub)"""


def getitem(x, index):
    raise NotImplementedError("indexing is not implemented yet")
