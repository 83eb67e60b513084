"""The `paincoach` command answers bad settings and arguments in one line, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from paincoach.cli import app
from paincoach.settings import get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def fresh_settings():  # type: ignore[no-untyped-def]
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
    structlog.reset_defaults()  # the runner's captured stderr is closed after each call


def test_upgrade_then_a_bad_revision(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["db", "downgrade", "nonsense"])
    assert result.exit_code == 1
    assert "Cannot downgrade to 'nonsense'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("DATABASE_URL", "garbage", "DATABASE_URL"),
        ("RASA_PORT", "abc", "RASA_PORT"),
        ("RASA_REPLICAS", "0", "RASA_REPLICAS"),
    ],
)
def test_bad_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert says in result.output and "Traceback" not in result.output


def test_unreachable_database_is_said_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 1 and "Cannot reach the database" in result.output


def test_gateway_without_a_token_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "")
    result = runner.invoke(app, ["gateway"])
    assert result.exit_code == 1 and "BotFather" in result.output


def test_gateway_without_a_risk_model_says_how_to_train_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("SAFETY_MODEL_PATH", str(tmp_path / "missing.joblib"))
    result = runner.invoke(app, ["gateway"])
    assert result.exit_code == 1 and "make train" in result.output
    assert "Traceback" not in result.output


def test_logged_errors_name_the_place_but_never_the_words(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from paincoach.logs import configure_logging

    configure_logging()
    try:
        int("i want to end it all")
    except ValueError:
        structlog.get_logger("test").exception("could not read", participant="p-1")
    logged = capsys.readouterr().err
    assert "error='ValueError at test_cli.py:" in logged and "participant='p-1'" in logged
    assert "end it all" not in logged and "Traceback" not in logged
