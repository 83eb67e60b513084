"""Off loopback, Rasa's REST channel and the action server take requests only with the shared
secret (SERVICE_SECRET); the stack refuses to start there without one."""

from __future__ import annotations

import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from paincoach.cli import app
from paincoach.db import migrate
from paincoach.db.store import CoachStore
from paincoach.gateway.app import make_rasa_client
from paincoach.rasa_client import RasaClient
from paincoach.settings import (
    PROJECT_ROOT,
    SERVICE_SECRET_HEADER,
    Settings,
    SettingsError,
    get_settings,
)
from paincoach.stack import Stack, StackError, check_service_secret, is_loopback
from tests.conftest import free_port
from tests.helpers import DOMAIN, enrol

SECRET = "s3cret-for-the-tests-0123456789"
RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("coach.example.org", False),
    ],
)
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_rasa_sends_no_usage_telemetry_from_the_stack_or_make(tmp_path: Path) -> None:
    """Health data: Rasa's telemetry (on by default) is off for every Rasa the project runs."""
    stack = Stack(Settings(), log_dir=tmp_path)
    assert stack.environment()["RASA_TELEMETRY_ENABLED"] == "false"
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "RASA_TELEMETRY_ENABLED=false" in makefile.split("RASA_ENV  :=", 1)[1].splitlines()[0]


def test_off_loopback_the_stack_refuses_to_start_without_the_secret(tmp_path: Path) -> None:
    settings = Settings(bind_host="0.0.0.0", database_url=f"sqlite:///{tmp_path / 'a.db'}")
    stack = Stack(settings, log_dir=tmp_path / "log", telegram=True)
    with pytest.raises(StackError, match="SERVICE_SECRET"):
        stack.start()
    assert not stack.processes and not (tmp_path / "a.db").exists()  # nothing was started
    check_service_secret(settings.model_copy(update={"service_secret": SECRET}))
    check_service_secret(Settings())  # loopback, no secret: `make run` needs no configuration


