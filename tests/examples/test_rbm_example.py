"""The seed's RBM example runs end to end: the cost improves, pictures are written, a second
run in a new process compiles nothing."""
import importlib.util
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow   # the whole RBM example

EXAMPLES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples")


def load_example(name):
    sys.path.insert(0, EXAMPLES)
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rbm_cd_and_pcd_train_and_draw(tmp_path):
    pytest.importorskip("matplotlib")      # the figures (the 'test' extra installs it)
    rbm = load_example("rbm")
    costs = rbm.main(["--epochs", "4", "--hidden", "20", "--samples", "2", "--output", str(tmp_path)])
    assert costs[-1] > costs[0]            # the (negative) reconstruction cost rises toward 0
    for name in ("rbm_filters.png", "rbm_samples.png", "rbm_curve.png"):
        with open(tmp_path / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    pcd = rbm.main(["--epochs", "2", "--hidden", "20", "--samples", "1", "--persistent",
                    "--k", "3", "--output", str(tmp_path)])
    assert all(c == c for c in pcd)         # finite pseudo-likelihood values


def test_second_run_compiles_nothing(tmp_path):
    command = [sys.executable, os.path.join(EXAMPLES, "rbm.py"), "--epochs", "1", "--hidden",
               "20", "--samples", "1", "--output", str(tmp_path)]
    root = os.path.dirname(EXAMPLES)   # cgraph importable even when not installed
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    first = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert second.returncode == 0, second.stderr
    assert "this run loaded 3 from the cache (train_rbm, valid_cost, sample_fn)" in second.stdout
    assert "this run compiled" not in second.stdout
