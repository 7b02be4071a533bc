"""The machine a run was made on, printed above its tables so figures are never read alone."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata

PACKAGES = ("Django", "channels", "daphne", "Twisted", "httpx", "websockets", "fastapi", "uvicorn")


def cpu_model() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def node_version() -> str:
    try:
        done = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10)
    except OSError:
        return "not installed"
    return done.stdout.strip() or "unknown"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    with open("/proc/loadavg") as loadavg:
        return " / ".join(loadavg.read().split()[:3])


def describe() -> str:
    packages = ", ".join(f"{name} {version(name)}" for name in PACKAGES)
    return "\n".join(
        [
            "### Machine",
            "",
            f"- CPU: {cpu_model()}, nproc {os.cpu_count()}",
            f"- Python {platform.python_version()}, Node {node_version()}, {platform.platform()}",
            f"- {packages}",
            f"- load average (1 / 5 / 15 min) at start: {load_average()}",
            "",
        ]
    )
