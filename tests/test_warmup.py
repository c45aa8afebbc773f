"""The compile notice (saecodec.warmup) and one compiled specialisation per kernel.

The notice tests compile only the logistic keystream kernel, in subprocesses with their own empty
NUMBA_CACHE_DIR (about a second each), so they stay cheap whatever the rest of the cache holds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from saecodec.warmup import MESSAGE

ROOT = Path(__file__).resolve().parent.parent

_LOGISTIC = """
import numpy as np
from saecodec.kernels.logistic import logistic_fill
logistic_fill(np.full((1, 16), 0.3), np.full((1, 16), 3.99), 64)
"""


def _run(code: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def test_notice_once_on_a_cold_cache_and_never_on_a_warm_one(tmp_path):
    code = textwrap.dedent("""
        import sys
        from saecodec.warmup import announce_compiles
        announce_compiles()
        assert "numba" not in sys.modules  # asking for the notice imports nothing heavy
        """) + _LOGISTIC + textwrap.dedent("""
        from saecodec.kernels.logistic import _fill_chunks
        assert len(_fill_chunks.overloads) == 1
        """)
    cold = _run(code, tmp_path)
    assert cold.stderr == MESSAGE + "\n"  # once, although two kernels (_fill_chunks, _fill_chunk) compiled
    warm = _run(code, tmp_path)
    assert warm.stderr == ""


def test_notice_is_silent_when_quiet_or_not_asked_for(tmp_path):
    quiet = _run("from saecodec.warmup import announce_compiles\nannounce_compiles(quiet=True)\n" + _LOGISTIC,
                 tmp_path / "a")
    assert quiet.stderr == ""
    library = _run(_LOGISTIC, tmp_path / "b")  # the library alone never prints
    assert library.stderr == ""


def test_hook_registered_after_numba_is_imported_and_exceptions_are_ignored(tmp_path):
    code = """
    import numpy as np
    from saecodec.kernels.logistic import logistic_fill  # Numba imported, nothing compiled yet
    from saecodec.warmup import on_first_compile
    calls = []
    on_first_compile(lambda: calls.append(1))
    def broken():
        raise RuntimeError("a hook that fails")
    on_first_compile(broken)
    logistic_fill(np.full((1, 16), 0.3), np.full((1, 16), 3.99), 64)
    logistic_fill(np.full((2, 16), 0.3), np.full((2, 16), 3.99), 64)
    print(len(calls))
    """
    result = _run(code, tmp_path)
    assert result.stdout.strip() == "1" and result.stderr == ""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_workers_share_the_once(tmp_path):
    """saec --workers N forks after the CLI asked for the notice: N cold workers print it once between them."""
    import multiprocessing

    try:
        multiprocessing.Value("b", 0)
    except OSError:  # pragma: no cover - no POSIX semaphores: "once" is per process there (documented)
        pytest.skip("no shared semaphores on this system")
    code = textwrap.dedent("""
        import multiprocessing
        from saecodec.warmup import announce_compiles
        announce_compiles()

        def work(_):
        """) + textwrap.indent(_LOGISTIC, "    ") + textwrap.dedent("""
            return 0

        if __name__ == "__main__":
            with multiprocessing.get_context("fork").Pool(2) as pool:
                pool.map(work, range(2), chunksize=1)
        """)
    result = _run(code, tmp_path)
    assert result.stderr.count(MESSAGE) == 1


def test_each_kernel_has_one_specialisation_after_typical_work():
    """Encode and decode with both profiles, both ciphers, every rd colour path (4:4:4, 4:2:0, grey, a width
    that is not a multiple of 8, a quality target) and the metrics: every kernel that ran was compiled once, or
    once per float type for the paper profile's training kernels (float32 Adam, float64 fits). A second
    specialisation (C- vs A-contiguous, read-only, int32 vs int64, a literal argument) is compile time that
    every fresh install pays again."""
    code = """
    import numpy as np
    import saecodec
    from numba.core.registry import CPUDispatcher
    import saecodec.kernels.sae as sae
    from saecodec.metrics import mse, psnr

    key = saecodec.generate_key()
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (21, 37, 3), dtype=np.uint8)
    for options in ({}, {"chroma": "420"}, {"chroma": "444"}, {"target_psnr": 30.0}, {"cipher": "logistic"},
                    {"profile": "paper"}):
        for image in (rgb, rgb[:, :, 0], rgb[:16, :24]):
            data = saecodec.encode(image, key, **options)
            out = saecodec.decode(data, key)
            psnr(image, out)
            mse(image.astype(np.float64), out)
    ro = rgb.copy()
    ro.flags.writeable = False
    psnr(ro, rgb)
    counts = {}
    for name, module in list(__import__("sys").modules.items()):
        if name.startswith("saecodec"):
            for attr, obj in vars(module).items():
                if isinstance(obj, CPUDispatcher) and obj.__module__ == name and obj.overloads:
                    counts[name + "." + attr] = len(obj.overloads)
    print(counts)
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=1200, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    counts = eval(result.stdout.strip().splitlines()[-1])  # noqa: S307 - our own subprocess's dict
    assert "saecodec.entropy.rangecoder._encode_kernel" in counts and "saecodec.kernels.sae.adam_epoch" in counts
    two = {f"saecodec.kernels.sae.{name}" for name in ("_bm_gemm", "_bm_forward", "_bm_sigmoid", "_bm_grad_w",
                                                       "_bm_gather", "_mat", "_transposed")}
    extra = {name: n for name, n in counts.items() if n > (2 if name in two else 1)}
    assert extra == {}, f"kernels compiled more than once: {extra}"
