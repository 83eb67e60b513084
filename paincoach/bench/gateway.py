"""Gateway benchmark: overhead against bare Rasa REST, and reminder fan-out.

Run with `make bench`. Everything runs on this machine: Rasa and the action server as
processes, the Bot API stand-in and the gateway in this process, fresh SQLite files.
The last line is machine-readable.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path

from sqlalchemy.exc import OperationalError

from paincoach.db.channel import ChannelStore
from paincoach.db.store import CoachStore, Consent
from paincoach.gateway.app import build_application, make_rasa_client, start_polling, stop_polling
from paincoach.scheduler.clock import FakeClock
from paincoach.scheduler.jobs import JobStore
from paincoach.scheduler.runner import Scheduler
from paincoach.settings import Settings
from paincoach.stack import Stack, ensure_postgres_database
from paincoach.standin import BotApiStandIn

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
PATIENTS = 50
THINK_SECONDS = 2.0  # a patient reads the reply before typing the next message
FANOUT_PARTICIPANTS = 1000
RATE_LIMIT = 30  # Telegram's limit for a bot, messages per second
# Messages that get exactly one reply from the coach before consent, so a turn's end is known.
MESSAGES = ["hello", "are you a bot?", "what's the weather like tomorrow", "thanks", "bye"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98]}


async def run_patients(turn: Callable[[int, str], Awaitable[float]]) -> tuple[list[float], float]:
    """Every patient sends every message in turn, reading each reply for THINK_SECONDS
    before the next, all patients at once (starts spread over one think time)."""

    async def patient(number: int) -> list[float]:
        await asyncio.sleep(THINK_SECONDS * number / PATIENTS)
        latencies = []
        for message in MESSAGES:
            latencies.append(await turn(number, message))
            await asyncio.sleep(THINK_SECONDS)
        return latencies

    started = time.perf_counter()
    results = await asyncio.gather(*(patient(n) for n in range(PATIENTS)))
    return [s for r in results for s in r], time.perf_counter() - started


def report(name: str, latencies: list[float], elapsed: float) -> dict[str, float]:
    stats = percentiles(latencies)
    print(
        f"{name:<16} p50 {stats['p50'] * 1000:7.1f} ms   p95 {stats['p95'] * 1000:7.1f} ms   "
        f"p99 {stats['p99'] * 1000:7.1f} ms   {len(latencies) / elapsed:6.1f} msg/s"
    )
    return stats


async def latency(stack: Stack, settings: Settings, standin: BotApiStandIn) -> float:
    """p95 through stand-in → gateway → Rasa, divided by p95 straight to Rasa's REST channel."""
    rasa = make_rasa_client(settings, stack.rasa_url, stack.token)

    async def rest_turn(number: int, message: str, prefix: str = "rest") -> float:
        started = time.perf_counter()
        await rasa.send(f"{prefix}-{number}", message)
        return time.perf_counter() - started

    async def gateway_turn(number: int, message: str) -> float:
        chat_id = 10_000 + number
        started = time.perf_counter()
        sent = standin.user_says(chat_id, message)["message"]["message_id"]
        replies = await standin.wait_for_bot_messages(chat_id, after=sent, count=1, timeout=60)
        if not replies:
            raise RuntimeError("the gateway did not answer within 60 s")
        return time.perf_counter() - started

    application = build_application(
        settings, make_rasa_client(settings, stack.rasa_url, stack.token), run_scheduler=False
    )
    await start_polling(application)
    try:
        await run_patients(lambda n, m: rest_turn(n, m, "warm"))  # warm Rasa's caches
        rest, rest_elapsed = await run_patients(rest_turn)
        through, gateway_elapsed = await run_patients(gateway_turn)
    finally:
        await stop_polling(application)
        await rasa.close()
    print(
        f"\n{PATIENTS} concurrent patients, {len(MESSAGES)} messages each, "
        f"{THINK_SECONDS:.0f} s to read each reply"
    )
    bare = report("bare Rasa REST", rest, rest_elapsed)
    gateway = report("through gateway", through, gateway_elapsed)
    return gateway["p95"] / bare["p95"]


