"""Enrolment codes: random and unguessable, counted atomically, redeemed at consent."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from actions.onboarding import ActionSubmitOnboarding
from paincoach import enrolment
from paincoach.db.engine import session_scope
from paincoach.db.models import ConsoleUser, EnrolmentCode, Participant, utcnow
from paincoach.db.store import CoachStore
from paincoach.enrolment import EnrolmentError, Outcome
from paincoach.gateway.core import ENROLMENT_CODE
from paincoach.settings import Settings
from paincoach.standin import BotApiStandIn
from tests.helpers import make_tracker, run, texts
from tests.providers import add_patient, add_provider

CONSENTED = {
    "consent": True, "research_consent": False, "nickname": "Sam",
    "checkin_time": "20:00", "timezone": "Europe/Oslo",
}  # fmt: skip


def test_codes_are_random_typeable_and_fit_a_telegram_start_link(database_url: str) -> None:
    provider = add_provider(database_url)
    codes = {enrolment.create_code(provider, url=database_url).code for _ in range(30)}
    assert len(codes) == 30
    for code in codes:
        assert len(code) == enrolment.CODE_LENGTH <= 64
        assert set(code) <= set(enrolment.CODE_ALPHABET)
        assert not set(code) & set("01OIL")  # nothing to misread
        assert any(c.isdigit() for c in code) and any(c.isalpha() for c in code)
        assert ENROLMENT_CODE.match(code)


def test_a_code_has_uses_an_expiry_and_an_arm(database_url: str) -> None:
    provider = add_provider(database_url)
    other = add_provider(database_url, "other@clinic.example")
    before = utcnow()
    default = enrolment.create_code(provider, url=database_url)
    assert (default.max_uses, default.uses, default.study_arm) == (1, 0, None)
    days = Settings().enrolment_code_days
    assert before + timedelta(days=days) <= default.expires_at <= utcnow() + timedelta(days=days)
    group = enrolment.create_code(
        provider, arm="  pacing   first ", uses=20, expires_days=3, url=database_url
    )
    assert (group.max_uses, group.study_arm, group.status()) == (20, "pacing first", Outcome.OK)
    assert group.expires_at - group.created_at == timedelta(days=3)
    assert [c.code for c in enrolment.codes_for(provider, url=database_url)] == [
        group.code,
        default.code,
    ]
    assert enrolment.codes_for(other, url=database_url) == []


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"uses": 0}, "Uses must be"),
        ({"uses": 10_001}, "Uses must be"),
        ({"expires_days": 0}, "expire after 1 to 365 days"),
        ({"expires_days": 400}, "expire after 1 to 365 days"),
        ({"arm": "x" * 41}, "at most 40 characters"),
        ({"arm": "arm\x00b"}, "printable"),
    ],
)
def test_bad_arguments_are_refused_plainly(
    database_url: str, arguments: dict[str, object], says: str
) -> None:
    provider = add_provider(database_url)
    with pytest.raises(EnrolmentError, match=says):
        enrolment.create_code(provider, url=database_url, **arguments)  # type: ignore[arg-type]
    assert enrolment.codes_for(provider, url=database_url) == []


def test_only_an_active_provider_can_create_codes(database_url: str) -> None:
    researcher = add_provider(database_url, "r@uni.example", role="researcher")
    disabled = add_provider(database_url, "gone@clinic.example")
    with session_scope(database_url) as session:
        session.execute(
            update(ConsoleUser).where(ConsoleUser.id == disabled).values(disabled_at=utcnow())
        )
    for account in (researcher, disabled, 9999):
        with pytest.raises(EnrolmentError, match="active provider"):
            enrolment.create_code(account, url=database_url)


def test_redeeming_ties_the_patient_to_the_provider_and_arm(database_url: str) -> None:
    provider = add_provider(database_url)
    code = enrolment.create_code(provider, arm="A", uses=2, url=database_url)
    add_patient(database_url, "p-one", None)
    typed = f" {code.code[:5].lower()}-{code.code[5:]} "  # as a patient might type it
    found = enrolment.redeem(typed, "p-one", url=database_url)
    assert (found.outcome, found.provider_id, found.study_arm, found.already) == (
        Outcome.OK,
        provider,
        "A",
        False,
    )
    participant = CoachStore(database_url).participant("p-one")
    assert participant is not None
    assert (participant.provider_id, participant.study_arm) == (provider, "A")
    assert participant.enrolment_code == code.code
    # Opening the same link again uses nothing.
    again = enrolment.redeem(code.code, "p-one", url=database_url)
    assert again.ok and again.already
    assert enrolment.codes_for(provider, url=database_url)[0].uses == 1


def test_why_a_code_cannot_be_used(database_url: str) -> None:
    provider = add_provider(database_url)
    for name in ("p-a", "p-b", "p-c", "p-d", "p-e"):
        add_patient(database_url, name, None)
    single = enrolment.create_code(provider, url=database_url)
    assert enrolment.redeem(single.code, "p-a", url=database_url).ok
    assert enrolment.redeem(single.code, "p-b", url=database_url).outcome is Outcome.USED_UP

    expiring = enrolment.create_code(provider, url=database_url)
    later = expiring.expires_at + timedelta(seconds=1)
    assert enrolment.check(expiring.code, url=database_url, now=later).outcome is Outcome.EXPIRED
    found = enrolment.redeem(expiring.code, "p-c", url=database_url, now=later)
    assert found.outcome is Outcome.EXPIRED

    revoked = enrolment.create_code(provider, url=database_url)
    assert enrolment.revoke(revoked.id, provider, url=database_url)
    assert not enrolment.revoke(revoked.id, provider + 1, url=database_url)
    assert enrolment.redeem(revoked.code, "p-d", url=database_url).outcome is Outcome.REVOKED

    for unknown in ("ABCDEFGH23", "short", "", "x" * 200, "ÆØÅ"):
        assert enrolment.redeem(unknown, "p-e", url=database_url).outcome is Outcome.UNKNOWN
    participant = CoachStore(database_url).participant("p-e")
    assert participant is not None and participant.provider_id is None
    assert participant.enrolment_code is None


def test_checking_a_code_uses_nothing_and_redeeming_needs_a_participant(
    database_url: str,
) -> None:
    provider = add_provider(database_url)
    code = enrolment.create_code(provider, arm="B", url=database_url)
    found = enrolment.check(code.code, url=database_url)
    assert (found.outcome, found.provider_id, found.study_arm) == (Outcome.OK, provider, "B")
    with pytest.raises(LookupError):
        enrolment.redeem(code.code, "p-nobody", url=database_url)
    assert enrolment.codes_for(provider, url=database_url)[0].uses == 0


def test_the_last_use_goes_to_one_patient_only(database_url: str) -> None:
    provider = add_provider(database_url)
    code = enrolment.create_code(provider, uses=3, url=database_url)
    patients = [f"p-race-{n}" for n in range(8)]
    for name in patients:
        add_patient(database_url, name, None)
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(
            pool.map(lambda p: enrolment.redeem(code.code, p, url=database_url).outcome, patients)
        )
    assert outcomes.count(Outcome.OK) == 3
    assert outcomes.count(Outcome.USED_UP) == 5
    with session_scope(database_url) as session:
        assert session.scalar(select(EnrolmentCode.uses)) == 3
        tied = session.scalars(
            select(Participant.pseudonym).where(Participant.provider_id == provider)
        ).all()
        assert len(tied) == 3


def test_a_new_code_moves_an_enrolled_patient_to_the_new_provider(database_url: str) -> None:
    first = add_provider(database_url)
    second = add_provider(database_url, "gp@practice.example")
    add_patient(database_url, "p-moving", first)
    code = enrolment.create_code(second, arm="control", url=database_url)
    assert enrolment.redeem(code.code, "p-moving", url=database_url).ok
    participant = CoachStore(database_url).participant("p-moving")
    assert participant is not None
    assert (participant.provider_id, participant.study_arm) == (second, "control")


async def test_consent_with_a_code_enrols_the_patient(store: CoachStore, database_url: str) -> None:
    provider = add_provider(database_url)
    code = enrolment.create_code(provider, arm="A", url=database_url)
    slots = {**CONSENTED, "enrolment_code": code.code}
    messages, _ = await run(ActionSubmitOnboarding(), make_tracker(slots=slots))
    assert "connected with your care team" in texts(messages)
    participant = store.participant("p-test")
    assert participant is not None
    assert (participant.provider_id, participant.study_arm, participant.enrolment_code) == (
        provider,
        "A",
        code.code,
    )


async def test_consent_with_a_spent_code_still_enrols_in_the_coach(
    store: CoachStore, database_url: str
) -> None:
    provider = add_provider(database_url)
    code = enrolment.create_code(provider, url=database_url)
    add_patient(database_url, "p-first", None)
    assert enrolment.redeem(code.code, "p-first", url=database_url).ok
    slots = {**CONSENTED, "enrolment_code": code.code}
    messages, _ = await run(ActionSubmitOnboarding(), make_tracker(slots=slots))
    said = texts(messages)
    assert "you're all set" in said and "already been used" in said
    assert "ask your clinic for a new one" in said
    participant = store.participant("p-test")
    assert participant is not None
    assert (participant.provider_id, participant.enrolment_code) == (None, None)


def test_what_the_patient_is_told() -> None:
    ok = enrolment.Redemption(Outcome.OK, 1, None)
    assert enrolment.patient_notice(ok) is None
    assert "connected" in (enrolment.patient_notice(ok, enrolled_now=True) or "")
    again = enrolment.Redemption(Outcome.OK, 1, None, already=True)
    assert "already connected" in (enrolment.patient_notice(again) or "")
    for outcome in (Outcome.UNKNOWN, Outcome.EXPIRED, Outcome.USED_UP, Outcome.REVOKED):
        notice = enrolment.patient_notice(enrolment.Redemption(outcome)) or ""
        assert "ask your clinic for a new one" in notice
        assert "use PainCoach on your own" in notice


def test_invite_link_and_qr_code() -> None:
    link = enrolment.invite_link("K7M2Q9XR4T", "@paincoach_bot")
    assert link == "https://t.me/paincoach_bot?start=K7M2Q9XR4T"
    svg = enrolment.qr_svg(link)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<path" in svg and link in svg  # the title says what it encodes


async def test_bot_username_from_get_me_and_cached() -> None:
    async with BotApiStandIn(bot_username="clinic_coach_bot") as standin:
        settings = Settings(
            telegram_bot_token=standin.token, telegram_api_base_url=standin.base_url
        )
        assert await enrolment.bot_username(settings) == "clinic_coach_bot"
    # The stand-in is gone: the name is remembered.
    assert await enrolment.bot_username(settings) == "clinic_coach_bot"


async def test_an_unreachable_bot_is_said_plainly_without_the_token() -> None:
    from tests.conftest import free_port

    token = "999:SecretTokenThatMustNotBePrinted"
    settings = Settings(
        telegram_bot_token=token, telegram_api_base_url=f"http://127.0.0.1:{free_port()}/bot"
    )
    with pytest.raises(enrolment.BotUnreachable) as caught:
        await enrolment.bot_username(settings)
    assert "bot running" in str(caught.value) and token not in str(caught.value)


async def test_a_bot_that_was_down_is_asked_again_after_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.conftest import free_port

    port = free_port()
    standin = BotApiStandIn(bot_username="late_bot")
    settings = Settings(
        telegram_bot_token=standin.token, telegram_api_base_url=f"http://127.0.0.1:{port}/bot"
    )
    with pytest.raises(enrolment.BotUnreachable):
        await enrolment.bot_username(settings)
    await standin.start(port=port)
    try:
        with pytest.raises(enrolment.BotUnreachable):  # remembered: no wait on every page
            await enrolment.bot_username(settings)
        monkeypatch.setattr(enrolment, "RETRY_GET_ME_SECONDS", 0.0)
        assert await enrolment.bot_username(settings) == "late_bot"
    finally:
        await standin.stop()
