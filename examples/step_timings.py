"""Time one training step (a minibatch of 20) of the MLP and LeNet examples, in one run:
cgraph against the same step written by hand in numpy (examples/numpy_reference.py), and
against torch (CPU), JAX and PyTensor when they are importable (they are not dependencies of
cgraph; install them yourself to compare).

Every backend starts from the example's initial parameters and walks the same minibatches of
the digits training set (float64). Before timing, each backend's first step is checked
against numpy's cost (tests/examples/test_examples.py checks cgraph's updated parameters against
numpy's too). The timing takes
rounds of one epoch (59 minibatches) per backend, the backends taking turns so that a busy
machine slows them alike, and reports the median and the best time per minibatch (on a
shared machine the best is the steadier measure of the work itself).

Run: python examples/step_timings.py [--rounds N] [--only mlp|lenet]
Set OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 to compare single-threaded.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lenet  # noqa: E402
import mlp  # noqa: E402
import numpy_reference  # noqa: E402
from digits import load_digits, shared_dataset  # noqa: E402

BATCH = 20
MLP_SETTINGS = dict(learning_rate=0.01, L1_reg=0.0, L2_reg=0.0001, n_hidden=500)
LENET_SETTINGS = dict(learning_rate=0.1, nkerns=(20, 50), n_hidden=500, border_mode="half")


def _importable(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False


def _minibatch(data, i):
    return data[i * BATCH:(i + 1) * BATCH]


# --- MLP ------------------------------------------------------------------------------------

def mlp_steps(train):
    """{backend: step(i) -> cost} for the MLP."""
    model, train_model, _ = mlp.build(shared_dataset(train, "train"), BATCH, **MLP_SETTINGS)
    initial = [p.get_value().copy() for p in model.params]
    s = MLP_SETTINGS
    numpy_params = [p.copy() for p in initial]
    steps = {
        "cgraph": train_model,
        "numpy": lambda i: numpy_reference.mlp_step(
            numpy_params, _minibatch(train[0], i), _minibatch(train[1], i),
            s["learning_rate"], s["L1_reg"], s["L2_reg"]),
    }
    if _importable("torch"):
        steps["torch"] = _torch_mlp_step(train, initial)
    if _importable("jax"):
        steps["jax"] = _jax_mlp_step(train, initial)
    if _importable("pytensor"):
        steps["pytensor"] = _pytensor_mlp_step(train, initial)
    return steps


def _torch_mlp_step(train, initial):
    import torch
    import torch.nn.functional as F
    x_all, y_all = torch.from_numpy(train[0]), torch.from_numpy(train[1])
    params = [torch.tensor(p, requires_grad=True) for p in initial]
    s = MLP_SETTINGS

    def step(i):
        W1, b1, W2, b2 = params
        hidden = torch.tanh(_minibatch(x_all, i) @ W1 + b1)
        cost = (F.cross_entropy(hidden @ W2 + b2, _minibatch(y_all, i))
                + s["L2_reg"] * ((W1 ** 2).sum() + (W2 ** 2).sum()))
        grads = torch.autograd.grad(cost, params)
        with torch.no_grad():
            for param, grad in zip(params, grads):
                param -= s["learning_rate"] * grad
        return cost.item()
    return step


def _jax_mlp_step(train, initial):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    x_all, y_all = jnp.asarray(train[0]), jnp.asarray(train[1])
    s = MLP_SETTINGS

    def cost_of(params, x, y):
        W1, b1, W2, b2 = params
        logits = jnp.tanh(x @ W1 + b1) @ W2 + b2
        log_p = jax.nn.log_softmax(logits)
        return (-jnp.mean(log_p[jnp.arange(BATCH), y])
                + s["L2_reg"] * ((W1 ** 2).sum() + (W2 ** 2).sum()))

    @jax.jit
    def sgd(params, i):
        x = jax.lax.dynamic_slice_in_dim(x_all, i * BATCH, BATCH)
        y = jax.lax.dynamic_slice_in_dim(y_all, i * BATCH, BATCH)
        cost, grads = jax.value_and_grad(cost_of)(params, x, y)
        return [p - s["learning_rate"] * g for p, g in zip(params, grads)], cost

    state = {"params": [jnp.asarray(p) for p in initial]}

    def step(i):
        state["params"], cost = sgd(state["params"], i)
        return float(cost)      # waits for the result, as the other backends do
    return step


def _pytensor_mlp_step(train, initial):
    import pytensor
    import pytensor.tensor as pt
    x_all, y_all = pytensor.shared(train[0]), pytensor.shared(train[1])
    params = [pytensor.shared(p.copy()) for p in initial]
    W1, b1, W2, b2 = params
    s = MLP_SETTINGS
    index = pt.lscalar()
    x, y = pt.matrix(dtype="float64"), pt.lvector()
    p_y = pt.special.softmax(pt.tanh(x @ W1 + b1) @ W2 + b2, axis=-1)
    cost = (-pt.mean(pt.log(p_y)[pt.arange(y.shape[0]), y])
            + s["L2_reg"] * ((W1 ** 2).sum() + (W2 ** 2).sum()))
    grads = pytensor.grad(cost, params)
    return pytensor.function(
        [index], cost, updates=[(p, p - s["learning_rate"] * g) for p, g in zip(params, grads)],
        givens={x: x_all[index * BATCH:(index + 1) * BATCH],
                y: y_all[index * BATCH:(index + 1) * BATCH]})


# --- LeNet ----------------------------------------------------------------------------------

def lenet_steps(train):
    """{backend: step(i) -> cost} for LeNet."""
    model, train_model, _ = lenet.build(shared_dataset(train, "train"), BATCH,
                                        **LENET_SETTINGS)
    initial = [p.get_value().copy() for p in model.params]
    s = LENET_SETTINGS
    numpy_params = [p.copy() for p in initial]
    steps = {
        "cgraph": train_model,
        "numpy": lambda i: numpy_reference.lenet_step(
            numpy_params, _minibatch(train[0], i), _minibatch(train[1], i),
            s["learning_rate"], s["border_mode"]),
    }
    if _importable("torch"):
        steps["torch"] = _torch_lenet_step(train, initial)
    return steps


def _torch_lenet_step(train, initial):
    """torch's conv2d is a cross-correlation: it gets the filters flipped once at the start.
    Its max-pooling sends a tied window's gradient to one position only (Theano's to all of
    them), so only the first step, taken with zero output weights, matches exactly."""
    import torch
    import torch.nn.functional as F
    x_all, y_all = torch.from_numpy(train[0]), torch.from_numpy(train[1])
    flipped = [p[:, :, ::-1, ::-1].copy() if p.ndim == 4 else p for p in initial]
    params = [torch.tensor(p, requires_grad=True) for p in flipped]
    half = LENET_SETTINGS["border_mode"] == "half"
    padding = [W.shape[2] // 2 if half else 0 for W in (flipped[6], flipped[4])]

    def step(i):
        W3, b3, W2, b2, W1, b1, W0, b0 = params
        images = _minibatch(x_all, i).reshape(-1, 1, 8, 8)
        h = torch.tanh(F.max_pool2d(F.conv2d(images, W0, padding=padding[0]), 2)
                       + b0[None, :, None, None])
        h = torch.tanh(F.max_pool2d(F.conv2d(h, W1, padding=padding[1]), 2)
                       + b1[None, :, None, None])
        hidden = torch.tanh(h.flatten(1) @ W2 + b2)
        cost = F.cross_entropy(hidden @ W3 + b3, _minibatch(y_all, i))
        grads = torch.autograd.grad(cost, params)
        with torch.no_grad():
            for param, grad in zip(params, grads):
                param -= LENET_SETTINGS["learning_rate"] * grad
        return cost.item()
    return step


# --- timing ---------------------------------------------------------------------------------

def check_first_step(steps):
    """Each backend's first step, from the same parameters, must cost what numpy's does."""
    expected = float(steps["numpy"](0))
    for name, step in steps.items():
        if name != "numpy":
            cost = float(step(0))
            if not np.isclose(cost, expected, rtol=1e-9, atol=1e-12):
                raise AssertionError(f"{name}: first cost {cost!r}, numpy's {expected!r}")


def time_steps(steps, n_batches, rounds):
    """{backend: seconds per minibatch of each of ``rounds`` epochs, taken in turns}."""
    samples = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            for i in range(n_batches):
                step(i)
            samples[name].append((time.perf_counter() - t0) / n_batches)
    return samples


def print_table(title, samples):
    median = {name: statistics.median(s) for name, s in samples.items()}
    best = {name: min(s) for name, s in samples.items()}
    print(f"{title}\n  {'':<10} {'median us':>10} {'x numpy':>8} {'best us':>10} {'x numpy':>8}")
    for name in samples:
        print(f"  {name:<10} {1e6 * median[name]:10.1f} {median[name] / median['numpy']:8.2f}"
              f" {1e6 * best[name]:10.1f} {best[name] / best['numpy']:8.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--only", choices=("mlp", "lenet"))
    args = parser.parse_args(argv)
    train, _, _ = load_digits()
    n_batches = len(train[0]) // BATCH
    results = {}
    for name, make, title in (("mlp", mlp_steps, "MLP 64-500-10 training step, batch 20"),
                              ("lenet", lenet_steps, "LeNet (20, 50 filters, 'half' 3x3, "
                                                     "500 hidden) training step, batch 20")):
        if args.only not in (None, name):
            continue
        steps = make(train)
        check_first_step(steps)
        results[name] = time_steps(steps, n_batches, args.rounds)
        print_table(title, results[name])
    return results


if __name__ == "__main__":
    main()
