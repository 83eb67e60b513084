"""One settings object, read from the environment with safe defaults."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"
# The header that carries SERVICE_SECRET to Rasa's REST channel and to the action server
# (also named in endpoints.yml and connectors/secure_rest.py, which run in .venv-rasa).
SERVICE_SECRET_HEADER = "X-PainCoach-Secret"


class SettingsError(RuntimeError):
    """The environment holds a setting that cannot be used; the message says which."""


class Settings(BaseSettings):
    """Everything configurable about PainCoach. Each field is an environment variable."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{VAR_DIR / 'paincoach.db'}",
        description="SQLAlchemy URL of the app database.",
    )
    tracker_store_url: str = Field(
        default=f"sqlite:///{VAR_DIR / 'tracker.db'}",
        description="SQLAlchemy URL of Rasa's tracker store (events of every conversation).",
    )
    rasa_url: str = Field(default="http://127.0.0.1:5005", description="Rasa server base URL.")
    rasa_token: str = Field(
        default="",
        description="Token for Rasa's HTTP API; generated into var/rasa_token when empty.",
    )
    rasa_port: int = Field(default=5005, ge=1, le=65535)
    rasa_replicas: int = Field(
        default=1,
        ge=1,
        le=8,
        description="Rasa server processes (ports RASA_PORT, RASA_PORT+1, ...); more than one "
        "needs a PostgreSQL tracker store and a Redis lock store.",
    )
    lock_store_url: str = Field(
        default="",
        description="Redis URL for Rasa's lock store, e.g. redis://127.0.0.1:6379/1; empty keeps "
        "locks in memory (one Rasa process).",
    )
    action_server_port: int = Field(default=5055, ge=1, le=65535)
    bind_host: str = Field(default="127.0.0.1", description="Interface the services listen on.")
    service_secret: str = Field(
        default="",
        description="Shared secret the gateway sends to Rasa's REST channel and Rasa sends to "
        "the action server; both refuse requests without it. Required when BIND_HOST is not a "
        "loopback address; when empty (loopback only) both are open to this machine.",
    )

    helpline_name: str = Field(default="the emotional support line")
    helpline_number: str = Field(default="116 123")
    emergency_number: str = Field(default="112")
    care_team_name: str = Field(default="your care team")

    safety_model_path: Path = Field(
        default=PROJECT_ROOT / "models" / "safety.joblib",
        description="The risk model file `make train` writes.",
    )
    safety_context_messages: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Earlier patient messages the risk model reads with each new one.",
    )
    safety_context_minutes: float = Field(
        default=30.0,
        gt=0,
        description="How recent an earlier message must be to count as context.",
    )

    worse_threshold: float = Field(
        default=1.0,
        ge=0,
        description="Points above the 7-day average at which a check-in counts as worse.",
    )

    telegram_bot_token: str = Field(
        default="", description="The bot's token from BotFather; empty runs the local stand-in."
    )
    telegram_api_base_url: str = Field(
        default="https://api.telegram.org/bot",
        description="Bot API base URL (python-telegram-bot's base_url).",
    )
    telegram_api_base_file_url: str = Field(default="https://api.telegram.org/file/bot")
    public_url: str = Field(
        default="", description="HTTPS URL Telegram can reach; set it to use a webhook."
    )
    webhook_secret: str = Field(
        default="", description="Secret token Telegram sends with each webhook update."
    )
    webhook_listen: str = Field(default="127.0.0.1")
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    telegram_rate_limit: float = Field(
        default=30.0, gt=0, description="Messages per second across all chats."
    )
    scheduler_tick_seconds: float = Field(default=20.0, gt=0)
    nudge_after_days: int = Field(
        default=3, ge=1, description="Days without a check-in before the reminder becomes a nudge."
    )
    rasa_retry_seconds: float = Field(
        default=2.0, gt=0, description="How often messages kept while Rasa was down are retried."
    )
    supervisor_max_restarts: int = Field(
        default=5,
        ge=0,
        description="Restarts of one service `paincoach up` allows within "
        "SUPERVISOR_WINDOW_SECONDS; one crash more and it stops everything and exits non-zero.",
    )
    supervisor_window_seconds: float = Field(
        default=600.0, gt=0, description="The window in which SUPERVISOR_MAX_RESTARTS counts."
    )

    console_host: str = Field(
        default="127.0.0.1", description="Interface the provider console listens on."
    )
    console_port: int = Field(default=8000, ge=1, le=65535, description="Provider console port.")
    public_console_url: str = Field(
        default="",
        description="The console's address as providers reach it (used in alert links); "
        "https makes session cookies Secure. Empty: http://CONSOLE_HOST:CONSOLE_PORT.",
    )
    console_secret_key: str = Field(
        default="",
        description="Key that signs console cookies and CSRF tokens; generated into "
        "var/console_secret when empty.",
    )
    console_session_hours: float = Field(
        default=12.0, gt=0, description="A console login ends after this many idle hours."
    )
    login_attempts_per_account: int = Field(
        default=5, ge=1, description="Failed logins allowed per account in 15 minutes."
    )
    login_attempts_per_address: int = Field(
        default=20, ge=1, description="Failed logins allowed per network address in 15 minutes."
    )
    enrolment_code_days: int = Field(
        default=14, ge=1, le=365, description="Days an enrolment code stays valid by default."
    )
    alert_silent_days: int = Field(
        default=4, ge=1, description="Days without a check-in before the care team is alerted."
    )
    module_stalled_days: int = Field(
        default=7, ge=1, description="Days a started module may sit untouched before an alert."
    )
    retention_days: int = Field(
        default=365,
        ge=0,
        description="Days conversation transcripts and free texts are kept; older ones are "
        "deleted daily (numeric outcome data stays). 0 keeps everything.",
    )
    unconsented_ttl_hours: float = Field(
        default=24.0,
        gt=0,
        description="Hours after someone first writes before their conversation and chat "
        "mapping are erased if they have not consented.",
    )

    backup_dir: Path = Field(
        default=VAR_DIR / "backups",
        description="Where `paincoach backup` puts a new backup when --out is not given "
        "(one folder per backup, named by its UTC time); keep a copy on another machine.",
    )
    pg_bin_dir: str = Field(
        default="",
        description="Folder holding PostgreSQL's pg_dump and pg_restore, when they are not on "
        "PATH or in /usr/lib/postgresql/*/bin; use tools at least as new as the server.",
    )

    @field_validator("database_url", "tracker_store_url")
    @classmethod
    def _looks_like_a_database_url(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError("must be a SQLAlchemy URL such as sqlite:///var/x.db")
        return value

    @field_validator("service_secret")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if value and len(value) < 16:
            raise ValueError("must be at least 16 characters (or empty on a loopback BIND_HOST)")
        return value

    @property
    def rasa_token_file(self) -> Path:
        return VAR_DIR / "rasa_token"

    @property
    def console_secret_file(self) -> Path:
        return VAR_DIR / "console_secret"

    @property
    def console_url(self) -> str:
        """Where providers open the console; links in alerts point here."""
        base = self.public_console_url or f"http://{self.console_host}:{self.console_port}"
        return base.rstrip("/")


def secret_or_generated(value: str, path: Path) -> str:
    """A secret from the environment, or one generated once into `path` (owner-only)."""
    if value:
        return value
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the settings once per process; a bad value becomes a one-line SettingsError."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in error.errors()
        )
        raise SettingsError(f"Invalid setting in the environment: {problems}") from None
