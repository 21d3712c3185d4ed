"""``GemmTanh``: ``tanh(beta * z + alpha * dot(a, b))`` as one node, a recurrent layer's step.

Built by the rewrite in cgraph/rewrite/gemm_epilogue.py from a ``tanh`` whose input is a
``Gemm`` that nothing else reads. The C is the Gemm's (the z loop, then the product added by
the small-GEMM kernel or BLAS) followed by tanh over the result in place while it is still in
the cache: one node per step instead of two, no second buffer, no second dispatch through the
elementwise driver (W7's RNN: h_t = tanh(x_t W + h_{t-1} U + b) in a scan).

Values: the Gemm's result rounded to the dtype, then tanh of it, exactly what the two nodes
computed (the same tanh: libm's, or libmvec's where the toolchain has it).
"""
import numpy as np

from ..graph.basic import Apply, Op
from .blas import Gemm


class GemmTanh(Op):
    """``tanh`` of ``Gemm(scalar_op)``'s result: the same inputs (``alpha, a, b, beta,
    *z_inputs``), the same output type."""

    __props__ = ("scalar_op",)
    c_template = "ops/gemm_tanh.c.j2"
    allocates_fresh_output = True
    # out = beta * z, the Gemm's loop over the z inputs, run by the runtime
    c_kernel_template = Gemm.c_kernel_template

    def __init__(self, scalar_op=None):
        self.scalar_op = scalar_op

    @property
    def gemm(self) -> Gemm:
        """The Gemm this node applies tanh to (its checks, reference and C parameters)."""
        return Gemm(self.scalar_op)

    def __str__(self):
        return "GemmTanh" if self.scalar_op is None else f"GemmTanh{{{self.scalar_op.name}}}"

    def make_node(self, alpha, a, b, beta, *z_inputs):
        node = self.gemm.make_node(alpha, a, b, beta, *z_inputs)
        return Apply(self, list(node.inputs), [node.outputs[0].type()])

    def perform(self, node, inputs):
        (product,) = self.gemm.perform(node, inputs)
        return [np.tanh(product)]

    def c_params(self, node):
        return self.gemm.c_params(node)

    def c_kernel_context(self, node, context):
        return self.gemm.c_kernel_context(node, context)
