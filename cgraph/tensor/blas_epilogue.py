"""``GemmEpilogue``: an elementwise loop over a Gemm's result, run in place on it as one node
(a layer's ``tanh(x W + b)``, ``sigmoid(v W + b)``, ``maximum(x W + b, 0)``).

Built by the rewrite in cgraph/rewrite/gemm_epilogue.py from an Elemwise (one scalar op, or a
fused Composite) one of whose inputs is a ``Gemm`` result that nothing else reads. The C is
the Gemm's (the z loop, then the product added by the small-GEMM kernel or BLAS), then the
elementwise loop over the product, writing over it while it is still in the cache: one node
and one buffer instead of two. A plain tanh runs as cg_tanh_inplace (runtime.h); any other
loop through the elementwise driver, its output given the product's buffer (cg_pool_dest:
only when it has the product's shape, else a new buffer; other operands may broadcast).

Values: the Gemm's result rounded to the dtype, then the elementwise op of it, exactly what
the two nodes computed.

``GemmSquares``: a Gemm updating W together with the cost's sum(W ** 2), one read of W for
both (below).
"""
from types import SimpleNamespace

from ..graph.basic import Apply, Op
from .blas import Gemm
from .elemwise import Elemwise
from .type import C_TYPES


class GemmEpilogue(Op):
    """``Elemwise(epilogue_op)`` applied to ``Gemm(scalar_op)``'s result, which is the
    epilogue's input number ``product_at``. Inputs: the Gemm's (``alpha, a, b, beta,
    *z_inputs``: ``n_gemm`` of them), then the epilogue's other inputs in order."""

    # scalar ops, not the Elemwise: the cache's pre-key describes ops by these properties
    __props__ = ("scalar_op", "epilogue_op", "product_at", "n_gemm")
    c_template = "ops/gemm_epilogue.c.j2"
    allocates_fresh_output = True
    # out = beta * z, the Gemm's loop over the z inputs, run by the runtime
    c_kernel_template = Gemm.c_kernel_template

    def __init__(self, scalar_op, epilogue_op, product_at: int, n_gemm: int):
        self.scalar_op = scalar_op
        self.epilogue_op = epilogue_op
        self.product_at = product_at
        self.n_gemm = n_gemm

    @property
    def epilogue(self) -> Elemwise:
        """The elementwise op run over the product."""
        return Elemwise(self.epilogue_op)

    @property
    def gemm(self) -> Gemm:
        """The Gemm whose result the epilogue reads (its checks, reference, C parameters)."""
        return Gemm(self.scalar_op)

    def __str__(self):
        gemm = "Gemm" if self.scalar_op is None else f"Gemm{{{self.scalar_op.name}}}"
        return f"{self.epilogue}({gemm})"

    def short_name(self):
        return "gemm_" + self.epilogue_op.name.split("{")[0].lower()

    def _parts(self, inputs):
        """The Gemm's node and the epilogue's, over ``inputs`` (symbolic)."""
        gemm = self.gemm.make_node(*inputs[:self.n_gemm])
        rest = list(inputs[self.n_gemm:])
        rest.insert(self.product_at, gemm.outputs[0])
        return gemm, self.epilogue.make_node(*rest)

    def make_node(self, *inputs):
        gemm, epilogue = self._parts(inputs)
        if epilogue.outputs[0].type != gemm.outputs[0].type:
            raise TypeError(f"{self}: the epilogue's result ({epilogue.outputs[0].type}) must "
                            f"have the product's type ({gemm.outputs[0].type})")
        return Apply(self, list(gemm.inputs) + list(inputs[self.n_gemm:]),
                     [epilogue.outputs[0].type()])

    def perform(self, node, inputs):
        gemm, epilogue = self._parts(node.inputs)
        (product,) = self.gemm.perform(gemm, inputs[:self.n_gemm])
        rest = list(inputs[self.n_gemm:])
        rest.insert(self.product_at, product)
        return self.epilogue.perform(epilogue, rest)

    def _tanh_only(self):
        return self.epilogue_op.name == "tanh"

    def c_params(self, node):
        gemm, epilogue = self._parts(node.inputs)
        params = self.gemm.c_params(gemm)
        ctype = C_TYPES[node.outputs[0].dtype]
        params["epilogue_inplace"] = \
            ("cg_tanhf_inplace" if ctype == "float" else "cg_tanh_inplace") \
            if self._tanh_only() else ""
        params["epilogue_text"] = str(self.epilogue).replace("*/", "* /")
        params["product_at"] = self.product_at
        params["n_gemm"] = self.n_gemm
        if not self._tanh_only():
            loop = self.epilogue.c_params(epilogue)
            params.update({"epi_" + k: v for k, v in loop.items()})
        return params

    def c_support_code(self, node, module):
        """The epilogue's loop (ops/elemwise_kernel.c.j2), a module-level function; the
        output may be the product's buffer, so no ``restrict``."""
        if self._tanh_only():
            return {}
        _, epilogue = self._parts(node.inputs)
        loop = self.epilogue.c_params(epilogue)
        operands = [SimpleNamespace(ctype=C_TYPES[v.dtype]) for v in epilogue.inputs]
        name = module.add_kernel(self.epilogue.c_kernel_template, "cg_loop_epilogue",
                                 ins=operands, outs=[SimpleNamespace(ctype=C_TYPES[
                                     node.outputs[0].dtype])], may_alias=True,
                                 op_text=str(self.epilogue).replace("*/", "* /"), **loop)
        return {"epi_kernel": name}

    def c_kernel_context(self, node, context):
        gemm, _ = self._parts(node.inputs)
        return self.gemm.c_kernel_context(gemm, {**context,
                                                 "ins": context["ins"][:self.n_gemm]})


