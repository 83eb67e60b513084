"""Speed benchmark (`make bench`): what one turn costs, how many turns per second the coach
sustains, what the gateway adds, and the evening reminder fan-out.

Everything runs on this machine, on fresh databases: Rasa and the action server as processes
(paincoach.stack), the gateway as its own process (`paincoach gateway`, as in production),
the Bot API stand-in and the simulated patients in this process. Each figure is measured
REPEATS times; the median and the spread are printed.

Through the gateway a patient starts the check-in with /checkin (the same turn for Rasa as
the scheduler's reminder); the scheduler's own path is what the fan-out measures, with the
gateway in this process so that it can be stopped half way.

1. One Rasa replica on SQLite (the default set-up):
   - one patient, one turn at a time: p50 of a turn over the whole conversation;
   - capacity (paincoach/bench/capacity.py): bare Rasa REST, then through the gateway;
   - overhead: gateway p95 / bare p95 at half the bare capacity;
   - reminder fan-out to 1,000 participants, the gateway restarted half way.
2. PostgreSQL and Redis, when this machine has both: capacity with RASA_REPLICAS=2, and the
   fan-out again with one replica on PostgreSQL.

BENCH_QUICK=1 runs everything once, with short steps and 200 participants, to try changes.
The last line is machine-readable.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import OperationalError

from paincoach.bench.capacity import Ramp, find_capacity, single_patient, steady
from paincoach.bench.measure import (
    Figure,
    Machine,
    Step,
    cpu_seconds,
    machine_cpu_seconds,
    percentile,
    rss_mb,
)
from paincoach.bench.patients import (
    GatewayPatient,
    Mailbox,
    Patient,
    RestPatient,
    Turn,
    calibrate,
)
from paincoach.db.channel import ChannelStore
from paincoach.db.engine import session_scope
from paincoach.db.models import Participant, ScheduledJob
from paincoach.db.store import CoachStore, Consent
from paincoach.gateway.app import build_application, make_rasa_client, start_polling, stop_polling
from paincoach.rasa_client import RasaClient
from paincoach.scheduler.clock import FakeClock
from paincoach.scheduler.jobs import JobStore
from paincoach.scheduler.runner import Scheduler
from paincoach.settings import PROJECT_ROOT, Settings
from paincoach.stack import Stack, ensure_postgres_database
from paincoach.standin import BotApiStandIn

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
REPEATS = 1 if QUICK else 3
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
FANOUT_PARTICIPANTS = 200 if QUICK else 1000
RATE_LIMIT = 30  # Telegram's limit for a bot, messages per second
FIRST_RAMP = Ramp(start=5.0, factor=1.5, seconds=6 if QUICK else 8, warmup=1.5 if QUICK else 2)
STEADY_SECONDS = 8 if QUICK else 15
SPREAD_BAR = 0.15


@dataclass
class Results:
    """Every figure of the run, by name."""

    figures: dict[str, Figure] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    machine_cpu: float = 0.0  # CPU seconds the whole machine used while set-ups ran
    our_cpu: float = 0.0  # of which the set-ups' processes and the bench itself

    def add(self, name: str, values: Sequence[float]) -> Figure:
        self.figures[name] = Figure.of(values)
        return self.figures[name]

    def get(self, name: str) -> float:
        figure = self.figures.get(name)
        return figure.median if figure else float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    """Whether the port can be bound (connecting is not enough: an outgoing connection's local
    port, or one in TIME_WAIT, takes it too)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def rasa_and_action_ports() -> tuple[int, int]:
    """A port for Rasa whose next port is free too (a second replica listens there), and a
    port for the action server that is neither."""
    rasa = free_port()
    while not port_free(rasa + 1):
        rasa = free_port()
    actions = free_port()
    while actions in (rasa, rasa + 1):
        actions = free_port()
    return rasa, actions


