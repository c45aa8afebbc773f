"""The shared worker threads (saecodec.kernels.threads): results independent of threading, and fork-safe."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

import saecodec
from saecodec._testing import encode_with_nonce
from saecodec.crypto.keystreams import keystream
from saecodec.kernels.logistic import BYTES_PER_CHUNK
from saecodec.kernels.threads import map_items, run_blocks
from tests.conftest import synthetic_image


def test_map_items_keeps_order_and_runs_everything_once() -> None:
    calls: list[int] = []
    assert map_items(lambda i: (calls.append(i), i * i)[1], 37) == [i * i for i in range(37)]
    assert sorted(calls) == list(range(37))
    assert map_items(lambda i: i, 0) == []


def test_nested_run_blocks_does_not_deadlock() -> None:
    out = np.zeros((8, 50), dtype=np.int64)

    def inner(row: int, first: int, last: int) -> None:
        out[row, first:last] += 1

    def outer(first: int, last: int) -> None:
        for row in range(first, last):
            run_blocks(inner, 50, 7, (row,))

    run_blocks(outer, 8, 1, ())
    assert np.all(out == 1)


def _child_work(data: bytes, key: saecodec.SecretKey, image: np.ndarray) -> tuple[np.ndarray, bytes, bytes]:
    stream = keystream("logistic", bytes(32), 2 * BYTES_PER_CHUNK + 5).tobytes()  # chunks on the pool
    paper = encode_with_nonce(image, key, bytes(32), level=2)  # training kernels on the pool
    return saecodec.decode(data, key), stream, paper  # rd planes on the pool


def test_everything_threaded_works_in_a_child_forked_after_the_pool_started() -> None:
    """A fork copies no threads: a child of a process that used the pool must not hang or die.

    Numba's OpenMP layer (GNU libgomp) terminated such a child when the logistic keystream was parallel=True,
    and a pool whose results are awaited (Executor.map) hangs on the parent's dead threads. run_blocks only
    waits for work already started, and the child gets a fresh pool on first use.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("this platform has no fork")
    key = saecodec.generate_key()
    rgb = synthetic_image(256, 256, 3, seed=4)  # large enough for the rd planes to go to the pool
    small = synthetic_image(48, 48, 3, seed=5)
    data = saecodec.encode(rgb, key, quality=60)
    expected = _child_work(data, key, small)  # the parent starts the pool first
    with multiprocessing.get_context("fork").Pool(1) as pool:
        decoded, stream, paper = pool.apply_async(_child_work, (data, key, small)).get(timeout=120)
    assert np.array_equal(decoded, expected[0])
    assert stream == expected[1] and paper == expected[2]
