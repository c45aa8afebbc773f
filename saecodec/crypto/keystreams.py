"""The cipher suites: XOR of the payload with a keystream derived from the file's encryption key.

``chacha20`` (default) is ChaCha20 from ``cryptography``. ``logistic`` is the paper's chaotic logistic map,
seeded from HKDF output rather than from the image; it has published known-plaintext attacks and is kept for
reproducing the paper, not for secrecy.
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from ..errors import UnsupportedFeatureError
from ..kernels.logistic import BYTES_PER_CHUNK, LANES, logistic_fill

__all__ = ["keystream", "apply_keystream", "logistic_lane_seeds", "LOGISTIC_CHUNK_LABEL"]

LOGISTIC_CHUNK_LABEL = b"saec v1 logistic chunk "
_CHACHA_NONCE = bytes(16)  # 32-bit block counter 0 and 96-bit nonce 0: the key is unique per file


def logistic_lane_seeds(encryption_key: bytes, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """x0 and r of every lane of one 4 MiB chunk, from HKDF-Expand(key, label || chunk as u64 BE).

    x0 = ((a >> 11) | 1) * 2**-53 lies in (0, 1); r = 4 - ((b >> 23) + 1) * 2**-51 lies in [4 - 2**-10, 4):
    both exact in binary64, r in the fully chaotic end of the map where periodic windows are vanishingly narrow.
    """
    info = LOGISTIC_CHUNK_LABEL + chunk.to_bytes(8, "big")
    material = HKDFExpand(algorithm=hashes.SHA256(), length=16 * LANES, info=info).derive(encryption_key)
    x0 = np.empty(LANES, dtype=np.float64)
    r = np.empty(LANES, dtype=np.float64)
    for lane in range(LANES):
        a = int.from_bytes(material[16 * lane : 16 * lane + 8], "big")
        b = int.from_bytes(material[16 * lane + 8 : 16 * lane + 16], "big")
        x0[lane] = ((a >> 11) | 1) * 2.0**-53
        r[lane] = 4.0 - ((b >> 23) + 1) * 2.0**-51
    return x0, r


def _logistic_keystream(encryption_key: bytes, length: int) -> np.ndarray:
    chunks = max(1, -(-length // BYTES_PER_CHUNK))
    x0 = np.empty((chunks, LANES), dtype=np.float64)
    r = np.empty((chunks, LANES), dtype=np.float64)
    for c in range(chunks):
        x0[c], r[c] = logistic_lane_seeds(encryption_key, c)
    return logistic_fill(x0, r, length)


def _chacha20_keystream(encryption_key: bytes, length: int) -> np.ndarray:
    encryptor = Cipher(algorithms.ChaCha20(encryption_key, _CHACHA_NONCE), mode=None).encryptor()
    return np.frombuffer(encryptor.update(bytes(length)), dtype=np.uint8)


_SUITES = {"chacha20": _chacha20_keystream, "logistic": _logistic_keystream}


def keystream(cipher: str, encryption_key: bytes, length: int) -> np.ndarray:
    """The first ``length`` bytes of the suite's keystream, as uint8."""
    try:
        generate = _SUITES[cipher]
    except KeyError:
        raise UnsupportedFeatureError(f"unsupported cipher suite {cipher!r}") from None
    return generate(encryption_key, length)


def apply_keystream(cipher: str, encryption_key: bytes, data: bytes | memoryview) -> bytes:
    """Encrypt or decrypt (XOR is its own inverse)."""
    plain = np.frombuffer(data, dtype=np.uint8)
    return np.bitwise_xor(plain, keystream(cipher, encryption_key, plain.size)).tobytes()
