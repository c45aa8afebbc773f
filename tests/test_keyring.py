"""The key provider integrations use, and key files read with bounds (no device, FIFO or huge file)."""

from __future__ import annotations

import os
import pickle
import warnings

import pytest

import saecodec
from saecodec.crypto.keys import KeyFilePermissionWarning
from saecodec.keyring import KEY_FILE_ENV, KEYRING_ENV, PASSWORD_ENV, KeySource, register_key, resolve_key, unregister_key


@pytest.fixture
def clean_env(monkeypatch):
    for name in (KEY_FILE_ENV, KEYRING_ENV, PASSWORD_ENV):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch
    for key_id in (None, "k1", "k2"):
        unregister_key(key_id)


def write_key(path, key) -> str:
    saecodec.save_key(key, path)
    return os.fspath(path)


def test_registered_key_comes_first(clean_env, key, other_key, tmp_path):
    clean_env.setenv(KEY_FILE_ENV, write_key(tmp_path / "env.key", other_key))
    register_key(key)
    assert resolve_key() == key
    unregister_key()
    assert resolve_key() == other_key


def test_key_id_is_read_from_the_keyring_directory(clean_env, key, other_key, tmp_path):
    write_key(tmp_path / "k1.key", key)
    write_key(tmp_path / "k2.key", other_key)
    clean_env.setenv(KEYRING_ENV, os.fspath(tmp_path))
    assert resolve_key("k1") == key
    assert resolve_key("k2") == other_key
    assert KeySource("k2").resolve() == other_key


def test_missing_key_names_the_key_id_and_every_place_looked_at(clean_env, tmp_path):
    with pytest.raises(saecodec.KeyFileError) as caught:
        resolve_key("k1")
    assert "'k1'" in str(caught.value) and KEYRING_ENV in str(caught.value)
    clean_env.setenv(KEYRING_ENV, os.fspath(tmp_path))
    with pytest.raises(saecodec.KeyFileError, match="no k1.key"):
        resolve_key("k1")
    with pytest.raises(saecodec.KeyFileError) as caught:
        resolve_key(None)
    assert KEY_FILE_ENV in str(caught.value) and PASSWORD_ENV in str(caught.value)


def test_password_only_where_allowed(clean_env):
    clean_env.setenv(PASSWORD_ENV, "hunter2")
    assert isinstance(resolve_key(), saecodec.Password)
    with pytest.raises(saecodec.KeyFileError):
        resolve_key(allow_password=False)


@pytest.mark.parametrize("key_id", ["../k1", "/etc/passwd", ".hidden", "", "a" * 65, "a/b", 5])
def test_key_ids_cannot_escape_the_keyring(clean_env, key_id):
    with pytest.raises(saecodec.InputError):
        resolve_key(key_id)


def test_key_source_holds_no_secret(clean_env, key):
    register_key(key, "k1")
    source = KeySource("k1")
    assert key.material not in pickle.dumps(source)
    assert key.material.hex() not in repr(source)
    assert source.resolve() == key


# ------------------------------------------------------------------------------------- key files


def test_key_file_symlinked_to_a_device_is_refused_at_once(tmp_path):
    link = tmp_path / "zero.key"
    link.symlink_to("/dev/zero")
    with pytest.raises(saecodec.KeyFileError, match="not a regular file"):
        saecodec.load_key(link)


def test_key_file_that_is_a_fifo_does_not_hang(tmp_path):
    fifo = tmp_path / "fifo.key"
    os.mkfifo(fifo)
    with pytest.raises(saecodec.KeyFileError, match="not a regular file"):
        saecodec.load_key(fifo)


def test_key_file_that_is_a_directory_is_refused(tmp_path):
    with pytest.raises(saecodec.KeyFileError):
        saecodec.load_key(tmp_path)


def test_huge_key_file_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "big.key"
    with open(big, "wb") as handle:
        handle.truncate(1 << 30)  # sparse: costs nothing, would cost a GiB to read
    with pytest.raises(saecodec.KeyFileError, match="too large"):
        saecodec.load_key(big)


def test_readable_key_file_warns_like_ssh(tmp_path, key):
    path = write_key(tmp_path / "k.key", key)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert saecodec.load_key(path) == key  # 0600: no warning
    os.chmod(path, 0o644)
    with pytest.warns(KeyFilePermissionWarning, match="0644"):
        assert saecodec.load_key(path) == key