async def fanout(
    stack: Stack, settings: Settings, standin: BotApiStandIn
) -> tuple[float, int, int]:
    """1,000 reminders due at once; a restart half way. Returns rate fraction, duplicates, lost."""
    store, channel = CoachStore(settings.database_url), ChannelStore(settings.database_url)
    chats: dict[str, int] = {}
    for number in range(FANOUT_PARTICIPANTS):
        chat_id = 50_000 + number
        pseudonym = channel.pseudonym_for_chat(chat_id)
        store.register_consent(pseudonym, Consent(False, "P", clock_time(20), "Europe/Oslo"))
        standin.state.user_chat(chat_id, {})  # the chat exists on "Telegram"
        chats[pseudonym] = chat_id
    standin.set_rate_limit(messages_per_second=RATE_LIMIT)
    before = datetime(2026, 1, 10, 12, tzinfo=UTC)
    clock = FakeClock(before)
    jobs = JobStore(settings.database_url)
    jobs.plan_reminders(before)
    clock.set(datetime(2026, 1, 10, 19, 0, 1, tzinfo=UTC))  # 20:00:01 in Oslo: all due

    async def one_process(limit: int, rounds: int) -> None:
        """A gateway process that runs `rounds` scheduler ticks, then stops."""
        application = build_application(
            settings, make_rasa_client(settings, stack.rasa_url, stack.token), run_scheduler=False
        )
        await start_polling(application)
        try:
            scheduler = Scheduler(
                JobStore(settings.database_url), application.bot_data["gateway"], settings, clock
            )
            now = clock.now()
            due = await asyncio.to_thread(scheduler.jobs.claim_due, now, limit)
            await asyncio.gather(*(scheduler._send(job) for job in due))
        finally:
            await stop_polling(application)

    first_sent = len(standin.sent_messages())
    started = time.perf_counter()
    await one_process(FANOUT_PARTICIPANTS // 2, rounds=1)  # then the process is restarted
    await one_process(FANOUT_PARTICIPANTS, rounds=5)
    elapsed = time.perf_counter() - started
    sent = standin.sent_messages()[first_sent:]
    openings = Counter(m.chat_id for m in sent if m.text and "Time for today's check-in" in m.text)
    duplicates = sum(count - 1 for count in openings.values() if count > 1)
    lost = sum(1 for chat_id in chats.values() if openings[chat_id] == 0)
    rate = len(sent) / elapsed
    print(
        f"\nreminder fan-out to {FANOUT_PARTICIPANTS} participants (restart half way): "
        f"{len(sent)} messages in {elapsed:.1f} s = {rate:.1f} msg/s against a limit of "
        f"{RATE_LIMIT:.0f} ({rate / RATE_LIMIT:.0%}); duplicates {duplicates}, lost {lost}"
    )
    print(f"job states: {dict(jobs.counts())}")
    return rate / RATE_LIMIT, duplicates, lost


def production_like(folder: Path) -> dict[str, object]:
    """Two Rasa replicas on PostgreSQL with a Redis lock store, as in production, when this
    machine has both servers; otherwise one Rasa on SQLite files."""
    name = f"paincoach_bench_{uuid.uuid4().hex[:8]}"
    try:
        ensure_postgres_database(f"{POSTGRES}/{name}")
        ensure_postgres_database(f"{POSTGRES}/{name}_tracker")
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            pass
    except (OperationalError, OSError):
        print("PostgreSQL or Redis not running: one Rasa process on SQLite")
        return {
            "database_url": f"sqlite:///{folder / 'paincoach.db'}",
            "tracker_store_url": f"sqlite:///{folder / 'tracker.db'}",
        }
    print("Two Rasa replicas, PostgreSQL tracker store, Redis lock store")
    return {
        "database_url": f"{POSTGRES}/{name}",
        "tracker_store_url": f"{POSTGRES}/{name}_tracker",
        "lock_store_url": "redis://127.0.0.1:6379/1",
        "rasa_replicas": 2,
    }


def drop_postgres_databases(settings: Settings) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    for url in (settings.database_url, settings.tracker_store_url):
        parsed = make_url(url)
        if parsed.get_backend_name() != "postgresql":
            continue
        admin = create_engine(
            parsed.set(drivername="postgresql+psycopg", database="postgres"),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        admin.dispose()


async def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="paincoach-bench-"))
    rasa_port = free_port()
    while port_taken(rasa_port + 1):  # the second replica listens on the next port
        rasa_port = free_port()
    base = Settings(
        rasa_token="bench-token",
        rasa_port=rasa_port,
        action_server_port=free_port(),
        telegram_rate_limit=float(RATE_LIMIT),
        **production_like(folder),  # type: ignore[arg-type]
    )
    print("Starting Rasa and the action server...")
    with Stack(base, log_dir=folder / "logs") as stack:
        async with BotApiStandIn() as standin:
            settings = base.model_copy(
                update={
                    "telegram_bot_token": standin.token,
                    "telegram_api_base_url": standin.base_url,
                    "telegram_api_base_file_url": standin.base_file_url,
                }
            )
            ratio = await latency(stack, settings, standin)
            fraction, duplicates, lost = await fanout(stack, settings, standin)
    drop_postgres_databases(base)
    print(f"\ngateway p95 / bare REST p95 = {ratio:.2f} (bar 1.25)")
    ok = ratio <= 1.25 and fraction >= 0.9 and duplicates == 0 and lost == 0
    print(
        f"gateway_p95_ratio={ratio:.2f} fanout_fraction={fraction:.2f} "
        f"duplicates={duplicates} lost={lost}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
