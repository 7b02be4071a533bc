"""Cost from the kept raw usage, with prices from settings; the pure limit rules."""

from __future__ import annotations

import dataclasses

import pytest

from limits import pricing, rules
from limits.rules import CallSnapshot, Limits, Usage

PRICE = {"text_in": 4, "text_out": 24, "audio_in": 32, "audio_out": 64, "cached_in": 0.4}


def usage(*, text_in=0, audio_in=0, cached=0, split=None, text_out=0, audio_out=0) -> dict:
    details = {"text_tokens": text_in, "audio_tokens": audio_in, "cached_tokens": cached}
    if split is not None:
        details["cached_tokens_details"] = split
    return {
        "input_tokens": text_in + audio_in,
        "output_tokens": text_out + audio_out,
        "input_token_details": details,
        "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
    }


def test_each_kind_of_token_is_billed_at_its_price():
    raw = usage(text_in=1_000_000, audio_in=1_000_000, text_out=1_000_000, audio_out=1_000_000)

    assert pricing.response_cost(raw, PRICE) == pytest.approx(4 + 32 + 24 + 64)


def test_cached_tokens_are_part_of_input_and_billed_once_at_the_cached_price():
    split = {"text_tokens": 200_000, "audio_tokens": 300_000}
    raw = usage(text_in=1_000_000, audio_in=1_000_000, cached=500_000, split=split)

    expected = 0.8 * 4 + 0.7 * 32 + 0.5 * 0.4
    assert pricing.response_cost(raw, PRICE) == pytest.approx(expected)


def test_cached_tokens_without_a_breakdown_come_out_of_text_input_first():
    raw = usage(text_in=100_000, audio_in=1_000_000, cached=300_000)

    expected = 0 * 4 + 0.8 * 32 + 0.3 * 0.4
    assert pricing.response_cost(raw, PRICE) == pytest.approx(expected)


def test_a_model_without_a_cached_price_bills_cached_tokens_as_plain_input():
    price = {key: value for key, value in PRICE.items() if key != "cached_in"}
    raw = usage(audio_in=1_000_000, cached=1_000_000, split={"audio_tokens": 1_000_000})

    assert pricing.response_cost(raw, price) == pytest.approx(32)


def test_an_empty_usage_costs_nothing():
    assert pricing.response_cost({}, PRICE) == 0


LIMITS = Limits(
    max_call_seconds=600,
    idle_timeout_seconds=120,
    max_concurrent_calls=1,
    daily_minutes=30,
    monthly_minutes=0,
    daily_cost_cents=100,
    monthly_cost_cents=0,
)


def snapshot(**fields) -> CallSnapshot:
    values = {"elapsed": 60, "quiet": 0, "call_cost_usd": 0.0, "day": Usage(), "month": Usage()}
    return CallSnapshot(**(values | fields))


def test_the_nearest_limit_is_the_one_with_least_time_left():
    assert rules.nearest_end(LIMITS, snapshot(quiet=100), upstream_max_seconds=3600) == (
        rules.IDLE_TIMEOUT,
        20,
    )
    day = Usage(seconds=30 * 60 - 5)
    assert rules.nearest_end(LIMITS, snapshot(day=day), upstream_max_seconds=3600) == (
        rules.DAILY_MINUTES,
        5,
    )


def test_a_cost_budget_runs_out_at_the_calls_spending_rate():
    # 60 s cost $0.30: the $0.70 left last another 140 s.
    call = snapshot(call_cost_usd=0.3, day=Usage(cost_usd=0.3))

    patient = dataclasses.replace(LIMITS, idle_timeout_seconds=3600)

    reason, left = rules.nearest_end(patient, call, upstream_max_seconds=3600)

    assert (reason, left) == (rules.DAILY_COST, pytest.approx(140))


def test_the_upstream_session_limit_ends_a_call_under_its_own_reason():
    assert rules.nearest_end(LIMITS, snapshot(elapsed=590), upstream_max_seconds=300) == (
        rules.UPSTREAM_SESSION_LIMIT,
        -290,
    )


def test_a_call_is_refused_over_a_budget_or_the_concurrent_calls():
    spent = Usage(cost_usd=1.0)

    assert rules.refusal(LIMITS, day=spent, month=spent, active_calls=0) == rules.BUDGET_EXCEEDED
    assert rules.refusal(LIMITS, day=Usage(), month=Usage(), active_calls=1) == (
        rules.TOO_MANY_CALLS
    )
    assert rules.refusal(LIMITS, day=Usage(), month=Usage(), active_calls=0) is None
