"""What makes function() fast: the pre-key of the user's graph (a warm start neither rewrites
nor renders), BLAS without importing scipy, gcc's effort by module size, lazy imports."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph import config
from cgraph.codegen import prekey as P
from cgraph.compile.sharedvalue import SharedVariable
from cgraph.graph.basic import graph_inputs

pytestmark = pytest.mark.slow   # cold compiles in fresh caches

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_program(program, env_extra):
    env = dict(os.environ, **env_extra)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          env=env, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# Two outputs, an update, a given, a large constant and a dot (BLAS); then a call with a
# bad shape, whose message (node context and user line included) must not depend on
# whether the function was found warm.
PROGRAM = textwrap.dedent("""\
    import json, sys
    import numpy as np
    GUARD
    import cgraph, cgraph.tensor as T
    from cgraph import cache
    x = T.dmatrix("x")
    i = T.lscalar("i")
    data = cgraph.shared(np.arange(12.0).reshape(6, 2), name="data")
    w = cgraph.shared(np.ones((2, 3)) * 0.5, name="w")
    big = np.linspace(0.0, 1.0, 600).reshape(200, 3)
    h = T.tanh(T.dot(x, w)) + big[:2]
    f = cgraph.function([i], [h.sum(), T.exp(h)], updates=[(w, w * 0.9)],
                        givens={x: data[i * 2:(i + 1) * 2]}, name="warm_test")
    values = [np.asarray(v).tolist() for v in f(1)]
    g = cgraph.function([x], T.dot(x, w) * 2.0, name="warm_error")
    try:
        g(np.ones((3, 5)))
        message = None
    except ValueError as exc:
        message = str(exc)
    print(json.dumps({"values": values, "w": w.get_value().tolist(), "stats": cache.stats,
                      "message": message, "keys": [f.cache_key, g.cache_key]}))
