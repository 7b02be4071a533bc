"""Staff set limits per user or group, and see every user's usage this month."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils import timezone

from limits import selectors
from limits.models import LimitPolicy, UserUsage
from limits.rules import Usage


@admin.register(LimitPolicy)
class LimitPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "max_call_seconds",
        "idle_timeout_seconds",
        "max_concurrent_calls",
        "daily_minutes",
        "monthly_minutes",
        "daily_cost_cents",
        "monthly_cost_cents",
    )
    list_select_related = ("user", "group")
    autocomplete_fields = ("user", "group")
    search_fields = ("user__username", "group__name")


@admin.register(UserUsage)
class UserUsageAdmin(admin.ModelAdmin):
    """Figures computed per row from the kept usage (one page of users at a time)."""

    list_display = ("username", "minutes_today", "cost_today", "minutes_month", "cost_month")
    search_fields = ("username", "email")
    ordering = ("username",)
    list_per_page = 50

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def _usage(self, user: Any) -> tuple[Usage, Usage]:
        # Computed once per row for its four columns.
        if getattr(user, "_usage", None) is None:
            user._usage = selectors.period_usage(user, timezone.now())
        return user._usage

    @admin.display(description="minutes today")
    def minutes_today(self, user: Any) -> str:
        return f"{self._usage(user)[0].seconds / 60:.1f}"

    @admin.display(description="cost today (USD)")
    def cost_today(self, user: Any) -> str:
        return f"{self._usage(user)[0].cost_usd:.2f}"

    @admin.display(description="minutes this month")
    def minutes_month(self, user: Any) -> str:
        return f"{self._usage(user)[1].seconds / 60:.1f}"

    @admin.display(description="cost this month (USD)")
    def cost_month(self, user: Any) -> str:
        return f"{self._usage(user)[1].cost_usd:.2f}"
