"""The speed benchmark's arithmetic: percentiles, the spread of repeated runs, and the
search for the knee of a load ramp (paincoach/bench/measure.py)."""

from __future__ import annotations

import os

import pytest

from paincoach.bench.measure import (
    Figure,
    Machine,
    Step,
    cpu_seconds,
    knee,
    next_offered,
    percentile,
    rss_mb,
)


def test_percentile_is_the_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 0.5) == 50
    assert percentile(samples, 0.95) == 95
    assert percentile([3.0], 0.95) == 3.0
    assert percentile(list(reversed(samples)), 0.95) == 95


def test_spread_is_the_largest_distance_from_the_median() -> None:
    figure = Figure.of([10.0, 11.0, 8.0])
    assert figure.median == 10.0
    assert figure.spread == pytest.approx(0.2)
    assert not figure.within(0.15) and figure.within(0.2)
    assert figure.show() == "10.0 (runs 10.0, 11.0, 8.0; spread ±20%)"
    assert Figure.of([5.0]).spread == 0.0


def test_the_knee_is_the_most_served_step_that_held() -> None:
    steps = [Step(5, 5, 0.2), Step(10, 9.8, 0.6), Step(14, 12, 1.4), Step(12, 11.5, 0.9)]
    assert knee(steps) == Step(12, 11.5, 0.9)
    assert knee([Step(5, 5, 1.2)]) is None
    assert knee([Step(5, 5, 0.3, failed=1)]) is None  # a lost turn is never sustainable


def test_the_ramp_goes_up_until_a_step_breaks_then_bisects() -> None:
    steps: list[Step] = []
    assert next_offered(steps, 5, 1.4, 0.1) == 5
    steps.append(Step(5, 5, 0.3))
    assert next_offered(steps, 5, 1.4, 0.1) == pytest.approx(7)
    steps.append(Step(7, 7, 0.5))
    steps.append(Step(9.8, 9, 1.5))
    assert next_offered(steps, 5, 1.4, 0.1) == pytest.approx(8.4)  # halfway
    steps.append(Step(8.4, 8.2, 0.8))
    assert next_offered(steps, 5, 1.4, 0.1) == pytest.approx(9.1)
    steps.append(Step(9.1, 8.8, 1.1))
    assert next_offered(steps, 5, 1.4, 0.1) is None  # 8.4 .. 9.1 is within 10 %


def test_when_the_first_step_breaks_the_ramp_looks_lower() -> None:
    assert next_offered([Step(5, 3, 2.0)], 5, 1.4, 0.1) == pytest.approx(5 / 1.96)
    assert next_offered([Step(0.3, 0.1, 2.0)], 0.3, 1.4, 0.1) is None


def test_machine_and_this_process_are_measured() -> None:
    machine = Machine.now()
    assert machine.cores >= 1 and machine.cpu
    assert "cores; load average before the run" in machine.header()
    if os.path.exists("/proc/self/stat"):
        assert rss_mb(os.getpid()) > 1
        assert cpu_seconds(os.getpid()) > 0
