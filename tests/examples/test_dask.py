"""Compiled functions on a Dask cluster (examples/dask_map.py): worker processes get the
client's module from the shared cache, or build a missing one once each at most, never once
per task, and their results match numpy."""
import os
import sys

import numpy as np
import pytest

pytest.importorskip("dask.array", reason="dask is not installed (pip install '.[dask]')")
pytest.importorskip("distributed", reason="dask.distributed is not installed "
                                          "(pip install '.[dask]')")

# Worker processes are spawned with this process's sys.path, so they import the example too.
sys.path.insert(0, os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples"))
import dask.array as da  # noqa: E402
from dask.distributed import Client  # noqa: E402

import dask_map  # noqa: E402

pytestmark = pytest.mark.slow   # a local cluster

ROWS, COLS, CHUNK_ROWS = 40_000, 8, 5_000     # 8 blocks


@pytest.fixture(scope="module")
def client():
    # Closed by the with-blocks whatever the tests do.
    with dask_map.start_cluster(memory_limit="500MB") as cluster, Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def statistics_function():
    return dask_map.block_statistics_function()   # built (or found) by the client first


def small_array(seed=3):
    return da.random.default_rng(seed).uniform(-3, 3, size=(ROWS, COLS),
                                               chunks=(CHUNK_ROWS, COLS))


def check_statistics(x, statistics, per_block):
    whole = x.compute()
    for k in range(x.numblocks[0]):
        block = whole[k * CHUNK_ROWS:(k + 1) * CHUNK_ROWS]
        np.testing.assert_allclose(per_block[k], dask_map.numpy_block_statistics(block),
                                   rtol=1e-10)
    y = np.exp(-whole ** 2) * np.tanh(whole) + 0.5 * whole
    np.testing.assert_allclose(statistics["mean"], y.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(statistics["std"], y.std(axis=0), rtol=1e-9)
    np.testing.assert_array_equal(statistics["max"], y.max(axis=0))


def test_workers_share_the_client_cache(client):
    roots = {report["cache_root"] for report in client.run(dask_map.cache_report).values()}
    assert roots == {dask_map.cache.cache_root()}


def test_map_blocks_loads_the_client_module_once_per_worker(client, statistics_function):
    x = small_array()
    statistics, per_block, traffic = dask_map.column_statistics(client, x,
                                                                statistics_function)
    check_statistics(x, statistics, per_block)
    assert traffic.total("calls") == x.numblocks[0]
    for worker, counts in traffic.workers.items():
        assert counts["builds"] == 0, (worker, counts)   # the client built it, cache shared
        # scattered: unpickled once per worker as a rule, so its module is read from disk
        # once at most; a busy worker may deserialize it again (seen under load), which then
        # finds the module in memory
        assert counts["disk_hits"] <= 1, (worker, counts)
        assert counts["disk_hits"] + counts["memory_hits"] <= max(1, counts["calls"]), \
            (worker, counts)


def test_function_pickled_into_every_task_reuses_the_loaded_module(client,
                                                                   statistics_function):
    dask_map.column_statistics(client, small_array(), statistics_function)   # warm workers
    x = small_array(seed=4)
    statistics, per_block, traffic = dask_map.column_statistics(client, x, statistics_function,
                                                                scatter=False)
    check_statistics(x, statistics, per_block)
    for worker, counts in traffic.workers.items():
        assert counts["builds"] == 0 and counts["disk_hits"] == 0, (worker, counts)
        if counts["calls"]:
            assert counts["memory_hits"] >= 1, (worker, counts)   # this process's module


@pytest.mark.parametrize("scatter", [True, False])
def test_client_map_of_an_mlp_matches_numpy(client, scatter):
    mlp, weights = dask_map.mlp_function()
    rng = np.random.default_rng(5)
    batches = [rng.standard_normal((500 + 100 * k, 64)) for k in range(5)]
    outputs, traffic = dask_map.map_batches(client, mlp, batches, scatter)
    assert len(outputs) == len(batches)
    for batch, output in zip(batches, outputs):
        np.testing.assert_allclose(output, dask_map.numpy_mlp(weights, batch), rtol=1e-10)
    assert traffic.total("calls") == len(batches)
    for worker, counts in traffic.workers.items():
        assert counts["builds"] == 0 and counts["disk_hits"] <= 1, (worker, counts)


def test_workers_without_the_module_build_it_once_each_at_most(tmp_path):
    # The workers' cache is empty: the module the client has must be built there, by one
    # worker (the other waits for its lock) or by each, but never once per task.
    mlp, weights = dask_map.mlp_function(n_hidden=24, seed=7)
    rng = np.random.default_rng(6)
    batches = [rng.standard_normal((300, 64)) for _ in range(8)]
    with dask_map.start_cluster(memory_limit="500MB", cache_dir=tmp_path / "workers") \
            as cluster, Client(cluster) as cold_client:
        outputs, traffic = dask_map.map_batches(cold_client, mlp, batches, scatter=False)
    for batch, output in zip(batches, outputs):
        np.testing.assert_allclose(output, dask_map.numpy_mlp(weights, batch), rtol=1e-10)
    assert traffic.total("calls") == len(batches)
    assert 1 <= traffic.total("builds") <= len(traffic.workers), traffic.workers
    for worker, counts in traffic.workers.items():
        assert counts["builds"] <= 1, (worker, counts)
