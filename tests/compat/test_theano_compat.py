"""The opt-in ``theano`` alias (cgraph.theano_compat), Theano's gof/compile/scan_utils names,
the GPU modules that report no GPU, and how unsupported names fail (catchably)."""
import importlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph import unsupported

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_python(code: str, *args: str, cwd: str = ROOT) -> subprocess.CompletedProcess:
    """Run ``python -c code`` (or ``python args`` when code is empty) with this checkout first
    on the path; returns the finished process (stdout and stderr as text)."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, *(["-c", textwrap.dedent(code)] if code else []), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


# --- the alias -----------------------------------------------------------------------------

def test_alias_resolves_theano_modules_to_cgraphs_own(tmp_path):
    result = run_python("""
        import cgraph.theano_compat
        import theano
        import theano.tensor as T
        from theano.tensor.nnet import conv2d
        from theano.sandbox.rng_mrg import MRG_RandomStreams
        from theano.tensor.signal import pool
        from theano.scan_module.scan_utils import equal_computations
        from theano.gof.graph import inputs, is_same_graph
        import theano.gof, theano.compile, theano.printing, theano.gradient, theano.ifelse
        import theano.scan_module, theano.sandbox.cuda.dnn, theano.gpuarray.dnn
        import cgraph, cgraph.tensor, cgraph.sandbox.rng_mrg, cgraph.tensor.signal.pool
        import numpy as np
        assert theano is cgraph and T is cgraph.tensor and pool is cgraph.tensor.signal.pool
        assert MRG_RandomStreams is cgraph.sandbox.rng_mrg.MRG_RandomStreams
        assert conv2d is cgraph.tensor.nnet.conv2d
        assert theano.gof.Variable is cgraph.graph.basic.Variable
        assert theano.compile.SharedVariable is cgraph.compile.sharedvalue.SharedVariable
        assert theano.__version__ == cgraph.__version__
        # the modules keep their own spec: cgraph's name and file
        assert T.__spec__.name == "cgraph.tensor" and theano.gof.__spec__.name == "cgraph.gof"
        x = T.dvector("x")
        f = theano.function([x], T.square(x).sum())
        print(float(f(np.array([1.0, 2.0]))))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "5.0"