class GatewayProcess:
    """`paincoach gateway` as its own process, polling the stand-in and talking to the
    stack's Rasa, as it runs in production."""

    def __init__(self, stack: Stack, settings: Settings, log_dir: Path) -> None:
        self.ready_file = log_dir / "bench-gateway.ready"
        self.log_path = log_dir / "bench-gateway.out"
        self.env = {
            **stack.environment(),
            "RASA_URL": stack.rasa_url,
            "RASA_TOKEN": stack.token,
            "TELEGRAM_BOT_TOKEN": settings.telegram_bot_token,
            "TELEGRAM_API_BASE_URL": settings.telegram_api_base_url,
            "TELEGRAM_API_BASE_FILE_URL": settings.telegram_api_base_file_url,
            "TELEGRAM_RATE_LIMIT": str(settings.telegram_rate_limit),
            # Its scheduler ticks once at start, on no participants: no reminder may come
            # due in the middle of a measurement.
            "SCHEDULER_TICK_SECONDS": str(24 * 3600),
            "PAINCOACH_READY_FILE": str(self.ready_file),
        }
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self, timeout: float = 60.0) -> None:
        self.ready_file.unlink(missing_ok=True)
        self.ready_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "paincoach.cli", "gateway"],
                env=self.env, stdout=log_file, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not self.ready_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                await self.stop()
                raise RuntimeError(f"the gateway did not start; see {self.log_path}")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            await asyncio.to_thread(self.process.wait, 15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)
        self.process = None


@dataclass
class Rig:
    """A running set-up: Rasa (one or more replicas), the action server, the stand-in, and
    the gateway as its own process while gateway figures are measured."""

    stack: Stack
    settings: Settings
    standin: BotApiStandIn
    mailbox: Mailbox
    rasa: RasaClient
    log_dir: Path
    gateway_process: GatewayProcess | None = None
    chats: int = 0

    def processes(self) -> dict[str, int]:
        pids = {name: process.pid for name, process in self.stack.processes.items()}
        gateway = self.gateway_process.process if self.gateway_process else None
        return {**pids, "bench": os.getpid(), **({"gateway": gateway.pid} if gateway else {})}

    def cpu(self) -> float:
        """CPU seconds used so far by the set-up's processes and this one."""
        return sum(self.cpu_by_process().values())

    def cpu_by_process(self) -> dict[str, float]:
        # This process's children are the set-up's: the bench's figure is its own only (the
        # gateway's includes the process that draws its charts).
        return {
            name: cpu_seconds(pid, descendants=name != "bench")
            for name, pid in self.processes().items()
        }

    def memory(self) -> dict[str, float]:
        return {
            name: rss_mb(pid, descendants=name != "bench") for name, pid in self.processes().items()
        }

    def rest(self, prefix: str) -> Callable[[int], Patient]:
        return lambda number: RestPatient(self.rasa, f"{prefix}-{number}")

    async def start_gateway(self) -> None:
        self.gateway_process = GatewayProcess(self.stack, self.settings, self.log_dir)
        await self.gateway_process.start()

    async def stop_gateway(self) -> None:
        if self.gateway_process is not None:
            await self.gateway_process.stop()
            self.gateway_process = None

    async def trigger(self, chat_id: int, turn: Turn) -> None:
        """The check-in, started by the patient: the gateway is another process."""
        self.standin.user_says(chat_id, "/checkin")

    def gateway(self, replies: list[int]) -> Callable[[int], Patient]:
        def make(number: int) -> Patient:
            self.chats += 1
            chat_id = 100_000 + self.chats
            return GatewayPatient(self.standin, self.mailbox, chat_id, replies, self.trigger)

        return make


