"""Shared fixtures: small synthetic photographs (the suite never needs ../shared) and fixed keys."""

from __future__ import annotations

import numpy as np
import pytest

import saecodec


def synthetic_image(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients and waves with mild noise: block statistics like a photograph's."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = []
    for c in range(channels):
        phase = rng.uniform(0, 6)
        wave = 60 * np.sin(x / (5 + 3 * c) + phase) * np.cos(y / (7 + c))
        ramp = 100 * (x / max(width, 1)) + 50 * (y / max(height, 1))
        planes.append(60 + ramp + wave + rng.normal(0, 3, (height, width)))
    image = np.clip(np.stack(planes, axis=2), 0, 255).astype(np.uint8)
    return image[:, :, 0] if channels == 1 else image


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """Run ``saec`` in-process: (exit code, stdout, stderr)."""
    from saecodec.cli import main

    code = main([a if isinstance(a, str) else str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str) -> None:
    """The CLI's failure contract: exactly one line, 'saec: error: ...', never a traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("saec: error: "), err
    assert "Traceback" not in err


@pytest.fixture(scope="session")
def key() -> saecodec.SecretKey:
    return saecodec.SecretKey(bytes(range(32)))


@pytest.fixture(scope="session")
def other_key() -> saecodec.SecretKey:
    return saecodec.SecretKey(bytes(range(1, 33)))
