"""The tutorial examples run and learn: each example's main() trains a few epochs on the
digits data shipped in examples/data, and its training step agrees with the same step written
by hand in numpy (examples/numpy_reference.py).

The runs use the examples' default settings, so the functions the step checks compile are the
ones main() already put in the cache.
"""
import numpy as np
import pytest

from util import EXAMPLES, load_example  # noqa: F401 - the other example tests import them here

pytestmark = pytest.mark.slow   # whole example programs


@pytest.fixture(scope="module")
def digits():
    return load_example("digits").load_digits()


def assert_learns(result, epochs, max_validation_error):
    assert result.epochs == epochs
    assert all(later < earlier for earlier, later in zip(result.costs, result.costs[1:])), \
        f"the training cost should fall every epoch: {result.costs}"
    assert result.validation_errors[-1] < result.validation_errors[0]
    assert result.best_validation_error < max_validation_error, result.validation_errors
    assert result.test_error < max_validation_error + 0.05
    assert result.best_epoch == 1 + int(np.argmin(result.validation_errors))


def test_logistic_regression_learns(capsys):
    result = load_example("logistic_regression").main(["--epochs", "5"])
    assert_learns(result, epochs=5, max_validation_error=0.10)
    out = capsys.readouterr().out
    assert "epoch    5  cost" in out and "accuracy" in out


def test_mlp_learns(capsys):
    result = load_example("mlp").main(["--epochs", "5"])
    assert_learns(result, epochs=5, max_validation_error=0.20)
    assert "validation error" in capsys.readouterr().out


@pytest.mark.parametrize("border_mode, epochs, max_error", [("half", 3, 0.15),
                                                            ("valid", 4, 0.20)])
def test_lenet_learns(border_mode, epochs, max_error, capsys):
    result = load_example("lenet").main(["--epochs", str(epochs), "--border-mode", border_mode])
    assert_learns(result, epochs=epochs, max_validation_error=max_error)
    assert "us per minibatch of 20" in capsys.readouterr().out


def test_early_stopping_ends_when_patience_runs_out():
    training = load_example("training")
    errors = iter([0.5, 0.4, 0.4, 0.4, 0.4, 0.4])
    result = training.train(lambda i: 1.0, lambda: next(errors), lambda: 0.3,
                            n_train_batches=10, n_epochs=6, patience=15, log=None)
    # the improvement at epoch 2 (iteration 20) extends the patience to 40 minibatches
    assert result.epochs == 4 and result.best_epoch == 2
    assert result.best_validation_error == 0.4 and result.test_error == 0.3


def take_steps(train_model, params, reference_step, digits, steps=3):
    """Run cgraph's step and the numpy step side by side; they must agree each time."""
    (train_x, train_y), _, _ = digits
    values = [p.get_value().copy() for p in params]
    for i in range(steps):
        rows = slice(20 * i, 20 * (i + 1))
        expected_cost = reference_step(values, train_x[rows], train_y[rows])
        np.testing.assert_allclose(train_model(i), expected_cost, rtol=1e-12)
        for param, value in zip(params, values):
            np.testing.assert_allclose(param.get_value(), value, rtol=1e-10, atol=1e-14,
                                       err_msg=param.name)


@pytest.mark.parametrize("L1_reg", [0.0, 0.001])    # the tutorial's, and the L1 penalty on
def test_mlp_step_matches_numpy(L1_reg, digits):
    mlp, ref, digit_data = load_example("mlp"), load_example("numpy_reference"), \
        load_example("digits")
    model, train_model, _ = mlp.build(digit_data.shared_dataset(digits[0], "train"), 20,
                                      learning_rate=0.01, L1_reg=L1_reg, L2_reg=0.0001,
                                      n_hidden=500)
    initial = [p.get_value().copy() for p in model.params]
    take_steps(train_model, model.params,
               lambda params, x, y: ref.mlp_step(params, x, y, 0.01, L1_reg, 0.0001), digits)
    # every parameter moved (the output weights start at zero, so the layers below them
    # move from the second step on)
    assert all(not np.array_equal(p.get_value(), v) for p, v in zip(model.params, initial))


@pytest.mark.parametrize("border_mode", ["half", "valid"])
def test_lenet_step_matches_numpy(border_mode, digits):
    lenet, ref, digit_data = load_example("lenet"), load_example("numpy_reference"), \
        load_example("digits")
    model, train_model, _ = lenet.build(digit_data.shared_dataset(digits[0], "train"), 20,
                                        learning_rate=0.1, nkerns=(20, 50), n_hidden=500,
                                        border_mode=border_mode)
    initial = [p.get_value().copy() for p in model.params]
    take_steps(train_model, model.params,
               lambda params, x, y: ref.lenet_step(params, x, y, 0.1, border_mode), digits)
    assert all(not np.array_equal(p.get_value(), v) for p, v in zip(model.params, initial))


def test_step_timings_backends_agree(digits):
    """The timing script's backends (numpy, cgraph and whichever peers are installed) take
    the same first step; nothing is timed here."""
    step_timings = load_example("step_timings")
    for make_steps in (step_timings.mlp_steps, step_timings.lenet_steps):
        steps = make_steps(digits[0])
        assert {"cgraph", "numpy"} <= set(steps)
        step_timings.check_first_step(steps)
