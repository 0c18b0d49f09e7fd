"""Tables as data: every table a page shows is also its CSV download, from the same rows."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import NamedTuple

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run these as formulas


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    numeric: bool = False
    in_csv: bool = True  # False for a page-only column (a link "Buka"): no empty column in the CSV


class Cell(NamedTuple):
    """What a cell shows, where it links, and what the CSV holds (raw numbers, ISO dates)."""

    text: str
    href: str | None = None
    csv: str | None = None
    css: str = ""


def cell(value: object, *, href: str | None = None, csv: object = None, css: str = "") -> Cell:
    return Cell("" if value is None else str(value), href, None if csv is None else str(csv), css)


SHOWN_ROWS = 200  # a page shows this many rows of a table; its CSV download has every row


@dataclass
class Table:
    name: str  # the ``table`` of its CSV download
    title: str
    columns: list[Column]
    rows: list[dict[str, Cell]] = field(default_factory=list)
    empty: str = ""
    csv_href: str = ""

    def add(self, **cells: object) -> None:
        """A row; plain values become cells."""
        self.rows.append({key: value if isinstance(value, Cell) else cell(value) for key, value in cells.items()})

    def shown(self) -> list[list[tuple[str, str | None, str]]]:
        """The rows a page draws, each cell as (text, link, CSS class) in column order."""
        blank = Cell("")
        return [[(item.text, item.href, f"{'num ' if column.numeric else ''}{item.css}".strip())
                 for column in self.columns for item in (row.get(column.key, blank),)]
                for row in self.rows[:SHOWN_ROWS]]

    @property
    def hidden(self) -> int:
        """Rows left out of the page (they are in the CSV)."""
        return max(0, len(self.rows) - SHOWN_ROWS)


def _safe(value: str) -> str:
    """A cell a spreadsheet shows as text, never runs: '=HYPERLINK(...)' from a parent stays text."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def to_csv(table: Table) -> str:
    """The table as CSV (UTF-8 with BOM, so Excel reads names with accents right)."""
    out = io.StringIO()
    writer = csv.writer(out)
    columns = [column for column in table.columns if column.in_csv]
    writer.writerow([column.label for column in columns])
    for row in table.rows:
        values = []
        for column in columns:
            item = row.get(column.key)
            value = "" if item is None else (item.csv if item.csv is not None else item.text)
            values.append(value if column.numeric else _safe(value))
        writer.writerow(values)
    return "\ufeff" + out.getvalue()
