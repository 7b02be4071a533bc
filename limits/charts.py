"""Figures for the usage page, laid out for a server-rendered SVG chart (no script, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from limits.rules import Limits, Usage
from limits.selectors import DayUsage

CHART_HEIGHT = 120
BAR_WIDTH = 14
BAR_GAP = 4


@dataclass(frozen=True, slots=True)
class Bar:
    x: int
    y: float
    height: float
    label: str


@dataclass(frozen=True, slots=True)
class Remaining:
    label: str
    used: str
    budget: str
    left: str


def bars(days: Sequence[DayUsage]) -> dict[str, object]:
    """Minutes per day as bars scaled to the busiest day."""
    peak = max((day.minutes for day in days), default=0.0) or 1.0
    items = []
    for index, day in enumerate(days):
        height = round(day.minutes / peak * CHART_HEIGHT, 1)
        label = f"{day.day:%b %d}: {day.minutes:.1f} min, ${day.cost_usd:.2f}"
        x = index * (BAR_WIDTH + BAR_GAP)
        items.append(Bar(x=x, y=CHART_HEIGHT - height, height=height, label=label))
    width = max(len(days) * (BAR_WIDTH + BAR_GAP), BAR_WIDTH)
    return {"bars": items, "width": width, "height": CHART_HEIGHT, "bar_width": BAR_WIDTH}


def totals(days: Sequence[DayUsage]) -> dict[str, float]:
    return {
        "minutes": sum(day.minutes for day in days),
        "cost_usd": sum(day.cost_usd for day in days),
    }


def remaining(limits: Limits, *, today: Usage, month: Usage) -> list[Remaining]:
    """One row per budget that is set (0 means no budget and is not shown)."""
    rows = []
    for label, budget, used in (
        ("Minutes today", limits.daily_minutes, today.seconds / 60),
        ("Minutes this month", limits.monthly_minutes, month.seconds / 60),
    ):
        if budget:
            rows.append(
                Remaining(label, f"{used:.1f}", f"{budget}", f"{max(budget - used, 0):.1f}")
            )
    for label, cents, used_usd in (
        ("Cost today", limits.daily_cost_cents, today.cost_usd),
        ("Cost this month", limits.monthly_cost_cents, month.cost_usd),
    ):
        if cents:
            budget_usd = cents / 100
            left = max(budget_usd - used_usd, 0)
            rows.append(Remaining(label, f"${used_usd:.2f}", f"${budget_usd:.2f}", f"${left:.2f}"))
    return rows
