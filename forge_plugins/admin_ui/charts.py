"""Horizontal bar charts drawn as inline SVG on the server: no script, no library, readable by a
screen reader (a title, a description, and each bar's label and value as text).

Layer: plugin views' helper, no I/O. `bar_chart` computes the geometry; the template macro
`chart` in `templates/admin_ui/macros.html` draws it, escaping every label.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

LABEL_WIDTH = 200
VALUE_WIDTH = 90
ROW_HEIGHT = 26
BAR_HEIGHT = 18
TOP = 8


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    shown: str
    y: float
    width: float

    @property
    def short_label(self) -> str:
        return self.label if len(self.label) <= 28 else self.label[:27] + "…"


@dataclass(frozen=True)
class BarChart:
    id: str
    title: str
    description: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    label_width: int = LABEL_WIDTH
    bar_height: int = BAR_HEIGHT


def bar_chart(
    chart_id: str,
    title: str,
    rows: Iterable[tuple[str, float]],
    unit: str = "",
    width: int = 720,
    digits: int = 0,
) -> BarChart:
    """A chart of `rows` (label, value) in the given order; bars scale to the largest value."""
    rows = list(rows)
    largest = max((value for _, value in rows), default=0) or 1
    area = width - LABEL_WIDTH - VALUE_WIDTH
    bars = tuple(
        Bar(
            label=label,
            value=value,
            shown=f"{value:,.{digits}f}{unit}",
            y=TOP + index * ROW_HEIGHT,
            width=max(round(area * value / largest, 1), 1 if value else 0),
        )
        for index, (label, value) in enumerate(rows)
    )
    described = ", ".join(f"{bar.label}: {bar.shown}" for bar in bars[:10])
    return BarChart(
        id=chart_id,
        title=title,
        description=described or "no data yet",
        width=width,
        height=TOP * 2 + max(len(bars), 1) * ROW_HEIGHT,
        bars=bars,
    )
