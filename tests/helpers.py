"""Run actions the way the action server does, with a real tracker and dispatcher."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from paincoach.db.store import CoachStore, Consent

DOMAIN: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parent.parent / "domain.yml").read_text()
)


def make_tracker(
    sender: str = "p-test",
    text: str = "",
    intent: str = "inform",
    slots: dict[str, Any] | None = None,
    active_loop: str | None = None,
    filled: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
    latest_action: str = "action_listen",
) -> Tracker:
    """A tracker whose latest user message is `text`, with `filled` slots just extracted."""
    all_slots = {name: None for name in DOMAIN["slots"]}
    all_slots.update(slots or {})
    all_slots.update(filled or {})
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.99},
        "entities": entities or [],
        "metadata": metadata or {},
    }
    now = time.time()
    history = list(events or [])
    history.append({"event": "user", "text": text, "parse_data": latest, "timestamp": now})
    history += [
        {"event": "slot", "name": name, "value": value, "timestamp": now}
        for name, value in (filled or {}).items()
    ]
    loop = {"name": active_loop} if active_loop else {}
    return Tracker(sender, all_slots, latest, history, False, None, loop, latest_action)


async def run(action: Action, tracker: Tracker) -> tuple[list[dict[str, Any]], list[Any]]:
    """Run an action; return what it said and the events it returned."""
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return dispatcher.messages, events


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("text") or "") for m in messages)


def slot_events(events: list[Any]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def enrol(store: CoachStore, sender: str = "p-test") -> None:
    from datetime import time as clock

    store.register_consent(
        sender,
        Consent(research=True, nickname="Sam", checkin_time=clock(20, 0), timezone="Europe/Oslo"),
    )
