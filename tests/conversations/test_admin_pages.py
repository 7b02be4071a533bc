"""The admin's conversation pages as they scale: queries per page, the rows rendered in one
pass, the owner filter, the counting that replaces COUNT(*), and the record's tables.

Run on SQLite and on PostgreSQL: the query budgets hold for both (PostgreSQL adds the estimate
where SQLite counts).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conversations import paginators
from conversations.changelist import RowRenderer
from conversations.models import Conversation

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:conversations_conversation_changelist")
# The session, the user, and at most four for the page: its rows, their count, the dates. A
# staff member without superuser status costs Django two more (their permissions and their
# groups'), whatever the page.
MOST_QUERIES = 6
PERMISSION_QUERIES = 2


def change_page(conversation: Conversation) -> str:
    return reverse("admin:conversations_conversation_change", args=[conversation.pk])


def listed(response: Any) -> list[int]:
    return [c.pk for c in response.context["cl"].result_list]


def rows(page: str) -> list[str]:
    return re.findall(r"<tr>(.*?)</tr>", page.split("<tbody>", 1)[1])


@pytest.fixture
def archive(conversation_factory: Any, stranger: Any) -> dict[str, Conversation]:
    now = timezone.now()
    kept = {
        "old": conversation_factory(
            started_at=now - timedelta(days=400),
            ended_at=now - timedelta(days=400) + timedelta(seconds=5),
            status=Conversation.Status.ENDED,
            turns=[("user", "Where is the lighthouse?"), ("assistant", "On the hill.")],
        ),
        "flagged": conversation_factory(
            owner=stranger,
            status=Conversation.Status.FAILED,
            flagged=True,
            flag_reason="browser and sideband <disagree>",
            turns=[("user", "Spell banana")],
        ),
    }
    for day in range(3):
        conversation_factory(started_at=now - timedelta(days=day), turns=[("user", "hello")])
    return kept


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"status__exact": "failed"},
        {"status__exact": "connecting", "transport__exact": "webrtc"},
        {"owner__id__exact": "OWNER"},
        {"owner__id__exact": "OWNER", "status__exact": "failed"},
        {"started_at__year": "YEAR"},
        {"started_at__year": "YEAR", "started_at__month": "MONTH"},
        {"q": "lighthouse"},
        {"q": "banana stranger"},
        {"q": "hello", "status__exact": "connecting", "owner__id__exact": "OWNER"},
        {"started_at__gte": "2000-01-01", "mode__exact": "brokered", "o": "-6.1"},
    ],
)
def test_every_changelist_makes_at_most_six_queries(
    admin_client: Client,
    archive: dict,
    owner: Any,
    params: dict[str, str],
    django_assert_max_num_queries: Any,
) -> None:
    started = timezone.localtime(archive["old"].started_at)
    filled = {"OWNER": str(owner.pk), "YEAR": str(started.year), "MONTH": str(started.month)}
    params = {key: filled.get(value, value) for key, value in params.items()}

    with django_assert_max_num_queries(MOST_QUERIES):
        response = admin_client.get(CHANGELIST, params)

    assert response.status_code == 200
    pks = listed(response)
    assert response.context["cl"].result_count == len(set(pks)) == len(pks)


def test_sorting_by_turns_lists_each_conversation_once(
    admin_client: Client, archive: dict, conversation_factory: Any
) -> None:
    longest = conversation_factory(turns=[("user", "a"), ("assistant", "b"), ("user", "c")])
    cl = admin_client.get(CHANGELIST).context["cl"]
    column = list(cl.list_display).index("turn_total")

    response = admin_client.get(CHANGELIST, {"o": f"-{column}.1"})

    assert listed(response)[0] == longest.pk
    assert sorted(listed(response)) == sorted(Conversation.objects.values_list("pk", flat=True))


def test_staff_pay_only_for_their_permissions(
    staff_client: Client, archive: dict, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(MOST_QUERIES + PERMISSION_QUERIES):
        response = staff_client.get(CHANGELIST, {"status__exact": "failed"})

    assert listed(response) == [archive["flagged"].pk]


def test_rows_are_rendered_as_django_would_with_checkboxes_links_and_flags(
    staff_client: Client, archive: dict, stranger: Any
) -> None:
    flagged = archive["flagged"]

    page = staff_client.get(CHANGELIST, {"status__exact": "failed"}).content.decode()

    [row] = rows(page)
    assert (
        f'<td class="action-checkbox"><input type="checkbox" name="_selected_action" '
        f'value="{flagged.pk}" class="action-select"'
    ) in row
    link = f"{change_page(flagged)}?_changelist_filters=status__exact%3Dfailed"
    assert f'<th class="field-id"><a href="{link}">{flagged.pk}</a></th>' in row
    assert f'<a href="?owner__id__exact={stranger.pk}">stranger</a>' in row
    assert '<td class="field-status">Failed</td>' in row
    assert 'title="browser and sideband &lt;disagree&gt;"' in row
    assert 'alt="True"' in row
    headers = page.split("<thead>", 1)[1].split("</thead>", 1)[0].count("<th ")
    assert len(re.findall(r"<t[dh] class=", row)) == headers == 11


def test_every_list_display_column_has_a_cell(staff_client: Client, archive: dict) -> None:
    cl = staff_client.get(CHANGELIST).context["cl"]

    renderer = RowRenderer(cl)

    assert len(renderer.row(archive["old"]).split("</t")) == len(cl.list_display) + 1
    cl.list_display = [*cl.list_display, "model"]
    with pytest.raises(ValueError, match="'model'"):
        RowRenderer(cl)


def test_the_owner_filter_names_the_owner_even_when_nothing_is_listed(
    staff_client: Client, archive: dict, owner: Any
) -> None:
    listed_page = staff_client.get(CHANGELIST, {"owner__id__exact": owner.pk})
    empty_page = staff_client.get(
        CHANGELIST, {"owner__id__exact": owner.pk, "status__exact": "active"}
    )
    missing = staff_client.get(CHANGELIST, {"owner__id__exact": 999999})

    selected = re.compile(
        r'<details data-filter-title="owner".*?<li class="selected">\s*<a href="[^"]*">(.*?)</a>',
        re.DOTALL,
    )
    assert selected.findall(listed_page.content.decode()) == ["owner"]
    assert len(listed(listed_page)) == 4
    assert selected.findall(empty_page.content.decode()) == ["owner"]
    assert listed(empty_page) == []
    assert selected.findall(missing.content.decode()) == ["#999999"]


def test_a_list_longer_than_the_exact_limit_is_numbered_without_a_full_count(
    admin_client: Client,
    archive: dict,
    monkeypatch: pytest.MonkeyPatch,
    django_assert_max_num_queries: Any,
) -> None:
    monkeypatch.setattr(paginators, "EXACT_COUNT_LIMIT", 2)
    Conversation.objects.update(status=Conversation.Status.ENDED)

    with django_assert_max_num_queries(MOST_QUERIES):
        response = admin_client.get(CHANGELIST, {"status__exact": "ended"})

    cl = response.context["cl"]
    assert len(listed(response)) == 5
    # SQLite counts past the limit; PostgreSQL takes its estimate, never below the rows seen.
    assert cl.result_count >= 5
    assert cl.paginator.count == cl.result_count


def test_a_short_list_is_counted_exactly_with_its_page(archive: dict) -> None:
    queryset = Conversation.objects.filter(status=Conversation.Status.FAILED)

    page, count = paginators.counted_page(queryset, offset=0, limit=50)
    beyond, none = paginators.counted_page(queryset, offset=50, limit=50)

    assert ([c.pk for c in page], count) == ([archive["flagged"].pk], 1)
    assert (beyond, none) == ([], 0)


@pytest.mark.parametrize("page", ["0", "2", "-1"])
def test_a_page_beyond_the_list_goes_back_to_the_first(
    staff_client: Client, archive: dict, page: str
) -> None:
    response = staff_client.get(CHANGELIST, {"p": page})

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_show_all_lists_every_row_up_to_its_limit(staff_client: Client, archive: dict) -> None:
    response = staff_client.get(CHANGELIST, {"all": ""})

    assert len(listed(response)) == Conversation.objects.count() == 5


def test_no_facet_counts_are_offered_or_computed(
    admin_client: Client, archive: dict, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(MOST_QUERIES):
        page = admin_client.get(CHANGELIST, {"_facets": "True"}).content.decode()

    assert "Show counts" not in page
    assert not re.search(r"Failed \(\d+\)", page)


def test_the_conversation_page_shows_both_texts_of_a_disputed_turn(
    staff_client: Client, archive: dict, django_assert_max_num_queries: Any
) -> None:
    talk = archive["old"]
    talk.turns.filter(position=0).update(browser_text="Where is the light house?\nPlease.")
    talk.responses.create(response_id="resp_9", status="completed", usage={"total_tokens": 7})

    staff_client.get(change_page(talk))  # once, as any page after the first: content types cached
    # The conversation with its owner, its turns, its usage rows.
    with django_assert_max_num_queries(MOST_QUERIES - 1 + PERMISSION_QUERIES):
        page = staff_client.get(change_page(talk)).content.decode()

    assert "Where is the lighthouse?" in page
    assert "<strong>Browser relayed:</strong> Where is the light house?<br>Please." in page
    assert "On the hill." in page
    assert "resp_9" in page
    assert "{&quot;total_tokens&quot;: 7}" in page
    assert "TOTAL_FORMS" not in page
    assert "<textarea" not in page


def test_the_conversation_page_escapes_what_was_said(
    staff_client: Client, conversation_factory: Any
) -> None:
    talk = conversation_factory(turns=[("user", "<script>alert(1)</script>")])

    page = staff_client.get(change_page(talk)).content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "No usage recorded." in page


def test_exports_read_only_the_selected_rows(
    admin_client: Client, archive: dict, django_assert_max_num_queries: Any
) -> None:
    admin_client.get(CHANGELIST)
    # The session, the user, then the export's own: conversations, turns, usage rows.
    with django_assert_max_num_queries(5):
        response = admin_client.post(
            CHANGELIST,
            {"action": "export_text", "_selected_action": [archive["flagged"].pk]},
        )
        text = b"".join(response.streaming_content).decode()

    assert "Spell banana" in text
    assert "lighthouse" not in text
