"""The limit rules, pure: given a user's limits and what they used, refuse a call or say which
limit ends the running one first, and in how many seconds. No clock, no database."""

from __future__ import annotations

from dataclasses import dataclass

# Reasons a call is refused (the signaling `error` codes) or ended (its `end_reason`).
BUDGET_EXCEEDED = "budget_exceeded"
TOO_MANY_CALLS = "too_many_calls"
MAX_DURATION = "max_duration"
UPSTREAM_SESSION_LIMIT = "upstream_session_limit"
IDLE_TIMEOUT = "idle_timeout"
DAILY_MINUTES = "daily_minutes"
MONTHLY_MINUTES = "monthly_minutes"
DAILY_COST = "daily_cost"
MONTHLY_COST = "monthly_cost"


@dataclass(frozen=True, slots=True)
class Limits:
    """A user's effective limits; 0 for a budget means none."""

    max_call_seconds: int
    idle_timeout_seconds: int
    max_concurrent_calls: int
    daily_minutes: int
    monthly_minutes: int
    daily_cost_cents: int
    monthly_cost_cents: int


@dataclass(frozen=True, slots=True)
class Usage:
    seconds: float = 0.0
    cost_usd: float = 0.0

    @property
    def cents(self) -> float:
        return self.cost_usd * 100


@dataclass(frozen=True, slots=True)
class CallSnapshot:
    """One running call as seen now; `day` and `month` include the call itself."""

    elapsed: float
    quiet: float
    call_cost_usd: float
    day: Usage
    month: Usage


def has_budget(limits: Limits) -> bool:
    """Whether any minutes or cost budget is set: without one, usage neither refuses nor ends."""
    minutes = limits.daily_minutes or limits.monthly_minutes
    return bool(minutes or limits.daily_cost_cents or limits.monthly_cost_cents)


def refusal(limits: Limits, *, day: Usage, month: Usage, active_calls: int) -> str | None:
    """Why a new call may not start, as a coded reason; None when it may."""
    if active_calls >= limits.max_concurrent_calls:
        return TOO_MANY_CALLS
    if any(left <= 0 for _, left in _budgets_left(limits, day, month)):
        return BUDGET_EXCEEDED
    return None


def _budgets_left(limits: Limits, day: Usage, month: Usage) -> list[tuple[str, float]]:
    """(reason, what is left) per budget set: seconds for minutes, cents for costs."""
    budgets = [
        (DAILY_MINUTES, limits.daily_minutes * 60, day.seconds),
        (MONTHLY_MINUTES, limits.monthly_minutes * 60, month.seconds),
        (DAILY_COST, limits.daily_cost_cents, day.cents),
        (MONTHLY_COST, limits.monthly_cost_cents, month.cents),
    ]
    return [(reason, budget - used) for reason, budget, used in budgets if budget]


def nearest_end(
    limits: Limits, call: CallSnapshot, *, upstream_max_seconds: int
) -> tuple[str, float]:
    """The limit that ends this call first and the seconds left before it (<= 0: now)."""
    ends = [_duration_end(limits, call, upstream_max_seconds)]
    ends.append((IDLE_TIMEOUT, limits.idle_timeout_seconds - call.quiet))
    # A cost budget runs out at the call's own spending rate so far (unknown before any usage).
    rate_cents = call.call_cost_usd * 100 / call.elapsed if call.elapsed > 0 else 0.0
    for reason, left in _budgets_left(limits, call.day, call.month):
        if reason in (DAILY_MINUTES, MONTHLY_MINUTES):
            ends.append((reason, left))
        elif left <= 0 or rate_cents > 0:
            ends.append((reason, left / rate_cents if left > 0 else 0.0))
    return min(ends, key=lambda end: end[1])


def _duration_end(limits: Limits, call: CallSnapshot, upstream_max: int) -> tuple[str, float]:
    if upstream_max < limits.max_call_seconds:
        return UPSTREAM_SESSION_LIMIT, upstream_max - call.elapsed
    return MAX_DURATION, limits.max_call_seconds - call.elapsed


MESSAGES = {
    BUDGET_EXCEEDED: "Your call budget is used up; it renews with the next day or month.",
    TOO_MANY_CALLS: "You already have as many calls running as you may; end one first.",
    MAX_DURATION: "This call reached its maximum length.",
    UPSTREAM_SESSION_LIMIT: "This call reached the voice service's maximum session length.",
    IDLE_TIMEOUT: "Nobody has spoken for a while.",
    DAILY_MINUTES: "Your daily minutes are running out.",
    MONTHLY_MINUTES: "Your monthly minutes are running out.",
    DAILY_COST: "Your daily budget is running out.",
    MONTHLY_COST: "Your monthly budget is running out.",
}
