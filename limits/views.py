"""The signed-in user's usage page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from limits import charts, selectors


@login_required
def usage(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    days = selectors.daily_usage(request.user, now=now)
    today, month = selectors.period_usage(request.user, now)
    limits = selectors.effective_limits(request.user)
    context = {
        "days": days,
        "chart": charts.bars(days),
        "totals": charts.totals(days),
        "remaining": charts.remaining(limits, today=today, month=month),
        "limits": limits,
    }
    return render(request, "limits/usage.html", context)
