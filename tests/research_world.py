"""A small study, written into both databases as the coach and Rasa 3.6 would write it.

Four participants and one person who never consented, with known Telegram ids, nicknames
and care-team messages, so tests can check what researchers see and what they never see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select

from paincoach.db.engine import session_scope
from paincoach.db.models import (
    CareTeamMessage,
    CheckIn,
    CopingSession,
    FlareUpPlan,
    Goal,
    GoalReview,
    ModuleAnswer,
    ModuleProgress,
    Participant,
    SafetyEvent,
    TelegramChat,
)
from paincoach.research.synthetic import Conversation, write
from paincoach.settings import Settings

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a Monday; 08:00 in Oslo


@dataclass(frozen=True)
class Person:
    pseudonym: str
    chat_id: int
    nickname: str
    timezone: str = "Europe/Oslo"
    arm: str | None = None
    research: bool = True
    free_text: bool = False
    withdrawn: bool = False


FREE = Person("p-a1a1a1a1a1a1a1a1", 7_300_000_101, "Zebulonia", arm="A", free_text=True)
PLAIN = Person("p-b2b2b2b2b2b2b2b2", 7_300_000_202, "Quillonby", "America/New_York", arm="B")
NO_RESEARCH = Person("p-c3c3c3c3c3c3c3c3", 7_300_000_303, "Yarrowbeth", research=False)
WITHDRAWN = Person("p-d4d4d4d4d4d4d4d4", 7_300_000_404, "Wendelmira", arm="A", withdrawn=True)
NEVER_CONSENTED = Person("p-e5e5e5e5e5e5e5e5", 7_300_000_505, "Ophelindra")
PEOPLE = (FREE, PLAIN, NO_RESEARCH, WITHDRAWN)
VISIBLE = (FREE, PLAIN)

CARE_TEAM_WORDS = "please ring me about the nerve block appointment"
NOTE_WORDS = "stiff knee after gardening"
ANSWER_WORDS = "my pain feels like a warning light stuck on"
GOAL_WORDS = "walk the spaniel by the river"
PATIENT_WORDS = "my lower back is grumbling since the long drive"
# Words that must never appear in anything a researcher gets, whatever the consent.
NEVER_SHOWN = (
    *(str(p.chat_id) for p in (*PEOPLE, NEVER_CONSENTED)),
    *(p.nickname for p in (*PEOPLE, NEVER_CONSENTED)),
    CARE_TEAM_WORDS,
    "nerve block",
    "telegram_user",
    "@quill_tg",
)


@dataclass
class World:
    settings: Settings
    conversations: dict[str, Conversation] = field(default_factory=dict)


def conversation(person: Person, start: datetime) -> Conversation:
    """Onboarding, a greeting, a check-in, a care-team message, a module question and a
    crisis caught by the safety net, as the events Rasa stores."""
    c = Conversation(person.pseudonym, start)
    c.session_start({"telegram_user": person.chat_id, "username": "@quill_tg"})
    c.user("/start", "start", 1.0).action("onboarding_form").form("onboarding_form")
    c.slot("requested_slot", "nickname").bot("What should I call you?").listen()
    c.user(person.nickname, "inform", 0.41).slot("nickname", person.nickname)
    c.slot("requested_slot", None).form(None)
    c.bot(f"Lovely to meet you, {person.nickname}!", response="utter_welcome").listen()
    c.wait(3600)
    c.user(PATIENT_WORDS, "flare_up", 0.88, [
        {"entity": "body_part", "value": "lower back", "start": 3, "end": 13,
         "extractor": "DIETClassifier"},
    ]).action("action_flare_up")  # fmt: skip
    c.bot(
        f"I'm sorry your back is sore, {person.nickname}. Shall we check in?",
        [("Yes", "/affirm"), ("Not now", "/deny")],
        "utter_flare_up",
    ).listen()
    c.user("/affirm", "affirm", 1.0).action("checkin_form").form("checkin_form")
    for slot, value in (("pain_average", 6), ("pain_enjoyment", 5), ("pain_activity", 7),
                        ("mood", 4), ("sleep_quality", 3)):  # fmt: skip
        c.slot("requested_slot", slot).bot(f"{slot} 0-10?").listen()
        c.user(str(value), "inform", 0.93, [{"entity": "pain_level", "value": value}])
        c.slot(slot, float(value))
    c.slot("requested_slot", "checkin_note").bot("Anything you want to note?").listen()
    c.user(NOTE_WORDS, "inform", 0.52).slot("checkin_note", NOTE_WORDS)
    c.slot("requested_slot", None).form(None).action("action_checkin_feedback")
    c.bot(f"Thanks, {person.nickname}. Your note: {NOTE_WORDS}.").listen()
    c.wait(3600)
    c.user("I want to talk to my physio", "contact_care_team", 0.95)
    c.action("care_team_form").form("care_team_form").slot("requested_slot", "care_team_message")
    c.bot("What would you like to say to them?").listen()
    c.user(CARE_TEAM_WORDS, "inform", 0.37).slot("care_team_message", CARE_TEAM_WORDS)
    c.slot("requested_slot", None).form(None)
    c.bot(f"I've passed this on: \u201c{CARE_TEAM_WORDS}\u201d").listen()
    c.wait(86400)
    c.trigger("continue_module", {"module_id": "understanding-pain"}).action("module_form")
    c.form("module_form").slot("module_id", "understanding-pain").slot("module_step", 0.0)
    c.slot("requested_slot", "module_answer").bot("What does your pain feel like?").listen()
    c.user(ANSWER_WORDS, "inform", 0.44).slot("module_answer", ANSWER_WORDS)
    c.slot("module_step", 1.0).slot("module_answer", None).listen()
    c.user("/affirm", "affirm", 1.0).slot("module_answer", "completed")
    c.form(None).slot("module_id", None).slot("module_step", None)
    c.bot("Well done, you finished the module.").listen()
    c.wait(7200)
    c.user("everything is pointless tonight", "mood_low", 0.62)
    c.trigger("crisis", {"safety_net": "hopelessness", "safety_tier": "possible"})
    c.action("action_safety_triage").bot("Is that something you're thinking about?").listen()
    c.user(f"my goal: {GOAL_WORDS}", "set_goal", 0.91).action("goal_form")
    c.bot(f"Your goal: {GOAL_WORDS}, 3 times a week.").listen()
    c.user("<b>bold</b> & sleep", "sleep_problem", 0.35).action("utter_sleep_problem")
    c.bot("Sleep and pain are closely linked.", response="utter_sleep_problem").listen()
    return c


def build(settings: Settings, people: tuple[Person, ...] = PEOPLE) -> World:
    """Write the study into the app database and the tracker store."""
    world = World(settings)
    with session_scope(settings.database_url) as session:
        for number, person in enumerate(people):
            consented = START + timedelta(minutes=number)
            participant = Participant(
                pseudonym=person.pseudonym, consented_at=consented,
                research_consent=person.research, free_text_consent=person.free_text,
                research_withdrawn_at=START + timedelta(days=5) if person.withdrawn else None,
                nickname=person.nickname, timezone=person.timezone, checkin_time=time(20),
                study_arm=person.arm, created_at=consented,
            )  # fmt: skip
            session.add(participant)
            session.add(TelegramChat(chat_id=person.chat_id, pseudonym=person.pseudonym,
                                     created_at=consented))  # fmt: skip
            session.flush()
            _outcomes(session, participant.id, consented)
        stranger = NEVER_CONSENTED
        session.add(
            TelegramChat(chat_id=stranger.chat_id, pseudonym=stranger.pseudonym, created_at=START)
        )
        session.add(
            SafetyEvent(
                participant_id=None, kind="crisis", detected_by="safety_net", created_at=START
            )
        )
    for number, person in enumerate((*people, NEVER_CONSENTED)):
        world.conversations[person.pseudonym] = conversation(
            person, START + timedelta(minutes=number)
        )
    write(settings.tracker_store_url, *world.conversations.values())
    return world


def _outcomes(session: object, pid: int, start: datetime) -> None:
    """Check-ins (two on the first day), coping, goals, modules, safety, care-team messages."""
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    day = timedelta(days=1)
    session.add_all([
        CheckIn(participant_id=pid, started_at=start + timedelta(hours=1), pain_average=6,
                pain_enjoyment=5, pain_activity=7, mood=4, sleep_quality=3, note=NOTE_WORDS,
                completed_at=start + timedelta(hours=1, minutes=3)),
        CheckIn(participant_id=pid, started_at=start + timedelta(hours=5), pain_average=8),
        CheckIn(participant_id=pid, started_at=start + 2 * day, pain_average=4,
                pain_enjoyment=4, pain_activity=3, mood=6, sleep_quality=7,
                completed_at=start + 2 * day + timedelta(minutes=2)),
        CheckIn(participant_id=pid, started_at=start + 3 * day, pain_average=5, mood=5),
        CopingSession(participant_id=pid, exercise="paced_breathing", started_at=start + day,
                      completed_at=start + day + timedelta(minutes=4), tension_before=7,
                      tension_after=4, steps_completed=5),
        CopingSession(participant_id=pid, exercise="body_scan", started_at=start + 3 * day,
                      tension_before=6, steps_completed=2),
        ModuleProgress(participant_id=pid, module_id="understanding-pain", status="completed",
                       step_index=2, assigned_at=start + day, started_at=start + day,
                       updated_at=start + 2 * day, completed_at=start + 2 * day),
        ModuleProgress(participant_id=pid, module_id="sleep", status="assigned", step_index=0,
                       assigned_at=start + 3 * day, updated_at=start + 3 * day),
        ModuleAnswer(participant_id=pid, module_id="understanding-pain", step_id="feel",
                     kind="question", answer=ANSWER_WORDS, answered_at=start + day),
        ModuleAnswer(participant_id=pid, module_id="understanding-pain", step_id="rate",
                     kind="scale", answer="6", answered_at=start + day),
        SafetyEvent(participant_id=pid, kind="crisis", tier="possible",
                    detected_by="safety_net", reason="hopelessness", check_answer="no",
                    created_at=start + 2 * day),
        SafetyEvent(participant_id=pid, kind="red_flag", detected_by="risk_model",
                    created_at=start + 3 * day, acknowledged_at=start + 3 * day),
        CareTeamMessage(participant_id=pid, body=CARE_TEAM_WORDS,
                        created_at=start + timedelta(hours=2)),
        FlareUpPlan(participant_id=pid, warning_signs="tight shoulders", what_helps="heat pad",
                    what_to_ease_off="hoovering", who_can_help="my sister",
                    note_to_self="it passes"),
    ])  # fmt: skip
    goal = Goal(participant_id=pid, activity=GOAL_WORDS, times_per_week=3,
                created_at=start + 2 * day)  # fmt: skip
    old_goal = Goal(participant_id=pid, activity="swim twice", times_per_week=2,
                    created_at=start + day, active=False)  # fmt: skip
    session.add_all([goal, old_goal])
    session.flush()
    session.add(GoalReview(goal_id=goal.id, times_done=2, reviewed_at=start + 3 * day))
    session.add(GoalReview(goal_id=goal.id, times_done=3, reviewed_at=start + 4 * day))


def participant_id(settings: Settings, pseudonym: str) -> int:
    with session_scope(settings.database_url) as session:
        found = session.scalar(select(Participant.id).where(Participant.pseudonym == pseudonym))
        assert found is not None
        return found


def research_settings(database_url: str, request: object, tmp_path: object) -> Settings:
    """Settings with the app database under test and a tracker store of the same kind."""
    import pytest

    assert isinstance(request, pytest.FixtureRequest)
    if database_url.startswith("sqlite"):
        tracker = f"sqlite:///{tmp_path}/tracker.db"
    else:
        tracker = str(request.getfixturevalue("postgres_url"))
    return Settings(database_url=database_url, tracker_store_url=tracker)
