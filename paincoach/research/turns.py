"""Tracker events read as transcript turns, with what researchers may not see taken out.

Every field of a turn is built from a small set of known fields of the event; nothing is
passed through. So channel metadata, `input_channel`, session metadata and the nickname
never reach a researcher. Words are withheld by these rules:
- care-team messages (and anything the coach repeats of them): always;
- the nickname, wherever it appears: always;
- the patient's free text (messages, check-in notes, module answers, free-text slots, and
  replies that repeat them): unless the participant gave free-text consent.
Button and command payloads (`/affirm`) are the coach's words and stay visible.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from paincoach.research.members import (
    CARE_TEAM_WITHHELD,
    FREE_TEXT_WITHHELD,
    NICKNAME,
    WITHHELD,
    Member,
)
from paincoach.research.tracker import TrackerEvent
from paincoach.scheduler.jobs import zone

PATIENT, BOT, ACTION, FORM, SLOT, SAFETY, MODULE = (
    "patient", "bot", "action", "form", "slot", "safety", "module",
)  # fmt: skip
KINDS = (PATIENT, BOT, ACTION, FORM, SLOT, SAFETY, MODULE)
# The kinds that carry words, kept in the search index.
TEXT_KINDS = (PATIENT, BOT, SAFETY)

EXTERNAL_PREFIX = "EXTERNAL: "
# Slots whose values are the coach's own identifiers, never the patient's words.
STRUCTURAL_SLOTS = frozenset({
    "requested_slot", "module_id", "module_outcome", "safety_kind", "safety_tier",
    "safety_resume", "safety_interrupted", "education_topic", "offered_exercise",
    "coping_exercise", "exercise_progress",
})  # fmt: skip
# Slots holding words nobody in research may read, consent or not.
NICKNAME_SLOTS = frozenset({"nickname"})
HIDDEN_SLOTS = frozenset({"care_team_message", "enrolment_code", "session_started_metadata"})
# Entities whose values are classifications or the coach's own markers.
SHOWN_ENTITIES = frozenset({
    "pain_level", "body_part", "pain_quality", "time", "exercise", "education_topic",
    "reminder", "safety_net", "safety_tier", "module_id",
})  # fmt: skip
MODULE_MARKERS = frozenset({"completed", "paused", "exercise"})
IDENTIFIER = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
SKIPPED_EVENTS = frozenset({"user_featurization", "entities", "action_execution_rejected"})
# Where the patient's next message is their message to the care team, or their nickname.
CARE_TEAM_FORM, CARE_TEAM_SLOT = "care_team_form", "care_team_message"
# Characters the search highlighter uses as markers; never part of an indexed text.
MARK_START, MARK_END = "\ue000", "\ue001"


@dataclass(frozen=True)
class Turn:
    """One line of a transcript, as a researcher may see it."""

    event_id: int  # the event's id in Rasa's tracker store (codings point at it)
    at: datetime  # UTC
    local: datetime  # the same moment on the participant's clock
    kind: str  # patient, bot, action, form, slot, safety or module
    text: str | None
    intent: str | None = None
    confidence: float | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    buttons: list[dict[str, str]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    withheld: bool = False  # the words were replaced: nothing in `text` to read or code
    module_id: str | None = None  # the module running when this happened


def _alternatives(words: Iterable[str | None], minimum: int) -> str | None:
    found = sorted(
        {w.strip() for w in words if w and len(w.strip()) >= minimum}, key=len, reverse=True
    )
    return "|".join(re.escape(w) for w in found) or None


_REPLACEMENTS = {
    "care_team": CARE_TEAM_WITHHELD, "free_text": FREE_TEXT_WITHHELD, "nickname": NICKNAME,
}  # fmt: skip


def _replacement(match: re.Match[str]) -> str:
    return _REPLACEMENTS[match.lastgroup or "free_text"]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def clean(text: str) -> str:
    """The text without the highlighter's markers (they may appear in no indexed text)."""
    return text.replace(MARK_START, "").replace(MARK_END, "")


