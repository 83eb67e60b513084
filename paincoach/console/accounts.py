"""Console accounts: who may log in, with which role, and their server-side sessions.

Passwords are hashed with argon2. A login creates a `ConsoleSession` row; the browser holds
only a signed random token, whose SHA-256 is the row's key. Logging out, idling past
CONSOLE_SESSION_HOURS or disabling the account ends the session on the server. Failed logins
are counted per account and per network address in a moving 15-minute window.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, Signer
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paincoach.db.engine import session_scope
from paincoach.db.models import ConsoleSession, ConsoleUser, PasswordReset, utcnow
from paincoach.settings import Settings, secret_or_generated

ROLES = ("admin", "provider", "researcher")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 takes anything, but a megabyte "password" is an attack
LOGIN_WINDOW_MINUTES = 15
LINK_CODE_MINUTES = 15
# Letters and digits that cannot be mistaken for one another when typed from the screen.
LINK_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LAST_SEEN_RESOLUTION = timedelta(minutes=1)  # fewer writes: last_seen_at moves once a minute
PASSWORD_RESET_HOURS = 24
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
DEMO_PROVIDER_EMAIL = "demo-provider@paincoach.local"


class AccountError(ValueError):
    """An account could not be created or changed; the message says why, for the user."""


def console_secret(settings: Settings) -> str:
    """The key that signs console cookies: CONSOLE_SECRET_KEY, or generated once into var/."""
    return secret_or_generated(settings.console_secret_key, settings.console_secret_file)


def normalise_email(email: str) -> str:
    """The address as stored (trimmed, lower case); AccountError when it is not an address."""
    cleaned = email.strip().lower()
    if len(cleaned) > 254 or not EMAIL_PATTERN.match(cleaned):
        raise AccountError(f"'{email.strip()}' is not an email address (like name@clinic.org).")
    return cleaned


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"The password must have at most {MAX_PASSWORD_LENGTH} characters.")


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"The role must be one of: {', '.join(ROLES)}.")
    return role


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginOutcome(Enum):
    OK = "ok"
    INVALID = "invalid"  # unknown email or wrong password: one answer for both
    DISABLED = "disabled"  # the right password for an account that was disabled
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class Login:
    outcome: LoginOutcome
    user: ConsoleUser | None = None
    cookie: str | None = None  # the signed session token to set in the browser


@dataclass(frozen=True)
class LinkCode:
    code: str
    expires_at: datetime


class LoginLimiter:
    """Failed logins per account and per address, in a moving window kept in memory."""

    def __init__(self, per_account: int, per_address: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._account = RateLimitItemPerMinute(per_account, LOGIN_WINDOW_MINUTES)
        self._address = RateLimitItemPerMinute(per_address, LOGIN_WINDOW_MINUTES)

    def allowed(self, email: str, address: str) -> bool:
        return self._limiter.test(self._account, "account", email) and self._limiter.test(
            self._address, "address", address
        )

    def failed(self, email: str, address: str) -> None:
        self._limiter.hit(self._account, "account", email)
        self._limiter.hit(self._address, "address", address)

    def succeeded(self, email: str) -> None:
        self._limiter.clear(self._account, "account", email)


class Accounts:
    """Console users and their sessions in the app database."""

    def __init__(
        self, settings: Settings, secret: str | None = None, hasher: PasswordHasher | None = None
    ) -> None:
        self.settings = settings
        self.hasher = hasher or PasswordHasher()  # argon2id with the library's (RFC 9106) costs
        self.url = settings.database_url
        self.idle = timedelta(hours=settings.console_session_hours)
        self._secret = secret
        self.limiter = LoginLimiter(
            settings.login_attempts_per_account, settings.login_attempts_per_address
        )

    @cached_property
    def _dummy_hash(self) -> str:
        """Checked when the email is unknown, so that both answers take the same time."""
        return self.hasher.hash(secrets.token_urlsafe(16))

    @cached_property
    def signer(self) -> Signer:
        """Made on first use, so managing accounts from the CLI needs no console secret."""
        secret = self._secret or console_secret(self.settings)
        return Signer(secret, salt="paincoach-console-session")

    # --- accounts -------------------------------------------------------------------

    def add_user(self, email: str, role: str, password: str) -> ConsoleUser:
        """A new account; AccountError for a bad address, role or password, or a taken email."""
        email = normalise_email(email)
        check_role(role)
        check_password(password)
        try:
            with session_scope(self.url) as session:
                user = ConsoleUser(email=email, role=role, password_hash=self.hasher.hash(password))
                session.add(user)
                session.flush()
                return user
        except IntegrityError:
            raise AccountError(f"There is already an account for {email}.") from None

    def users(self) -> list[ConsoleUser]:
        with session_scope(self.url) as session:
            return list(session.scalars(select(ConsoleUser).order_by(ConsoleUser.email)))

    def user(self, user_id: int) -> ConsoleUser | None:
        with session_scope(self.url) as session:
            return session.get(ConsoleUser, user_id)

    def by_email(self, email: str) -> ConsoleUser | None:
        with session_scope(self.url) as session:
            return session.scalar(
                select(ConsoleUser).where(ConsoleUser.email == email.strip().lower())
            )

    def disable_user(self, email: str) -> ConsoleUser:
        """Disable the account and end every session it has; AccountError if unknown or if it
        is the last active administrator (nobody could manage accounts any more)."""
        with session_scope(self.url) as session:
            user = session.scalar(
                select(ConsoleUser).where(ConsoleUser.email == email.strip().lower())
            )
            if user is None:
                raise AccountError(f"There is no account for {email.strip()}.")
            if user.disabled_at is None and self._last_active_admin(session, user):
                raise AccountError(
                    f"{user.email} is the last active administrator and cannot be disabled."
                )
            now = utcnow()
            if user.disabled_at is None:
                user.disabled_at = now
            session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.user_id == user.id, ConsoleSession.ended_at.is_(None))
                .values(ended_at=now)
            )
            return user

    def set_password(self, email: str, password: str) -> ConsoleUser:
        """A new password; every open session of the account ends."""
        check_password(password)
        with session_scope(self.url) as session:
            user = session.scalar(
                select(ConsoleUser).where(ConsoleUser.email == email.strip().lower())
            )
            if user is None:
                raise AccountError(f"There is no account for {email.strip()}.")
            user.password_hash = self.hasher.hash(password)
            session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.user_id == user.id, ConsoleSession.ended_at.is_(None))
                .values(ended_at=utcnow())
            )
            return user

    def enable_user(self, email: str) -> ConsoleUser:
        with session_scope(self.url) as session:
            user = session.scalar(
                select(ConsoleUser).where(ConsoleUser.email == email.strip().lower())
            )
            if user is None:
                raise AccountError(f"There is no account for {email.strip()}.")
            user.disabled_at = None
            return user

    def change_role(self, user_id: int, role: str) -> ConsoleUser:
        """Give the account another role; its sessions end so that no page opened under the old
        role stays usable. The last active administrator keeps the admin role."""
        check_role(role)
        with session_scope(self.url) as session:
            user = session.get(ConsoleUser, user_id)
            if user is None:
                raise AccountError("There is no such account.")
            if user.role == role:
                return user
            if user.disabled_at is None and self._last_active_admin(session, user):
                raise AccountError(
                    f"{user.email} is the last active administrator and must stay an admin."
                )
            user.role = role
            session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.user_id == user.id, ConsoleSession.ended_at.is_(None))
                .values(ended_at=utcnow())
            )
            return user

    @staticmethod
    def _last_active_admin(session: Session, user: ConsoleUser) -> bool:
        """Whether `user` is the only active admin; the admins' rows stay locked until the
        change commits, so two admins demoting each other at once cannot both succeed."""
        if user.role != "admin":
            return False
        active = session.scalars(
            select(ConsoleUser.id)
            .where(ConsoleUser.role == "admin", ConsoleUser.disabled_at.is_(None))
            .with_for_update()
        ).all()
        return set(active) <= {user.id}

    # --- one-time password reset links ------------------------------------------------

    def new_password_reset(self, user_id: int) -> str:
        """A one-time token for /reset/{token}, valid PASSWORD_RESET_HOURS; earlier unused links
        of the account stop working. Only the token's SHA-256 is stored."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with session_scope(self.url) as session:
            user = session.get(ConsoleUser, user_id)
            if user is None:
                raise AccountError("There is no such account.")
            if user.disabled_at is not None:
                raise AccountError(f"{user.email} is disabled; enable it before a reset.")
            session.execute(
                update(PasswordReset)
                .where(PasswordReset.user_id == user_id, PasswordReset.used_at.is_(None))
                .values(used_at=now)
            )
            session.add(
                PasswordReset(
                    user_id=user_id,
                    token_hash=_token_hash(token),
                    created_at=now,
                    expires_at=now + timedelta(hours=PASSWORD_RESET_HOURS),
                )
            )
        return token

    def password_reset_user(self, token: str) -> ConsoleUser | None:
        """The active account a reset token belongs to, if the token is unused and unexpired."""
        with session_scope(self.url) as session:
            return session.scalar(
                select(ConsoleUser)
                .join(PasswordReset, PasswordReset.user_id == ConsoleUser.id)
                .where(
                    PasswordReset.token_hash == _token_hash(token),
                    PasswordReset.used_at.is_(None),
                    PasswordReset.expires_at > utcnow(),
                    ConsoleUser.disabled_at.is_(None),
                )
            )

    def use_password_reset(self, token: str, password: str) -> ConsoleUser:
        """Set the password through a reset token, once: the token is claimed by one conditional
        UPDATE, so the same link cannot set two passwords. Every open session ends."""
        check_password(password)
        user = self.password_reset_user(token)
        if user is None:
            raise AccountError("This link has expired or was already used. Ask for a new one.")
        password_hash = self.hasher.hash(password)
        now = utcnow()
        with session_scope(self.url) as session:
            claimed = session.execute(
                update(PasswordReset)
                .where(
                    PasswordReset.token_hash == _token_hash(token),
                    PasswordReset.used_at.is_(None),
                    PasswordReset.expires_at > now,
                )
                .values(used_at=now)
                .returning(PasswordReset.id)
            ).scalar()
            if claimed is None:
                raise AccountError("This link has expired or was already used. Ask for a new one.")
            session.execute(
                update(ConsoleUser)
                .where(ConsoleUser.id == user.id)
                .values(password_hash=password_hash)
            )
            session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.user_id == user.id, ConsoleSession.ended_at.is_(None))
                .values(ended_at=now)
            )
        self.limiter.succeeded(user.email)
        return user

    def ensure_demo_provider(self) -> str | None:
        """Create the demo provider on first run; its generated password, or None if it exists."""
        if self.by_email(DEMO_PROVIDER_EMAIL) is not None:
            return None
        password = secrets.token_urlsafe(12)
        try:
            self.add_user(DEMO_PROVIDER_EMAIL, "provider", password)
        except AccountError:  # created by another process a moment ago
            return None
        return password

    # --- logging in and out ---------------------------------------------------------

    def login(self, email: str, password: str, address: str) -> Login:
        """Check the password within the rate limits; a session cookie when it is right."""
        email = email.strip().lower()
        if not self.limiter.allowed(email, address):
            return Login(LoginOutcome.RATE_LIMITED)
        user = self.by_email(email)
        if user is None or not self._verify(user, password):
            if user is None:
                self._verify(None, password)
            self.limiter.failed(email, address)
            return Login(LoginOutcome.INVALID)
        if user.disabled_at is not None:
            self.limiter.failed(email, address)
            return Login(LoginOutcome.DISABLED)
        self.limiter.succeeded(email)
        return Login(LoginOutcome.OK, user, self.start_session(user.id))

    def _verify(self, user: ConsoleUser | None, password: str) -> bool:
        """The password check; with no user, a check against a dummy hash to spend the time."""
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        try:
            self.hasher.verify(user.password_hash if user else self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        if user is None:
            return False
        if self.hasher.check_needs_rehash(user.password_hash):
            with session_scope(self.url) as session:
                session.execute(
                    update(ConsoleUser)
                    .where(ConsoleUser.id == user.id)
                    .values(password_hash=self.hasher.hash(password))
                )
        return True

    def start_session(self, user_id: int) -> str:
        """A new server-side session; the signed token for the cookie."""
        token = secrets.token_urlsafe(32)
        with session_scope(self.url) as session:
            session.add(ConsoleSession(token_hash=_token_hash(token), user_id=user_id))
        return self.signer.sign(token).decode()

    def _token(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        try:
            return self.signer.unsign(cookie).decode()
        except BadSignature:
            return None

    def session_user(self, cookie: str | None) -> ConsoleUser | None:
        """The logged-in user for a cookie, or None if ended, idle too long or disabled."""
        token = self._token(cookie)
        if token is None:
            return None
        now = utcnow()
        with session_scope(self.url) as session:
            row = session.scalar(
                select(ConsoleSession).where(
                    ConsoleSession.token_hash == _token_hash(token),
                    ConsoleSession.ended_at.is_(None),
                )
            )
            if row is None:
                return None
            if now - row.last_seen_at > self.idle:
                row.ended_at = now
                return None
            user = session.get(ConsoleUser, row.user_id)
            if user is None or user.disabled_at is not None:
                row.ended_at = now
                return None
            if now - row.last_seen_at > LAST_SEEN_RESOLUTION:
                row.last_seen_at = now
            return user

    def logout(self, cookie: str | None) -> None:
        """End the session on the server, so the cookie is worthless even if kept."""
        token = self._token(cookie)
        if token is None:
            return
        with session_scope(self.url) as session:
            session.execute(
                update(ConsoleSession)
                .where(
                    ConsoleSession.token_hash == _token_hash(token),
                    ConsoleSession.ended_at.is_(None),
                )
                .values(ended_at=utcnow())
            )

    def active_sessions(self, user_id: int) -> int:
        with session_scope(self.url) as session:
            return int(
                session.scalar(
                    select(func.count(ConsoleSession.id)).where(
                        ConsoleSession.user_id == user_id, ConsoleSession.ended_at.is_(None)
                    )
                )
                or 0
            )

    # --- linking the provider's own Telegram chat -----------------------------------

    def new_link_code(self, user_id: int) -> LinkCode:
        """A one-time code the provider sends to the bot as /link CODE; replaces any older one."""
        expires_at = utcnow() + timedelta(minutes=LINK_CODE_MINUTES)
        for _ in range(5):
            code = "".join(secrets.choice(LINK_CODE_ALPHABET) for _ in range(8))
            try:
                with session_scope(self.url) as session:
                    session.execute(
                        update(ConsoleUser)
                        .where(ConsoleUser.id == user_id)
                        .values(telegram_link_code=code, telegram_link_expires_at=expires_at)
                    )
                return LinkCode(code, expires_at)
            except IntegrityError:  # the same code is pending for someone else: draw again
                continue
        raise AccountError("Could not make a link code; please try again.")

    def unlink_telegram(self, user_id: int) -> None:
        with session_scope(self.url) as session:
            session.execute(
                update(ConsoleUser)
                .where(ConsoleUser.id == user_id)
                .values(
                    telegram_chat_id=None, telegram_link_code=None, telegram_link_expires_at=None
                )
            )
