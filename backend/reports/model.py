"""The shape every report shares, so one set of renderers (JSON, CSV, XLSX, PDF) serves all.

A report is a title, a few header facts, one or more sections (each a table with typed
columns and an optional totals row), notes, and charts drawn on demand. Money stays integer
fen in the data; only the renderers for people (PDF, XLSX display format) show yuan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# column kinds: text | int | fen | rate (a fraction 0..1, or None when unknown)
KINDS = ("text", "int", "fen", "rate")


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # Chinese first, English after a slash: what county staff read
    kind: str = "text"
    width: float = 1.0  # relative width on paper


@dataclass
class Section:
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] | None = None

    def total_of(self, key: str) -> int:
        return sum(int(r.get(key) or 0) for r in self.rows)


@dataclass
class Chart:
    name: str  # file stem, e.g. coverage-trend
    title: str
    draw: Callable[[], bytes]  # PNG bytes; drawn only when a renderer needs it


@dataclass
class Report:
    kind: str  # monthly-statement | fund | coverage | publicity | certification
    title: str
    facts: list[tuple[str, str]] = field(default_factory=list)  # (label, value) under the title
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)  # figures for scripts (--json)
    landscape: bool = False

    def section(self, title_prefix: str) -> Section:
        for s in self.sections:
            if s.title.startswith(title_prefix):
                return s
        raise KeyError(title_prefix)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "facts": [{"label": k, "value": v} for k, v in self.facts],
            "summary": self.summary,
            "sections": [
                {
                    "title": s.title,
                    "columns": [
                        {"key": c.key, "label": c.label, "kind": c.kind} for c in s.columns
                    ],
                    "rows": s.rows,
                    "totals": s.totals,
                }
                for s in self.sections
            ],
            "notes": self.notes,
            "charts": [{"name": c.name, "title": c.title} for c in self.charts],
        }
