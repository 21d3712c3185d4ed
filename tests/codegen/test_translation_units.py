"""A module split into translation units compiled in parallel (cgraph/codegen/units.py and
cgraph/cache/build_units.py): same values as one unit, a unit the compiler rejects gives the
cache's usual error, compiles from threads at the same time give the right functions."""
import json
import os
import threading

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cgraph
import cgraph.tensor as T
from cgraph import cache
from cgraph.cache import build_units
from cgraph.codegen import units


@pytest.fixture
def split_small_modules(monkeypatch):
    """Split modules of a few node blocks into three units of blocks (and one of kernels),
    compiled two at a time."""
    monkeypatch.setattr(units, "MIN_SPLIT_CHARS", 1000)
    monkeypatch.setattr(units, "MIN_UNIT_CHARS", 1000)
    monkeypatch.setattr(units, "MAX_UNITS", 3)
    monkeypatch.setattr(build_units, "cores", lambda: 2)


def _mlp_step(tag):
    """An MLP training step (two layers, softmax, gradients, updates) with names of its own,
    so that no other test's module or pre-key answers for it."""
    rng = np.random.default_rng(7)
    x, y = T.dmatrix(f"x_{tag}"), T.lvector(f"y_{tag}")
    w1 = cgraph.shared(rng.normal(0, 0.3, (6, 5)), name=f"w1_{tag}")
    b1 = cgraph.shared(np.zeros(5), name=f"b1_{tag}")
    w2 = cgraph.shared(rng.normal(0, 0.3, (5, 3)), name=f"w2_{tag}")
    h = T.tanh(T.dot(x, w1) + b1)
    p = T.nnet.softmax(T.dot(h, w2))
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y]) + 1e-3 * (w1 ** 2).sum()
    grads = T.grad(cost, [w1, b1, w2])
    updates = [(v, v - 0.1 * g) for v, g in zip((w1, b1, w2), grads)]
    return [x, y], [cost, p.max(axis=1)], updates, (w1, b1, w2)


def _build_record(f):
    with open(os.path.join(os.path.dirname(f.module_path), "build.json")) as fh:
        return json.load(fh)


