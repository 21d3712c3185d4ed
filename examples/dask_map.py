"""Compiled cgraph functions on a Dask cluster, over an array larger than a worker's memory.

A LocalCluster of 2 worker processes (1 thread, 300 MB each) computes statistics of a
1.5 GB float64 array that is generated block by block with ``da.random`` and so never exists
whole. A compiled function of one block (a fused elementwise expression
``y = exp(-x**2) * tanh(x) + 0.5 * x`` and the per-column sum, sum of squares and max of y) runs
on every block with ``map_blocks``; dask reduces the per-block results to the column mean,
standard deviation and max, and a few blocks are checked against numpy. Then ``client.map``
applies a compiled MLP forward pass to a list of input batches, checked against numpy.

How a compiled function reaches a worker: it pickles as its graph (after rewrites) and its
shared values. Unpickling names the module by the graph's pre-key (a hash of the graph,
nothing rendered) and takes it from the modules this process already loaded, else from the
cache folder on disk, else lowers the graph and builds the module. The workers use the
client's cache folder (``CGRAPH_CACHE_DIR`` is passed to them), so they load the module the
client built and compile nothing. Two ways to ship the function:

- as an argument of ``map_blocks`` (or as the function given to ``client.map``): it is
  pickled into every task, so every task unpickles it and finds the module again (loaded
  once per process: ``cgraph.cache.stats["memory_hits"]`` grows by one per task). That
  costs well under a millisecond, but the shared values (an MLP's weights) travel with
  every task;
- ``client.scatter(f, broadcast=True, hash=False)``, passing the future: each worker
  unpickles it once and its tasks all call that one copy. Prefer this.

The script runs both and prints, for each, where each worker got its module and how many
times it looked it up, the time and throughput, and the measured cost of one unpickling.
On a 2-core machine the 1.5 GB take about 4 s either way (0.35-0.4 GB/s; the same
statistics with dask's numpy functions: 6 s), a worker peaks at about 150 MB, and one
unpickling costs 0.2-1 ms next to about 40 ms of work per 16 MB block.

Run: PYTHONPATH=. python examples/dask_map.py [--rows N] [--chunk-rows R] [--compare-numpy]
(needs the ``dask`` extra: pip install '.[dask]').
"""
import argparse
import logging
import pickle
import resource
import sys
import time

import numpy as np

import dask
import dask.array as da
from dask.distributed import Client, LocalCluster, get_task_stream
from dask.utils import key_split

import cgraph
import cgraph.tensor as T
from cgraph import cache


# --- the compiled functions and their numpy references -------------------------------------

def block_statistics_function():
    """x (rows, cols) -> [per-column sum of y, sum of y**2, max of y], y fused elementwise."""
    x = T.dmatrix("x")
    y = T.exp(-x ** 2) * T.tanh(x) + 0.5 * x
    return cgraph.function([x], [y.sum(axis=0), (y * y).sum(axis=0), y.max(axis=0)],
                           name="block_statistics")


def numpy_block_statistics(block):
    y = np.exp(-block ** 2) * np.tanh(block) + 0.5 * block
    return np.stack([y.sum(axis=0), (y * y).sum(axis=0), y.max(axis=0)])


def mlp_function(n_in=64, n_hidden=128, n_out=10, seed=0):
    """A small MLP's forward pass (tanh hidden layer, softmax output) and its weights."""
    rng = np.random.default_rng(seed)
    weights = {"W1": rng.standard_normal((n_in, n_hidden)) / np.sqrt(n_in),
               "b1": np.zeros(n_hidden),
               "W2": rng.standard_normal((n_hidden, n_out)) / np.sqrt(n_hidden),
               "b2": np.zeros(n_out)}
    params = {name: cgraph.shared(value, name=name) for name, value in weights.items()}
    x = T.dmatrix("x")
    hidden = T.tanh(T.dot(x, params["W1"]) + params["b1"])
    probabilities = T.nnet.softmax(T.dot(hidden, params["W2"]) + params["b2"])
    return cgraph.function([x], probabilities, name="mlp_forward"), weights


