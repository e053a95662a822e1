"""The bench's arithmetic and report (bench/stats.py, bench/run.py's ratios): pure pieces only,
no timing."""

from __future__ import annotations

import math

import pytest

from bench import stats
from bench.run import ratios


def test_percentiles_interpolate_between_ranks_like_numpy():
    values = [0.010, 0.020, 0.030, 0.040, 0.100]
    assert stats.percentile(values, 0) == 0.010
    assert stats.percentile(values, 50) == 0.030
    assert stats.percentile(values, 100) == 0.100
    assert stats.percentile(values, 95) == pytest.approx(0.088)
    assert stats.percentile([5.0], 99) == 5.0
    assert math.isnan(stats.percentile([], 50))
    with pytest.raises(ValueError):
        stats.percentile(values, 101)


def test_summary_is_in_milliseconds_and_ignores_order():
    s = stats.summary([0.3, 0.1, 0.2])
    assert s["n"] == 3
    assert s["p50_ms"] == pytest.approx(200)
    assert s["max_ms"] == pytest.approx(300)


def test_ratios_compare_the_booking_with_its_floor_and_ceiling():
    result = {
        "sequential": {
            "latencies": {
                "booking move over HTTP": stats.summary([0.05, 0.05, 0.05]),
                "plain SQL UPDATE over HTTP": stats.summary([0.01, 0.01, 0.01]),
            }
        },
        "journeys": [
            {
                "clients": 5,
                "booking": {"journeys_per_s": 2.0, "moves": {"create": stats.summary([0.04])}},
                "toy": {"journeys_per_s": 8.0},
            }
        ],
    }
    out = ratios(result)
    assert out["move p50 / plain SQL p50"]["value"] == pytest.approx(5)
    assert out["booking j/s / toy j/s at 5 clients (%)"]["value"] == pytest.approx(25)
    assert out["create p50 ms at 5 clients"]["value"] == pytest.approx(40)


def test_the_report_renders_every_section_without_raw_samples():
    result = {
        "started_at": "2026-12-03T12:00:00+00:00",
        "notes": ["a shared machine"],
        "ratios": {"x / y": {"value": 2.0, "target": "≤ 5"}},
        "journeys": [
            {
                "clients": 1,
                "booking": {
                    "journeys_per_s": 1.0,
                    "errors": 0,
                    "moves": {"create": stats.summary([0.1])},
                },
                "toy": {"journeys_per_s": math.nan, "errors": 1, "moves": {}},
            }
        ],
        "lists": {
            "bookings in table": 10,
            "latencies": {"page 1": stats.summary([0.01])},
            "raw": {"page 1": [0.01]},
        },
        "memory": {"worker RSS MiB": 100.0},
    }
    text = stats.render(result)
    assert "# Medivoy bench, 2026-12-03T12:00:00+00:00" in text
    assert "- a shared machine" in text
    assert "| x / y | 2.0 | ≤ 5 |" in text
    assert "| 1 | 1.0 | n/a | n/a | 0 | 1 |" in text
    assert "| page 1 | 1 | 10.0 |" in text
    assert "- bookings in table: 10" in text
    assert "raw" not in text
    assert "- worker RSS MiB: 100.0" in text