def test_a_split_module_computes_what_one_unit_and_numpy_compute(split_small_modules):
    inputs, outputs, updates, params = _mlp_step("split3")
    start = [p.get_value() for p in params]
    f = cgraph.function(inputs, outputs, updates=updates, name="split3")
    assert f.c_source.count(units.UNIT_MARKER) == 4
    assert f.c_source.count(": loops */") == 1 and "cg_part_2(" in f.c_source
    build = _build_record(f)
    if build["unit_seconds"] is not None:     # built by this run (not an older cache's)
        assert set(build["unit_seconds"]) == {"unit0.c", "unit1.c", "unit2.c", "unit3.c",
                                              "link"}
        assert build["compiler_output"].strip() == ""          # -Wall clean, every unit
        commands = build["material"]["unit_commands"]
        assert len(commands) == 4 and "-O3" in commands[3]     # the kernels' unit
    entry = os.path.dirname(f.module_path)
    assert not any(name.startswith("unit") for name in os.listdir(entry))   # intermediates
    got = []
    xv = np.random.default_rng(1).normal(size=(4, 6))
    yv = np.array([0, 2, 1, 2])
    for _ in range(3):
        got.append([np.array(v) for v in f(xv, yv)] + [p.get_value() for p in params])
    for p, v in zip(params, start):
        p.set_value(v)
    ref = cgraph.function(inputs, outputs, updates=updates, mode="py")
    for step in got:
        expected = [np.array(v) for v in ref(xv, yv)] + [p.get_value() for p in params]
        for a, b in zip(step, expected):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_a_split_module_reports_a_failing_node_as_one_unit_does(split_small_modules):
    # the node that fails (dot of mismatched shapes) may sit in any unit: its error still
    # names the variables, and the call leaves nothing behind
    x, y = T.dmatrix("x_fail"), T.dmatrix("y_fail")
    out = T.tanh(T.dot(T.exp(x) + 1, y)) * 2 + T.sum(x ** 2)
    f = cgraph.function([x, y], [out, T.log1p(T.exp(out)).sum()], name="splitfail")
    assert f.c_source.count(units.UNIT_MARKER) >= 2
    with pytest.raises(ValueError, match="x_fail|y_fail"):
        f(np.ones((2, 3)), np.ones((4, 2)))
    ref = cgraph.function([x, y], [out, T.log1p(T.exp(out)).sum()], mode="py")
    a, b = np.full((2, 3), 0.1), np.full((3, 2), -0.2)
    for got, want in zip(f(a, b), ref(a, b)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_unit_the_compiler_rejects_gives_the_usual_compile_error(split_small_modules,
                                                                   monkeypatch):
    real = units.split_module

    def broken(*args, **kwargs):      # unit 1 of the module does not compile
        source = real(*args, **kwargs)
        marker = f"{units.UNIT_MARKER}1 of "
        return source.replace(marker, "#error unit one is broken\n" + marker)

    monkeypatch.setattr(units, "split_module", broken)
    inputs, outputs, updates, _ = _mlp_step("broken")
    with pytest.raises(cache.CompileError) as info:
        cgraph.function(inputs, outputs, updates=updates, name="brokenunit")
    message = str(info.value)
    assert "'brokenunit'" in message and "unit one is broken" in message
    kept = info.value.folder
    assert {"module.c", "build.json"} <= set(os.listdir(kept))
    with open(os.path.join(kept, "build.json")) as fh:
        build = json.load(fh)
    assert build["returncode"] != 0 and "unit0.c" in build["unit_seconds"]
    assert "link" not in build["unit_seconds"]        # nothing linked after a failed unit


def test_functions_compiled_from_two_threads_are_right(split_small_modules):
    results, errors = {}, []

    def compile_and_run(tag, scale):
        try:
            x = T.dvector(f"x_thread_{tag}")
            out = T.tanh(x * scale) + T.exp(-x ** 2) * T.sum(T.sin(x)) + T.cumsum(x)
            f = cgraph.function([x], out, name=f"thread_{tag}")
            v = np.linspace(-1, 1, 7)
            results[tag] = (f(v), cgraph.function([x], out, mode="py")(v))
        except Exception as exc:     # reported below, with the thread's name
            errors.append((tag, exc))

    threads = [threading.Thread(target=compile_and_run, args=(tag, s))
               for tag, s in (("a", 1.5), ("b", -0.5))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for got, want in results.values():
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert not np.allclose(results["a"][0], results["b"][0])


def test_small_modules_and_shared_state_stay_one_unit(monkeypatch):
    x = T.dvector("x_one_unit")
    assert units.UNIT_MARKER not in cgraph.function([x], T.exp(x) * 2).c_source
    monkeypatch.setattr(units, "MIN_SPLIT_CHARS", 100)
    monkeypatch.setattr(units, "MIN_UNIT_CHARS", 100)
    from cgraph.ifelse import ifelse
    out = ifelse(T.sum(x) > 0, T.exp(x) * 2, T.log1p(x ** 2) - 1)
    f = cgraph.function([x], out)
    assert units.UNIT_MARKER not in f.c_source        # ifelse flags: locals of cg_run
    ref = cgraph.function([x], out, mode="py")
    for v in (np.array([0.5, 2.0]), np.array([0.5, -2.0])):
        np.testing.assert_allclose(f(v), ref(v), rtol=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 500), min_size=1, max_size=40), st.integers(1, 6),
       st.integers(0, 2000))
def test_groups_are_consecutive_nonempty_and_cover_every_block(sizes, n, head):
    blocks = [{"code": "x" * s, "header": str(k)} for k, s in enumerate(sizes)]
    groups = units.group_blocks(blocks, n, head)
    assert [b for g in groups for b in g] == blocks
    assert all(groups) and len(groups) == min(n, len(blocks))


def test_identifiers_leave_out_strings_and_comments():
    code = 'y.data = x.data; /* w here */ snprintf(err, 9, "z %s", "q\\"r");'
    assert units.identifiers(code) == {"y", "data", "x", "snprintf", "err"}


def test_unit_sources_cut_at_the_markers():
    assert build_units.unit_sources("int a;") == []
    text = f"{units.UNIT_MARKER}0 of 2 */\nint a;\n{units.UNIT_MARKER}1 of 2 */\nint b;\n"
    assert build_units.unit_sources(text) == [f"{units.UNIT_MARKER}0 of 2 */\nint a;",
                                              f"{units.UNIT_MARKER}1 of 2 */\nint b;\n"]


