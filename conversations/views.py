"""History pages: a user's own conversations and the transcript of one. Reads go via selectors."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from conversations import selectors
from conversations.models import Conversation

PAGE_SIZE = 20


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise Http404("No such page.")
    return int(raw)


@require_safe
def conversation_list(request: HttpRequest) -> HttpResponse:
    """Newest first, a page at a time. No COUNT: one row past the page says whether more exist."""
    page = _page_number(request)
    start = (page - 1) * PAGE_SIZE
    rows = selectors.conversation_page(user=request.user, offset=start, limit=PAGE_SIZE + 1)
    if page > 1 and not rows:
        raise Http404("No such page.")
    context = {
        "conversations": rows[:PAGE_SIZE],
        "page": page,
        "has_previous": page > 1,
        "has_next": len(rows) > PAGE_SIZE,
    }
    return render(request, "conversations/list.html", context)


@require_safe
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    try:
        conversation = selectors.conversation_get(
            user=request.user, conversation_id=conversation_id
        )
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None
    context = {
        "conversation": conversation,
        "turns": selectors.conversation_turns(conversation=conversation),
    }
    return render(request, "conversations/detail.html", context)
