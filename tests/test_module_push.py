"""Providers' pushes: modules and programmes at the patient's local time, listed, cancelled,
delivered by the scheduler, and follow-ups after a module."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from paincoach.db.engine import session_scope
from paincoach.db.models import ModuleProgress, Participant, ScheduledJob
from paincoach.modules import load
from paincoach.modules.push import (
    MODULE_FOLLOW_UP,
    MODULE_PUSH,
    PushError,
    PushStore,
    follow_up_time,
)
from paincoach.scheduler.clock import FakeClock
from paincoach.scheduler.jobs import JobStore
from paincoach.scheduler.runner import Scheduler
from paincoach.settings import Settings
from tests.providers import add_patient, add_provider

NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)  # 13:00 in Oslo, nine days before summer time
CATALOGUE = load()
FIRST = "understanding-pain"


class RecordingTrigger:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    async def trigger(self, pseudonym: str, intent: str, entities: dict[str, Any]) -> bool:
        self.sent.append((pseudonym, intent, entities))
        return True


@pytest.fixture
def clinic(database_url: str) -> tuple[PushStore, int, int]:
    """A push store with two providers; p-oslo and p-ny are the first's, p-other the second's."""
    mine = add_provider(database_url)
    theirs = add_provider(database_url, "other@clinic.example")
    add_patient(database_url, "p-oslo", mine, timezone="Europe/Oslo")
    add_patient(database_url, "p-ny", mine, timezone="America/New_York")
    add_patient(database_url, "p-other", theirs)
    add_patient(database_url, "p-nobody", None)
    return PushStore(database_url, CATALOGUE), mine, theirs


def jobs(url: str) -> list[ScheduledJob]:
    with session_scope(url) as session:
        return list(session.scalars(select(ScheduledJob).order_by(ScheduledJob.due_at)))


def test_a_module_now_is_one_job_for_each_patient(
    clinic: tuple[PushStore, int, int], database_url: str
) -> None:
    pushes, mine, _ = clinic
    done = pushes.push(FIRST, ["p-oslo", "p-ny", "p-oslo"], mine, now=NOW)
    assert [(p.pseudonym, p.module_id, p.due_at) for p in done] == [
        ("p-oslo", FIRST, NOW),
        ("p-ny", FIRST, NOW),
    ]
    assert done[0].module_title == CATALOGUE.modules[FIRST].title
    assert done[0].nickname == "Sam"
    (first, second) = jobs(database_url)
    assert (first.kind, first.intent, first.entities, first.created_by, first.status) == (
        MODULE_PUSH,
        "continue_module",
        {"module_id": FIRST},
        mine,
        "pending",
    )
    assert second.due_at == NOW


def test_a_programme_is_released_every_n_days_at_the_local_time_across_dst(
    clinic: tuple[PushStore, int, int],
) -> None:
    pushes, mine, _ = clinic
    starter = CATALOGUE.programmes["starter"]
    done = pushes.push("starter", ["p-oslo", "p-ny"], mine, datetime(2026, 3, 21, 9, 30), now=NOW)
    assert len(done) == 2 * len(starter.modules)
    oslo = [p for p in done if p.pseudonym == "p-oslo"]
    assert [p.module_id for p in oslo] == starter.modules
    # 09:30 on the patient's own clock every time, summer time or not.
    assert {p.due_local.time() for p in done} == {time(9, 30)}
    assert [p.due_local.date() for p in oslo][:3] == [
        datetime(2026, 3, 21).date(),
        datetime(2026, 3, 24).date(),
        datetime(2026, 3, 27).date(),
    ]
    assert oslo[0].due_at == datetime(2026, 3, 21, 8, 30, tzinfo=UTC)  # winter: UTC+1
    assert oslo[3].due_at == datetime(2026, 3, 30, 7, 30, tzinfo=UTC)  # summer: UTC+2
    new_york = [p for p in done if p.pseudonym == "p-ny"]
    assert new_york[0].due_at == datetime(2026, 3, 21, 13, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("target", "patients", "at", "says"),
    [
        ("no-such-module", ["p-oslo"], None, "no module or programme called 'no-such-module'"),
        ("", ["p-oslo"], None, "Choose a module or a programme"),
        (FIRST, [], None, "Choose at least one patient"),
        (FIRST, ["  "], None, "Choose at least one patient"),
        (FIRST, ["p-oslo", "p-other"], None, "No patient of yours has the pseudonym 'p-other'"),
        (FIRST, ["p-oslo", "p-missing"], None, "No patient of yours has the pseudonym 'p-missing'"),
        (FIRST, ["p-oslo"], datetime(2026, 3, 20, 12, 0), "has already passed for 'p-oslo'"),
        (FIRST, ["p-oslo"], datetime(2028, 1, 1, 9, 0), "at most a year ahead"),
    ],
)
def test_bad_pushes_are_refused_and_nothing_is_scheduled(
    clinic: tuple[PushStore, int, int],
    database_url: str,
    target: str,
    patients: list[str],
    at: datetime | None,
    says: str,
) -> None:
    pushes, mine, _ = clinic
    with pytest.raises(PushError, match=says):
        pushes.push(target, patients, mine, at, now=NOW)
    assert jobs(database_url) == []


def test_a_time_in_the_past_for_one_patient_only_stops_the_whole_push(
    clinic: tuple[PushStore, int, int], database_url: str
) -> None:
    pushes, mine, _ = clinic
    # 12:30 has passed in Oslo (13:00) but not in New York (08:00).
    with pytest.raises(PushError, match=r"p-oslo.*Europe/Oslo"):
        pushes.push(FIRST, ["p-ny", "p-oslo"], mine, datetime(2026, 3, 20, 12, 30), now=NOW)
    assert jobs(database_url) == []
    # A minute ago is still "now" (the form took a moment to send).
    done = pushes.push(FIRST, ["p-oslo"], mine, datetime(2026, 3, 20, 12, 59), now=NOW)
    assert done[0].due_at == NOW


def test_the_study_team_pushes_on_behalf_of_each_patients_provider(
    clinic: tuple[PushStore, int, int], database_url: str
) -> None:
    pushes, mine, theirs = clinic
    done = pushes.push(FIRST, ["p-oslo", "p-other"], None, now=NOW)
    assert len(done) == 2
    assert {j.created_by for j in jobs(database_url)} == {mine, theirs}
    with pytest.raises(PushError, match="not enrolled with a provider"):
        pushes.push(FIRST, ["p-nobody"], None, now=NOW)


def test_the_same_push_twice_is_one_job_and_two_modules_at_once_go_a_second_apart(
    clinic: tuple[PushStore, int, int], database_url: str
) -> None:
    pushes, mine, _ = clinic
    at = datetime(2026, 3, 22, 10, 0)
    once = pushes.push(FIRST, ["p-oslo"], mine, at, now=NOW)
    again = pushes.push(FIRST, ["p-oslo"], mine, at, now=NOW)
    assert once[0].job_id == again[0].job_id
    other = pushes.push("sleep", ["p-oslo"], mine, at, now=NOW)
    assert other[0].due_at == once[0].due_at + timedelta(seconds=1)
    assert len(jobs(database_url)) == 2


def test_scheduled_pushes_are_listed_and_can_be_cancelled_by_their_provider(
    clinic: tuple[PushStore, int, int],
) -> None:
    pushes, mine, theirs = clinic
    done = pushes.push("starter", ["p-oslo"], mine, datetime(2026, 3, 21, 9, 0), now=NOW)
    pushes.push(FIRST, ["p-other"], theirs, now=NOW)
    waiting = pushes.scheduled(mine)
    assert [p.job_id for p in waiting] == [p.job_id for p in done]
    assert waiting[0].due_local.replace(tzinfo=None) == datetime(2026, 3, 21, 9, 0)
    assert not pushes.cancel(done[0].job_id, theirs)  # not theirs
    assert pushes.cancel(done[0].job_id, mine)
    assert not pushes.cancel(done[0].job_id, mine)  # already cancelled
    assert not pushes.cancel(987654, mine)
    assert [p.job_id for p in pushes.scheduled(mine)] == [p.job_id for p in done[1:]]
    assert len(pushes.scheduled(theirs)) == 1


async def test_the_scheduler_delivers_a_push_and_the_module_becomes_assigned(
    clinic: tuple[PushStore, int, int], database_url: str
) -> None:
    pushes, mine, _ = clinic
    pushes.push(FIRST, ["p-oslo"], mine, datetime(2026, 3, 20, 14, 0), now=NOW)
    with session_scope(database_url) as session:  # p-ny already started the module
        patient_id = session.scalar(select(Participant.id).where(Participant.pseudonym == "p-ny"))
        session.add(
            ModuleProgress(
                participant_id=patient_id, module_id=FIRST, status="in_progress", step_index=2
            )
        )
    pushes.push(FIRST, ["p-ny"], mine, now=NOW)
    clock = FakeClock(NOW)
    trigger = RecordingTrigger()
    scheduler = Scheduler(JobStore(database_url), trigger, Settings(), clock)
    await scheduler.tick()
    assert [(p, i, e) for p, i, e in trigger.sent if i == "continue_module"] == [
        ("p-ny", "continue_module", {"module_id": FIRST})
    ]
    clock.advance(timedelta(hours=1))  # 14:00 in Oslo
    await scheduler.tick()
    assert ("p-oslo", "continue_module", {"module_id": FIRST}) in trigger.sent
    with session_scope(database_url) as session:
        rows = session.execute(
            select(Participant.pseudonym, ModuleProgress.status, ModuleProgress.step_index).join(
                Participant, Participant.id == ModuleProgress.participant_id
            )
        ).all()
    assert sorted(rows) == [("p-ny", "in_progress", 2), ("p-oslo", "assigned", 0)]
    assert pushes.scheduled(mine) == []


async def test_a_cancelled_push_is_never_sent(
    clinic: tuple[PushStore, int, int], database_url: str
) -> None:
    pushes, mine, _ = clinic
    (done,) = pushes.push(FIRST, ["p-oslo"], mine, datetime(2026, 3, 20, 14, 0), now=NOW)
    assert pushes.cancel(done.job_id, mine)
    trigger = RecordingTrigger()
    clock = FakeClock(NOW + timedelta(hours=2))
    await Scheduler(JobStore(database_url), trigger, Settings(), clock).tick()
    assert [i for _, i, _ in trigger.sent if i == "continue_module"] == []
    with session_scope(database_url) as session:
        assert session.scalars(select(ModuleProgress)).all() == []


async def test_a_follow_up_comes_after_n_days_in_the_patients_daytime(
    clinic: tuple[PushStore, int, int], database_url: str
) -> None:
    pushes, _, _ = clinic
    job_id = pushes.schedule_follow_up("p-oslo", FIRST, 3, now=NOW)
    assert pushes.schedule_follow_up("p-oslo", FIRST, 3, now=NOW) == job_id  # not doubled
    (job,) = [j for j in jobs(database_url) if j.kind == MODULE_FOLLOW_UP]
    assert (job.intent, job.entities, job.created_by) == (
        "module_follow_up",
        {"module_id": FIRST},
        None,
    )
    assert job.due_at == NOW + timedelta(days=3)
    trigger = RecordingTrigger()
    clock = FakeClock(NOW + timedelta(days=3))
    await Scheduler(JobStore(database_url), trigger, Settings(), clock).tick()
    assert ("p-oslo", "module_follow_up", {"module_id": FIRST}) in trigger.sent
    with pytest.raises(PushError, match="No participant"):
        pushes.schedule_follow_up("p-missing", FIRST, 3)
    with pytest.raises(PushError, match="at least 1"):
        pushes.schedule_follow_up("p-oslo", FIRST, 0)


def test_follow_ups_are_not_sent_at_night() -> None:
    oslo = "Europe/Oslo"
    late = datetime(2026, 1, 10, 22, 30, tzinfo=UTC)  # 23:30 in Oslo
    assert follow_up_time(late, 2, oslo) == datetime(2026, 1, 13, 9, tzinfo=UTC)  # 10:00 next day
    early = datetime(2026, 1, 10, 5, tzinfo=UTC)  # 06:00 in Oslo
    assert follow_up_time(early, 2, oslo) == datetime(2026, 1, 12, 9, tzinfo=UTC)
    day = datetime(2026, 1, 10, 14, tzinfo=UTC)
    assert follow_up_time(day, 7, oslo) == datetime(2026, 1, 17, 14, tzinfo=UTC)


def test_reminders_and_pushes_keep_working_side_by_side(
    clinic: tuple[PushStore, int, int], database_url: str
) -> None:
    pushes, mine, _ = clinic
    store = JobStore(database_url)
    assert store.plan_reminders(NOW) == 4
    at = datetime(2026, 3, 20, 20, 0)  # the same moment as p-oslo's daily reminder
    pushes.push(FIRST, ["p-oslo"], mine, at, now=NOW)
    with session_scope(database_url) as session:
        kinds = sorted(
            session.scalars(
                select(ScheduledJob.kind)
                .join(Participant, Participant.id == ScheduledJob.participant_id)
                .where(Participant.pseudonym == "p-oslo")
            ).all()
        )
    assert kinds == ["checkin_reminder", MODULE_PUSH]


def test_a_completed_module_pushed_again_is_assigned_afresh(
    clinic: tuple[PushStore, int, int], database_url: str
) -> None:
    from paincoach.modules.push import assign_module

    with session_scope(database_url) as session:
        patient_id = session.scalar(select(Participant.id).where(Participant.pseudonym == "p-oslo"))
        session.add(
            ModuleProgress(
                participant_id=patient_id,
                module_id=FIRST,
                status="completed",
                step_index=9,
                completed_at=NOW - timedelta(days=10),
            )
        )
    assert assign_module(database_url, "p-oslo", FIRST, NOW)
    assert not assign_module(database_url, "p-missing", FIRST, NOW)
    with session_scope(database_url) as session:
        progress = session.scalar(select(ModuleProgress))
        assert progress is not None
        assert (progress.status, progress.step_index, progress.completed_at) == (
            "assigned",
            0,
            None,
        )
        assert progress.assigned_at == NOW
