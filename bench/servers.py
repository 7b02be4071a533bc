"""Starting and stopping the processes a benchmark talks to, all on 127.0.0.1.

Every server is a child process with its output in a log file under the run's work folder; each is
stopped (SIGTERM, then SIGKILL after a grace period) when its `ExitStack` closes, whatever happens
in the measurement. Ports are picked at run time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STUB_KEY = "sk-bench-stub-key"
START_TIMEOUT = 60.0
STOP_GRACE = 5.0
VOICEAPP_APP = "voiceapp.asgi:application"


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def cpu_seconds(self) -> float:
        """CPU time (user + system, all threads) the server process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # utime and stime are fields 14 and 15 of stat(5), counted from after the name.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self) -> int:
        """Resident memory of the server process (VmRSS), in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"{self.name}: no VmRSS for pid {self.process.pid}")


def free_port() -> int:
    """A port free right now; the small race with other processes is accepted for a benchmark."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def wait_listening(server: Server, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{server.name} exited ({server.process.returncode}):\n{tail}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, server.port), 0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{server.name} did not listen on {server.port} within {timeout:.0f} s")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(STOP_GRACE)


@contextlib.contextmanager
def running(
    name: str, argv: Sequence[str], *, port: int, workdir: Path, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Start `argv`, wait until it listens on `port`, yield it, and always stop it."""
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(argv), cwd=REPO, env={**os.environ, **(env or {})}, stdout=out, stderr=out
        )
    server = Server(name, process, port, log)
    try:
        wait_listening(server)
        yield server
    finally:
        stop(server)


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def stub_upstream(workdir: Path) -> contextlib.AbstractContextManager[Server]:
    port = free_port()
    argv = python("-m", "bench.stub_upstream", "--port", str(port))
    return running("stub-upstream", argv, port=port, workdir=workdir)


def upstream_env(upstream: Server, key: str = STUB_KEY, prefix: str = "/v1") -> dict[str, str]:
    """The settings that point a broker (ours or an alternative) at `upstream`."""
    return {"OPENAI_API_KEY": key, "OPENAI_BASE_URL": f"{upstream.base}{prefix}"}


def daphne(
    workdir: Path, env: dict[str, str], app: str = VOICEAPP_APP, name: str = "daphne"
) -> contextlib.AbstractContextManager[Server]:
    port = free_port()
    argv = python("-m", "daphne", "-b", HOST, "-p", str(port), app)
    return running(name, argv, port=port, workdir=workdir, env=env)


EXPRESS_DIR = REPO / "bench" / "alternatives" / "express"
NPM_TIMEOUT = 300.0


def ensure_express_installed() -> None:
    """`npm install` into the Express folder once (node_modules is not committed)."""
    if (EXPRESS_DIR / "node_modules" / "express").is_dir():
        return
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent"],
        cwd=EXPRESS_DIR,
        check=True,
        timeout=NPM_TIMEOUT,
    )


def express(workdir: Path, upstream: Server) -> contextlib.AbstractContextManager[Server]:
    ensure_express_installed()
    port = free_port()
    env = {**upstream_env(upstream), "PORT": str(port), "NODE_ENV": "production"}
    argv = ["node", str(EXPRESS_DIR / "server.js")]
    return running("express", argv, port=port, workdir=workdir, env=env)


def fastapi(workdir: Path, upstream: Server) -> contextlib.AbstractContextManager[Server]:
    port = free_port()
    argv = python(
        "-m", "uvicorn", "bench.alternatives.fastapi_proxy:app", "--host", HOST,
        "--port", str(port), "--no-access-log", "--log-level", "warning",
    )  # fmt: skip
    return running("fastapi", argv, port=port, workdir=workdir, env=upstream_env(upstream))


def add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--app",
        default=VOICEAPP_APP,
        help="the ASGI application Daphne serves as Voiceapp (to measure a variant)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for Voiceapp's processes, applied last (repeatable; e.g. DATABASE_URL)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep databases and server logs in this folder (default: a temporary one)",
    )


@contextlib.contextmanager
def workdir(options: argparse.Namespace) -> Iterator[Path]:
    """The run's folder for logs and SQLite files: the one asked for, or a temporary one."""
    if options.workdir is not None:
        options.workdir.mkdir(parents=True, exist_ok=True)
        yield options.workdir.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="voiceapp-bench-") as folder:
        yield Path(folder)


def overridden(env: dict[str, str], options: argparse.Namespace) -> dict[str, str]:
    """`env` with the run's `--env NAME=VALUE` settings applied on top."""
    extra = dict(item.split("=", 1) for item in options.env)
    return {**env, **extra}
