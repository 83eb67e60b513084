"""Enrolment codes: a provider's invitation that ties a patient to them (and to a study arm).

A code is created in the console or with `paincoach enrol create`, shared as an invite link
(`https://t.me/<bot>?start=<code>`) or its QR code, and redeemed when the patient consents
(or at once, when someone who already uses the coach opens a new link). Codes are random,
single- or multi-use, expire, and can be revoked. Uses are counted by one conditional UPDATE,
so two patients can never both take the last use.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import segno
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from telegram import Bot
from telegram.error import TelegramError
from telegram.request import HTTPXRequest

from paincoach.db.engine import session_scope
from paincoach.db.models import ConsoleUser, EnrolmentCode, Participant, utcnow
from paincoach.settings import Settings, get_settings

# Letters and digits that cannot be mistaken for one another when read from paper or a screen.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10  # 31^10 ≈ 8·10^14 codes (49 bits): not guessable, still easy to type
MAX_USES = 10_000
MAX_ARM_LENGTH = 40
# Where `make up` runs the Bot API stand-in when no TELEGRAM_BOT_TOKEN is set (Stack.standin_port).
STANDIN_BOT_API = "http://127.0.0.1:8081/bot"
PROVIDER_ROLES = ("provider", "admin")


class Outcome(StrEnum):
    """What became of a code the patient sent."""

    OK = "ok"
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    USED_UP = "used_up"
    REVOKED = "revoked"


class EnrolmentError(ValueError):
    """A code could not be created; the message says why, fit for a web form and the CLI."""


class BotUnreachable(RuntimeError):
    """Telegram (or the stand-in) did not answer getMe; the message says so plainly."""


@dataclass(frozen=True)
class Code:
    """An enrolment code as the console and the CLI show it."""

    id: int
    code: str
    provider_id: int
    study_arm: str | None
    max_uses: int
    uses: int
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def status(self, now: datetime | None = None) -> Outcome:
        """OK while the code can still be used; otherwise why not."""
        if self.revoked_at is not None:
            return Outcome.REVOKED
        if self.expires_at <= (now or utcnow()):
            return Outcome.EXPIRED
        if self.uses >= self.max_uses:
            return Outcome.USED_UP
        return Outcome.OK

    @property
    def uses_left(self) -> int:
        return max(self.max_uses - self.uses, 0)


@dataclass(frozen=True)
class Redemption:
    """The outcome of redeeming (or checking) a code; provider and arm when it is OK."""

    outcome: Outcome
    provider_id: int | None = None
    study_arm: str | None = None
    already: bool = False  # the patient was already enrolled with this very code

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


def _code(row: EnrolmentCode) -> Code:
    return Code(
        id=row.id, code=row.code, provider_id=row.provider_id, study_arm=row.study_arm,
        max_uses=row.max_uses, uses=row.uses, created_at=row.created_at,
        expires_at=row.expires_at, revoked_at=row.revoked_at,
    )  # fmt: skip


def _url(url: str | None) -> str:
    return url or get_settings().database_url


def new_code() -> str:
    """A random code with at least one letter and one digit, so the NLU also finds it typed."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if any(c.isdigit() for c in code) and any(c.isalpha() for c in code):
            return code


def normalise(code: str) -> str | None:
    """The code as stored (upper case, no spaces or dashes), or None if it cannot be one."""
    cleaned = code.strip().replace("-", "").replace(" ", "").upper()
    if len(cleaned) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in cleaned):
        return None
    return cleaned


def _clean_arm(arm: str | None) -> str | None:
    if arm is None:
        return None
    arm = " ".join(arm.split())
    if not arm:
        return None
    if len(arm) > MAX_ARM_LENGTH:
        raise EnrolmentError(f"The study arm may be at most {MAX_ARM_LENGTH} characters long.")
    if not arm.isprintable():
        raise EnrolmentError("The study arm may only contain printable characters.")
    return arm