async def capacity(
    rig: Rig, make: Callable[[int], Patient], label: str, results: Results, previous: float
) -> tuple[Step | None, dict[str, float]]:
    """One capacity ramp; the RSS of each process at the knee."""
    ramp = FIRST_RAMP
    if previous == previous and previous > 0:  # not NaN: start near the knee found before
        ramp = Ramp(
            start=previous * 0.8, factor=1.2, resolution=ramp.resolution,
            seconds=ramp.seconds, warmup=ramp.warmup, max_steps=6,
        )  # fmt: skip
    memory_at: dict[float, dict[str, float]] = {}

    def on_step(step: Step) -> None:
        memory_at[step.offered] = rig.memory()
        print(
            f"    {label}: offered {step.offered:5.1f} turns/s -> served {step.served:5.1f}, "
            f"p95 {step.p95 * 1000:6.0f} ms" + (f", {step.failed} failed" if step.failed else ""),
            flush=True,
        )

    found, steps = await find_capacity(make, ramp, on_step)
    if steps and all(step.holds(1.0) for step in steps):
        print(f"    {label}: p95 never passed 1 s in {len(steps)} steps: a lower bound")
    return found, memory_at.get(found.offered, {}) if found else {}


async def one_replica_sqlite(rig: Rig, results: Results) -> None:
    print("\n== one Rasa replica, SQLite (the default set-up) ==", flush=True)
    results.memory.update({f"{name} at rest": mb for name, mb in rig.memory().items()})

    for run in range(REPEATS):
        cpu_before = rig.cpu_by_process()
        latencies = await single_patient(rig.rest(f"single{run}"))
        cpu_after = rig.cpu_by_process()
        turns = len(latencies["all"])
        for kind, samples in latencies.items():
            name = f"turn p50 {kind}"
            previous = results.figures.get(name, Figure(())).values
            results.figures[name] = Figure((*previous, percentile(samples, 0.5)))
        for name in ("rasa", "actions"):
            previous = results.figures.get(f"CPU per turn {name}", Figure(())).values
            spent = (cpu_after[name] - cpu_before[name]) / turns
            results.figures[f"CPU per turn {name}"] = Figure((*previous, spent))
    print(f"  one patient, p50 of a turn: {(results.figures['turn p50 all']).show(' s', 3)}")

    await rig.start_gateway()
    try:
        replies = await calibrate(GatewayPatient(rig.standin, rig.mailbox, 99_999, [], rig.trigger))
        for path, make in (("bare", rig.rest), ("gateway", None)):
            served: list[float] = []
            for run in range(REPEATS):
                patients = rig.rest(f"cap{run}") if make else rig.gateway(replies)
                found, memory = await capacity(
                    rig, patients, f"{path} run {run + 1}", results,
                    Figure.of(served).median if served else float("nan"),
                )  # fmt: skip
                served.append(found.served if found else 0.0)
                where = "at the knee" + ("" if path == "bare" else " (through the gateway)")
                results.memory.update({f"{n} {where}": mb for n, mb in memory.items()})
            figure = results.add(f"capacity {path} 1 replica", served)
            print(f"  capacity, {path}, one replica: {figure.show(' turns/s')}", flush=True)

        half = results.get("capacity bare 1 replica") / 2
        ratios = []
        for run in range(REPEATS):
            _, bare_p95, _ = await steady(rig.rest(f"half{run}"), half, STEADY_SECONDS, 2)
            cpu_before = rig.cpu_by_process()
            _, gateway_p95, turns = await steady(rig.gateway(replies), half, STEADY_SECONDS, 2)
            for name, cpu in rig.cpu_by_process().items():
                spent = (cpu - cpu_before[name]) / max(turns, 1)
                key = f"CPU per turn {name}, through the gateway"
                results.figures[key] = Figure((*results.figures.get(key, Figure(())).values, spent))
            ratios.append(gateway_p95 / bare_p95)
            print(
                f"    at {half:.1f} turns/s: bare p95 {bare_p95 * 1000:.0f} ms, "
                f"gateway p95 {gateway_p95 * 1000:.0f} ms",
                flush=True,
            )
        ratio = results.add("gateway p95 ratio", ratios)
        print(f"  gateway p95 / bare p95 at half capacity: {ratio.show('', 2)}")
    finally:
        await rig.stop_gateway()
    await fanout_runs(rig, results, "sqlite")


