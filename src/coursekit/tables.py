"""A small text table that prints in a terminal and renders as Markdown in Jupyter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Table:
    """Rows of cells under a header; `str()` aligns them, Jupyter shows them as Markdown."""

    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    note: str = ""

    def __str__(self) -> str:
        cells = [list(map(str, self.header))] + [list(map(str, r)) for r in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines + ([self.note] if self.note else []))

    def _repr_markdown_(self) -> str:
        head = "| " + " | ".join(map(str, self.header)) + " |"
        rule = "|" + "---|" * len(self.header)
        body = ["| " + " | ".join(map(str, r)) + " |" for r in self.rows]
        return "\n".join([head, rule, *body] + (["", self.note] if self.note else []))
