"""The data dictionary: every column of every export, declared once.

The Parquet schemas, the CSV headers, the JSON Lines keys and the dictionary files (JSON and
Markdown) all come from the declarations below, so they cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from paincoach.content import exercises

PEG = (
    "PEG three-item pain scale (Krebs EE, Lorenz KA, Bair MJ, et al. Development and initial "
    "validation of the PEG, a three-item scale assessing pain intensity and interference. "
    "J Gen Intern Med. 2009;24(6):733-738)"
)
PAINCOACH_ITEM = "PainCoach single item, 0-10 numeric rating"
SCALE = "0-10 (integer)"
POINTS = "points on a 0-10 scale"
UTC_TIME = pa.timestamp("us", tz="UTC")
WITHHELD_NOTE = (
    " Without the participant's consent to research use of free text it reads "
    "`[free text withheld]`; care-team messages and nicknames never appear."
)


@dataclass(frozen=True)
class Column:
    """One column of an export, as the dictionary describes it."""

    name: str
    type: pa.DataType
    description: str
    unit: str | None = None
    allowed: str | None = None
    instrument: str | None = None
    nullable: bool = True

    @property
    def type_name(self) -> str:
        return str(self.type)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type_name,
            "nullable": self.nullable,
            "description": self.description,
            "unit": self.unit,
            "allowed_values": self.allowed,
            "instrument": self.instrument,
        }


@dataclass(frozen=True)
class Export:
    """One export: what a row is, and its columns in order."""

    kind: str
    title: str
    row: str
    columns: tuple[Column, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns],
            metadata={"paincoach_export": self.kind},
        )

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def as_dict(self) -> dict[str, Any]:
        return {
            "export": self.kind,
            "title": self.title,
            "row": self.row,
            "columns": [c.as_dict() for c in self.columns],
        }


def _who() -> tuple[Column, ...]:
    return (
        Column(
            "pseudonym", pa.string(),
            "The participant's random pseudonym (the same in every export and in the "
            "console); never a Telegram id or a name.",
            allowed="p- followed by 16 hexadecimal digits", nullable=False,
        ),
        Column("study_arm", pa.string(), "The study arm of the enrolment code, if any."),
    )  # fmt: skip


def _day(what: str) -> tuple[Column, ...]:
    return (
        Column(
            "local_date", pa.date32(),
            f"The calendar day of {what} in the participant's own time zone.",
            nullable=False,
        ),
        Column(
            "day_number", pa.int32(),
            f"Days from enrolment (consent) to {what}, on the participant's calendar: 0 is "
            "the day of consent.",
            unit="days", nullable=False,
        ),
    )  # fmt: skip


def _score(name: str, description: str, instrument: str) -> Column:
    return Column(name, pa.int16(), description, unit=POINTS, allowed=SCALE, instrument=instrument)


TRANSCRIPTS = Export(
    "transcripts",
    "Transcripts",
    "One turn of a conversation: a message in or out, an action of the coach, a form or slot "
    "change, a safety-net hit or a module step.",
    (
        *_who(),
        Column(
            "event_id", pa.int64(),
            "The event's id in Rasa's tracker store; qualitative codings point at it.",
            nullable=False,
        ),
        Column("at_utc", UTC_TIME, "When it happened (UTC).", nullable=False),
        Column(
            "local_time", pa.string(),
            "The same moment on the participant's clock, ISO 8601 with the UTC offset.",
            nullable=False,
        ),
        *_day("the turn"),
        Column(
            "kind", pa.string(), "What the turn is.",
            allowed="patient, bot, action, form, slot, safety, module", nullable=False,
        ),
        Column(
            "text", pa.string(),
            "The patient's or the coach's words; for other kinds a short description (action "
            "name, form started/ended, `slot = value`, safety tier, module step)." + WITHHELD_NOTE,
        ),
        Column(
            "withheld", pa.bool_(),
            "True when the words were withheld and `text` holds a placeholder.", nullable=False,
        ),
        Column("intent", pa.string(), "The intent Rasa recognised (patient and safety turns)."),
        Column(
            "confidence", pa.float64(),
            "Rasa's confidence in the intent (patient turns) or the policy's confidence "
            "(actions).",
            allowed="0-1",
        ),
        Column(
            "entities", pa.string(),
            "JSON array of the entities found: [{\"entity\": name, \"value\": value}].",
            nullable=False,
        ),
        Column(
            "buttons", pa.string(),
            "JSON array of the buttons the coach offered: [{\"title\", \"payload\"}].",
            nullable=False,
        ),
        Column("module_id", pa.string(), "The scripted module running at the time, if any."),
        Column(
            "detail", pa.string(),
            "JSON object with the turn's particulars (action and policy, slot and value, "
            "form, safety kind, tier and rule, module step).",
            nullable=False,
        ),
    ),
)  # fmt: skip

CHECKINS = Export(
    "checkins",
    "Daily check-ins (long format)",
    "One participant on one local day with at least one check-in. When there were several "
    "that day, the most complete one is kept (completed before partial, then the most items "
    "answered, then the latest); `checkins_that_day` says how many there were. Days without a "
    "check-in have no row: `day_number` shows the gaps.",
    (
        *_who(),
        *_day("the check-in"),
        Column("checkin_id", pa.int64(), "The check-in's id in the app database.", nullable=False),
        Column("started_at_utc", UTC_TIME, "When the check-in began (UTC).", nullable=False),
        Column("completed_at_utc", UTC_TIME, "When the last question was answered (UTC)."),
        Column(
            "status", pa.string(),
            "completed: every question answered; partial: the patient stopped half way (what "
            "they answered is kept).",
            allowed="completed, partial", nullable=False,
        ),
        _score(
            "pain_average",
            "PEG item 1: average pain over the past day (0 no pain, 10 as bad as you can "
            "imagine). The PEG's one-week recall is asked about the past day, every day.",
            PEG,
        ),
        _score(
            "pain_enjoyment",
            "PEG item 2: how much pain got in the way of enjoying life (0 not at all, 10 "
            "completely).",
            PEG,
        ),
        _score(
            "pain_activity",
            "PEG item 3: how much pain got in the way of general activity (0 not at all, 10 "
            "completely).",
            PEG,
        ),
        Column(
            "peg_score", pa.float64(),
            "The PEG score: the mean of the three PEG items; empty unless all three were "
            "answered.",
            unit=POINTS, allowed="0-10 in steps of 1/3", instrument=PEG,
        ),
        _score("mood", "How the mood has been (0 very low, 10 very good).", PAINCOACH_ITEM),
        _score("sleep_quality", "How well they slept last night (0 very badly, 10 very well).",
               PAINCOACH_ITEM),
        Column(
            "items_answered", pa.int16(), "How many of the five items were answered.",
            allowed="0-5", nullable=False,
        ),
        Column("note", pa.string(), "The patient's optional free-text note." + WITHHELD_NOTE),
        Column(
            "checkins_that_day", pa.int16(),
            "How many check-ins the participant started that local day.", nullable=False,
        ),
    ),
)  # fmt: skip

COPING = Export(
    "coping",
    "Coping exercise sessions",
    "One coping exercise started by a participant.",
    (
        *_who(),
        *_day("the session"),
        Column("session_id", pa.int64(), "The session's id in the app database.", nullable=False),
        Column(
            "exercise", pa.string(), "The toolbox exercise.",
            allowed=", ".join(exercises()),
            nullable=False,
        ),
        Column("started_at_utc", UTC_TIME, "When it began (UTC).", nullable=False),
        Column("completed_at_utc", UTC_TIME, "When it was finished (UTC); empty if stopped."),
        Column("completed", pa.bool_(), "Whether the exercise was finished.", nullable=False),
        Column(
            "steps_completed", pa.int16(), "Steps of the exercise gone through.",
            unit="steps", nullable=False,
        ),
        _score("tension_before", "Pain or tension rated just before the exercise.",
               PAINCOACH_ITEM),
        _score("tension_after", "Pain or tension rated just after the exercise.", PAINCOACH_ITEM),
        Column(
            "tension_change", pa.int16(),
            "tension_after minus tension_before (negative: eased); empty unless both rated.",
            unit=POINTS, allowed="-10 to 10",
        ),
    ),
)  # fmt: skip

MODULES = Export(
    "modules",
    "Module progress",
    "One participant and one scripted module given to them.",
    (
        *_who(),
        Column("module_id", pa.string(), "The module's id (its file under modules/).",
               nullable=False),
        Column(
            "status", pa.string(), "Where the participant is in the module.",
            allowed="assigned, in_progress, paused, completed", nullable=False,
        ),
        Column(
            "step_index", pa.int16(), "The step reached, counted from 0.", unit="steps",
            nullable=False,
        ),
        Column("assigned_at_utc", UTC_TIME, "When the module was given (UTC).", nullable=False),
        Column("started_at_utc", UTC_TIME, "When the participant began it (UTC)."),
        Column("completed_at_utc", UTC_TIME, "When they finished it (UTC)."),
        Column("updated_at_utc", UTC_TIME, "The last change (UTC).", nullable=False),
        Column(
            "assigned_day_number", pa.int32(),
            "Days from enrolment to the module being given, on the participant's calendar.",
            unit="days", nullable=False,
        ),
        Column(
            "days_to_complete", pa.float64(),
            "Days from starting to finishing the module; empty unless completed.",
            unit="days",
        ),
        Column(
            "answers", pa.int32(), "Answers the participant saved in this module.",
            nullable=False,
        ),
    ),
)  # fmt: skip

MODULE_ANSWERS = Export(
    "module_answers",
    "Module answers",
    "One answer a participant gave to a step of a module.",
    (
        *_who(),
        *_day("the answer"),
        Column("module_id", pa.string(), "The module's id.", nullable=False),
        Column("step_id", pa.string(), "The step's id within the module.", nullable=False),
        Column(
            "step_kind", pa.string(), "The kind of step answered.",
            allowed="question, choice, scale, checkpoint", nullable=False,
        ),
        Column("answered_at_utc", UTC_TIME, "When it was answered (UTC).", nullable=False),
        Column(
            "answer", pa.string(),
            "The answer as given: the chosen option for a choice, the number for a scale, the "
            "patient's words for a question." + WITHHELD_NOTE,
        ),
        Column(
            "scale_value", pa.int16(), "The answer to a scale step as a number.",
            unit=POINTS, allowed=SCALE,
        ),
    ),
)  # fmt: skip

GOALS = Export(
    "goals",
    "Weekly activity goals and their reviews",
    "One review of a weekly goal (how often the participant managed it), with the goal's "
    "columns repeated; a goal never reviewed has one row with empty review columns.",
    (
        *_who(),
        Column("goal_id", pa.int64(), "The goal's id in the app database.", nullable=False),
        Column("activity", pa.string(), "The activity, in the patient's words." + WITHHELD_NOTE),
        Column(
            "times_per_week", pa.int16(), "How often a week the participant aimed to do it.",
            unit="times per week", nullable=False,
        ),
        Column("created_at_utc", UTC_TIME, "When the goal was set (UTC).", nullable=False),
        Column(
            "created_day_number", pa.int32(), "Days from enrolment to setting the goal.",
            unit="days", nullable=False,
        ),
        Column(
            "active", pa.bool_(), "False once a newer goal replaced it.", nullable=False,
        ),
        Column("review_id", pa.int64(), "The review's id; empty for a goal never reviewed."),
        Column("reviewed_at_utc", UTC_TIME, "When the participant reported on it (UTC)."),
        Column(
            "review_day_number", pa.int32(), "Days from enrolment to the review.", unit="days"
        ),
        Column(
            "times_done", pa.int16(), "How often they did it that week, as they reported.",
            unit="times per week",
        ),
    ),
)  # fmt: skip

SAFETY = Export(
    "safety",
    "Safety events",
    "One crisis or medical red flag the coach responded to (certain), or asked about "
    "(possible). Events before consent are anonymous and not part of any export.",
    (
        *_who(),
        *_day("the event"),
        Column(
            "safety_event_id", pa.int64(), "The event's id in the app database.", nullable=False
        ),
        Column("created_at_utc", UTC_TIME, "When it happened (UTC).", nullable=False),
        Column(
            "kind", pa.string(), "What was detected.", allowed="crisis, red_flag",
            nullable=False,
        ),
        Column(
            "tier", pa.string(),
            "certain: the full response and an alert to the care team; possible: a check "
            "question was asked.",
            allowed="certain, possible", nullable=False,
        ),
        Column(
            "detected_by", pa.string(), "Which layer found it.",
            allowed="safety_net, risk_model, nlu, check_question", nullable=False,
        ),
        Column("reason", pa.string(), "The rule or model that fired (never the patient's words)."),
        Column(
            "check_answer", pa.string(), "The answer to the check question (possible tier).",
            allowed="yes, no, unsure, unclear",
        ),
        Column("safe_now", pa.bool_(), "The answer to \"are you safe now?\" (crisis)."),
        Column(
            "acknowledged", pa.bool_(), "Whether the care team acknowledged the alert.",
            nullable=False,
        ),
    ),
)  # fmt: skip

ENGAGEMENT = Export(
    "engagement",
    "Engagement per participant",
    "One participant, over the export's window: from enrolment (or --since, if later) to "
    "today (or --until, if earlier), on the participant's calendar.",
    (
        *_who(),
        Column("enrolled_date", pa.date32(), "The day of consent (participant's calendar).",
               nullable=False),
        Column("window_start", pa.date32(), "First day counted.", nullable=False),
        Column("window_end", pa.date32(), "Last day counted.", nullable=False),
        Column("days_in_window", pa.int32(), "Days counted (0 if the window is empty).",
               unit="days", nullable=False),
        Column("first_activity_utc", UTC_TIME, "First message in or out in the window (UTC)."),
        Column("last_activity_utc", UTC_TIME, "Last message in or out in the window (UTC)."),
        Column(
            "last_active_day_number", pa.int32(),
            "Days from enrolment to the last day with a message or check-in, for retention "
            "curves.",
            unit="days",
        ),
        Column("messages_in", pa.int32(), "Messages the patient typed or sent with a button.",
               unit="messages", nullable=False),
        Column("messages_out", pa.int32(), "Messages the coach sent.", unit="messages",
               nullable=False),
        Column("active_days", pa.int32(), "Days with a message from the patient or a check-in.",
               unit="days", nullable=False),
        Column("checkin_days", pa.int32(), "Days with at least one check-in.", unit="days",
               nullable=False),
        Column("checkins_completed", pa.int32(), "Completed check-ins.", nullable=False),
        Column("checkins_partial", pa.int32(), "Check-ins stopped half way.", nullable=False),
        Column(
            "checkin_adherence", pa.float64(), "checkin_days / days_in_window.",
            unit="proportion", allowed="0-1",
        ),
        Column("coping_sessions", pa.int32(), "Coping exercises started.", nullable=False),
        Column("modules_assigned", pa.int32(), "Modules given in the window.", nullable=False),
        Column("modules_completed", pa.int32(), "Modules finished in the window.",
               nullable=False),
        Column("goals_set", pa.int32(), "Weekly goals set.", nullable=False),
        Column("goal_reviews", pa.int32(), "Goal reviews answered.", nullable=False),
        Column("safety_events", pa.int32(), "Safety events (crisis or red flag).",
               nullable=False),
    ),
)  # fmt: skip

EXPORTS: dict[str, Export] = {
    e.kind: e
    for e in (TRANSCRIPTS, CHECKINS, COPING, MODULES, MODULE_ANSWERS, GOALS, SAFETY, ENGAGEMENT)
}

FORMAT_NOTES = (
    "CSV: a header row with the column names; empty cells are missing values; times are "
    "ISO 8601 in UTC ending in Z, dates YYYY-MM-DD, booleans true/false. JSON Lines: one "
    "object per row with the same keys, null for missing values. Parquet: the types below."
)


def as_json(kinds: list[str] | None = None) -> str:
    chosen = [EXPORTS[k] for k in (kinds or list(EXPORTS))]
    return json.dumps({"formats": FORMAT_NOTES, "exports": [e.as_dict() for e in chosen]}, indent=2)


def _cell(value: str | None) -> str:
    return (value or "").replace("|", "\\|").replace("\n", " ")


def as_markdown(kinds: list[str] | None = None) -> str:
    lines = ["# PainCoach data dictionary", "", FORMAT_NOTES, ""]
    for export in (EXPORTS[k] for k in (kinds or list(EXPORTS))):
        lines += [
            f"## {export.title} (`{export.kind}`)", "", export.row, "",
            "| column | type | unit | allowed values | instrument | description |",
            "| --- | --- | --- | --- | --- | --- |",
        ]  # fmt: skip
        for c in export.columns:
            required = "" if c.nullable else " (never empty)"
            lines.append(
                f"| `{c.name}` | {c.type_name}{required} | {_cell(c.unit)} | {_cell(c.allowed)} "
                f"| {_cell(c.instrument)} | {_cell(c.description)} |"
            )
        lines.append("")
    return "\n".join(lines)
