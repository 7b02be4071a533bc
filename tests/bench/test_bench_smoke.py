"""The benchmarks keep working: each script runs at tiny sizes and prints its tables.

No timing is asserted here (a loaded CI machine would make any threshold flaky); the figures are
for `make bench` and BENCHMARKS.md. Every script runs in a child process, as a newcomer runs it.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

from bench import broker, figures
from bench.stub_upstream import Counters, Request, route

REPO = Path(__file__).resolve().parents[2]
SCRIPT_TIMEOUT = 300


def run_bench(module: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def available_alternatives() -> list[str]:
    """The alternative brokers this machine can run (bench-only dependencies may be missing)."""
    found = []
    if shutil.which("node") and shutil.which("npm"):
        found.append("express")
    if importlib.util.find_spec("fastapi") and importlib.util.find_spec("uvicorn"):
        found.append("fastapi")
    return found


def table_rows(output: str, title: str) -> list[list[str]]:
    """The body rows of the table headed `### title`, as lists of cells."""
    section = output.split(f"### {title}", 1)[1].split("###", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_broker_bench_times_every_path_at_every_level() -> None:
    alternatives = available_alternatives()
    output = run_bench(
        "bench.broker", "--levels", "1", "3", "--calls-up", "4", "--samples", "3",
        "--engine-levels", "1", "--engine-samples", "2", "--sustained-workers", "3",
        "--sustained-seconds", "1",
        "--alternatives", *alternatives,
    )  # fmt: skip
    expected_paths = {"direct to upstream", "voiceapp", *alternatives}
    for title in (
        "SDP offer → answer, N offers at once (stub upstream)",
        "Ephemeral key issuance (stub upstream)",
    ):
        rows = table_rows(output, title)
        assert {(row[0], row[1]) for row in rows} == {
            (level, path) for level in ("1", "3") for path in expected_paths
        }
        assert all(int(row[2]) >= 3 for row in rows)
    calls_up = table_rows(output, broker.CALLS_UP_TITLE)
    assert {(row[0], row[1]) for row in calls_up} == {("4", path) for path in expected_paths}
    assert all(int(row[2]) >= 3 for row in calls_up)
    for title in (
        "SDP offer → answer (local engine: real aiortc peers)",
        "Ephemeral key issuance (local engine)",
    ):
        rows = table_rows(output, title)
        assert {(row[0], row[1]) for row in rows} == {("1", "direct to engine"), ("1", "voiceapp")}


def test_ingestion_bench_stores_everything_exactly_once() -> None:
    output = run_bench(
        "bench.ingestion", "--sockets", "3", "--events", "20", "--max-events", "40",
        "--rate", "100", "--databases", "sqlite", "postgres",
    )  # fmt: skip
    rows = table_rows(output, "Transcript ingestion (events relayed over signaling sockets)")
    echo = [row for row in rows if row[0] == "echo consumer"]
    voiceapp = [row for row in rows if row[0] == "voiceapp"]
    assert len(echo) == 2
    assert voiceapp
    assert all((row[8], row[9]) == ("0", "0") for row in voiceapp)


def test_capacity_bench_reports_each_level_and_after_close() -> None:
    output = run_bench("bench.capacity", "--levels", "10", "30", "--users", "3")
    rows = table_rows(output, "Idle signaling sockets held by one Daphne process (SQLite)")
    assert [row[0] for row in rows] == ["0 (before)", "10", "30", "0 (all closed)", "30 again"]


def test_group_writes_bench_measures_this_checkout_and_another_tree(tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["git", "worktree", "add", "--detach", str(other)], cwd=REPO, check=True,
                   capture_output=True)  # fmt: skip
    try:
        output = run_bench(
            "bench.group_writes", "--calls", "3", "--events", "10", "--tree", str(other),
            "--batch", "5", "--group", "2", "--databases", "sqlite", "postgres",
        )  # fmt: skip
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=REPO, check=True)
    rows = table_rows(output, "Relayed batches stored in groups, in-process")
    assert [row[0] for row in rows] == ["this checkout", str(other)] * (len(rows) // 2)
    assert {row[1] for row in rows} >= {"sqlite"}
    assert all(row[2:5] == ["3 x 10", "5", "2"] and float(row[5]) > 0 for row in rows)


def test_upstream_client_bench_measures_each_transport_at_each_level() -> None:
    output = run_bench("bench.upstream_client", "--requests", "6", "--levels", "1", "3")
    rows = table_rows(output, "Upstream requests from Voiceapp's client, by transport")
    offers = [row[1:3] for row in rows if row[0] == "create_call"]
    keys = [row[1:3] for row in rows if row[0] == "create_client_secret"]
    transports = ["aiohttp", "httpcore"]
    assert offers == [
        [level, t] for level in ("1", "3") for t in [*transports, "aiohttp alone (no httpx)"]
    ]
    assert keys == [[level, t] for level in ("1", "3") for t in transports]
    assert all(float(row[4]) > 0 for row in rows)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (figures.percentile(values, 50), figures.percentile(values, 99)) == (50.0, 99.0)
    assert figures.percentile([7.0], 99) == 7.0


def test_stub_answers_a_multipart_offer_with_201_sdp_and_location() -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="sdp"\r\n\r\nv=0\r\n--b--\r\n'
    headers = {"authorization": "Bearer sk-x", "content-type": "multipart/form-data; boundary=b"}
    counters = Counters()
    endpoint, response = route(Request("POST", "/v1/realtime/calls", headers, body), counters)
    assert (endpoint, response.status) == ("calls", 201)
    assert response.body.startswith(b"v=0")
    assert response.headers["Location"].startswith("/v1/realtime/calls/rtc_")


def test_stub_refuses_a_call_without_a_key() -> None:
    request = Request("POST", "/v1/realtime/calls", {"content-type": "application/sdp"}, b"v=0")
    endpoint, response = route(request, Counters())
    assert (endpoint, response.status) == ("unauthorized", 401)


def test_stub_hangs_up_a_call() -> None:
    path = "/v1/realtime/calls/rtc_abc/hangup"
    request = Request("POST", path, {"authorization": "Bearer sk-x"}, b"")
    assert route(request, Counters())[1].status == 200
