"""The scheduler: local times and DST, skips, restarts, and no job claimed twice."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from paincoach.db.engine import session_scope
from paincoach.db.models import CheckIn, Participant, ScheduledJob
from paincoach.db.store import CoachStore, Consent
from paincoach.scheduler.clock import FakeClock
from paincoach.scheduler.jobs import JobStore, next_local_time
from paincoach.scheduler.runner import Scheduler
from paincoach.settings import Settings

OSLO = "Europe/Oslo"


class RecordingTrigger:
    """Stands in for the gateway: records each turn the scheduler starts."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    async def trigger(self, pseudonym: str, intent: str, entities: dict[str, Any]) -> bool:
        self.sent.append((pseudonym, intent, entities))
        return True


def enrol(store: CoachStore, pseudonym: str, at: time = time(20), tz: str = OSLO) -> None:
    store.register_consent(pseudonym, Consent(False, "Sam", at, tz))


def test_next_local_time_across_dst() -> None:
    # Oslo is UTC+1 in winter and UTC+2 in summer; 20:00 local stays 20:00 local.
    winter = datetime(2026, 3, 28, 12, tzinfo=UTC)
    assert next_local_time(winter, time(20), OSLO) == datetime(2026, 3, 28, 19, tzinfo=UTC)
    after_change = datetime(2026, 3, 29, 12, tzinfo=UTC)
    assert next_local_time(after_change, time(20), OSLO) == datetime(2026, 3, 29, 18, tzinfo=UTC)
    # 02:30 does not exist on the night clocks go forward: it is sent an hour later.
    night = datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert next_local_time(night, time(2, 30), OSLO) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    # Already past today: tomorrow. Unknown zones fall back to UTC.
    late = datetime(2026, 6, 1, 19, tzinfo=UTC)
    assert next_local_time(late, time(20), OSLO) == datetime(2026, 6, 2, 18, tzinfo=UTC)
    assert next_local_time(late, time(20), "Mars/Base") == datetime(2026, 6, 1, 20, tzinfo=UTC)


async def test_reminder_fires_at_local_time_once(store: CoachStore, database_url: str) -> None:
    enrol(store, "p-oslo")
    clock = FakeClock(datetime(2026, 1, 10, 18, 58, tzinfo=UTC))  # 19:58 in Oslo
    trigger = RecordingTrigger()
    scheduler = Scheduler(JobStore(database_url), trigger, Settings(), clock)
    assert sum((await scheduler.tick()).values()) == 0
    clock.advance(timedelta(minutes=2))  # 20:00 in Oslo
    assert (await scheduler.tick())["sent"] == 1
    assert trigger.sent == [("p-oslo", "start_checkin", {"reminder": "daily"})]
    assert sum((await scheduler.tick()).values()) == 0  # not twice
    clock.advance(timedelta(days=1))
    await scheduler.tick()
    assert len(trigger.sent) == 2  # and again the next evening


async def test_no_reminder_after_a_check_in_today_or_while_paused(
    store: CoachStore, database_url: str
) -> None:
    enrol(store, "p-done")
    enrol(store, "p-paused")
    clock = FakeClock(datetime(2026, 1, 10, 12, tzinfo=UTC))
    trigger = RecordingTrigger()
    scheduler = Scheduler(JobStore(database_url), trigger, Settings(), clock)
    await scheduler.tick()  # plans both
    store.save_checkin("p-done", {"pain_average": 4}, completed=True)
    with session_scope(database_url) as session:
        session.execute(update(CheckIn).values(started_at=datetime(2026, 1, 10, 11, tzinfo=UTC)))
    store.set_reminders_paused("p-paused", True)
    clock.advance(timedelta(hours=8))
    outcomes = await scheduler.tick()
    assert outcomes["skipped"] == 2 and trigger.sent == []


