"""Group writes: the database thread's share of transcript ingestion, measured in-process.

Stores the same relayed events as `bench.ingestion` (the bench's five-event exchanges; by default
one event per batch, as a browser relaying every data-channel event at once sends them) for C
calls at once, through what the signaling writer runs on its database thread: groups of up to
`signaling.writer.MAX_GROUP` batches, each group one transaction (`writer.write_group`).
`--group 1 --batch 5` is the paced load instead: five events a batch, and at 1,000 events/s
most groups hold a single batch (its own transaction and commit). No sockets, no event loop, no
client sharing the machine's cores: the figure is the CPU that storing costs per event, steadier
than the end-to-end run's and comparable between two trees (`--tree DIR` measures another
checkout, e.g. a `git worktree` of an earlier commit, in the same run). Each tree and database is
measured in a child process of its own, which runs that tree's code on events this checkout made
(so both store the same), and this file's `measure_here`.

Run: `python -m bench.group_writes [--calls 200 --events 60] [--group 1 --batch 5] [--tree DIR]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHILD_TIMEOUT = 1800.0
THIS_FILE = Path(__file__).resolve()
REPO = THIS_FILE.parents[1]


def measure_here(work: dict[str, Any]) -> dict[str, float]:
    """In a child process whose DATABASE_URL names an empty database and whose path starts with
    the tree measured: migrate, open a conversation per script, store the scripts' events,
    `batch` per batch, in groups of `group` batches; the CPU and wall time it took. (Only the
    measured tree's own modules are imported: an older tree's `bench` may lack this file.)"""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from conversations import services
    from signaling import writer

    scripts, size, group = work["scripts"], work["batch"], work["group"] or writer.MAX_GROUP
    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user("group-writes")
    ids = [
        services.start_conversation(
            owner=owner, transport="webrtc", mode="brokered", model="m", voice="v", instructions=""
        ).pk
        for _ in scripts
    ]
    recordings = {pk: services.Recording(pk, "browser") for pk in ids}
    batches = [
        services.Batch(pk, script[n : n + size], "browser", recordings[pk])
        for n in range(0, max(map(len, scripts)), size)
        for pk, script in zip(ids, scripts, strict=True)
        if script[n : n + size]
    ]
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(batches), group):
        outcomes = writer.write_group(batches[start : start + group])
        failed = [o for o in outcomes if isinstance(o, Exception)]
        if failed:
            raise RuntimeError(f"a batch failed: {failed[0]!r}")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    events = sum(len(batch.events) for batch in batches)
    return {"events": events, "cpu_s": cpu, "wall_s": wall, "group": group}


# The child: this file loaded by its path (not as `bench.group_writes`, which the measured tree
# may lack), fed the scripts on its standard input.
CHILD = f"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("group_writes", {str(THIS_FILE)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(module.measure_here(json.load(sys.stdin))))
"""


def measure_child(tree: Path, database_url: str, work: dict[str, Any]) -> dict[str, float]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "voiceapp.settings",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(tree),
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=tree,
        env=env,
        input=json.dumps(work),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
    if done.returncode:
        raise RuntimeError(f"{tree} on {database_url.split(':')[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(tree: Path, kind: str, work: dict[str, Any]) -> dict[str, float]:
    from bench.database import postgres_database

    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="voiceapp-group-writes-") as folder:
            return measure_child(tree, f"sqlite:///{folder}/writes.sqlite3", work)
    with postgres_database() as url:
        return measure_child(tree, url, work)


HEADERS = [
    "tree", "database", "calls x events", "events per batch", "batches per group", "CPU µs/event",
    "wall µs/event", "events/s (one thread)",
]  # fmt: skip


def run(options: argparse.Namespace) -> str:
    from bench.database import postgres_available
    from bench.figures import table
    from bench.ingestion import conversation

    scripts = [conversation(f"call{n}", options.events) for n in range(options.calls)]
    work = {"scripts": scripts, "batch": options.batch, "group": options.group}
    kinds = list(options.databases)
    if "postgres" in kinds and not postgres_available():
        print("PostgreSQL at 127.0.0.1:5432 does not answer: skipping it.", flush=True)
        kinds.remove("postgres")
    trees = [("this checkout", REPO)] + [(str(tree), tree.resolve()) for tree in options.tree]
    rows = []
    for kind in kinds:
        for label, tree in trees:
            found = measure(tree, kind, work)
            per_event = 1e6 / found["events"]
            rows.append(
                [label, kind, f"{options.calls} x {options.events}", str(options.batch),
                 f"{found['group']:.0f}",
                 f"{found['cpu_s'] * per_event:.0f}", f"{found['wall_s'] * per_event:.0f}",
                 f"{found['events'] / found['wall_s']:.0f}"]
            )  # fmt: skip
    return table("Relayed batches stored in groups, in-process", HEADERS, rows)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="The database thread's CPU per relayed event.")
    parser.add_argument("--calls", type=int, default=200, help="conversations relayed at once")
    parser.add_argument("--events", type=int, default=60, help="events per conversation")
    parser.add_argument("--batch", type=int, default=1, help="events per batch")
    parser.add_argument(
        "--group", type=int, default=0, help="batches per group (default: the writer's maximum)"
    )
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument(
        "--tree", type=Path, action="append", default=[],
        help="another checkout to measure alongside (repeatable)",
    )  # fmt: skip
    return parser


if __name__ == "__main__":
    # Here, not at the top: a measured tree's child imports this file beside its own `bench`.
    from bench.figures import print_tables

    print_tables(run, parser)