class GemmSquares(Op):
    """``(Gemm(alpha, a, b, beta, z), sum(z ** 2))`` as one node: an update of W with weight
    decay beside the cost's ``l2 * sum(W ** 2)`` (Theano's MLP tutorial, W3). Built by the
    rewrite in cgraph/rewrite/gemm_epilogue.py from a plain Gemm (one z input, no loop) and
    ``squares``, the Reduce summing z's squares over every axis (a fused Sum of sqr).

    The C (ops/gemm.c.j2) reads z's squares before the product: when the update is
    written in place (W is already in the output's buffer), the same pass multiplies W by
    beta, and the product adds with beta 1. Values: the Gemm's, and the squares rounded to
    the dtype then summed in double, as the Reduce computes them (its reference here)."""

    __props__ = ("squares",)
    c_template = Gemm.c_template    # (which reads the squares when there is a second output)
    # the sum's 0-d array: allocated before the late blocks when the update is in place
    # (codegen/lower.py), so that no allocation fails once an input's buffer is written
    early_outputs = (1,)
    allocates_fresh_output = True
    c_kernel_template = Gemm.c_kernel_template     # out = beta * z, as the Gemm's

    def __init__(self, squares):
        self.squares = squares

    def __str__(self):
        return "GemmSquares"

    def short_name(self):
        return "gemm_sq"

    def _gemm(self, inputs):
        return Gemm().make_node(*inputs)

    def make_node(self, alpha, a, b, beta, z):
        gemm = self._gemm([alpha, a, b, beta, z])
        squares = self.squares.make_node(gemm.inputs[4])
        return Apply(self, list(gemm.inputs),
                     [gemm.outputs[0].type(), squares.outputs[0].type()])

    def perform(self, node, inputs):
        (product,) = Gemm().perform(self._gemm(node.inputs), inputs)
        (total,) = self.squares.perform(self.squares.make_node(node.inputs[4]), inputs[4:])
        return [product, total]

    def writes_inplace_safely(self, node):
        return True   # z's squares are read, then beta * z and the product written (Gemm's)

    def inplace_conditions(self, node, info, target):
        return Gemm().inplace_conditions(node, info, target)

    def c_params(self, node):
        return Gemm().c_params(self._gemm(node.inputs))

    def c_kernel_context(self, node, context):
        return Gemm().c_kernel_context(self._gemm(node.inputs),
                                       {**context, "outs": context["outs"][:1]})
