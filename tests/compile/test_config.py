"""config: defaults, CGRAPH_FLAGS, and floatX's effect on new variables."""
import os
import subprocess
import sys

import pytest

import cgraph
import cgraph.tensor as T


def test_floatx_from_environment():
    env = dict(os.environ, CGRAPH_FLAGS="floatX=float32, mode=py")
    out = subprocess.run(
        [sys.executable, "-c", "import cgraph, cgraph.tensor as T;"
         "print(cgraph.config.floatX, cgraph.config.mode, T.matrix().dtype, (T.fvector()*0.5).dtype)"],
        env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["float32", "py", "float32", "float32"]


def test_unknown_flag_is_an_error():
    for flags, says in (("flaotX=float32", "'flaotX'; did you mean 'floatX'?"),
                        ("floatx=float32", "'floatx'; did you mean 'floatX'?"),
                        ("mode=py,zzz=1", "'zzz'; the flags are floatX, mode"),
                        ("floatX", "'floatX' is not of the form name=value")):
        env = dict(os.environ, CGRAPH_FLAGS=flags)
        proc = subprocess.run([sys.executable, "-c", "import cgraph"], env=env,
                              capture_output=True, text=True)
        assert proc.returncode != 0 and "ValueError" in proc.stderr and says in proc.stderr, \
            proc.stderr


def test_setting_flags():
    saved = cgraph.config.floatX
    try:
        cgraph.config.floatX = "float32"
        assert T.scalar().dtype == "float32" and T.constant(0.5).dtype == "float32"
        assert T.cast(T.ivector(), "floatX").dtype == "float32"
    finally:
        cgraph.config.floatX = saved
    with pytest.raises(ValueError, match="floatX"):
        cgraph.config.floatX = "float16"
    with pytest.raises(AttributeError, match="no flag"):
        cgraph.config.floatx = "float32"


def test_typed_constructors():
    assert T.dmatrix("m").type == T.TensorType("float64", (False, False))
    assert T.fvector().dtype == "float32" and T.lscalar().dtype == "int64"
    assert T.ivector().dtype == "int32" and T.bmatrix().dtype == "int8"
    assert T.wtensor3().dtype == "int16" and T.ubvector().dtype == "uint8"
    assert T.row().broadcastable == (True, False) and T.col().broadcastable == (False, True)
    assert T.tensor4().ndim == 4 and T.dtensor3().ndim == 3
    a, b = T.dscalars("a", "b")
    assert (a.name, b.name) == ("a", "b") and len(T.fmatrices(3)) == 3
    assert T.tensor("bool", (False,)).dtype == "bool"
    with pytest.raises(TypeError, match="not support dtype"):
        T.vector(dtype="complex64")
    with pytest.raises(TypeError, match="boolean"):
        bool(T.dscalar() > 0)
