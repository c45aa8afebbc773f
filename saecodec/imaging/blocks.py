"""Split colour planes into 8x8 blocks (64-vectors in [0, 1]) and put them back.

Planes whose sides are not multiples of the block size are padded by edge replication; ``merge_blocks``
crops back. Sample order is [channel][block row][block column], the order of the latent grid in the file.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["grid_shape", "split_blocks", "merge_blocks"]


def grid_shape(height: int, width: int, block: int) -> tuple[int, int]:
    """(blocks_high, blocks_wide) for an image of that size."""
    return math.ceil(height / block), math.ceil(width / block)


def split_blocks(planes: np.ndarray, block: int = 8) -> np.ndarray:
    """(H, W, C) uint8 -> (C * bh * bw, block * block) float64 in [0, 1]."""
    height, width, channels = planes.shape
    bh, bw = grid_shape(height, width, block)
    padded = np.pad(planes, ((0, bh * block - height), (0, bw * block - width), (0, 0)), mode="edge")
    tiles = padded.reshape(bh, block, bw, block, channels).transpose(4, 0, 2, 1, 3)
    return tiles.reshape(channels * bh * bw, block * block).astype(np.float64) / 255.0


def merge_blocks(samples: np.ndarray, height: int, width: int, channels: int, block: int = 8) -> np.ndarray:
    """(C * bh * bw, block * block) values in [0, 1] -> (H, W, C) uint8, rounded and cropped."""
    bh, bw = grid_shape(height, width, block)
    pixels = np.clip(np.rint(samples * 255.0), 0, 255).astype(np.uint8)
    tiles = pixels.reshape(channels, bh, bw, block, block).transpose(1, 3, 2, 4, 0)
    return np.ascontiguousarray(tiles.reshape(bh * block, bw * block, channels)[:height, :width])
