"""Charts drawn on the server as inline SVG: bar rows and month columns, no script, no build step.

The functions lay out shapes in a 360-unit-wide view box (a phone's width); the page template
draws them, so every label is escaped like any other text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTH = 360
NOTE = 44  # room right of the bars for their figure
BAR = 12
GAP = 3
ROW_GAP = 9
LINE = 14


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    css: str
    title: str


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "start"
    css: str = ""


@dataclass
class Chart:
    name: str
    title: str
    height: float = 0
    width: int = WIDTH
    rects: list[Rect] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css class, label)


@dataclass(frozen=True)
class Segment:
    share: float  # 0..1 of the bar's full width
    css: str
    title: str


@dataclass(frozen=True)
class Stack:
    """One bar: segments left to right, and the figure written after it."""

    segments: tuple[Segment, ...]
    note: str


def bar_rows(name: str, title: str, rows: list[tuple[str, list[Stack]]], legend: list[tuple[str, str]],
             *, label_width: float = 0) -> Chart:
    """Horizontal bars, one row per label (a class, a meeting type); several bars per row allowed.

    With ``label_width`` the label sits left of its bars (short names); otherwise above them.
    """
    chart = Chart(name, title, legend=legend)
    left = label_width
    span = WIDTH - left - NOTE
    y = 0.0
    for label, stacks in rows:
        if label_width:
            block = len(stacks) * (BAR + GAP) - GAP
            chart.texts.append(Text(0, y + block / 2 + 4, label, css="label"))
        else:
            chart.texts.append(Text(0, y + 11, label, css="label"))
            y += LINE
        for stack in stacks:
            x = left
            chart.rects.append(Rect(left, y, span, BAR, "track", ""))
            for segment in stack.segments:
                width = max(0.0, min(1.0, segment.share)) * span
                if width > 0:
                    chart.rects.append(Rect(round(x, 1), y, round(width, 1), BAR, segment.css, segment.title))
                x += width
            chart.texts.append(Text(WIDTH, y + BAR - 2, stack.note, anchor="end", css="note"))
            y += BAR + GAP
        y += ROW_GAP - GAP
    chart.height = max(y, 1)
    return chart


def columns(name: str, title: str, points: list[tuple[str, float | None, str]], css: str,
            legend: list[tuple[str, str]]) -> Chart:
    """Vertical columns of a share (0..1) per period, e.g. attendance per month; None: no data."""
    chart = Chart(name, title, legend=legend)
    top, plot, bottom = 14.0, 110.0, 16.0
    step = WIDTH / max(len(points), 1)
    chart.rects.append(Rect(0, top + plot, WIDTH, 1, "axis", ""))
    for index, (label, share, tip) in enumerate(points):
        x = index * step
        middle = round(x + step / 2, 1)
        chart.texts.append(Text(middle, top + plot + bottom - 3, label, anchor="middle", css="label small"))
        if share is None:
            continue
        height = max(0.0, min(1.0, share)) * plot
        chart.rects.append(Rect(round(x + step * 0.18, 1), round(top + plot - height, 1), round(step * 0.64, 1),
                                round(max(height, 1.0), 1), css, tip))
        chart.texts.append(Text(middle, round(top + plot - height - 3, 1), f"{round(share * 100)}%",
                                anchor="middle", css="note small"))
    chart.height = top + plot + bottom
    return chart
