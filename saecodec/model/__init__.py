"""The stacked auto-encoder: training (``sae``) and the small reference decoder files are decoded with (``decode``)."""
