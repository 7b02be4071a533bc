"""A user's effective limits: their own policy, else their first group's by name, else settings."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from limits import selectors, services
from limits.rules import Limits

pytestmark = pytest.mark.django_db


@pytest.fixture
def global_limits(settings) -> None:
    settings.LIMITS_MAX_CALL_SECONDS = 600
    settings.LIMITS_DAILY_MINUTES = 30
    settings.LIMITS_MAX_CONCURRENT_CALLS = 2


def limits_of(user) -> Limits:
    """The user's effective limits, which admission's own one-query read agrees with."""
    limits = selectors.effective_limits(user)
    assert selectors.admission(user) == (limits, 0)
    return limits


def group_with_policy(user, name: str, **limits) -> Group:
    group = Group.objects.create(name=name)
    group.user_set.add(user)
    services.set_policy(group=group, **limits)
    return group


def test_without_any_policy_the_settings_apply(owner, global_limits):
    limits = limits_of(owner)

    assert (limits.max_call_seconds, limits.daily_minutes, limits.max_concurrent_calls) == (
        600,
        30,
        2,
    )


def test_the_first_group_by_name_applies_and_its_blank_fields_keep_the_settings(
    owner, global_limits
):
    group_with_policy(owner, "b-teachers", daily_minutes=120)
    group_with_policy(owner, "a-students", daily_minutes=10)

    limits = limits_of(owner)

    assert (limits.daily_minutes, limits.max_call_seconds) == (10, 600)


def test_the_users_own_policy_wins_over_their_groups(owner, global_limits):
    group_with_policy(owner, "students", daily_minutes=10, max_call_seconds=60)
    services.set_policy(user=owner, daily_minutes=0)

    limits = limits_of(owner)

    # 0 means "no budget" and is kept; the unset call length comes from settings, not the group.
    assert (limits.daily_minutes, limits.max_call_seconds) == (0, 600)


def test_a_groups_policy_does_not_reach_users_outside_it(owner, stranger, global_limits):
    group_with_policy(owner, "students", daily_minutes=10)

    assert limits_of(stranger).daily_minutes == 30


def test_a_policy_is_for_a_user_or_a_group_not_both(owner):
    group = Group.objects.create(name="students")

    with pytest.raises(ValueError, match="user or to a group"):
        services.set_policy(user=owner, group=group, daily_minutes=1)
    with pytest.raises(ValidationError):
        services.set_policy(user=owner, daily_minutes=-1)
