"""Per-user and per-group overrides of the global limits (settings LIMITS_*)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models

BLANK_MEANS_GLOBAL = "Blank: the global setting. 0 for a budget: no budget."


def _limit(verbose_name: str) -> models.PositiveIntegerField:
    return models.PositiveIntegerField(
        verbose_name, null=True, blank=True, help_text=BLANK_MEANS_GLOBAL
    )


class LimitPolicy(models.Model):
    """Limits for one user or one group; blank fields keep the global settings.

    A user's effective limits come from their own policy, else from the policy of the first of
    their groups (by group name) that has one, else from the settings (limits.selectors)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="limit_policy",
    )
    group = models.OneToOneField(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="limit_policy"
    )
    max_call_seconds = _limit("maximum call length (seconds)")
    idle_timeout_seconds = _limit("idle timeout (seconds without speech)")
    max_concurrent_calls = _limit("concurrent calls")
    daily_minutes = _limit("daily minutes")
    monthly_minutes = _limit("monthly minutes")
    daily_cost_cents = _limit("daily cost (US cents)")
    monthly_cost_cents = _limit("monthly cost (US cents)")

    class Meta:
        verbose_name_plural = "limit policies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="limit_policy_user_xor_group",
                violation_error_message="A policy applies to a user or to a group, not both.",
            ),
        ]

    def __str__(self) -> str:
        return f"Limits for {self.user or self.group}"


class UserUsage(get_user_model()):  # type: ignore[misc]
    """Users as seen by the usage changelist in the admin (a proxy: no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "user's usage"
        verbose_name_plural = "usage by user"
