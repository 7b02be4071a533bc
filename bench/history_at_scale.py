"""History at scale: the history pages, the admin and its exports over a large archive.

`python -m bench.history_at_scale` creates and migrates a PostgreSQL database of its own
(`voiceapp_bench_history`), fills it with COPY (100,000 conversations and 1,000,000 turns by
default, spread over ~200 users of whom one is "heavy"), then requests every history page through
Django's test Client, in process, signed in as the user who would read it: the p50/p95 of
`--requests` requests each, the queries per request, and whether any query counted a whole table.
The database is dropped afterwards unless `--keep` is given.

`seed` and `measure_all` work on whatever database Django is connected to (COPY on PostgreSQL,
plain inserts elsewhere), which is how the smoke test runs them on the test database.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from bench import figures
from bench.database import POSTGRES_ADMIN_URL

DATABASE = "voiceapp_bench_history"
# A word in a dozen turns, and one in about a tenth of them; no vocabulary word contains either.
RARE_WORD = "lighthouse"
RARE_TURNS = 12
COMMON_WORD = "weather"
COMMON_SHARE = 0.1
HEAVY_SHARE = 0.1
EXPORTED = 100
SPAN = timedelta(days=730)
VOCABULARY = (  # noqa: SIM905 (a sentence reads better than a list of 110 strings)
    "the a to and of it is that you in I for on can what how with this my be do have will "
    "about time train ticket tomorrow morning evening question answer please thanks okay yes "
    "no maybe right left number order book table meeting email call phone music song play "
    "stop start again later today week month year price cost cheap long short fast slow city "
    "street station airport hotel room dinner lunch coffee tea water bread cheese apple garden "
    "school work office report letter draft summary list remind alarm timer minute hour second "
    "recipe cook oven bake boil salt sugar pepper onion carrot potato french spanish german"
).split()
TARGETS = {"history": "p95 ≤ 50 ms", "page": "p95 ≤ 100 ms, ≤ 6 queries", "search": "p95 ≤ 200 ms"}
FULL_COUNT = re.compile(r"SELECT COUNT\(\*\)(?:(?! WHERE ).)*$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Seeded:
    """What the measurements need to know about the archive just written."""

    heavy: Any
    admin: Any
    heavy_ids: list[int]
    exported_ids: list[int]
    drill_down: datetime
    conversations: int
    turns: int


@dataclass(frozen=True)
class Result:
    name: str
    target: str
    seconds: list[float]
    database_seconds: list[float]
    # This process's CPU time per request: the Python side, which a loaded machine stretches
    # in wall-clock time far more than in CPU time.
    cpu_seconds: list[float]
    queries: int
    full_count: bool


# --- Seeding ---------------------------------------------------------------------------------


def _defaults(model: type, columns: Sequence[str]) -> tuple[list[str], tuple[Any, ...]]:
    """The model's other columns with their defaults: COPY applies no Django defaults, and
    other engineers add fields (with defaults) that this script need not know about."""
    fields = [
        f for f in model._meta.concrete_fields if f.column not in columns and not f.primary_key
    ]
    return [f.column for f in fields], tuple(f.get_default() for f in fields)


def _write(model: type, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    """COPY on PostgreSQL (the fast path the sizes need); executemany anywhere else."""
    from django.db import connection

    more, defaults = _defaults(model, columns)
    table = model._meta.db_table
    names = ", ".join(f'"{name}"' for name in [*columns, *more])
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row + defaults)
            return
        marks = ", ".join(["%s"] * (len(columns) + len(more)))
        adapt = connection.ops.adapt_datetimefield_value
        values = [
            [adapt(v) if isinstance(v, datetime) else v for v in row + defaults] for row in rows
        ]
        cursor.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', values)


def _owners(rng: random.Random, users: list[Any], count: int) -> list[Any]:
    """Every tenth conversation is the heavy user's (users[0]); the rest are shared out."""
    step = round(1 / HEAVY_SHARE)
    return [users[0] if i % step == 0 else rng.choice(users[1:]) for i in range(count)]


def _sentence(rng: random.Random) -> str:
    words = rng.choices(VOCABULARY, k=rng.randint(6, 20))
    if rng.random() < COMMON_SHARE:
        words.insert(rng.randrange(len(words)), COMMON_WORD)
    return " ".join(words)


def _conversation_rows(
    first_id: int, owners: list[Any], turns_per: int, rng: random.Random
) -> Iterator[tuple[Any, ...]]:
    start = datetime.now(UTC) - SPAN
    step = SPAN / len(owners)
    statuses = ["ended"] * 17 + ["failed", "active", "connecting"]
    for index, owner in enumerate(owners):
        pk = first_id + index
        started = start + step * index
        tokens = rng.randint(200, 20000)
        yield (
            pk, owner.pk, rng.choice(statuses), "webrtc", "brokered", "gpt-realtime-2.1",
            "marin", "You are Voiceapp's assistant. Answer briefly.", f"sess_{pk}", f"rtc_{pk}",
            started, started + timedelta(seconds=rng.randint(20, 900)), "hangup", "",
            tokens // 2, tokens // 8, tokens - tokens // 2, tokens, turns_per, _sentence(rng)[:200],
        )  # fmt: skip