async def two_replicas_postgres(rig: Rig, results: Results) -> None:
    print("\n== PostgreSQL, Redis lock store ==", flush=True)
    await rig.start_gateway()
    try:
        replies = await calibrate(GatewayPatient(rig.standin, rig.mailbox, 99_998, [], rig.trigger))
        for path in ("bare", "gateway"):
            served: list[float] = []
            for run in range(REPEATS):
                patients = rig.rest(f"pg{run}") if path == "bare" else rig.gateway(replies)
                found, _ = await capacity(
                    rig, patients, f"{path}, 2 replicas, run {run + 1}", results,
                    Figure.of(served).median if served else float("nan"),
                )  # fmt: skip
                served.append(found.served if found else 0.0)
            figure = results.add(f"capacity {path} 2 replicas", served)
            print(f"  capacity, {path}, RASA_REPLICAS=2: {figure.show(' turns/s')}", flush=True)
    finally:
        await rig.stop_gateway()
    # The fan-out on PostgreSQL with one replica: the gateway talks to the first one only.
    await fanout_runs(rig, results, "postgresql", rasa_url=rig.stack.rasa_urls[0])


async def fanout_runs(rig: Rig, results: Results, name: str, rasa_url: str | None = None) -> None:
    fractions, reminded, duplicates, lost = [], [], [], []
    for run in range(REPEATS):
        fraction, per_second, twice, missing = await fanout(rig, 50_000 + run * 10_000, rasa_url)
        fractions.append(fraction)
        reminded.append(per_second)
        duplicates.append(twice)
        lost.append(missing)
    figure = results.add(f"fanout {name}", fractions)
    reminders = results.add(f"reminders per second {name}", reminded)
    results.add(f"fanout {name} duplicates", duplicates)
    results.add(f"fanout {name} lost", lost)
    print(
        f"  reminder fan-out to {FANOUT_PARTICIPANTS} on {name}, one replica: "
        f"{figure.show('', 2)} of {RATE_LIMIT} msg/s, {reminders.show(' reminders/s', 1)}; "
        f"duplicates {sum(duplicates)}, lost {sum(lost)}",
        flush=True,
    )


