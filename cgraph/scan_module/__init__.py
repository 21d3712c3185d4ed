"""scan: loops over symbolic sequences, compiled into the function's C module. (in progress)"""


def scan(*args, **kwargs):
    raise NotImplementedError("scan is being implemented")


def until(condition):
    raise NotImplementedError("scan is being implemented")
