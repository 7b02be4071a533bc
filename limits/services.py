"""Writes: setting a user's or a group's limits (the admin edits the same model directly)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from limits.models import LimitPolicy


@transaction.atomic
def set_policy(*, user: Any = None, group: Any = None, **limits: int | None) -> LimitPolicy:
    """Create or update the policy of `user` or `group` (exactly one); unnamed fields are kept."""
    if (user is None) == (group is None):
        raise ValueError("A policy applies to a user or to a group.")
    policy, _ = LimitPolicy.objects.get_or_create(user=user, group=group)
    for name, value in limits.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    return policy
