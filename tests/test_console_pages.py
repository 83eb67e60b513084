"""The console's pages on real data, and its forms: bad input is explained and kept."""

from __future__ import annotations

import html
import re
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select, update

from paincoach import enrolment
from paincoach.console.accounts import LINK_CODE_MINUTES
from paincoach.db.engine import session_scope
from paincoach.db.models import (
    CareTeamAlert,
    CareTeamMessage,
    CheckIn,
    ConsoleSession,
    ConsoleUser,
    CopingSession,
    EnrolmentCode,
    ModuleAnswer,
    ModuleProgress,
    Participant,
    ScheduledJob,
    utcnow,
)
from paincoach.db.store import CoachStore
from paincoach.standin import BotApiStandIn
from tests.console_client import Browser, add_user, console_app, csrf_from, logged_in
from tests.providers import add_patient

PROVIDER = "physio@clinic.example"
LONG_REPLY = "I hear you. " * 834  # 10,008 characters


def unescaped(response: httpx.Response) -> str:
    return html.unescape(response.text)


def words(response: httpx.Response) -> str:
    """The page's text as a reader sees it: no tags, single spaces."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def add_checkin(url: str, pseudonym: str, days_ago: float, peg: int, **items: Any) -> None:
    with session_scope(url) as session:
        patient = session.scalar(select(Participant).where(Participant.pseudonym == pseudonym))
        assert patient is not None
        started = utcnow() - timedelta(days=days_ago)
        session.add(
            CheckIn(
                participant_id=patient.id, started_at=started, completed_at=started,
                pain_average=peg, pain_enjoyment=peg, pain_activity=peg,
                mood=items.get("mood", 5), sleep_quality=items.get("sleep", 6),
                note=items.get("note"),
            )
        )  # fmt: skip


def participant_id(url: str, pseudonym: str) -> int:
    with session_scope(url) as session:
        found = session.scalar(select(Participant.id).where(Participant.pseudonym == pseudonym))
        assert found is not None
        return found


@pytest.fixture
def clinic(database_url: str) -> tuple[Any, str]:
    """One provider with three patients (worsening, in crisis, quiet), one other provider."""
    app = console_app(database_url)
    me = add_user(app, PROVIDER)
    other = add_user(app, "other@clinic.example")
    url = database_url
    add_patient(url, "pat-river", me, nickname="River")
    add_patient(url, "pat-calm", me, nickname="Calm")
    add_patient(url, "pat-quiet", me, nickname="Quiet")
    add_patient(url, "pat-elsewhere", other, nickname="Elsewhere")
    with session_scope(url) as session:  # enrolled 20 days ago
        session.execute(
            update(Participant).values(consented_at=utcnow() - timedelta(days=19, hours=1))
        )
    for day in range(13, 6, -1):  # the week before: PEG 3
        add_checkin(url, "pat-river", day + 0.5, 3)
    for day, note in ((6, None), (4, "stairs were tough today"), (2, None), (1, None)):
        add_checkin(url, "pat-river", day + 0.5, 6, note=note, mood=3, sleep=2)
    add_checkin(url, "pat-calm", 1.5, 4)
    store = CoachStore(url)
    store.record_safety_event("pat-calm", "crisis", "safety_net")
    pid = participant_id(url, "pat-river")
    with session_scope(url) as session:
        session.add(
            CopingSession(
                participant_id=pid, exercise="paced_breathing", completed_at=utcnow(),
                tension_before=7, tension_after=4, steps_completed=5,
            )
        )  # fmt: skip
        session.add(
            ModuleProgress(
                participant_id=pid, module_id="understanding-pain", status="in_progress",
                step_index=2, started_at=utcnow(),
            )
        )  # fmt: skip
        session.add(
            ModuleAnswer(
                participant_id=pid, module_id="understanding-pain", step_id="your-understanding",
                kind="question", answer="My back never healed properly, I think.",
            )
        )  # fmt: skip
    store.set_goal("pat-river", "walk to the park", 3)
    store.review_goal("pat-river", 2)
    store.save_flare_up_plan(
        "pat-river", warning_signs="stiff neck", what_helps="heat pack",
        what_to_ease_off="gardening", who_can_help="my sister", note_to_self="it passes",
    )  # fmt: skip
    store.add_care_team_message("pat-river", "Can I move my appointment to Friday?")
    store.add_care_team_message("pat-elsewhere", "A message for another clinic")
    return app, url


def test_patients_list_needs_attention_first_with_peg_trend_adherence_and_module(
    clinic: tuple[Any, str],
) -> None:
    app, _ = clinic
    page = logged_in(app, PROVIDER).get("/patients")
    assert page.status_code == 200
    text = unescaped(page)
    order = [text.index(name) for name in ("pat-calm", "pat-river", "pat-quiet")]
    assert order == sorted(order), "crisis first, then worsening, then the rest"
    assert "pat-elsewhere" not in text
    river = text[text.index("pat-river") :]
    river = river[: river.index("</tr>")]
    assert "6.0" in river and "+3.0 worse" in river  # this week vs the week before
    assert "11/20 days (55%)" in river  # days with a check-in over days enrolled
    assert "Understanding chronic pain" in river and "step 3 of 10" in river
    calm = text[text.index("pat-calm") :]
    assert "1 crisis / red flag" in calm[: calm.index("</tr>")]


def test_patient_page_shows_the_whole_record(clinic: tuple[Any, str]) -> None:
    app, url = clinic
    page = logged_in(app, PROVIDER).get("/patients/pat-river")
    assert page.status_code == 200
    text = unescaped(page)
    assert "River" in text and "pat-river" in text and "Europe/Oslo" in text
    chart = re.search(r'<img src="data:image/svg\+xml;base64,([^"]+)"', page.text)
    assert chart and len(chart.group(1)) > 5000
    assert "stairs were tough today" in text
    assert "Paced breathing" in text and "7 → 4" in text
    assert "walk to the park" in text and "done 2 of 3 times" in text
    for words in ("stiff neck", "heat pack", "gardening", "my sister", "it passes"):
        assert words in text
    assert "Understanding chronic pain" in text and "step 3 of 10" in text
    assert "what is your own understanding of why your pain has carried on" in text
    assert "My back never healed properly, I think." in text
    assert "Can I move my appointment to Friday?" in text
    # Opening the conversation marks the patient's messages read.
    with session_scope(url) as session:
        message = session.scalar(
            select(CareTeamMessage).where(
                CareTeamMessage.participant_id == participant_id(url, "pat-river")
            )
        )
        assert message is not None and message.read_at is not None


def test_the_charts_are_drawn_from_the_patients_check_ins(clinic: tuple[Any, str]) -> None:
    from paincoach.console.charts import daily_values, record_charts

    _, url = clinic
    with session_scope(url) as session:
        checkins = list(session.scalars(select(CheckIn).order_by(CheckIn.started_at)))
    river = [c for c in checkins if c.participant_id == participant_id(url, "pat-river")]
    days = daily_values(river, "Europe/Oslo")
    assert len(days) == 11
    assert list(days.values())[-1] == (6, 6.0, 3, 2)
    svg = record_charts(river, "Europe/Oslo")
    assert svg.lstrip().startswith("<?xml") and "Sleep quality" in svg
    assert "no answers in these days" in record_charts([], "UTC")


def test_safety_events_are_on_the_patient_page(clinic: tuple[Any, str]) -> None:
    app, _ = clinic
    text = unescaped(logged_in(app, PROVIDER).get("/patients/pat-calm"))
    section = text[text.index('id="safety"') :]
    assert "Crisis" in section[: section.index("</section>")]
    assert "certain: full response given" in text


def test_a_reply_is_stored_for_the_gateway_to_deliver(clinic: tuple[Any, str]) -> None:
    app, url = clinic
    browser = logged_in(app, PROVIDER)
    browser.get("/patients/pat-river")
    sent = browser.post("/patients/pat-river/reply", {"body": "  Friday at 10 works.  "})
    assert sent.status_code == 303
    with session_scope(url) as session:
        reply = session.scalar(select(CareTeamMessage).where(~CareTeamMessage.from_patient))
        provider = session.scalar(select(ConsoleUser.id).where(ConsoleUser.email == PROVIDER))
        assert reply is not None
        assert (reply.body, reply.provider_id, reply.delivered_at) == (
            "Friday at 10 works.", provider, None,
        )  # fmt: skip
    page = unescaped(browser.get(sent.headers["location"]))
    assert "Reply sent" in page and "waiting to be delivered" in page


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("   ", "Write a reply before sending."),
        (LONG_REPLY, "has 10,008 characters; the limit is 4,000"),
    ],
)
def test_a_reply_that_cannot_go_is_explained_and_kept(
    clinic: tuple[Any, str], body: str, message: str
) -> None:
    app, url = clinic
    browser = logged_in(app, PROVIDER)
    browser.get("/patients/pat-river")
    refused = browser.post("/patients/pat-river/reply", {"body": body})
    assert refused.status_code == 422
    text = unescaped(refused)
    assert message in text
    assert f">{body}</textarea>" in text
    # The same through htmx: only the conversation comes back, with the message.
    partial = browser.post(
        "/patients/pat-river/reply", {"body": body}, headers={"HX-Request": "true"}
    )
    assert partial.status_code == 422 and partial.text.lstrip().startswith("<section")
    assert message in unescaped(partial) and "<html" not in partial.text
    with session_scope(url) as session:
        assert session.scalar(select(CareTeamMessage).where(~CareTeamMessage.from_patient)) is None


def test_an_htmx_reply_swaps_in_the_conversation(clinic: tuple[Any, str]) -> None:
    app, _ = clinic
    browser = logged_in(app, PROVIDER)
    browser.get("/patients/pat-river")
    token = browser.csrf()
    answer = browser.client.post(
        "/patients/pat-river/reply",
        data={"body": "See you Friday."},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith('<section class="card" id="conversation">')
    assert "See you Friday." in answer.text and "Reply sent" in answer.text


def test_inbox_newest_first_unread_marked_and_answered_from_there(
    clinic: tuple[Any, str],
) -> None:
    app, url = clinic
    CoachStore(url).add_care_team_message("pat-quiet", "Is it normal to feel tired?")
    browser = logged_in(app, PROVIDER)
    page = unescaped(browser.get("/inbox"))
    assert "2 unread" in page
    assert page.index("Is it normal to feel tired?") < page.index("Can I move my appointment")
    assert "A message for another clinic" not in page
    sent = browser.post("/inbox/reply", {"pseudonym": "pat-quiet", "body": "Yes, quite normal."})
    assert sent.status_code == 303
    after = words(browser.get(sent.headers["location"]))
    assert "Reply sent to pat-quiet ." in after and "1 unread" in after and "answered" in after


@pytest.mark.parametrize(
    ("pseudonym", "body", "message"),
    [
        ("pat-river", "", "Write a reply before sending."),
        ("pat-river", LONG_REPLY, "the limit is 4,000"),
        ("pat-elsewhere", "Hello from the wrong clinic", "This is not one of your patients."),
        ("", "To nobody", "This is not one of your patients."),
    ],
)
def test_inbox_replies_that_cannot_go_are_explained_and_kept(
    clinic: tuple[Any, str], pseudonym: str, body: str, message: str
) -> None:
    app, url = clinic
    browser = logged_in(app, PROVIDER)
    browser.get("/inbox")
    refused = browser.post("/inbox/reply", {"pseudonym": pseudonym, "body": body})
    assert refused.status_code == 422
    text = unescaped(refused)
    assert message in text and f">{body}</textarea>" in text
    with session_scope(url) as session:
        assert session.scalar(select(CareTeamMessage).where(~CareTeamMessage.from_patient)) is None


async def test_enrolment_creates_codes_with_invite_links_and_qr_codes(
    clinic: tuple[Any, str],
) -> None:
    app, url = clinic
    settings = app.state.console.settings
    async with BotApiStandIn(bot_username="clinic_coach_bot") as standin:
        app.state.console.settings = settings.model_copy(
            update={"telegram_bot_token": standin.token, "telegram_api_base_url": standin.base_url}
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            login = await client.get("/login")
            token = csrf_from(login.text)
            await client.post(
                "/login", data={"email": PROVIDER, "password": "correct horse battery staple",
                                "csrf_token": token},
            )  # fmt: skip
            made = await client.post(
                "/enrolment",
                data={"arm": "pacing first", "uses": "5", "expires_days": "7", "csrf_token": token},
            )
            assert made.status_code == 303
            page = await client.get(made.headers["location"])
    text = unescaped(page)
    [code] = enrolment.codes_for(participant_provider(url), url=url)
    assert (code.study_arm, code.max_uses) == ("pacing first", 5)
    assert code.expires_at - code.created_at == timedelta(days=7)
    assert f"Code {code.code} created" in words(page)
    assert f"https://t.me/clinic_coach_bot?start={code.code}" in text
    assert "<svg" in page.text and "0 of 5" in text


def participant_provider(url: str) -> int:
    with session_scope(url) as session:
        found = session.scalar(select(ConsoleUser.id).where(ConsoleUser.email == PROVIDER))
        assert found is not None
        return found


def test_enrolment_without_a_reachable_bot_still_makes_codes(clinic: tuple[Any, str]) -> None:
    app, url = clinic
    settings = app.state.console.settings
    app.state.console.settings = settings.model_copy(
        update={
            "telegram_bot_token": "1:unreachable",
            "telegram_api_base_url": "http://127.0.0.1:9/bot",
        }
    )
    browser = logged_in(app, PROVIDER)
    browser.get("/enrolment")
    made = browser.post("/enrolment", {"arm": "", "uses": "1", "expires_days": "14"})
    assert made.status_code == 303
    text = unescaped(browser.get("/enrolment"))
    [code] = enrolment.codes_for(participant_provider(url), url=url)
    assert code.code in text and "is the bot running?" in text and "/start CODE" in text


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"arm": "", "uses": "", "expires_days": "14"},
            "Enter how many patients may use the code.",
        ),
        ({"arm": "", "uses": "two", "expires_days": "14"}, "must be a whole number, not 'two'"),
        ({"arm": "", "uses": "0", "expires_days": "14"}, "Uses must be a whole number from 1 to"),
        (
            {"arm": "", "uses": "1", "expires_days": ""},
            "Enter after how many days the code expires.",
        ),
        (
            {"arm": "", "uses": "1", "expires_days": "400"},
            "A code must expire after 1 to 365 days.",
        ),
        ({"arm": "x" * 41, "uses": "1", "expires_days": "14"}, "at most 40 characters"),
    ],
)
def test_enrolment_form_explains_bad_input_and_keeps_it(
    clinic: tuple[Any, str], form: dict[str, str], message: str
) -> None:
    app, url = clinic
    browser = logged_in(app, PROVIDER)
    browser.get("/enrolment")
    refused = browser.post("/enrolment", form)
    assert refused.status_code == 422
    text = unescaped(refused)
    assert message in text
    for name, value in form.items():
        assert f'name="{name}" type="{"text" if name == "arm" else "number"}"' in text
        assert f'id="{name}" name="{name}"' in text and f'value="{value}"' in text
    with session_scope(url) as session:
        assert session.scalar(select(EnrolmentCode)) is None


def test_a_code_can_be_revoked(clinic: tuple[Any, str]) -> None:
    app, url = clinic
    code = enrolment.create_code(participant_provider(url), url=url)
    browser = logged_in(app, PROVIDER)
    browser.get("/enrolment")
    assert browser.post(f"/enrolment/{code.id}/revoke").status_code == 303
    assert "revoked" in browser.get("/enrolment").text
    [after] = enrolment.codes_for(participant_provider(url), url=url)
    assert after.revoked_at is not None


def test_modules_page_shows_every_module_as_the_patient_sees_it(clinic: tuple[Any, str]) -> None:
    from paincoach.modules.catalogue import load

    app, _ = clinic
    text = unescaped(logged_in(app, PROVIDER).get("/modules"))
    catalogue = load()
    for module in catalogue.modules.values():
        assert module.title in text and f'id="{module.id}"' in text
        for step in module.steps:
            shown = getattr(step, "text", None)
            if shown:
                assert shown in text
    for programme in catalogue.programmes.values():
        assert programme.title in text
    assert "[Yes, carry on] [Later]" in text  # a checkpoint's buttons


def _push_form(**changes: Any) -> dict[str, Any]:
    return {"target": "understanding-pain", "pseudonyms": ["pat-river"], "when": "now", "at": "",
            **changes}  # fmt: skip


def test_push_now_at_a_local_time_list_and_cancel(clinic: tuple[Any, str]) -> None:
    app, url = clinic
    browser = logged_in(app, PROVIDER)
    browser.get("/push")
    done = browser.post("/push", _push_form(pseudonyms=["pat-river", "pat-quiet"]))
    assert done.status_code == 303
    tomorrow = (datetime.now(ZoneInfo("Europe/Oslo")) + timedelta(days=1)).replace(
        hour=9, minute=30, second=0, microsecond=0
    )
    later = browser.post(
        "/push", _push_form(target="starter", when="at", at=tomorrow.strftime("%Y-%m-%dT%H:%M"))
    )
    assert later.status_code == 303
    page = unescaped(browser.get("/push?done=9"))
    assert "Scheduled 9 module release(s)." in page
    with session_scope(url) as session:
        jobs = list(session.scalars(select(ScheduledJob).order_by(ScheduledJob.due_at)))
    assert len(jobs) == 2 + 9
    first_of_programme = min(
        (j for j in jobs if j.due_at > utcnow() + timedelta(hours=1)), key=lambda j: j.due_at
    )
    assert first_of_programme.due_at.astimezone(ZoneInfo("Europe/Oslo")).time() == time(9, 30)
    assert f"{tomorrow:%d %b %Y}, 09:30" in page and "Understanding chronic pain" in page
    cancelled = browser.post(f"/push/{first_of_programme.id}/cancel")
    assert cancelled.status_code == 303
    assert "The push was cancelled." in unescaped(browser.get(cancelled.headers["location"]))
    with session_scope(url) as session:
        job = session.get(ScheduledJob, first_of_programme.id)
        assert job is not None and job.status == "cancelled"


def test_push_page_ticks_the_patient_it_was_opened_for(clinic: tuple[Any, str]) -> None:
    app, _ = clinic
    text = logged_in(app, PROVIDER).get("/push?to=pat-quiet").text
    assert 'value="pat-quiet" checked' in text and 'value="pat-river" checked' not in text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"target": ""}, "Choose a module or a programme."),
        ({"target": "no-such-module"}, "There is no module or programme called 'no-such-module'."),
        ({"pseudonyms": []}, "Choose at least one patient."),
        (
            {"pseudonyms": ["pat-elsewhere"]},
            "No patient of yours has the pseudonym 'pat-elsewhere'.",
        ),
        ({"when": "at", "at": ""}, "Choose the date and time, or choose 'now'."),
        ({"when": "at", "at": "next tuesday"}, "'next tuesday' is not a date and time"),
        ({"when": "at", "at": "2020-01-01T09:00"}, "has already passed for 'pat-river'"),
    ],
)
def test_push_form_explains_bad_input_and_keeps_it(
    clinic: tuple[Any, str], changes: dict[str, Any], message: str
) -> None:
    app, url = clinic
    browser = logged_in(app, PROVIDER)
    browser.get("/push")
    form = _push_form(**changes)
    refused = browser.post("/push", form)
    assert refused.status_code == 422
    text = unescaped(refused)
    assert message in text
    if form["target"]:
        assert f'value="{form["target"]}" selected' in text
    for pseudonym in form["pseudonyms"]:
        if pseudonym != "pat-elsewhere":
            assert f'value="{pseudonym}" checked' in text
    if form["at"]:
        assert f'value="{form["at"]}"' in text
    if form["when"] == "at":
        assert 'value="at" checked' in text
    with session_scope(url) as session:
        assert session.scalar(select(ScheduledJob)) is None


def test_alerts_listed_and_acknowledged(clinic: tuple[Any, str]) -> None:
    app, url = clinic
    browser = logged_in(app, PROVIDER)
    page = unescaped(browser.get("/alerts"))
    assert "pat-calm" in page and "Crisis" in page and "pat-elsewhere" not in page
    with session_scope(url) as session:
        alert_id = session.scalar(select(CareTeamAlert.id))
    done = browser.post(f"/alerts/{alert_id}/acknowledge")
    assert done.status_code == 303 and done.headers["location"] == "/alerts"
    assert "No open alerts." in browser.get("/alerts").text
    assert "acknowledged" in browser.get("/alerts?all=1").text
    with session_scope(url) as session:
        alert = session.get(CareTeamAlert, alert_id)
        assert alert is not None and alert.acknowledged_by == participant_provider(url)
    assert "1 crisis / red flag" not in browser.get("/patients").text


def test_telegram_link_code_shown_as_a_link_command(clinic: tuple[Any, str]) -> None:
    app, url = clinic
    browser = logged_in(app, PROVIDER)
    assert "Link my Telegram" in browser.get("/account").text
    made = browser.post("/account/telegram-link")
    assert made.status_code == 303
    text = browser.get("/account").text
    with session_scope(url) as session:
        user = session.scalar(select(ConsoleUser).where(ConsoleUser.email == PROVIDER))
        assert user is not None and user.telegram_link_code and user.telegram_link_expires_at
        code, expires = user.telegram_link_code, user.telegram_link_expires_at
    assert f"/link {code}" in text
    assert (
        timedelta(minutes=LINK_CODE_MINUTES - 1)
        < expires - utcnow()
        <= timedelta(minutes=LINK_CODE_MINUTES)
    )
    # Once the gateway has linked the chat, the page says so and the link can be undone.
    with session_scope(url) as session:
        session.execute(
            update(ConsoleUser)
            .where(ConsoleUser.email == PROVIDER)
            .values(telegram_chat_id=777, telegram_link_code=None)
        )
    assert "Your Telegram is linked" in browser.get("/account").text
    assert browser.post("/account/telegram-unlink").status_code == 303
    with session_scope(url) as session:
        assert (
            session.scalar(
                select(ConsoleUser.telegram_chat_id).where(ConsoleUser.email == PROVIDER)
            )
            is None
        )


def test_admin_adds_disables_and_enables_accounts(database_url: str) -> None:
    app = console_app(database_url)
    add_user(app, "admin@clinic.example", "admin")
    add_user(app, PROVIDER)
    provider = logged_in(app, PROVIDER)
    admin = logged_in(app, "admin@clinic.example")
    page = admin.get("/admin/users").text
    assert PROVIDER in page and "admin@clinic.example" in page
    added = admin.post(
        "/admin/users",
        {"email": "new@clinic.example", "role": "researcher", "password": "a long password"},
    )
    assert added.status_code == 303
    assert "The account was added." in admin.get(added.headers["location"]).text
    with session_scope(database_url) as session:
        provider_id = session.scalar(select(ConsoleUser.id).where(ConsoleUser.email == PROVIDER))
    assert admin.post(f"/admin/users/{provider_id}/disable").status_code == 303
    assert provider.get("/patients").status_code == 303
    with session_scope(database_url) as session:
        assert all(
            s.ended_at is not None
            for s in session.scalars(
                select(ConsoleSession).where(ConsoleSession.user_id == provider_id)
            )
        )
    assert admin.post(f"/admin/users/{provider_id}/enable").status_code == 303
    assert Browser(app).login(PROVIDER).status_code == 303


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"email": "", "role": "provider", "password": "a long password"},
            "Enter an email, a role",
        ),
        (
            {"email": "not-an-email", "role": "provider", "password": "a long password"},
            "is not an email address",
        ),
        (
            {"email": "new@clinic.example", "role": "provider", "password": "short"},
            "at least 10 characters",
        ),
        (
            {"email": "new@clinic.example", "role": "boss", "password": "a long password"},
            "The role must be one of",
        ),
        (
            {"email": "admin@clinic.example", "role": "admin", "password": "a long password"},
            "already an account",
        ),
    ],
)
def test_admin_form_explains_bad_input_and_keeps_it(
    database_url: str, form: dict[str, str], message: str
) -> None:
    app = console_app(database_url)
    add_user(app, "admin@clinic.example", "admin")
    admin = logged_in(app, "admin@clinic.example")
    admin.get("/admin/users")
    refused = admin.post("/admin/users", form)
    assert refused.status_code == 422
    text = unescaped(refused)
    assert message in text
    assert f'value="{form["email"]}"' in text
    if form["role"] in ("admin", "provider", "researcher"):
        assert f'value="{form["role"]}" selected' in text
    assert form["password"] not in text.replace("a long password", "") or form["password"] == ""


def test_an_admin_cannot_disable_themselves(database_url: str) -> None:
    app = console_app(database_url)
    me = add_user(app, "admin@clinic.example", "admin")
    admin = logged_in(app, "admin@clinic.example")
    admin.get("/admin/users")
    answer = admin.post(f"/admin/users/{me}/disable")
    assert "You cannot disable your own account." in admin.get(answer.headers["location"]).text
    assert admin.get("/admin/users").status_code == 200
