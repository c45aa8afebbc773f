#!/usr/bin/env python3
"""Speed of the overfit profile's synthesis kernels (saecodec.kernels.synthesis) on a 768x512 image.

    python tools/bench_synthesis.py [--repeat 7] [--threads N] [--widths 16,24] [--residual 0,2]
                                    [--levels 1,1,1,1,1,1/1,1,2,2,2,2,2]

For each latent shape (``--levels``: channels per level, full resolution first; default six levels of one
channel, the shape earlier stages' numbers were measured with), each 1x1 network inputs -> w -> w -> C and each
number of residual layers:
milliseconds per decode (``synthesize``, uint8 out), per training pass (``forward_backward``) on the whole
image and on a 256x256 window, per rate proxy (``laplace_rate`` with noise and gradients; ``context_classes`` and ``class_laplace_rate``) and per Adam step
(``adam_step`` over every parameter), and the per-step total a trainer pays (pass + rate + Adam), with the
decoder's multiply-adds per pixel. Medians of --repeat runs after one warm-up (compilation is not timed);
random weights and latents (the speed does not depend on them). The machine may be shared: the other core
may be busy, so take the numbers as upper bounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numba  # noqa: E402

from saecodec.kernels import rate as R  # noqa: E402
from saecodec.kernels import synthesis as S  # noqa: E402


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def bench(width: int, residual: int, repeat: int, height: int = 512, image_width: int = 768,
          channels: int = 3, levels: tuple[int, ...] = (1,) * 6) -> dict[str, float]:
    shape = S.SynthesisShape(height, image_width, channels, levels, (width, width), residual)
    rng = np.random.default_rng(0)
    lat = rng.normal(0, 1, shape.latent_count).astype(np.float32)
    sizes = shape.layer_sizes
    parts = []
    for k in range(len(sizes) - 1):
        parts += [rng.normal(0, (2 / sizes[k]) ** 0.5, sizes[k] * sizes[k + 1]), np.full(sizes[k + 1], 0.1)]
    parts += [rng.normal(0, 0.05, 9 * channels * channels), np.zeros(channels)] * residual
    weights = np.concatenate(parts).astype(np.float32)
    target = rng.uniform(0, 1, (height, image_width, channels)).astype(np.float32)
    out = np.empty((height, image_width, channels), np.uint8)
    grad_lat = np.zeros_like(lat)
    grad_w = np.zeros_like(weights)
    log_scales = np.zeros(shape.inputs, np.float32)
    grad_ls = np.zeros_like(log_scales)
    noise = rng.uniform(-0.5, 0.5, lat.size).astype(np.float32)
    flat = np.concatenate([lat, log_scales, weights])
    gflat, m, v = np.zeros_like(flat), np.zeros_like(flat), np.zeros_like(flat)
    wy, wx = (height - 256) // 2, (image_width - 256) // 2
    r = {"macs": shape.macs_per_pixel}
    r["decode"] = median_ms(lambda: S.synthesize(shape, lat, weights, out), repeat)
    r["train_full"] = median_ms(
        lambda: S.forward_backward(shape, lat, weights, target, (0, height, 0, image_width), grad_lat, grad_w),
        repeat)
    r["train_256"] = median_ms(
        lambda: S.forward_backward(shape, lat, weights, target, (wy, wy + 256, wx, wx + 256), grad_lat, grad_w),
        repeat)
    r["rate"] = median_ms(
        lambda: R.laplace_rate(lat, noise, shape.offsets, log_scales, grad_lat, grad_ls, 1e-3), repeat)
    parents = R.context_parents(shape.level_channels)
    classes = np.empty(lat.size, np.int32)
    class_scales = np.zeros(shape.inputs * R.CONTEXT_CLASSES, np.float32)
    grad_cs = np.zeros_like(class_scales)

    def class_rate() -> None:
        R.context_classes(shape.grid_shapes, parents, lat, classes)
        R.class_laplace_rate(lat, noise, classes, class_scales, grad_lat, grad_cs, 1e-3)

    r["class_rate"] = median_ms(class_rate, repeat)
    step = [0]

    def adam() -> None:
        step[0] += 1
        S.adam_step(flat, gflat, m, v, step[0], 1e-3, zero_grad=True)

    r["adam"] = median_ms(adam, repeat)
    r["step_full"] = r["train_full"] + r["rate"] + r["adam"]
    return r


def fixed_costs(repeat: int) -> str:
    """Per-call cost that does not scale with the work: forward_backward on a 1x1 window of the 768x512 image
    (Python checks, buffer views, thread hand-offs, kernel dispatch), the rate and Adam on 100 values."""
    parts = []
    for residual in (0, 2):
        shape = S.SynthesisShape(512, 768, 3, (1,) * 6, (16, 16), residual)
        lat = np.zeros(shape.latent_count, np.float32)
        weights = np.full(shape.weight_count, 0.1, np.float32)
        target = np.zeros((512, 768, 3), np.float32)
        g_lat, g_w = np.zeros_like(lat), np.zeros_like(weights)
        us = 1e3 * min(median_ms(lambda: S.forward_backward(shape, lat, weights, target, (5, 6, 5, 6), g_lat, g_w),
                                 repeat) for _ in range(5))
        parts.append(f"forward_backward R={residual} {us:.0f} us")
    small = np.zeros(100, np.float32)
    offsets = np.array([0, 50, 100])
    us = 1e3 * median_ms(lambda: R.laplace_rate(small, small, offsets, small[:2], small.copy(), np.zeros(2, np.float32)),
                         repeat)
    parts.append(f"laplace_rate {us:.0f} us")
    us = 1e3 * median_ms(lambda: S.adam_step(small, small.copy(), small.copy(), small.copy(), 3, 1e-3), repeat)
    parts.append(f"adam_step {us:.0f} us")
    return "fixed cost per call: " + ", ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="Numba threads (0: all cores)")
    ap.add_argument("--widths", default="16,24")
    ap.add_argument("--residual", default="0,2")
    ap.add_argument("--levels", default="1,1,1,1,1,1",
                    help="latent channels per level, full resolution first; several shapes separated by /")
    args = ap.parse_args()
    shapes = [tuple(int(n) for n in text.split(",")) for text in args.levels.split("/")]
    if args.threads:
        numba.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"768x512 RGB, {numba.get_num_threads()} threads, {os.cpu_count()} cores, "
          f"load average {load:.2f} before the run; median of {args.repeat}, ms")
    print("| levels | MLP | residual | MAC/px | decode | train full | train 256x256 | rate | class rate | Adam | step full |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for levels in shapes:
        for width in (int(w) for w in args.widths.split(",")):
            for residual in (int(r) for r in args.residual.split(",")):
                r = bench(width, residual, args.repeat, levels=levels)
                print(f"| {','.join(map(str, levels))} | {sum(levels)}-{width}-{width}-3 | {residual} | {r['macs']} | "
                      f"{r['decode']:.1f} | {r['train_full']:.1f} | "
                      f"{r['train_256']:.1f} | {r['rate']:.2f} | {r['class_rate']:.2f} | {r['adam']:.2f} | "
                      f"{r['step_full']:.1f} |", flush=True)
    print("(train = forward_backward alone; class rate = context_classes + class_laplace_rate, the proxy priced by "
          "lc1's contexts; step full = train full + rate + Adam, what one whole-image training step costs in kernels)")
    print(fixed_costs(args.repeat))


if __name__ == "__main__":
    main()
