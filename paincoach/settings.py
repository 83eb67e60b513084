"""One settings object, read from the environment with safe defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"


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
    action_server_port: int = Field(default=5055, ge=1, le=65535)
    bind_host: str = Field(default="127.0.0.1", description="Interface the services listen on.")

    helpline_name: str = Field(default="the emotional support line")
    helpline_number: str = Field(default="116 123")
    emergency_number: str = Field(default="112")
    care_team_name: str = Field(default="your care team")

    worse_threshold: float = Field(
        default=1.0,
        ge=0,
        description="Points above the 7-day average at which a check-in counts as worse.",
    )

    @field_validator("database_url", "tracker_store_url")
    @classmethod
    def _looks_like_a_database_url(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError("must be a SQLAlchemy URL such as sqlite:///var/x.db")
        return value

    @property
    def rasa_token_file(self) -> Path:
        return VAR_DIR / "rasa_token"


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
