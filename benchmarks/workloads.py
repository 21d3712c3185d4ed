"""The workloads W1..W7: each builds the same computation for every backend it supports.

A workload is a function ``(backend, size) -> Case`` where ``Case.run()`` performs one step
and returns a numpy array (checked against numpy's before timing). Backends: "numpy",
"cgraph", and the peers "pytensor", "jax", "torch" when importable.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class Case:
    run: Callable
    result: Callable = None     # returns the value to check (default: what run returns)


def _data(size, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(size).astype(dtype) for _ in range(5)]


# --- W1: a fused elementwise expression -----------------------------------------------------

def w1_elementwise(backend, size, dtype="float64"):
    x, w, b, y, z = _data(size, dtype)
    if backend == "numpy":
        def run():
            return 1 / (1 + np.exp(-(x * w + b))) * y + np.log1p(np.exp(z))
        return Case(run)
    if backend == "cgraph":
        import cgraph
        import cgraph.tensor as T
        v = [T.vector(n, dtype=dtype) for n in "xwbyz"]
        out = T.nnet.sigmoid(v[0] * v[1] + v[2]) * v[3] + T.log1p(T.exp(v[4]))
        f = cgraph.function(v, out)
        f.trust_input = True
        return Case(lambda: f(x, w, b, y, z))
    if backend == "jax":
        import jax
        import jax.numpy as jnp
        fn = jax.jit(lambda x, w, b, y, z: jax.nn.sigmoid(x * w + b) * y + jnp.log1p(jnp.exp(z)))
        args = [jnp.asarray(a) for a in (x, w, b, y, z)]
        return Case(lambda: fn(*args).block_until_ready(), )
    if backend == "pytensor":
        import pytensor
        import pytensor.tensor as pt
        v = [pt.vector(n, dtype=dtype) for n in "xwbyz"]
        out = pt.sigmoid(v[0] * v[1] + v[2]) * v[3] + pt.log1p(pt.exp(v[4]))
        f = pytensor.function(v, out, mode="FAST_RUN")
        f.trust_input = True
        return Case(lambda: f(x, w, b, y, z))
    if backend == "torch":
        import torch
        fn = torch.compile(lambda x, w, b, y, z: torch.sigmoid(x * w + b) * y + torch.log1p(torch.exp(z)))
        args = [torch.from_numpy(a) for a in (x, w, b, y, z)]
        return Case(lambda: fn(*args).numpy())
    return None


# --- W5: the cost of one call ---------------------------------------------------------------

def w5_call_overhead(backend, size=1, dtype="float64"):
    x = np.ones(size, dtype=dtype)
    if backend == "numpy":
        return Case(lambda: x + 1)
    if backend == "cgraph":
        import cgraph
        import cgraph.tensor as T
        v = T.vector("x", dtype=dtype)
        f = cgraph.function([v], v + 1)
        return Case(lambda: f(x))
    if backend == "cgraph_trusted":
        import cgraph
        import cgraph.tensor as T
        v = T.vector("x", dtype=dtype)
        f = cgraph.function([v], v + 1)
        f.trust_input = True
        return Case(lambda: f(x))
    if backend == "jax":
        import jax
        fn = jax.jit(lambda a: a + 1)
        import jax.numpy as jnp
        a = jnp.asarray(x)
        return Case(lambda: fn(a).block_until_ready())
    if backend == "pytensor":
        import pytensor
        import pytensor.tensor as pt
        v = pt.vector("x", dtype=dtype)
        f = pytensor.function([v], v + 1)
        return Case(lambda: f(x))
    if backend == "torch":
        import torch
        fn = torch.compile(lambda a: a + 1)
        a = torch.from_numpy(x)
        return Case(lambda: fn(a).numpy())
    return None


# --- W2/W3: training steps --------------------------------------------------------------------

def _mlp_numpy(sizes, batch, dtype, seed=0, l2=1e-4, lr=0.01):
    rng = np.random.default_rng(seed)
    data_x = rng.random((batch * 50, sizes[0])).astype(dtype)
    data_y = rng.integers(0, sizes[-1], size=batch * 50)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = np.sqrt(6.0 / (n_in + n_out))
        params.append(rng.uniform(-bound, bound, size=(n_in, n_out)).astype(dtype))
        params.append(np.zeros(n_out, dtype=dtype))
    return data_x, data_y, params, l2, lr


def w2_logreg_step(backend, size=(784, 10), batch=600, dtype="float64", n_batches=10, lr=0.13):
    """One SGD step of multinomial logistic regression (Theano's logistic_sgd tutorial):
    softmax(x W + b), mean NLL, gradient step on W and b; the batch is a slice of shared data
    chosen by the step's index (givens)."""
    rng = np.random.default_rng(0)
    data_x = rng.random((batch * n_batches, size[0])).astype(dtype)
    data_y = rng.integers(0, size[1], size=batch * n_batches)
    if backend == "numpy":
        W = np.zeros(size, dtype=dtype)
        b = np.zeros(size[1], dtype=dtype)
        rows = np.arange(batch)
        state = {"i": 0}

        def run():
            i = state["i"] % n_batches
            state["i"] += 1
            x = data_x[i * batch:(i + 1) * batch]
            y = data_y[i * batch:(i + 1) * batch]
            logits = x @ W + b
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            cost = -np.log(p[rows, y]).mean()
            delta = p
            delta[rows, y] -= 1
            delta /= batch
            W[...] -= lr * (x.T @ delta)
            b[...] -= lr * delta.sum(axis=0)
            return np.asarray(cost)
        return Case(run)
    if backend == "cgraph":
        import cgraph
        import cgraph.tensor as T
        sx = cgraph.shared(data_x, name="data_x")
        sy = cgraph.shared(data_y, name="data_y")
        W = cgraph.shared(np.zeros(size, dtype=dtype), name="W")
        b = cgraph.shared(np.zeros(size[1], dtype=dtype), name="b")
        index = T.lscalar("index")
        x = T.matrix("x", dtype=dtype)
        y = T.lvector("y")
        p_y = T.nnet.softmax(T.dot(x, W) + b)
        cost = -T.mean(T.log(p_y)[T.arange(y.shape[0]), y])
        g_W, g_b = T.grad(cost, [W, b])
        rate = T.cast(lr, dtype)
        f = cgraph.function([index], cost, updates=[(W, W - rate * g_W), (b, b - rate * g_b)],
                            givens={x: sx[index * batch:(index + 1) * batch],
                                    y: sy[index * batch:(index + 1) * batch]}, name="logreg_step")
        state = {"i": 0}

        def run():
            i = state["i"] % n_batches
            state["i"] += 1
            return f(i)
        return Case(run)
    return None


def w3_mlp_step(backend, size=(784, 500, 10), batch=20, dtype="float64"):
    """One SGD step of a tanh MLP with softmax output, NLL + L2 (batch rows from shared data)."""
    data_x, data_y, init, l2, lr = _mlp_numpy(size, batch, dtype)
    n_batches = len(data_x) // batch
    if backend == "numpy":
        params = [p.copy() for p in init]
        state = {"i": 0}

        def run():
            i = state["i"] % n_batches
            state["i"] += 1
            x = data_x[i * batch:(i + 1) * batch]
            y = data_y[i * batch:(i + 1) * batch]
            acts = [x]
            for k in range(0, len(params) - 2, 2):
                acts.append(np.tanh(acts[-1] @ params[k] + params[k + 1]))
            logits = acts[-1] @ params[-2] + params[-1]
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            cost = -np.log(p[np.arange(batch), y]).mean() + l2 * sum((w ** 2).sum() for w in params[::2])
            delta = p
            delta[np.arange(batch), y] -= 1
            delta /= batch
            for k in range(len(params) - 2, -1, -2):
                gw = acts[k // 2].T @ delta + 2 * l2 * params[k]
                gb = delta.sum(axis=0)
                if k > 0:
                    delta = (delta @ params[k].T) * (1 - acts[k // 2] ** 2)
                params[k] -= lr * gw
                params[k + 1] -= lr * gb
            return np.asarray(cost)
        return Case(run)
    if backend == "cgraph":
        import cgraph
        import cgraph.tensor as T
        sx = cgraph.shared(data_x, name="data_x")
        sy = cgraph.shared(data_y, name="data_y")
        params = [cgraph.shared(p.copy(), name=f"p{k}") for k, p in enumerate(init)]
        index = T.lscalar("index")
        x = T.matrix("x", dtype=dtype)
        y = T.lvector("y")
        h = x
        for k in range(0, len(params) - 2, 2):
            h = T.tanh(T.dot(h, params[k]) + params[k + 1])
        p_y = T.nnet.softmax(T.dot(h, params[-2]) + params[-1])
        cost = -T.mean(T.log(p_y)[T.arange(y.shape[0]), y]) + \
            T.cast(l2, dtype) * sum(T.sum(w ** 2) for w in params[::2])
        grads = T.grad(cost, params)
        updates = [(p, p - T.cast(lr, dtype) * g) for p, g in zip(params, grads)]
        f = cgraph.function([index], cost, updates=updates,
                            givens={x: sx[index * batch:(index + 1) * batch],
                                    y: sy[index * batch:(index + 1) * batch]}, name="mlp_step")
        state = {"i": 0}

        def run():
            i = state["i"] % n_batches
            state["i"] += 1
            return f(i)
        return Case(run)
    return None


WORKLOADS = {
    "W1": w1_elementwise,
    "W2": w2_logreg_step,
    "W3": w3_mlp_step,
    "W5": w5_call_overhead,
}
