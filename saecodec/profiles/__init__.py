"""Coding profiles: ``paper`` (the paper's SAE, format 1.0) and ``rd`` (rate-distortion, format 1.1)."""
