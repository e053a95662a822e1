"""The bench's arithmetic and its report: percentiles, summaries, ratios, the Markdown table.
Pure functions only (tests/bench/test_stats.py holds them to their word)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation between closest ranks (numpy's
    default); NaN for no values."""
    if not values:
        return math.nan
    if not 0 <= p <= 100:
        raise ValueError("p is a percent from 0 to 100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(seconds: Sequence[float]) -> dict[str, float]:
    """n, p50/p95/p99 and max, in milliseconds."""
    return {
        "n": len(seconds),
        "p50_ms": percentile(seconds, 50) * 1000,
        "p95_ms": percentile(seconds, 95) * 1000,
        "p99_ms": percentile(seconds, 99) * 1000,
        "max_ms": (max(seconds) * 1000) if seconds else math.nan,
    }


def ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def fmt(value: Any, digits: int = 1) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:,.{digits}f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return lines


def _latency_rows(latencies: Mapping[str, Mapping[str, float]]) -> list[list[Any]]:
    return [
        [name, int(s["n"]), s["p50_ms"], s["p95_ms"], s["p99_ms"], s["max_ms"]]
        for name, s in latencies.items()
    ]


LATENCY_HEADER = ["what", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"]


def render(result: Mapping[str, Any]) -> str:
    """The Markdown report of one run (the JSON the bench writes)."""
    out: list[str] = [f"# Medivoy bench, {result.get('started_at', '?')}", ""]
    notes = result.get("notes") or []
    out += [f"- {note}" for note in notes]
    if notes:
        out.append("")

    ratios = result.get("ratios") or {}
    if ratios:
        out += ["## Ratios", ""]
        out += _table(
            ["ratio", "value", "target"],
            [[name, r["value"], r.get("target", "")] for name, r in ratios.items()],
        )
        out.append("")

    journeys = result.get("journeys") or []
    if journeys:
        out += ["## Journeys/s by clients (booking over HTTP vs toy workflow)", ""]
        rows = []
        for level in journeys:
            booking = level.get("booking") or {}
            toy = level.get("toy") or {}
            rows.append(
                [
                    level["clients"],
                    booking.get("journeys_per_s", math.nan),
                    toy.get("journeys_per_s", math.nan),
                    ratio(
                        booking.get("journeys_per_s", math.nan), toy.get("journeys_per_s", math.nan)
                    )
                    * 100,
                    booking.get("errors", 0),
                    toy.get("errors", 0),
                ]
            )
        out += _table(
            [
                "clients",
                "booking j/s",
                "toy j/s",
                "booking % of toy",
                "booking errors",
                "toy errors",
            ],
            rows,
        )
        out.append("")
        for level in journeys:
            for kind in ("booking", "toy"):
                moves = (level.get(kind) or {}).get("moves") or {}
                if moves:
                    out += [f"### {kind}, {level['clients']} clients", ""]
                    out += _table(LATENCY_HEADER, _latency_rows(moves))
                    out.append("")

    for key, title in (
        ("sequential", "One move at a time (sequential)"),
        ("open_bookings", "With open bookings waiting on timers"),
        ("lists", "Lists"),
    ):
        section = result.get(key) or {}
        latencies = section.get("latencies") or {}
        if latencies:
            out += [f"## {title}", ""]
            extra = {k: v for k, v in section.items() if k not in ("latencies", "raw")}
            out += [f"- {k}: {fmt(v)}" for k, v in extra.items()]
            if extra:
                out.append("")
            out += _table(LATENCY_HEADER, _latency_rows(latencies))
            out.append("")

    for key, title in (
        ("memory", "Memory"),
        ("start", "Start"),
        ("anatomy", "Where the time goes"),
    ):
        section = result.get(key) or {}
        if section:
            out += [f"## {title}", ""]
            out += [f"- {k}: {fmt(v)}" for k, v in section.items()]
            out.append("")
    return "\n".join(out).rstrip() + "\n"
