"""Provider pushes: a module or a programme sent to patients now or at their local time.

A push becomes `ScheduledJob`s that the scheduler triggers like any other push: one job per
module, a programme's modules released every `every_days` days at the same wall-clock time
in each patient's own time zone. A module counts as *assigned* (a `ModuleProgress` row with
status "assigned") when its job is delivered, not when it is scheduled: a nine-module
programme shows one module assigned, then the next three days later, and a cancelled push
leaves no trace in the patient's record. A module in progress keeps its place when pushed
again; a completed one is assigned afresh. Completing a module schedules its follow-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from paincoach.db.engine import session_scope
from paincoach.db.models import ModuleProgress, Participant, ScheduledJob, utcnow
from paincoach.modules.catalogue import Catalogue, load
from paincoach.scheduler.jobs import zone
from paincoach.settings import get_settings

MODULE_PUSH = "module_push"
# A push starts the module through the same intent as "continue my module", with its id.
START_MODULE = "continue_module"
MODULE_FOLLOW_UP = "module_follow_up"
FOLLOW_UP_INTENT = "module_follow_up"
# A time typed for "now" may be a minute old by the time the form is sent.
PAST_GRACE = timedelta(minutes=2)
MAX_AHEAD = timedelta(days=366)
MAX_PATIENTS = 1000
# Follow-ups are sent in the daytime of the patient's own clock.
DAY_STARTS, DAY_ENDS, MORNING = time(9), time(21), time(10)


class PushError(ValueError):
    """A push could not be scheduled; the message says why, fit for a web form and the CLI."""


@dataclass(frozen=True)
class ScheduledPush:
    """One module release waiting to be sent (or just scheduled)."""

    job_id: int
    pseudonym: str
    nickname: str | None
    module_id: str
    module_title: str
    due_at: datetime  # UTC
    timezone: str

    @property
    def due_local(self) -> datetime:
        """When it is sent, on the patient's own clock."""
        return self.due_at.astimezone(zone(self.timezone))


def _insert(session: Session, row: dict[str, Any]) -> int | None:
    """Insert one job; None if a job of that kind is already due at that very moment."""
    dialect = session.get_bind().dialect.name
    insert = postgres_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(ScheduledJob).values(**row).on_conflict_do_nothing()
    return session.execute(statement.returning(ScheduledJob.id)).scalar()


def _local(day_and_time: datetime, timezone: str) -> datetime:
    """A wall-clock date and time in `timezone`, as an aware UTC moment."""
    return day_and_time.replace(tzinfo=zone(timezone)).astimezone(UTC)


def _release_times(first: datetime, timezone: str, count: int, every_days: int) -> list[datetime]:
    """`count` moments `every_days` apart that keep the first one's local wall-clock time."""
    local = first.astimezone(zone(timezone)).replace(tzinfo=None)
    return [
        first if n == 0 else _local(local + timedelta(days=n * every_days), timezone)
        for n in range(count)
    ]


