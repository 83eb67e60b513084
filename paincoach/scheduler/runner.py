"""The scheduler loop, inside the gateway process: plan, claim, send, record."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import structlog
from telegram.error import TelegramError

from paincoach.alerts import AlertStore
from paincoach.db.engine import through_outage
from paincoach.modules.push import MODULE_PUSH, assign_module
from paincoach.rasa_client import RasaUnavailable
from paincoach.scheduler.clock import Clock, SystemClock
from paincoach.scheduler.jobs import REMINDER, Job, JobStore
from paincoach.settings import Settings
from paincoach.status import write_tick

log = structlog.get_logger("paincoach.scheduler")


class Trigger(Protocol):
    """What the scheduler needs from the gateway: start a turn for a participant."""

    async def trigger(self, pseudonym: str, intent: str, entities: dict[str, Any]) -> bool: ...


class CareTeam(Protocol):
    """What the scheduler needs for the care team: alerts to providers' phones, replies."""

    async def tick(self, now: datetime) -> Counter[str]: ...


class Upkeep(Protocol):
    """Data protection (retention, unconsented conversations), run when due, in a thread."""

    def run(self, now: datetime) -> Counter[str]: ...


@dataclass
class Scheduler:
    jobs: JobStore
    gateway: Trigger
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    concurrency: int = 64
    alerts: AlertStore | None = None  # raises pain, silence and stalled-module alerts each tick
    care_team: CareTeam | None = None  # tells providers of crises, delivers their replies
    upkeep: Upkeep | None = None  # retention and unconsented erasure, in the background
    upkeep_task: asyncio.Task[Counter[str]] | None = field(default=None, init=False, repr=False)
    tick_file: Path | None = None  # touched after every tick, for `paincoach status`

    async def tick(self, limit: int = 500) -> Counter[str]:
        """One round: crisis alerts and care-team replies first, then plan the next reminders,
        send up to `limit` due jobs, and raise the alerts that are due; counts outcomes."""
        now = self.clock.now()
        extra: Counter[str] = Counter()
        care_team = self.care_team
        if care_team is not None:
            extra += await self._guarded("care team", lambda: care_team.tick(now))
        upkeep = self.upkeep
        if upkeep is not None and (self.upkeep_task is None or self.upkeep_task.done()):
            # Long deletions must not hold up reminders: it runs beside the ticks.
            self.upkeep_task = asyncio.create_task(
                self._guarded("data protection", lambda: asyncio.to_thread(upkeep.run, now))
            )
        await asyncio.to_thread(self.jobs.plan_reminders, now)
        due = await asyncio.to_thread(self.jobs.claim_due, now, limit)
        gate = asyncio.Semaphore(self.concurrency)

        async def run(job: Job) -> str:
            async with gate:
                return await self._send(job)

        outcomes = Counter(await asyncio.gather(*(run(job) for job in due)))
        if due:
            log.info("scheduler tick", **outcomes)
        if self.alerts is not None:
            alerts = self.alerts

            async def evaluate() -> Counter[str]:
                return Counter(alerts_raised=await asyncio.to_thread(alerts.evaluate, now))

            extra += await self._guarded("alerts", evaluate)
        return outcomes + extra

    async def _guarded(
        self, part: str, step: Callable[[], Awaitable[Counter[str]]]
    ) -> Counter[str]:
        """Run one part of the tick; a failure is logged and the rest of the tick goes on."""
        try:
            return await step()
        except Exception:
            log.exception("scheduler step failed", part=part)
            return Counter()

    async def _send(self, job: Job) -> str:
        now = self.clock.now()
        entities = dict(job.entities)
        if job.kind == REMINDER:
            reminder = await asyncio.to_thread(
                self.jobs.reminder_decision, job, now, self.settings.nudge_after_days
            )
            entities["reminder"] = reminder
        if job.kind == MODULE_PUSH:
            # Assigned once its release comes, so the module runner finds it when it starts.
            await asyncio.to_thread(
                assign_module, self.jobs.url, job.pseudonym, str(entities.get("module_id", "")), now
            )
        if job.kind == REMINDER and entities["reminder"] is None:
            status = "skipped"
        else:
            try:
                delivered = await self.gateway.trigger(job.pseudonym, job.intent, entities)
            except RasaUnavailable:
                # Nothing reached the patient: the job waits for the next tick.
                await through_outage(
                    lambda: asyncio.to_thread(self.jobs.release, job.id), "release job"
                )
                return "retry"
            except TelegramError as error:
                log.warning(
                    "scheduled message failed",
                    participant=job.pseudonym,
                    error=type(error).__name__,
                )
                status = "failed"
            else:
                status = "sent" if delivered else "skipped"
        # Once sent, a job must be marked so, or it would be sent again (through an outage).
        await through_outage(
            lambda: asyncio.to_thread(self.jobs.finish, job.id, status, now), "finish job"
        )
        return status

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set; a failing tick is logged and the loop goes on."""
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler tick failed")
            else:
                if self.tick_file is not None:
                    write_tick(self.tick_file, self.settings.scheduler_tick_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.scheduler_tick_seconds)