def create_code(
    provider_id: int,
    *,
    arm: str | None = None,
    uses: int = 1,
    expires_days: int | None = None,
    url: str | None = None,
) -> Code:
    """A new random code for `provider_id`, valid for `uses` patients and `expires_days` days
    (ENROLMENT_CODE_DAYS by default). Raises EnrolmentError on a bad argument."""
    settings = get_settings()
    if isinstance(uses, bool) or not isinstance(uses, int) or not 1 <= uses <= MAX_USES:
        raise EnrolmentError(f"Uses must be a whole number from 1 to {MAX_USES}.")
    days = settings.enrolment_code_days if expires_days is None else expires_days
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
        raise EnrolmentError("A code must expire after 1 to 365 days.")
    study_arm = _clean_arm(arm)
    for _ in range(5):
        try:
            with session_scope(_url(url)) as session:
                provider = session.get(ConsoleUser, provider_id)
                if (
                    provider is None
                    or provider.role not in PROVIDER_ROLES
                    or provider.disabled_at is not None
                ):
                    raise EnrolmentError("Only an active provider account can create codes.")
                now = utcnow()
                row = EnrolmentCode(
                    code=new_code(), provider_id=provider_id, study_arm=study_arm,
                    max_uses=uses, uses=0, created_at=now, expires_at=now + timedelta(days=days),
                )  # fmt: skip
                session.add(row)
                session.flush()
                return _code(row)
        except IntegrityError:  # the same code drawn twice (1 in 10^14): draw again
            continue
    raise EnrolmentError("Could not create a code; please try again.")


def codes_for(provider_id: int, *, url: str | None = None) -> list[Code]:
    """The provider's codes, newest first."""
    with session_scope(_url(url)) as session:
        rows = session.scalars(
            select(EnrolmentCode)
            .where(EnrolmentCode.provider_id == provider_id)
            .order_by(EnrolmentCode.created_at.desc(), EnrolmentCode.id.desc())
        )
        return [_code(row) for row in rows]


def revoke(code_id: int, provider_id: int, *, url: str | None = None) -> bool:
    """Stop a code from being used again; False if it is not this provider's code."""
    with session_scope(_url(url)) as session:
        row = session.scalar(
            select(EnrolmentCode).where(
                EnrolmentCode.id == code_id, EnrolmentCode.provider_id == provider_id
            )
        )
        if row is None:
            return False
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return True


def _why_not(row: EnrolmentCode | None, now: datetime) -> Outcome:
    if row is None:
        return Outcome.UNKNOWN
    return _code(row).status(now)


def check(code: str, *, url: str | None = None, now: datetime | None = None) -> Redemption:
    """What redeeming `code` would give now, without using it (for the reply at /start)."""
    now = now or utcnow()
    normalised = normalise(code)
    if normalised is None:
        return Redemption(Outcome.UNKNOWN)
    with session_scope(_url(url)) as session:
        row = session.scalar(select(EnrolmentCode).where(EnrolmentCode.code == normalised))
        outcome = _why_not(row, now)
        if outcome is not Outcome.OK or row is None:
            return Redemption(outcome)
        return Redemption(Outcome.OK, row.provider_id, row.study_arm)


def redeem(
    code: str, pseudonym: str, *, url: str | None = None, now: datetime | None = None
) -> Redemption:
    """Use `code` for the consented participant `pseudonym`: on OK they are tied to the code's
    provider and study arm. Sending the code they were enrolled with again uses nothing.
    Raises LookupError if there is no such participant (redeem after consent)."""
    now = now or utcnow()
    normalised = normalise(code)
    with session_scope(_url(url)) as session:
        participant = session.scalar(select(Participant).where(Participant.pseudonym == pseudonym))
        if participant is None:
            raise LookupError("redeem needs a participant who has consented")
        if normalised is None:
            return Redemption(Outcome.UNKNOWN)
        if participant.enrolment_code == normalised and participant.provider_id is not None:
            return Redemption(
                Outcome.OK, participant.provider_id, participant.study_arm, already=True
            )
        # One statement checks and counts the use, so the last use goes to one patient only.
        taken = session.execute(
            update(EnrolmentCode)
            .where(
                EnrolmentCode.code == normalised,
                EnrolmentCode.revoked_at.is_(None),
                EnrolmentCode.expires_at > now,
                EnrolmentCode.uses < EnrolmentCode.max_uses,
            )
            .values(uses=EnrolmentCode.uses + 1)
            .returning(EnrolmentCode.provider_id, EnrolmentCode.study_arm)
        ).first()
        if taken is None:
            row = session.scalar(select(EnrolmentCode).where(EnrolmentCode.code == normalised))
            return Redemption(_why_not(row, now))
        provider_id, study_arm = taken
        participant.provider_id = provider_id
        participant.study_arm = study_arm
        participant.enrolment_code = normalised
        return Redemption(Outcome.OK, provider_id, study_arm)


