"""bench.history_at_scale keeps working: its seeding and its measuring, at a tiny size.

No timing is asserted (a loaded CI machine would make any threshold flaky). `seed` and
`measure_all` run on the test database, whichever it is (COPY on PostgreSQL, inserts elsewhere);
the whole script, which creates and drops a PostgreSQL database of its own, needs PostgreSQL.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import history_at_scale
from bench.database import POSTGRES_ADMIN_URL, postgres_available
from conversations.models import Conversation, ResponseUsage, Turn
from tests.bench.test_bench_smoke import table_rows
from tests.environment import require

REPO = Path(__file__).resolve().parents[2]
PAGES = [
    "history, first page",
    "history, page 1",
    "conversation page",
    "admin changelist",
    "admin, status=failed",
    "admin, one month",
    "admin conversation page",
    f"admin search, rare ({history_at_scale.RARE_WORD})",
    f"admin search, common ({history_at_scale.COMMON_WORD})",
    "export JSON, 20 conversations",
    "export text, 20 conversations",
]


@pytest.mark.django_db
def test_seed_writes_the_archive_it_describes() -> None:
    seeded = history_at_scale.seed(conversations=20, turns_per=3, users=4)

    assert (seeded.conversations, seeded.turns) == (20, 60)
    assert (Conversation.objects.count(), Turn.objects.count()) == (20, 60)
    assert ResponseUsage.objects.count() == 20
    assert set(Conversation.objects.values_list("turn_count", flat=True)) == {3}
    assert Conversation.objects.filter(owner=seeded.heavy).count() == len(seeded.heavy_ids) == 2
    assert Turn.objects.filter(text__icontains=history_at_scale.RARE_WORD).count() == 12
    assert seeded.admin.is_superuser
    assert sorted(seeded.exported_ids) == sorted(Conversation.objects.values_list("id", flat=True))


@pytest.mark.django_db
def test_every_page_is_measured_with_its_queries() -> None:
    seeded = history_at_scale.seed(conversations=20, turns_per=3, users=4)

    results = history_at_scale.measure_all(seeded, requests=2)

    assert [result.name for result in results] == PAGES
    assert all(len(result.seconds) == 2 and result.queries >= 3 for result in results)
    rows = table_rows(history_at_scale.report(results, "Smoke"), "Smoke")
    assert [row[0] for row in rows] == PAGES


def test_only_a_count_without_where_is_flagged_as_full_table() -> None:
    flagged = history_at_scale.FULL_COUNT.search

    assert flagged('SELECT COUNT(*) AS "__count" FROM "conversations_conversation"')
    assert not flagged('SELECT COUNT(*) FROM "conversations_turn" WHERE "status" = \'failed\'')
    assert not flagged("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass")


def test_the_script_seeds_measures_and_drops_its_database() -> None:
    require(postgres_available(), f"no PostgreSQL at {POSTGRES_ADMIN_URL}")
    name = "voiceapp_bench_history_smoke"
    args = ["--conversations", "20", "--turns-per", "3", "--users", "4", "--requests", "2"]

    done = subprocess.run(
        [sys.executable, "-m", "bench.history_at_scale", *args, "--database", name],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr[-4000:]
    rows = table_rows(done.stdout, "History at scale (PostgreSQL, in-process test Client)")
    assert [row[0] for row in rows] == PAGES
    assert all(row[1] == "2" for row in rows)
    assert not _database_exists(name)


def _database_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return found is not None
