"""Where each patient is in each module, and every answer they gave, in the app database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from paincoach.db.engine import session_scope
from paincoach.db.models import ModuleAnswer, ModuleProgress, Participant, utcnow
from paincoach.db.store import NotEnrolled

ASSIGNED, IN_PROGRESS, PAUSED, COMPLETED = "assigned", "in_progress", "paused", "completed"


@dataclass(frozen=True)
class Place:
    """A module and the step the patient is at (0-based), detached from the session."""

    module_id: str
    step_index: int
    status: str
    updated_at: datetime


class ModuleStore:
    """Module progress per patient: assigned, in progress at step k, paused, completed."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url

    def _participant_id(self, session: Session, pseudonym: str) -> int:
        found = session.scalar(select(Participant.id).where(Participant.pseudonym == pseudonym))
        if found is None:
            raise NotEnrolled(pseudonym)
        return found

    def _progress(self, session: Session, pseudonym: str, module_id: str) -> ModuleProgress:
        participant_id = self._participant_id(session, pseudonym)
        progress = session.scalar(
            select(ModuleProgress).where(
                ModuleProgress.participant_id == participant_id,
                ModuleProgress.module_id == module_id,
            )
        )
        if progress is None:
            progress = ModuleProgress(participant_id=participant_id, module_id=module_id)
            session.add(progress)
        return progress

    def assign(self, pseudonym: str, module_id: str) -> None:
        """Mark a module as given to the patient; a module in progress keeps its place."""
        with session_scope(self.url) as session:
            progress = self._progress(session, pseudonym, module_id)
            if progress.status in (None, COMPLETED):
                progress.status, progress.step_index = ASSIGNED, 0
                progress.completed_at = None
            progress.assigned_at = progress.updated_at = utcnow()

    def start(self, pseudonym: str, module_id: str) -> int:
        """Begin or resume a module; returns the step to show. A completed module starts over."""
        with session_scope(self.url) as session:
            progress = self._progress(session, pseudonym, module_id)
            now = utcnow()
            if progress.status == COMPLETED or progress.step_index is None:
                progress.step_index, progress.completed_at = 0, None
            progress.status = IN_PROGRESS
            progress.started_at = progress.started_at or now
            progress.updated_at = now
            return progress.step_index

    def advance(self, pseudonym: str, module_id: str, step_index: int) -> None:
        """The patient is now at `step_index`."""
        with session_scope(self.url) as session:
            progress = self._progress(session, pseudonym, module_id)
            progress.status, progress.step_index = IN_PROGRESS, step_index
            progress.updated_at = utcnow()

    def save_answer(
        self, pseudonym: str, module_id: str, step_id: str, kind: str, answer: str
    ) -> None:
        with session_scope(self.url) as session:
            session.add(
                ModuleAnswer(
                    participant_id=self._participant_id(session, pseudonym),
                    module_id=module_id,
                    step_id=step_id,
                    kind=kind,
                    answer=answer[:4000],
                )
            )

    def pause(self, pseudonym: str, module_id: str, step_index: int) -> None:
        with session_scope(self.url) as session:
            progress = self._progress(session, pseudonym, module_id)
            progress.status, progress.step_index = PAUSED, step_index
            progress.updated_at = utcnow()

    def complete(self, pseudonym: str, module_id: str, steps: int) -> None:
        with session_scope(self.url) as session:
            progress = self._progress(session, pseudonym, module_id)
            progress.status, progress.step_index = COMPLETED, steps
            progress.updated_at = progress.completed_at = utcnow()

    def places(self, pseudonym: str) -> list[Place]:
        """Every module the patient has, most recently touched first."""
        with session_scope(self.url) as session:
            rows = session.scalars(
                select(ModuleProgress)
                .join(Participant, Participant.id == ModuleProgress.participant_id)
                .where(Participant.pseudonym == pseudonym)
                .order_by(ModuleProgress.updated_at.desc(), ModuleProgress.id.desc())
            )
            return [Place(p.module_id, p.step_index, p.status, p.updated_at) for p in rows]

    def to_continue(self, pseudonym: str) -> Place | None:
        """The module "continue my module" means: the one last worked on, else the newest
        one given and not started."""
        places = self.places(pseudonym)
        unfinished = [p for p in places if p.status in (IN_PROGRESS, PAUSED)]
        assigned = [p for p in places if p.status == ASSIGNED]
        candidates = unfinished or assigned
        return candidates[0] if candidates else None

    def answers(self, pseudonym: str, module_id: str) -> list[tuple[str, str]]:
        """(step id, answer) in the order given, for the patient and their care team."""
        with session_scope(self.url) as session:
            rows = session.execute(
                select(ModuleAnswer.step_id, ModuleAnswer.answer)
                .join(Participant, Participant.id == ModuleAnswer.participant_id)
                .where(Participant.pseudonym == pseudonym, ModuleAnswer.module_id == module_id)
                .order_by(ModuleAnswer.answered_at, ModuleAnswer.id)
            )
            return [(step_id, answer) for step_id, answer in rows]
