"""Image input/output and the block view the auto-encoder works on."""