""")

# one line, so that both programs build their nodes on the same lines (traces are in the key)
NO_REWRITES_NO_RENDERING = (
    "import cgraph.rewrite as R, cgraph.codegen.lower as L; R.optimize = L.lower = "
    "lambda *a, **k: (_ for _ in ()).throw(AssertionError('a warm start rewrote or rendered'))")


def test_second_process_neither_rewrites_nor_renders_and_behaves_the_same(tmp_path):
    env = {"CGRAPH_CACHE_DIR": str(tmp_path / "cache")}
    cold = run_program(PROGRAM.replace("GUARD", "pass"), env)
    assert cold["stats"]["builds"] == 2
    assert len(os.listdir(tmp_path / "cache" / "prekeys")) >= 1
    warm = run_program(PROGRAM.replace("GUARD", NO_REWRITES_NO_RENDERING), env)
    assert warm["stats"]["builds"] == 0 and warm["stats"]["disk_hits"] == 2
    assert warm["values"] == cold["values"] and warm["w"] == cold["w"]
    assert warm["keys"] == cold["keys"]
    assert cold["message"] and warm["message"] == cold["message"]
    assert "Apply node that caused the error" in warm["message"]
    assert "built at" in warm["message"] and "<string>" in warm["message"]
    # reference values, computed with numpy
    x = np.arange(12.0).reshape(6, 2)[2:4]
    h = np.tanh(x @ (np.ones((2, 3)) * 0.5)) + np.linspace(0.0, 1.0, 600).reshape(200, 3)[:2]
    assert np.allclose(cold["values"][0], h.sum()) and np.allclose(cold["values"][1], np.exp(h))


def _key(build, floatX=None, name="f", options=(False, False)):
    """The graph pre-key of what ``build()`` returns (inputs, outputs), as function() sees it."""
    saved = config.floatX
    try:
        if floatX:
            config.floatX = floatX
        inputs, outputs = build()
        shared = [v for v in graph_inputs(outputs, stop_at=inputs)
                  if isinstance(v, SharedVariable)]
        return P.graph_prekey(inputs + shared, outputs, name, options)
    finally:
        config.floatX = saved


def test_graph_prekey_covers_everything_that_changes_the_function():
    def graph(const=2.0, dtype="float64", axis=0, name="x", big_value=1.0):
        x = T.matrix(name, dtype=dtype)
        big = np.full((30, 30), big_value)          # a large constant: its value counts too
        return [x], [(x * const).sum(axis=axis) + T.constant(big).sum(), T.exp(x) + 1.5]

    base = _key(graph)
    assert base is not None and _key(graph) == base     # equal graphs, equal keys
    changed = [_key(lambda: graph(const=3.0)), _key(lambda: graph(dtype="float32")),
               _key(lambda: graph(axis=1)), _key(lambda: graph(name="y")),
               _key(lambda: graph(big_value=2.0)), _key(graph, floatX="float32"),
               _key(graph, name="g"), _key(graph, options=(False, True)),
               _key(graph, options=(True, False))]
    assert None not in changed
    assert len({base, *changed}) == len(changed) + 1


def test_graph_prekey_includes_where_nodes_were_built():
    # error messages name the user's line, so a graph built elsewhere is another record
    keys = []
    for _ in range(2):
        x = T.dvector("x")
        keys.append(_key(lambda: ([x], [T.exp(x)])))
    x = T.dvector("x")
    y = T.exp(x)
    keys.append(_key(lambda: ([x], [y])))
    assert keys[0] == keys[1] != keys[2]


def test_graph_prekey_refuses_an_op_with_state_it_cannot_describe():
    x = T.dvector("x")
    y = T.exp(x)
    y.owner.op = type(y.owner.op)(y.owner.op.scalar_op)
    y.owner.op.callback = lambda: None               # state outside __props__, not canonical
    assert P.graph_prekey([x], [y], "f", ()) is None
    # the function still compiles (by the full path) and computes
    f = cgraph.function([x], y)
    assert np.allclose(f(np.array([0.0, 1.0])), np.exp([0.0, 1.0]))


def test_a_damaged_or_foreign_record_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("CGRAPH_CACHE_DIR", str(tmp_path / "cache"))
    x = T.dvector("record_x")
    f = cgraph.function([x], T.exp(x) * 3.0)
    key = _key(lambda: ([x], [T.exp(x) * 3.0]))
    records = [os.path.join(d, n) for d, _, names in os.walk(tmp_path / "cache" / "prekeys")
               for n in names if n.endswith(".graph")]
    assert len(records) == 1
    path = records[0]
    assert P.load_graph_record(os.path.basename(path)[:-6], [x], f.graph_outputs) is not None
    with open(path, "rb") as fh:
        data = fh.read()
    from cgraph import cache
    cache.forget_checks()
    os.chmod(path, 0o666)                            # writable by others: never unpickled
    with pytest.warns(RuntimeWarning, match="writable by others"):
        assert P.load_graph_record(os.path.basename(path)[:-6], [x], f.graph_outputs) is None
    assert not os.path.exists(path)                  # set aside in quarantine/
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as fh:
        fh.write(data[:10])                          # damaged: a miss and a warning
    cache.forget_checks()
    with pytest.warns(RuntimeWarning, match="not a sealed cgraph record"):
        assert P.load_graph_record(os.path.basename(path)[:-6], [x], f.graph_outputs) is None
    assert key is not None
    g = cgraph.function([x], T.exp(x) * 3.0)        # another line: another record; still works
    assert np.allclose(g(np.array([1.0])), 3 * np.e)


BLAS_PROGRAM = textwrap.dedent("""\
    import json, sys
    import numpy as np
    import cgraph, cgraph.tensor as T
    from cgraph.blas_pointers import blas_pointers
    out = {"scipy_imported": None}
    for dtype in ("float64", "float32"):
        a = T.matrix("a", dtype=dtype); b = T.matrix("b", dtype=dtype); v = T.vector("v", dtype=dtype)
        f = cgraph.function([a, b, v], [T.dot(a, b), T.dot(a, v), T.dot(v, v)])
        rng = np.random.default_rng(0)
        A = rng.standard_normal((5, 4)).astype(dtype); B = rng.standard_normal((4, 3)).astype(dtype)
        V = rng.standard_normal(4).astype(dtype)
        got = f(A, B, V)
        out[dtype] = [bool(np.allclose(g, e, rtol=1e-4)) for g, e in zip(got, [A @ B, A @ V, V @ V])]
    out["scipy_imported"] = "scipy" in sys.modules
    print(json.dumps(out))