class PushStore:
    """Schedule, list and cancel providers' pushes, and the follow-ups after a module."""

    def __init__(self, url: str | None = None, catalogue: Catalogue | None = None) -> None:
        self.url = url or get_settings().database_url
        self._catalogue = catalogue

    @property
    def catalogue(self) -> Catalogue:
        if self._catalogue is None:
            self._catalogue = load()
        return self._catalogue

    def title(self, module_id: str) -> str:
        module = self.catalogue.modules.get(module_id)
        return module.title if module else module_id

    def _target(self, target_id: str) -> tuple[list[str], int]:
        """The modules a target releases, and the days between them."""
        target_id = target_id.strip()
        if not target_id:
            raise PushError("Choose a module or a programme.")
        if target_id in self.catalogue.modules:
            return [target_id], 1
        programme = self.catalogue.programmes.get(target_id)
        if programme is None:
            raise PushError(f"There is no module or programme called '{target_id[:64]}'.")
        missing = [m for m in programme.modules if m not in self.catalogue.modules]
        if missing:
            raise PushError(
                f"Programme '{target_id}' names modules that do not load: {', '.join(missing)}. "
                "Run `paincoach modules validate`."
            )
        return list(programme.modules), programme.every_days

    def push(
        self,
        target_id: str,
        pseudonyms: Sequence[str],
        provider_id: int | None,
        at_local: datetime | None = None,
        *,
        now: datetime | None = None,
    ) -> list[ScheduledPush]:
        """Schedule a module or a programme for the provider's patients; nothing is scheduled
        unless everything is valid.

        `at_local` is a wall-clock time on each patient's own clock (naive; an aware time is
        taken as that exact moment); None sends the first module now. `provider_id` None pushes
        on behalf of each patient's own provider (the study team's CLI).
        """
        now = now or utcnow()
        modules, every_days = self._target(target_id)
        wanted = list(dict.fromkeys(p.strip() for p in pseudonyms if p.strip()))
        if not wanted:
            raise PushError("Choose at least one patient.")
        if len(wanted) > MAX_PATIENTS:
            raise PushError(f"At most {MAX_PATIENTS} patients at a time.")
        with session_scope(self.url) as session:
            patients = {
                p.pseudonym: p
                for p in session.scalars(
                    select(Participant).where(Participant.pseudonym.in_(wanted))
                )
            }
            for pseudonym in wanted:
                patient = patients.get(pseudonym)
                # Another provider's patient is reported exactly like one that does not exist.
                someone_elses = provider_id is not None and (
                    patient is None or patient.provider_id != provider_id
                )
                if patient is None or someone_elses:
                    raise PushError(f"No patient of yours has the pseudonym '{pseudonym[:64]}'.")
                if patient.provider_id is None:
                    raise PushError(
                        f"Patient '{pseudonym}' is not enrolled with a provider; enrol them with "
                        "an enrolment code first."
                    )
            plan: list[tuple[Participant, str, datetime]] = []
            for pseudonym in wanted:
                patient = patients[pseudonym]
                first = self._first_release(at_local, patient, now)
                times = _release_times(first, patient.timezone, len(modules), every_days)
                plan += [(patient, m, t) for m, t in zip(modules, times, strict=True)]
            return [self._schedule(session, *step, now) for step in plan]

    def _first_release(
        self, at_local: datetime | None, patient: Participant, now: datetime
    ) -> datetime:
        if at_local is None:
            return now
        first = (
            _local(at_local, patient.timezone)
            if at_local.tzinfo is None
            else at_local.astimezone(UTC)
        )
        if first < now - PAST_GRACE:
            shown = first.astimezone(zone(patient.timezone))
            raise PushError(
                f"{shown:%Y-%m-%d %H:%M} has already passed for '{patient.pseudonym}' "
                f"(their time zone is {patient.timezone}). Choose a later time."
            )
        if first > now + MAX_AHEAD:
            raise PushError("A push can be scheduled at most a year ahead.")
        return max(first, now)

    def _schedule(
        self, session: Session, patient: Participant, module_id: str, due: datetime, now: datetime
    ) -> ScheduledPush:
        """One job; the same module already due at the same moment is not scheduled twice."""
        existing = session.scalars(
            select(ScheduledJob).where(
                ScheduledJob.participant_id == patient.id,
                ScheduledJob.kind == MODULE_PUSH,
                ScheduledJob.status == "pending",
                ScheduledJob.due_at == due,
            )
        ).all()
        job_id = next(
            (j.id for j in existing if (j.entities or {}).get("module_id") == module_id), None
        )
        # Two modules released at the same minute go a second apart (one job per moment).
        for shift in range(60):
            if job_id is not None:
                break
            row: dict[str, Any] = {
                "participant_id": patient.id, "kind": MODULE_PUSH, "intent": START_MODULE,
                "entities": {"module_id": module_id}, "due_at": due + timedelta(seconds=shift),
                "status": "pending", "attempts": 0, "created_at": now,
                "created_by": patient.provider_id,
            }  # fmt: skip
            job_id = _insert(session, row)
            if job_id is not None:
                due = row["due_at"]
        if job_id is None:
            raise PushError("Too many pushes at that moment; choose another time.")
        return ScheduledPush(
            job_id, patient.pseudonym, patient.nickname, module_id, self.title(module_id),
            due, patient.timezone,
        )  # fmt: skip

    def scheduled(self, provider_id: int) -> list[ScheduledPush]:
        """The provider's pushes still waiting to be sent, soonest first."""
        with session_scope(self.url) as session:
            rows = session.execute(
                select(ScheduledJob, Participant)
                .join(Participant, Participant.id == ScheduledJob.participant_id)
                .where(
                    ScheduledJob.kind == MODULE_PUSH,
                    ScheduledJob.created_by == provider_id,
                    ScheduledJob.status == "pending",
                )
                .order_by(ScheduledJob.due_at, ScheduledJob.id)
            ).all()
            return [self._waiting(job, patient) for job, patient in rows]

    def _waiting(self, job: ScheduledJob, patient: Participant) -> ScheduledPush:
        module_id = str((job.entities or {}).get("module_id", ""))
        return ScheduledPush(
            job.id, patient.pseudonym, patient.nickname, module_id, self.title(module_id),
            job.due_at, patient.timezone,
        )  # fmt: skip

    def cancel(self, job_id: int, provider_id: int) -> bool:
        """Cancel one of the provider's pushes that has not been sent; False otherwise."""
        with session_scope(self.url) as session:
            cancelled = session.execute(
                update(ScheduledJob)
                .where(
                    ScheduledJob.id == job_id,
                    ScheduledJob.kind == MODULE_PUSH,
                    ScheduledJob.created_by == provider_id,
                    ScheduledJob.status == "pending",
                )
                .values(status="cancelled", finished_at=utcnow())
                .returning(ScheduledJob.id)
            ).first()
            return cancelled is not None

    def schedule_follow_up(
        self, pseudonym: str, module_id: str, after_days: int, *, now: datetime | None = None
    ) -> int:
        """The module's follow-up, `after_days` days from now in the patient's daytime (moved
        to 10:00 when it would fall between 21:00 and 09:00); returns the job id. A follow-up
        already waiting for the same module is kept rather than doubled."""
        now = now or utcnow()
        if isinstance(after_days, bool) or not isinstance(after_days, int) or after_days < 1:
            raise PushError("A follow-up needs a whole number of days, at least 1.")
        if after_days > 365:
            raise PushError("A follow-up can be at most a year after the module.")
        with session_scope(self.url) as session:
            patient = session.scalar(select(Participant).where(Participant.pseudonym == pseudonym))
            if patient is None:
                raise PushError(f"No participant '{pseudonym[:64]}'.")
            waiting = session.scalars(
                select(ScheduledJob).where(
                    ScheduledJob.participant_id == patient.id,
                    ScheduledJob.kind == MODULE_FOLLOW_UP,
                    ScheduledJob.status == "pending",
                )
            ).all()
            for job in waiting:
                if (job.entities or {}).get("module_id") == module_id:
                    return job.id
            due = follow_up_time(now, after_days, patient.timezone)
            for shift in range(60):
                row = {
                    "participant_id": patient.id, "kind": MODULE_FOLLOW_UP,
                    "intent": FOLLOW_UP_INTENT, "entities": {"module_id": module_id},
                    "due_at": due + timedelta(seconds=shift), "status": "pending",
                    "attempts": 0, "created_at": now, "created_by": None,
                }  # fmt: skip
                job_id = _insert(session, row)
                if job_id is not None:
                    return job_id
        raise PushError("Could not schedule the follow-up; please try again.")


