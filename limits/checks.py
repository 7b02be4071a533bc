"""Settings mistakes in the limits block, reported as system checks."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

PRICE_FIELDS = ("text_in", "text_out", "audio_in", "audio_out")


def _bad_rows(prices: Any) -> list[str]:
    if not isinstance(prices, dict):
        return ["(the table itself)"]
    return [
        model
        for model, row in prices.items()
        if not isinstance(row, dict)
        or any(not isinstance(row.get(name), int | float) for name in PRICE_FIELDS)
    ]


@checks.register()
def check_prices(**kwargs: Any) -> list[checks.CheckMessage]:
    """limits.E001: a malformed price table; limits.W001: the model in use has no price."""
    bad = _bad_rows(settings.REALTIME_PRICES)
    if bad:
        return [
            checks.Error(
                f"REALTIME_PRICES rows without numeric {', '.join(PRICE_FIELDS)}: {bad}",
                hint='A JSON object: {"model": {"text_in": 4, "text_out": 24, ...}}.',
                id="limits.E001",
            )
        ]
    if settings.REALTIME_MODEL not in settings.REALTIME_PRICES:
        return [
            checks.Warning(
                f"REALTIME_MODEL {settings.REALTIME_MODEL!r} has no row in REALTIME_PRICES.",
                hint="Its calls cost 0 in usage figures and cost budgets never stop them.",
                id="limits.W001",
            )
        ]
    return []
