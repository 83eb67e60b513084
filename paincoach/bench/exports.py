"""Export benchmark: time and peak memory of every research export at study scale.

Run with `make bench` (or `make bench-exports`). Builds temporary SQLite databases with
1,000 participants, 100,000 check-ins and 1,000,000 tracker events written as Rasa 3.6
writes them, then runs each export three times, each in a fresh process, and reports the
wall time and the peak resident memory of that process (median and spread). The last line
is machine-readable; the bar is a peak under 300 MB.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

from sqlalchemy import insert

from paincoach.db import migrate
from paincoach.db.engine import session_scope
from paincoach.db.models import (
    CheckIn,
    CopingSession,
    Goal,
    GoalReview,
    ModuleAnswer,
    ModuleProgress,
    Participant,
    SafetyEvent,
)
from paincoach.research.synthetic import Conversation, write

PARTICIPANTS = 1000
CHECKINS = 100_000
EVENTS = 1_000_000
RUNS = 3
BAR_MB = 300.0
FORMAT = "parquet"
ZONES = ("Europe/Oslo", "Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Sydney")
MODULES = ("understanding-pain", "thoughts", "emotions", "relaxation", "pacing", "sleep",
           "values", "communication", "flare-ups")  # fmt: skip
EXERCISES = ("paced_breathing", "muscle_relaxation", "body_scan", "activity_pacing")
START = datetime(2025, 1, 6, 8, tzinfo=UTC)


def pseudonym(number: int) -> str:
    return f"p-{number:016x}"


def build_app_database(url: str, rng: random.Random) -> None:
    """Participants and their outcomes, inserted in bulk."""
    migrate.upgrade(url)
    per_person = CHECKINS // PARTICIPANTS
    with session_scope(url) as session:
        session.execute(
            insert(Participant),
            [
                {
                    "pseudonym": pseudonym(n), "consented_at": START, "research_consent": True,
                    "free_text_consent": n % 2 == 0, "nickname": f"Nick{n}",
                    "timezone": ZONES[n % len(ZONES)], "checkin_time": clock_time(20),
                    "study_arm": "AB"[n % 2], "created_at": START,
                }
                for n in range(PARTICIPANTS)
            ],
        )  # fmt: skip
    for first in range(0, PARTICIPANTS, 100):
        checkins, coping, progress, answers, goals, safety = [], [], [], [], [], []
        for pid in range(first + 1, min(first + 101, PARTICIPANTS + 1)):
            for day in range(per_person):
                at = START + timedelta(days=day, minutes=rng.randrange(600))
                done = rng.random() < 0.85
                checkins.append({
                    "participant_id": pid, "started_at": at,
                    "completed_at": at + timedelta(minutes=2) if done else None,
                    "pain_average": rng.randrange(11), "pain_enjoyment": rng.randrange(11),
                    "pain_activity": rng.randrange(11) if done else None,
                    "mood": rng.randrange(11) if done else None,
                    "sleep_quality": rng.randrange(11) if done else None,
                    "note": "slept badly, back stiff" if day % 7 == 0 else None,
                })  # fmt: skip
            for n in range(20):
                at = START + timedelta(days=n * 5, hours=3)
                coping.append({
                    "participant_id": pid, "exercise": EXERCISES[n % len(EXERCISES)],
                    "started_at": at, "completed_at": at + timedelta(minutes=5),
                    "tension_before": rng.randrange(11), "tension_after": rng.randrange(11),
                    "steps_completed": 5,
                })  # fmt: skip
            for n, module in enumerate(MODULES):
                at = START + timedelta(days=3 * n)
                progress.append({
                    "participant_id": pid, "module_id": module, "status": "completed",
                    "step_index": 6, "assigned_at": at, "started_at": at, "updated_at": at,
                    "completed_at": at + timedelta(days=1),
                })  # fmt: skip
                for step, kind in enumerate(("question", "choice", "scale")):
                    answers.append({
                        "participant_id": pid, "module_id": module, "step_id": f"s{step}",
                        "kind": kind, "answer": "it feels like an alarm" if kind == "question"
                        else "5", "answered_at": at + timedelta(hours=step),
                    })  # fmt: skip
            goals.append({"participant_id": pid, "activity": "walk the dog",
                          "times_per_week": 3, "created_at": START})  # fmt: skip
            safety.append({"participant_id": pid, "kind": "red_flag", "tier": "certain",
                           "detected_by": "safety_net", "created_at": START})  # fmt: skip
        with session_scope(url) as session:
            for model, rows in ((CheckIn, checkins), (CopingSession, coping),
                                (ModuleProgress, progress), (ModuleAnswer, answers),
                                (Goal, goals), (SafetyEvent, safety)):  # fmt: skip
                session.execute(insert(model), rows)
    with session_scope(url) as session:
        session.execute(
            insert(GoalReview),
            [{"goal_id": g, "times_done": 2, "reviewed_at": START + timedelta(days=7 * w)}
             for g in range(1, PARTICIPANTS + 1) for w in range(1, 13)],
        )  # fmt: skip


def daily_conversation(c: Conversation, rng: random.Random) -> None:
    """One day: a greeting, then the daily check-in through the form, as Rasa logs it."""
    offer = [("Yes", "/affirm"), ("Not now", "/deny")]
    scale = [(str(n), str(n)) for n in range(11)]
    c.user("morning, my back is bad again today", "flare_up", 0.8 + rng.random() / 5)
    c.action("action_flare_up").bot("I'm sorry to hear that. Shall we check in?", offer)
    c.listen().user("/affirm", "affirm", 1.0).action("checkin_form").form("checkin_form")
    for slot in ("pain_average", "pain_enjoyment", "pain_activity", "mood", "sleep_quality"):
        c.slot("requested_slot", slot).bot(f"{slot} from 0 to 10?", scale).listen()
        value = rng.randrange(11)
        rating = [{"entity": "pain_level", "value": value}]
        c.user(f"about a {value}", "inform", rng.random(), rating).slot(slot, float(value))
    c.slot("requested_slot", "checkin_note").bot("Anything you'd like to note?").listen()
    c.user("long day at work, sat too much", "inform", 0.4).slot("checkin_note", "long day")
    c.slot("requested_slot", None).form(None).action("action_checkin_feedback")
    c.bot("Thanks for checking in. Your pain is a little lower than last week.").listen()
    c.wait(86_000)


def build_tracker(url: str, rng: random.Random) -> int:
    """EVENTS events, EVENTS / PARTICIPANTS per conversation, written in chunks."""
    per_person = EVENTS // PARTICIPANTS
    written = 0
    chunk: list[Conversation] = []
    for n in range(PARTICIPANTS):
        c = Conversation(pseudonym(n), START).session_start()
        while len(c.rows) < per_person:
            daily_conversation(c, rng)
        del c.rows[per_person:]
        written += len(c.rows)
        chunk.append(c)
        if len(chunk) == 50:
            write(url, *chunk)
            chunk = []
    write(url, *chunk)
    return written


def run_child(kind: str, database: str, tracker: str, out: Path) -> tuple[float, float, int]:
    """One export in a fresh process: (seconds, peak resident MB, rows)."""
    command = [sys.executable, "-m", "paincoach.bench.exports", "--child", kind, str(out)]
    env = {**os.environ, "DATABASE_URL": database, "TRACKER_STORE_URL": tracker}
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    output = child.stdout.read() if child.stdout else ""
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"export {kind} failed with exit code {child.returncode}")
    return seconds, usage.ru_maxrss / 1024, int(output.strip() or 0)


def child(kind: str, out: str) -> None:
    """The export itself, as `paincoach export KIND --format parquet` runs it."""
    from paincoach.research.exports import Window, write_export
    from paincoach.settings import get_settings

    if kind == "baseline":  # the interpreter and the libraries an export imports
        print(0)
        return
    with open(out, "wb") as stream:
        print(write_export(kind, FORMAT, stream, get_settings(), Window()))


def spread(values: Sequence[float]) -> str:
    return f"{statistics.median(values):7.1f} ({min(values):.1f}–{max(values):.1f})"


def main() -> int:
    from paincoach.research.exports import KINDS

    rng = random.Random(8)
    with tempfile.TemporaryDirectory(prefix="paincoach-bench-") as folder:
        database = f"sqlite:///{folder}/paincoach.db"
        tracker = f"sqlite:///{folder}/tracker.db"
        started = time.perf_counter()
        build_app_database(database, rng)
        events = build_tracker(tracker, rng)
        print(
            f"Built {PARTICIPANTS} participants, {CHECKINS} check-ins and {events} tracker events "
            f"in {time.perf_counter() - started:.0f} s; each export {RUNS} times, {FORMAT}, "
            "each in a fresh process."
        )
        print(
            f"{'export':<16}{'rows':>9}  {'seconds: median (range)':<26}{'peak MB: median (range)'}"
        )
        peaks: list[float] = []
        for kind in ("baseline", *KINDS):
            times = 1 if kind == "baseline" else RUNS
            runs = [run_child(kind, database, tracker, Path(folder) / f"out.{FORMAT}")
                    for _ in range(times)]  # fmt: skip
            seconds, memory, rows = zip(*runs, strict=True)
            if kind != "baseline":
                peaks += memory
            print(f"{kind:<16}{rows[0]:>9}  {spread(seconds):<26}{spread(memory)}")
    peak = max(peaks)
    print(f"\nexport peak memory {peak:.0f} MB (bar {BAR_MB:.0f} MB)")
    print(f"export_peak_mb={peak:.1f} export_bar_mb={BAR_MB:.0f}")
    return 0 if peak < BAR_MB else 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
