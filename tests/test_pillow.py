"""saecodec.pillow: .saec through real Pillow and imageio (open sniffs without a key, load decrypts, save encodes)."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

import saecodec
import saecodec.pillow as sp
from saecodec import keyring
from tests.conftest import synthetic_image

H, W = 24, 16
MODES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
KEY_IDS = ("alice", "bob")


@pytest.fixture(autouse=True)
def clean_key_state(monkeypatch: pytest.MonkeyPatch):
    """No key or context may leak between tests (or into other test files) through the process registry."""
    for name in (keyring.KEY_FILE_ENV, keyring.KEYRING_ENV, keyring.PASSWORD_ENV):
        monkeypatch.delenv(name, raising=False)
    yield
    sp.set_key()
    sp.set_context(None)
    for key_id in (None, *KEY_IDS):
        keyring.unregister_key(key_id)


def pixels_of(mode: str, seed: int = 0) -> np.ndarray:
    image = synthetic_image(H, W, MODES[mode], seed=seed)
    if mode in ("LA", "RGBA"):  # a real alpha ramp, so a lost alpha plane would show
        image[:, :, -1] = np.arange(H * W, dtype=np.uint8).reshape(H, W)
    return image


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, key: saecodec.SecretKey) -> dict[str, Path]:
    """One .saec file per mode, written by saecodec.encode (not by the plugin under test)."""
    folder = tmp_path_factory.mktemp("saec")
    paths = {}
    for seed, mode in enumerate(MODES):
        paths[mode] = folder / f"{mode}.saec"
        paths[mode].write_bytes(saecodec.encode(pixels_of(mode, seed), key, quality=70))
    return paths


def is_loaded(image: Image.Image) -> bool:
    return image._im is not None  # Pillow's own marker of "pixels present"


# --- registration and sniffing -------------------------------------------------------------------------------

def test_register_is_idempotent_and_complete() -> None:
    sp.register()
    sp.register()
    assert Image.ID.count("SAEC") == 1
    assert Image.OPEN["SAEC"][0] is sp.SaecImageFile
    assert Image.SAVE["SAEC"] is sp._save
    assert Image.registered_extensions()[".saec"] == "SAEC"
    assert Image.MIME["SAEC"] == "image/x-saec"


@pytest.mark.parametrize("mode", MODES)
def test_open_reads_size_and_mode_without_a_key(files: dict[str, Path], mode: str) -> None:
    with Image.open(files[mode]) as image:
        assert image.format == "SAEC"
        assert image.get_format_mimetype() == "image/x-saec"
        assert (image.size, image.mode) == ((W, H), mode)
        assert image.info["saec_profile"] == "rd"
        assert image.info["saec_context_bound"] is False
        assert not is_loaded(image)


def test_other_formats_are_not_claimed(tmp_path: Path, files: dict[str, Path]) -> None:
    png = tmp_path / "a.png"
    Image.fromarray(pixels_of("RGB")).save(png)
    with Image.open(png) as image:
        assert image.format == "PNG"
    disguised = tmp_path / "png-named.saec"  # claimed by its magic bytes, not by its name
    disguised.write_bytes(png.read_bytes())
    with Image.open(disguised) as image:
        assert image.format == "PNG"
    with pytest.raises(saecodec.FormatError, match="not a .saec file"):
        sp.open(disguised)
    with pytest.raises(saecodec.InputError, match="no such file"):
        sp.open(tmp_path / "missing.saec")


# --- where the key comes from --------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_load_with_set_key_equals_saecodec_decode(files: dict[str, Path], key, mode: str) -> None:
    sp.set_key(key)
    expected = saecodec.decode(files[mode], key)
    with Image.open(files[mode]) as image:
        image.load()
        assert is_loaded(image) and image.mode == mode
        np.testing.assert_array_equal(np.asarray(image), expected)
        assert image.fp is None  # the file handle is released once the pixels are in


def test_load_with_key_file_from_environment(files, key, tmp_path, monkeypatch) -> None:
    saecodec.save_key(key, tmp_path / "k.key")
    monkeypatch.setenv(keyring.KEY_FILE_ENV, str(tmp_path / "k.key"))
    with Image.open(files["RGB"]) as image:
        np.testing.assert_array_equal(np.asarray(image), saecodec.decode(files["RGB"], key))


def test_load_with_keyring_and_key_id(files, key, other_key, tmp_path, monkeypatch) -> None:
    saecodec.save_key(key, tmp_path / "alice.key")
    saecodec.save_key(other_key, tmp_path / "bob.key")
    monkeypatch.setenv(keyring.KEYRING_ENV, str(tmp_path))
    monkeypatch.setenv(keyring.KEY_FILE_ENV, str(tmp_path / "bob.key"))  # the id wins over the default key
    expected = saecodec.decode(files["LA"], key)
    sp.set_key(key_id="alice")
    with Image.open(files["LA"]) as image:
        np.testing.assert_array_equal(np.asarray(image), expected)
    sp.set_key()
    with sp.open(files["LA"], key_id="alice") as image:
        np.testing.assert_array_equal(np.asarray(image), expected)
    with sp.open(files["LA"], key_id="bob") as image, pytest.raises(saecodec.AuthenticationError):
        image.load()


def test_set_key_with_id_registers_it_and_set_key_forgets_it(files, key) -> None:
    sp.set_key(key, key_id="alice")
    assert keyring.resolve_key("alice") is key
    with Image.open(files["L"]) as image:
        image.load()
    sp.set_key()
    with pytest.raises(saecodec.KeyFileError):
        keyring.resolve_key("alice")


def test_password_from_environment(tmp_path, monkeypatch) -> None:
    path = tmp_path / "pw.saec"
    path.write_bytes(saecodec.encode(pixels_of("RGB"), saecodec.key_from_password("pw", log2_n=10), quality=70))
    monkeypatch.setenv(keyring.PASSWORD_ENV, "pw")
    with Image.open(path) as image:
        np.testing.assert_array_equal(np.asarray(image), saecodec.decode(path, saecodec.Password("pw")))


def test_missing_key_names_every_place_looked_at(files) -> None:
    with Image.open(files["RGB"]) as image:
        with pytest.raises(saecodec.KeyFileError) as caught:
            image.load()
        assert "SAEC_KEY_FILE" in str(caught.value) and "SAEC_PASSWORD" in str(caught.value)
        assert not is_loaded(image)
    with sp.open(files["RGB"], key_id="alice") as image, pytest.raises(saecodec.KeyFileError, match="SAEC_KEYRING"):
        image.load()


# --- failures: saecodec's error, image left unloaded ---------------------------------------------------------

def test_wrong_key_raises_and_leaves_the_image_unloaded(files, key, other_key) -> None:
    sp.set_key(other_key)
    with Image.open(files["RGBA"]) as image:
        for _ in range(2):  # a failed load must not leave a blank image behind for the next call
            with pytest.raises(saecodec.AuthenticationError):
                image.load()
            assert not is_loaded(image)
        with pytest.raises(saecodec.AuthenticationError):
            image.convert("RGB")
        with pytest.raises(saecodec.AuthenticationError):
            image.verify()
        sp.set_key(key)  # the same image object decodes once the right key is there
        np.testing.assert_array_equal(np.asarray(image), saecodec.decode(files["RGBA"], key))


def test_verify_checks_the_tag(files, key) -> None:
    with sp.open(files["RGB"], key=key) as image:
        image.verify()


def test_a_key_given_per_image_stays_out_of_repr_and_pickles(files, key) -> None:
    secret = bytes(range(32))  # conftest's key
    with sp.open(files["RGB"], key=key) as image:
        assert secret.hex() not in repr(image) and secret.hex() not in repr(image.info)
        copy = pickle.loads(pickle.dumps(image))  # Pillow pickles pixels, never the plugin's key
        assert secret not in pickle.dumps(image)
        np.testing.assert_array_equal(np.asarray(copy), saecodec.decode(files["RGB"], key))


@pytest.mark.parametrize("where", ["payload", "tag", "nonce"])
def test_tampered_file_is_an_authentication_error_on_load(files, key, tmp_path, where) -> None:
    data = bytearray(files["RGB"].read_bytes())
    nonce_at = bytes(data).index(saecodec.inspect(files["RGB"]).crypto.nonce)
    position = {"payload": len(data) - 40, "tag": len(data) - 1, "nonce": nonce_at}[where]
    data[position] ^= 0x01
    path = tmp_path / "tampered.saec"
    path.write_bytes(bytes(data))
    sp.set_key(key)
    with Image.open(path) as image:  # the header still parses: sniffing works, decrypting does not
        assert image.size == (W, H)
        with pytest.raises(saecodec.AuthenticationError):
            image.load()
        assert not is_loaded(image)


def test_every_corrupted_byte_is_a_saecodec_error(files, key) -> None:
    """Whatever byte after the magic is damaged, open or load raises saecodec's error, never Pillow's own."""
    sp.set_key(key)
    data = files["RGBA"].read_bytes()
    for position in range(8, len(data)):
        damaged = bytearray(data)
        damaged[position] ^= 0x10
        with pytest.raises(saecodec.SaecError):
            with Image.open(io.BytesIO(bytes(damaged))) as image:
                image.load()


@pytest.mark.parametrize("keep", [3, 5, 8, 20, -1])
def test_truncated_file_raises_truncated_error(files, tmp_path, keep) -> None:
    data = files["RGB"].read_bytes()
    path = tmp_path / "short.saec"
    path.write_bytes(data[:keep])
    with pytest.raises(saecodec.TruncatedError):
        Image.open(path)
    with pytest.raises(saecodec.TruncatedError):
        Image.open(io.BytesIO(data[:keep]))


class EndlessSaecStream(io.RawIOBase):
    """A stream (a pipe, a device) that starts like a .saec file, ``head``, and then never ends."""

    def __init__(self, head: bytes) -> None:
        self.head = head
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        view = memoryview(buffer)
        n = len(view)
        start = min(self.served, len(self.head))
        chunk = (self.head[start:] + b"\x00" * n)[:n]
        view[: len(chunk)] = chunk
        self.served += len(chunk)
        return len(chunk)


def test_reading_is_bounded_by_the_header(files) -> None:
    """A file is read exactly as far as its header announces (one byte more tells a longer file), and a header
    announcing more than Limits.max_file_bytes is refused before the payload is read."""
    data = files["RGB"].read_bytes()
    stream = EndlessSaecStream(data)
    with pytest.raises(saecodec.FormatError):  # longer than announced
        sp.open(stream)
    assert stream.served <= len(data) + 1 + (1 << 16)  # stopped at the announced end, not at the stream's
    tight = saecodec.Limits(max_file_bytes=len(data) - 1)
    stream = EndlessSaecStream(data)
    with pytest.raises(saecodec.LimitExceededError):
        sp.open(stream, limits=tight)
    header_end = 14 + int.from_bytes(data[10:14], "big")
    assert stream.served <= header_end + 32 + (1 << 16)  # the payload was never read
    with pytest.raises(saecodec.LimitExceededError):  # a 16x24 image is over 64 pixels: refused by size
        sp.open(files["RGB"], limits=saecodec.Limits(max_pixels=64, max_alpha_bytes=0))
    assert sp.max_file_bytes() == saecodec.Limits().max_file_bytes


# --- saving ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_save_round_trips_every_mode(tmp_path, key, mode) -> None:
    sp.set_key(key)
    path = tmp_path / f"out-{mode}.saec"
    Image.fromarray(pixels_of(mode)).save(path, quality=90)
    assert saecodec.inspect(path).image.mode == mode
    with Image.open(path) as image:
        assert image.mode == mode
        np.testing.assert_array_equal(np.asarray(image), saecodec.decode(path, key))
    if mode in ("LA", "RGBA"):
        np.testing.assert_array_equal(saecodec.decode(path, key)[:, :, -1], pixels_of(mode)[:, :, -1])


def test_save_passes_codec_options(tmp_path, key, other_key) -> None:
    image = Image.fromarray(pixels_of("RGB"))
    path = tmp_path / "o.saec"
    image.save(path, key=other_key, quality=60, chroma="420", cipher="logistic")
    header = saecodec.inspect(path)
    assert (header.profile, header.model.chroma, header.crypto.cipher) == ("rd", "420", "logistic")
    assert saecodec.decode(path, other_key).shape == (H, W, 3)
    with pytest.raises(saecodec.AuthenticationError):
        saecodec.decode(path, key)
    # the key given to save() is not left anywhere on the image, even when the save failed
    with pytest.raises(saecodec.InputError):
        image.save(tmp_path / "f.saec", key=other_key, quality=500)
    assert all(value is not other_key for value in vars(image).values())
    assert all(other_key not in attr.values() for attr in vars(image).values() if isinstance(attr, dict))

    image.save(tmp_path / "p.saec", key=key, level=2)
    assert saecodec.inspect(tmp_path / "p.saec").profile == "paper"
    image.save(tmp_path / "b.saec", key=key, target_bpp=12.0)  # a tiny image: the header is most of the file
    assert 8 * (tmp_path / "b.saec").stat().st_size / (H * W) <= 12.0
    image.save(tmp_path / "s.saec", key=key, target_psnr=30.0, profile="rd")
    assert saecodec.decode(tmp_path / "s.saec", key).shape == (H, W, 3)

    buffer = io.BytesIO()
    image.save(buffer, format="SAEC", key=key)
    assert saecodec.decode(buffer.getvalue(), key).shape == (H, W, 3)


def test_save_with_key_id(tmp_path, key, monkeypatch) -> None:
    saecodec.save_key(key, tmp_path / "alice.key")
    monkeypatch.setenv(keyring.KEYRING_ENV, str(tmp_path))
    Image.fromarray(pixels_of("L")).save(tmp_path / "k.saec", key_id="alice")
    assert saecodec.decode(tmp_path / "k.saec", key).shape == (H, W)


def test_save_refuses_unknown_options_and_bad_modes(tmp_path, key) -> None:
    sp.set_key(key)
    path = tmp_path / "bad.saec"
    with pytest.raises(saecodec.InputError, match="'qualty'"):
        Image.fromarray(pixels_of("RGB")).save(path, qualty=50)
    assert not path.exists()  # Pillow removes the file it created
    with pytest.raises(saecodec.InputError):
        Image.fromarray(pixels_of("RGB")).save(path, quality=50, level=2)  # rd and paper options mixed
    for image in (Image.new("I;16", (W, H)), Image.new("F", (W, H)), Image.new("CMYK", (W, H))):
        with pytest.raises(saecodec.InputError, match="not supported"):
            image.save(path)
    assert not path.exists()
    Image.new("P", (W, H)).save(path)  # palette images are converted, as saecodec.encode does
    assert saecodec.inspect(path).image.mode == "RGB"


def test_save_without_a_key_is_a_key_file_error(tmp_path) -> None:
    with pytest.raises(saecodec.KeyFileError, match="SAEC_KEY_FILE"):
        Image.fromarray(pixels_of("RGB")).save(tmp_path / "nokey.saec")
    assert not (tmp_path / "nokey.saec").exists()


# --- associated data -------------------------------------------------------------------------------------------

def test_context_binds_a_file_only_when_asked(tmp_path, key) -> None:
    sp.set_key(key)
    path = tmp_path / "bound.saec"
    Image.fromarray(pixels_of("RGB")).save(path, context="records/42")
    expected = saecodec.decode(path, key, context="records/42")
    with Image.open(path) as image:
        assert image.info["saec_context_bound"] is True
        with pytest.raises(saecodec.AuthenticationError):
            image.load()
        assert not is_loaded(image)
    with sp.open(path, context=b"records/42") as image:
        np.testing.assert_array_equal(np.asarray(image), expected)
    with sp.open(path, context="records/43") as image, pytest.raises(saecodec.AuthenticationError):
        image.load()
    sp.set_context("records/42")
    with Image.open(path) as image:
        np.testing.assert_array_equal(np.asarray(image), expected)
    with sp.open(path, context=None) as image, pytest.raises(saecodec.AuthenticationError):
        image.load()  # an explicit None means "no context", whatever set_context said
    renamed = path.rename(tmp_path / "anything-else.saec")  # the name is not bound
    with Image.open(renamed) as image:
        np.testing.assert_array_equal(np.asarray(image), expected)
    with pytest.raises(saecodec.InputError):
        sp.set_context(42)


# --- imageio -------------------------------------------------------------------------------------------------

def test_imageio_reads_and_writes_through_pillow(files, tmp_path, key) -> None:
    sp.set_key(key)
    for mode in MODES:
        np.testing.assert_array_equal(iio.imread(files[mode]), saecodec.decode(files[mode], key))
    assert iio.improps(files["RGBA"]).shape == (H, W, 4)
    np.testing.assert_array_equal(iio.imread(files["L"].read_bytes()), saecodec.decode(files["L"], key))
    out = tmp_path / "written.saec"
    iio.imwrite(out, pixels_of("RGB"), quality=50)
    assert saecodec.inspect(out).image.mode == "RGB"
    np.testing.assert_array_equal(iio.imread(out), saecodec.decode(out, key))


# --- metadata ---------------------------------------------------------------------------------------------

def test_metadata_survives_jpeg_to_saec_to_jpeg_through_pillow(tmp_path, key) -> None:
    """A photograph's EXIF and colour profile, converted by Pillow alone, arrive in the output file."""
    exif = Image.Exif()
    exif[0x0112] = 3
    exif[0x010E] = "described"
    source = tmp_path / "photo.jpg"
    Image.fromarray(pixels_of("RGB")).save(source, exif=exif.tobytes(), icc_profile=b"icc" * 50)
    sp.set_key(key)
    with Image.open(source) as photo:
        photo.save(tmp_path / "photo.saec", quality=80)
    with Image.open(tmp_path / "photo.saec") as opened:
        assert "exif" not in opened.info  # encrypted: not there before the key opens the file
        opened.load()
        assert opened.info["icc_profile"] == b"icc" * 50
        opened.save(tmp_path / "back.jpg", exif=opened.info["exif"], icc_profile=opened.info["icc_profile"])
    with Image.open(tmp_path / "back.jpg") as back:
        assert back.getexif()[0x010E] == "described" and back.getexif()[0x0112] == 3
        assert back.info["icc_profile"] == b"icc" * 50
    with Image.open(source) as photo:
        photo.save(tmp_path / "stripped.saec", strip_metadata=True)
    assert not saecodec.inspect(tmp_path / "stripped.saec").has_metadata