def numpy_mlp(weights, batch):
    hidden = np.tanh(batch @ weights["W1"] + weights["b1"])
    logits = hidden @ weights["W2"] + weights["b2"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --- what the tasks run --------------------------------------------------------------------

def apply_block_statistics(block, function):
    """One block's statistics as a (1, 3, cols) block of the per-block result array."""
    return np.stack(function(block))[None]


def call(argument, function):
    return function(argument)


def map_block_statistics(x, function):
    """(blocks, 3, cols): row k holds block k's sum, sum of squares and max per column.
    ``function`` is the compiled function itself or a future of it (client.scatter)."""
    return x.map_blocks(apply_block_statistics, function, dtype=x.dtype, new_axis=1,
                        chunks=((1,) * x.numblocks[0], (3,), x.chunks[1]),
                        token="block_statistics")


def reduce_block_statistics(per_block, n_rows):
    """Dask expressions of the column mean, standard deviation and max over all rows."""
    mean = per_block[:, 0].sum(axis=0) / n_rows
    mean_square = per_block[:, 1].sum(axis=0) / n_rows
    return {"mean": mean, "std": da.sqrt(mean_square - mean ** 2),
            "max": per_block[:, 2].max(axis=0)}


# --- what runs in each worker process (client.run) -----------------------------------------

def cache_report():
    """This process's cache traffic and where its cache is."""
    return {**{k: cache.stats.get(k, 0) for k in ("builds", "disk_hits", "memory_hits")},
            "cache_root": cache.cache_root()}


def peak_memory_mb():
    """The most memory this process has held (its peak resident set size)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def unpickle_seconds(payload, repeat=20):
    """Mean time to unpickle a compiled function in this process (its module is loaded)."""
    pickle.loads(payload)
    started = time.perf_counter()
    for _ in range(repeat):
        pickle.loads(payload)
    return (time.perf_counter() - started) / repeat


def start_cluster(n_workers=2, memory_limit="300MB", cache_dir=None):
    """Worker processes (1 thread each) whose cgraph cache folder is ``cache_dir``, by
    default this process's. No dashboard; the scheduler's small HTTP server (health checks)
    takes any free port rather than 8787, which another cluster may hold. Worker logs below
    CRITICAL are silenced: closing a LocalCluster makes its workers log the lost scheduler
    connection as an error."""
    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                        memory_limit=memory_limit, dashboard_address=None,
                        scheduler_kwargs={"dashboard_address": ":0"},
                        silence_logs=logging.CRITICAL,
                        env={"CGRAPH_CACHE_DIR": str(cache_dir or cache.cache_root())})


class CacheTraffic:
    """Per worker, what happened between entering and leaving the block: cache traffic
    (``builds``, ``disk_hits``, ``memory_hits``: each is one compiled function, here one
    unpickled, finding its module), and ``calls`` and ``call_seconds``, the number and
    total run time of the tasks named ``task_name`` it ran."""

    def __init__(self, client, task_name):
        self.client, self.task_name = client, task_name

    def __enter__(self):
        self.before = self.client.run(cache_report)
        self.task_stream = get_task_stream(self.client)
        self.task_stream.__enter__()
        return self

    def __exit__(self, *exc_info):
        self.task_stream.__exit__(*exc_info)
        after = self.client.run(cache_report)
        self.workers = {}
        for worker in after:
            counts = {k: after[worker][k] - self.before[worker][k]
                      for k in ("builds", "disk_hits", "memory_hits")}
            durations = [period["stop"] - period["start"]
                         for task in self.task_stream.data
                         if task["worker"] == worker
                         and key_split(task["key"]) == self.task_name
                         for period in task["startstops"] if period["action"] == "compute"]
            counts["calls"] = len(durations)
            counts["call_seconds"] = sum(durations)
            self.workers[worker] = counts

    def total(self, name):
        return sum(counts[name] for counts in self.workers.values())

    def mean_call_seconds(self):
        return self.total("call_seconds") / max(self.total("calls"), 1)

    def describe(self):
        lines = []
        for worker, t in sorted(self.workers.items()):
            source = ("built the module" if t["builds"] else
                      "loaded the module from the shared cache" if t["disk_hits"] else
                      "reused the module already loaded in the process")
            lookups = t["builds"] + t["disk_hits"] + t["memory_hits"]
            lines.append(f"    {worker}: {t['calls']} tasks, {source}; unpickled the "
                         f"function {lookups} times (builds {t['builds']}, disk hits "
                         f"{t['disk_hits']}, memory hits {t['memory_hits']})")
        return "\n".join(lines)


# --- the two computations ------------------------------------------------------------------

def scatter_function(client, function):
    """A future of ``function`` held by every worker: each unpickles it once. hash=False
    gives each scatter its own key: scattering again under a key just released can race
    with the release and lose the data."""
    return client.scatter(function, broadcast=True, hash=False)


def column_statistics(client, x, function, scatter=True):
    """The statistics of x computed on the cluster, the per-block results, and each worker's
    ``CacheTraffic``. ``scatter`` sends the function to each worker once; otherwise it is
    pickled into every task."""
    with CacheTraffic(client, "block_statistics") as traffic:
        shipped = scatter_function(client, function) if scatter else function
        per_block = map_block_statistics(x, shipped)
        statistics, per_block = dask.compute(reduce_block_statistics(per_block, x.shape[0]),
                                             per_block)
    return statistics, per_block, traffic


def map_batches(client, function, batches, scatter=True):
    """``function(batch)`` for every batch with client.map; the results and each worker's
    ``CacheTraffic``. ``scatter`` sends the function to each worker once; otherwise it is
    the mapped function, pickled into every task."""
    batch_futures = client.scatter(batches)
    with CacheTraffic(client, "map_batches") as traffic:
        if scatter:
            futures = client.map(call, batch_futures, key="map_batches",
                                 function=scatter_function(client, function))
        else:
            futures = client.map(function, batch_futures, key="map_batches")
        outputs = client.gather(futures)
    return outputs, traffic


def check_sample_blocks(x, per_block, sample):
    """Recompute some blocks with numpy and compare with the cluster's per-block results."""
    for k in sample:
        expected = numpy_block_statistics(x.blocks[k].compute())
        np.testing.assert_allclose(per_block[k], expected, rtol=1e-10,
                                   err_msg=f"statistics of block {k}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=12_000_000)
    parser.add_argument("--cols", type=int, default=16)
    parser.add_argument("--chunk-rows", type=int, default=125_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="300MB", help="per worker")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--batch-rows", type=int, default=20_000)
    parser.add_argument("--compare-numpy", action="store_true",
                        help="also compute the statistics with dask's numpy functions")
    args = parser.parse_args(argv)

    before = dict(cache.stats)
    started = time.perf_counter()
    statistics_fn = block_statistics_function()
    mlp, weights = mlp_function()
    built = cache.stats["builds"] - before.get("builds", 0)
    print(f"client: compiled 2 functions in {time.perf_counter() - started:.2f} s "
          f"({built} of their modules built, the others found in the cache "
          f"{cache.cache_root()})")

    x = da.random.default_rng(42).uniform(-3, 3, size=(args.rows, args.cols),
                                          chunks=(args.chunk_rows, args.cols))
    gigabytes = x.nbytes / 1e9
    print(f"array: {x.shape} float64 = {gigabytes:.2f} GB in {x.numblocks[0]} blocks of "
          f"{x.chunksize[0] * x.chunksize[1] * 8 / 1e6:.0f} MB; {args.workers} workers of "
          f"{args.memory_limit}")

    with start_cluster(args.workers, args.memory_limit) as cluster, Client(cluster) as client:
        roots = {report["cache_root"] for report in client.run(cache_report).values()}
        assert roots == {cache.cache_root()}, f"workers use other caches: {roots}"
        print(f"workers share the client's cache folder {cache.cache_root()}")

        # First contact: each worker imports cgraph and loads the module (not timed below).
        started = time.perf_counter()
        *_, traffic = column_statistics(client, x[:args.workers * args.chunk_rows],
                                        statistics_fn)
        print(f"\nwarm-up on {args.workers} blocks: {time.perf_counter() - started:.2f} s\n"
              f"{traffic.describe()}")

        results = {}
        for scatter in (True, False):
            label = "scattered once per worker" if scatter else "pickled into every task"
            started = time.perf_counter()
            statistics, per_block, traffic = column_statistics(client, x, statistics_fn,
                                                               scatter)
            elapsed = time.perf_counter() - started
            results[scatter] = statistics
            print(f"\nmap_blocks, function {label}: {elapsed:.2f} s, "
                  f"{gigabytes / elapsed:.2f} GB/s, {args.rows / elapsed / 1e6:.1f} M rows/s, "
                  f"{traffic.mean_call_seconds() * 1e3:.1f} ms per task")
            print(traffic.describe())
        peaks = client.run(peak_memory_mb).values()
        print(f"\npeak memory of a worker: {max(peaks):.0f} MB (for a {gigabytes:.2f} GB array)")
        for name in ("mean", "std", "max"):
            np.testing.assert_allclose(results[False][name], results[True][name], rtol=1e-12)
        sample = sorted({0, x.numblocks[0] // 2, x.numblocks[0] - 1})
        check_sample_blocks(x, per_block, sample)
        print(f"blocks {sample} match numpy; column 0: mean {results[True]['mean'][0]:+.6f} "
              f"std {results[True]['std'][0]:.6f} max {results[True]['max'][0]:.6f}")

        if args.compare_numpy:
            y = da.exp(-x ** 2) * da.tanh(x) + 0.5 * x
            started = time.perf_counter()
            mean, mean_square, maximum = dask.compute(y.mean(axis=0), (y * y).mean(axis=0),
                                                      y.max(axis=0))
            elapsed = time.perf_counter() - started
            np.testing.assert_allclose(results[True]["mean"], mean, rtol=1e-9, atol=1e-15)
            np.testing.assert_allclose(results[True]["std"],
                                       np.sqrt(mean_square - mean ** 2), rtol=1e-9)
            np.testing.assert_array_equal(results[True]["max"], maximum)
            print(f"the same with dask's numpy functions: {elapsed:.2f} s, "
                  f"{gigabytes / elapsed:.2f} GB/s (results agree)")

        rng = np.random.default_rng(1)
        batches = [rng.standard_normal((args.batch_rows, 64)) for _ in range(args.batches)]
        for scatter in (True, False):
            label = "scattered once per worker" if scatter else "as the mapped function"
            started = time.perf_counter()
            outputs, traffic = map_batches(client, mlp, batches, scatter)
            elapsed = time.perf_counter() - started
            for batch, output in zip(batches, outputs):
                np.testing.assert_allclose(output, numpy_mlp(weights, batch), rtol=1e-10)
            print(f"\nclient.map of the MLP over {len(batches)} batches of {args.batch_rows} "
                  f"rows, function {label}: {elapsed:.2f} s, "
                  f"{traffic.mean_call_seconds() * 1e3:.1f} ms per task, results match numpy")
            print(traffic.describe())

        # What each task pays when the function travels inside it: one unpickling (the
        # graph's pre-key names the module, already loaded), measured on the workers.
        print()
        for name, function in (("block_statistics", statistics_fn), ("mlp_forward", mlp)):
            payload = pickle.dumps(function)
            seconds = max(client.run(unpickle_seconds, payload).values())
            print(f"unpickling {name} ({len(payload) / 1e3:.0f} kB) on a worker: "
                  f"{seconds * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
