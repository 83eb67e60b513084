"""Care-team alerts: the rules, idempotence, acknowledging, and who is told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from paincoach.alerts import (
    MODULE_STALLED,
    NO_CHECKIN,
    PAIN_RISING,
    AlertStore,
)
from paincoach.db.engine import session_scope
from paincoach.db.models import (
    CareTeamAlert,
    CheckIn,
    ConsoleUser,
    ModuleProgress,
    Participant,
    utcnow,
)
from paincoach.db.store import CoachStore
from tests.providers import add_patient, add_provider

NOW = datetime(2026, 5, 10, 12, tzinfo=UTC)


def participant_id(url: str, pseudonym: str) -> int:
    with session_scope(url) as session:
        found = session.scalar(select(Participant.id).where(Participant.pseudonym == pseudonym))
        assert found is not None
        return found


def joined(url: str, pseudonym: str, when: datetime) -> None:
    with session_scope(url) as session:
        session.execute(
            update(Participant).where(Participant.pseudonym == pseudonym).values(consented_at=when)
        )


def checkin(
    url: str,
    pseudonym: str,
    when: datetime,
    peg: tuple[int | None, int | None, int | None],
    *,
    completed: bool = True,
    note: str | None = None,
) -> None:
    with session_scope(url) as session:
        session.add(
            CheckIn(
                participant_id=participant_id(url, pseudonym),
                started_at=when,
                completed_at=when + timedelta(minutes=3) if completed else None,
                pain_average=peg[0],
                pain_enjoyment=peg[1],
                pain_activity=peg[2],
                note=note,
            )
        )


def kinds(store: AlertStore, provider: int, include_acknowledged: bool = False) -> list[str]:
    return [
        f"{a.pseudonym}:{a.kind}"
        for a in store.alerts(provider, include_acknowledged=include_acknowledged)
    ]


def test_pain_rising_on_three_check_ins_in_a_row(database_url: str) -> None:
    provider = add_provider(database_url)
    alerts = AlertStore(database_url, silent_days=4, stalled_days=7)
    add_patient(database_url, "p-peg", provider)
    add_patient(database_url, "p-avg", provider)
    add_patient(database_url, "p-flat", provider)
    add_patient(database_url, "p-two", provider)
    for pseudonym in ("p-peg", "p-avg", "p-flat", "p-two"):
        joined(database_url, pseudonym, NOW - timedelta(days=3))
    day = NOW - timedelta(days=2)
    note = "my neighbour's dog barked all night"
    for n, peg in enumerate([(3, 3, 3), (4, 5, 5), (6, 6, 7)]):
        checkin(database_url, "p-peg", day + timedelta(hours=8 * n), peg, note=note)
    for n, peg in enumerate([(3, None, None), (5, None, None), (6, None, None)]):
        checkin(database_url, "p-avg", day + timedelta(hours=8 * n), peg)
    for n, peg in enumerate([(9, 9, 9), (3, 3, 3), (5, 5, 5), (5, 5, 5)]):
        checkin(database_url, "p-flat", day + timedelta(hours=6 * n), peg)
    for n, peg in enumerate([(3, 3, 3), (6, 6, 6)]):
        checkin(database_url, "p-two", day + timedelta(hours=8 * n), peg)
    # A partial check-in does not count in the run.
    checkin(database_url, "p-flat", NOW - timedelta(hours=1), (9, None, None), completed=False)
    assert alerts.evaluate(NOW) == 2
    found = {a.pseudonym: a for a in alerts.alerts(provider)}
    assert set(found) == {"p-peg", "p-avg"}
    assert found["p-peg"].kind == PAIN_RISING
    assert found["p-peg"].detail == "PEG score rose on 3 check-ins in a row (3 → 4.7 → 6.3)"
    assert found["p-avg"].detail == "Average pain rose on 3 check-ins in a row (3 → 5 → 6)"
    assert all(note not in (a.detail or "") for a in found.values())
    assert found["p-peg"].label == "Pain rising" and not found["p-peg"].urgent


def test_evaluating_again_raises_nothing_new_until_there_is_new_evidence(
    database_url: str,
) -> None:
    provider = add_provider(database_url)
    alerts = AlertStore(database_url, silent_days=4, stalled_days=7)
    add_patient(database_url, "p-up", provider)
    joined(database_url, "p-up", NOW - timedelta(days=5))
    for n, pain in enumerate([2, 4, 6]):
        checkin(database_url, "p-up", NOW - timedelta(days=3 - n), (pain, pain, pain))
    assert alerts.evaluate(NOW) == 1
    assert alerts.evaluate(NOW + timedelta(minutes=1)) == 0  # open: not twice
    (alert,) = alerts.alerts(provider)
    assert alerts.acknowledge(alert.id, provider, NOW + timedelta(minutes=2))
    assert alerts.evaluate(NOW + timedelta(minutes=3)) == 0  # seen, and nothing new since
    checkin(database_url, "p-up", NOW + timedelta(hours=1), (8, 8, 8))
    assert alerts.evaluate(NOW + timedelta(hours=2)) == 1  # still rising, on a new check-in
    assert kinds(alerts, provider) == ["p-up:pain_rising"]
    assert len(alerts.alerts(provider, include_acknowledged=True)) == 2


def test_no_check_in_for_the_silent_days(database_url: str) -> None:
    provider = add_provider(database_url)
    alerts = AlertStore(database_url, silent_days=4, stalled_days=7)
    add_patient(database_url, "p-quiet", provider)
    add_patient(database_url, "p-never", provider)
    add_patient(database_url, "p-busy", provider)
    add_patient(database_url, "p-unenrolled", None)
    for pseudonym in ("p-quiet", "p-never", "p-busy", "p-unenrolled"):
        joined(database_url, pseudonym, NOW - timedelta(days=20))
    CoachStore(database_url).set_reminders_paused("p-quiet", True)
    checkin(database_url, "p-quiet", NOW - timedelta(days=5), (4, 4, 4))
    checkin(database_url, "p-busy", NOW - timedelta(days=10), (4, 4, 4))
    checkin(database_url, "p-busy", NOW - timedelta(days=1), (4, None, None), completed=False)
    assert alerts.evaluate(NOW) == 2
    found = {a.pseudonym: a.detail for a in alerts.alerts(provider)}
    assert found == {
        "p-quiet": "No check-in for 5 days (daily reminders are paused)",
        "p-never": "No check-in since joining 20 days ago",
    }
    # Acknowledged, still silent: not raised again; after the next check-in and a new
    # silence, it is.
    for alert in alerts.alerts(provider):
        assert alerts.acknowledge(alert.id, provider, NOW)
    assert alerts.evaluate(NOW + timedelta(days=2)) == 0
    checkin(database_url, "p-quiet", NOW + timedelta(days=3), (4, 4, 4))
    assert alerts.evaluate(NOW + timedelta(days=6)) == 1  # p-busy's partial was 7 days ago
    assert alerts.evaluate(NOW + timedelta(days=7, hours=1)) == 1
    assert sorted(kinds(alerts, provider)) == [f"p-busy:{NO_CHECKIN}", f"p-quiet:{NO_CHECKIN}"]


def test_a_module_left_half_done(database_url: str) -> None:
    provider = add_provider(database_url)
    alerts = AlertStore(database_url, silent_days=400, stalled_days=7)
    add_patient(database_url, "p-stuck", provider)
    add_patient(database_url, "p-fresh", provider)
    with session_scope(database_url) as session:
        for pseudonym, module, status, days in [
            ("p-stuck", "sleep", "paused", 9),
            ("p-stuck", "relaxation", "in_progress", 8),
            ("p-stuck", "understanding-pain", "completed", 30),
            ("p-fresh", "sleep", "in_progress", 2),
            ("p-fresh", "relaxation", "assigned", 20),
        ]:
            session.add(
                ModuleProgress(
                    participant_id=participant_id(database_url, pseudonym),
                    module_id=module,
                    status=status,
                    step_index=2,
                    updated_at=NOW - timedelta(days=days),
                )
            )
    assert alerts.evaluate(NOW) == 1
    (alert,) = alerts.alerts(provider)
    assert (alert.pseudonym, alert.kind) == ("p-stuck", MODULE_STALLED)
    assert alert.detail == "Module 'sleep' paused at step 3 and untouched for 9 days"
    assert alerts.evaluate(NOW + timedelta(days=1)) == 0


def test_a_provider_sees_and_acknowledges_only_their_own_patients_alerts(
    database_url: str,
) -> None:
    mine = add_provider(database_url)
    theirs = add_provider(database_url, "other@clinic.example")
    add_patient(database_url, "p-mine", mine)
    add_patient(database_url, "p-theirs", theirs)
    store = CoachStore(database_url)
    store.record_safety_event("p-mine", "red_flag", "safety_net")
    store.record_safety_event("p-theirs", "crisis", "safety_net")
    with session_scope(database_url) as session:
        session.add(
            CareTeamAlert(
                participant_id=participant_id(database_url, "p-mine"),
                kind=NO_CHECKIN,
                detail="No check-in for 5 days",
                created_at=utcnow() + timedelta(minutes=1),
            )
        )
    alerts = AlertStore(database_url)
    # Open first, urgent first, then the newest.
    assert kinds(alerts, mine) == ["p-mine:red_flag", "p-mine:no_checkin"]
    assert kinds(alerts, theirs) == ["p-theirs:crisis"]
    red_flag, _ = alerts.alerts(mine)
    (crisis,) = alerts.alerts(theirs)
    assert red_flag.urgent and red_flag.label == "Medical red flag"
    assert not alerts.acknowledge(crisis.id, mine)
    assert not alerts.acknowledge(123456, mine)
    assert alerts.acknowledge(red_flag.id, mine)
    assert alerts.acknowledge(red_flag.id, mine)  # twice is fine
    assert kinds(alerts, mine) == ["p-mine:no_checkin"]
    assert kinds(alerts, mine, include_acknowledged=True) == [
        "p-mine:no_checkin",
        "p-mine:red_flag",
    ]
    acknowledged = alerts.alerts(mine, include_acknowledged=True)[1]
    assert acknowledged.acknowledged_by == mine and acknowledged.acknowledged_at is not None
    assert kinds(alerts, theirs) == ["p-theirs:crisis"]


def test_urgent_alerts_go_to_linked_enabled_providers_once(database_url: str) -> None:
    linked = add_provider(database_url, chat_id=777)
    unlinked = add_provider(database_url, "nolink@clinic.example")
    disabled = add_provider(database_url, "gone@clinic.example", chat_id=778)
    with session_scope(database_url) as session:
        session.execute(
            update(ConsoleUser).where(ConsoleUser.id == disabled).values(disabled_at=utcnow())
        )
    for pseudonym, provider in [
        ("p-linked", linked),
        ("p-unlinked", unlinked),
        ("p-disabled", disabled),
    ]:
        add_patient(database_url, pseudonym, provider)
        CoachStore(database_url).record_safety_event(pseudonym, "crisis", "safety_net")
    store = CoachStore(database_url)
    store.record_safety_event("p-linked", "red_flag", "risk_model", tier="possible")  # no alert
    store.record_safety_event("p-before-consent", "crisis", "safety_net")  # nobody to tell
    alerts = AlertStore(database_url)
    now = utcnow()
    (urgent,) = alerts.urgent_unnotified(now)
    assert (urgent.kind, urgent.pseudonym, urgent.chat_ids) == ("crisis", "p-linked", (777,))
    assert alerts.mark_notified(urgent.id, now)
    assert not alerts.mark_notified(urgent.id, now)  # claimed once only
    assert alerts.urgent_unnotified(now) == []
    alerts.unmark_notified(urgent.id)  # the message failed: it comes back
    assert [a.id for a in alerts.urgent_unnotified(now)] == [urgent.id]
    # A day later it is too old for a phone; the console still shows it.
    assert alerts.urgent_unnotified(now + timedelta(hours=25)) == []
    assert alerts.acknowledge(urgent.id, linked)
    assert alerts.urgent_unnotified(now) == []


def test_evaluations_side_by_side_raise_each_alert_once(database_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    provider = add_provider(database_url)
    for n in range(5):
        add_patient(database_url, f"p-silent-{n}", provider)
        joined(database_url, f"p-silent-{n}", NOW - timedelta(days=10))
    stores = [AlertStore(database_url, silent_days=4) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        raised = list(pool.map(lambda store: store.evaluate(NOW), stores))
    assert sum(raised) == 5
    assert len(stores[0].alerts(provider)) == 5
