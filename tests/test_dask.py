"""Dask to_zarr / from_zarr of a large image on a real two-process LocalCluster: the key reaches the workers
through SAEC_KEYRING, never through the task graph."""

from __future__ import annotations

import os
import pickle

import cloudpickle
import dask.array as da
import numpy as np
import pytest
import zarr
from distributed import Client, LocalCluster

import saecodec
from saecodec import KeyFileError
from saecodec.metrics import psnr
from saecodec.zarr3 import SaecCodec
from tests.conftest import synthetic_image

SHAPE = (1000, 1500, 3)  # 256x256 chunks: a 4x6 grid whose last row and column are partial
CHUNKS = (256, 256, 3)


def _secrets_of(key: saecodec.SecretKey) -> list[bytes]:
    return [key.material, key.material.hex().encode()]


def test_to_zarr_from_zarr_on_local_cluster(tmp_path, key, monkeypatch: pytest.MonkeyPatch) -> None:
    keyring = tmp_path / "keyring"
    keyring.mkdir()
    saecodec.save_key(key, keyring / "k1.key")
    for name in ("SAEC_KEY_FILE", "SAEC_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SAEC_KEYRING", str(keyring))  # before the cluster starts: spawned workers inherit it

    image = synthetic_image(*SHAPE, seed=5)
    codec = SaecCodec(key=key, key_id="k1", quality=75, context="image")  # explicit key: this process only
    for blob in (pickle.dumps(codec), pickle.dumps(codec.saec), cloudpickle.dumps(codec), repr(codec).encode()):
        for secret in _secrets_of(key):
            assert secret not in blob

    # An array under a key id the workers do not have: written here with a key registered in-process.
    other = saecodec.generate_key()
    saecodec.keyring.register_key(other, "not-on-workers")
    try:
        hidden = zarr.create_array(store=str(tmp_path / "hidden.zarr"), shape=(64, 64), chunks=(32, 32),
                                   dtype="uint8", serializer=SaecCodec(key_id="not-on-workers"),
                                   compressors=None, fill_value=0)
        hidden[:] = synthetic_image(64, 64, 1)
    finally:
        saecodec.keyring.unregister_key("not-on-workers")

    path = str(tmp_path / "image.zarr")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        pids = client.run(os.getpid)
        assert len(set(pids.values()) | {os.getpid()}) == 3  # two real worker processes
        source = da.from_array(image, chunks=CHUNKS)
        stored = da.to_zarr(source, path, serializer=codec, compressors=None, zarr_format=3, compute=False)
        graph = cloudpickle.dumps(dict(stored.__dask_graph__()))
        for secret in _secrets_of(key):
            assert secret not in graph
        stored.compute()

        loaded = da.from_zarr(path)
        assert loaded.chunks == source.chunks
        back = loaded.compute()

        with pytest.raises(KeyFileError, match="not-on-workers.*SAEC_KEYRING"):
            da.from_zarr(str(tmp_path / "hidden.zarr")).compute()

    assert back.shape == SHAPE and back.dtype == np.uint8
    assert psnr(back, image) > 30
    chunk_files = sorted((tmp_path / "image.zarr" / "c").rglob("*"))
    assert len([p for p in chunk_files if p.is_file()]) == 4 * 6
    # The edge chunk is bound to its grid position like every other.
    edge = (tmp_path / "image.zarr" / "c" / "3" / "5" / "0").read_bytes()
    with pytest.raises(saecodec.AuthenticationError):
        saecodec.decode(edge, key, context=b"saecodec.zarr3/1 chunk=0,0,0 shape=256x256x3\nimage")
    assert saecodec.decode(edge, key, context=b"saecodec.zarr3/1 chunk=3,5,0 shape=256x256x3\nimage").shape == CHUNKS
