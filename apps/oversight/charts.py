"""The dashboard's charts as SVG drawn on the server: no script, no external assets, no style
attributes (presentation attributes and classes only, for the strict CSP). Each chart has a
title and a description, and the page shows the same figures in a table beside it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.utils.html import escape

from apps.oversight.selectors import DayFigures, StepFigures

WAIT_COLOUR, WORK_COLOUR, P90_COLOUR, BAR_COLOUR, LINE_COLOUR = (
    "#60a5fa",
    "#f59e0b",
    "#111827",
    "#34d399",
    "#7c3aed",
)


def duration_words(value: timedelta | None) -> str:
    """A duration as people read it on a dashboard: "3.5 h", "2.1 d", "12 min"."""
    if value is None:
        return "—"
    seconds = value.total_seconds()
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _hours(value: timedelta | None) -> float:
    return value.total_seconds() / 3600 if value is not None else 0.0


def _open(element_id: str, width: int, height: int, title: str, description: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{element_id}" '
        f'viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{element_id}-title {element_id}-desc" '
        'font-family="system-ui, sans-serif" font-size="11">',
        f'<title id="{element_id}-title">{escape(title)}</title>',
        f'<desc id="{element_id}-desc">{escape(description)}</desc>',
    ]


def wait_work_chart(steps: Sequence[StepFigures], *, element_id: str = "chart-wait-work") -> str:
    """Per step, a bar of median wait before claim followed by median work after it; a tick at
    the p90 of the whole cycle."""
    label_width, bar_width, row = 220, 420, 26
    height = 40 + max(len(steps), 1) * row
    width = label_width + bar_width + 90
    longest = max(
        [_hours(s.cycle_p90) for s in steps]
        + [_hours(s.wait_p50) + _hours(s.work_p50) for s in steps]
        + [1e-9]
    )
    scale = bar_width / longest
    description = (
        "; ".join(
            f"{s.queue_name}, {s.step_label}: waits {duration_words(s.wait_p50)}, "
            f"worked {duration_words(s.work_p50)}, "
            f"90% decided within {duration_words(s.cycle_p90)}"
            for s in steps
        )
        or "No decided tasks in this range."
    )
    out = _open(
        element_id, width, height, "Median wait before claim and work after claim, per step", description
    )
    out.append(
        f'<g class="legend"><rect x="{label_width}" y="6" width="12" height="12" fill="{WAIT_COLOUR}"/>'
        f'<text x="{label_width + 16}" y="16">wait (p50)</text>'
        f'<rect x="{label_width + 100}" y="6" width="12" height="12" fill="{WORK_COLOUR}"/>'
        f'<text x="{label_width + 116}" y="16">work (p50)</text>'
        f'<rect x="{label_width + 200}" y="6" width="3" height="12" fill="{P90_COLOUR}"/>'
        f'<text x="{label_width + 208}" y="16">cycle (p90)</text></g>'
    )
    for index, step in enumerate(steps):
        y = 30 + index * row
        wait, work = _hours(step.wait_p50) * scale, _hours(step.work_p50) * scale
        p90 = label_width + _hours(step.cycle_p90) * scale
        out += [
            f'<g class="bar" data-step="{escape(step.step)}">',
            f'<text x="{label_width - 8}" y="{y + 14}" text-anchor="end">{escape(step.queue_name)} · '
            f"{escape(step.step_label)}</text>",
            f'<rect x="{label_width}" y="{y + 3}" width="{wait:.1f}" height="16" fill="{WAIT_COLOUR}">'
            f"<title>wait {duration_words(step.wait_p50)}</title></rect>",
            f'<rect x="{label_width + wait:.1f}" y="{y + 3}" width="{work:.1f}" height="16" '
            f'fill="{WORK_COLOUR}">'
            f"<title>work {duration_words(step.work_p50)}</title></rect>",
            f'<rect x="{p90:.1f}" y="{y}" width="3" height="22" fill="{P90_COLOUR}">'
            f"<title>p90 cycle {duration_words(step.cycle_p90)}</title></rect>",
            f'<text x="{max(p90, label_width + wait + work) + 8:.1f}" y="{y + 14}">'
            f"{duration_words(step.cycle_p50)}</text>",
            "</g>",
        ]
    out.append("</svg>")
    return "\n".join(out)


def breach_chart(totals: Sequence[dict], *, element_id: str = "chart-breaches") -> str:
    """Per queue, the share of decided tasks that were decided after they were due."""
    label_width, bar_width, row = 160, 360, 24
    height = 20 + max(len(totals), 1) * row
    width = label_width + bar_width + 70
    description = (
        "; ".join(
            f"{t['queue'].name}: {t['breach_rate']:.0%} of {t['completed']} decided late" for t in totals
        )
        or "No queues."
    )
    out = _open(element_id, width, height, "SLA breach rate per queue", description)
    for index, total in enumerate(totals):
        y = 10 + index * row
        length = bar_width * total["breach_rate"]
        out += [
            f'<text x="{label_width - 8}" y="{y + 13}" text-anchor="end">'
            f"{escape(total['queue'].name)}</text>",
            f'<rect x="{label_width}" y="{y + 2}" width="{bar_width}" height="14" fill="#f3f4f6"/>',
            f'<rect x="{label_width}" y="{y + 2}" width="{length:.1f}" height="14" fill="#ef4444"/>',
            f'<text x="{label_width + bar_width + 6}" y="{y + 13}">{total["breach_rate"]:.0%}</text>',
        ]
    out.append("</svg>")
    return "\n".join(out)


def trend_chart(days: Sequence[DayFigures], *, element_id: str = "chart-trend") -> str:
    """Tasks decided per day (bars) and that day's median cycle time (line, right scale)."""
    width, height, left, bottom, top = 720, 220, 40, 30, 16
    plot_w, plot_h = width - left - 50, height - top - bottom
    most = max([d.completed for d in days] + [1])
    slowest = max([_hours(d.cycle_p50) for d in days] + [1e-9])
    step = plot_w / max(len(days), 1)
    description = (
        "; ".join(
            f"{d.day.isoformat()}: {d.completed} decided, median {duration_words(d.cycle_p50)}" for d in days
        )
        or "No decided tasks in this range."
    )
    out = _open(element_id, width, height, "Tasks decided per day and median cycle time", description)
    out.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#9ca3af"/>'
    )
    out.append(f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{most}</text>')
    out.append(
        f'<text x="{left + plot_w + 4}" y="{top + 8}">'
        f"{escape(duration_words(timedelta(hours=slowest)))}</text>"
    )
    points = []
    for index, day in enumerate(days):
        x = left + index * step
        bar_h = plot_h * day.completed / most
        out.append(
            f'<rect x="{x + step * 0.15:.1f}" y="{top + plot_h - bar_h:.1f}" width="{step * 0.7:.1f}" '
            f'height="{bar_h:.1f}" fill="{BAR_COLOUR}">'
            f"<title>{day.day.isoformat()}: {day.completed}</title></rect>"
        )
        points.append(f"{x + step / 2:.1f},{top + plot_h - plot_h * _hours(day.cycle_p50) / slowest:.1f}")
    if len(days) > 0:
        out.append(f'<text x="{left}" y="{height - 8}">{days[0].day.isoformat()}</text>')
        out.append(
            f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end">{days[-1].day.isoformat()}</text>'
        )
    if points:
        out.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{LINE_COLOUR}" stroke-width="2"/>'
        )
    out.append("</svg>")
    return "\n".join(out)
