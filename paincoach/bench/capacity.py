"""Capacity: the turns per second a set-up sustains with p95 within 1 s.

Simulated patients (paincoach/bench/patients.py) each go through the conversation, reading
every reply for a while (exponentially distributed, mean THINK_SECONDS) before the next
turn, and start a new conversation when one ends. The offered load is the number of active
patients divided by the think time. It is raised step by step until the p95 of a step passes
1 s, then bisected between the highest step that held and the lowest that broke. Between
steps every patient pauses and the set-up drains, so a step never measures the queue the one
before left; the first seconds of each step are not counted.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from paincoach.bench.measure import Step, knee, next_offered, percentile
from paincoach.bench.patients import CONVERSATION, Patient, timed

THINK_SECONDS = 1.5
LIMIT = 1.0  # p95 in seconds


@dataclass
class Record:
    started: float
    latency: float
    answered: bool
    kind: str


@dataclass
class Load:
    """A pool of patients whose number of active members is the offered load."""

    make_patient: Callable[[int], Patient]
    think: float = THINK_SECONDS
    seed: int = 7
    active: int = 0
    records: list[Record] = field(default_factory=list)
    in_flight: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def _patient(self, index: int) -> None:
        rng = random.Random(self.seed * 100_003 + index)
        conversation = 0
        while True:
            patient = self.make_patient(index * 10_000 + conversation)
            conversation += 1
            for turn in CONVERSATION:
                await asyncio.sleep(rng.expovariate(1 / self.think))
                while index >= self.active:
                    self.changed.clear()
                    await self.changed.wait()
                self.in_flight += 1
                started = time.perf_counter()
                latency, answered = await timed(patient, turn)
                self.in_flight -= 1
                self.records.append(Record(started, latency, answered, turn.kind))

    def set_patients(self, count: int) -> None:
        while len(self.tasks) < count:
            self.tasks.append(asyncio.create_task(self._patient(len(self.tasks))))
        self.active = count
        self.changed.set()

    async def step(self, offered: float, seconds: float, warmup: float) -> Step:
        """Offer `offered` turns per second for `seconds`; figures from after `warmup`."""
        self.set_patients(max(1, round(offered * self.think)))
        begin = time.perf_counter() + warmup
        await asyncio.sleep(seconds)
        end = time.perf_counter()
        self.set_patients(0)
        while self.in_flight:  # drain: the next step starts from an idle set-up
            await asyncio.sleep(0.05)
        window = [r for r in self.records if begin <= r.started < end]
        served = sum(1 for r in window if r.answered and r.started + r.latency <= end)
        return Step(
            offered=self.active_offered(offered),
            served=served / (end - begin),
            p95=percentile([r.latency for r in window], 0.95),
            failed=sum(1 for r in window if not r.answered),
        )

    def active_offered(self, offered: float) -> float:
        return max(1, round(offered * self.think)) / self.think

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@dataclass(frozen=True)
class Ramp:
    start: float = 3.0  # turns/s offered first
    factor: float = 1.4  # up by this much while the p95 holds
    resolution: float = 0.15  # bisect until the bracket is this narrow (fraction)
    seconds: float = 10.0  # per step
    warmup: float = 2.0
    max_steps: int = 9


async def find_capacity(
    make_patient: Callable[[int], Patient],
    ramp: Ramp,
    on_step: Callable[[Step], None] | None = None,
) -> tuple[Step | None, list[Step]]:
    """Ramp the load until the p95 passes LIMIT; the knee step and all steps run."""
    load = Load(make_patient)
    steps: list[Step] = []
    try:
        while len(steps) < ramp.max_steps:
            offered = next_offered(steps, ramp.start, ramp.factor, ramp.resolution, LIMIT)
            if offered is None:
                break
            step = await load.step(offered, ramp.seconds, ramp.warmup)
            steps.append(step)
            if on_step:
                on_step(step)
    finally:
        await load.close()
    return knee(steps, LIMIT), steps


async def steady(
    make_patient: Callable[[int], Patient], offered: float, seconds: float, warmup: float
) -> tuple[float, float, int]:
    """p50 and p95 (seconds) at a steady offered load, after `warmup`; and the number of
    turns taken in all (for CPU per turn)."""
    load = Load(make_patient)
    try:
        load.set_patients(max(1, round(offered * load.think)))
        begin = time.perf_counter() + warmup
        await asyncio.sleep(seconds)
        end = time.perf_counter()
        load.set_patients(0)
        while load.in_flight:
            await asyncio.sleep(0.05)
    finally:
        await load.close()
    window = [r.latency for r in load.records if begin <= r.started < end]
    return percentile(window, 0.5), percentile(window, 0.95), len(load.records)


async def single_patient(
    make_patient: Callable[[int], Patient], conversations: int = 1
) -> dict[str, list[float]]:
    """One patient, one turn at a time, no think time: latencies by kind of turn."""
    latencies: dict[str, list[float]] = {}
    for number in range(conversations):
        patient = make_patient(number)
        for turn in CONVERSATION:
            latency, _ = await timed(patient, turn)
            latencies.setdefault(turn.kind, []).append(latency)
            latencies.setdefault("all", []).append(latency)
    return latencies