async def fanout(rig: Rig, first_chat: int, rasa_url: str | None) -> tuple[float, float, int, int]:
    """Reminders due at once for FANOUT_PARTICIPANTS new participants; the gateway process is
    restarted half way. Returns the fraction of the rate limit used, reminders a second
    (a reminder and its first question are one message), duplicates and lost."""
    settings, standin = rig.settings, rig.standin
    rasa_url = rasa_url or rig.stack.rasa_url
    with session_scope(settings.database_url) as session:  # only this run's participants
        session.execute(update(Participant).values(reminders_paused=True))
        session.execute(delete(ScheduledJob))
    store, channel = CoachStore(settings.database_url), ChannelStore(settings.database_url)
    chats: dict[str, int] = {}
    for number in range(FANOUT_PARTICIPANTS):
        chat_id = first_chat + number
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

    async def one_process(limit: int) -> None:
        """A gateway process that sends what is due (up to `limit`), then stops."""
        application = build_application(
            settings, make_rasa_client(settings, rasa_url, rig.stack.token), run_scheduler=False
        )
        await start_polling(application)
        try:
            scheduler = Scheduler(
                JobStore(settings.database_url), application.bot_data["gateway"], settings, clock
            )
            await scheduler.tick(limit)  # as in production: at most 64 reminders at a time
        finally:
            await stop_polling(application)

    ours = set(chats.values())
    first_sent = len(standin.state.sent)
    started = time.perf_counter()
    await one_process(FANOUT_PARTICIPANTS // 2)  # then the process is restarted
    await one_process(FANOUT_PARTICIPANTS)
    elapsed = time.perf_counter() - started
    sent = [m for m in standin.state.sent[first_sent:] if m.chat_id in ours]
    openings = Counter(m.chat_id for m in sent if m.text and "Time for today's check-in" in m.text)
    duplicates = sum(count - 1 for count in openings.values() if count > 1)
    lost = sum(1 for chat_id in ours if openings[chat_id] == 0)
    rate = len(sent) / elapsed
    print(
        f"    {len(sent)} messages to {len(openings)} participants in {elapsed:.1f} s = "
        f"{rate:.1f} msg/s ({rate / RATE_LIMIT:.0%} of {RATE_LIMIT}); "
        f"duplicates {duplicates}, lost {lost}",
        flush=True,
    )
    standin.set_rate_limit(messages_per_second=None)
    return rate / RATE_LIMIT, len(openings) / elapsed, duplicates, lost


def postgres_and_redis() -> tuple[str, str] | None:
    """Fresh PostgreSQL databases (app, tracker) when PostgreSQL and Redis both answer."""
    name = f"paincoach_bench_{uuid.uuid4().hex[:8]}"
    try:
        ensure_postgres_database(f"{POSTGRES}/{name}")
        ensure_postgres_database(f"{POSTGRES}/{name}_tracker")
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            pass
    except (OperationalError, OSError):
        return None
    return f"{POSTGRES}/{name}", f"{POSTGRES}/{name}_tracker"


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


async def with_rig(
    base: Settings, folder: Path, run: Callable[[Rig, Results], Any], results: Results
) -> None:
    with Stack(base, log_dir=folder / "logs") as stack:
        async with BotApiStandIn() as standin:
            settings = base.model_copy(
                update={
                    "telegram_bot_token": standin.token,
                    "telegram_api_base_url": standin.base_url,
                    "telegram_api_base_file_url": standin.base_file_url,
                }
            )
            store = CoachStore(settings.database_url)
            async with (
                Mailbox(standin) as mailbox,
                RasaClient(stack.rasa_url, stack.token, store, settings.tracker_store_url) as rasa,
            ):
                rig = Rig(stack, settings, standin, mailbox, rasa, folder / "logs")
                machine_before, ours_before = machine_cpu_seconds(), rig.cpu()
                try:
                    await run(rig, results)
                finally:
                    results.machine_cpu += machine_cpu_seconds() - machine_before
                    results.our_cpu += rig.cpu() - ours_before


async def main() -> int:
    # Stopped from outside: leave through the context managers, which stop Rasa and the rest.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    machine = Machine.now()
    print(f"PainCoach speed benchmark{' (quick mode)' if QUICK else ''}: {REPEATS} runs each")
    print(machine.header())
    if machine.busy:
        print(
            f"WARNING: the machine was busy before the run (load {machine.load[0]:.1f} on "
            f"{machine.cores} cores); latency and capacity figures will be lower than on an idle "
            "machine and spread more."
        )
    results = Results()
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="paincoach-bench-"))
    common: dict[str, Any] = {"rasa_token": "bench-token", "telegram_rate_limit": RATE_LIMIT}
    sqlite = Settings(
        database_url=f"sqlite:///{folder / 'paincoach.db'}",
        tracker_store_url=f"sqlite:///{folder / 'tracker.db'}",
        rasa_port=free_port(),
        action_server_port=free_port(),
        **common,
    )
    print("Starting Rasa and the action server (SQLite)...", flush=True)
    await with_rig(sqlite, folder / "sqlite", one_replica_sqlite, results)

    postgres = postgres_and_redis()
    if postgres is None:
        results.notes.append("PostgreSQL or Redis not running: no RASA_REPLICAS=2 figures")
        print("PostgreSQL or Redis not running: RASA_REPLICAS=2 and PostgreSQL fan-out skipped")
    else:
        database, tracker = postgres
        rasa_port, action_port = rasa_and_action_ports()
        pg = Settings(
            database_url=database,
            tracker_store_url=tracker,
            lock_store_url="redis://127.0.0.1:6379/1",
            rasa_replicas=2,
            rasa_port=rasa_port,
            action_server_port=action_port,
            **common,
        )
        print("\nStarting two Rasa replicas and the action server (PostgreSQL)...", flush=True)
        try:
            await with_rig(pg, folder / "postgres", two_replicas_postgres, results)
        finally:
            drop_postgres_databases(pg)

    elapsed = time.perf_counter() - started
    return summary(results, machine, elapsed)