def test_units_compile_one_at_a_time_on_one_core(split_small_modules, monkeypatch):
    monkeypatch.setattr(build_units, "cores", lambda: 1)
    x = T.dmatrix("x_one_core")
    out = T.tanh(T.dot(x, x.T)) + T.exp(-x.sum(axis=1)).dimshuffle(0, "x") * T.sin(x).sum()
    f = cgraph.function([x], [out, T.nnet.softmax(out)], name="onecore")
    assert f.c_source.count(units.UNIT_MARKER) >= 3
    ref = cgraph.function([x], [out, T.nnet.softmax(out)], mode="py")
    v = np.linspace(-1, 1, 12).reshape(4, 3)
    for got, want in zip(f(v), ref(v)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_support_code_with_module_state_keeps_a_module_whole():
    from types import SimpleNamespace
    body = SimpleNamespace(blocks=[{"code": "x = y;" * 10_000, "header": "a"}] * 3)
    assert units.block_groups(body, ["static int cg_f(int a)\n{\n    return a;\n}"]) >= 1
    for state in ("static int64_t cg_counter[4];",           # one copy per unit: wrong
                  'volatile const int *cg_interrupt_counter;'):  # defined twice: no link
        assert units.block_groups(body, [state]) == 0
    assert units.block_groups(body, [], profile=True) == 0
    assert units.block_groups(body, [], uses_lapack=True) == 0


def test_keys_name_the_runtime_header_folder_by_a_placeholder():
    """Modules linking the runtime compile every unit with -I to the folder of its header,
    written in the key material as the RUNTIME_INCLUDE placeholder (filled in when the
    command runs): the key is the same for every install location and cache."""
    import types

    from cgraph.cache.keys import key_material
    from cgraph.template_files import templates_dir
    from cgraph.cache.compiler import RUNTIME_INCLUDE
    runtime = types.SimpleNamespace(key="0" * 64)
    one = "int one(void) { return 1; }\n"
    split = (f"{build_units.UNIT_MARKER}0 */\nint zero(void) {{ return 0; }}\n"
             f"{build_units.UNIT_MARKER}1 */\n{one}")
    for source in (one, split):
        material = key_material(source, runtime=runtime)
        commands = material.get("unit_commands", [material["command"]])
        assert all(c.count(RUNTIME_INCLUDE) == 1 for c in commands), commands
        assert templates_dir() not in json.dumps(material)
        plain = key_material(source, runtime=None)
        assert RUNTIME_INCLUDE not in json.dumps(plain)


def test_the_costliest_units_start_first(tmp_path):
    """With more units than cores (the runtime library's four on two), the units start
    costliest first: the runtime's by their role's measured cost, a module's by size."""
    roles = build_units.RUNTIME_UNITS
    text = "".join(f"{units.UNIT_MARKER}{k} of {len(roles)}: {role} */\nint u{k};\n"
                   for k, role in enumerate(roles))
    (tmp_path / "module.c").write_text(text)
    order = build_units.start_order(build_units.unit_sources(text))
    costs = [build_units.RUNTIME_COST[roles[k]] for k in order]
    assert costs == sorted(costs, reverse=True) and sorted(order) == list(range(len(roles)))
    commands = [["sh", "-c", f"echo {k} >> started"] for k in range(len(roles))]
    build = build_units.UnitsBuild(commands, ["true"], str(tmp_path), None, parallel=1)
    build.communicate()
    assert build.returncode == 0
    assert (tmp_path / "started").read_text().split() == [str(k) for k in order]
    blocks = [f"{units.UNIT_MARKER}{k} of 3: blocks */\n" + "x" * size
              for k, size in enumerate((10, 300, 20))]
    assert build_units.start_order(blocks) == [1, 2, 0]


def test_large_kernels_keep_their_unit_beside_small_blocks():
    """Kernels of MIN_LOOPS_UNIT_CHARS or more go to their -O3 unit even when the blocks
    are small (blocks that shrink must not cost the kernels their optimisation); small
    kernels beside small blocks leave the module whole."""
    from types import SimpleNamespace
    body = SimpleNamespace(blocks=[{"code": "x = y;", "header": "a"}] * 2)
    head = "static CG_WIDE_LOOP int cg_loop_k(int64_t n, char *const *cg_p, const int64_t *cg_s)\n"
    big = head + "{\n" + "    x = y;\n" * (units.MIN_LOOPS_UNIT_CHARS // 10) + "}"
    small = head + "{\n    return 0;\n}"
    assert units.block_groups(body, [big]) == 1
    assert units.block_groups(body, [small]) == 0
