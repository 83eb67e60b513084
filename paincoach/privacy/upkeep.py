"""Data protection on a timetable, run by the gateway's scheduler in the background.

Every hour: erase the conversations of people who did not consent in time, drop from the
research index anyone researchers may no longer see, and index what is new. Once a day:
retention. Several
gateway replicas may run this side by side: the erasures are idempotent, and retention runs
under a lock (an advisory lock on PostgreSQL) and only when the audit log shows no run in
the last day, so it happens once a day whatever the number of replicas or restarts.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import func, select

from paincoach.db.engine import get_engine
from paincoach.privacy.before_consent import erase_unconsented
from paincoach.privacy.retention import apply_retention, last_applied
from paincoach.research.search import ResearchIndex
from paincoach.settings import Settings

log = structlog.get_logger("paincoach.privacy")
_RETENTION_LOCK = 0x726574656E74  # "retent"
_LOCAL_RETENTION = threading.Lock()


@contextlib.contextmanager
def retention_lock(settings: Settings) -> Iterator[bool]:
    """Yields True for the one process (and thread) allowed to apply retention now."""
    engine = get_engine(settings.database_url)
    if not _LOCAL_RETENTION.acquire(blocking=False):
        yield False
        return
    try:
        if engine.dialect.name != "postgresql":
            yield True  # SQLite serves one machine, where the process lock is enough
            return
        with engine.connect() as connection:
            got = bool(connection.scalar(select(func.pg_try_advisory_lock(_RETENTION_LOCK))))
            connection.commit()
            try:
                yield got
            finally:
                if got:
                    connection.execute(select(func.pg_advisory_unlock(_RETENTION_LOCK)))
                    connection.commit()
    finally:
        _LOCAL_RETENTION.release()


@dataclass
class DataUpkeep:
    """What the scheduler runs for data protection, each part only when it is due."""

    settings: Settings
    sweep_every: timedelta = timedelta(hours=1)
    retention_every: timedelta = timedelta(days=1)
    _last_sweep: datetime | None = field(default=None, init=False)

    def retention_due(self, now: datetime) -> bool:
        if self.settings.retention_days <= 0:
            return False
        last = last_applied(self.settings)
        return last is None or now - last >= self.retention_every

    def run(self, now: datetime) -> Counter[str]:
        """Do what is due at `now`; returns counts for the scheduler's log."""
        done: Counter[str] = Counter()
        if self._last_sweep is None or now - self._last_sweep >= self.sweep_every:
            self._last_sweep = now
            erased = erase_unconsented(self.settings, now, by="scheduler")
            done["unconsented_erased"] = erased["conversations"]
            index = ResearchIndex(self.settings.database_url, self.settings.tracker_store_url)
            done["research_index_pruned"] = index.prune()
            # Kept warm here, so a researcher's first search does not wait for a long read.
            done["research_index_added"] = index.refresh(now)
        if self.retention_due(now):
            with retention_lock(self.settings) as mine:
                # Checked again under the lock: another replica may have just finished.
                if mine and self.retention_due(now):
                    removed = apply_retention(self.settings, now, by="scheduler")
                    done["retention_applied"] = 1
                    done.update({f"retention_{k}": v for k, v in removed.items() if v})
        if +done:
            log.info("data protection", **done)
        return done
