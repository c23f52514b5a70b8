"""The Markdown tables the benchmark scripts print (and docs/benchmarks.md records)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def markdown_table(rows: Sequence[Sequence[str]], right_aligned: Iterable[int] = ()) -> str:
    """Rows as a Markdown table; the first row is the header.

    Columns whose index is in ``right_aligned`` (negative indices count from the end) are padded on the
    left and marked ``---:``; the others are padded on the right.
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {index % len(widths) for index in right_aligned}

    def line(cells: Sequence[str]) -> str:
        padded = [cell.rjust(width) if i in right else cell.ljust(width)
                  for i, (cell, width) in enumerate(zip(cells, widths, strict=True))]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (width + 1) + ":" if i in right else "-" * (width + 2)
                          for i, width in enumerate(widths)) + "|"
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])
