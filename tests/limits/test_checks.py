"""The price table's system checks."""

from __future__ import annotations

from limits.checks import check_prices


def test_the_default_price_table_passes():
    assert check_prices() == []


def test_a_row_without_numeric_prices_is_an_error(settings):
    settings.REALTIME_PRICES = {"gpt-realtime-2.1": {"text_in": "4"}}

    assert [message.id for message in check_prices()] == ["limits.E001"]


def test_a_model_in_use_without_a_price_is_a_warning(settings):
    settings.REALTIME_MODEL = "gpt-realtime-9"

    assert [message.id for message in check_prices()] == ["limits.W001"]
