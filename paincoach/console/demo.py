"""`make run`'s demo: a provider account, and the terminal chat's patient enrolled with it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from paincoach import enrolment
from paincoach.console.accounts import DEMO_PROVIDER_EMAIL, Accounts
from paincoach.db.engine import session_scope
from paincoach.db.models import Participant, TelegramChat
from paincoach.settings import Settings


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str | None  # only on the run that created the account: it is stored hashed
    start_code: str | None  # what the demo chat's /start should carry to enrol the patient


def _demo_patient(url: str, chat_id: int) -> Participant | None:
    with session_scope(url) as session:
        pseudonym = session.scalar(
            select(TelegramChat.pseudonym).where(TelegramChat.chat_id == chat_id)
        )
        if pseudonym is None:
            return None
        return session.scalar(select(Participant).where(Participant.pseudonym == pseudonym))


def prepare_demo(settings: Settings, chat_id: int) -> DemoLogin:
    """Create the demo provider on first run; enrol the demo chat's patient with them.

    A patient who already consented is enrolled now, through an enrolment code; one who has
    not gets a code to send with /start, the way a real patient's invite link does.
    """
    url = settings.database_url
    accounts = Accounts(settings)
    password = accounts.ensure_demo_provider()
    provider = accounts.by_email(DEMO_PROVIDER_EMAIL)
    if provider is None or provider.disabled_at is not None:
        return DemoLogin(DEMO_PROVIDER_EMAIL, password, None)
    patient = _demo_patient(url, chat_id)
    if patient is not None and patient.provider_id is not None:
        return DemoLogin(DEMO_PROVIDER_EMAIL, password, None)
    unused = [
        code
        for code in enrolment.codes_for(provider.id, url=url)
        if code.status() is enrolment.Outcome.OK and code.uses == 0
    ]
    code = unused[0] if unused else enrolment.create_code(provider.id, uses=1, url=url)
    if patient is not None:
        enrolment.redeem(code.code, patient.pseudonym, url=url)
        return DemoLogin(DEMO_PROVIDER_EMAIL, password, None)
    return DemoLogin(DEMO_PROVIDER_EMAIL, password, code.code)
