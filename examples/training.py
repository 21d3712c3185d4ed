"""Minibatch SGD with the Theano tutorial's early stopping, shared by the examples.

Training runs epoch after epoch over the minibatches; after each epoch the model is scored on
the validation set. When the validation error improves by a significant amount (below
``improvement_threshold`` times the best so far), the patience (the number of minibatches we
are willing to train without such an improvement) grows to ``patience_increase`` times the
current iteration; training stops when the patience runs out (checked at the end of each
epoch) or after ``n_epochs``. The test error reported is the one of the model that had the
best validation error, measured at that moment (as the tutorial does), so the test set never
chooses the model.
"""
import os
import time
from dataclasses import dataclass, field

import numpy as np

from reporting import progress, say, summary_every


@dataclass
class TrainingResult:
    costs: list = field(default_factory=list)              # mean training cost of each epoch
    validation_errors: list = field(default_factory=list)  # after each epoch
    best_validation_error: float = np.inf
    best_epoch: int = 0
    test_error: float = np.nan        # of the model at best_epoch
    train_seconds: float = 0.0        # spent in the training steps only
    steps: int = 0

    @property
    def epochs(self):
        return len(self.costs)

    @property
    def seconds_per_step(self):
        return self.train_seconds / max(self.steps, 1)


def train(train_model, validate_model, test_model, n_train_batches, n_epochs,
          patience=10000, patience_increase=2, improvement_threshold=0.995, log=say,
          every=None):
    """Call ``train_model(i)`` for every minibatch index i of each epoch (it returns the
    minibatch cost and updates the parameters); ``validate_model()`` and ``test_model()``
    return error rates. A progress bar counts the epochs (on a terminal or in a notebook);
    ``log`` receives a summary line every ``every`` epochs (default: about ten lines per
    run), for the last epoch, and when the patience runs out (None: silent)."""
    result = TrainingResult()
    every = every or summary_every(n_epochs)
    bar = progress(range(1, n_epochs + 1), desc="training", unit="epoch")
    for epoch in bar:
        t0 = time.perf_counter()
        costs = [float(train_model(i)) for i in range(n_train_batches)]
        result.train_seconds += time.perf_counter() - t0
        result.steps += n_train_batches
        iteration = epoch * n_train_batches
        result.costs.append(float(np.mean(costs)))
        validation_error = float(validate_model())
        result.validation_errors.append(validation_error)
        if validation_error < result.best_validation_error:
            if validation_error < result.best_validation_error * improvement_threshold:
                patience = max(patience, iteration * patience_increase)
            result.best_validation_error = validation_error
            result.best_epoch = epoch
            result.test_error = float(test_model())
        bar.set_postfix_str(f"cost {result.costs[-1]:.4f}, "
                            f"validation error {100 * validation_error:.2f}%")
        stopping = patience <= iteration
        if log is not None and (epoch % every == 0 or epoch == n_epochs or stopping):
            log(f"epoch {epoch:4d}  cost {result.costs[-1]:.4f}  "
                f"validation error {100 * validation_error:5.2f}%  "
                f"(best {100 * result.best_validation_error:.2f}% at epoch {result.best_epoch})")
        if stopping:
            if log is not None:
                log(f"patience ran out after {iteration} minibatches")
            break
    bar.close()
    return result


def report(result, batch_size, log=say):
    """The closing lines every example prints."""
    log(f"trained {result.epochs} epochs in {result.train_seconds:.2f}s "
        f"({1e6 * result.seconds_per_step:.0f} us per minibatch of {batch_size})")
    log(f"best validation error {100 * result.best_validation_error:.2f}% at epoch "
        f"{result.best_epoch}; test error of that model {100 * result.test_error:.2f}% "
        f"(accuracy {100 * (1 - result.test_error):.2f}%)")


OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")
DATA_HELP = ("MNIST instead of the shipped 8x8 digits: the tutorials' mnist.pkl.gz, or the "
             "folder of the idx files (train-images-idx3-ubyte[.gz], ...)")


def add_common_arguments(parser):
    """--data and --output, which every MNIST-shaped example takes."""
    parser.add_argument("--data", metavar="PATH", default=None, help=DATA_HELP)
    parser.add_argument("--output", default=OUTPUT, help="folder for the figures")


def have_matplotlib(log=say):
    """True if the figures can be drawn; else say how to get them."""
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        log("no figures: matplotlib is missing (pip install '.[examples]')")
        return False


def save_learning_curve(result, output, name, title, log=say):
    """Draw ``result``'s cost and validation error per epoch to ``output/name_curve.png``."""
    if not have_matplotlib(log):
        return None
    import plotting
    path = plotting.classifier_curve(os.path.join(output, f"{name}_curve.png"), title, result)
    log(f"wrote {path}")
    return path