@dataclass
class Context:
    """Where a conversation is, as far as reading its next events needs."""

    active_loop: str | None = None
    requested_slot: str | None = None
    module_id: str | None = None
    module_step: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class TurnReader:
    """Reads one participant's events, in order, into turns."""

    def __init__(self, member: Member, context: Context | None = None) -> None:
        self.member = member
        self.context = context or Context()
        self._zone = zone(member.timezone)
        self._seen_free_texts: list[str] = []
        self._seen_care_team: list[str] = []
        self._seen_nicknames: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        self._stale = True

    # Scrubbing --------------------------------------------------------------------------

    def _remember(self, seen: list[str], text: str) -> None:
        if text and text not in seen:
            seen.append(text)
            self._stale = True

    def scrub(self, text: str) -> str:
        """The text with the nickname, care-team messages and (without free-text consent) the
        patient's own words replaced, wherever they appear."""
        if self._stale:
            member = self.member
            free = () if member.free_text else (*member.free_texts, *self._seen_free_texts)
            groups = [
                f"(?P<{name}>{alternatives})"
                for name, alternatives in (
                    (
                        "care_team",
                        _alternatives([*member.care_team_texts, *self._seen_care_team], 4),
                    ),
                    ("free_text", _alternatives(free, 4)),
                    ("nickname", _alternatives([member.nickname, *self._seen_nicknames], 1)),
                )
                if alternatives
            ]
            alternation = "|".join(groups)
            self._pattern = (
                re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE) if groups else None
            )
            self._stale = False
        text = clean(text)
        return text if self._pattern is None else self._pattern.sub(_replacement, text)

    def _slot_value(self, name: str, value: Any) -> tuple[Any, bool]:
        """What may be shown of a slot's value, and whether it was withheld."""
        if value is None or isinstance(value, bool | int | float):
            return value, False
        if not isinstance(value, str):
            return FREE_TEXT_WITHHELD, True
        if name in NICKNAME_SLOTS:
            self._remember(self._seen_nicknames, value)
            return NICKNAME, True
        if name == CARE_TEAM_SLOT:
            self._remember(self._seen_care_team, value)
            return CARE_TEAM_WITHHELD, True
        if name in HIDDEN_SLOTS:
            return WITHHELD, True
        if name in STRUCTURAL_SLOTS and IDENTIFIER.match(value):
            return value, False
        if name == "module_answer" and value in MODULE_MARKERS:
            return value, False
        if value.startswith("/") and IDENTIFIER.match(value[1:].split("{", 1)[0] or "-"):
            return value.split("{", 1)[0], False  # a button's payload
        self._remember(self._seen_free_texts, value)
        if self.member.free_text:
            return self.scrub(value), False
        return FREE_TEXT_WITHHELD, True

    # Reading ----------------------------------------------------------------------------

    def read_all(self, events: Iterable[TrackerEvent]) -> Iterator[Turn]:
        for event in events:
            turn = self.read(event)
            if turn is not None:
                yield turn

    def follow(self, event: TrackerEvent) -> None:
        """Update the context from an event without making a turn of it."""
        self.read(event)

    def read(self, event: TrackerEvent) -> Turn | None:
        """The turn this event makes, or None for bookkeeping events; updates the context."""
        kind = event.type_name
        data = event.data
        if kind == "user":
            return self._user(event, data)
        if kind == "bot":
            return self._bot(event, data)
        if kind == "action":
            name = str(data.get("name") or event.action_name or "")
            if not name or name == "action_listen":
                return None
            detail = {"action": name}
            if data.get("policy"):
                detail["policy"] = str(data["policy"])
            confidence = data.get("confidence")
            return self._turn(
                event, ACTION, name, detail=detail,
                confidence=float(confidence) if isinstance(confidence, int | float) else None,
            )  # fmt: skip
        if kind == "active_loop":
            loop = data.get("name")
            ended = self.context.active_loop
            self.context.active_loop = loop if isinstance(loop, str) and loop else None
            self.context.requested_slot = None
            if self.context.active_loop is None:
                return self._turn(event, FORM, f"{ended or 'form'} ended", detail={"form": None})
            return self._turn(
                event, FORM, f"{self.context.active_loop} started",
                detail={"form": self.context.active_loop},
            )  # fmt: skip
        if kind == "slot":
            return self._slot(event, data)
        if kind == "session_started":
            return self._turn(event, ACTION, "session started", detail={"event": kind})
        if kind == "restart":
            self.context = Context()
            return self._turn(event, ACTION, "conversation restarted", detail={"event": kind})
        if kind == "reset_slots":
            self.context.requested_slot = None
            self.context.module_id = self.context.module_step = None
            return self._turn(event, SLOT, "all slots reset", detail={"event": kind})
        if kind in SKIPPED_EVENTS:
            return None
        return self._turn(event, ACTION, kind, detail={"event": kind})

    def _turn(self, event: TrackerEvent, kind: str, text: str | None, **fields: Any) -> Turn:
        at = event.at
        return Turn(
            event_id=event.id,
            at=at,
            local=at.astimezone(self._zone),
            kind=kind,
            text=text,
            module_id=self.context.module_id,
            **fields,
        )

    def _entities(self, raw: Any, shown: bool) -> list[dict[str, Any]]:
        entities = []
        for item in raw if isinstance(raw, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("entity"), str):
                continue
            name = item["entity"]
            value = item.get("value")
            if name not in SHOWN_ENTITIES or not isinstance(value, str | int | float | None):
                value = WITHHELD
            elif isinstance(value, str) and not shown:
                value = self.scrub(value)
            entities.append({"entity": name, "value": value})
        return entities

    def _user(self, event: TrackerEvent, data: dict[str, Any]) -> Turn:
        text = str(data.get("text") or "")
        parse = _dict(data.get("parse_data"))
        intent_data = _dict(parse.get("intent"))
        intent = intent_data.get("name") or event.intent_name
        confidence = intent_data.get("confidence")
        confidence = float(confidence) if isinstance(confidence, int | float) else None
        metadata = _dict(data.get("metadata"))
        raw_entities = parse.get("entities", data.get("entities"))
        if text.startswith(EXTERNAL_PREFIX) or metadata.get("is_external"):
            return self._external(event, str(intent or ""), self._entities(raw_entities, True))
        context = self.context
        withheld = True
        if context.active_loop == CARE_TEAM_FORM and context.requested_slot == CARE_TEAM_SLOT:
            self._remember(self._seen_care_team, text)
            shown = CARE_TEAM_WITHHELD
        elif context.requested_slot in NICKNAME_SLOTS:
            self._remember(self._seen_nicknames, text)
            shown = NICKNAME
        elif text.startswith("/"):
            shown, withheld = text.split("{", 1)[0], False  # a button or a command
        elif not self.member.free_text:
            shown = FREE_TEXT_WITHHELD
        else:
            shown, withheld = self.scrub(text), False
        return self._turn(
            event, PATIENT, shown, intent=intent, confidence=confidence,
            entities=self._entities(raw_entities, not withheld), withheld=withheld,
        )  # fmt: skip

    def _external(self, event: TrackerEvent, intent: str, entities: list[dict[str, Any]]) -> Turn:
        """A turn started by us, not typed: the safety net, a push, a reminder."""
        values = {e["entity"]: e["value"] for e in entities}
        if "safety_net" in values or intent in ("crisis", "red_flag"):
            tier = values.get("safety_tier") or "certain"
            reason = values.get("safety_net")
            detail = {"safety_kind": intent, "tier": tier, "reason": reason}
            text = f"safety net: {intent} ({tier}{f', {reason}' if reason else ''})"
            return self._turn(event, SAFETY, text, intent=intent, entities=entities, detail=detail)
        if "module_id" in values:
            module = str(values["module_id"])
            what = "follow-up" if intent == "module_follow_up" else "pushed"
            return self._turn(
                event, MODULE, f"module {module} {what}", intent=intent, entities=entities,
                detail={"module_id": module, "trigger": intent},
            )  # fmt: skip
        if "reminder" in values:
            text = f"check-in reminder ({values['reminder']})"
        else:
            text = f"triggered: {intent}"
        return self._turn(
            event, ACTION, text, intent=intent, entities=entities, detail={"trigger": intent}
        )

    def _bot(self, event: TrackerEvent, data: dict[str, Any]) -> Turn:
        text = self.scrub(str(data.get("text") or ""))
        payload = _dict(data.get("data"))
        buttons = [
            {"title": self.scrub(str(b.get("title") or "")), "payload": str(b.get("payload"))}
            for b in payload.get("buttons") or []
            if isinstance(b, dict)
        ]
        detail: dict[str, Any] = {}
        metadata = _dict(data.get("metadata"))
        utter = metadata.get("utter_action")
        if isinstance(utter, str) and IDENTIFIER.match(utter):
            detail["response"] = utter
        if payload.get("image"):
            detail["image"] = True
        if payload.get("custom"):
            detail["custom"] = True
        return self._turn(event, BOT, text, buttons=buttons, detail=detail)

    def _slot(self, event: TrackerEvent, data: dict[str, Any]) -> Turn | None:
        name = str(data.get("name") or event.action_name or "")
        value = data.get("value")
        context = self.context
        if name == "session_started_metadata":
            return None  # the channel's metadata: nothing for research
        if name == "requested_slot":
            context.requested_slot = value if isinstance(value, str) else None
            text = f"asks for {value}" if value else "nothing more to ask"
            return self._turn(event, FORM, text, detail={"requested_slot": context.requested_slot})
        if name == "module_id":
            context.module_id = value if isinstance(value, str) and value else None
            if context.module_id is None:
                context.module_step = None
                return self._turn(event, MODULE, "module closed", detail={"module_id": None})
            return self._turn(
                event, MODULE, f"module {context.module_id}", detail={"module_id": value}
            )
        if name == "module_step":
            context.module_step = int(value) if isinstance(value, int | float) else None
            step = context.module_step
            text = f"step {step + 1}" if step is not None else "no step"
            return self._turn(
                event, MODULE, text,
                detail={"module_id": context.module_id, "module_step": step},
            )  # fmt: skip
        shown, withheld = self._slot_value(name, value)
        if name == "module_answer":
            return self._turn(
                event, MODULE, f"answer: {shown}" if shown is not None else "answer cleared",
                detail={"module_id": context.module_id, "module_step": context.module_step,
                        "module_answer": shown}, withheld=withheld,
            )  # fmt: skip
        return self._turn(
            event, SLOT, f"{name} = {shown}", detail={"slot": name, "value": shown},
            withheld=withheld,
        )  # fmt: skip