async def test_a_nudge_after_days_of_silence(store: CoachStore, database_url: str) -> None:
    enrol(store, "p-quiet")
    with session_scope(database_url) as session:
        session.execute(update(Participant).values(consented_at=datetime(2026, 1, 1, tzinfo=UTC)))
    clock = FakeClock(datetime(2026, 1, 10, 19, 30, tzinfo=UTC))
    trigger = RecordingTrigger()
    scheduler = Scheduler(JobStore(database_url), trigger, Settings(nudge_after_days=3), clock)
    await scheduler.tick()
    clock.advance(timedelta(days=1))
    await scheduler.tick()
    assert trigger.sent == [("p-quiet", "start_checkin", {"reminder": "nudge"})]


async def test_pending_jobs_survive_a_restart_and_go_out_once(
    store: CoachStore, database_url: str
) -> None:
    for n in range(5):
        enrol(store, f"p-{n}")
    clock = FakeClock(datetime(2026, 1, 10, 12, tzinfo=UTC))
    before_restart = Scheduler(JobStore(database_url), RecordingTrigger(), Settings(), clock)
    await before_restart.tick()  # plans, nothing due yet
    clock.advance(timedelta(hours=8))
    # A new process (new objects, same database) finds the planned jobs and sends each once.
    trigger = RecordingTrigger()
    after_restart = Scheduler(JobStore(database_url), trigger, Settings(), clock)
    await asyncio.gather(after_restart.tick(), after_restart.tick())
    await after_restart.tick()
    assert sorted(p for p, _, _ in trigger.sent) == [f"p-{n}" for n in range(5)]


async def test_a_job_claimed_by_a_crashed_process_is_sent_later(
    store: CoachStore, database_url: str
) -> None:
    enrol(store, "p-crash")
    jobs = JobStore(database_url)
    now = datetime(2026, 1, 10, 19, 0, 1, tzinfo=UTC)
    jobs.plan_reminders(now - timedelta(hours=1))
    assert len(jobs.claim_due(now)) == 1  # the process dies before sending
    assert jobs.claim_due(now + timedelta(minutes=1)) == []
    trigger = RecordingTrigger()
    clock = FakeClock(now + timedelta(minutes=10))
    await Scheduler(jobs, trigger, Settings(), clock).tick()
    assert [p for p, _, _ in trigger.sent] == ["p-crash"]


async def test_pushes_go_to_the_named_participants(store: CoachStore, database_url: str) -> None:
    enrol(store, "p-a")
    enrol(store, "p-b")
    jobs = JobStore(database_url)
    at = datetime(2026, 1, 10, 9, tzinfo=UTC)
    assert jobs.schedule_push(["p-a", "p-b", "p-unknown"], "module_push", at, {"module": "m1"}) == 2
    trigger = RecordingTrigger()
    await Scheduler(jobs, trigger, Settings(), FakeClock(at)).tick()
    pushes = sorted((p, i, e) for p, i, e in trigger.sent if i == "module_push")
    assert pushes == [
        ("p-a", "module_push", {"module": "m1"}),
        ("p-b", "module_push", {"module": "m1"}),
    ]


def test_replicas_never_claim_the_same_job(postgres_url: str) -> None:
    from paincoach.db import migrate

    migrate.upgrade(postgres_url)
    store = CoachStore(postgres_url)
    for n in range(200):
        enrol(store, f"p-{n:03}")
    jobs = JobStore(postgres_url)
    now = datetime(2026, 1, 10, 12, tzinfo=UTC)
    assert jobs.plan_reminders(now) == 200
    later = now + timedelta(hours=8)
    with ThreadPoolExecutor(max_workers=4) as pool:
        claims = list(pool.map(lambda _: jobs.claim_due(later, limit=30), range(12)))
    claimed = [job.id for batch in claims for job in batch]
    assert len(claimed) == len(set(claimed)) == 200
    with session_scope(postgres_url) as session:
        statuses = set(session.scalars(select(ScheduledJob.status)))
    assert statuses == {"sending"}


@pytest.mark.parametrize("planners", [2])
def test_planning_twice_plans_once(store: CoachStore, database_url: str, planners: int) -> None:
    enrol(store, "p-plan")
    now = datetime(2026, 1, 10, 12, tzinfo=UTC)
    created = [JobStore(database_url).plan_reminders(now) for _ in range(planners)]
    assert created == [1, 0]