def follow_up_time(now: datetime, after_days: int, timezone: str) -> datetime:
    """`after_days` days after `now` on the patient's clock, kept within their daytime."""
    local = now.astimezone(zone(timezone)).replace(tzinfo=None) + timedelta(days=after_days)
    if local.time() < DAY_STARTS:
        local = datetime.combine(local.date(), MORNING)
    elif local.time() >= DAY_ENDS:
        local = datetime.combine(local.date() + timedelta(days=1), MORNING)
    return _local(local, timezone)


def assign_module(url: str | None, pseudonym: str, module_id: str, now: datetime) -> bool:
    """Record a delivered push as an assigned module. A module in progress or paused keeps its
    place; a completed one pushed again is assigned afresh. True if it is now assigned."""
    with session_scope(url) as session:
        patient_id = session.scalar(
            select(Participant.id).where(Participant.pseudonym == pseudonym)
        )
        if patient_id is None or not module_id:
            return False
        dialect = session.get_bind().dialect.name
        insert = postgres_insert if dialect == "postgresql" else sqlite_insert
        row = {
            "participant_id": patient_id, "module_id": module_id, "status": "assigned",
            "step_index": 0, "assigned_at": now, "updated_at": now,
        }  # fmt: skip
        added = session.execute(
            insert(ModuleProgress)
            .values(**row)
            .on_conflict_do_nothing()
            .returning(ModuleProgress.id)
        ).scalar()
        if added is not None:
            return True
        again = session.execute(
            update(ModuleProgress)
            .where(
                ModuleProgress.participant_id == patient_id,
                ModuleProgress.module_id == module_id,
                ModuleProgress.status == "completed",
            )
            .values(status="assigned", step_index=0, completed_at=None)
            .values(assigned_at=now, updated_at=now)
            .returning(ModuleProgress.id)
        ).scalar()
        return again is not None
