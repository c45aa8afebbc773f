"""Synthetic latent grids, their zeroth-order entropy, and a compression / speed benchmark of the coder.

    python -m saecodec.entropy.bench [--repeats N] [--images DIR]

The synthetic grids model quantised latents: unit u of a block is Laplacian with scale
``scale0 * exp(-u / decay) * f(block)``, where ``f = exp(sigma * g)`` and ``g`` is a smooth, unit-variance
Gaussian random field over the block grid (so activity is spatially correlated and shared by all units of a
block), rounded to integers. The baseline is the per-unit histogram ("zeroth-order") entropy of the same
symbols. With ``--images`` the benchmark also codes JPEG-like quantised DCT coefficients of real photographs
(Y, Cb, Cr at 4:2:0, zigzag order): a realistic grid of signed coefficients of decreasing variance.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from .rangecoder import MAX_MAGNITUDE, decode_grid, encode_grid

__all__ = ["smooth_field", "laplacian_grid", "zeroth_order_entropy_bits", "dct_grids", "main"]


def smooth_field(rng: np.random.Generator, height: int, width: int, corr: float = 4.0) -> np.ndarray:
    """A (height, width) Gaussian random field with correlation length ~corr blocks, mean 0, std 1."""
    if height * width == 0:
        return np.zeros((height, width))
    g = rng.standard_normal((height, width))
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    filt = np.exp(-0.5 * (fy**2 + fx**2) * (2 * np.pi * corr) ** 2)
    s = np.real(np.fft.ifft2(np.fft.fft2(g) * filt))
    return (s - s.mean()) / (s.std() + 1e-12)


def laplacian_grid(seed: int, planes: int, blocks_high: int, blocks_wide: int, units: int = 64,
                   scale0: float = 20.0, decay: float = 10.0, sigma: float = 0.8, corr: float = 4.0,
                   plane_gain: float = 0.5) -> np.ndarray:
    """An int32 (planes, blocks_high * blocks_wide, units) grid of rounded, spatially modulated Laplacians.

    Planes after the first have their scale multiplied by ``plane_gain`` (chroma). ``sigma = 0`` gives
    independent, identically distributed blocks.
    """
    rng = np.random.default_rng(seed)
    unit_scale = scale0 * np.exp(-np.arange(units) / decay)
    out = np.empty((planes, blocks_high * blocks_wide, units), dtype=np.int32)
    for p in range(planes):
        f = np.exp(sigma * smooth_field(rng, blocks_high, blocks_wide, corr)).reshape(-1)
        scale = f[:, None] * unit_scale[None, :] * (1.0 if p == 0 else plane_gain)
        x = rng.laplace(0.0, 1.0, (blocks_high * blocks_wide, units)) * scale
        out[p] = np.clip(np.round(x), -MAX_MAGNITUDE, MAX_MAGNITUDE)
    return out


def zeroth_order_entropy_bits(grid: np.ndarray) -> float:
    """Sum over units u of N_u * H(histogram of unit u over all planes and blocks), in bits."""
    flat = np.asarray(grid).reshape(-1, grid.shape[-1]) if grid.size else np.zeros((0, 0))
    total = 0.0
    for u in range(flat.shape[1]):
        _, counts = np.unique(flat[:, u], return_counts=True)
        total -= float((counts * np.log2(counts / counts.sum())).sum())
    return total


def dct_grids(path: str | Path, quant_scale: float = 1.0) -> list[tuple[np.ndarray, int]]:
    """A photograph as JPEG-like coefficients: [(Y grid (1, B, 64), bw), (CbCr grid (2, B/4, 64), bw/2)]."""
    from PIL import Image

    img = np.asarray(Image.open(path).convert("RGB")).astype(np.float64)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128

    def subsample(a: np.ndarray) -> np.ndarray:
        h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
        return a[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    q_luma = np.array([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57,
                       69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64,
                       81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
                      dtype=np.float64).reshape(8, 8)
    q_chroma = np.full((8, 8), 99.0)
    q_chroma[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]
    k = np.arange(8)
    dct = np.sqrt(2 / 8) * np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / 16)
    dct[0] /= np.sqrt(2)
    zigzag = sorted(((i, j) for i in range(8) for j in range(8)),
                    key=lambda t: (t[0] + t[1], t[0] if (t[0] + t[1]) % 2 else t[1]))
    order = np.array([i * 8 + j for i, j in zigzag])

    def blocks(a: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, int]:
        h, w = a.shape[0] // 8 * 8, a.shape[1] // 8 * 8
        bl = (a[:h, :w] - 128).reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
        c = np.einsum("ij,abjk,lk->abil", dct, bl, dct) / (q * quant_scale)
        return np.round(c).reshape(-1, 64)[:, order].astype(np.int32), w // 8

    luma, bw_luma = blocks(y, q_luma)
    cb_b, bw_chroma = blocks(subsample(cb), q_chroma)
    cr_b, _ = blocks(subsample(cr), q_chroma)
    return [(luma[None], bw_luma), (np.stack([cb_b, cr_b]), bw_chroma)]


def _best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--images", type=Path, default=None, help="directory of photographs (*.png)")
    args = parser.parse_args(argv)

    # 512x512 at 4:2:0: a 64x64-block luma grid and two 32x32-block chroma planes, 64 units a block.
    sets: dict[str, list[tuple[np.ndarray, int]]] = {}
    for label, kw in [("laplace", {}), ("laplace small scale (4)", {"scale0": 4.0, "decay": 12.0}),
                      ("laplace large scale (100)", {"scale0": 100.0, "decay": 8.0}),
                      ("laplace strong modulation", {"sigma": 1.2}),
                      ("laplace i.i.d. blocks", {"sigma": 0.0})]:
        sets[label] = [pair for seed in range(2) for pair in
                       [(laplacian_grid(2 * seed, 1, 64, 64, **kw), 64),
                        (laplacian_grid(2 * seed + 1, 2, 32, 32, **kw), 32)]]
    if args.images is not None:
        for qs in (0.5, 1.0, 2.0):
            sets[f"photo DCT q x{qs}"] = [pair for path in sorted(args.images.glob("*.png"))
                                          for pair in dct_grids(path, qs)]

    encode_grid(np.zeros((1, 1, 1), np.int32), 1)  # compile / load the kernels
    print(f"{'data':28s} {'coefs':>9s} {'H0 b/c':>8s} {'coded b/c':>9s} {'ratio':>7s}")
    for label, pairs in sets.items():
        n = sum(g.size for g, _ in pairs)
        h0 = sum(zeroth_order_entropy_bits(g) for g, _ in pairs)
        coded = 0
        for g, bw in pairs:
            data = encode_grid(g, bw)
            if not np.array_equal(decode_grid(data, g.shape, bw), g):
                raise AssertionError("round trip failed")
            coded += 8 * len(data)
        print(f"{label:28s} {n:9d} {h0 / n:8.4f} {coded / n:9.4f} {coded / h0:7.4f}")

    print()
    print("speed, one thread, best of", args.repeats)
    for label, pairs in list(sets.items())[:1] + list(sets.items())[-1:]:
        pairs = pairs[:2]  # one 512x512 4:2:0 image
        n = sum(g.size for g, _ in pairs)
        blobs = [encode_grid(g, bw) for g, bw in pairs]
        te = _best_time(lambda: [encode_grid(g, bw) for g, bw in pairs], args.repeats)
        td = _best_time(lambda: [decode_grid(d, g.shape, bw) for d, (g, bw) in zip(blobs, pairs)], args.repeats)
        print(f"{label:28s} {n} coefs: encode {te * 1e3:6.2f} ms ({n / te / 1e6:5.1f} M/s), "
              f"decode {td * 1e3:6.2f} ms ({n / td / 1e6:5.1f} M/s)")


if __name__ == "__main__":
    main()
