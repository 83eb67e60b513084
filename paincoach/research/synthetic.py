"""Conversations written into a tracker store exactly as Rasa 3.6's SQLTrackerStore writes
them (one row per event, the event's JSON in `data`), for tests and the export benchmark."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from paincoach.db.engine import get_engine
from paincoach.research.tracker import create_events_table, events


class Conversation:
    """Events of one conversation, collected in order and written in one go."""

    def __init__(self, sender: str, start: datetime) -> None:
        self.sender = sender
        self.clock = start.timestamp()
        self.rows: list[dict[str, Any]] = []

    def _add(
        self,
        type_name: str,
        data: dict[str, Any],
        intent_name: str | None = None,
        action_name: str | None = None,
        seconds: float = 0.5,
    ) -> Conversation:
        self.clock += seconds
        body = {"event": type_name, "timestamp": self.clock, **data}
        self.rows.append(
            {
                "sender_id": self.sender,
                "type_name": type_name,
                "timestamp": self.clock,
                "intent_name": intent_name,
                "action_name": action_name,
                "data": json.dumps(body),
            }
        )
        return self

    def wait(self, seconds: float) -> Conversation:
        self.clock += seconds
        return self

    def action(self, name: str, policy: str | None = "RulePolicy") -> Conversation:
        confidence = 1.0 if policy else None
        return self._add(
            "action",
            {"name": name, "policy": policy, "confidence": confidence, "action_text": None,
             "hide_rule_turn": False},
            action_name=name,
        )  # fmt: skip

    def session_start(self, metadata: dict[str, Any] | None = None) -> Conversation:
        self.action("action_session_start", policy=None)
        self._add("session_started", {"metadata": metadata or {}})
        if metadata:
            self.slot("session_started_metadata", metadata)
        return self.action("action_listen", policy=None)

    def user(
        self,
        text: str,
        intent: str,
        confidence: float = 0.97,
        entities: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Conversation:
        """A message typed by the patient, parsed by Rasa's NLU pipeline."""
        found = entities or []
        parse = {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "entities": found,
            "text_tokens": [[i, i + 1] for i in range(min(len(text), 3))],
            "intent_ranking": [
                {"name": intent, "confidence": confidence},
                {"name": "out_of_scope", "confidence": round(1 - confidence, 4)},
            ],
            "response_selector": {"all_retrieval_intents": []},
            "message_id": uuid.uuid4().hex,
            "metadata": metadata or {},
        }
        self._add(
            "user",
            {"metadata": metadata or {}, "text": text, "parse_data": parse,
             "input_channel": "rest", "message_id": parse["message_id"]},
            intent_name=intent,
            seconds=20,
        )  # fmt: skip
        return self._add("user_featurization", {"use_text_for_featurization": False})

    def trigger(self, intent: str, entities: dict[str, Any] | None = None) -> Conversation:
        """An intent triggered from our side (trigger_intent): reminders, pushes, safety."""
        listed = [{"entity": k, "value": v} for k, v in (entities or {}).items()]
        text = f"EXTERNAL: {intent}"
        parse = {
            "intent": {"name": intent}, "entities": listed, "text": text,
            "message_id": None, "metadata": {"is_external": True},
        }  # fmt: skip
        return self._add(
            "user",
            {"metadata": {"is_external": True}, "text": text, "parse_data": parse,
             "input_channel": "rest", "message_id": None},
            intent_name=intent,
            seconds=5,
        )  # fmt: skip

    def bot(
        self,
        text: str,
        buttons: list[tuple[str, str]] | None = None,
        response: str | None = None,
    ) -> Conversation:
        data: dict[str, Any] = {
            "elements": None, "quick_replies": None, "buttons": None, "attachment": None,
            "image": None, "custom": None,
        }  # fmt: skip
        if buttons:
            data["buttons"] = [{"title": title, "payload": payload} for title, payload in buttons]
        metadata = {"utter_action": response} if response else {}
        return self._add("bot", {"metadata": metadata, "text": text, "data": data}, seconds=0.2)

    def slot(self, name: str, value: Any) -> Conversation:
        return self._add("slot", {"name": name, "value": value}, action_name=name, seconds=0.01)

    def form(self, name: str | None) -> Conversation:
        return self._add("active_loop", {"name": name}, action_name=name, seconds=0.01)

    def listen(self) -> Conversation:
        return self.action("action_listen", policy=None)


def write(url: str, *conversations: Conversation) -> None:
    """Append the conversations' events to the tracker store at `url` (created if needed)."""
    create_events_table(url)
    rows = [row for conversation in conversations for row in conversation.rows]
    with get_engine(url).begin() as connection:
        for start in range(0, len(rows), 5000):
            connection.execute(events.insert(), rows[start : start + 5000])
    for conversation in conversations:
        conversation.rows.clear()