CONVERSATION_COLUMNS = (
    "id", "owner_id", "status", "transport", "mode", "model", "voice", "instructions",
    "upstream_session_id", "upstream_call_id", "started_at", "ended_at", "end_reason", "error",
    "input_tokens", "cached_input_tokens", "output_tokens", "total_tokens", "turn_count",
    "first_words",
)  # fmt: skip
TURN_COLUMNS = (
    "conversation_id", "item_id", "previous_item_id", "position", "role", "response_id", "text",
    "status", "source", "created_at", "completed_at",
)  # fmt: skip


def _turn_rows(
    first_id: int, count: int, turns_per: int, rare: set[int], rng: random.Random
) -> Iterator[tuple[Any, ...]]:
    when = datetime.now(UTC) - SPAN
    for index in range(count * turns_per):
        conversation, position = first_id + index // turns_per, index % turns_per
        text = _sentence(rng)
        if index in rare:
            text = f"{text} {RARE_WORD}"
        role = "assistant" if position % 2 else "user"
        yield (
            conversation, f"item_{position + 1}", f"item_{position}" if position else "",
            position, role, f"resp_{conversation}_{position}" if position % 2 else "", text,
            "completed", "browser", when, when,
        )  # fmt: skip


def _users(count: int) -> tuple[list[Any], Any]:
    from django.contrib.auth.models import User

    prefix = f"history-{secrets.token_hex(3)}"
    User.objects.bulk_create(
        [User(username=f"{prefix}-{i}", email=f"{prefix}-{i}@example.com") for i in range(count)]
    )
    users = list(User.objects.filter(username__startswith=f"{prefix}-").order_by("id"))
    admin = User.objects.create_superuser(f"{prefix}-admin", f"{prefix}@example.com", None)
    return users, admin


def seed(*, conversations: int, turns_per: int, users: int, seed: int = 7) -> Seeded:
    """Write the archive (users, conversations, turns, one usage row per conversation)."""
    from django.db.models import Max

    from conversations.models import Conversation, ResponseUsage, Turn

    rng = random.Random(seed)
    people, admin = _users(users)
    first = (Conversation.objects.aggregate(last=Max("id"))["last"] or 0) + 1
    owners = _owners(rng, people, conversations)
    _write(Conversation, CONVERSATION_COLUMNS, _conversation_rows(first, owners, turns_per, rng))
    rare = set(rng.sample(range(conversations * turns_per), min(RARE_TURNS, conversations)))
    _write(Turn, TURN_COLUMNS, _turn_rows(first, conversations, turns_per, rare, rng))
    usage = ((first + i, "resp_last", '{"total_tokens": 1}') for i in range(conversations))
    _write(ResponseUsage, ("conversation_id", "response_id", "usage"), usage)
    return _seeded(people[0], admin, first, conversations, turns_per, rng)


