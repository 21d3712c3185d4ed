"""Theano's lazy ``ifelse``, which cgraph does not have yet: T.switch computes both branches."""
from .unsupported import NotSupportedError


def ifelse(condition, then_branch, else_branch, name=None):
    raise NotSupportedError("cgraph.ifelse.ifelse (Theano's lazy conditional) is not supported "
                            "yet; use T.switch(condition, then_branch, else_branch), which "
                            "computes both branches")
