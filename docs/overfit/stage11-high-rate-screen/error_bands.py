"""Stage 11's error-by-band probe (the record of what ran): encodes a 256x384 centre crop with the shipped
`default` at one quality and the rd profile at the same rate, then splits each one's Y, Cb and Cr error into
a low band (5x5 box mean of the error) and the rest, beside the original's own energy above that band, and
prints the PSNR of the overfit point with the rd profile's chroma put in place of its own.

    NUMBA_NUM_THREADS=1 python docs/overfit/stage11-high-rate-screen/error_bands.py IMAGE QUALITY
"""
import sys
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
import saecodec  # noqa: E402
from overfit_point import load_pixels  # noqa: E402

TO_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def box(x, k):
    p = np.pad(x, ((k // 2, k // 2), (k // 2, k // 2)), mode="edge")
    return sliding_window_view(p, (k, k)).mean(axis=(-1, -2))[: x.shape[0], : x.shape[1]]


def psnr(a, b):
    e = a.astype(float) - b.astype(float)
    return 10 * np.log10(255.0**2 / np.mean(e * e))


pixels = load_pixels(Path(sys.argv[1]), "256x384")
key = saecodec.generate_key()
overfit = saecodec.encode_with_stats(pixels, key, profile="overfit", effort="default", quality=float(sys.argv[2]))
rd = saecodec.encode_with_stats(pixels, key, profile="rd", target_bpp=overfit.bpp)
orig = pixels.astype(float) @ TO_YCBCR.T
planes = {}
for name, data in (("overfit", overfit.data), ("rd", rd.data)):
    planes[name] = saecodec.decode(data, key).astype(float) @ TO_YCBCR.T
    for c, plane in enumerate(("Y", "Cb", "Cr")):
        err = planes[name][..., c] - orig[..., c]
        low = box(err, 5)
        print(f"{name} {plane}: MSE {np.mean(err**2):.3f}, low band {np.mean(low**2):.3f}, rest {np.mean((err - low)**2):.3f}")
for c, plane in enumerate(("Y", "Cb", "Cr")):
    print(f"original {plane}: energy above the low band {np.mean((orig[..., c] - box(orig[..., c], 5))**2):.3f}")
mixed = np.concatenate([planes["overfit"][..., :1], planes["rd"][..., 1:]], -1) @ np.linalg.inv(TO_YCBCR).T
print(f"overfit {overfit.bpp:.4f} bpp {psnr(saecodec.decode(overfit.data, key), pixels):.2f} dB; rd {rd.bpp:.4f} bpp "
      f"{psnr(saecodec.decode(rd.data, key), pixels):.2f} dB; overfit's Y with rd's chroma {psnr(mixed, pixels):.2f} dB")