# What the patient is told ------------------------------------------------------------------

_NOT_OK = {
    Outcome.UNKNOWN: "I don't recognise that invite code.",
    Outcome.EXPIRED: "That invite code has expired.",
    Outcome.USED_UP: "That invite code has already been used.",
    Outcome.REVOKED: "That invite code is no longer valid.",
}
ASK_FOR_A_NEW_ONE = (
    "Please ask your clinic for a new one when it suits you — there's no rush. In the "
    "meantime you're very welcome to use PainCoach on your own, and you can connect with "
    "your care team later by opening the new link."
)
CONNECTED = (
    "You're now connected with your care team. They can see your check-ins and may send "
    "you short modules here."
)
ALREADY_CONNECTED = "You're already connected with your care team through that code."


def patient_notice(redemption: Redemption, *, enrolled_now: bool = False) -> str | None:
    """A kind word for the patient about their code, or None when there is nothing to say."""
    if redemption.outcome is not Outcome.OK:
        return f"{_NOT_OK[redemption.outcome]} {ASK_FOR_A_NEW_ONE}"
    if redemption.already:
        return ALREADY_CONNECTED
    return CONNECTED if enrolled_now else None


# Invite links and QR codes -----------------------------------------------------------------


def invite_link(code: str, bot_username: str) -> str:
    """The deep link that opens the bot and sends `/start <code>`."""
    return f"https://t.me/{bot_username.lstrip('@')}?start={code}"


def qr_svg(text: str) -> str:
    """`text` as an inline SVG QR code (medium error correction, quiet zone kept) to print."""
    qr = segno.make(text, error="m", micro=False)
    return str(qr.svg_inline(scale=4, border=4, title=text))


def bot_api(settings: Settings) -> tuple[str, str]:
    """The bot token and Bot API base URL: the configured bot, or the local stand-in."""
    if settings.telegram_bot_token:
        return settings.telegram_bot_token, settings.telegram_api_base_url
    from paincoach.standin.server import DEFAULT_TOKEN

    return DEFAULT_TOKEN, STANDIN_BOT_API


_usernames: dict[tuple[str, str], str] = {}
_unreachable: dict[tuple[str, str], tuple[float, str]] = {}
RETRY_GET_ME_SECONDS = 30.0  # a page that lists codes does not wait on a dead bot every time


async def bot_username(settings: Settings) -> str:
    """The bot's username from getMe, asked once per process and bot (a failure is
    remembered for RETRY_GET_ME_SECONDS). Raises BotUnreachable."""
    token, base_url = bot_api(settings)
    key = (base_url, token)
    if key in _usernames:
        return _usernames[key]
    failed = _unreachable.get(key)
    if failed is not None and time.monotonic() - failed[0] < RETRY_GET_ME_SECONDS:
        raise BotUnreachable(failed[1])
    request = HTTPXRequest(connect_timeout=3.0, read_timeout=5.0)
    try:
        async with Bot(token, base_url=base_url, request=request) as bot:
            _usernames[key] = bot.username
    except TelegramError as error:
        # The error's text can carry the URL, and with it the token: name the type only.
        message = f"Telegram did not answer ({type(error).__name__}); is the bot running?"
        _unreachable[key] = (time.monotonic(), message)
        raise BotUnreachable(message) from None
    _unreachable.pop(key, None)
    return _usernames[key]
