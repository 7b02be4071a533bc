"""`python -m bench` (what `make bench` runs): every benchmark in turn, one report.

The machine comes first, then each script's tables. `--quick` runs each at tiny sizes (what the
smoke test does) to check that everything still works, not to measure.
Each script also runs alone: `python -m bench.broker`, `python -m bench.ingestion`,
`python -m bench.capacity`, `python -m bench.group_writes`, `python -m bench.upstream_client`,
`python -m bench.engine_latency`, `python -m bench.history_at_scale` (PostgreSQL; the heaviest:
it seeds 1,000,000 turns).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from bench.machine import describe, load_average

# Each script's module, and the arguments that make it tiny for --quick.
SCRIPTS: dict[str, list[str]] = {
    "broker": [
        "--levels",
        "1",
        "4",
        "--calls-up",
        "4",
        "--samples",
        "8",
        "--engine-levels",
        "1",
        "--sustained-workers",
        "4",
        "--sustained-seconds",
        "1",
    ],
    "ingestion": ["--sockets", "3", "--events", "20", "--max-events", "40", "--rate", "100"],
    "capacity": ["--levels", "20", "50", "--users", "5"],
    "group_writes": ["--calls", "5", "--events", "10"],
    "upstream_client": ["--requests", "20", "--levels", "1", "4"],
    "engine_latency": ["--levels", "1", "--rounds", "1"],
    "history_at_scale": ["--conversations", "200", "--turns-per", "5", "--users", "5"],
}


def run_script(name: str, quick: bool) -> str:
    module = importlib.import_module(f"bench.{name}")
    started = time.monotonic()
    output = module.run(module.parser().parse_args(SCRIPTS[name] if quick else []))
    return f"## bench.{name} ({time.monotonic() - started:.0f} s)\n\n{output}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("scripts", nargs="*", help=f"some of {', '.join(SCRIPTS)} (default all)")
    options = parser.parse_args()
    unknown = set(options.scripts) - set(SCRIPTS)
    if unknown:
        parser.error(f"unknown script(s): {', '.join(sorted(unknown))}")
    print(describe(), flush=True)
    for name in options.scripts or SCRIPTS:
        print(run_script(name, options.quick), flush=True)
    print(f"Load average (1 / 5 / 15 min) at the end: {load_average()}")
    sys.exit(0)


if __name__ == "__main__":
    main()