def _seeded(
    heavy: Any, admin: Any, first: int, count: int, turns_per: int, rng: random.Random
) -> Seeded:
    from conversations.models import Conversation

    heavy_ids = list(
        Conversation.objects.owned_by(heavy).order_by("-started_at").values_list("id", flat=True)
    )
    middle = Conversation.objects.get(pk=first + count // 2).started_at
    exported = rng.sample(range(first, first + count), min(EXPORTED, count))
    return Seeded(heavy, admin, heavy_ids, exported, middle, count, count * turns_per)


# --- Measuring -------------------------------------------------------------------------------


def _collect(response: Any) -> bytes:
    """The whole body, streamed ones included: their queries run while they are read."""
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def measure(
    name: str, target: str, request: Callable[[int], Any], requests: int, budget: float
) -> Result:
    """One warm-up request, then `requests` timed ones (fewer, but at least 3, if they take
    more than `budget` seconds in all: before the fixes a search took ~10 s).
    Every one must answer 200."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _collect(request(0))
    seconds: list[float] = []
    database: list[float] = []
    cpu: list[float] = []
    queries, full_count = 0, False
    deadline = time.monotonic() + budget
    for index in range(requests):
        if index >= 3 and time.monotonic() > deadline:
            break
        with CaptureQueriesContext(connection) as captured:
            started, started_cpu = time.perf_counter(), time.process_time()
            response = request(index)
            _collect(response)
            seconds.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        database.append(sum(float(query["time"]) for query in captured))
        if response.status_code != 200:
            raise RuntimeError(f"{name}: HTTP {response.status_code}")
        queries = max(queries, len(captured))
        full_count |= any(FULL_COUNT.search(query["sql"]) for query in captured)
    return Result(name, target, seconds, database, cpu, queries, full_count)


def _paths(seeded: Seeded) -> list[tuple[str, str, Callable[[int], Any]]]:
    from django.test import Client
    from django.urls import reverse

    # SERVER_NAME: the client runs with DEBUG off and without setup_test_environment.
    reader, staff = Client(SERVER_NAME="localhost"), Client(SERVER_NAME="localhost")
    reader.force_login(seeded.heavy)
    staff.force_login(seeded.admin)
    history = reverse("conversations:list")
    deep = max(1, len(seeded.heavy_ids) // 20 * 4 // 5)
    ids = seeded.heavy_ids[: max(1, min(50, len(seeded.heavy_ids)))]
    changelist = reverse("admin:conversations_conversation_changelist")
    month = {
        "started_at__year": seeded.drill_down.year,
        "started_at__month": seeded.drill_down.month,
    }

    def get(client: Any, url: str, **params: Any) -> Callable[[int], Any]:
        return lambda i: client.get(url, params)

    def one_of(client: Any, url: Callable[[int], str]) -> Callable[[int], Any]:
        return lambda i: client.get(url(ids[i % len(ids)]))

    def export(action: str) -> Callable[[int], Any]:
        form = {"action": action, "_selected_action": seeded.exported_ids}
        return lambda i: staff.post(changelist, form)

    admin_page = partial(reverse, "admin:conversations_conversation_change")
    selected = len(seeded.exported_ids)
    return [
        ("history, first page", "history", get(reader, history)),
        (f"history, page {deep}", "history", get(reader, history, page=deep)),
        ("conversation page", "page", one_of(reader, lambda pk: f"{history}{pk}/")),
        ("admin changelist", "page", get(staff, changelist)),
        ("admin, status=failed", "page", get(staff, changelist, status__exact="failed")),
        ("admin, one month", "page", get(staff, changelist, **month)),
        ("admin conversation page", "page", one_of(staff, lambda pk: admin_page(args=[pk]))),
        (f"admin search, rare ({RARE_WORD})", "search", get(staff, changelist, q=RARE_WORD)),
        (f"admin search, common ({COMMON_WORD})", "search", get(staff, changelist, q=COMMON_WORD)),
        (f"export JSON, {selected} conversations", "", export("export_json")),
        (f"export text, {selected} conversations", "", export("export_text")),
    ]


def measure_all(seeded: Seeded, requests: int, budget: float = 60.0) -> list[Result]:
    """Every path, static files served from the finders (the manifest is not what we measure)."""
    from django.test import override_settings

    storage = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    with override_settings(STORAGES={"default": storage, "staticfiles": storage}):
        return [
            measure(name, TARGETS.get(kind, "—"), request, requests, budget)
            for name, kind, request in _paths(seeded)
        ]


def _ms(seconds: Sequence[float], q: float) -> str:
    return figures.ms(figures.percentile([value * 1000 for value in seconds], q))


def report(results: Sequence[Result], title: str) -> str:
    """One row per page; *in SQL* is the median time spent in queries (the rest is Python),
    *CPU* the median CPU time of this process (Python only: PostgreSQL runs in its own)."""
    rows = [
        [
            result.name,
            len(result.seconds),
            _ms(result.seconds, 50),
            _ms(result.seconds, 95),
            _ms(result.database_seconds, 50),
            _ms(result.cpu_seconds, 50),
            result.queries,
            "yes" if result.full_count else "no",
            result.target,
        ]
        for result in results
    ]
    headers = [
        "request",
        "n",
        "p50 ms",
        "p95 ms",
        "in SQL p50",
        "CPU p50",
        "queries",
        "full COUNT(*)",
        "target",
    ]
    return figures.table(title, headers, rows)


# --- The run ---------------------------------------------------------------------------------


def _database(name: str, *, create: bool) -> str:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            admin.execute(f'CREATE DATABASE "{name}"')
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _setup_django(url: str) -> None:
    """Production-like settings (DEBUG off) on the bench database, before Django loads them."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "voiceapp.settings"
    os.environ.update(
        DATABASE_URL=url, DEBUG="0", LOG_LEVEL="WARNING", SECRET_KEY=secrets.token_hex(32)
    )
    import django

    # WhiteNoise warns that STATIC_ROOT was never collected; the bench serves no static files.
    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()


def _vacuum() -> None:
    """What autovacuum would have done to a settled archive: statistics and visibility maps."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def run(options: argparse.Namespace) -> str:
    url = _database(options.database, create=True)
    try:
        _setup_django(url)
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        started = time.monotonic()
        seeded = seed(
            conversations=options.conversations, turns_per=options.turns_per, users=options.users
        )
        _vacuum()
        seeding = time.monotonic() - started
        results = measure_all(seeded, options.requests, options.budget)
        connections.close_all()
    finally:
        if not options.keep:
            _database(options.database, create=False)
    sizes = (
        f"{seeded.conversations:,} conversations, {seeded.turns:,} turns, {options.users} users "
        f"(the heavy one has {len(seeded.heavy_ids):,}); seeded and vacuumed in {seeding:.0f} s"
    )
    return report(results, "History at scale (PostgreSQL, in-process test Client)") + f"\n{sizes}\n"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--turns-per", type=int, default=10)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page")
    parser.add_argument(
        "--budget", type=float, default=60.0, help="seconds per page before stopping early"
    )
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser


def main() -> None:
    from bench.machine import describe

    print(describe(), flush=True)
    print(run(parser().parse_args()), flush=True)


if __name__ == "__main__":
    main()