def shown(name: str, figure: Figure) -> str:
    """A figure in its own unit."""
    if name.startswith(("turn p50", "CPU per turn")):
        return Figure.of(v * 1000 for v in figure.values).show(" ms", 0)
    if name.startswith("capacity"):
        return figure.show(" turns/s", 1)
    if name.endswith(("duplicates", "lost")):
        runs = ", ".join(f"{value:.0f}" for value in figure.values)
        return f"{sum(figure.values):.0f} in all (runs {runs})"
    if name.startswith("reminders per second"):
        return figure.show(" reminders/s", 1)
    if name.startswith("fanout"):
        return figure.show(f" of {RATE_LIMIT} msg/s", 2)
    return figure.show("", 2)


def summary(results: Results, machine: Machine, elapsed: float) -> int:
    figures = results.figures
    print(f"\n== summary ({elapsed / 60:.1f} min; {machine.header()}) ==")
    others = max(0.0, results.machine_cpu - results.our_cpu) / max(elapsed, 1.0)
    print(f"  other processes used {others:.2f} of the {machine.cores} cores during the run")
    if machine.busy or others > 0.25 * machine.cores:
        print("WARNING: the machine was busy; these figures are lower and noisier than idle.")
    for name, figure in figures.items():
        if figure.values:
            counted = name.endswith(("duplicates", "lost"))
            flag = "" if counted or figure.within(SPREAD_BAR) else "  (spread over ±15 %)"
            print(f"  {name:<44} {shown(name, figure)}{flag}")
    print("  resident memory (MB):")
    for name, mb in results.memory.items():
        print(f"    {name:<50} {mb:7.0f}")
    for note in results.notes:
        print(f"  {note}")
    turn_p50 = results.get("turn p50 all") * 1000
    capacity_one = results.get("capacity bare 1 replica")
    ratio = results.get("gateway p95 ratio")
    fraction = results.get("fanout sqlite")
    duplicates = int(sum(sum(f.values) for n, f in figures.items() if n.endswith("duplicates")))
    lost = int(sum(sum(f.values) for n, f in figures.items() if n.endswith("lost")))
    bars = {
        "single-patient turn p50 <= 80 ms": turn_p50 <= 80,
        "capacity, one replica >= 14 turns/s": capacity_one >= 14,
        "gateway/bare p95 at half capacity <= 1.25": ratio <= 1.25,
        "fan-out >= 0.90 of 30 msg/s, 0 duplicates, 0 lost": (
            fraction >= 0.9 and duplicates == 0 and lost == 0
        ),
        "spread of each figure within ±15 %": all(
            f.within(SPREAD_BAR) for n, f in figures.items()
            if f.values and not n.endswith(("duplicates", "lost"))
        ),
    }  # fmt: skip
    for bar, met in bars.items():
        print(f"  {'met    ' if met else 'NOT met'}  {bar}")
    print(
        f"gateway_p95_ratio={ratio:.2f} fanout_fraction={fraction:.2f} duplicates={duplicates} "
        f"lost={lost} turn_p50_ms={turn_p50:.0f} capacity_turns_s={capacity_one:.1f} "
        f"reminders_s={results.get('reminders per second sqlite'):.1f}"
    )
    return 0 if all(bars.values()) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
