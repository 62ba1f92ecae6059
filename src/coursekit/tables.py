"""A small text table that prints in a terminal and renders as Markdown in Jupyter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coursekit import validate


@dataclass
class Table:
    """Rows of cells under a header; `str()` aligns them, Jupyter shows them as Markdown."""

    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    note: str = ""

    def __post_init__(self) -> None:
        # A string is a sequence too: refuse it rather than make one column per letter.
        if isinstance(self.header, str) or not isinstance(self.header, Sequence) or not self.header:
            raise validate.WrongType(
                f"header must be a non-empty list of column names, got {validate.show(self.header)}"
            )
        if isinstance(self.rows, str) or not isinstance(self.rows, Sequence):
            raise validate.WrongType(f"rows must be a list of rows (lists of cells), got {validate.show(self.rows)}")
        for number, row in enumerate(self.rows, 1):
            if isinstance(row, str) or not isinstance(row, Sequence) or len(row) != len(self.header):
                raise ValueError(
                    f"row {number} must be a list of {len(self.header)} cells, one per column "
                    f"({', '.join(map(str, self.header))}), got {validate.show(row)}"
                )
        if not isinstance(self.note, str):
            raise validate.WrongType(
                f"note must be a string, got {validate.show(self.note)} ({validate.a_type(self.note)})"
            )

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
