"""What the examples say: compile messages from each function's module_origin, summary
lines every few epochs, figures written."""
import os
import subprocess
import sys

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from test_examples import EXAMPLES, load_example


@pytest.mark.slow   # a program in another process: 3 s on 2 busy cores
def test_module_origin_says_built_then_memory_then_disk():
    x = T.dvector("x")
    # a constant no other run has used, so that this graph's module is not in the cache
    c = float(np.frombuffer(os.urandom(8), dtype=np.uint64)[0] % 10 ** 9) + 0.5
    f = cgraph.function([x], T.exp(x) * c, name="origin_probe")
    assert f.module_origin == "built" and f.compiled
    g = cgraph.function([x], T.exp(x) * c, name="origin_probe")
    assert g.module_origin == "memory" and not g.compiled
    np.testing.assert_allclose(g(np.ones(2)), np.e * c)
    program = (f"import cgraph, cgraph.tensor as T; x = T.dvector('x'); "
               f"f = cgraph.function([x], T.exp(x) * {c!r}, name='origin_probe'); "
               f"print(f.module_origin, f.compiled)")
    root = os.path.dirname(EXAMPLES)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["disk", "False"]
    assert cgraph.function([x], T.exp(x), mode="py").module_origin is None


def test_compile_summary_counts_what_happened():
    reporting = load_example("reporting")

    class Fake:
        def __init__(self, name, compiled):
            self.name, self.compiled = name, compiled

    assert reporting.compile_summary([Fake("a", True), Fake("b", False), Fake("c", False)],
                                     1.234) == \
        "compiled 1 (a) / loaded 2 from the cache (b, c) in 1.23 s"
    assert reporting.compile_summary([Fake("a", False)], 0.01) == \
        "loaded 1 from the cache (a) in 0.01 s"


def test_summary_lines_every_few_epochs_and_the_last():
    training = load_example("training")
    lines = []
    errors = iter(np.linspace(0.5, 0.1, 25))
    result = training.train(lambda i: 1.0, lambda: next(errors), lambda: 0.3,
                            n_train_batches=2, n_epochs=25, log=lines.append)
    assert result.epochs == 25
    epochs = [int(line.split()[1]) for line in lines]
    assert epochs == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 25]


def test_progress_is_silent_off_a_terminal():
    """pytest captures stderr, as a log file would: no bar, no carriage return."""
    reporting = load_example("reporting")
    bar = reporting.progress(range(3), desc="x")
    assert list(bar) == [0, 1, 2]
    assert not hasattr(bar, "n")      # not a tqdm object


@pytest.mark.slow   # many compiles: 4 s on 2 busy cores
def test_learning_curve_and_grid_figures(tmp_path):
    pytest.importorskip("matplotlib")
    plotting = load_example("plotting")
    grid = plotting.tile_images(np.arange(2 * 4, dtype=float).reshape(2, 4), (2, 2), columns=2)
    assert grid.shape == (2, 5) and np.isnan(grid[:, 2]).all()
    np.testing.assert_allclose(grid[:, :2], [[0, 1 / 3], [2 / 3, 1]])
    path = plotting.learning_curve(str(tmp_path / "curve.png"), "t", [3.0, 2.0, 1.0], "cost",
                                   [0.5, 0.4, 0.45], "error", best_epoch=2)
    from matplotlib.image import imread
    image = imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 600      # two panels side by side
    path = plotting.image_grid_figure(str(tmp_path / "grid.png"), np.random.rand(6, 16),
                                      (4, 4), columns=3, title="grid",
                                      row_labels=["first", "second"], scale_each=False)
    assert imread(path).ndim == 3
