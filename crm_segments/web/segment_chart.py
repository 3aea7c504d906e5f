"""The size-over-time chart of a segment as inline SVG coordinates (no chart library, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crm_segments.models import SegmentSizePoint

WIDTH, HEIGHT, PAD = 640, 160, 28


def size_chart(points: Sequence[SegmentSizePoint]) -> dict[str, Any] | None:
    """Polyline points, axis labels and the first / last dates; None with fewer than two points."""
    if len(points) < 2:
        return None
    start, end = points[0].measured_at, points[-1].measured_at
    span = (end - start).total_seconds() or 1.0
    top = max(p.size for p in points)
    bottom = min(p.size for p in points)
    low = 0 if bottom > top * 0.5 or top == 0 else bottom  # zero-based unless that flattens the line
    rng = (top - low) or 1

    def x(point: SegmentSizePoint) -> float:
        return round(PAD + (point.measured_at - start).total_seconds() / span * (WIDTH - 2 * PAD), 1)

    def y(size: int) -> float:
        return round(HEIGHT - PAD - (size - low) / rng * (HEIGHT - 2 * PAD), 1)

    return {
        "width": WIDTH, "height": HEIGHT, "pad": PAD,
        "points": " ".join(f"{x(p)},{y(p.size)}" for p in points),
        "dots": [{"x": x(p), "y": y(p.size), "size": p.size, "at": p.measured_at,
                  "entered": p.entered, "exited": p.exited} for p in points[-60:]],
        "top": top, "low": low, "y_top": y(top), "y_low": y(low),
        "start": start, "end": end,
    }
