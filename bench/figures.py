"""Turning measurements into the figures the benchmarks print: percentiles and plain tables.

Tables are GitHub Markdown so a run's output can be pasted into BENCHMARKS.md unchanged.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Latency:
    """Latencies of one measured path, in milliseconds."""

    samples: int
    p50: float
    p99: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ms = [value * 1000 for value in seconds]
        return cls(len(ms), percentile(ms, 50), percentile(ms, 99))


def ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def ratio(ours: float, theirs: float) -> str:
    """`ours / theirs` as "0.80x"; below 1 means Voiceapp is faster (smaller is better)."""
    if math.isnan(ours) or math.isnan(theirs) or theirs <= 0:
        return "n/a"
    return f"{ours / theirs:.2f}x"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    return "\n".join([f"### {title}", "", line, rule, *body, ""])


def print_tables(
    run: Callable[[argparse.Namespace], str], parser: Callable[[], argparse.ArgumentParser]
) -> None:
    """A script's entry point (`python -m bench.<script>`): parse the command line, run, print
    the tables."""
    print(run(parser().parse_args()), flush=True)
