"""The audit log: who looked at or changed what in the console, when and from where.

Append-only for the application: this module only inserts and reads rows, and nothing else in
PainCoach writes to the table. It records pseudonyms, account emails, export kinds and filter
names, never message text or a search phrase (an admin reads the log, and admins see nothing of
patients).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from sqlalchemy import Select, func, select

from paincoach.db.engine import session_scope
from paincoach.db.models import AuditEntry, ConsoleUser

# Every action the console records, with how the audit page names it.
ACTIONS = {
    "login": "Logged in",
    "login_failed": "Login refused",
    "logout": "Logged out",
    "patient_view": "Opened a patient record",
    "participants_view": "Listed research participants",
    "transcript_view": "Opened a transcript",
    "transcript_search": "Searched or filtered transcripts",
    "dashboard_view": "Opened the engagement dashboard",
    "export": "Exported data",
    "code_add": "Added a code",
    "code_change": "Changed a code",
    "coding_add": "Coded a message",
    "coding_delete": "Removed a coding",
    "account_add": "Added an account",
    "account_disable": "Disabled an account",
    "account_enable": "Enabled an account",
    "account_role": "Changed a role",
    "password_reset_link": "Made a password reset link",
    "password_reset_used": "Set a password through a reset link",
    "password_set": "Set a password on the command line",
    "retention": "Applied retention (old transcripts removed)",
    "before_consent_erasure": "Erased conversations of people who never consented",
}
CSV_COLUMNS = ("at_utc", "actor", "action", "target", "address", "detail")
BATCH = 1000


def _clip(value: str | None, length: int) -> str | None:
    return None if value is None else value[:length]


def _cell(value: str | None) -> str:
    """A CSV cell a spreadsheet will not run as a formula (a typed login email could be one)."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def record(
    url: str,
    action: str,
    *,
    actor: ConsoleUser | None = None,
    actor_email: str | None = None,
    target: str | None = None,
    address: str | None = None,
    detail: str | None = None,
) -> None:
    """Append one entry. `actor_email` names someone without an account (a failed login)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    with session_scope(url) as session:
        session.add(
            AuditEntry(
                actor_id=actor.id if actor else None,
                actor_email=_clip(actor.email if actor else actor_email, 254),
                action=action,
                target=_clip(target, 200),
                address=_clip(address, 64),
                detail=_clip(detail, 400),
            )
        )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def record_request(
    request: Request, action: str, *, target: str | None = None, detail: str | None = None
) -> None:
    """Append an entry for this request, by its logged-in user, from its address."""
    record(
        request.app.state.console.settings.database_url,
        action,
        actor=getattr(request.state, "user", None),
        target=target,
        address=client_address(request),
        detail=detail,
    )


@dataclass(frozen=True)
class AuditFilter:
    """What the admin narrowed the log to; empty fields match everything."""

    actor: str = ""  # part of an email
    action: str = ""
    target: str = ""  # part of a pseudonym, an email or an export kind
    since: datetime | None = None
    until: datetime | None = None  # exclusive

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.actor:
            query = query.where(
                func.lower(AuditEntry.actor_email).contains(self.actor.lower(), autoescape=True)
            )
        if self.action:
            query = query.where(AuditEntry.action == self.action)
        if self.target:
            query = query.where(
                func.lower(AuditEntry.target).contains(self.target.lower(), autoescape=True)
            )
        if self.since is not None:
            query = query.where(AuditEntry.at >= self.since)
        if self.until is not None:
            query = query.where(AuditEntry.at < self.until)
        return query


def entries(
    url: str, where: AuditFilter, *, limit: int = 200, offset: int = 0
) -> tuple[list[AuditEntry], int]:
    """One page of matching entries, newest first, and how many match in all."""
    with session_scope(url) as session:
        total = session.scalar(where.apply(select(func.count(AuditEntry.id))))
        rows = session.scalars(
            where.apply(select(AuditEntry))
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
        return list(rows), int(total or 0)


def csv_lines(url: str, where: AuditFilter) -> Iterator[str]:
    """Every matching entry as CSV, oldest first, read in batches (the log only grows)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    last_id = 0
    while True:
        with session_scope(url) as session:
            rows = session.scalars(
                where.apply(select(AuditEntry))
                .where(AuditEntry.id > last_id)
                .order_by(AuditEntry.id)
                .limit(BATCH)
            ).all()
        for row in rows:
            writer.writerow(
                (row.at.isoformat(), _cell(row.actor_email), row.action, _cell(row.target),
                 _cell(row.address), _cell(row.detail))
            )  # fmt: skip
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < BATCH:
            return
        last_id = rows[-1].id
