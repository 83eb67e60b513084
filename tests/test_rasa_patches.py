"""The speed-up patches for Rasa are loaded in .venv-rasa and behave exactly as before."""

from __future__ import annotations

import os
import subprocess

import pytest

from paincoach.settings import PROJECT_ROOT

RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
CHECK = """
import jsonschema
# Loaded at start-up by the .pth file, before anything imports it by name.
assert jsonschema.validate.__module__ == "paincoach_rasa_speedups", "the patch is not loaded"
import paincoach_rasa_speedups as patch
schema = {"type": "object", "properties": {"events": {"type": "array"},
          "responses": {"type": "array", "items": {"type": "object"}}}}
jsonschema.validate({"events": [], "responses": [{"text": "hi"}]}, schema)
messages = []
for check in (jsonschema.validate, patch._original_validate):
    try:
        check({"events": [], "responses": "nope"}, schema)
    except jsonschema.ValidationError as error:
        messages.append(error.message)
assert len(messages) == 2 and messages[0] == messages[1], messages
print("ok")
"""


def test_the_jsonschema_patch_is_loaded_and_validates_as_before() -> None:
    if not RASA_PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(".venv-rasa is missing: `make test` sets it up before pytest")
        pytest.skip(".venv-rasa is not set up; run `make setup`")
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", CHECK], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


TURNS_CHECK = """
import sys
import paincoach_rasa_turns as patch
# Installed at start-up by its .pth file, without importing Rasa (pip and the like stay fast).
assert "rasa" not in sys.modules, "Rasa was imported at start-up"
assert any(isinstance(f, patch._PatchOnImport) for f in sys.meta_path), "not installed"
from rasa.core.processor import MessageProcessor
from rasa.core.tracker_store import FailSafeTrackerStore
assert MessageProcessor.save_tracker.__wrapped__, "not applied on import"
assert FailSafeTrackerStore.on_tracker_store_error.__name__ == "tracker_store_failed"
print("ok")
"""


def test_the_turn_patch_is_installed_and_applied_when_rasa_is_imported() -> None:
    if not RASA_PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(".venv-rasa is missing: `make test` sets it up before pytest")
        pytest.skip(".venv-rasa is not set up; run `make setup`")
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", TURNS_CHECK],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


TRACKER_CHECK = """
import sys, tempfile
import rasa.core.agent, rasa.core.tracker_store, rasa.shared.core.events as events
from rasa.core.tracker_store import SQLTrackerStore
assert hasattr(rasa.core.agent.load_agent, "__wrapped__"), "load_agent is not patched"
assert events.Event.resolve_by_type("user") is events.UserUttered
assert events.Event.resolve_by_type("slot") is events.SlotSet
assert events.Event.resolve_by_type("no such", default=events.SlotSet) is events.SlotSet
store = SQLTrackerStore(db=tempfile.mkdtemp() + "/tracker.db")
with store.engine.connect() as connection:
    journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
assert (journal, synchronous) == ("wal", 1), (journal, synchronous)
assert type(store.engine.pool).__name__ == "QueuePool", type(store.engine.pool)
import asyncio, json, rasa.utils.endpoints
async def encoder():
    session = rasa.utils.endpoints.EndpointConfig("http://127.0.0.1:9").session()
    await session.close()
    return session._json_serialize
dumps = asyncio.run(encoder())
body = {"tracker": {"events": [{"text": "7/10 \u2014 ok", "timestamp": 1764147000.123456}]}}
assert dumps.__name__ == "fast_dumps" and json.loads(dumps(body)) == body
assert json.loads(dumps({"x": float("nan")}).replace("NaN", "null")) == {"x": None}
print("ok")
"""


def test_the_tracker_store_event_agent_and_encoder_patches_apply() -> None:
    """SQLite tracker store: WAL, synchronous=NORMAL, pooled connections; event classes found
    once; the model's objects frozen after loading; action calls encoded by ujson, with the
    same JSON (docs/perf/2026-11-26-tracker-store-sqlite-gc.md)."""
    if not RASA_PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(".venv-rasa is missing: `make test` sets it up before pytest")
        pytest.skip(".venv-rasa is not set up; run `make setup`")
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", TRACKER_CHECK],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"},
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
