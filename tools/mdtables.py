"""Markdown output shared by the tools: tables and number cells, so every report is formatted alike."""

from __future__ import annotations

import math
from typing import Sequence

__all__ = ["table", "fmt"]


def table(head: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> str:
    """A Markdown table; ``align`` is one letter per column (l or r), default: first left, the rest right."""
    align = align or "l" + "r" * (len(head) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float | None, digits: int = 2, signed: bool = False, missing: str = "—") -> str:
    """Number for a table cell; ``missing`` when there is none, 'inf' for a lossless PSNR."""
    if value is None:
        return missing
    if math.isinf(value):
        return "inf"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
