"""Server-rendered charts as SVG geometry: a line chart of daily values and a sparkline.

The templates (crm_segments/charts/_line.html, _sparkline.html) draw the geometry with a title, a
description and a table of the same numbers, so no chart library or script is needed and every
value stays readable to a screen reader. One point per day: values measured several times in a
day are reduced to one before they get here, so a day never draws as a vertical jump.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 26
SPARK_WIDTH, SPARK_HEIGHT, SPARK_PAD = 120, 28, 3


@dataclass(frozen=True)
class Series:
    label: str
    key: str  # CSS class suffix: series-<key> sets its colour
    values: Sequence[int]


@dataclass(frozen=True)
class Line:
    label: str
    key: str
    points: str  # the polyline's "x,y x,y ..."
    dots: list[tuple[float, float, int]]  # (x, y, value) per day, for single days and hover titles
    total: int


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    days: list[dt.date]
    lines: list[Line]
    top: int  # the value at the top of the y axis
    y_top: float
    y_low: float
    x_left: float
    x_right: float
    ticks: list[tuple[float, dt.date]]  # x positions of the dated labels
    low: int  # the value at the bottom of the y axis

    def rows(self) -> list[tuple[dt.date, list[int]]]:
        """The table fallback: one row per day with each series' value."""
        return [(day, [line.dots[i][2] for line in self.lines]) for i, day in enumerate(self.days)]


def nice_top(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 2, 5 times a power of ten)."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def line_chart(days: Sequence[dt.date], series: Sequence[Series], *, zero_based: bool = True,
               width: int = WIDTH, height: int = HEIGHT) -> LineChart | None:
    """A chart of ``series`` (one value per day in ``days``); None when there are no days."""
    if not days:
        return None
    highest = max((max(s.values, default=0) for s in series), default=0)
    lowest = min((min(s.values, default=0) for s in series), default=0)
    # Sizes far from zero would draw as a flat line on a zero-based axis: the axis then runs from
    # the lowest to the highest value.
    low = 0 if zero_based or lowest < highest / 2 else lowest
    top = nice_top(highest) if low == 0 else highest
    span = (top - low) or 1
    x_left, x_right = float(LEFT), float(width - RIGHT)
    y_top, y_zero = float(TOP), float(height - BOTTOM)
    count = len(days)

    def x(index: int) -> float:
        if count == 1:
            return round((x_left + x_right) / 2, 1)
        return round(x_left + index * (x_right - x_left) / (count - 1), 1)

    def y(value: int) -> float:
        return round(y_zero - (value - low) / span * (y_zero - y_top), 1)

    lines = []
    for s in series:
        dots = [(x(i), y(v), v) for i, v in enumerate(s.values)]
        lines.append(Line(s.label, s.key, " ".join(f"{px},{py}" for px, py, _ in dots), dots, sum(s.values)))
    tick_indexes = sorted({0, count // 2, count - 1}) if count > 2 else list(range(count))
    return LineChart(width, height, list(days), lines, top, y_top, y(low), x_left, x_right,
                     [(x(i), days[i]) for i in tick_indexes], low)


@dataclass(frozen=True)
class Sparkline:
    width: int
    height: int
    points: str
    last: tuple[float, float]
    first_value: int
    last_value: int
    days: int

    @property
    def change(self) -> int:
        return self.last_value - self.first_value


def sparkline(values: Sequence[int]) -> Sparkline | None:
    """A small trend line of daily values (oldest first); None without values."""
    if not values:
        return None
    low, high = min(values), max(values)
    span = (high - low) or 1
    inner_w, inner_h = SPARK_WIDTH - 2 * SPARK_PAD, SPARK_HEIGHT - 2 * SPARK_PAD
    count = len(values)
    coords = [
        (round(SPARK_PAD + (i / (count - 1) if count > 1 else 0.5) * inner_w, 1),
         round(SPARK_PAD + inner_h - ((v - low) / span if high != low else 0.5) * inner_h, 1))
        for i, v in enumerate(values)
    ]
    return Sparkline(SPARK_WIDTH, SPARK_HEIGHT, " ".join(f"{px},{py}" for px, py in coords), coords[-1],
                     values[0], values[-1], count)