""")


@pytest.mark.parametrize("source", ["numpy", "cython_blas"])
def test_blas_from_either_source_computes_dot_products(tmp_path, source):
    env = {"CGRAPH_CACHE_DIR": str(tmp_path / "cache")}
    if source == "cython_blas":     # scipy's BLAS (not numpy's), through cython_blas
        env["CGRAPH_BLAS"] = "scipy"
        env["CGRAPH_BLAS_SOURCE"] = "cython_blas"
    out = run_program(BLAS_PROGRAM, env)
    assert out["float64"] == [True] * 3 and out["float32"] == [True] * 3
    assert out["scipy_imported"] == (source == "cython_blas")


def test_gcc_effort_follows_module_size():
    from cgraph.cache import compiler
    tc = {"cc": "gcc", "vector_math": False, "target_flags": [], "python_include": "/inc",
          "version": "gcc (Debian 12.2.0-14) 12.2.0 (12.2.0)"}
    small = compiler.compile_command(tc, "m.c", "m.so", 1000)
    large = compiler.compile_command(tc, "m.c", "m.so", compiler.FULL_OPTIMIZATION_BELOW)
    assert "-O3" in small and "-O1" not in small
    assert "-O1" in large and "-ftree-vectorize" in large and "-O3" not in large
    # gcc's vzeroupper pass runs only with -fexpensive-optimizations (-O2's): without it an
    # -O1 module leaves the AVX state dirty and each later SSE libm call stalls
    assert "-fexpensive-optimizations" in large
    assert "-Wall" in small and "-Wall" in large
    clang = dict(tc, version="Debian clang version 14.0.6 (14.0.6)")
    assert "-O3" in compiler.compile_command(clang, "m.c", "m.so", 10**6)   # gcc's flags only


def test_a_large_module_compiles_without_warnings_at_its_level():
    # a module past the size limit: built at -O1 + vectoriser, warning-free, right values
    # (test_dot's every-rank modules are the regression test for -O1's uninitialised-value
    # warning that -O2's early-inlining budget removes)
    x = T.dmatrix("x")
    v = T.lvector("v_large")
    w = cgraph.shared(np.ones((3, 3)) * 0.1, name="w_large")
    h = T.tanh(T.dot(x, w)) * (x ** 2).sum(axis=1, keepdims=True)
    cost = T.nnet.softmax(h)[T.arange(x.shape[0]), 0].mean() + (w ** 2).sum() + T.dot(v, v)
    f = cgraph.function([x, v], cost, updates=[(w, w - 0.1 * T.grad(cost, w))])
    assert len(f.c_source) >= cgraph.cache.compiler.FULL_OPTIMIZATION_BELOW
    with open(os.path.join(os.path.dirname(f.module_path), "build.json")) as fh:
        build = json.load(fh)
    command = build["material"].get("unit_commands", [build["command"]])[0]   # unit 0's
    assert "-O1" in command and build["compiler_output"].strip() == ""
    fp = cgraph.function([x, v], cost, mode="py")   # no update: evaluated before f's
    value, vector = np.arange(6.0).reshape(2, 3) / 10, np.array([1, 2])
    expected = fp(value, vector)
    assert np.allclose(f(value, vector), expected)


def test_a_large_module_inlines_softplus_and_clears_the_avx_state():
    """In an -O1 module (large), cg_softplusf is inlined (a call would keep its loop from
    vectorising: W4's monitoring cost took 450 us instead of 100) and, on an AVX target, gcc
    puts vzeroupper before calls (W2's log_softmax spent 190 us instead of 12 in SSE/AVX
    transitions inside libm's log)."""
    import shutil
    # an RBM CD-1 step in float32 as benchmarks W4 writes it (no scan): free energies and
    # the monitoring cost become loops over several softplus
    from cgraph.tensor.shared_randomstreams import RandomStreams
    rng = np.random.default_rng(0)
    x = T.matrix("x_sp", dtype="float32")
    W = cgraph.shared(rng.uniform(-0.5, 0.5, (6, 4)).astype("float32"), name="W_sp")
    hb = cgraph.shared(np.zeros(4, dtype="float32"), name="hb_sp")
    vb = cgraph.shared(np.zeros(6, dtype="float32"), name="vb_sp")
    srng = RandomStreams(3)

    def free_energy(v):
        return -T.sum(T.log(1 + T.exp(T.dot(v, W) + hb)), axis=1) - T.dot(v, vb)
    h0 = srng.binomial(size=(x.shape[0], 4), n=1, p=T.nnet.sigmoid(T.dot(x, W) + hb),
                       dtype="float32")
    pre_v = T.dot(h0, W.T) + vb
    v1 = srng.binomial(size=x.shape, n=1, p=T.nnet.sigmoid(pre_v), dtype="float32")
    cost = T.mean(free_energy(x)) - T.mean(free_energy(v1))
    grads = T.grad(cost, [W, hb, vb], consider_constant=[v1])
    monitor = T.mean(T.sum(x * T.log(T.nnet.sigmoid(pre_v))
                           + (1 - x) * T.log(1 - T.nnet.sigmoid(pre_v)), axis=1))
    f = cgraph.function([x], monitor, updates=[(p, p - np.float32(0.1) * g)
                                               for p, g in zip([W, hb, vb], grads)])
    if len(f.c_source) < cgraph.cache.compiler.FULL_OPTIMIZATION_BELOW:
        pytest.skip("the step module is below the size of -O1 builds")
    with open(os.path.join(os.path.dirname(f.module_path), "build.json")) as fh:
        build = json.load(fh)
    command = build["material"].get("unit_commands", [build["command"]])[0]   # unit 0's
    assert "-O1" in command
    X = rng.random((5, 6)).astype("float32")
    # the reference first, drawing what f then draws: neither its W nor its streams advance
    expected = cgraph.function([x], monitor, mode="py", no_default_updates=True)(X)
    np.testing.assert_allclose(f(X), expected, rtol=1e-5)
    objdump = shutil.which("objdump")
    if objdump is None or "gcc" not in os.path.basename(command[0]):
        pytest.skip("needs objdump and gcc")
    code = subprocess.run([objdump, "-d", f.module_path], capture_output=True, text=True).stdout
    for helper in ("cg_softplusf", "cg_log1p_unitf", "cg_expf_nonpos", "cg_neg_absf"):
        assert f"<{helper}>:" not in code
    if "-mavx" in command:
        assert "vzeroupper" in code


def test_import_cgraph_leaves_heavy_modules_for_later():
    program = ("import sys, json, cgraph\n"
               "before = [m for m in ('jinja2', 'cffi', 'scipy', 'cgraph.scan_module', "
               "'cgraph.rewrite', 'cgraph.codegen.lower', 'cgraph.printing', 'subprocess') "
               "if m in sys.modules]\n"
               "from cgraph import scan, debugprint\n"
               "ok = [callable(scan), callable(debugprint), callable(cgraph.pp), "
               "hasattr(cgraph.profiling, 'ProfileStats'), 'scan' in dir(cgraph)]\n"
               "print(json.dumps({'before': before, 'ok': ok}))\n")
    out = run_program(program, {})
    assert out["before"] == [] and all(out["ok"])