def test_run_a_script_or_a_module_through_the_alias(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text("import sys, theano, helper\n"
                      "print(__name__, sys.argv[1:], theano.__name__, helper.VALUE)\n")
    (tmp_path / "helper.py").write_text("VALUE = 7\n")   # found beside the script, as python does
    result = run_python("", "-m", "cgraph.theano_compat", str(script), "a", "--b")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["__main__", "['a',", "'--b']", "cgraph", "7"]
    result = run_python("", "-m", "cgraph.theano_compat", "-m", "prog", "c", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:3] == ["__main__", "['c']", "cgraph"]


def test_alias_reaches_sub_modules_registered_by_a_plain_module():
    # cgraph.tensor.nnet is a module; Theano's sub-modules of it (abstract_conv, bn) are put
    # in sys.modules under their Theano paths: the alias must import them by those paths too
    result = run_python("""
        import sys, types
        import cgraph.printing
        fake = types.ModuleType("cgraph.printing.registered_sub")
        fake.VALUE = 3
        sys.modules["cgraph.printing.registered_sub"] = fake
        import cgraph.theano_compat
        import theano.printing.registered_sub
        from theano.printing.registered_sub import VALUE
        assert theano.printing.registered_sub is fake and VALUE == 3
        try:
            import theano.printing.not_registered
        except ModuleNotFoundError as error:
            print(error.name)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "theano.printing.not_registered"


def test_alias_reaches_sub_modules_kept_as_attributes():
    # a Theano sub-module that cgraph keeps in another file and binds as an attribute
    # (T.nnet.abstract_conv as cgraph.tensor.abstract_conv) is importable by Theano's path;
    # an attribute that is a module of another library is not a sub-module
    result = run_python("""
        import types
        import cgraph.gradient
        elsewhere = types.ModuleType("cgraph.somewhere_else")
        elsewhere.VALUE = 4
        cgraph.gradient.kept_here = elsewhere
        import cgraph.theano_compat
        from theano.gradient.kept_here import VALUE
        import theano.gradient.kept_here as kept
        assert kept is elsewhere and VALUE == 4
        assert hasattr(cgraph.gradient, "np")   # numpy, imported by cgraph.gradient
        try:
            import theano.gradient.np
        except ModuleNotFoundError as error:
            print(error.name)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "theano.gradient.np"


def test_plain_import_cgraph_does_not_install_the_alias():
    result = run_python("""
        import sys, importlib.util
        import cgraph, cgraph.tensor
        assert not any(type(f).__name__ == "TheanoAliasFinder" for f in sys.meta_path)
        assert "theano" not in sys.modules
        try:
            import theano
        except ImportError:
            print("no theano")
        else:
            print("real theano" if theano is not cgraph else "alias")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ("no theano", "real theano")


def test_alias_refuses_to_shadow_an_imported_theano():
    result = run_python("""
        import sys, types
        sys.modules["theano"] = types.ModuleType("theano")   # stands for a real Theano
        try:
            import cgraph.theano_compat
        except ImportError as error:
            print(type(error).__name__, error)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("TheanoAliasError cgraph.theano_compat: a real Theano is "
                                    "already imported")


def test_install_is_idempotent_and_uninstall_removes_the_names():
    from cgraph import theano_compat
    try:
        theano_compat.install()
        theano_compat.install()
        finders = [f for f in sys.meta_path if type(f).__name__ == "TheanoAliasFinder"]
        assert len(finders) == 1
        assert importlib.import_module("theano.tensor") is T
    finally:
        theano_compat.uninstall()
    assert "theano" not in sys.modules and "theano.tensor" not in sys.modules
    assert not any(type(f).__name__ == "TheanoAliasFinder" for f in sys.meta_path)


def test_alias_unsupported_and_unknown_modules_raise_import_errors():
    result = run_python("""
        import cgraph.theano_compat
        from cgraph.unsupported import UnsupportedModuleError
        for name in ("theano.sparse", "theano.no_such_module"):
            try:
                __import__(name)
            except ImportError as error:
                print(type(error).__name__, isinstance(error, UnsupportedModuleError), error.name)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "UnsupportedModuleError True theano.sparse",
        "ModuleNotFoundError False theano.no_such_module"]


# --- unsupported names: catchable as programs expect ----------------------------------------

def test_unsupported_attribute_is_an_attribute_error(monkeypatch):
    monkeypatch.setitem(unsupported.THEANO_NAMES["cgraph.tensor"], "made_up_op", "use T.dot")
    assert not hasattr(T, "made_up_op")
    sentinel = object()
    assert getattr(T, "made_up_op", sentinel) is sentinel
    with pytest.raises(unsupported.NotSupportedError,
                       match="cgraph.tensor.made_up_op exists in Theano but is not supported "
                             "by cgraph yet; use T.dot"):
        T.made_up_op
    with pytest.raises(AttributeError, match="has no attribute 'not_a_theano_name'"):
        T.not_a_theano_name


def test_unsupported_sub_namespace_answers_hasattr(monkeypatch):
    monkeypatch.setitem(unsupported.THEANO_NAMES["cgraph.tensor.nnet"], "made_up_module", None)
    monkeypatch.setattr(unsupported, "NAMESPACES",
                        unsupported.NAMESPACES | {"cgraph.tensor.nnet.made_up_module"})
    namespace = T.nnet.made_up_module
    assert "unsupported Theano module cgraph.tensor.nnet.made_up_module" in repr(namespace)
    assert not hasattr(namespace, "SomeOp")   # Lasagne's feature test at import
    assert getattr(namespace, "SomeOp", None) is None
    with pytest.raises(unsupported.NotSupportedError, match="made_up_module.SomeOp: "):
        namespace.SomeOp


def test_unsupported_module_is_an_import_error(monkeypatch):
    monkeypatch.setitem(unsupported.THEANO_MODULES, "cgraph.made_up_module", "use numpy")
    with pytest.raises(ImportError, match="cgraph.made_up_module exists in Theano but is not "
                                          "supported by cgraph yet; use numpy") as info:
        import cgraph.made_up_module  # noqa: F401
    assert isinstance(info.value, unsupported.UnsupportedModuleError)
    assert info.value.name == "cgraph.made_up_module"
    with pytest.raises(ModuleNotFoundError):   # a name Theano never had: Python's own error
        import cgraph.no_such_module_anywhere  # noqa: F401


# --- GPU modules: import, report no GPU ----------------------------------------------------

def test_gpu_modules_report_no_gpu():
    from cgraph import gpuarray
    from cgraph.gpuarray import dnn
    from cgraph.sandbox import cuda
    import cgraph.sandbox.cuda.dnn as cuda_dnn
    assert gpuarray.pygpu_activated is False and gpuarray.pygpu is None
    assert dnn.dnn_present() is False and dnn.dnn_available(None) is False
    assert "CPU only" in dnn.dnn_present.msg and "CPU only" in dnn.dnn_available.msg
    assert cuda.cuda_available is False and cuda.cuda_enabled is False
    assert cuda_dnn.dnn_available() is False and "CPU only" in cuda_dnn.dnn_available.msg
    for use in (gpuarray.use, cuda.use):
        with pytest.raises(ValueError, match="CPU only"):
            use("cuda0")


# --- gof.graph: Theano's traversal orders ---------------------------------------------------

def test_inputs_in_theanos_left_recursive_depth_first_order():
    from cgraph.gof import graph
    x, y, z, w = (T.dvector(n) for n in "xyzw")
    e = (x + y) * z + x
    assert graph.inputs([e]) == [x, y, z]
    # the last of several outputs is searched first, then each node's inputs left to right
    assert graph.inputs([x * y, w + x]) == [w, x, y]
    assert graph.inputs([x * y, z]) == [z, x, y]
    # constants and shared variables have no owner: they are inputs too
    s = cgraph.shared(np.zeros(2), name="s")
    two = T.constant(2.0)
    assert graph.inputs([s * two + x]) == [s, two, x]
    # a blocker stops the search; a blocked variable with an owner is not an input
    xy = x + y
    e = xy * z + x
    assert graph.ancestors([e], blockers=[xy]) == [e, e.owner.inputs[0], xy, z, x]
    assert graph.inputs([e], blockers=[xy]) == [z, x]


def test_variables_orphans_ops_and_io_toposort():
    from cgraph.gof import graph
    x, y = T.dvector("x"), T.dvector("y")
    xy = x * y
    e = T.exp(xy) + y
    assert graph.orphans([x], [e]) == [y]
    found = graph.variables([x, y], [e])
    assert {id(v) for v in found} == {id(v) for v in (x, y, xy, xy.owner.outputs[0], e,
                                                      e.owner.inputs[0])}
    assert graph.ops([x, y], [e]) == {xy.owner, e.owner.inputs[0].owner, e.owner}
    assert graph.ops([xy], [e]) == {e.owner.inputs[0].owner, e.owner}
    order = graph.io_toposort([x, y], [e])
    assert order == [xy.owner, e.owner.inputs[0].owner, e.owner]
    assert graph.io_toposort([xy], [e]) == [e.owner.inputs[0].owner, e.owner]
    assert graph.io_toposort([x, y], [e], orderings={}, clients={}) == order
    with pytest.raises(NotImplementedError, match="no extra orderings"):
        graph.io_toposort([x, y], [e], orderings={e.owner: [xy.owner]})


def test_is_same_graph_as_theanos_documented_table():
    from cgraph.gof.graph import is_same_graph
    x, y, z = T.dvector("x"), T.dvector("y"), T.dvector("z")
    assert is_same_graph(x + 1, x + 1)
    assert not is_same_graph(x + 1, y + 1)
    assert is_same_graph(x + 1, y + 1, givens={x: y})
    assert is_same_graph(x + 1, y + 1, givens=[(x, y)])
    # the graphs as built, not the algebra
    assert not is_same_graph(x * (y * z), (x * y) * z)
    assert not is_same_graph(x + 1, x + 2)
    assert not is_same_graph(x + 1, 1 + x)


@pytest.mark.slow   # many compiles: 4 s on 2 busy cores
def test_equal_computations_as_theano():
    from cgraph.scan_module.scan_utils import equal_computations
    x, y, z = T.dvector("x"), T.dvector("y"), T.dvector("z")
    assert equal_computations([T.exp(x) * y], [T.exp(x) * y])
    assert not equal_computations([T.exp(x) * y], [T.exp(x) * z])
    assert equal_computations([T.exp(x) * y], [T.exp(x) * z], in_xs=[y], in_ys=[z])
    # an equivalence can stand for a whole sub-graph
    ex = T.exp(x)
    assert equal_computations([ex * y], [z * y], in_xs=[ex], in_ys=[z])
    # equivalences of different types never hold
    assert not equal_computations([x * y], [x * T.fvector()], in_xs=[y], in_ys=[T.fvector()])
    # constants compare by type and value, inputs by identity
    assert equal_computations([T.constant(np.arange(3.0))], [T.constant(np.arange(3.0))])
    assert not equal_computations([T.constant(np.arange(3.0))], [T.constant(np.arange(3))])
    assert not equal_computations([x], [y]) and equal_computations([x], [x])
    assert not equal_computations([x.sum()], [x.sum(axis=0, keepdims=True)])
    # graphs deeper than Python's recursion limit
    a, b = x, x
    for _ in range(3000):
        a, b = a + 1.0, b + 1.0
    assert equal_computations([a], [b])
    assert not equal_computations([a], [b * 1.0])
    with pytest.raises(ValueError, match="2 variables in xs but 1 in ys"):
        equal_computations([x, y], [x])


# --- theano.compile and the tensor names -------------------------------------------------------

def test_compile_and_tensor_names_are_cgraphs():
    import cgraph.compile as compile_
    from cgraph.compile.function import Function
    value = np.arange(3.0)
    s = compile_.shared(value, name="s")
    assert isinstance(s, compile_.SharedVariable) and isinstance(s, T.Variable)
    assert compile_.function is cgraph.function and compile_.In is cgraph.In
    assert compile_.Function is Function and compile_.Out is cgraph.Out
    assert isinstance(T.matrix(), T.Variable) and T.Variable is cgraph.Variable
    x = T.dvector("x")
    for mode in ("py", "c"):
        f = cgraph.function([x], T.square(x) + s, mode=mode)
        np.testing.assert_array_equal(f(np.array([1.0, -2.0, 3.0])), [1.0, 5.0, 11.0])


def test_theano_sub_modules_are_attributes_after_import_cgraph():
    # Theano programs write theano.gof.Variable after a bare 'import theano'
    result = run_python("""
        import cgraph
        print(cgraph.gof.graph.inputs.__module__, cgraph.gof.Variable.__name__,
              cgraph.compile.SharedVariable.__name__, cgraph.gpuarray.pygpu_activated,
              cgraph.sandbox.__name__)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cgraph.gof.graph", "Variable", "SharedVariable", "False",
                                     "cgraph.sandbox"]