def test_paincoach_up_says_which_variable_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIND_HOST", "0.0.0.0")
    monkeypatch.delenv("SERVICE_SECRET", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["up"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "SERVICE_SECRET" in result.output and "Traceback" not in result.output


def test_a_short_secret_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_SECRET", "short")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match="SERVICE_SECRET"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_rasa_sends_and_the_channel_checks_the_same_header() -> None:
    endpoints = yaml.safe_load((PROJECT_ROOT / "endpoints.yml").read_text())
    assert endpoints["action_endpoint"]["headers"] == {SERVICE_SECRET_HEADER: "${SERVICE_SECRET}"}
    credentials = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text())
    assert credentials == {
        "connectors.secure_rest.SecureRestInput": {"secret": "${SERVICE_SECRET}"}
    }
    if not RASA_PYTHON.exists():
        pytest.skip("Rasa is not installed in .venv-rasa")
    header = subprocess.run(
        [str(RASA_PYTHON), "-c",
         "from connectors.secure_rest import SECRET_HEADER, SecureRestInput as C; "
         "assert C.name() == 'rest'; print(SECRET_HEADER)"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=True,
    ).stdout.strip()  # fmt: skip
    assert header == SERVICE_SECRET_HEADER


# Through the real Rasa server and action server, started with a secret -------------------

VICTIM = "p-secret-victim-001"
OTHER = "p-secret-other-0001"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from paincoach.stack import MODEL
    from tests.conftest import ON_CI

    if not MODEL.exists():
        if ON_CI:
            pytest.fail(f"No trained model at {MODEL}: `make test` trains it before pytest")
        pytest.skip(f"No trained model at {MODEL}; run `make train` first")
    folder = tmp_path_factory.mktemp("guarded")
    settings = Settings(
        database_url=f"sqlite:///{folder / 'paincoach.db'}",
        tracker_store_url=f"sqlite:///{folder / 'tracker.db'}",
        rasa_token="guarded-token",
        rasa_port=free_port(),
        action_server_port=free_port(),
        service_secret=SECRET,
    )
    migrate.upgrade(settings.database_url)
    store = CoachStore(settings.database_url)
    enrol(store, VICTIM)
    enrol(store, OTHER)
    stack = Stack(settings, log_dir=folder / "log")
    stack.start()
    yield stack
    stack.stop()


def tracker_events(stack: Stack, sender: str) -> int:
    engine = create_engine(stack.settings.tracker_store_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.scalar(
                    text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender}
                )
                or 0
            )
    finally:
        engine.dispose()


def action_call(action: str, sender: str) -> dict[str, Any]:
    """What Rasa posts to the action server: the action to run and the tracker to run it on."""
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.6.21",
        "domain": DOMAIN,
        "tracker": {
            "sender_id": sender,
            "slots": {},
            "latest_message": {"text": "/delete_my_data", "intent": {"name": "affirm"}},
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


@pytest.mark.e2e
@pytest.mark.parametrize("headers", [{}, {SERVICE_SECRET_HEADER: "a-wrong-secret-0123456"}])
def test_a_forged_message_to_rasa_is_refused_and_changes_nothing(
    guarded: Stack, headers: dict[str, str]
) -> None:
    for message in ("/start", "delete my data", "/affirm"):
        response = httpx.post(
            f"{guarded.rasa_url}/webhooks/rest/webhook",
            json={"sender": VICTIM, "message": message},
            headers=headers,
            timeout=30,
        )
        assert response.status_code == 401
    assert tracker_events(guarded, VICTIM) == 0
    assert CoachStore(guarded.settings.database_url).participant(VICTIM) is not None


@pytest.mark.e2e
@pytest.mark.parametrize("headers", [{}, {SERVICE_SECRET_HEADER: "a-wrong-secret-0123456"}])
def test_a_forged_action_call_is_refused_and_deletes_nothing(
    guarded: Stack, headers: dict[str, str]
) -> None:
    url = f"http://127.0.0.1:{guarded.settings.action_server_port}"
    forged = httpx.post(
        f"{url}/webhook",
        json=action_call("action_delete_my_data", VICTIM),
        headers=headers,
        timeout=30,
    )
    assert forged.status_code == 401
    assert httpx.get(f"{url}/actions", headers=headers, timeout=10).status_code == 401
    assert CoachStore(guarded.settings.database_url).participant(VICTIM) is not None
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200  # the readiness check


@pytest.mark.e2e
def test_with_the_secret_the_same_action_call_would_have_erased(guarded: Stack) -> None:
    response = httpx.post(
        f"http://127.0.0.1:{guarded.settings.action_server_port}/webhook",
        json=action_call("action_delete_my_data", OTHER),
        headers={SERVICE_SECRET_HEADER: SECRET},
        timeout=30,
    )
    assert response.status_code == 200
    assert CoachStore(guarded.settings.database_url).participant(OTHER) is None


@pytest.fixture
async def client(guarded: Stack) -> AsyncIterator[RasaClient]:
    """The gateway's own client of Rasa, built from the settings as the gateway builds it."""
    async with make_rasa_client(guarded.settings, guarded.rasa_url, guarded.token) as rasa:
        yield rasa


@pytest.mark.e2e
async def test_the_gateway_sends_the_secret_and_rasa_passes_it_to_the_actions(
    client: RasaClient, guarded: Stack
) -> None:
    sender = f"p-secret-new-{int(time.time())}"
    replies = await client.send(sender, "/start")
    assert "not a doctor" in "\n".join(m.text or "" for m in replies)
    # The consent answer is read by the onboarding form's validation, a custom action.
    replies = await client.send(sender, "/affirm")
    assert "optional" in "\n".join(m.text or "" for m in replies)
    assert tracker_events(guarded, sender) > 0
