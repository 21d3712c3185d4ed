"""Smoke test of the benchmark suite: every workload's check path runs for cgraph at tiny
sizes, so the benchmark code cannot rot. No timing is asserted: a slow machine never fails."""
import json
import os
import sys

import numpy as np
import pytest

# benchmarks/ is not part of the installed package: import it from the repository
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from benchmarks import run, workloads  # noqa: E402

pytestmark = pytest.mark.slow   # benchmark processes

CONFIGS = run.configurations(tiny=True)


def test_every_workload_has_a_goal_and_a_tiny_size():
    assert {c.key for c in CONFIGS} >= {"W1", "W2", "W3", "W4", "W4 no scan", "W5",
                                        "W5 trusted", "W7 forward", "W7 BPTT", "W8"}
    assert all(c.key in run.GOALS for c in CONFIGS)


def test_every_workload_but_the_call_cost_runs_in_both_float_types():
    by_key = {}
    for c in CONFIGS:
        by_key.setdefault(c.key, set()).add(c.kwargs.get("dtype"))
    for key, dtypes in by_key.items():
        assert dtypes == ({None} if key.startswith("W5") else {"float32", "float64"}), key
    only32 = run.configurations(tiny=True, dtypes=("float32",))
    assert all(c.kwargs["dtype"] == "float32" for c in only32 if not c.key.startswith("W5"))


def test_the_sweep_covers_the_sizes_the_issue_asks_for():
    sweep = run.configurations(dtypes=("float64",), sweep=True)
    assert sorted(c.kwargs["size"] for c in sweep if c.key == "W1") == [10 ** k for k in range(3, 9)]
    assert sorted(c.kwargs["batch"] for c in sweep if c.key == "W3") == [1, 20, 128, 1024]
    assert [c.kwargs["batch"] for c in run.configurations(dtypes=("float64",))
            if c.key == "W3"] == [20]


def test_ahead_of_peers_compares_with_every_peer_that_ran():
    cells = {"numpy": {"seconds": 3.0}, "cgraph": {"seconds": 1.0}, "jax": {"seconds": 2.0},
             "torch": {"failed": "x"}}
    assert run.ahead_of_peers(cells, ["numpy", "cgraph", "jax", "torch"]) is True
    cells["jax"] = {"seconds": 0.5}
    assert run.ahead_of_peers(cells, ["numpy", "cgraph", "jax", "torch"]) is False
    assert run.ahead_of_peers({"cgraph": {"seconds": 1.0}}, ["numpy", "cgraph"]) is None


def test_the_blas_header_names_the_library_cgraph_calls(capsys):
    info = run.blas_info()
    assert info["cgraph_library"] and os.path.exists(info["cgraph_library"])
    run.print_blas(dict(info, env_removed=[]))
    out = capsys.readouterr().out
    assert "BLAS used by" in out and ("cgraph" in out or "threadpoolctl" in out)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.label} {c.size}")
def test_cgraph_passes_each_check_against_numpy(config):
    cell = run.measure(config, "cgraph", min_time=0.001, repeats=1, stat_repeats=300)
    assert "failed" not in cell, cell["failed"]
    assert cell["seconds"] > 0 and cell["numpy_seconds"] > 0


def test_the_check_catches_a_wrong_result():
    good = workloads.w3_mlp_step("numpy", size=(13, 6, 3), batch=5)
    bad = workloads.classifier_step("numpy", (13, 6, 3), 5, n_batches=50, lr=0.02, l2=1e-4)
    problem = run.compare(good.check_values(), bad.check_values(), 1e-6)
    assert problem and "max abs difference" in problem
    assert "shape" in run.compare([np.zeros(3)], [np.zeros(4)], 1e-6)


def test_the_statistical_rbm_check_catches_a_wrong_step():
    tiny = dict(size=(16, 10), batch=8)
    same = run.check_statistically(workloads.w4_rbm_cd1("numpy", seed=1, **tiny),
                                   workloads.w4_rbm_cd1("numpy", seed=2, **tiny), 300)
    assert same is None
    wrong_rate = run.check_statistically(workloads.w4_rbm_cd1("numpy", seed=1, **tiny),
                                         workloads.w4_rbm_cd1("numpy", seed=2, lr=0.13, **tiny),
                                         300)
    assert wrong_rate and "z-score" in wrong_rate


def test_a_failing_peer_fills_its_cell_and_the_table_prints(capsys, monkeypatch):
    def broken(backend, **kwargs):
        if backend == "numpy":
            return workloads.w5_call_overhead("numpy")
        raise RuntimeError("cannot build this")
    monkeypatch.setattr(workloads, "w5_broken", broken, raising=False)
    config = run.Config("W5", "W5 call x+1", "1 element", "w5_broken")
    cell = run.measure(config, "jax", min_time=0.001, repeats=1)
    assert cell == {"failed": "RuntimeError: cannot build this"}
    rows = {"W5 call x+1|1 element": {"numpy": {"seconds": 1e-6}, "jax": cell,
                                      "cgraph": {"seconds": 2e-6, "ratio": 2.0}}}
    run.print_table([config], rows, ["numpy", "cgraph", "jax"], 1,
                    w6={"W6 import": 0.1, "W6 cold": 1.0, "W6 warm": 0.005})
    out = capsys.readouterr().out
    assert "failed: RuntimeError" in out and "NOT met" in out and "2.00 us" in out
    assert json.dumps(rows)      # every number is JSON-serializable


def test_peak_memory_of_a_training_loop():
    config = next(c for c in CONFIGS if c.key == "W3")
    result = run.peak_memory(config, "numpy", steps=5)
    assert result["peak_mib"] > 0 and result["steps"] == 5


def test_the_w6_report_shows_each_translation_unit(capsys):
    split = {"units": [{"unit": "runtime", "gcc_seconds": 2.0, "translation_units": None},
                       {"unit": "anonymous", "gcc_seconds": 0.4, "translation_units": {
                           "unit1.c": 0.21, "unit2.c": 0.08, "unit0.c": 0.3, "link": 0.02}}],
             "load_seconds": 0.004, "python_seconds": 0.2}
    run.print_table([], {}, ["numpy", "cgraph"], 1,
                    w6={"W6 cold": 0.9, "W6 cold split": split})
    out = capsys.readouterr().out
    assert "runtime 2.00 s, anonymous 400.00 ms (unit1.c 210.00 ms, unit2.c 80.00 ms, " \
           "unit0.c 300.00 ms, link 20.00 ms)" in out
    assert "loading 4.00 ms" in out
