"""Block splitting and merging: any shape round-trips exactly, padding replicates edges."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from saecodec.imaging.blocks import grid_shape, merge_blocks, split_blocks

shapes = st.tuples(st.integers(1, 40), st.integers(1, 40), st.sampled_from([1, 3]))


@settings(max_examples=60, deadline=None)
@given(shapes.flatmap(lambda s: arrays(np.uint8, s)), st.sampled_from([4, 8]))
def test_split_merge_round_trip(planes, block):
    height, width, channels = planes.shape
    samples = split_blocks(planes, block)
    bh, bw = grid_shape(height, width, block)
    assert samples.shape == (channels * bh * bw, block * block)
    assert samples.min() >= 0.0 and samples.max() <= 1.0
    assert np.array_equal(merge_blocks(samples, height, width, channels, block), planes)


def test_sample_order_is_channel_then_row_then_column():
    planes = np.zeros((16, 24, 2), dtype=np.uint8)
    planes[8:16, 16:24, 1] = 255  # channel 1, block row 1, block column 2
    samples = split_blocks(planes, 8)
    hot = np.flatnonzero(samples.max(axis=1))
    assert hot.tolist() == [(1 * 2 + 1) * 3 + 2]


def test_padding_replicates_the_last_row_and_column():
    planes = np.arange(9 * 10, dtype=np.uint8).reshape(9, 10, 1)
    samples = split_blocks(planes, 8)
    bottom_left = (samples[2] * 255).round().astype(np.uint8).reshape(8, 8)  # block row 1, column 0
    assert np.all(bottom_left[1:] == bottom_left[0])
    assert np.array_equal(bottom_left[0], planes[8, :8, 0])
    right = (samples[1] * 255).round().astype(np.uint8).reshape(8, 8)
    assert np.all(right[:, 2:] == right[:, 1:2])
